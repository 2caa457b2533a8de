'use strict';
// Preloaded into a process under test (`NODE_OPTIONS="--expose-gc --require …/gc-on-signal.js"`):
// SIGUSR2 runs a full garbage collection, so memory can be read without uncollected garbage, and
// answers on stderr with `gc-on-signal: done <n>` (n counts the collections) once it has finished,
// so a test waits for that line instead of sleeping after the signal. A pipe's write is synchronous
// on Linux, so the line is out before the next event the process handles.
if (typeof global.gc === 'function') {
  let collections = 0;
  process.on('SIGUSR2', () => {
    global.gc();
    collections += 1;
    process.stderr.write(`gc-on-signal: done ${collections}\n`);
  });
}
