/**
 * The contract's state machines (docs/api.md, "Publishing"), written out by hand as the oracle of
 * the tests: never derived from @fanout/contracts, so a wrong table there, or a Lua script that
 * disagrees with it, fails the tests.
 */
import { EventType, SubjectKind } from '@fanout/contracts';

interface ContractMachine {
  statusType: 'job.status' | 'pack_run.status' | 'run.status';
  statuses: readonly string[];
  first: readonly string[];
  next: Readonly<Record<string, readonly string[]>>;
  terminal: readonly string[];
  /** Non-status event types of the kind, as builders (stepIndex 0 for pack runs). */
  others: readonly EventType[];
}

export const CONTRACT_MACHINES: Readonly<Record<SubjectKind, ContractMachine>> = {
  job: {
    statusType: 'job.status',
    statuses: ['pending', 'scheduled', 'throttled', 'leased', 'running', 'succeeded', 'failed', 'canceled', 'timed_out'],
    first: ['pending', 'scheduled'],
    next: {
      pending: ['scheduled', 'canceled'],
      scheduled: ['leased', 'throttled', 'canceled'],
      throttled: ['scheduled', 'canceled'],
      leased: ['running', 'scheduled', 'canceled'],
      // running → scheduled is the retry: legal only with attempt = current + 1 (tested on its own).
      running: ['succeeded', 'failed', 'canceled', 'timed_out', 'scheduled'],
    },
    terminal: ['succeeded', 'failed', 'canceled', 'timed_out'],
    others: ['job.progress'],
  },
  'pack-run': {
    statusType: 'pack_run.status',
    statuses: ['pending', 'running', 'succeeded', 'failed', 'canceled'],
    // The contract only fixes a job's first status; pack runs and runs may also start running.
    first: ['pending', 'running'],
    next: { pending: ['running', 'canceled'], running: ['succeeded', 'failed', 'canceled'] },
    terminal: ['succeeded', 'failed', 'canceled'],
    others: ['pack_run.step', 'pack_run.log'],
  },
  run: {
    statusType: 'run.status',
    statuses: ['pending', 'running', 'completed', 'failed', 'canceled'],
    first: ['pending', 'running'],
    next: { pending: ['running', 'canceled'], running: ['completed', 'failed', 'canceled'] },
    terminal: ['completed', 'failed', 'canceled'],
    others: ['run.progress'],
  },
};
