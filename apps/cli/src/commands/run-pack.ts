import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { SUBJECT_ID_PATTERN } from '@fanout/contracts';
import { UsageError, resolveEndpoint } from '../client/endpoint';
import { colourStatus, formatDuration, styleFor } from '../client/terminal';
import { EventSink } from '../pack/event-sink';
import { PackFileError, loadPack } from '../pack/pack-file';
import { PackResult, PackRunReporter, startPackRun } from '../pack/pack-run';

export const RUN_PACK_USAGE = `usage: fanout run-pack <pack.yaml> [options]

Executes a task pack on this machine, step after step, and publishes the run as pack-run events:
pack_run.status (running, with the steps), pack_run.step per step, every stdout and stderr line as
pack_run.log (batched through @fanout/producer), and the result. Watch it with \`fanout tail pack-run <id>\` or the dashboard.

  --id <id>               the pack run's id (default: <pack name>-<time>-<random>)
  --url <url>             publisher URL (FANOUT_PUBLISHER_URL, FANOUT_URL; default http://127.0.0.1:8081)
  --token <jwt>           bearer token with events:write (FANOUT_TOKEN)
  --tenant <tenant>       the run's tenant (FANOUT_TENANT, the token's tenant claim, else "default")
  --quiet                 do not echo the steps' output here (progress lines only)

A pack (YAML): name, version?, description?, shell? (default sh), timeout? (per step, default 10m),
env?, workingDirectory? (relative to the pack file), and steps: [{name, run, timeout?, env?,
workingDirectory?}]. A failed step skips the rest. Ctrl-C (or SIGTERM, or SIGHUP) cancels: the
running step's process group is ended, the step is published failed and the run canceled. A second
one kills the step's process group at once and exits without publishing.

Exit status: 0 succeeded, 1 failed (or publishing failed), 2 usage or pack file error, 130 canceled.`;

const CANCELING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function defaultRunId(packName: string): string {
  const slug = packName.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 80) || 'pack';
  const time = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${slug}-${time}-${randomBytes(3).toString('hex')}`;
}

export async function runPackCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      id: { type: 'string' },
      url: { type: 'string' },
      token: { type: 'string' },
      tenant: { type: 'string' },
      quiet: { type: 'boolean', short: 'q', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(RUN_PACK_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('one pack file is required: fanout run-pack <pack.yaml>');
  const endpoint = resolveEndpoint('publisher', values, process.env);
  let pack;
  try {
    pack = await loadPack(positionals[0]!);
  } catch (error) {
    if (error instanceof PackFileError) throw new UsageError(error.message);
    throw error;
  }
  const id = values.id ?? defaultRunId(pack.name);
  if (!SUBJECT_ID_PATTERN.test(id)) throw new UsageError(`--id: must match ${SUBJECT_ID_PATTERN.source}`);

  const style = styleFor(process.stdout);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const label = (index: number, total: number) => style.bold(`[${index + 1}/${total}]`);
  const reporter: PackRunReporter = {
    stepStarted(step, total) {
      out(`${label(step.index, total)} ${step.name} ${style.cyan('running')}`);
    },
    line(_step, stream, _lineNo, text) {
      if (values.quiet) return;
      out(stream === 'stderr' ? `      ${style.red('│')} ${style.red(text)}` : `      ${style.dim('│')} ${text}`);
    },
    stepFinished(step, total, result, outcome) {
      const detail = outcome
        ? style.dim(`  exit ${outcome.exitCode}${outcome.timedOut ? ' (timed out)' : outcome.canceled ? ' (canceled)' : ''}  ${formatDuration(outcome.durationMs)}`)
        : '';
      out(`${label(step.index, total)} ${step.name} ${colourStatus(style, result)}${detail}`);
    },
    finished(result: PackResult, durationMs: number) {
      out(`${style.bold('pack run')} ${id} ${colourStatus(style, result)} ${style.dim(`in ${formatDuration(durationMs)}`)}`);
    },
  };

  const steps = `${pack.steps.length} step${pack.steps.length === 1 ? '' : 's'}`;
  out(`${style.bold(pack.name)}${pack.version ? ` ${pack.version}` : ''}: pack run ${style.bold(id)} (tenant ${endpoint.tenant}, ${steps}) → ${endpoint.url}`);
  out(style.dim(`  watch: fanout tail pack-run ${id} --tenant ${endpoint.tenant}`));

  const sink = new EventSink({
    endpoint,
    onRetry: (reason) => process.stderr.write(`fanout run-pack: publishing, retrying: ${reason}\n`),
  });
  const run = startPackRun({ pack, id, tenant: endpoint.tenant, sink, reporter, baseEnv: process.env });

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      process.stderr.write(`fanout run-pack: ${signal} again: killing the step and exiting without publishing the cancellation\n`);
      run.kill();
      process.exit(130);
    }
    process.stderr.write(`fanout run-pack: ${signal}: canceling (again to exit at once)\n`);
    run.cancel();
  };
  // SIGHUP too: a closed terminal or a dropped ssh session cancels the run like Ctrl-C.
  for (const signal of CANCELING_SIGNALS) process.on(signal, onSignal);
  try {
    const result = await run.done;
    return result === 'succeeded' ? 0 : result === 'canceled' ? 130 : 1;
  } catch (error) {
    process.stderr.write(`fanout run-pack: publishing failed, the run was stopped: ${(error as Error).message}\n`);
    return 1;
  } finally {
    for (const signal of CANCELING_SIGNALS) process.off(signal, onSignal);
    await sink.close().catch(() => undefined); // a failure was reported above
  }
}
