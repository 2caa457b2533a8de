import { GapNotice, StreamedEvent, Subject, SubjectUpdate, SubscribeOptions } from '@fanout/client';
import { element } from './dom';
import { JobView } from './job-view';
import { FetchLogText, FetchPage } from './log-controller';
import { LogLine } from './log-view';
import { FirstRetainedSeq, PackRunView } from './pack-run-view';
import { pushRecent } from './recent-list';
import { RunView } from './run-view';
import { SubjectHeader } from './subject-header';

/** A frame as the page applied it (the debug hooks: a test compares them with `fanout tail --json`). */
export interface AppliedFrame {
  id: string;
  event: string;
  seq: number;
}

const FRAMES_KEPT = 10_000;

/** Opens the stream of `subject` with these callbacks (the page adds the token and the connection state); returns its unsubscribe. */
export type Connect = (subject: Subject, handlers: Pick<SubscribeOptions, 'onEvent' | 'onGap'>) => () => void;

function gapText(gap: GapNotice, kind: string): string {
  if (gap.source === 'client') return `Events ${gap.expectedSeq} to ${gap.receivedSeq - 1} never arrived: showing what came after them.`;
  return gap.reason === 'history_lost'
    ? `The gateway's history of this ${kind} was lost and started again: showing what it has from seq ${gap.firstAvailableSeq}.`
    : `Earlier events are no longer retained: showing from seq ${gap.firstAvailableSeq}.`;
}

/** The one subject on screen: a job, a pack run or a run, streamed live. */
export class SubjectPage {
  private readonly header = new SubjectHeader();
  private readonly views: { job: JobView; 'pack-run': PackRunView; run: RunView };
  private readonly panes = { job: element('job-view', HTMLDivElement), 'pack-run': element('pack-view', HTMLDivElement), run: element('run-view', HTMLDivElement) };
  private current: { subject: Subject; unsubscribe: () => void } | undefined;
  /** The last FRAMES_KEPT frames applied to the subject on screen, in order. */
  frames: AppliedFrame[] = [];

  /** `logs`: what a pack run's log reads besides its stream (earlier pages, the log's text, the download's address). */
  constructor(
    private readonly connect: Connect,
    logs: { fetchPage: FetchPage; fetchLogText: FetchLogText; firstRetainedSeq: FirstRetainedSeq; downloadUrl: (subject: Subject) => string },
  ) {
    this.views = {
      job: new JobView(this.header),
      'pack-run': new PackRunView(this.header, logs.fetchPage, logs.fetchLogText, logs.firstRetainedSeq, logs.downloadUrl),
      run: new RunView(this.header),
    };
    // A running step's duration ticks once a second (one timer for the page).
    setInterval(() => {
      if (this.current?.subject.kind === 'pack-run' && this.views['pack-run'].running) this.views['pack-run'].scheduleSteps();
    }, 1000);
  }

  get subject(): Subject | undefined {
    return this.current?.subject;
  }

  get logLines(): readonly LogLine[] {
    return this.views['pack-run'].log.lines;
  }

  open(subject: Subject): void {
    if (this.current?.subject.kind === subject.kind && this.current.subject.id === subject.id) return;
    this.close();
    this.reset(subject);
    const unsubscribe = this.connect(subject, {
      onEvent: (event, meta) => {
        pushRecent(this.frames, { id: meta.id, event: event.type, seq: event.seq }, FRAMES_KEPT);
        this.apply(event);
      },
      onGap: (gap) => {
        // The subject started again (its history was lost): what is on screen belongs to the old one.
        if (gap.source === 'server' && gap.reason === 'history_lost') this.reset(subject);
        this.header.showNotice(gapText(gap, subject.kind));
      },
    });
    this.current = { subject, unsubscribe };
  }

  /** The tenant's activity (or its listing) says what a subject's status is: the one on screen shows it unless its stream gave a later one. */
  noteStatus(update: SubjectUpdate): void {
    const open = this.current?.subject;
    if (open?.kind === update.subject.kind && open.id === update.subject.id) this.header.setStatus(update.status, update.seq);
  }

  /** On a pack run's page: scrolls to a line (step index from 0) and outlines it, loading earlier pages as needed. */
  goToLine(step: number, lineNo: number): void {
    if (this.current?.subject.kind === 'pack-run') this.views['pack-run'].logs.goToLine(step, lineNo);
  }

  close(): void {
    this.current?.unsubscribe();
    this.current = undefined;
  }

  /** The gateway answered 404 for the subject on screen (its stream has ended for good). */
  showNotFound(): void {
    const subject = this.current?.subject;
    if (!subject) return;
    this.header.showNotice(`There is no ${subject.kind} ${subject.id} for this tenant: it has no event yet, or its history has expired. Reload the page once it has events.`);
  }

  /** No subject: the welcome text instead. */
  showWelcome(): void {
    this.close();
    element('welcome', HTMLElement).hidden = false;
    element('subject-view', HTMLElement).hidden = true;
    document.title = 'fanout';
  }

  private reset(subject: Subject): void {
    element('welcome', HTMLElement).hidden = true;
    element('subject-view', HTMLElement).hidden = false;
    for (const [kind, pane] of Object.entries(this.panes)) pane.hidden = kind !== subject.kind;
    this.header.reset(subject);
    this.views.job.reset();
    this.views['pack-run'].reset(subject);
    this.views.run.reset();
    this.frames = [];
  }

  private apply(event: StreamedEvent): void {
    switch (event.type) {
      case 'job.status':
      case 'job.progress':
        return this.views.job.onEvent(event);
      case 'pack_run.status':
      case 'pack_run.step':
      case 'pack_run.log':
        return this.views['pack-run'].onEvent(event);
      case 'run.status':
      case 'run.progress':
        return this.views.run.onEvent(event);
    }
  }
}
