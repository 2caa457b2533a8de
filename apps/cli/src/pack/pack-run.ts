import { randomUUID } from 'node:crypto';
import { MAX_LOG_MESSAGE_BYTES } from '@fanout/contracts';
import { OutgoingEvent } from '../client/publish';
import { EventSink } from './event-sink';
import { splitByBytes } from './line-splitter';
import { Pack, PackStep } from './pack-file';
import { OutputStream, RunningStep, StepOutcome, startStep } from './step-process';

export type PackResult = 'succeeded' | 'failed' | 'canceled';
export type StepResult = 'succeeded' | 'failed' | 'skipped';

/** What a pack run tells the person watching the terminal. */
export interface PackRunReporter {
  stepStarted(step: PackStep, total: number): void;
  line(step: PackStep, stream: OutputStream, lineNo: number, text: string): void;
  stepFinished(step: PackStep, total: number, result: StepResult, outcome?: StepOutcome): void;
  finished(result: PackResult, durationMs: number): void;
}

const DEFAULT_HIGH_WATER = 5000;

export interface PackRunOptions {
  pack: Pack;
  /** The pack run's subject id. */
  id: string;
  tenant: string;
  sink: EventSink;
  reporter: PackRunReporter;
  /** Environment of every step (the pack's and the step's env go on top). */
  baseEnv: NodeJS.ProcessEnv;
  /** Unacknowledged log events past which the steps' output is paused until the publisher catches up. @default {@link DEFAULT_HIGH_WATER} */
  highWater?: number;
  /** Passed to each step. @default the step's own, DEFAULT_KILL_GRACE_MS of step-process.ts */
  killGraceMs?: number;
}

export interface PackRun {
  /** Resolves with the pack's result once its last event is stored. */
  done: Promise<PackResult>;
  /** Cancels the run: the running step's process group is ended, later steps skipped, the run `canceled`. */
  cancel(): void;
  /** Kills the running step's process group at once (SIGKILL): the runner is exiting without publishing. */
  kill(): void;
}

/**
 * Executes a pack's steps one after another on this machine and publishes the run as it goes:
 * `pack_run.status` running (with the steps), per step `pack_run.step` running → its output lines as
 * `pack_run.log` (lineNo from 1 within the step) → succeeded | failed, then the run's result. After a
 * failed step the rest are published `pending → skipped`.
 */
export function startPackRun(options: PackRunOptions): PackRun {
  const { pack, id, tenant, sink, reporter } = options;
  const highWater = options.highWater ?? DEFAULT_HIGH_WATER;
  let canceled = false;
  let current: RunningStep | undefined;

  const event = (type: string, data: Record<string, unknown>): OutgoingEvent => ({
    eventId: randomUUID(),
    tenant,
    subject: { kind: 'pack-run', id },
    type,
    occurredAt: new Date().toISOString(),
    data,
  });
  const publish = async (type: string, data: Record<string, unknown>) => {
    sink.push(event(type, data));
    await sink.flush();
  };

  const runStep = async (step: PackStep): Promise<StepOutcome> => {
    let lineNo = 0;
    let paused = false;
    const running = startStep(step, {
      shell: pack.shell,
      killGraceMs: options.killGraceMs,
      env: { ...options.baseEnv, ...step.env, FANOUT_PACK_RUN_ID: id, FANOUT_STEP_INDEX: String(step.index), FANOUT_STEP_NAME: step.name },
      onLine(stream, text) {
        for (const message of splitByBytes(text, MAX_LOG_MESSAGE_BYTES)) {
          lineNo += 1;
          reporter.line(step, stream, lineNo, message);
          sink.push(event('pack_run.log', { stepIndex: step.index, lineNo, stream, message }));
        }
        if (!paused && sink.pending > highWater) {
          paused = true;
          running.pause();
          sink.flush().then(
            () => {
              paused = false;
              running.resume();
            },
            () => running.cancel(),
          );
        }
      },
    });
    current = running;
    if (canceled) running.cancel();
    const outcome = await running.done;
    current = undefined;
    if (outcome.timedOut) {
      lineNo += 1;
      const message = `step timed out after ${step.timeoutMs} ms and was killed`;
      reporter.line(step, 'stderr', lineNo, message);
      sink.push(event('pack_run.log', { stepIndex: step.index, lineNo, stream: 'stderr', level: 'error', message }));
    }
    return outcome;
  };

  sink.onFailure(() => current?.cancel());

  const done = (async (): Promise<PackResult> => {
    const started = performance.now();
    await publish('pack_run.status', {
      status: 'running',
      packName: pack.name,
      ...(pack.version ? { packVersion: pack.version } : {}),
      steps: pack.steps.map((s) => ({ index: s.index, name: s.name })),
    });
    let result: PackResult = 'succeeded';
    const total = pack.steps.length;
    for (const step of pack.steps) {
      if (result !== 'succeeded' || canceled) {
        reporter.stepFinished(step, total, 'skipped');
        sink.push(event('pack_run.step', { stepIndex: step.index, stepName: step.name, status: 'pending' }));
        sink.push(event('pack_run.step', { stepIndex: step.index, stepName: step.name, status: 'skipped' }));
        if (canceled) result = 'canceled';
        continue;
      }
      reporter.stepStarted(step, total);
      await publish('pack_run.step', { stepIndex: step.index, stepName: step.name, status: 'running' });
      const outcome = await runStep(step);
      const ok = outcome.exitCode === 0 && !outcome.canceled && !outcome.timedOut;
      reporter.stepFinished(step, total, ok ? 'succeeded' : 'failed', outcome);
      await publish('pack_run.step', {
        stepIndex: step.index,
        stepName: step.name,
        status: ok ? 'succeeded' : 'failed',
        exitCode: outcome.exitCode,
        durationMs: outcome.durationMs,
      });
      if (!ok) result = canceled ? 'canceled' : 'failed';
    }
    if (canceled) result = 'canceled';
    await publish('pack_run.status', { status: result });
    reporter.finished(result, performance.now() - started);
    return result;
  })();

  return {
    done,
    cancel() {
      if (canceled) return;
      canceled = true;
      current?.cancel();
    },
    kill() {
      canceled = true;
      current?.kill();
    },
  };
}
