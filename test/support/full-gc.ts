import { join } from 'node:path';
import { FanoutProcess, REPO_ROOT } from './fanout-process';
import { waitFor } from './wait';

/** The environment of a process whose garbage a test collects with `afterFullGc` (it preloads gc-on-signal.js). */
export const GC_ON_SIGNAL_ENV = { NODE_OPTIONS: `--expose-gc --require ${join(REPO_ROOT, 'test/support/gc-on-signal.js')}` };

/** Full garbage collections asked of each process so far (gc-on-signal.js numbers its answers). */
const collectionsAsked = new Map<number, number>();

/**
 * Two full garbage collections in a process started with GC_ON_SIGNAL_ENV: each signal is
 * answered with `gc-on-signal: done <n>` on stderr once the collection has finished.
 */
export async function afterFullGc(process_: FanoutProcess): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const n = (collectionsAsked.get(process_.pid) ?? 0) + 1;
    collectionsAsked.set(process_.pid, n);
    const answer = `gc-on-signal: done ${n}`;
    process.kill(process_.pid, 'SIGUSR2');
    await waitFor(`the process to answer "${answer}"`, () => process_.logs.some((line) => line.endsWith(answer)), 10_000, 5);
  }
}
