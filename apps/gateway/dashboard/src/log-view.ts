// A virtualised log: every line is kept, only the rows in view are in the DOM, so 100,000 lines
// scroll and append as smoothly as 100. Rows have one fixed height (--row in dashboard.css).

import { frameScheduler } from './dom';

const ROW = 20;
const OVERSCAN = 20;

export type LogStream = 'stdout' | 'stderr';

export interface LogLine {
  step: number;
  lineNo: number;
  stream: LogStream;
  message: string;
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
  ln: HTMLSpanElement;
  st: HTMLSpanElement;
  msg: HTMLSpanElement;
}

function span(className: string): HTMLSpanElement {
  const element = document.createElement('span');
  element.className = className;
  return element;
}

export class LogView {
  /** Every line, in arrival order. */
  private all: LogLine[] = [];
  /** Indices into `all` that pass the filter (undefined: every line). */
  private view: number[] | undefined;
  private filter: LogFilter = { step: 'all', stream: 'all' };
  private followingTail = true;
  private readonly pool: Row[] = [];
  private programmaticScroll = false;
  readonly schedule = frameScheduler(() => this.render());

  /** `container` scrolls; `spacer`, its child, is as tall as every row; `onChange` after each render. */
  constructor(
    private readonly container: HTMLElement,
    private readonly spacer: HTMLElement,
    private readonly onChange: (info: LogViewInfo) => void,
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

  clear(): void {
    this.all = [];
    this.view = undefined;
    this.followingTail = true;
    this.container.scrollTop = 0;
    this.schedule();
  }

  append(line: LogLine): void {
    this.all.push(line);
    if (this.view && this.matches(line)) this.view.push(this.all.length - 1);
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

  setFollowing(following: boolean): void {
    this.followingTail = following;
    this.schedule();
  }

  private matches(line: LogLine): boolean {
    return (this.filter.step === 'all' || line.step === this.filter.step) && (this.filter.stream === 'all' || line.stream === this.filter.stream);
  }

  private render(): void {
    const count = this.view ? this.view.length : this.all.length;
    const height = count * ROW;
    if (this.spacer.style.height !== `${height}px`) this.spacer.style.height = `${height}px`;
    const { container } = this;
    if (this.followingTail) {
      const bottom = Math.max(0, height - container.clientHeight);
      if (Math.abs(container.scrollTop - bottom) > 1) {
        this.programmaticScroll = true;
        container.scrollTop = bottom;
      }
    }
    const first = Math.max(0, Math.floor(container.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(count, Math.ceil((container.scrollTop + container.clientHeight) / ROW) + OVERSCAN);
    const needed = Math.max(0, last - first);
    while (this.pool.length < needed) {
      const row = { row: document.createElement('div'), ln: span('ln'), st: span('st'), msg: span('msg') };
      row.row.append(row.ln, row.st, row.msg);
      this.pool.push(row);
      this.spacer.append(row.row);
    }
    this.pool.forEach(({ row, ln, st, msg }, i) => {
      if (i >= needed) {
        if (!row.hidden) row.hidden = true;
        return;
      }
      const position = first + i;
      const index = this.view ? this.view[position]! : position;
      const line = this.all[index]!;
      row.hidden = false;
      row.style.transform = `translateY(${position * ROW}px)`;
      row.dataset['index'] = String(index);
      row.className = line.stream === 'stderr' ? 'log-row stderr' : 'log-row';
      ln.textContent = `${line.step + 1}:${line.lineNo}`;
      st.textContent = line.stream === 'stderr' ? 'err' : 'out';
      msg.textContent = line.message;
    });
    this.onChange({ shown: count, total: this.all.length, following: this.followingTail });
  }
}
