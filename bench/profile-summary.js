'use strict';
/**
 * Summarises V8 .cpuprofile files (as written by `node --cpu-prof`): the functions with the most
 * self time, and the share of time per script (node internals, dependencies, fanout's own code).
 *
 *   node bench/profile-summary.js <file.cpuprofile | directory> [--top 20]
 */
const { readFileSync, readdirSync, statSync } = require('node:fs');
const path = require('node:path');

function shortUrl(url) {
  if (!url) return '';
  const clean = url.replace(/^file:\/\//, '');
  const nm = clean.lastIndexOf('node_modules/');
  if (nm >= 0) return clean.slice(nm + 'node_modules/'.length);
  const root = path.resolve(__dirname, '..') + '/';
  return clean.startsWith(root) ? clean.slice(root.length) : clean;
}

function groupOf(url) {
  if (!url) return '(native / vm)';
  if (url.startsWith('node:')) return 'node internals';
  const short = shortUrl(url);
  if (url.includes('node_modules/')) {
    const parts = short.split('/');
    const name = parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
    return name.startsWith('@fanout/') ? short.split('/').slice(0, 2).join('/') : `dep ${name}`;
  }
  return short.split('/').slice(0, 2).join('/');
}

function summarize(file, top = 20) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const deltas = profile.timeDeltas || [];
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = deltas[i] || 0;
    total += dt;
    self.set(id, (self.get(id) || 0) + dt);
  });
  const byFunction = new Map();
  const byGroup = new Map();
  for (const [id, us] of self) {
    const node = byId.get(id);
    const cf = node.callFrame;
    const name = cf.functionName || '(anonymous)';
    const key = cf.url ? `${name} ${shortUrl(cf.url)}:${cf.lineNumber + 1}` : name;
    byFunction.set(key, (byFunction.get(key) || 0) + us);
    const group = ['(idle)', '(garbage collector)', '(program)'].includes(name) ? name : groupOf(cf.url);
    byGroup.set(group, (byGroup.get(group) || 0) + us);
  }
  const idle = byFunction.get('(idle)') || 0;
  const busy = total - idle;
  const pct = (us, of) => `${((100 * us) / of).toFixed(1).padStart(5)} %`;
  const lines = [`${path.basename(file)}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s not idle; shares of the non-idle time:`];
  lines.push('  by script:');
  for (const [group, us] of [...byGroup].filter(([g]) => g !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 12)) lines.push(`    ${pct(us, busy)}  ${group}`);
  lines.push(`  top ${top} functions by self time:`);
  for (const [key, us] of [...byFunction].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`    ${pct(us, busy)}  ${key}`);
  return lines.join('\n');
}

function profilesIn(target) {
  if (statSync(target).isFile()) return [target];
  const out = [];
  for (const entry of readdirSync(target)) {
    const full = path.join(target, entry);
    if (statSync(full).isDirectory()) out.push(...profilesIn(full));
    else if (entry.endsWith('.cpuprofile')) out.push(full);
  }
  return out.sort();
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const topAt = args.indexOf('--top');
  const top = topAt >= 0 ? Number(args[topAt + 1]) : 20;
  const targets = args.filter((a, i) => a !== '--top' && i !== topAt + 1);
  if (!targets.length) {
    console.error('usage: node bench/profile-summary.js <file.cpuprofile | directory> [--top 20]');
    process.exit(2);
  }
  for (const target of targets) for (const file of profilesIn(target)) console.log(`${path.relative(process.cwd(), file)}\n${summarize(file, top)}\n`);
}

module.exports = { summarize, profilesIn };
