// What the log view asks of the gateway: earlier pages (JSON history, backwards from the first
// loaded event), the whole log as text (search "asks the server for the rest": it says whether
// matches lie before what is loaded, then pages are loaded back to the first of them), a line by
// its permalink, the first error. The stream (opened with ?tail=) supplies the latest lines.

import { HistoryPage, StreamedEvent, Subject } from '@fanout/client';
import { displayText } from './ansi';
import { LogFilter, LogLine, LogView } from './log-view';

/** One page of history backwards: the last events before `before` (at most 1,000). */
export type FetchPage = (subject: Subject, before: number) => Promise<HistoryPage>;
/** The log route's text (`ansi=strip`) for these filters, and its Fanout-First-Seq / Fanout-Last-Seq. */
export type FetchLogText = (subject: Subject, filter: LogFilter) => Promise<{ text: string; firstSeq: number; lastSeq: number }>;

type LogEvent = Extract<StreamedEvent, { type: 'pack_run.log' }>;

export function lineOf(event: LogEvent): LogLine {
  const { data } = event;
  return { seq: event.seq, step: data.stepIndex, lineNo: data.lineNo, stream: data.stream, message: data.message, at: event.publishedAt };
}

const TRIMMED_NOTICE = '[fanout] history trimmed:';

/** How many of a message's lines (it may hold `\n`) show `query` (lower case): the log route writes each as a line. */
function matchingLines(message: string, text: string, query: string): number {
  if (!message.includes('\n')) return text.toLowerCase().includes(query) ? 1 : 0;
  return message.split('\n').filter((part) => displayText(part).toLowerCase().includes(query)).length;
}

export class LogController {
  private subject: Subject | undefined;
  /** Bumped on reset: answers for an older subject are dropped. */
  private generation = 0;
  /** The seq from which every event of the subject up to the last one is loaded (the stream's, then pages'). */
  private from: number | undefined;
  private lastSeq: number | undefined;
  /** The history has no event before `from`. */
  private exhausted = false;
  private loading: Promise<number> | undefined;
  /** Steps whose `running` event was seen in a loaded page (their first line is loaded). */
  private readonly stepStarts = new Set<number>();
  private pendingTarget: { step: number; lineNo: number } | undefined;
  private logTexts = new Map<string, Promise<string[]>>();
  private query = '';
  private current: LogLine | undefined;
  private serverCount: number | undefined;
  private busy = false;

  constructor(
    private readonly view: LogView,
    private readonly fetchPage: FetchPage,
    private readonly fetchLogText: FetchLogText,
    /** The paging state ("scroll up to load…"), and what search says. */
    private readonly show: { more(text: string): void; search(text: string): void; notice(text: string): void; filterReset(): void; prepended(lines: readonly LogLine[]): void; packName(name: string, version: string | undefined): void },
  ) {}

  reset(subject: Subject): void {
    this.subject = subject;
    this.generation += 1;
    this.from = undefined;
    this.lastSeq = undefined;
    this.exhausted = false;
    this.firstRetained = 1;
    this.loading = undefined;
    this.stepStarts.clear();
    this.pendingTarget = undefined;
    this.logTexts = new Map();
    this.current = undefined;
    this.serverCount = undefined;
    this.view.setSearch(this.query, undefined);
    this.showMore();
  }

  /** Every event of the stream, in order: a jump in seqs (the pack run's older status and step events, then the tail) moves where the loaded part starts. */
  noteEvent(seq: number): void {
    if (this.lastSeq === undefined || seq !== this.lastSeq + 1) {
      this.from = seq;
      this.exhausted = seq <= this.firstRetained;
      this.showMore();
    }
    this.lastSeq = seq;
    if (this.pendingTarget) this.scheduleTarget();
  }

  /** The history's first retained seq, as read when the subject opened (it only grows): nothing before it can be loaded. */
  retainedFrom(seq: number): void {
    this.firstRetained = seq;
    if (this.from === undefined || this.from > seq || this.exhausted) return;
    this.exhausted = true;
    this.showMore();
  }
  private firstRetained = 1;

  /** The history had lost its first events when the subject opened. */
  get trimmed(): boolean {
    return this.firstRetained > 1;
  }

  /** The view dropped its oldest lines (they were the first loaded): earlier pages start after them now. */
  dropped(lines: readonly LogLine[]): void {
    const first = this.view.lines[0];
    if (!lines.length || !first) return;
    this.from = first.seq;
    this.exhausted = false;
    // A dropped step's first line is no longer loaded.
    this.stepStarts.clear();
    this.showMore();
  }

  get allLoaded(): boolean {
    return this.exhausted;
  }

  private showMore(): void {
    if (this.from === undefined) this.show.more('');
    else if (this.loading) this.show.more('Loading earlier lines…');
    else if (this.exhausted && this.from > 1) this.show.more(`Events before ${this.from} are no longer retained: the log starts there.`);
    else if (this.exhausted) this.show.more(this.view.lines.length ? 'The whole log is loaded.' : '');
    else if (this.view.full) this.show.more(`The page holds as many lines as it keeps: download the log for those before event ${this.from}.`);
    else this.show.more(`Earlier lines (before event ${this.from}) load as you scroll up.`);
  }

  /** Loads the page before the first loaded event; resolves with the number of lines it added (0: none left, or busy with another subject). */
  loadEarlier(): Promise<number> {
    if (this.loading) return this.loading;
    if (!this.subject || this.from === undefined || this.exhausted || this.view.full) return Promise.resolve(0);
    const { subject, generation, from } = this;
    const load = (async () => {
      try {
        const page = await this.fetchPage(subject, from);
        if (generation !== this.generation || from !== this.from) return 0; // another subject, or the stream moved the start
        const lines: LogLine[] = [];
        for (const event of page.events) {
          if (event.seq >= from) continue;
          if (event.type === 'pack_run.log') lines.push(lineOf(event));
          else if (event.type === 'pack_run.step' && event.data.status === 'running') this.stepStarts.add(event.data.stepIndex);
          else if (event.type === 'pack_run.status' && event.data.packName) this.show.packName(event.data.packName, event.data.packVersion);
        }
        const first = page.events[0];
        if (first && first.seq < from) this.from = first.seq;
        if (page.next === null || !first || first.seq >= from) this.exhausted = true;
        this.view.prepend(lines);
        this.show.prepended(lines);
        return lines.length;
      } catch (error) {
        if (generation === this.generation) this.show.notice(`Earlier lines could not be loaded: ${(error as Error).message}`);
        throw error;
      } finally {
        if (generation === this.generation) {
          this.loading = undefined;
          this.showMore();
        }
      }
    })();
    this.loading = load;
    this.showMore();
    load.catch(() => undefined);
    return load;
  }

  /** Loads pages until `done()`, the start of the history or the view's limit; `done` is asked before each page. */
  private async loadUntil(done: () => boolean): Promise<boolean> {
    const generation = this.generation;
    // Following the tail, the view would drop the pages this loads as soon as it held LOG_LIMIT.
    this.view.setFollowing(false);
    for (let pages = 0; pages < 100_000; pages += 1) {
      if (generation !== this.generation) return false;
      if (done()) return true;
      if (this.exhausted || this.view.full) return false;
      await this.loadEarlier();
    }
    return false;
  }

  // ---- permalinks: #/pack-run/<id>/L<step>:<line>

  /** Scrolls to the line (step index from 0) and outlines it, loading earlier pages as needed; a line not yet streamed is waited for. */
  goToLine(step: number, lineNo: number): void {
    this.pendingTarget = { step, lineNo };
    this.scheduleTarget();
  }

  private targetScheduled = false;
  private scheduleTarget(): void {
    if (this.targetScheduled) return;
    this.targetScheduled = true;
    requestAnimationFrame(() => {
      this.targetScheduled = false;
      void this.tryTarget();
    });
  }

  private find(step: number, lineNo: number): LogLine | undefined {
    const lines = this.view.lines;
    for (let i = lines.length - 1; i >= 0; i -= 1) {
      const line = lines[i]!;
      if (line.step === step && line.lineNo === lineNo) return line;
    }
    return undefined;
  }

  /** The line is older than every loaded one. */
  private older(step: number, lineNo: number): boolean {
    const oldest = this.view.lines[0];
    return oldest !== undefined && (oldest.step > step || (oldest.step === step && oldest.lineNo > lineNo));
  }

  /** The line would lie between two loaded lines (so it does not exist). */
  private withinLoaded(step: number, lineNo: number): boolean {
    const lines = this.view.lines;
    const newest = lines[lines.length - 1];
    return !this.older(step, lineNo) && newest !== undefined && (newest.step > step || (newest.step === step && newest.lineNo > lineNo));
  }

  private async tryTarget(): Promise<void> {
    const target = this.pendingTarget;
    if (!target || this.busyTarget) return;
    this.busyTarget = true;
    try {
      const { step, lineNo } = target;
      if (!this.find(step, lineNo) && this.older(step, lineNo)) {
        this.show.notice(`Loading earlier lines to reach line ${step + 1}:${lineNo}…`);
        await this.loadUntil(() => this.find(step, lineNo) !== undefined);
      }
      if (this.pendingTarget !== target) return;
      const line = this.find(step, lineNo);
      if (line) {
        this.pendingTarget = undefined;
        this.show.notice('');
        this.reveal(line);
        this.view.setTarget(line);
      } else if (this.older(step, lineNo) && this.exhausted) {
        this.pendingTarget = undefined;
        this.show.notice(`Line ${step + 1}:${lineNo} is not in the retained log.`);
      } else if (this.older(step, lineNo) && this.view.full) {
        this.pendingTarget = undefined;
        this.show.notice(`Line ${step + 1}:${lineNo} is before the lines this page keeps: download the log to read it.`);
      } else if (this.withinLoaded(step, lineNo)) {
        this.pendingTarget = undefined;
        this.show.notice(`The log has no line ${step + 1}:${lineNo}.`);
      }
      // Otherwise it has not been streamed yet: noteEvent tries again as lines arrive.
    } finally {
      this.busyTarget = false;
    }
  }
  private busyTarget = false;

  /** Makes the line visible under the filter (clearing the filter if it hides the line) and scrolls to it. */
  private reveal(line: LogLine): void {
    if (!this.view.shows(line)) {
      this.view.setFilter({ step: 'all', stream: 'all' });
      this.show.filterReset();
    }
    this.view.reveal(line);
  }

  // ---- the first error: the first stderr line of the first failed step

  async firstError(failedStep: number | undefined): Promise<void> {
    if (failedStep === undefined) {
      this.show.notice('No step has failed.');
      return;
    }
    const S = failedStep;
    const startLoaded = () => {
      const oldest = this.view.lines[0];
      return this.stepStarts.has(S) || (oldest !== undefined && (oldest.step < S || (oldest.step === S && oldest.lineNo === 1)));
    };
    if (!startLoaded() && !this.exhausted) this.show.notice(`Loading earlier lines to find the start of step ${S + 1}…`);
    await this.loadUntil(startLoaded);
    const lines = this.view.lines;
    const line = lines.find((l) => l.step === S && l.stream === 'stderr') ?? [...lines].reverse().find((l) => l.step === S);
    if (!line) {
      this.show.notice(`Step ${S + 1} failed without printing a line.`);
      return;
    }
    this.show.notice(line.stream === 'stderr' ? '' : `Step ${S + 1} failed without printing to stderr: its last line.`);
    this.reveal(line);
    this.view.setTarget(line);
  }

  // ---- search

  setQuery(query: string): void {
    if (query === this.query) return;
    this.query = query;
    this.current = undefined;
    this.serverCount = undefined;
    this.view.setSearch(query, undefined);
    this.showSearch();
  }

  private loadedMatches(): LogLine[] {
    const query = this.query.toLowerCase();
    if (!query) return [];
    return this.view.lines.filter((line) => this.view.shows(line) && this.view.textOf(line).toLowerCase().includes(query));
  }

  private showSearch(matches = this.loadedMatches()): void {
    if (!this.query) {
      this.show.search('');
      return;
    }
    const at = this.current ? matches.indexOf(this.current) : -1;
    const loaded = `${at >= 0 ? `${at + 1} of ` : ''}${matches.length} ${matches.length === 1 ? 'match' : 'matches'} in the loaded lines`;
    const whole = this.serverCount !== undefined ? `; ${this.serverCount} in the whole log` : this.exhausted ? '' : '; ↑ searches the lines not loaded yet';
    this.show.search(loaded + whole);
  }

  private select(line: LogLine, matches: LogLine[]): void {
    this.current = line;
    this.view.setSearch(this.query, line);
    this.view.reveal(line);
    this.showSearch(matches);
  }

  /** The next match below the current one (newer). */
  findNext(): void {
    const matches = this.loadedMatches();
    const at = this.current ? matches.indexOf(this.current) : -1;
    const next = at >= 0 ? matches[at + 1] : matches[0];
    if (next) this.select(next, matches);
    else this.show.search(matches.length ? 'No later match (the last one is selected).' : 'No match in the loaded lines.');
  }

  /** The match above the current one (older), or the last match when none is selected; past the loaded lines the server is asked. */
  async findPrevious(): Promise<void> {
    if (!this.query || this.busy) return;
    const matches = this.loadedMatches();
    const at = this.current ? matches.indexOf(this.current) : matches.length;
    const previous = at > 0 ? matches[at - 1] : undefined;
    if (previous) {
      this.select(previous, matches);
      return;
    }
    if (this.exhausted) {
      this.show.search(matches.length ? 'No earlier match: the whole log is loaded.' : 'No match in the log.');
      return;
    }
    this.busy = true;
    const generation = this.generation;
    const query = this.query;
    try {
      this.show.search('Searching the whole log on the server…');
      const older = await this.olderServerMatches(query);
      if (generation !== this.generation || query !== this.query) return;
      if (older <= 0) {
        this.showSearch();
        this.show.search(`No earlier match in the whole log (${this.serverCount ?? 0} in all).`);
        return;
      }
      this.show.search(`Loading earlier lines to the match…`);
      const before = this.view.lines.length;
      let found: LogLine | undefined;
      const q = query.toLowerCase();
      await this.loadUntil(() => {
        const added = this.view.lines.length - before;
        for (let i = added - 1; i >= 0; i -= 1) {
          const line = this.view.lines[i]!;
          if (this.view.shows(line) && this.view.textOf(line).toLowerCase().includes(q)) {
            found = line;
            return true;
          }
        }
        return false;
      });
      if (generation !== this.generation || query !== this.query) return;
      if (found) this.select(found, this.loadedMatches());
      else if (this.view.full) this.show.search('The match is before the lines this page keeps: download the log to read it.');
      else this.show.search('The match is no longer retained.');
    } catch (error) {
      this.show.search(`The server could not be searched: ${(error as Error).message}`);
    } finally {
      this.busy = false;
    }
  }

  /** How many matching lines the server's log holds before the loaded ones. */
  private async olderServerMatches(query: string): Promise<number> {
    const subject = this.subject;
    if (!subject) return 0;
    const filter = this.view.currentFilter;
    const key = `${filter.step}/${filter.stream}`;
    let texts = this.logTexts.get(key);
    if (!texts) {
      texts = this.fetchLogText(subject, filter).then(({ text, firstSeq, lastSeq }) => {
        const lines = text.split('\n');
        if (lines[lines.length - 1] === '') lines.pop();
        if (firstSeq > 1 && lines[0]?.startsWith(TRIMMED_NOTICE)) lines.shift();
        this.textLastSeq = lastSeq;
        return lines.map((line) => displayText(line).toLowerCase());
      });
      this.logTexts.set(key, texts);
      texts.catch(() => this.logTexts.delete(key));
    }
    const lines = await texts;
    const q = query.toLowerCase();
    let total = 0;
    for (const line of lines) if (line.includes(q)) total += 1;
    this.serverCount = total;
    let loaded = 0;
    for (const line of this.view.lines) {
      if (line.seq > this.textLastSeq) break;
      if (this.view.shows(line)) loaded += matchingLines(line.message, this.view.textOf(line), q);
    }
    return total - loaded;
  }
  private textLastSeq = Number.MAX_SAFE_INTEGER;
}
