// The examples' READMEs agree with their configs: every vhost is described,
// every curl line's comment names the vhost vhqos's own classifier picks for
// that request, the resource values quoted are the config's, and Apache's
// VHOST_NAME (the CGI's `vhost:` line) is the vhqos vhost of the same <VirtualHost>.
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { createClassifier } from '../../src/classify/classifier';
import { parseConfig } from '../../src/config/load';
import { facts, httpRequest } from '../helpers/classify-cases';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const EXAMPLES = ['apache-prefork', 'inetd'];
const read = (ex: string, f: string) => fs.readFileSync(path.join(ROOT, 'examples', ex, f), 'utf8');

for (const ex of EXAMPLES) {
  test(`examples/${ex}: README curl lines go where their comments say; every vhost is described; quoted values are the config's`, (t) => {
    const readme = read(ex, 'README.md');
    const yaml = read(ex, 'site.yaml');
    const config = parseConfig(yaml, `${ex}/site.yaml`);
    const classify = createClassifier(config);
    const names = config.vhosts.map((v) => v.name);
    for (const n of names) t.true(readme.includes(`\`${n}\``) || new RegExp(`\\b${n}\\b`).test(readme), `${n} is described`);

    const lines = readme.split('\n').filter((l) => /^\s*curl .*http:\/\//.test(l));
    t.true(lines.length >= 3, 'the README shows requests');
    let checked = 0;
    for (const line of lines) {
      const url = /http:\/\/([\d.]+):(\d+)(\/[^\s']*)/.exec(line)!;
      const host = /-H 'Host: ([^']+)'/.exec(line)?.[1];
      const ip = url[1];
      const port = Number(url[2]);
      const got = classify(facts(httpRequest(host ?? `${ip}:${port}`), ip, port)).vhost ?? 'default';
      // what the line says: its comment, else the -w label (the burn loop)
      const said = line.includes('#') ? line.slice(line.indexOf('#')) : (/-w '(\w+)/.exec(line)?.[1] ?? '');
      const named = [...names, 'default'].filter((n) => new RegExp(`(^|[^\\w-])${n}($|[^\\w-])`).test(said));
      t.is(named.length, 1, `the line names one vhost: ${line}`);
      t.is(got, named[0], line);
      checked++;
    }
    t.is(checked, lines.length);

    for (const m of readme.matchAll(/`((?:weight|max|high|low): [^`]+)`/g)) t.true(yaml.includes(m[1]), `${m[1]} is in site.yaml`);
  });
}

test('examples/apache-prefork: each <VirtualHost> sets VHOST_NAME to the vhqos vhost of its address and names', (t) => {
  const conf = read('apache-prefork', 'apache2.conf');
  const classify = createClassifier(parseConfig(read('apache-prefork', 'site.yaml')));
  const blocks = [...conf.matchAll(/<VirtualHost ([\d.]+):(\d+)>([\s\S]*?)<\/VirtualHost>/g)];
  t.is(blocks.length, 5);
  for (const [, ip, port, body] of blocks) {
    const name = /ServerName (\S+)/.exec(body)![1];
    const label = /SetEnv VHOST_NAME (\S+)/.exec(body)![1];
    const got = classify(facts(httpRequest(name), ip, Number(port))).vhost ?? 'default';
    t.is(label, got, `${ip}:${port} ${name}`);
  }
});
