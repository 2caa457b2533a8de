#!/usr/bin/env node
'use strict';
// Writes the generated contract documents (run by `npm run build`, after tsc):
//   docs/openapi.json          the OpenAPI 3.1 document of every HTTP route
//   docs/schemas/*.json        a JSON Schema for every event type and control frame
// Both come from libs/contracts (buildOpenApiDocument, buildJsonSchemas); never edit them by hand.
// `--check` writes nothing and exits 1 when the files in docs/ are not what the code generates.
const { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const { buildOpenApiDocument, buildJsonSchemas } = require(join(root, 'libs/contracts/dist/index.js'));

const format = (value) => `${JSON.stringify(value, null, 2)}\n`;
const files = new Map([[join(root, 'docs/openapi.json'), format(buildOpenApiDocument())]]);
const schemaDir = join(root, 'docs/schemas');
for (const [name, schema] of Object.entries(buildJsonSchemas())) files.set(join(schemaDir, name), format(schema));
const stale = existsSync(schemaDir)
  ? readdirSync(schemaDir).map((name) => join(schemaDir, name)).filter((file) => file.endsWith('.json') && !files.has(file))
  : [];

if (process.argv.includes('--check')) {
  const differ = [...files].filter(([file, text]) => !existsSync(file) || readFileSync(file, 'utf8') !== text).map(([file]) => file);
  for (const file of [...differ, ...stale]) console.error(`stale: ${file.slice(root.length + 1)}`);
  if (differ.length + stale.length > 0) {
    console.error('run `npm run build` (or node scripts/generate-docs.js) and commit the result');
    process.exit(1);
  }
  process.exit(0);
}
mkdirSync(schemaDir, { recursive: true });
for (const file of stale) rmSync(file);
for (const [file, text] of files) {
  if (!existsSync(file) || readFileSync(file, 'utf8') !== text) writeFileSync(file, text);
}
