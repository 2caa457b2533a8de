import { SubjectKind } from './subject';
import { isStatusEventType } from './events';

type Transitions = Readonly<Record<string, readonly string[]>>;

export interface StateMachine {
  /** Statuses a subject may start in. */
  readonly first: readonly string[];
  /** For each non-terminal status, the statuses it may move to. */
  readonly next: Transitions;
}

export const TERMINAL_STATUSES = ['succeeded', 'failed', 'canceled', 'timed_out', 'completed'] as const;
export function isTerminalStatus(status: string): boolean {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

export const STATE_MACHINES: Readonly<Record<SubjectKind, StateMachine>> = {
  job: {
    first: ['pending', 'scheduled'],
    next: {
      pending: ['scheduled', 'canceled'],
      scheduled: ['leased', 'throttled', 'canceled'],
      throttled: ['scheduled', 'canceled'],
      leased: ['running', 'scheduled', 'canceled'],
      running: ['succeeded', 'failed', 'canceled', 'timed_out', 'scheduled'],
    },
  },
  'pack-run': {
    first: ['pending', 'running'],
    next: { pending: ['running', 'canceled'], running: ['succeeded', 'failed', 'canceled'] },
  },
  run: {
    first: ['pending', 'running'],
    next: { pending: ['running', 'canceled'], running: ['completed', 'failed', 'canceled'] },
  },
};

/** A pack run's steps: a step's first event is pending or running; a finished step takes no more events. */
export const STEP_MACHINE: StateMachine = {
  first: ['pending', 'running'],
  next: { pending: ['running', 'skipped'], running: ['succeeded', 'failed'] },
};

/** A job's retry: `running → scheduled` must carry the next attempt. */
export const RETRY_TRANSITION = { from: 'running', to: 'scheduled' } as const;

/** What the store keeps per subject to judge the next event. */
export interface SubjectState {
  status: string | null;
  attempt: number;
  steps: Map<number, string>;
}

export function emptySubjectState(): SubjectState {
  return { status: null, attempt: 0, steps: new Map() };
}

export interface CheckableEvent {
  type: string;
  data: object;
}

interface StateFields {
  status?: string;
  attempt?: number;
  stepIndex?: number;
}
const fields = (event: CheckableEvent): StateFields => event.data as StateFields;

export type Verdict =
  | { ok: true; status?: string; attempt?: number; step?: { index: number; status: string }; terminal: boolean }
  | { ok: false; current: string; requested: string; reason: string };

function refuse(current: string | null, requested: string, reason: string): Verdict {
  return { ok: false, current: current ?? 'none', requested, reason };
}

/**
 * Judges one event against its subject's state, and says what the state becomes.
 * The Redis Lua append implements the same rules; the bus conformance suite holds them together.
 */
export function checkEvent(kind: SubjectKind, state: SubjectState, event: CheckableEvent): Verdict {
  const current = state.status;
  if (current !== null && isTerminalStatus(current)) {
    return refuse(current, describeRequest(event), `the subject is terminal (${current}) and accepts no further events`);
  }
  if (isStatusEventType(event.type)) return checkStatus(kind, state, event);
  if (current === null) {
    return refuse(null, describeRequest(event), `the first event of a subject must be its status event, not ${event.type}`);
  }
  if (event.type === 'pack_run.step') return checkStep(state, event);
  if (event.type === 'pack_run.log') {
    const stepIndex = fields(event).stepIndex ?? 0;
    const stepStatus = state.steps.get(stepIndex);
    if (stepStatus !== undefined && STEP_MACHINE.next[stepStatus] === undefined) {
      return refuse(stepStatus, describeRequest(event), `step ${stepIndex} is finished (${stepStatus}) and takes no more events`);
    }
  }
  return { ok: true, terminal: false };
}

function checkStatus(kind: SubjectKind, state: SubjectState, event: CheckableEvent): Verdict {
  const machine = STATE_MACHINES[kind];
  const requested = fields(event).status ?? '';
  const current = state.status;
  const allowed = current === null ? machine.first : (machine.next[current] ?? []);
  if (!allowed.includes(requested)) {
    const reason =
      current === null
        ? `the first status of a ${kind} must be ${machine.first.join(' or ')}`
        : `a ${kind} cannot move from ${current} to ${requested}`;
    return refuse(current, requested, reason);
  }
  const verdict = { ok: true as const, status: requested, terminal: isTerminalStatus(requested) };
  if (kind !== 'job') return verdict;

  const given = fields(event).attempt;
  if (current === null) return { ...verdict, attempt: given ?? 1 };
  const isRetry = current === RETRY_TRANSITION.from && requested === RETRY_TRANSITION.to;
  const expected = isRetry ? state.attempt + 1 : state.attempt;
  if (isRetry ? given !== expected : given !== undefined && given !== expected) {
    const what = isRetry ? `a retry (running → scheduled) must carry attempt ${expected}` : `attempt must be omitted or ${expected}`;
    return refuse(current, requested, `${what}, not ${given ?? 'omitted'}`);
  }
  return { ...verdict, attempt: expected };
}

function checkStep(state: SubjectState, event: CheckableEvent): Verdict {
  const index = fields(event).stepIndex ?? 0;
  const requested = fields(event).status ?? '';
  const current = state.steps.get(index) ?? null;
  const allowed = current === null ? STEP_MACHINE.first : (STEP_MACHINE.next[current] ?? []);
  if (!allowed.includes(requested)) {
    const reason =
      current === null
        ? `the first event of step ${index} must be pending or running`
        : STEP_MACHINE.next[current] === undefined
          ? `step ${index} is finished (${current}) and takes no more events`
          : `step ${index} cannot move from ${current} to ${requested}`;
    return refuse(current, requested, reason);
  }
  return { ok: true, step: { index, status: requested }, terminal: false };
}

function describeRequest(event: CheckableEvent): string {
  return fields(event).status ?? event.type;
}

/** Applies an accepted verdict to a state (the in-memory bus and tests use it; Lua has its own). */
export function applyVerdict(state: SubjectState, verdict: Verdict & { ok: true }): void {
  if (verdict.status !== undefined) state.status = verdict.status;
  if (verdict.attempt !== undefined) state.attempt = verdict.attempt;
  if (verdict.step) state.steps.set(verdict.step.index, verdict.step.status);
}
