import { StreamedEvent, Subject } from '@fanout/client';
import { badge, cell, element, frameScheduler } from './dom';
import { formatDuration } from './format';
import { LogStream, LogView } from './log-view';
import { SubjectHeader } from './subject-header';

export type PackRunEvent = Extract<StreamedEvent, { type: 'pack_run.status' | 'pack_run.step' | 'pack_run.log' }>;

const FINISHED_STEP = new Set(['succeeded', 'failed', 'skipped']);

interface Step {
  index: number;
  name: string;
  status: string;
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
  private readonly count = element('log-count', HTMLSpanElement);
  private readonly streamRadios = [...document.querySelectorAll<HTMLInputElement>('input[name="log-stream"]')];
  private steps = new Map<number, Step>();
  private subject: Subject | undefined;
  readonly log: LogView;
  readonly scheduleSteps = frameScheduler(() => this.renderSteps());

  constructor(private readonly header: SubjectHeader) {
    this.log = new LogView(element('log', HTMLDivElement), element('log-spacer', HTMLDivElement), ({ shown, total, following }) => {
      this.count.textContent = shown === total ? `${total} lines` : `${shown} of ${total} lines`;
      this.follow.setAttribute('aria-pressed', String(following));
      this.follow.textContent = following ? 'Following the tail' : 'Follow the tail';
    });
    this.follow.addEventListener('click', () => this.log.setFollowing(!this.log.following));
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
  }

  /** Whether a step is running (its duration ticks). */
  get running(): boolean {
    return [...this.steps.values()].some((step) => step.status === 'running');
  }

  onEvent(event: PackRunEvent): void {
    switch (event.type) {
      case 'pack_run.status': {
        const { data } = event;
        this.header.setStatus(data.status);
        for (const step of data.steps ?? []) this.stepOf(step.index, step.name);
        if (data.packName) this.header.setTitle(`pack run ${this.subject?.id ?? ''} — ${data.packName}${data.packVersion ? ` ${data.packVersion}` : ''}`);
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
        const step = this.stepOf(data.stepIndex);
        if (data.stream === 'stderr') step.err += 1;
        else step.out += 1;
        this.log.append({ step: data.stepIndex, lineNo: data.lineNo, stream: data.stream, message: data.message });
        break;
      }
    }
    this.scheduleSteps();
  }

  private stepOf(index: number, name?: string): Step {
    let step = this.steps.get(index);
    if (!step) {
      step = { index, name: name ?? `step ${index}`, status: 'pending', out: 0, err: 0 };
      this.steps.set(index, step);
      this.stepSelect.append(new Option(`${index + 1}. ${step.name}`, String(index)));
    }
    if (name) step.name = name;
    return step;
  }

  private renderSteps(): void {
    const steps = [...this.steps.values()].sort((a, b) => a.index - b.index);
    this.stepsBody.replaceChildren(...steps.map((step) => this.stepRow(step)));
    const done = steps.filter((step) => FINISHED_STEP.has(step.status)).length;
    this.progress.max = Math.max(1, steps.length);
    this.progress.value = done;
    this.progressText.textContent = steps.length ? `${done} of ${steps.length} steps` : '';
  }

  private stepRow(step: Step): HTMLTableRowElement {
    const tr = document.createElement('tr');
    tr.dataset['step'] = String(step.index);
    tr.dataset['status'] = step.status;
    const status = document.createElement('td');
    status.append(badge(step.status));
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
