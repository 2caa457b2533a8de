#!/usr/bin/env node
'use strict';
// Bundles the dashboard (apps/gateway/dashboard: TypeScript, type-checked by `tsc -b`) for browsers
// with esbuild into apps/gateway/dist/public, which the gateway serves at GET /: one minified script
// with its source map, the page and its stylesheet; nothing comes from another origin. Run by
// `npm run build`, `npm start` and the Dockerfile. Each file is replaced whole (written beside it, then
// renamed over it), so a server already serving the dashboard never sends a missing or half-written one.
const { build } = require('esbuild');
const { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { basename, join } = require('node:path');

const root = join(__dirname, '..');
const source = join(root, 'apps/gateway/dashboard');
const out = join(root, 'apps/gateway/dist/public');
// The libraries' sources (ES modules) rather than their CommonJS builds: only ES modules are
// tree-shaken. With them (and `import * as z from 'zod'` in @fanout/contracts, which esbuild can
// shake where `import { z }` is kept whole) the bundle leaves out zod's locales: a fifth of the size.
const libraries = { '@fanout/client': 'libs/client/src/index.ts', '@fanout/contracts': 'libs/contracts/src/index.ts' };

async function main() {
  const bundled = await build({
    entryPoints: [join(source, 'src/main.ts')],
    outfile: join(out, 'dashboard.js'),
    tsconfig: join(source, 'tsconfig.json'),
    alias: Object.fromEntries(Object.entries(libraries).map(([name, path]) => [name, join(root, path)])),
    bundle: true,
    minify: true,
    sourcemap: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    logLevel: 'warning',
    write: false,
  });
  const files = new Map(bundled.outputFiles.map((file) => [basename(file.path), file.contents]));
  for (const file of ['index.html', 'dashboard.css']) files.set(file, readFileSync(join(source, file)));
  mkdirSync(out, { recursive: true });
  for (const [name, contents] of files) {
    const partial = join(out, `.${name}.${process.pid}.partial`);
    writeFileSync(partial, contents);
    renameSync(partial, join(out, name));
  }
  for (const name of readdirSync(out)) if (!files.has(name)) rmSync(join(out, name), { recursive: true, force: true });
}

main().catch((error) => {
  console.error(`build-dashboard: ${error.message}`);
  process.exit(1);
});
