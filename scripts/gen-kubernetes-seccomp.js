#!/usr/bin/env node
// Writes deploy/kubernetes/vhqos-notify.json, the kubelet `Localhost` seccomp
// profile for vhqos pods: docker's default profile (the one RuntimeDefault is
// modelled on; captured from docker 20.10.24 in test/fixtures/oci) with the
// vhqos syscalls sent to the agent, exactly as the podman hook and
// vhqos-runtime rewrite a container's profile. Build first (npx tsc).
// test/unit/kubernetes-manifests.test.ts checks the file is what this writes.
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const { addNotify } = require(path.join(root, 'dist/src/oci/seccomp-transform.js'));
const { stringifyJsonLossless, parseJsonLossless } = require(path.join(root, 'dist/src/oci/json.js'));
const { DEFAULT_AGENT_SOCKET } = require(path.join(root, 'dist/src/oci/types.js'));

function profile() {
  const base = parseJsonLossless(fs.readFileSync(path.join(root, 'test/fixtures/oci/docker-20.10.24.seccomp.json'), 'utf8'));
  return addNotify(base, { listenerPath: DEFAULT_AGENT_SOCKET });
}
module.exports = { profile, file: path.join(root, 'deploy/kubernetes/vhqos-notify.json'), render: () => `${stringifyJsonLossless(profile(), 2)}\n` };

if (require.main === module) {
  fs.writeFileSync(module.exports.file, module.exports.render());
  console.log(`wrote ${path.relative(process.cwd(), module.exports.file)}`);
}
