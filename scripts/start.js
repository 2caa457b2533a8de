#!/usr/bin/env node
'use strict';
// `npm start`: build what is out of date (tsc -b is incremental) and bundle the dashboard, then run
// `fanout dev` in this same process. package.json's script execs this file, so npm's own process is
// this one's parent: the SIGTERM or SIGINT that npm forwards reaches the server, which drains and exits,
// and no process is left behind when npm is stopped.
const { spawnSync } = require('node:child_process');
const { join } = require('node:path');

const root = join(__dirname, '..');
for (const step of [[require.resolve('typescript/bin/tsc'), '-b'], [join(__dirname, 'build-dashboard.js')]]) {
  const build = spawnSync(process.execPath, step, { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

const cli = join(root, 'apps/cli/bin/fanout.js');
process.argv = [process.argv[0], cli, 'dev', ...process.argv.slice(2)];
require(cli);
