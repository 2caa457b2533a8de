import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { constants } from 'node:os';
import { LineSplitter } from './line-splitter';
import { PackStep } from './pack-file';

export type OutputStream = 'stdout' | 'stderr';

export interface StepOutcome {
  /** The process's exit code; 128 + signal number when a signal ended it; 124 on timeout. */
  exitCode: number;
  /** The signal that ended it, if one did. */
  signal?: NodeJS.Signals;
  timedOut: boolean;
  canceled: boolean;
  durationMs: number;
}

export interface RunningStep {
  pid: number;
  done: Promise<StepOutcome>;
  /** Ends the step's whole process group: SIGTERM, then SIGKILL after the grace period. */
  cancel(): void;
  /** Kills the step's whole process group at once (SIGKILL), for a runner that is exiting now. */
  kill(): void;
  /** Stops reading its output (the pipes fill and the step blocks on writing) until resume(). */
  pause(): void;
  resume(): void;
}

const DEFAULT_KILL_GRACE_MS = 3000;
const DEFAULT_DRAIN_AFTER_EXIT_MS = 1000;

export interface StepProcessOptions {
  shell: string;
  env: NodeJS.ProcessEnv;
  onLine(stream: OutputStream, line: string): void;
  /** Between SIGTERM and SIGKILL. @default {@link DEFAULT_KILL_GRACE_MS} */
  killGraceMs?: number;
  /**
   * After the step's main process exits, how long to wait for its output pipes to close (held open by
   * leftover children). @default {@link DEFAULT_DRAIN_AFTER_EXIT_MS}
   */
  drainAfterExitMs?: number;
}

export const TIMEOUT_EXIT_CODE = 124;

/** Runs one step as `shell -c <run>` in its own process group, reading stdout and stderr line by line. */
export function startStep(step: PackStep, options: StepProcessOptions): RunningStep {
  const started = performance.now();
  const child = spawn(options.shell, ['-c', step.run], {
    cwd: step.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  let timedOut = false;
  let canceled = false;
  let exited = false;
  let killTimer: NodeJS.Timeout | undefined;

  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      /* the group is gone */
    }
  };
  const terminate = () => {
    signalGroup('SIGTERM');
    killTimer ??= setTimeout(() => signalGroup('SIGKILL'), killGraceMs);
    killTimer.unref();
  };
  const timeout = setTimeout(() => {
    timedOut = true;
    terminate();
  }, step.timeoutMs);

  const splitters = {
    stdout: new LineSplitter((line) => options.onLine('stdout', line)),
    stderr: new LineSplitter((line) => options.onLine('stderr', line)),
  };
  child.stdout.on('data', (chunk: Buffer) => splitters.stdout.write(chunk));
  child.stderr.on('data', (chunk: Buffer) => splitters.stderr.write(chunk));

  const done = new Promise<StepOutcome>((resolve) => {
    let spawnError: Error | undefined;
    let code: number | null = null;
    let signal: NodeJS.Signals | null = null;
    const finish = () => {
      clearTimeout(timeout);
      if (killTimer) clearTimeout(killTimer);
      // Leftover children of the step die with it.
      signalGroup('SIGKILL');
      splitters.stdout.end();
      splitters.stderr.end();
      if (spawnError) options.onLine('stderr', whyNotStarted(spawnError, options.shell, step.cwd));
      const exitCode = timedOut ? TIMEOUT_EXIT_CODE : code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 127);
      resolve({ exitCode, signal: signal ?? undefined, timedOut, canceled, durationMs: Math.round(performance.now() - started) });
    };
    child.once('error', (error) => {
      spawnError = error;
      if (!exited) {
        exited = true;
        finish();
      }
    });
    child.once('exit', (c, s) => {
      code = c;
      signal = s;
      // Output may still be in the pipes; leftover background children may hold them open.
      const drain = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
      }, options.drainAfterExitMs ?? DEFAULT_DRAIN_AFTER_EXIT_MS);
      child.once('close', () => clearTimeout(drain));
    });
    child.once('close', () => {
      if (exited) return;
      exited = true;
      finish();
    });
  });

  return {
    pid: child.pid ?? -1,
    done,
    cancel() {
      if (exited) return;
      canceled = true;
      terminate();
    },
    kill() {
      canceled = true;
      signalGroup('SIGKILL');
    },
    pause() {
      child.stdout.pause();
      child.stderr.pause();
    },
    resume() {
      child.stdout.resume();
      child.stderr.resume();
    },
  };
}

/** Node reports a missing working directory as the shell's ENOENT (`spawn sh ENOENT`): say which is missing. */
function whyNotStarted(error: Error, shell: string, cwd: string): string {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !statSync(cwd, { throwIfNoEntry: false })?.isDirectory()) {
    return `the step's working directory ${cwd} does not exist (or is not a directory)`;
  }
  return `${shell}: ${error.message}`;
}
