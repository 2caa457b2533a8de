import { parseArgs } from 'node:util';
import { SUBJECT_ID_PATTERN, StreamedEvent, SubjectKind, stripAnsi } from '@fanout/contracts';
import { UsageError, resolveEndpoint } from '../client/endpoint';
import { SseFrame, StreamRefused, followStream } from '../client/sse-follow';
import { Style, colourStatus, formatDuration, styleFor } from '../client/terminal';

export const TAIL_USAGE = `usage: fanout tail <job|pack-run|run> <id> [options]
       fanout tail subjects [options]      (the tenant's activity: every status change)

Follows a subject's stream from its first retained event (or --from, --last-event-id) to its end,
reconnecting by itself with Last-Event-ID after any drop. Stops when the subject completes.

  --json                  one JSON object per frame: {"id", "event", "data"} (control frames too)
  --from <seq>            skip events before this seq (the replay still starts at the beginning)
  --last-event-id <id>    resume after this event id
  --tail <n>              start at the last n events (1-10000; a pack run's latest status and step
                          events first); --last-event-id wins over it
  --types <t,t>           only events of these types (e.g. job.status,pack_run.step)
  --conflate              when this terminal falls behind, skip superseded progress events (it says so)
  --url <url>             gateway URL (FANOUT_GATEWAY_URL, FANOUT_URL; default http://127.0.0.1:8080)
  --token <jwt>           bearer token (FANOUT_TOKEN)
  --tenant <tenant>       X-Tenant for servers with FANOUT_AUTH=none (FANOUT_TENANT)
  --heartbeats            show heartbeat frames too

Connection changes are written to stderr. Exit status: 0 when the subject completed, 1 when the
gateway refuses the stream (404 unknown subject, 401/403), 130 on Ctrl-C.
Log lines keep their ANSI colours on a terminal; they are stripped when stdout is not a terminal or
NO_COLOR is set (FORCE_COLOR keeps them). --json always gives the messages as they were published.`;

const SEGMENTS: Record<string, SubjectKind> = {
  job: 'job',
  jobs: 'job',
  'pack-run': 'pack-run',
  'pack-runs': 'pack-run',
  run: 'run',
  runs: 'run',
};
const SEGMENT_OF: Record<SubjectKind, string> = { job: 'jobs', 'pack-run': 'pack-runs', run: 'runs' };

type Json = Record<string, unknown>;

function time(iso: unknown): string {
  return typeof iso === 'string' && iso.length >= 23 ? iso.slice(11, 23) : '            ';
}

/** One line for a domain frame, as a person reads it. */
export function formatEvent(style: Style, event: StreamedEvent): string {
  const head = `${style.dim(time(event.publishedAt ?? event.occurredAt))} ${style.dim(`#${String(event.seq).padStart(4)}`)}`;
  switch (event.type) {
    case 'job.status': {
      const { data } = event;
      const extra = [`attempt ${data.attempt ?? 1}`, data.reason ? `reason: ${data.reason}` : '', data.jobType ? `type ${data.jobType}` : '']
        .filter(Boolean)
        .join('  ');
      return `${head} ${style.bold('job')} ${colourStatus(style, data.status)}  ${style.dim(extra)}`;
    }
    case 'job.progress':
      return `${head} ${style.bold('job')} ${style.blue(`${event.data.percent}%`)}${event.data.message ? `  ${event.data.message}` : ''}`;
    case 'pack_run.status': {
      const { data } = event;
      const steps = data.steps ? `  ${data.steps.length} steps: ${data.steps.map((s) => s.name).join(', ')}` : '';
      const pack = data.packName ? `  ${data.packName}${data.packVersion ? `@${data.packVersion}` : ''}` : '';
      return `${head} ${style.bold('pack run')} ${colourStatus(style, data.status)}${style.dim(pack + steps)}`;
    }
    case 'pack_run.step': {
      const { data } = event;
      const extra = [data.exitCode !== undefined ? `exit ${data.exitCode}` : '', data.durationMs !== undefined ? formatDuration(data.durationMs) : '']
        .filter(Boolean)
        .join('  ');
      return `${head} ${style.bold(`step ${data.stepIndex}`)} ${data.stepName} ${colourStatus(style, data.status)}  ${style.dim(extra)}`;
    }
    case 'pack_run.log': {
      const { data } = event;
      const where = style.dim(`${data.stepIndex}:${String(data.lineNo).padStart(4)}`);
      const stream = data.stream === 'stderr' ? style.red('err') : style.dim('out');
      // The step's own colours stay on a terminal; elsewhere (a file, a pipe, NO_COLOR) they are stripped.
      const text = style.enabled ? data.message : stripAnsi(data.message);
      const message = data.stream === 'stderr' ? style.red(text) : text;
      return `${head} ${where} ${stream} │ ${message}`;
    }
    case 'run.status':
      return `${head} ${style.bold('run')} ${colourStatus(style, event.data.status)}`;
    case 'run.progress': {
      const { data } = event;
      const counts = (['total', 'pending', 'running', 'succeeded', 'failed', 'canceled'] as const).map((k) => `${k} ${data[k]}`).join(' · ');
      return `${head} ${style.bold('run')} ${counts}`;
    }
    default:
      return `${head} ${(event as { type: string }).type} ${JSON.stringify((event as { data: unknown }).data)}`;
  }
}

function formatFrame(style: Style, frame: SseFrame): string | undefined {
  let data: Json;
  try {
    data = JSON.parse(frame.data) as Json;
  } catch {
    return `${frame.event} ${frame.data}`;
  }
  if (frame.event === 'subject.updated') {
    const subject = data['subject'] as { kind: string; id: string };
    return `${style.dim(time(data['updatedAt']))} ${style.bold(`${subject.kind}:${subject.id}`)} → ${colourStatus(style, String(data['status']))} ${style.dim(`(seq ${String(data['seq'])})`)}`;
  }
  if (frame.id !== undefined) return formatEvent(style, data as unknown as StreamedEvent);
  if (frame.event === 'gap') {
    return style.yellow(`gap: ${String(data['reason'])}; the earliest retained event is seq ${String(data['firstAvailableSeq'])}`);
  }
  if (frame.event === 'end') return style.dim(`end: ${String(data['reason'])}`);
  if (frame.event === 'conflated') {
    return style.yellow(`behind: ${String(data['skipped'])} ${String(data['type'])} events skipped (seq ${String(data['firstSeq'])}-${String(data['lastSeq'])}), the latest follows`);
  }
  if (frame.event === 'heartbeat') return style.dim(`heartbeat ${String(data['ts'])}`);
  return `${frame.event} ${frame.data}`;
}

export function streamPath(kindArg: string | undefined, id: string | undefined): string {
  if (kindArg === 'subjects' && id === undefined) return '/api/v1/stream/subjects';
  const kind = kindArg ? SEGMENTS[kindArg] : undefined;
  if (!kind) throw new UsageError(`the first argument is job, pack-run, run or subjects, not ${JSON.stringify(kindArg ?? '')}`);
  if (!id || !SUBJECT_ID_PATTERN.test(id)) throw new UsageError(`a subject id matching ${SUBJECT_ID_PATTERN.source} is required`);
  return `/api/v1/stream/${SEGMENT_OF[kind]}/${encodeURIComponent(id)}`;
}

export async function tailCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      from: { type: 'string' },
      'last-event-id': { type: 'string' },
      tail: { type: 'string' },
      types: { type: 'string' },
      conflate: { type: 'boolean', default: false },
      url: { type: 'string' },
      token: { type: 'string' },
      tenant: { type: 'string' },
      heartbeats: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(TAIL_USAGE);
    return 0;
  }
  if (positionals.length > 2) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[2])}`);
  const tail = values.tail === undefined ? undefined : Number(values.tail);
  if (tail !== undefined && !(Number.isInteger(tail) && tail >= 1 && tail <= 10_000)) {
    throw new UsageError(`--tail: a number of events from 1 to 10000, not ${JSON.stringify(values.tail)}`);
  }
  const query = new URLSearchParams();
  if (tail !== undefined) query.set('tail', String(tail));
  // The gateway checks the types (a 400 names the unknown one).
  if (values.types !== undefined) query.set('types', values.types);
  if (values.conflate) query.set('conflate', 'progress');
  const path = `${streamPath(positionals[0], positionals[1])}${query.size > 0 ? `?${query.toString().replace(/%2C/g, ',')}` : ''}`;
  const from = values.from === undefined ? 0 : Number(values.from);
  if (!Number.isInteger(from) || from < 0) throw new UsageError(`--from: a seq (integer ≥ 0), not ${JSON.stringify(values.from)}`);
  const endpoint = resolveEndpoint('gateway', values, process.env);
  const out = styleFor(process.stdout);
  const err = styleFor(process.stderr);

  const controller = new AbortController();
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    controller.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const onFrame = (frame: SseFrame) => {
    if (from > 0 && frame.id !== undefined) {
      try {
        const seq = (JSON.parse(frame.data) as { seq?: number }).seq;
        if (typeof seq === 'number' && seq < from) return;
      } catch {
        /* printed as it is */
      }
    }
    if (values.json) {
      let data: unknown = frame.data;
      try {
        data = JSON.parse(frame.data);
      } catch {
        /* kept as text */
      }
      process.stdout.write(`${JSON.stringify(frame.id === undefined ? { event: frame.event, data } : { id: frame.id, event: frame.event, data })}\n`);
      return;
    }
    if (frame.event === 'heartbeat' && !values.heartbeats) return;
    const line = formatFrame(out, frame);
    if (line !== undefined) process.stdout.write(`${line}\n`);
  };

  try {
    const outcome = await followStream({
      endpoint,
      path,
      lastEventId: values['last-event-id'] || undefined,
      signal: controller.signal,
      onFrame,
      onState(state) {
        if (state.state === 'live') process.stderr.write(`${err.green('●')} ${err.dim(`live: ${state.url}`)}\n`);
        if (state.state === 'reconnecting') {
          process.stderr.write(`${err.yellow('●')} ${err.dim(`reconnecting in ${formatDuration(state.delayMs)}: ${state.reason}`)}\n`);
        }
        if (state.state === 'ended') process.stderr.write(`${err.dim(`○ ended: ${state.reason}`)}\n`);
      },
    });
    return outcome === 'completed' ? 0 : interrupted ? 130 : 1;
  } catch (error) {
    if (error instanceof StreamRefused) {
      process.stderr.write(`fanout tail: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
