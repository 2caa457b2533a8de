#!/usr/bin/env node
'use strict';
// `npm start`: build what is out of date (tsc -b is incremental) and bundle the dashboard, then run `fanout dev`.
const { spawnSync, spawn } = require('node:child_process');
const { join } = require('node:path');

const root = join(__dirname, '..');
for (const step of [[require.resolve('typescript/bin/tsc'), '-b'], [join(__dirname, 'build-dashboard.js')]]) {
  const build = spawnSync(process.execPath, step, { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

const child = spawn(process.execPath, [join(root, 'apps/cli/bin/fanout.js'), 'dev', ...process.argv.slice(2)], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
