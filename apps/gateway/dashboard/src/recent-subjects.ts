import { Subject, SubjectUpdate } from '@fanout/client';
import { badge, element, frameScheduler } from './dom';

const SHOWN = 100;
const keyOf = (subject: Subject) => `${subject.kind}:${subject.id}`;

/** The tenant's recently updated subjects, newest first, each linking to its view. */
export class RecentSubjects {
  private readonly list = element('subjects-list', HTMLUListElement);
  private readonly empty = element('subjects-empty', HTMLParagraphElement);
  private readonly kind = element('subjects-kind', HTMLSelectElement);
  private readonly entries = new Map<string, SubjectUpdate>();
  readonly render = frameScheduler(() => this.draw());

  /** `isOpen`: whether a subject is the one on screen (its link is marked current). */
  constructor(private readonly isOpen: (subject: Subject) => boolean) {
    this.kind.addEventListener('change', this.render);
  }

  /** A subject's latest status; an older one than what is known (the listing and the stream overlap) changes nothing. */
  note(entry: SubjectUpdate): void {
    const key = keyOf(entry.subject);
    const known = this.entries.get(key);
    if (known && known.seq >= entry.seq) return;
    this.entries.set(key, entry);
    this.render();
  }

  /** The latest status known of a subject, if it is among the recent ones. */
  latest(subject: Subject): SubjectUpdate | undefined {
    return this.entries.get(keyOf(subject));
  }

  private draw(): void {
    const kind = this.kind.value;
    const shown = [...this.entries.values()]
      .filter((entry) => !kind || entry.subject.kind === kind)
      .sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : 0))
      .slice(0, SHOWN);
    this.empty.hidden = shown.length > 0;
    this.list.replaceChildren(...shown.map((entry) => this.item(entry)));
  }

  private item({ subject, status, updatedAt }: SubjectUpdate): HTMLLIElement {
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = `#/${subject.kind}/${encodeURIComponent(subject.id)}`;
    if (this.isOpen(subject)) a.setAttribute('aria-current', 'page');
    const id = document.createElement('span');
    id.className = 'sid';
    id.textContent = subject.id;
    const when = document.createElement('span');
    when.className = 'skind';
    when.textContent = `${subject.kind} · ${new Date(updatedAt).toLocaleTimeString()}`;
    a.append(id, badge(status), when);
    a.setAttribute('aria-label', `${subject.kind} ${subject.id}, ${status}`);
    li.append(a);
    return li;
  }
}
