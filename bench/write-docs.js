#!/usr/bin/env node
'use strict';
/**
 * Writes docs/benchmarks.md from a saved run (default: bench/results/latest.json), so a run's
 * figures can be published after the fact: node bench/write-docs.js [results.json] [--provisional]
 */
const { existsSync, readFileSync, writeFileSync } = require('node:fs');
const path = require('node:path');
const { renderDocs } = require('./lib/report');

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--')) || path.join(__dirname, 'results', 'latest.json');
const results = JSON.parse(readFileSync(file, 'utf8'));
if (args.includes('--provisional')) results.provisional = true;
const target = path.join(__dirname, '..', 'docs', 'benchmarks.md');
writeFileSync(target, renderDocs(results, existsSync(target) ? readFileSync(target, 'utf8') : ''));
console.log(`wrote ${path.relative(process.cwd(), target)} from ${path.relative(process.cwd(), file)}`);
