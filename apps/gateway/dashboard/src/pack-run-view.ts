import { StreamedEvent, Subject } from '@fanout/client';
import { badge, cell, element, frameScheduler } from './dom';
import { formatDuration } from './format';
import { FetchLogText, FetchPage, LogController, lineOf } from './log-controller';
import { LogStream, LogView } from './log-view';
import { SubjectHeader } from './subject-header';

/** The seq of the subject's first retained event (1: its history was never trimmed). */
export type FirstRetainedSeq = (subject: Subject) => Promise<number>;

export type PackRunEvent = Extract<StreamedEvent, { type: 'pack_run.status' | 'pack_run.step' | 'pack_run.log' }>;

const FINISHED_STEP = new Set(['succeeded', 'failed', 'skipped']);

interface Step {
  index: number;
  name: string;
  /** Its latest step event's status; undefined: none received (not started, or no longer retained). */
  status: string | undefined;
  /** When it started running (ms since the epoch), for the duration of a step still running. */
  startedAt?: number;
  durationMs?: number;
  exitCode?: number;
  out: number;
  err: number;
}

const isLogStream = (value: string): value is LogStream | 'all' => value === 'all' || value === 'stdout' || value === 'stderr';

/** A pack run: each step's status and duration, the overall progress, and the log (stdout and stderr apart). */
export class PackRunView {
  private readonly stepsBody = element('steps-body', HTMLTableSectionElement);
  private readonly progress = element('pack-progress', HTMLProgressElement);
  private readonly progressText = element('pack-progress-text', HTMLSpanElement);
  private readonly stepSelect = element('log-step', HTMLSelectElement);
  private readonly follow = element('log-follow', HTMLButtonElement);
  private readonly countText = element('log-count', HTMLSpanElement);
  private readonly streamRadios = [...document.querySelectorAll<HTMLInputElement>('input[name="log-stream"]')];
  private readonly more = element('log-more', HTMLSpanElement);
  private readonly logNotice = element('log-notice', HTMLSpanElement);
  private readonly searchInput = element('log-search', HTMLInputElement);
  private readonly searchStatus = element('log-search-status', HTMLSpanElement);
  private readonly firstErrorButton = element('log-first-error', HTMLButtonElement);
  private readonly download = element('log-download', HTMLAnchorElement);
  private steps = new Map<number, Step>();
  private subject: Subject | undefined;
  readonly log: LogView;
  readonly logs: LogController;
  readonly scheduleSteps = frameScheduler(() => this.renderSteps());

  /**
   * `fetchPage`, `fetchLogText` and `firstRetainedSeq` read the gateway (with the page's token);
   * `downloadUrl` is the log route's address for a link.
   */
  constructor(
    private readonly header: SubjectHeader,
    fetchPage: FetchPage,
    fetchLogText: FetchLogText,
    private readonly firstRetainedSeq: FirstRetainedSeq,
    private readonly downloadUrl: (subject: Subject) => string,
  ) {
    this.log = new LogView(
      element('log', HTMLDivElement),
      element('log-spacer', HTMLDivElement),
      ({ shown, total, following }) => {
        this.countText.textContent = shown === total ? `${total} lines` : `${shown} of ${total} lines`;
        this.follow.setAttribute('aria-pressed', String(following));
        this.follow.textContent = following ? 'Following the tail' : 'Follow the tail';
      },
      (line) => `#/pack-run/${encodeURIComponent(this.subject?.id ?? '')}/L${line.step + 1}:${line.lineNo}`,
      () => void this.logs.loadEarlier().catch(() => undefined),
      (dropped) => {
        for (const line of dropped) this.count(line.step, line.stream, -1);
        this.logs.dropped(dropped);
        this.scheduleSteps();
      },
    );
    this.logs = new LogController(this.log, fetchPage, fetchLogText, {
      more: (text) => {
        this.more.textContent = text;
      },
      search: (text) => {
        this.searchStatus.textContent = text;
      },
      notice: (text) => {
        this.logNotice.textContent = text;
      },
      prepended: (lines) => {
        for (const line of lines) this.count(line.step, line.stream);
        this.scheduleSteps();
      },
      // A run opened at its tail may have streamed only a status without the pack's name: an earlier page names it.
      packName: (name, version) => {
        if (!this.packNamed) this.setPackName(name, version);
      },
      filterReset: () => {
        this.stepSelect.value = 'all';
        for (const radio of this.streamRadios) radio.checked = radio.value === 'all';
      },
    });
    this.follow.addEventListener('click', () => this.log.setFollowing(!this.log.following));
    element('log-search-form', HTMLFormElement).addEventListener('submit', (event) => {
      event.preventDefault();
      this.logs.setQuery(this.searchInput.value);
      void this.logs.findPrevious();
    });
    this.searchInput.addEventListener('input', () => this.logs.setQuery(this.searchInput.value));
    this.searchInput.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter' || !event.shiftKey) return;
      event.preventDefault();
      this.logs.setQuery(this.searchInput.value);
      this.logs.findNext();
    });
    element('log-search-prev', HTMLButtonElement).addEventListener('click', () => {
      this.logs.setQuery(this.searchInput.value);
      void this.logs.findPrevious();
    });
    element('log-search-next', HTMLButtonElement).addEventListener('click', () => {
      this.logs.setQuery(this.searchInput.value);
      this.logs.findNext();
    });
    this.firstErrorButton.addEventListener('click', () => void this.logs.firstError(this.firstFailedStep()));
    element('log-times', HTMLInputElement).addEventListener('change', (event) => this.log.setTimes((event.target as HTMLInputElement).checked));
    // The address carries the token the page holds now (it may have changed since the page opened).
    const refreshDownload = () => {
      if (this.subject) this.download.href = this.downloadUrl(this.subject);
    };
    for (const type of ['pointerenter', 'focus', 'click']) this.download.addEventListener(type, refreshDownload);
    this.stepSelect.addEventListener('change', () => {
      const value = this.stepSelect.value;
      this.log.setFilter({ step: value === 'all' ? 'all' : Number(value) });
    });
    for (const radio of this.streamRadios) {
      radio.addEventListener('change', () => {
        if (isLogStream(radio.value)) this.log.setFilter({ stream: radio.value });
      });
    }
  }

  reset(subject: Subject): void {
    this.subject = subject;
    this.steps = new Map();
    this.stepsBody.replaceChildren();
    this.stepSelect.replaceChildren(new Option('all steps', 'all'));
    this.progress.value = 0;
    this.progressText.textContent = '';
    const checked = this.streamRadios.find((radio) => radio.checked)?.value ?? 'all';
    this.log.setFilter({ step: 'all', stream: isLogStream(checked) ? checked : 'all' });
    this.log.clear();
    this.logs.reset(subject);
    this.logNotice.textContent = '';
    this.packNamed = false;
    this.firstErrorButton.disabled = true;
    this.download.href = this.downloadUrl(subject);
    void this.checkTrimmed(subject);
  }

  /** Whether the history lost the run's first events (its status and step events may be gone with them): the log controller keeps it. */
  private async checkTrimmed(subject: Subject): Promise<void> {
    let first: number;
    try {
      first = await this.firstRetainedSeq(subject);
    } catch {
      return; // unknown: steps without events show pending, as before the page knew better
    }
    if (this.subject !== subject) return;
    this.logs.retainedFrom(first);
    if (this.logs.trimmed) this.header.setStatusUnknown();
    this.scheduleSteps();
  }

  private packNamed = false;
  private setPackName(name: string, version: string | undefined): void {
    this.packNamed = true;
    this.header.setTitle(`pack run ${this.subject?.id ?? ''} — ${name}${version ? ` ${version}` : ''}`);
  }

  /** The first step (by index) that failed. */
  private firstFailedStep(): number | undefined {
    const failed = [...this.steps.values()].filter((step) => step.status === 'failed').map((step) => step.index);
    return failed.length ? Math.min(...failed) : undefined;
  }

  /** Whether a step is running (its duration ticks). */
  get running(): boolean {
    return [...this.steps.values()].some((step) => step.status === 'running');
  }

  onEvent(event: PackRunEvent): void {
    this.logs.noteEvent(event.seq);
    switch (event.type) {
      case 'pack_run.status': {
        const { data } = event;
        this.header.setStatus(data.status, event.seq);
        for (const step of data.steps ?? []) this.stepOf(step.index, step.name);
        if (data.packName) this.setPackName(data.packName, data.packVersion);
        break;
      }
      case 'pack_run.step': {
        const { data } = event;
        const step = this.stepOf(data.stepIndex, data.stepName);
        step.status = data.status;
        if (data.status === 'running') step.startedAt = Date.parse(event.publishedAt) || Date.now();
        if (data.durationMs !== undefined) step.durationMs = data.durationMs;
        if (data.exitCode !== undefined) step.exitCode = data.exitCode;
        if (data.status !== 'pending') this.header.announce(`Step ${step.name} ${data.status}`);
        break;
      }
      case 'pack_run.log': {
        const { data } = event;
        this.count(data.stepIndex, data.stream);
        this.log.append(lineOf(event));
        break;
      }
    }
    this.scheduleSteps();
  }

  /** One more (or, `by` -1, one fewer) loaded line of a step. */
  private count(index: number, stream: LogStream, by = 1): void {
    const step = this.stepOf(index);
    if (stream === 'stderr') step.err += by;
    else step.out += by;
  }

  private stepOf(index: number, name?: string): Step {
    let step = this.steps.get(index);
    if (!step) {
      step = { index, name: name ?? `step ${index}`, status: undefined, out: 0, err: 0 };
      this.steps.set(index, step);
      this.stepSelect.append(new Option(`${index + 1}. ${step.name}`, String(index)));
    }
    if (name) step.name = name;
    return step;
  }

  private renderSteps(): void {
    const steps = [...this.steps.values()].sort((a, b) => a.index - b.index);
    this.stepsBody.replaceChildren(...steps.map((step) => this.stepRow(step)));
    const done = steps.filter((step) => step.status !== undefined && FINISHED_STEP.has(step.status)).length;
    this.progress.max = Math.max(1, steps.length);
    this.progress.value = done;
    this.progressText.textContent = steps.length ? `${done} of ${steps.length} steps` : '';
    this.firstErrorButton.disabled = this.firstFailedStep() === undefined;
  }

  private stepRow(step: Step): HTMLTableRowElement {
    const tr = document.createElement('tr');
    // A step with no step event is pending, unless the history was trimmed: its events may be gone.
    const shown = step.status ?? (this.logs.trimmed ? 'unknown' : 'pending');
    tr.dataset['step'] = String(step.index);
    tr.dataset['status'] = shown;
    const status = document.createElement('td');
    const pill = badge(shown);
    if (shown === 'unknown') pill.title = 'The history no longer holds its step events';
    status.append(pill);
    const running = step.status === 'running' && step.startedAt !== undefined ? Date.now() - step.startedAt : undefined;
    const duration = step.durationMs ?? running;
    tr.append(
      cell(String(step.index + 1), 'num'),
      cell(step.name),
      status,
      cell(duration === undefined ? '' : `${formatDuration(duration)}${running !== undefined ? '…' : ''}`, 'num'),
      cell(step.exitCode === undefined ? '' : String(step.exitCode), 'num'),
      cell(`${step.out} / ${step.err}`, 'num'),
    );
    return tr;
  }
}
