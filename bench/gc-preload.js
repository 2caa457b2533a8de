'use strict';
/**
 * Preloaded into the servers B4 measures (`node --expose-gc --require bench/gc-preload.js …`):
 * SIGUSR2 runs a full garbage collection, so the retained heap per connection can be told apart
 * from garbage not yet collected. Instrumentation for the benchmark only; it changes nothing else.
 */
if (typeof global.gc === 'function') {
  process.on('SIGUSR2', () => global.gc());
}
