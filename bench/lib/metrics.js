'use strict';
/** Reading a fanout process's /metrics (Prometheus text). */

/** The sum of every sample of `name` (a replica's worker answers with the replica's sum); undefined when there is none. */
async function metricValue(url, name) {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  let sum;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum = (sum || 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

module.exports = { metricValue };
