// The fanout dashboard: the tenant's recent subjects (live), and one subject at a time — a job's
// status timeline and progress, a pack run's steps and log, a run's counts — streamed with
// @fanout/client. scripts/build-dashboard.js bundles it; the page's CSP forbids inline scripts.

import { normalizeSubjects, StreamOptions, Subject, subscribe, subscribeActivity } from '@fanout/client';
import { SubjectsListSchema } from '@fanout/contracts';
import { ApiError, getJson, storedToken } from './api';
import { ConnectionBadge, Owner, refusedToken, Shown } from './connection-badge';
import { element } from './dom';
import { LogLine } from './log-view';
import { RecentSubjects } from './recent-subjects';
import { AppliedFrame, SubjectPage } from './subject-page';
import { TokenPanel } from './token-panel';

declare global {
  interface Window {
    /** What a test (or a curious person in the console) can read. */
    fanoutDashboard: { connectionStates: Shown[]; readonly frames: AppliedFrame[]; lines(): LogLine[] };
  }
}

const REFUSED = 'The gateway refused the token (it may have expired): paste a new one.';
const NO_SCOPE = 'The token lacks the stream:read scope: paste another.';

const connectionStates: Shown[] = [];
const badge = new ConnectionBadge(connectionStates);
const tokens = new TokenPanel(() => void start());
const page = new SubjectPage((subject, handlers) =>
  // Every tab replays the whole subject from the gateway: a tab following another's connection
  // would only get the frames that tab still holds.
  subscribe({ ...streamOptions('subject'), subjects: [subject], shareAcrossTabs: false, ...handlers }),
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
  lines: () => page.logLines.map((line) => ({ ...line })),
};

/** What every stream of the page takes: the page's origin, the token (a new one asked for when refused) and the badge. */
function streamOptions(owner: Owner): StreamOptions {
  return {
    baseUrl: '',
    token: storedToken(),
    getToken: () => tokens.ask(REFUSED),
    ...badge.follow(owner, (error) => {
      if (refusedToken(error)) tokens.show(error.status === 403 ? NO_SCOPE : REFUSED);
    }),
  };
}

/** A JSON route; while the gateway refuses the token, the person is asked for another. */
async function getJsonWithToken(path: string): Promise<unknown> {
  for (;;) {
    try {
      return await getJson(path);
    } catch (error) {
      if (!(error instanceof ApiError && refusedToken(error))) throw error;
      badge.tokenNeeded('activity');
      await tokens.ask(error.status === 403 ? NO_SCOPE : undefined);
    }
  }
}

/** The recent subjects from the listing: the activity stream retains only the latest changes. */
async function loadRecent(): Promise<void> {
  try {
    const { subjects } = SubjectsListSchema.parse(await getJsonWithToken('/api/v1/subjects?limit=100'));
    for (const entry of subjects) recent.note(entry);
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

/** `#/<kind>/<id>` opens that subject; anything else shows the welcome. */
function route(): void {
  const match = /^#\/([a-z-]+)\/(.+)$/.exec(location.hash);
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
    badge.setOwner('subject');
  } else {
    page.showWelcome();
    badge.setOwner('activity');
  }
  recent.render();
}

let stopActivity: (() => void) | undefined;
let starts = 0;

/** Starts (or, with a new token, starts again): the recent subjects, the activity stream, the subject in the URL. */
async function start(): Promise<void> {
  const run = ++starts;
  page.close();
  stopActivity?.();
  stopActivity = undefined;
  await loadRecent();
  if (run !== starts) return;
  stopActivity = subscribeActivity({ ...streamOptions('activity'), onUpdate: (update) => recent.note(update), onGap: () => void loadRecent() });
  route();
}

element('open-form', HTMLFormElement).addEventListener('submit', (event) => {
  event.preventDefault();
  const subject = subjectOf(openKind.value, openId.value.trim());
  if (!subject) return;
  location.hash = `#/${subject.kind}/${encodeURIComponent(subject.id)}`;
  main.focus();
});
window.addEventListener('hashchange', () => {
  route();
  if (page.subject) main.focus();
});

void start();
