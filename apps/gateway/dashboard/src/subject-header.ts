import { Subject } from '@fanout/client';
import { element } from './dom';

/** The open subject's title, status badge, notice and screen-reader announcements. */
export class SubjectHeader {
  private readonly title = element('subject-title', HTMLHeadingElement);
  private readonly status = element('subject-status', HTMLSpanElement);
  private readonly notice = element('notice', HTMLParagraphElement);
  private readonly announcer = element('announcer', HTMLDivElement);
  private subject: Subject | undefined;

  reset(subject: Subject): void {
    this.subject = subject;
    this.setTitle(`${subject.kind} ${subject.id}`);
    this.status.dataset['status'] = '';
    this.status.textContent = '…';
    this.notice.hidden = true;
    document.title = `${subject.kind} ${subject.id} — fanout`;
  }

  setTitle(text: string): void {
    this.title.textContent = text;
  }

  setStatus(status: string): void {
    if (this.subject && this.status.dataset['status'] !== status) this.announce(`${this.subject.kind} ${this.subject.id} is ${status}`);
    this.status.dataset['status'] = status;
    this.status.textContent = status;
  }

  showNotice(text: string): void {
    this.notice.hidden = false;
    this.notice.textContent = text;
  }

  announce(text: string): void {
    this.announcer.textContent = text;
  }
}
