'use strict';
// Preloaded into a process under test (`NODE_OPTIONS="--expose-gc --require …/gc-on-signal.js"`):
// SIGUSR2 runs a full garbage collection, so memory can be read without uncollected garbage.
if (typeof global.gc === 'function') process.on('SIGUSR2', () => global.gc());
