/** ANSI styling, on only when the stream is a terminal and NO_COLOR is unset (FORCE_COLOR forces it). */
export interface Style {
  enabled: boolean;
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  blue(text: string): string;
  cyan(text: string): string;
  magenta(text: string): string;
}

export function styleFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Style {
  const forced = env['FORCE_COLOR'] !== undefined && env['FORCE_COLOR'] !== '0';
  const enabled = forced || (Boolean(stream.isTTY) && env['NO_COLOR'] === undefined && env['TERM'] !== 'dumb');
  const wrap = (open: number, close: number) => (text: string) => (enabled ? `\x1b[${open}m${text}\x1b[${close}m` : text);
  return {
    enabled,
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    blue: wrap(34, 39),
    magenta: wrap(35, 39),
    cyan: wrap(36, 39),
  };
}

const GOOD = new Set(['succeeded', 'completed']);
const BAD = new Set(['failed', 'timed_out', 'canceled']);
const WAITING = new Set(['pending', 'scheduled', 'throttled', 'leased', 'skipped']);

/** A status coloured by what it means: green done, red failed, yellow waiting, cyan running. */
export function colourStatus(style: Style, status: string): string {
  if (GOOD.has(status)) return style.green(status);
  if (BAD.has(status)) return style.red(status);
  if (WAITING.has(status)) return style.yellow(status);
  return style.cyan(status);
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}
