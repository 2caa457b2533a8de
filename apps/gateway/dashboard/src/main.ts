// The fanout dashboard: the tenant's recent subjects (live), and one subject at a time — a job's
// status timeline and progress, a pack run's steps and log, a run's counts — streamed with
// @fanout/client. scripts/build-dashboard.js bundles it; the page's CSP forbids inline scripts.

import { history, HistoryError, normalizeSubjects, StreamOptions, Subject, SubjectUpdate, subscribe, subscribeActivity } from '@fanout/client';
import { SubjectsListSchema } from '@fanout/contracts';
import { ApiError, getJson, getText, storedToken } from './api';
import { ConnectionBadge, Owner, refusedToken, Shown } from './connection-badge';
import { element } from './dom';
import { LogLine } from './log-view';
import { RecentSubjects } from './recent-subjects';
import { AppliedFrame, SubjectPage } from './subject-page';
import { TokenPanel } from './token-panel';

declare global {
  interface Window {
    /** What a test (or a curious person in the console) can read. */
    fanoutDashboard: { connectionStates: Shown[]; readonly frames: AppliedFrame[]; lines(): Pick<LogLine, 'step' | 'lineNo' | 'stream' | 'message'>[] };
  }
}

const REFUSED = 'The gateway refused the token (it may have expired): paste a new one.';
const NO_SCOPE = 'The token lacks the stream:read scope: paste another.';

const connectionStates: Shown[] = [];
const badge = new ConnectionBadge(connectionStates);
/** A stream gave up on refused tokens (the client asks twice in a row, then ends it): the next token given starts the page again. */
let streamGaveUp = false;
const tokens = new TokenPanel((someoneWaited) => {
  if (someoneWaited && !streamGaveUp) return;
  streamGaveUp = false;
  void start();
});
/** How many events a pack run's stream starts with (?tail=): its latest lines; earlier ones are paged in as the log scrolls up. */
const LOG_TAIL = 1000;
/** Earlier lines are read in pages of this many events (the history route's most). */
const LOG_PAGE = 1000;

const page = new SubjectPage(
  (subject, handlers) =>
    // Every tab streams the subject from the gateway: a tab following another's connection would
    // only get the frames that tab still holds. A pack run starts at its tail.
    subscribe({ ...streamOptions('subject'), subjects: [subject], shareAcrossTabs: false, ...(subject.kind === 'pack-run' ? { tail: LOG_TAIL } : {}), ...handlers }),
  {
    fetchPage: (subject, before) => withToken(() => history({ baseUrl: '', subject, before, limit: LOG_PAGE, token: storedToken() })),
    firstRetainedSeq: async (subject) => (await withToken(() => history({ baseUrl: '', subject, after: 0, limit: 1, token: storedToken() }))).events[0]?.seq ?? 1,
    fetchLogText: async (subject, filter) => {
      const query = new URLSearchParams({ ansi: 'strip' });
      if (filter.step !== 'all') query.set('step', String(filter.step));
      if (filter.stream !== 'all') query.set('stream', filter.stream);
      const answer = await withToken(() => getText(`${logPath(subject)}?${query.toString()}`));
      return { text: answer.text, firstSeq: Number(answer.headers.get('Fanout-First-Seq')) || 1, lastSeq: Number(answer.headers.get('Fanout-Last-Seq')) || Number.MAX_SAFE_INTEGER };
    },
    downloadUrl: (subject) => {
      const token = storedToken();
      return `${logPath(subject)}?download=1${token ? `&access_token=${encodeURIComponent(token)}` : ''}`;
    },
  },
);
const recent = new RecentSubjects((subject) => page.subject?.kind === subject.kind && page.subject.id === subject.id);
const main = element('main', HTMLElement);
const openKind = element('open-kind', HTMLSelectElement);
const openId = element('open-id', HTMLInputElement);

window.fanoutDashboard = {
  connectionStates,
  get frames() {
    return page.frames;
  },
  lines: () => page.logLines.map(({ step, lineNo, stream, message }) => ({ step, lineNo, stream, message })),
};

function logPath(subject: Subject): string {
  return `/api/v1/pack-runs/${encodeURIComponent(subject.id)}/log`;
}

/** What every stream of the page takes: the page's origin, the token (a new one asked for when refused) and the badge. */
function streamOptions(owner: Owner): StreamOptions {
  let sent = storedToken();
  return {
    baseUrl: '',
    token: sent,
    // No token sent yet (a link opened before one was given): the panel's own words, not "refused".
    getToken: async (refusedWith) => (sent = await tokens.ask(sent, sent === undefined ? undefined : refusedWith === 403 ? NO_SCOPE : REFUSED)),
    ...badge.follow(owner, (error) => {
      if (owner === 'subject' && error.status === 404) page.showNotFound();
      if (!refusedToken(error)) return;
      streamGaveUp = true;
      tokens.show(error.status === 403 ? NO_SCOPE : REFUSED);
    }),
  };
}

/** A JSON route; while the gateway refuses the token, the person is asked for another. */
async function getJsonWithToken(path: string): Promise<unknown> {
  for (;;) {
    const sent = storedToken();
    try {
      return await getJson(path);
    } catch (error) {
      if (!(error instanceof ApiError && refusedToken(error))) throw error;
      badge.tokenNeeded('activity');
      await tokens.ask(sent, error.status === 403 ? NO_SCOPE : undefined);
    }
  }
}

/** A read of the gateway; while it refuses the token, the person is asked for another. */
async function withToken<T>(read: () => Promise<T>): Promise<T> {
  for (;;) {
    const sent = storedToken();
    try {
      return await read();
    } catch (error) {
      const status = error instanceof ApiError || error instanceof HistoryError ? error.status : 0;
      if (status !== 401 && status !== 403) throw error;
      await tokens.ask(sent, status === 403 ? NO_SCOPE : REFUSED);
    }
  }
}

function noteActivity(update: SubjectUpdate): void {
  recent.note(update);
  page.noteStatus(update);
}

/** The recent subjects from the listing: the activity stream retains only the latest changes. */
async function loadRecent(): Promise<void> {
  try {
    const { subjects } = SubjectsListSchema.parse(await getJsonWithToken('/api/v1/subjects?limit=100'));
    for (const entry of subjects) noteActivity(entry);
  } catch (error) {
    console.warn(`fanout: the recent subjects could not be read: ${(error as Error).message}`);
  }
}

function subjectOf(kind: string, id: string): Subject | undefined {
  try {
    return normalizeSubjects([`${kind}:${id}`])[0];
  } catch {
    return undefined;
  }
}

/**
 * `#/<kind>/<id>` opens that subject; `#/pack-run/<id>/L<step>:<line>` opens a pack run at that line
 * of its log (the step numbered from 1, as the log shows it); anything else shows the welcome.
 * Returns whether the subject on screen changed.
 */
function route(): boolean {
  const match = /^#\/([a-z-]+)\/([^/]+)(?:\/L(\d+):(\d+))?$/.exec(location.hash);
  const before = page.subject;
  let subject: Subject | undefined;
  try {
    subject = match ? subjectOf(match[1]!, decodeURIComponent(match[2]!)) : undefined;
  } catch {
    subject = undefined; // not valid percent-encoding
  }
  if (subject) {
    openKind.value = subject.kind;
    openId.value = subject.id;
    page.open(subject);
    const known = recent.latest(subject);
    if (known) page.noteStatus(known);
    badge.setOwner('subject');
    if (match?.[3] && match[4]) page.goToLine(Number(match[3]) - 1, Number(match[4]));
  } else {
    page.showWelcome();
    badge.setOwner('activity');
  }
  recent.render();
  return page.subject?.kind !== before?.kind || page.subject?.id !== before?.id;
}

let stopActivity: (() => void) | undefined;
let starts = 0;

/** Starts (or, with a new token, starts again): the subject in the URL (its stream does not wait for the rest), the recent subjects, the activity stream. */
async function start(): Promise<void> {
  const run = ++starts;
  page.close();
  stopActivity?.();
  stopActivity = undefined;
  route();
  await loadRecent();
  if (run !== starts) return;
  stopActivity = subscribeActivity({ ...streamOptions('activity'), onUpdate: noteActivity, onGap: () => void loadRecent() });
  recent.render();
}

element('open-form', HTMLFormElement).addEventListener('submit', (event) => {
  event.preventDefault();
  const subject = subjectOf(openKind.value, openId.value.trim());
  if (!subject) return;
  location.hash = `#/${subject.kind}/${encodeURIComponent(subject.id)}`;
  main.focus();
});
window.addEventListener('hashchange', () => {
  // A line link of the subject on screen only scrolls its log (the focus stays where it was).
  if (route() && page.subject) main.focus();
});

void start();
