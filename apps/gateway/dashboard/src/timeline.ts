import { StreamedEvent } from '@fanout/client';
import { badge } from './dom';
import { timeOf } from './format';

/** One status of a timeline: when, which, and details (attempt, reason, …). */
export function timelineItem(event: StreamedEvent, status: string, detail?: string): HTMLLIElement {
  const li = document.createElement('li');
  const time = document.createElement('time');
  time.dateTime = event.occurredAt;
  time.textContent = timeOf(event.occurredAt);
  li.append(time, badge(status));
  if (detail) {
    const span = document.createElement('span');
    span.className = 'detail';
    span.textContent = detail;
    li.append(span);
  }
  return li;
}
