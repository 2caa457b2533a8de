import { StreamedEvent } from '@fanout/client';
import { cell, element } from './dom';
import { SubjectHeader } from './subject-header';
import { timelineItem } from './timeline';

export type RunEvent = Extract<StreamedEvent, { type: 'run.status' | 'run.progress' }>;

const COUNTS = ['total', 'pending', 'running', 'succeeded', 'failed', 'canceled'] as const;

/** A run: its jobs' counts, how many finished, and its status timeline. */
export class RunView {
  private readonly counts = element('run-counts', HTMLTableRowElement);
  private readonly progress = element('run-progress', HTMLProgressElement);
  private readonly progressText = element('run-progress-text', HTMLSpanElement);
  private readonly timeline = element('run-timeline', HTMLOListElement);

  constructor(private readonly header: SubjectHeader) {}

  reset(): void {
    this.counts.replaceChildren(...COUNTS.map(() => cell('–')));
    this.progress.value = 0;
    this.progressText.textContent = 'no counts reported';
    this.timeline.replaceChildren();
  }

  onEvent(event: RunEvent): void {
    if (event.type === 'run.status') {
      this.header.setStatus(event.data.status, event.seq);
      this.timeline.append(timelineItem(event, event.data.status));
      return;
    }
    const { data } = event;
    this.counts.replaceChildren(...COUNTS.map((key) => cell(String(data[key]), 'num')));
    const finished = data.succeeded + data.failed + data.canceled;
    this.progress.max = Math.max(1, data.total);
    this.progress.value = finished;
    this.progressText.textContent = `${finished} of ${data.total} jobs finished (${data.failed} failed)`;
  }
}
