// Copies non-TypeScript assets (JSON schemas) next to the compiled code.
const fs = require('fs');
const path = require('path');
const root = path.join(__dirname, '..');
function copyDir(from, to) {
  if (!fs.existsSync(from)) return;
  fs.mkdirSync(to, { recursive: true });
  for (const e of fs.readdirSync(from, { withFileTypes: true })) {
    const s = path.join(from, e.name), d = path.join(to, e.name);
    if (e.isDirectory()) copyDir(s, d);
    else if (e.name.endsWith('.json')) fs.copyFileSync(s, d);
  }
}
copyDir(path.join(root, 'src'), path.join(root, 'dist', 'src'));
