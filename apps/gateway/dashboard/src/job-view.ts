import { StreamedEvent } from '@fanout/client';
import { element } from './dom';
import { SubjectHeader } from './subject-header';
import { timelineItem } from './timeline';

export type JobEvent = Extract<StreamedEvent, { type: 'job.status' | 'job.progress' }>;

/** A job: its status timeline (timestamps, attempts, reasons) and its progress bar. */
export class JobView {
  private readonly timeline = element('job-timeline', HTMLOListElement);
  private readonly progress = element('job-progress', HTMLProgressElement);
  private readonly progressText = element('job-progress-text', HTMLSpanElement);

  constructor(private readonly header: SubjectHeader) {}

  reset(): void {
    this.timeline.replaceChildren();
    this.progress.value = 0;
    this.progressText.textContent = 'no progress reported';
  }

  onEvent(event: JobEvent): void {
    if (event.type === 'job.progress') {
      const { percent, message } = event.data;
      this.progress.value = percent;
      this.progressText.textContent = `${percent}%${message ? ` — ${message}` : ''}`;
      return;
    }
    const { data } = event;
    this.header.setStatus(data.status, event.seq);
    const details = [`attempt ${data.attempt ?? 1}`];
    if (data.reason) details.push(`reason: ${data.reason}`);
    if (data.jobType) details.push(`type ${data.jobType}`);
    if (data.runId) details.push(`run ${data.runId}`);
    this.timeline.append(timelineItem(event, data.status, details.join(' · ')));
  }
}
