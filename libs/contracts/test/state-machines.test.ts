import {
  MAX_STEPS_PER_PACK_RUN,
  REFUSAL_RULES,
  RefusalRule,
  SubjectKind,
  SubjectState,
  TERMINAL_STATUSES,
  Verdict,
  applyVerdict,
  checkEvent,
  emptySubjectState,
  isRefusalRule,
  isTerminalStatus,
  refusalReason,
} from '@fanout/contracts';
import { CONTRACT_MACHINES } from '../../../test/support/contract-oracle';

/** The contract's state machines, written out by hand (shared with the bus conformance suite). */
const CONTRACT = CONTRACT_MACHINES;
const KINDS = Object.keys(CONTRACT) as SubjectKind[];

const state = (status: string | null, attempt = status === null ? 0 : 1, steps: [number, string][] = []): SubjectState => ({
  status,
  attempt,
  steps: new Map(steps),
});
const statusEvent = (kind: SubjectKind, status: string, attempt?: number) => ({
  type: CONTRACT[kind].statusType,
  data: attempt === undefined ? { status } : { status, attempt },
});
const stepEvent = (stepIndex: number, status: string) => ({ type: 'pack_run.step', data: { stepIndex, stepName: 's', status } });
const logEvent = (stepIndex: number) => ({ type: 'pack_run.log', data: { stepIndex, lineNo: 1, stream: 'stdout', message: 'x' } });
const OTHER_EVENTS: Record<SubjectKind, { type: string; data: object }[]> = {
  job: [{ type: 'job.progress', data: { percent: 5 } }],
  'pack-run': [stepEvent(0, 'running'), logEvent(0)],
  run: [{ type: 'run.progress', data: { total: 1, pending: 1, running: 0, succeeded: 0, failed: 0, canceled: 0 } }],
};

function refusal(verdict: Verdict, reason: RegExp = /\S/): { current: string; requested: string } {
  if (verdict.ok) throw new Error(`expected a refusal, got ${JSON.stringify(verdict)}`);
  expect(verdict.reason).toMatch(reason);
  return { current: verdict.current, requested: verdict.requested };
}

describe('terminal statuses', () => {
  it('are exactly succeeded, failed, canceled, timed_out and completed', () => {
    expect([...TERMINAL_STATUSES].sort()).toEqual(['canceled', 'completed', 'failed', 'succeeded', 'timed_out']);
    for (const s of TERMINAL_STATUSES) expect(isTerminalStatus(s)).toBe(true);
    for (const s of ['pending', 'scheduled', 'throttled', 'leased', 'running', 'skipped', '']) expect(isTerminalStatus(s)).toBe(false);
  });
});

describe('checkEvent: subject statuses, against the contract table', () => {
  const table = KINDS.flatMap((kind) =>
    [null, ...CONTRACT[kind].statuses].flatMap((current) => CONTRACT[kind].statuses.map((requested) => [kind, current, requested] as const)),
  );

  it.each(table)('%s: %s → %s', (kind, current, requested) => {
    const c = CONTRACT[kind];
    const isRetry = kind === 'job' && current === 'running' && requested === 'scheduled';
    const legal = current === null ? c.first.includes(requested) : (c.next[current] ?? []).includes(requested);
    const verdict = checkEvent(kind, state(current), statusEvent(kind, requested, isRetry ? 2 : undefined));
    if (legal) {
      expect(verdict).toEqual({
        ok: true,
        status: requested,
        terminal: c.terminal.includes(requested),
        ...(kind === 'job' ? { attempt: isRetry ? 2 : 1 } : {}),
      });
    } else {
      expect(refusal(verdict)).toEqual({ current: current ?? 'none', requested });
    }
  });

  it.each(KINDS.flatMap((kind) => CONTRACT[kind].statuses.filter((s) => !CONTRACT[kind].terminal.includes(s)).map((s) => [kind, s])))(
    '%s: canceled is reachable from %s',
    (kind, from) => {
      const verdict = checkEvent(kind as SubjectKind, state(from), statusEvent(kind as SubjectKind, 'canceled'));
      expect(verdict).toMatchObject({ ok: true, status: 'canceled', terminal: true });
    },
  );

  it.each(KINDS.flatMap((kind) => CONTRACT[kind].terminal.flatMap((t) => OTHER_EVENTS[kind].map((e) => [kind, t, e] as const))))(
    '%s: terminal %s refuses %p',
    (kind, terminal, event) => {
      const { current } = refusal(checkEvent(kind, state(terminal), event));
      expect(current).toBe(terminal);
    },
  );

  it.each(KINDS.flatMap((kind) => OTHER_EVENTS[kind].map((e) => [kind, e] as const)))('%s: %p before any status is refused with current none', (kind, event) => {
    const { current, requested } = refusal(checkEvent(kind, emptySubjectState(), event));
    expect(current).toBe('none');
    expect(requested).toBe('status' in event.data ? (event.data as { status: string }).status : event.type);
  });

  it('non-status events on a live subject are accepted without changing its status', () => {
    expect(checkEvent('job', state('running'), OTHER_EVENTS.job[0]!)).toEqual({ ok: true, terminal: false });
    expect(checkEvent('run', state('pending'), OTHER_EVENTS.run[0]!)).toEqual({ ok: true, terminal: false });
  });
});

describe('checkEvent: job attempts', () => {
  it('a first status defaults to attempt 1 or takes the one given', () => {
    expect(checkEvent('job', emptySubjectState(), statusEvent('job', 'pending'))).toMatchObject({ ok: true, attempt: 1 });
    expect(checkEvent('job', emptySubjectState(), statusEvent('job', 'scheduled', 3))).toMatchObject({ ok: true, attempt: 3 });
  });

  it('a retry must carry exactly the next attempt', () => {
    const running = state('running', 2);
    expect(refusal(checkEvent('job', running, statusEvent('job', 'scheduled')), /must carry attempt 3, not omitted$/)).toEqual({ current: 'running', requested: 'scheduled' });
    expect(refusal(checkEvent('job', running, statusEvent('job', 'scheduled', 2)), /must carry attempt 3, not 2$/)).toEqual({ current: 'running', requested: 'scheduled' });
    expect(refusal(checkEvent('job', running, statusEvent('job', 'scheduled', 4)), /must carry attempt 3, not 4$/)).toEqual({ current: 'running', requested: 'scheduled' });
    expect(checkEvent('job', running, statusEvent('job', 'scheduled', 3))).toEqual({ ok: true, status: 'scheduled', attempt: 3, terminal: false });
  });

  it.each([
    ['pending', 'scheduled'],
    ['scheduled', 'leased'],
    ['scheduled', 'throttled'],
    ['throttled', 'scheduled'],
    ['leased', 'scheduled'],
    ['leased', 'running'],
    ['running', 'succeeded'],
    ['running', 'canceled'],
  ])('other transitions (%s → %s) may omit the attempt or must repeat it', (from, to) => {
    const s = state(from, 2);
    expect(checkEvent('job', s, statusEvent('job', to))).toMatchObject({ ok: true, status: to, attempt: 2 });
    expect(checkEvent('job', s, statusEvent('job', to, 2))).toMatchObject({ ok: true, status: to, attempt: 2 });
    expect(refusal(checkEvent('job', s, statusEvent('job', to, 3)), /attempt .*, not 3$/)).toEqual({ current: from, requested: to });
    expect(refusal(checkEvent('job', s, statusEvent('job', to, 1)), /attempt .*, not 1$/)).toEqual({ current: from, requested: to });
  });

  it('pack runs and runs have no attempt', () => {
    const verdict = checkEvent('run', state('pending'), statusEvent('run', 'running'));
    expect(verdict).toEqual({ ok: true, status: 'running', terminal: false });
  });
});

describe('checkEvent: pack-run steps', () => {
  const STEP_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'skipped'];
  const STEP_NEXT: Record<string, string[]> = { pending: ['running', 'skipped'], running: ['succeeded', 'failed'] };
  const table = [null, ...STEP_STATUSES].flatMap((current) => STEP_STATUSES.map((requested) => [current, requested] as const));

  it.each(table)('step %s → %s', (current, requested) => {
    const legal = current === null ? ['pending', 'running'].includes(requested) : (STEP_NEXT[current] ?? []).includes(requested);
    const s = state('running', 0, current === null ? [] : [[4, current]]);
    const verdict = checkEvent('pack-run', s, stepEvent(4, requested));
    if (legal) expect(verdict).toEqual({ ok: true, step: { index: 4, status: requested }, terminal: false });
    else expect(refusal(verdict, /step 4\b/)).toEqual({ current: current ?? 'none', requested });
  });

  it('logs go to pending, running and unannounced steps, never to finished ones', () => {
    const s = state('running', 0, [
      [0, 'pending'],
      [1, 'running'],
      [2, 'succeeded'],
      [3, 'failed'],
      [4, 'skipped'],
    ]);
    expect(checkEvent('pack-run', s, logEvent(0))).toEqual({ ok: true, terminal: false });
    expect(checkEvent('pack-run', s, logEvent(1))).toEqual({ ok: true, terminal: false });
    expect(checkEvent('pack-run', s, logEvent(9))).toEqual({ ok: true, terminal: false });
    for (const [index, finished] of [[2, 'succeeded'], [3, 'failed'], [4, 'skipped']] as const) {
      expect(refusal(checkEvent('pack-run', s, logEvent(index)))).toEqual({ current: finished, requested: 'pack_run.log' });
    }
  });

  it('steps are judged independently', () => {
    const s = state('running', 0, [[0, 'succeeded']]);
    expect(checkEvent('pack-run', s, stepEvent(1, 'running'))).toMatchObject({ ok: true });
    expect(checkEvent('pack-run', s, stepEvent(0, 'running'))).toMatchObject({ ok: false, current: 'succeeded' });
  });
});

describe('applyVerdict', () => {
  it('moves status, attempt and steps as accepted', () => {
    const s = emptySubjectState();
    const apply = (kind: SubjectKind, event: { type: string; data: object }) => {
      const verdict = checkEvent(kind, s, event);
      if (!verdict.ok) throw new Error(verdict.reason);
      applyVerdict(s, verdict);
    };
    apply('job', statusEvent('job', 'scheduled'));
    apply('job', statusEvent('job', 'leased'));
    apply('job', statusEvent('job', 'running'));
    apply('job', statusEvent('job', 'scheduled', 2));
    expect(s).toEqual({ status: 'scheduled', attempt: 2, steps: new Map() });
    apply('job', OTHER_EVENTS.job[0]!);
    expect(s).toEqual({ status: 'scheduled', attempt: 2, steps: new Map() });

    const p = emptySubjectState();
    const verdicts = [statusEvent('pack-run', 'running'), stepEvent(0, 'running'), stepEvent(0, 'succeeded'), stepEvent(1, 'pending')].map((e) => {
      const v = checkEvent('pack-run', p, e);
      if (!v.ok) throw new Error(v.reason);
      applyVerdict(p, v);
      return v;
    });
    expect(verdicts.map((v) => v.terminal)).toEqual([false, false, false, false]);
    expect(p).toEqual({ status: 'running', attempt: 0, steps: new Map([[0, 'succeeded'], [1, 'pending']]) });
  });
});

describe('refusals', () => {
  it.each<[RefusalRule, SubjectKind, SubjectState, { type: string; data: object }]>([
    ['subject_terminal', 'job', state('canceled'), statusEvent('job', 'pending')],
    ['status_event_first', 'run', emptySubjectState(), OTHER_EVENTS.run[0]!],
    ['first_status', 'pack-run', emptySubjectState(), statusEvent('pack-run', 'failed')],
    ['status_transition', 'job', state('pending'), statusEvent('job', 'leased')],
    ['retry_attempt', 'job', state('running', 1), statusEvent('job', 'scheduled')],
    ['attempt', 'job', state('leased', 1), statusEvent('job', 'running', 5)],
    ['step_first', 'pack-run', state('running'), stepEvent(0, 'failed')],
    ['step_finished', 'pack-run', state('running', 0, [[0, 'failed']]), logEvent(0)],
    ['step_transition', 'pack-run', state('running', 0, [[0, 'pending']]), stepEvent(0, 'failed')],
    ['step_limit', 'pack-run', state('running', 0, Array.from({ length: MAX_STEPS_PER_PACK_RUN }, (_, i): [number, string] => [i, 'succeeded'])), stepEvent(MAX_STEPS_PER_PACK_RUN, 'running')],
  ])('a %s refusal names its rule, and its reason is that rule\'s text', (rule, kind, before, event) => {
    const verdict = checkEvent(kind, before, event);
    if (verdict.ok) throw new Error(`expected a refusal, got ${JSON.stringify(verdict)}`);
    expect(verdict.rule).toBe(rule);
    expect(verdict.reason).toBe(refusalReason(kind, event, verdict));
  });

  it(`a pack run with ${MAX_STEPS_PER_PACK_RUN} steps starts no other; its own steps go on`, () => {
    const full = state('running', 0, Array.from({ length: MAX_STEPS_PER_PACK_RUN }, (_, i): [number, string] => [i, i === 0 ? 'running' : 'succeeded']));
    expect(checkEvent('pack-run', full, stepEvent(MAX_STEPS_PER_PACK_RUN + 5, 'pending'))).toMatchObject({
      ok: false,
      rule: 'step_limit',
      current: 'none',
      requested: 'pending',
      reason: `a pack run has at most ${MAX_STEPS_PER_PACK_RUN} steps: step ${MAX_STEPS_PER_PACK_RUN + 5} would be one more`,
    });
    expect(checkEvent('pack-run', full, stepEvent(0, 'succeeded'))).toMatchObject({ ok: true });
    expect(checkEvent('pack-run', full, logEvent(0))).toMatchObject({ ok: true });
    const oneLess = state('running', 0, Array.from({ length: MAX_STEPS_PER_PACK_RUN - 1 }, (_, i): [number, string] => [i, 'succeeded']));
    expect(checkEvent('pack-run', oneLess, stepEvent(MAX_STEPS_PER_PACK_RUN + 5, 'pending'))).toMatchObject({ ok: true });
  });

  it('every rule has its own text, and only those codes are rules', () => {
    const event = { type: 'job.status', data: { status: 'running', stepIndex: 1, attempt: 2 } };
    const texts = REFUSAL_RULES.map((rule) => refusalReason('job', event, { rule, current: 'pending', requested: 'running', expectedAttempt: 3 }));
    expect(new Set(texts).size).toBe(REFUSAL_RULES.length);
    for (const rule of REFUSAL_RULES) expect(isRefusalRule(rule)).toBe(true);
    expect(isRefusalRule('transition')).toBe(false);
  });
});
