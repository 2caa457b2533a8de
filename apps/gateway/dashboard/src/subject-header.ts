import { Subject } from '@fanout/client';
import { element } from './dom';

/** The open subject's title, status badge, notice and screen-reader announcements. */
export class SubjectHeader {
  private readonly title = element('subject-title', HTMLHeadingElement);
  private readonly status = element('subject-status', HTMLSpanElement);
  private readonly notice = element('notice', HTMLParagraphElement);
  private readonly announcer = element('announcer', HTMLDivElement);
  private subject: Subject | undefined;
  /** The seq of the status shown (0: none yet); an older one does not replace it. */
  private statusSeq = 0;

  reset(subject: Subject): void {
    this.subject = subject;
    this.setTitle(`${subject.kind} ${subject.id}`);
    this.status.dataset['status'] = '';
    this.status.textContent = '…';
    this.status.title = '';
    this.statusSeq = 0;
    this.notice.hidden = true;
    document.title = `${subject.kind} ${subject.id} — fanout`;
  }

  setTitle(text: string): void {
    this.title.textContent = text;
  }

  /** The subject's status as of its event `seq` (from its stream, or the tenant's activity). */
  setStatus(status: string, seq: number): void {
    if (seq < this.statusSeq) return;
    this.statusSeq = seq;
    if (this.subject && this.status.dataset['status'] !== status) this.announce(`${this.subject.kind} ${this.subject.id} is ${status}`);
    this.status.dataset['status'] = status;
    this.status.textContent = status;
    this.status.title = '';
  }

  /** No status event is retained: shown until one arrives (from the stream or the activity). */
  setStatusUnknown(): void {
    if (this.statusSeq > 0) return;
    this.status.dataset['status'] = 'unknown';
    this.status.textContent = 'unknown';
    this.status.title = 'The history no longer holds its status event';
  }

  showNotice(text: string): void {
    this.notice.hidden = false;
    this.notice.textContent = text;
  }

  announce(text: string): void {
    this.announcer.textContent = text;
  }
}
