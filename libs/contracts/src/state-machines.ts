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
const fields = (event: CheckableEvent): StateFields => event.data;

/**
 * The steps a pack run may have, counted by distinct `stepIndex`: each is kept in its state for as
 * long as its history, so this bounds the state of a subject the way FANOUT_HISTORY_MAXLEN bounds
 * its history (a `steps` plan holds at most MAX_PACK_STEPS).
 */
export const MAX_STEPS_PER_PACK_RUN = 10_000;

/**
 * The rules an event can break. The Lua append answers these codes and `refusalReason` gives each
 * its one text, so the in-memory and the Redis bus refuse in the same words.
 */
export const REFUSAL_RULES = [
  'subject_terminal',
  'status_event_first',
  'first_status',
  'status_transition',
  'retry_attempt',
  'attempt',
  'step_first',
  'step_finished',
  'step_transition',
  'step_limit',
] as const;
export type RefusalRule = (typeof REFUSAL_RULES)[number];

export function isRefusalRule(text: string): text is RefusalRule {
  return (REFUSAL_RULES as readonly string[]).includes(text);
}

/** A refused event: the rule it broke, its subject's current status (or `none`) and what it requested. */
export interface Refusal {
  rule: RefusalRule;
  current: string;
  requested: string;
  /** `attempt` and `retry_attempt`: the attempt the event had to carry. */
  expectedAttempt?: number;
}

/** Why `event` of a `kind` subject was refused: the one text of each rule. */
export function refusalReason(kind: SubjectKind, event: CheckableEvent, refusal: Refusal): string {
  const { current, requested } = refusal;
  const given = fields(event).attempt ?? 'omitted';
  const stepIndex = fields(event).stepIndex ?? 0;
  switch (refusal.rule) {
    case 'subject_terminal':
      return `the subject is terminal (${current}) and accepts no further events`;
    case 'status_event_first':
      return `the first event of a subject must be its status event, not ${event.type}`;
    case 'first_status':
      return `the first status of a ${kind} must be ${STATE_MACHINES[kind].first.join(' or ')}`;
    case 'status_transition':
      return `a ${kind} cannot move from ${current} to ${requested}`;
    case 'retry_attempt':
      return `a retry (${RETRY_TRANSITION.from} → ${RETRY_TRANSITION.to}) must carry attempt ${refusal.expectedAttempt}, not ${given}`;
    case 'attempt':
      return `attempt must be omitted or ${refusal.expectedAttempt}, not ${given}`;
    case 'step_first':
      return `the first event of step ${stepIndex} must be ${STEP_MACHINE.first.join(' or ')}`;
    case 'step_finished':
      return `step ${stepIndex} is finished (${current}) and takes no more events`;
    case 'step_transition':
      return `step ${stepIndex} cannot move from ${current} to ${requested}`;
    case 'step_limit':
      return `a pack run has at most ${MAX_STEPS_PER_PACK_RUN} steps: step ${stepIndex} would be one more`;
  }
}

type Accepted = { ok: true; status?: string; attempt?: number; step?: { index: number; status: string }; terminal: boolean };
type Refused = { ok: false } & Refusal;

export type Verdict = Accepted | (Refused & { reason: string });

function refuse(rule: RefusalRule, current: string | null, requested: string, expectedAttempt?: number): Refused {
  const refused: Refused = { ok: false, rule, current: current ?? 'none', requested };
  if (expectedAttempt !== undefined) refused.expectedAttempt = expectedAttempt;
  return refused;
}

/**
 * Judges one event against its subject's state, and says what the state becomes.
 * The Redis Lua append implements the same rules; the bus conformance suite holds them together.
 */
export function checkEvent(kind: SubjectKind, state: SubjectState, event: CheckableEvent): Verdict {
  const verdict = judge(kind, state, event);
  return verdict.ok ? verdict : { ...verdict, reason: refusalReason(kind, event, verdict) };
}

function judge(kind: SubjectKind, state: SubjectState, event: CheckableEvent): Accepted | Refused {
  const current = state.status;
  if (current !== null && isTerminalStatus(current)) return refuse('subject_terminal', current, describeRequest(event));
  if (isStatusEventType(event.type)) return checkStatus(kind, state, event);
  if (current === null) return refuse('status_event_first', null, describeRequest(event));
  if (event.type === 'pack_run.step') return checkStep(state, event);
  if (event.type === 'pack_run.log') {
    const stepStatus = state.steps.get(fields(event).stepIndex ?? 0);
    if (stepStatus !== undefined && STEP_MACHINE.next[stepStatus] === undefined) return refuse('step_finished', stepStatus, describeRequest(event));
  }
  return { ok: true, terminal: false };
}

function checkStatus(kind: SubjectKind, state: SubjectState, event: CheckableEvent): Accepted | Refused {
  const machine = STATE_MACHINES[kind];
  const requested = fields(event).status ?? '';
  const current = state.status;
  const allowed = current === null ? machine.first : (machine.next[current] ?? []);
  if (!allowed.includes(requested)) return refuse(current === null ? 'first_status' : 'status_transition', current, requested);
  const verdict = { ok: true as const, status: requested, terminal: isTerminalStatus(requested) };
  if (kind !== 'job') return verdict;

  const given = fields(event).attempt;
  if (current === null) return { ...verdict, attempt: given ?? 1 };
  const isRetry = current === RETRY_TRANSITION.from && requested === RETRY_TRANSITION.to;
  const expected = isRetry ? state.attempt + 1 : state.attempt;
  if (isRetry ? given !== expected : given !== undefined && given !== expected) {
    return refuse(isRetry ? 'retry_attempt' : 'attempt', current, requested, expected);
  }
  return { ...verdict, attempt: expected };
}

function checkStep(state: SubjectState, event: CheckableEvent): Accepted | Refused {
  const index = fields(event).stepIndex ?? 0;
  const requested = fields(event).status ?? '';
  const current = state.steps.get(index) ?? null;
  const allowed = current === null ? STEP_MACHINE.first : (STEP_MACHINE.next[current] ?? []);
  if (!allowed.includes(requested)) {
    const rule = current === null ? 'step_first' : STEP_MACHINE.next[current] === undefined ? 'step_finished' : 'step_transition';
    return refuse(rule, current, requested);
  }
  if (current === null && state.steps.size >= MAX_STEPS_PER_PACK_RUN) return refuse('step_limit', null, requested);
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
