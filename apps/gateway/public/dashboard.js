// The fanout dashboard: the tenant's recent subjects (live), and one subject at a time — a job's
// status timeline and progress, a pack run's steps and log, a run's counts — streamed over SSE.
// Plain ES modules, no build step; the page is served with a CSP that forbids inline scripts.

import { ApiError, SEGMENT, getJson, getToken, historyPath, setToken, subjectStreamPath } from './api.js';
import { LogView } from './log-view.js';
import { openStream } from './stream.js';

const $ = (id) => document.getElementById(id);
const TERMINAL = new Set(['succeeded', 'failed', 'canceled', 'timed_out', 'completed']);
const FINISHED_STEP = new Set(['succeeded', 'failed', 'skipped']);
const CONNECTION_TEXT = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  ended: 'Ended',
  error: 'Disconnected',
};

// What a test (or a curious person in the console) can read.
const debug = { connectionStates: [], frames: [], lines: () => logView.lines.map((l) => ({ ...l })) };
window.fanoutDashboard = debug;

// ---------------------------------------------------------------------------------------------
// Connection state

let connectionOwner = 'activity';
function showConnection(owner, state, detail) {
  if (owner !== connectionOwner) return;
  const box = $('connection');
  if (box.dataset.state === state && box.dataset.detail === (detail || '')) return;
  box.dataset.state = state;
  box.dataset.detail = detail || '';
  let text = CONNECTION_TEXT[state] || state;
  if (state === 'ended' && detail) text = `Ended (${detail})`;
  if (state === 'error' && detail && detail !== 'auth') text = `Disconnected: ${detail}`;
  if (state === 'error' && detail === 'auth') text = 'Token needed';
  $('connection-text').textContent = text;
  debug.connectionStates.push(state);
}

// ---------------------------------------------------------------------------------------------
// Token (FANOUT_AUTH=jwt): asked for once, kept in this tab

function askForToken(reason) {
  $('token-panel').hidden = false;
  if (reason) $('token-reason').textContent = reason;
  $('token-input').focus();
}
$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  setToken($('token-input').value.trim());
  $('token-input').value = '';
  $('token-panel').hidden = true;
  $('token-button').hidden = !getToken();
  start();
});
$('token-button').addEventListener('click', () => askForToken('Paste a new token (JWT with the stream:read scope).'));
$('token-button').hidden = !getToken();

// ---------------------------------------------------------------------------------------------
// Recent subjects, kept live by the tenant's activity stream

const subjects = new Map();
let activity;
let subjectsRender = false;

function subjectKey(subject) {
  return `${subject.kind}:${subject.id}`;
}

function renderSubjects() {
  if (subjectsRender) return;
  subjectsRender = true;
  requestAnimationFrame(() => {
    subjectsRender = false;
    const kind = $('subjects-kind').value;
    const list = [...subjects.values()]
      .filter((s) => !kind || s.subject.kind === kind)
      .sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : 0))
      .slice(0, 100);
    $('subjects-empty').hidden = list.length > 0;
    const items = list.map((s) => {
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.href = `#/${s.subject.kind}/${encodeURIComponent(s.subject.id)}`;
      if (current && current.kind === s.subject.kind && current.id === s.subject.id) a.setAttribute('aria-current', 'page');
      const id = document.createElement('span');
      id.className = 'sid';
      id.textContent = s.subject.id;
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.dataset.status = s.status;
      badge.textContent = s.status;
      const kindText = document.createElement('span');
      kindText.className = 'skind';
      kindText.textContent = `${s.subject.kind} · ${new Date(s.updatedAt).toLocaleTimeString()}`;
      a.append(id, badge, kindText);
      a.setAttribute('aria-label', `${s.subject.kind} ${s.subject.id}, ${s.status}`);
      li.append(a);
      return li;
    });
    $('subjects-list').replaceChildren(...items);
  });
}
$('subjects-kind').addEventListener('change', renderSubjects);

function noteSubject(entry) {
  const key = subjectKey(entry.subject);
  const known = subjects.get(key);
  if (known && known.seq >= entry.seq) return;
  subjects.set(key, entry);
  renderSubjects();
}

async function startActivity() {
  if (activity) activity.close();
  try {
    const { subjects: recent } = await getJson('/api/v1/subjects?limit=100');
    for (const entry of recent) noteSubject(entry);
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      showConnection('activity', 'error', 'auth');
      askForToken(error.status === 403 ? 'The token lacks the stream:read scope: paste another.' : undefined);
      return false;
    }
  }
  activity = openStream('/api/v1/stream/subjects', {
    onEvent: (data) => noteSubject(data),
    onGap: () => undefined,
    onState: (state, detail) => showConnection('activity', state, detail),
    probe: () => getJson('/api/v1/subjects?limit=1'),
    isTerminal: () => false,
  });
  return true;
}

// ---------------------------------------------------------------------------------------------
// One subject

let current;
const logView = new LogView($('log'), $('log-spacer'), ({ shown, total, following }) => {
  $('log-count').textContent = shown === total ? `${total} lines` : `${shown} of ${total} lines`;
  const button = $('log-follow');
  button.setAttribute('aria-pressed', String(following));
  button.textContent = following ? 'Following the tail' : 'Follow the tail';
});
$('log-follow').addEventListener('click', () => logView.setFollowing(!logView.following));
$('log-step').addEventListener('change', (event) => {
  const value = event.target.value;
  logView.setFilter({ step: value === 'all' ? 'all' : Number(value) });
});
for (const radio of document.querySelectorAll('input[name="log-stream"]')) {
  radio.addEventListener('change', (event) => logView.setFilter({ stream: event.target.value }));
}

function announce(text) {
  $('announcer').textContent = text;
}

function timeOf(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? '' : `${date.toLocaleTimeString([], { hour12: false })}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

function formatDuration(ms) {
  if (ms === undefined || ms === null) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

function setStatus(status) {
  const badge = $('subject-status');
  if (badge.dataset.status !== status) announce(`${current.kind} ${current.id} is ${status}`);
  badge.dataset.status = status;
  badge.textContent = status;
  current.status = status;
}

function timelineItem(event, text, detail) {
  const li = document.createElement('li');
  const time = document.createElement('time');
  time.dateTime = event.occurredAt;
  time.textContent = timeOf(event.occurredAt);
  const badge = document.createElement('span');
  badge.className = 'badge';
  badge.dataset.status = text;
  badge.textContent = text;
  li.append(time, badge);
  if (detail) {
    const span = document.createElement('span');
    span.className = 'detail';
    span.textContent = detail;
    li.append(span);
  }
  return li;
}

// Job ----------------------------------------------------------------------------------------
function onJobEvent(event) {
  const { data } = event;
  if (event.type === 'job.status') {
    setStatus(data.status);
    const details = [`attempt ${data.attempt ?? 1}`];
    if (data.reason) details.push(`reason: ${data.reason}`);
    if (data.jobType) details.push(`type ${data.jobType}`);
    if (data.runId) details.push(`run ${data.runId}`);
    $('job-timeline').append(timelineItem(event, data.status, details.join(' · ')));
  } else if (event.type === 'job.progress') {
    $('job-progress').value = data.percent;
    $('job-progress-text').textContent = `${data.percent}%${data.message ? ` — ${data.message}` : ''}`;
  }
}

// Pack run -------------------------------------------------------------------------------------
function stepOf(index, name) {
  let step = current.steps.get(index);
  if (!step) {
    step = { index, name: name ?? `step ${index}`, status: 'pending', out: 0, err: 0 };
    current.steps.set(index, step);
    const option = document.createElement('option');
    option.value = String(index);
    option.textContent = `${index + 1}. ${step.name}`;
    $('log-step').append(option);
  }
  if (name && step.name !== name) step.name = name;
  return step;
}

function renderSteps() {
  const rows = [...current.steps.values()]
    .sort((a, b) => a.index - b.index)
    .map((step) => {
      const tr = document.createElement('tr');
      tr.dataset.step = String(step.index);
      tr.dataset.status = step.status;
      const cell = (text, className) => {
        const td = document.createElement('td');
        if (className) td.className = className;
        td.textContent = text;
        return td;
      };
      const status = document.createElement('td');
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.dataset.status = step.status;
      badge.textContent = step.status;
      status.append(badge);
      const running = step.status === 'running' && step.startedAt ? Date.now() - step.startedAt : undefined;
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
    });
  $('steps-body').replaceChildren(...rows);
  const total = current.steps.size;
  const done = [...current.steps.values()].filter((s) => FINISHED_STEP.has(s.status)).length;
  $('pack-progress').max = Math.max(1, total);
  $('pack-progress').value = done;
  $('pack-progress-text').textContent = total ? `${done} of ${total} steps` : '';
}

let stepsRender = false;
function scheduleSteps() {
  if (stepsRender) return;
  stepsRender = true;
  requestAnimationFrame(() => {
    stepsRender = false;
    if (current && current.kind === 'pack-run') renderSteps();
  });
}

function onPackEvent(event) {
  const { data } = event;
  if (event.type === 'pack_run.status') {
    setStatus(data.status);
    if (data.steps) for (const s of data.steps) stepOf(s.index, s.name);
    if (data.packName) $('subject-title').textContent = `pack run ${current.id} — ${data.packName}${data.packVersion ? ` ${data.packVersion}` : ''}`;
    scheduleSteps();
  } else if (event.type === 'pack_run.step') {
    const step = stepOf(data.stepIndex, data.stepName);
    step.status = data.status;
    if (data.status === 'running') step.startedAt = Date.parse(event.publishedAt) || Date.now();
    if (data.durationMs !== undefined) step.durationMs = data.durationMs;
    if (data.exitCode !== undefined) step.exitCode = data.exitCode;
    if (data.status !== 'pending') announce(`Step ${step.name} ${data.status}`);
    scheduleSteps();
  } else if (event.type === 'pack_run.log') {
    const step = stepOf(data.stepIndex);
    if (data.stream === 'stderr') step.err += 1;
    else step.out += 1;
    logView.append({ step: data.stepIndex, lineNo: data.lineNo, stream: data.stream, message: data.message });
    scheduleSteps();
  }
}

// Run ----------------------------------------------------------------------------------------
function onRunEvent(event) {
  const { data } = event;
  if (event.type === 'run.status') {
    setStatus(data.status);
    $('run-timeline').append(timelineItem(event, data.status));
  } else if (event.type === 'run.progress') {
    const keys = ['total', 'pending', 'running', 'succeeded', 'failed', 'canceled'];
    $('run-counts').replaceChildren(
      ...keys.map((key) => {
        const td = document.createElement('td');
        td.className = 'num';
        td.textContent = String(data[key]);
        return td;
      }),
    );
    const finished = data.succeeded + data.failed + data.canceled;
    $('run-progress').max = Math.max(1, data.total);
    $('run-progress').value = finished;
    $('run-progress-text').textContent = `${finished} of ${data.total} jobs finished (${data.failed} failed)`;
  }
}

const HANDLERS = { job: onJobEvent, 'pack-run': onPackEvent, run: onRunEvent };

function resetSubjectView(kind, id) {
  $('welcome').hidden = true;
  $('subject-view').hidden = false;
  $('job-view').hidden = kind !== 'job';
  $('pack-view').hidden = kind !== 'pack-run';
  $('run-view').hidden = kind !== 'run';
  $('subject-title').textContent = `${kind} ${id}`;
  $('subject-status').dataset.status = '';
  $('subject-status').textContent = '…';
  $('notice').hidden = true;
  $('job-timeline').replaceChildren();
  $('job-progress').value = 0;
  $('job-progress-text').textContent = 'no progress reported';
  $('steps-body').replaceChildren();
  $('log-step').replaceChildren(new Option('all steps', 'all'));
  $('pack-progress').value = 0;
  $('pack-progress-text').textContent = '';
  $('run-timeline').replaceChildren();
  $('run-progress').value = 0;
  $('run-progress-text').textContent = 'no counts reported';
  logView.setFilter({ step: 'all', stream: document.querySelector('input[name="log-stream"]:checked').value });
  logView.clear();
  debug.frames = [];
  document.title = `${kind} ${id} — fanout`;
}

function showNotice(text) {
  $('notice').hidden = false;
  $('notice').textContent = text;
}

function openSubject(kind, id) {
  if (current && current.kind === kind && current.id === id) return;
  closeSubject();
  resetSubjectView(kind, id);
  connectionOwner = 'subject';
  current = { kind, id, lastSeq: 0, status: '', steps: new Map() };
  const subject = current;
  subject.stream = openStream(subjectStreamPath(kind, id), {
    onEvent(event, frameId) {
      if (subject !== current) return;
      // Resuming never repeats an event; this guard also keeps a reopened stream honest.
      if (event.seq <= subject.lastSeq) return;
      subject.lastSeq = event.seq;
      debug.frames.push({ id: frameId, event: event.type, seq: event.seq });
      HANDLERS[kind](event);
    },
    onGap(gap) {
      showNotice(
        gap.reason === 'history_lost'
          ? `The gateway's history of this ${kind} was lost and started again: showing what it has from seq ${gap.firstAvailableSeq}.`
          : `Earlier events are no longer retained: showing from seq ${gap.firstAvailableSeq}.`,
      );
    },
    onState(state, detail) {
      if (subject !== current) return;
      if (state === 'error' && detail === 'auth') askForToken();
      showConnection('subject', state, detail);
    },
    probe: () => getJson(historyPath(kind, id, 0, 1)),
    isTerminal: () => TERMINAL.has(subject.status),
  });
  renderSubjects();
}

function closeSubject() {
  if (current && current.stream) current.stream.close();
  current = undefined;
}

function showWelcome() {
  closeSubject();
  $('welcome').hidden = false;
  $('subject-view').hidden = true;
  document.title = 'fanout';
  connectionOwner = 'activity';
  renderSubjects();
}

// ---------------------------------------------------------------------------------------------
// Routing: #/<kind>/<id>

function route() {
  const match = /^#\/(job|pack-run|run)\/(.+)$/.exec(location.hash);
  if (!match) {
    showWelcome();
    return;
  }
  const kind = match[1];
  const id = decodeURIComponent(match[2]);
  $('open-kind').value = kind;
  $('open-id').value = id;
  openSubject(kind, id);
}

$('open-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const kind = $('open-kind').value;
  const id = $('open-id').value.trim();
  if (!SEGMENT[kind] || !id) return;
  location.hash = `#/${kind}/${encodeURIComponent(id)}`;
  $('main').focus();
});
window.addEventListener('hashchange', () => {
  route();
  if (current) $('main').focus();
});

// Running steps' durations tick once a second (one timer for the page).
setInterval(() => {
  if (current && current.kind === 'pack-run' && [...current.steps.values()].some((s) => s.status === 'running')) scheduleSteps();
}, 1000);

async function start() {
  closeSubject();
  if (!(await startActivity())) return;
  current = undefined;
  route();
}

start();
