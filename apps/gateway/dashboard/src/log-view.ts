// A virtualised log: the loaded lines are kept, only the rows in view are in the DOM (a fixed pool,
// recycled), so 100,000 lines scroll, append and prepend as smoothly as 100. Rows have one fixed
// height (--row in dashboard.css). Lines arrive at the end (live) and at the start (earlier pages,
// loaded as the person scrolls up: the view keeps its place). A message is drawn by ansi.ts as
// styled runs (never as HTML); search matches are wrapped in <mark>.
// A page left open on a long run must not grow without end: past LOG_LIMIT (lines, or UTF-16 units of
// messages) the oldest lines are dropped while the tail is followed (they load again from history as
// the person scrolls up), and past twice that in any case; earlier pages stop loading at twice that.

import { appendRuns, displayText, matchRanges, renderMessage, RenderedMessage } from './ansi';
import { frameScheduler } from './dom';
import { timeOf } from './format';

const ROW = 20;
const OVERSCAN = 20;

export const LOG_LIMIT = { lines: 100_000, chars: 32 * 1024 * 1024 };
/** What is left after dropping, as a share of the limit passed (drops come in chunks, not per line). */
const KEEP_AFTER_DROP = 0.9;

export type LogStream = 'stdout' | 'stderr';

export interface LogLine {
  /** The event's seq: lines are kept in seq order. */
  seq: number;
  step: number;
  lineNo: number;
  stream: LogStream;
  message: string;
  /** The event's publishedAt. */
  at: string;
}

export interface LogFilter {
  step: number | 'all';
  stream: LogStream | 'all';
}

export interface LogViewInfo {
  shown: number;
  total: number;
  following: boolean;
}

interface Row {
  row: HTMLDivElement;
  ln: HTMLAnchorElement;
  time: HTMLSpanElement;
  st: HTMLSpanElement;
  msg: HTMLSpanElement;
  /** What the row shows now (the line and how it is drawn): unchanged rows are not rebuilt. */
  key: string;
  line: LogLine | undefined;
}

function span(className: string): HTMLSpanElement {
  const element = document.createElement('span');
  element.className = className;
  return element;
}

export class LogView {
  /** Every loaded line, in seq order. */
  private all: LogLine[] = [];
  /** The length of every loaded line's message. */
  private chars = 0;
  /** Indices into `all` that pass the filter (undefined: every line). */
  private view: number[] | undefined;
  private filter: LogFilter = { step: 'all', stream: 'all' };
  private followingTail = true;
  private readonly pool: Row[] = [];
  private programmaticScroll = false;
  private readonly rendered = new WeakMap<LogLine, RenderedMessage>();
  private readonly texts = new WeakMap<LogLine, string>();
  private query = '';
  private currentMatch: LogLine | undefined;
  private target: LogLine | undefined;
  private times = false;
  /** Bumped whenever every row must be drawn again (search, target, timestamps). */
  private drawGeneration = 0;
  readonly schedule = frameScheduler(() => this.render());

  /**
   * `container` scrolls; `spacer`, its child, is as tall as every row; `onChange` after each render;
   * `linkOf` gives a line's permalink; `onNearTop` when the view is close to the first loaded line;
   * `onDropped` after the oldest lines were dropped to keep within LOG_LIMIT.
   */
  constructor(
    private readonly container: HTMLElement,
    private readonly spacer: HTMLElement,
    private readonly onChange: (info: LogViewInfo) => void,
    private readonly linkOf: (line: LogLine) => string,
    private readonly onNearTop: () => void,
    private readonly onDropped: (dropped: readonly LogLine[]) => void,
  ) {
    container.addEventListener('scroll', () => {
      if (this.programmaticScroll) {
        this.programmaticScroll = false;
      } else {
        this.followingTail = container.scrollTop + container.clientHeight >= container.scrollHeight - ROW;
      }
      this.schedule();
    });
    new ResizeObserver(() => this.schedule()).observe(container);
  }

  get lines(): readonly LogLine[] {
    return this.all;
  }

  get following(): boolean {
    return this.followingTail;
  }

  /** No earlier page may be loaded: the view holds twice LOG_LIMIT. */
  get full(): boolean {
    return this.over(2);
  }

  clear(): void {
    // (Only a log that had lines can be scrolled: touching scrollTop forces a layout of the page.)
    if (this.all.length) this.setScrollTop(0);
    this.all = [];
    this.chars = 0;
    this.view = undefined;
    this.followingTail = true;
    this.currentMatch = undefined;
    this.target = undefined;
    this.drawGeneration += 1;
    this.schedule();
  }

  append(line: LogLine): void {
    this.all.push(line);
    this.chars += line.message.length;
    if (this.view && this.matches(line)) this.view.push(this.all.length - 1);
    const times = this.followingTail ? 1 : 2;
    if (this.over(times)) this.dropOldest(times);
    this.schedule();
  }

  private over(times: number): boolean {
    return this.all.length > LOG_LIMIT.lines * times || this.chars > LOG_LIMIT.chars * times;
  }

  /** Drops the oldest lines until the view holds KEEP_AFTER_DROP of `times` LOG_LIMIT; the rows in view stay where they are. */
  private dropOldest(times: number): void {
    const lines = LOG_LIMIT.lines * times * KEEP_AFTER_DROP;
    const chars = LOG_LIMIT.chars * times * KEEP_AFTER_DROP;
    let count = 0;
    let left = this.chars;
    while (count < this.all.length - 1 && (this.all.length - count > lines || left > chars)) {
      left -= this.all[count]!.message.length;
      count += 1;
    }
    const dropped = this.all.splice(0, count);
    this.chars = left;
    let shownDropped = count;
    if (this.view) {
      const view = this.view;
      let kept = 0;
      while (kept < view.length && view[kept]! < count) kept += 1;
      shownDropped = kept;
      this.view = view.slice(kept).map((index) => index - count);
    }
    const first = this.all[0]!;
    if (this.currentMatch && this.currentMatch.seq < first.seq) this.currentMatch = undefined;
    if (this.target && this.target.seq < first.seq) this.target = undefined;
    this.updateHeight();
    if (!this.followingTail && shownDropped) this.setScrollTop(Math.max(0, this.container.scrollTop - shownDropped * ROW));
    this.onDropped(dropped);
  }

  /** Earlier lines (in seq order, all before the first loaded one): the rows in view stay where they are. */
  prepend(lines: readonly LogLine[]): void {
    if (!lines.length) return;
    this.all = [...lines, ...this.all];
    for (const line of lines) this.chars += line.message.length;
    let added = lines.length;
    if (this.view) {
      const view: number[] = [];
      lines.forEach((line, i) => this.matches(line) && view.push(i));
      added = view.length;
      for (const index of this.view) view.push(index + lines.length);
      this.view = view;
    }
    this.updateHeight();
    if (!this.followingTail && added) this.setScrollTop(this.container.scrollTop + added * ROW);
    this.schedule();
  }

  setFilter(filter: Partial<LogFilter>): void {
    this.filter = { ...this.filter, ...filter };
    if (this.filter.step === 'all' && this.filter.stream === 'all') {
      this.view = undefined;
    } else {
      const view: number[] = [];
      this.all.forEach((line, i) => this.matches(line) && view.push(i));
      this.view = view;
    }
    this.schedule();
  }

  get currentFilter(): LogFilter {
    return this.filter;
  }

  setFollowing(following: boolean): void {
    this.followingTail = following;
    this.schedule();
  }

  setTimes(on: boolean): void {
    this.times = on;
    this.container.classList.toggle('with-times', on);
    this.drawGeneration += 1;
    this.schedule();
  }

  /** What a line shows (no escapes, `\r` applied): what search matches. */
  textOf(line: LogLine): string {
    let text = this.texts.get(line);
    if (text === undefined) {
      text = displayText(line.message);
      this.texts.set(line, text);
    }
    return text;
  }

  /** Whether the line passes the filter (it is in the view). */
  shows(line: LogLine): boolean {
    return this.matches(line);
  }

  /** Marks every occurrence of `query` (case-insensitive) in the rows; `current` is the line of the current match. */
  setSearch(query: string, current: LogLine | undefined): void {
    this.query = query.toLowerCase();
    this.currentMatch = current;
    this.drawGeneration += 1;
    this.schedule();
  }

  /** Scrolls `line` to the middle of the view and outlines it (the permalink's line); undefined: none. */
  setTarget(line: LogLine | undefined): void {
    this.target = line;
    this.drawGeneration += 1;
    if (line) this.reveal(line);
    this.schedule();
  }

  /** Scrolls `line` (loaded, shown by the filter) to the middle of the view; stops following the tail. */
  reveal(line: LogLine): void {
    const index = this.all.indexOf(line);
    if (index < 0) return;
    const position = this.view ? this.view.indexOf(index) : index;
    if (position < 0) return;
    this.followingTail = false;
    this.updateHeight();
    this.setScrollTop(Math.max(0, position * ROW - (this.container.clientHeight - ROW) / 2));
    this.schedule();
  }

  private setScrollTop(top: number): void {
    const before = this.container.scrollTop;
    this.container.scrollTop = top;
    if (this.container.scrollTop !== before) this.programmaticScroll = true;
  }

  private matches(line: LogLine): boolean {
    return (this.filter.step === 'all' || line.step === this.filter.step) && (this.filter.stream === 'all' || line.stream === this.filter.stream);
  }

  private updateHeight(): number {
    const count = this.view ? this.view.length : this.all.length;
    const height = count * ROW;
    if (this.spacer.style.height !== `${height}px`) this.spacer.style.height = `${height}px`;
    return count;
  }

  private renderedOf(line: LogLine): RenderedMessage {
    let rendered = this.rendered.get(line);
    if (!rendered) {
      rendered = renderMessage(line.message);
      this.rendered.set(line, rendered);
      this.texts.set(line, rendered.text);
    }
    return rendered;
  }

  private newRow(): Row {
    const ln = document.createElement('a');
    ln.className = 'ln';
    const row: Row = { row: document.createElement('div'), ln, time: span('time'), st: span('st'), msg: span('msg'), key: '', line: undefined };
    row.row.append(row.ln, row.time, row.st, row.msg);
    return row;
  }

  private render(): void {
    const count = this.updateHeight();
    const { container } = this;
    if (this.followingTail) {
      const bottom = Math.max(0, count * ROW - container.clientHeight);
      if (Math.abs(container.scrollTop - bottom) > 1) this.setScrollTop(bottom);
    }
    const first = Math.max(0, Math.floor(container.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(count, Math.ceil((container.scrollTop + container.clientHeight) / ROW) + OVERSCAN);
    const needed = Math.max(0, last - first);
    while (this.pool.length < needed) {
      const row = this.newRow();
      this.pool.push(row);
      this.spacer.append(row.row);
    }
    this.pool.forEach((row, i) => {
      if (i >= needed) {
        if (!row.row.hidden) row.row.hidden = true;
        row.line = undefined;
        return;
      }
      const position = first + i;
      const index = this.view ? this.view[position]! : position;
      const line = this.all[index]!;
      row.row.hidden = false;
      const transform = `translateY(${position * ROW}px)`;
      if (row.row.style.transform !== transform) row.row.style.transform = transform;
      const key = `${this.drawGeneration}:${line.seq}`;
      if (row.key === key && row.line === line) return;
      row.key = key;
      row.line = line;
      this.drawRow(row, line);
    });
    this.onChange({ shown: count, total: this.all.length, following: this.followingTail });
    if (count > 0 && container.scrollTop < container.clientHeight) this.onNearTop();
  }

  private drawRow(row: Row, line: LogLine): void {
    const classes = ['log-row'];
    if (line.stream === 'stderr') classes.push('stderr');
    if (line === this.target) classes.push('target');
    if (line === this.currentMatch) classes.push('current-match');
    row.row.className = classes.join(' ');
    row.row.dataset['seq'] = String(line.seq);
    row.row.dataset['line'] = `${line.step + 1}:${line.lineNo}`;
    row.ln.textContent = `${line.step + 1}:${line.lineNo}`;
    row.ln.href = this.linkOf(line);
    row.time.textContent = this.times ? timeOf(line.at) : '';
    row.st.textContent = line.stream === 'stderr' ? 'err' : 'out';
    const rendered = this.renderedOf(line);
    row.msg.replaceChildren();
    appendRuns(row.msg, rendered.runs, this.query ? matchRanges(rendered.text, this.query) : [], -1);
  }
}
