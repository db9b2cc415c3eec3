#!/usr/bin/env node
// vhqos-runtime: OCI runtime wrapper (docker --add-runtime / podman --runtime).
// See src/engines/runtime-wrapper.ts.
'use strict';
let wrapper;
try {
  wrapper = require('../dist/src/engines/runtime-wrapper.js');
} catch (e) {
  process.stderr.write(`vhqos-runtime: cannot load the compiled code (${e.message}); run \`npm run build\` in the vhqos package\n`);
  process.exit(1);
}
wrapper.main(process.argv.slice(2), process.env);
