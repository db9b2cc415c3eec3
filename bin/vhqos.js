#!/usr/bin/env node
'use strict';
let main;
try {
  ({ main } = require('../dist/src/cli/main.js'));
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && /dist\/src\/cli\/main/.test(e.message)) {
    console.error('vhqos: the package is not built. Run: npm run build (in ' + require('path').resolve(__dirname, '..') + ')');
    process.exit(70);
  }
  throw e;
}
main(process.argv.slice(2));
