// A log message as a terminal shows it: ANSI SGR colours and styles (16, 256 and true colour, bold,
// dim, italic, underline, strikethrough, reverse) parsed by anser into styled runs of text, `\r`
// handled as a terminal would (what follows the last `\r` replaces the line, in the colours set
// before it), every other escape sequence and control character dropped. The runs become DOM nodes
// with textContent, classes and style properties only: nothing of a log line is ever parsed as HTML.

import Anser from 'anser';

/** A run of text in one style. */
export interface Run {
  text: string;
  /** CSS colours (`rgb(…)`), already swapped for `reverse`. */
  fg?: string;
  bg?: string;
  /** `ansi-bold`, `ansi-underline`, … (dashboard.css). */
  classes: string[];
}

export interface RenderedMessage {
  /** The runs' text joined: what is on screen, what search matches. */
  text: string;
  runs: Run[];
}

// eslint-disable-next-line no-control-regex -- matching escape sequences is the point
const SGR = /\u001b\[[0-9;:]*m/g;
// Every escape sequence but SGR: other CSI (cursor moves, erase), OSC (titles, hyperlinks; ended by
// BEL or ESC \), and the two-byte escapes.
// eslint-disable-next-line no-control-regex -- matching escape sequences is the point
const NOT_SGR = /\u001b\[(?![0-9;:]*m)[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[@-Z\\^_]/g;
// Control characters left after that (a lone ESC, BEL, backspace…): not drawn. Tab is kept.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;
/** Shown between the lines of a message that holds `\n` (a row is one line high). */
export const NEWLINE_MARK = ' ⏎ ';

/** One line (no `\n`) after `\r`: the last part with visible text, preceded by the SGR codes of the parts before it. */
function afterCarriageReturn(line: string): string {
  if (!line.includes('\r')) return line;
  const parts = line.split('\r');
  let last = parts.length - 1;
  while (last > 0 && parts[last]!.replace(SGR, '').replace(NOT_SGR, '').replace(CONTROL, '') === '') last -= 1;
  const carried = parts
    .slice(0, last)
    .map((part) => part.match(SGR)?.join('') ?? '')
    .join('');
  return carried + parts[last]!;
}

const DECORATION_CLASS: Record<string, string> = {
  bold: 'ansi-bold',
  dim: 'ansi-dim',
  italic: 'ansi-italic',
  underline: 'ansi-underline',
  blink: 'ansi-blink',
  hidden: 'ansi-hidden',
  strikethrough: 'ansi-strike',
};

const rgb = (value: string | null | undefined): string | undefined => (value ? `rgb(${value})` : undefined);

function runsOf(line: string): Run[] {
  const cleaned = line.replace(NOT_SGR, '');
  if (!cleaned.includes('\u001b')) {
    const text = cleaned.replace(CONTROL, '');
    return text ? [{ text, classes: [] }] : [];
  }
  const runs: Run[] = [];
  for (const entry of Anser.ansiToJson(cleaned, { json: true, remove_empty: true, use_classes: false })) {
    const text = entry.content.replace(CONTROL, '');
    if (!text) continue;
    // anser swaps the colours itself for `reverse` (white on black when none were set).
    const fg = rgb(entry.fg_truecolor) ?? rgb(entry.fg);
    const bg = rgb(entry.bg_truecolor) ?? rgb(entry.bg);
    const classes = entry.decorations.map((decoration) => DECORATION_CLASS[decoration]).filter((name): name is string => name !== undefined);
    runs.push({ text, ...(fg ? { fg } : {}), ...(bg ? { bg } : {}), classes });
  }
  return runs;
}

/** A message as it is drawn: its styled runs and their text. */
export function renderMessage(message: string): RenderedMessage {
  const lines = message.split('\n');
  const runs: Run[] = [];
  lines.forEach((line, i) => {
    if (i > 0) runs.push({ text: NEWLINE_MARK, classes: ['newline-mark'] });
    runs.push(...runsOf(afterCarriageReturn(line)));
  });
  return { text: runs.map((run) => run.text).join(''), runs };
}

/** The text a message shows (what search matches), without building its runs when it has no escapes. */
export function displayText(message: string): string {
  if (!message.includes('\u001b') && !message.includes('\r') && !message.includes('\n')) return message.replace(CONTROL, '');
  return renderMessage(message).text;
}

/**
 * Appends the runs to `parent` as spans (text nodes for unstyled runs), with the ranges `marks`
 * (offsets into the runs' text, sorted, not overlapping) wrapped in `<mark>`; `current` is the mark
 * that gets the class `current`.
 */
export function appendRuns(parent: HTMLElement, runs: readonly Run[], marks: readonly (readonly [number, number])[] = [], current = -1): void {
  let offset = 0;
  let m = 0;
  for (const run of runs) {
    const end = offset + run.text.length;
    let at = offset;
    while (at < end) {
      while (m < marks.length && marks[m]![1] <= at) m += 1;
      const mark = marks[m];
      let pieceEnd: number;
      let marked = false;
      if (mark && mark[0] <= at) {
        pieceEnd = Math.min(end, mark[1]);
        marked = true;
      } else {
        pieceEnd = mark ? Math.min(end, mark[0]) : end;
      }
      const text = run.text.slice(at - offset, pieceEnd - offset);
      const styled = run.fg !== undefined || run.bg !== undefined || run.classes.length > 0;
      let node: Node;
      if (styled) {
        const span = document.createElement('span');
        if (run.classes.length) span.className = run.classes.join(' ');
        if (run.fg) span.style.color = run.fg;
        if (run.bg) span.style.backgroundColor = run.bg;
        span.textContent = text;
        node = span;
      } else {
        node = document.createTextNode(text);
      }
      if (marked) {
        const wrapper = document.createElement('mark');
        if (m === current) wrapper.className = 'current';
        wrapper.append(node);
        node = wrapper;
      }
      parent.append(node);
      at = pieceEnd;
    }
    offset = end;
  }
}

/** Where `query` (lower case) occurs in `text`, case-insensitively: [start, end) ranges. */
export function matchRanges(text: string, query: string): [number, number][] {
  const ranges: [number, number][] = [];
  if (!query) return ranges;
  const lower = text.toLowerCase();
  // toLowerCase keeps the length of most text; where it does not, offsets would drift: mark nothing.
  if (lower.length !== text.length) return lower.includes(query) ? [[0, text.length]] : ranges;
  for (let at = lower.indexOf(query); at !== -1; at = lower.indexOf(query, at + query.length)) ranges.push([at, at + query.length]);
  return ranges;
}
