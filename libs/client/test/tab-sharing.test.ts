/**
 * The tab-sharing protocol in Node: real BroadcastChannels (Node has them), a Web Locks stand-in
 * that releases a "closed tab's" locks the way a browser does, and a scripted stream in place of
 * the gateway. The browser itself is exercised by test/e2e/browser-tabs.test.ts.
 */
import { StreamedEvent, Subject } from '@fanout/contracts';
import { SharedFrame, SubscriptionState } from '../src/subscription-state';
import { BroadcastChannelLike, LockManagerLike, shareAcrossTabs } from '../src/tab-sharing';
import { ConnectionState, GapNotice } from '../src/types';
import { sharingKey } from '../src/subscribe';

const SUBJECTS: Subject[] = [{ kind: 'job', id: 'a' }];

/** Web Locks, exclusive mode, FIFO; `crash(tab)` lets go of what a closed tab held or waited for. */
class Locks {
  private readonly holders = new Map<string, { tab: string; token: object }>();
  private readonly queues = new Map<string, { tab: string; grant: () => void; drop: () => void }[]>();

  forTab(tab: string): LockManagerLike {
    return {
      request: (name, { signal }, callback) =>
        new Promise((resolve, reject) => {
          const entry = {
            tab,
            grant: () => {
              const token = {};
              this.holders.set(name, { tab, token });
              void callback(null).then(() => {
                resolve(undefined);
                this.release(name, token);
              });
            },
            drop: () => reject(new Error('AbortError')),
          };
          signal?.addEventListener('abort', () => {
            const queue = this.queues.get(name) ?? [];
            const index = queue.indexOf(entry);
            if (index >= 0) queue.splice(index, 1);
            entry.drop();
          });
          this.queues.set(name, [...(this.queues.get(name) ?? []), entry]);
          this.pump(name);
        }),
    };
  }

  crash(tab: string): void {
    for (const [name, queue] of this.queues) this.queues.set(name, queue.filter((e) => e.tab !== tab));
    for (const [name, holder] of [...this.holders]) if (holder.tab === tab) this.release(name, holder.token);
  }

  private release(name: string, token: object): void {
    if (this.holders.get(name)?.token !== token) return;
    this.holders.delete(name);
    this.pump(name);
  }

  private pump(name: string): void {
    if (this.holders.has(name)) return;
    const next = this.queues.get(name)?.shift();
    next?.grant();
  }
}

interface Tab {
  name: string;
  events: { seq: number; id: string }[];
  states: ConnectionState[];
  gaps: GapNotice[];
  roles: string[];
  /** The resume position each time this tab opened the stream. */
  leads: (string | undefined)[];
  state: SubscriptionState;
  unsubscribe: () => void;
  crash: () => void;
}

const locks = new Locks();
let leader: Tab | undefined;
const tabs: Tab[] = [];
const channels = new Map<string, BroadcastChannelLike[]>();

function openTab(name: string, historyLimit = 100): Tab {
  const tab: Tab = { name, events: [], states: [], gaps: [], roles: [], leads: [], state: undefined!, unsubscribe: () => undefined, crash: () => undefined };
  tab.state = new SubscriptionState(
    SUBJECTS,
    {
      baseUrl: '',
      subjects: ['job:a'],
      onEvent: (event, meta) => tab.events.push({ seq: event.seq, id: meta.id }),
      onState: (state) => tab.states.push(state),
      onGap: (gap) => tab.gaps.push(gap),
    },
    historyLimit,
  );
  tab.state.setState('connecting');
  const Channel = class extends BroadcastChannel {
    constructor(channelName: string) {
      super(channelName);
      channels.set(name, [...(channels.get(name) ?? []), this as unknown as BroadcastChannelLike]);
    }
  };
  let connectionOpen = false;
  tab.unsubscribe = shareAcrossTabs(
    'key',
    tab.state,
    { locks: locks.forTab(name), BroadcastChannel: Channel as never },
    () => {
      tab.leads.push(tab.state.lastEventId);
      tab.state.setState(tab.state.lastEventId === undefined ? 'connecting' : 'reconnecting');
      tab.state.setState('live');
      connectionOpen = true;
      leader = tab;
      return {
        close: () => {
          connectionOpen = false;
          if (leader === tab) leader = undefined;
        },
      };
    },
    (role) => tab.roles.push(role),
  );
  tab.crash = () => {
    // A closed tab: its channel goes away, its locks are released, nothing of it runs any more.
    for (const channel of channels.get(name) ?? []) channel.close();
    tab.state.close();
    if (connectionOpen && leader === tab) leader = undefined;
    locks.crash(name);
  };
  tabs.push(tab);
  return tab;
}

const event = (seq: number, status?: string): SharedFrame => ({
  type: 'event',
  id: `cursor-${seq}`,
  event: {
    eventId: `e${seq}`,
    tenant: 't',
    subject: { kind: 'job', id: 'a' },
    type: status ? 'job.status' : 'job.progress',
    occurredAt: '2026-01-01T00:00:00.000Z',
    data: status ? { status, attempt: 1 } : { percent: seq },
    seq,
    publishedAt: '2026-01-01T00:00:00.000Z',
  } as StreamedEvent,
});

/** The gateway sends frames to whichever tab holds the connection. */
function emit(...frames: SharedFrame[]): void {
  if (!leader) throw new Error('no tab holds the connection');
  for (const frame of frames) leader.state.apply(frame);
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(tabs.map(({ name, events, states, roles, leads }) => ({ name, events: events.map((e) => e.seq), states, roles, leads })))}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const seqs = (tab: Tab) => tab.events.map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

afterEach(() => {
  for (const tab of tabs.splice(0)) {
    tab.unsubscribe();
    tab.crash();
  }
  channels.clear();
  leader = undefined;
});

test('one tab leads; a late tab is synced with what the leader has; when the leader tab closes the next resumes from the last relayed id', async () => {
  const a = openTab('a');
  await until('a to lead', () => leader === a);
  emit(event(1, 'pending'), event(2), event(3));
  const b = openTab('b');
  await until('b to follow with 1..3', () => b.roles[0] === 'follower' && seqs(b).length === 3);
  emit(event(4), event(5));
  const c = openTab('c');
  await until('b and c to have 1..5', () => seqs(b).length === 5 && seqs(c).length === 5);
  expect(a.leads).toEqual([undefined]);

  a.crash();
  await until('b to lead', () => leader === b);
  expect(b.leads).toEqual(['cursor-5']);
  emit(event(6), event(7));
  await until('c to have 1..7', () => seqs(c).length === 7);
  expect(c.roles).toEqual(['follower']);
  const d = openTab('d');
  await until('d to have 1..7 from the new leader', () => seqs(d).length === 7);

  b.crash();
  await until('c to lead', () => leader === c);
  expect(c.leads).toEqual(['cursor-7']);
  emit(event(8, 'succeeded'));
  await until('d to have 8', () => seqs(d).length === 8);
  for (const tab of [c, d]) {
    expect(seqs(tab)).toEqual(range(1, 8));
    expect(tab.gaps).toEqual([]);
  }
  // Followers show the leader's state: each handover is a reconnect.
  expect(c.states).toEqual(['connecting', 'live', 'reconnecting', 'live', 'reconnecting', 'live']);
  expect(d.states).toEqual(['connecting', 'live', 'reconnecting', 'live']);
  expect(tabs.map((t) => t.leads.length)).toEqual([1, 1, 1, 0]);
});

test('a leader that unsubscribes hands over; ended reaches every tab and no tab opens the stream again', async () => {
  const a = openTab('a');
  await until('a to lead', () => leader === a);
  emit(event(1, 'pending'));
  const b = openTab('b');
  const c = openTab('c');
  await until('b and c to follow', () => seqs(b).length === 1 && seqs(c).length === 1);
  a.unsubscribe();
  await until('another tab to lead', () => leader === b || leader === c);
  const next = leader!;
  expect(next.leads).toEqual(['cursor-1']);
  emit(event(2, 'canceled'));
  next.state.setState('ended');
  const other = next === b ? c : b;
  await until('the other tab to end', () => other.states.at(-1) === 'ended');
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(seqs(other)).toEqual([1, 2]);
  expect(other.leads).toEqual([]);
  expect(seqs(a)).toEqual([1]);
  // A tab that opens afterwards gets the whole story and `ended` from the tab that kept the lock.
  const late = openTab('late');
  await until('the late tab to end', () => late.states.at(-1) === 'ended');
  expect(seqs(late)).toEqual([1, 2]);
  expect(late.leads).toEqual([]);
});

test('a tab that joins after the leader let go of old events sees the gap it has', async () => {
  const a = openTab('a', 2);
  await until('a to lead', () => leader === a);
  emit(event(1, 'pending'), event(2), event(3), event(4));
  const b = openTab('b', 2);
  await until('b to follow with 3..4', () => seqs(b).length === 2);
  expect(seqs(b)).toEqual([3, 4]);
  expect(b.gaps).toEqual([{ source: 'client', subject: { kind: 'job', id: 'a' }, reason: 'seq_skipped', expectedSeq: 1, receivedSeq: 3 }]);
});

describe('which subscriptions may share a connection', () => {

  const jwt = (claims: object) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
  const base = { baseUrl: 'https://events.example' };

  test('tabs of different tenants never share, whatever their subjects', () => {
    const acme = sharingKey({ ...base, token: jwt({ tenant: 'acme', scope: 'stream:read' }) }, SUBJECTS);
    const globex = sharingKey({ ...base, token: jwt({ tenant: 'globex', scope: 'stream:read' }) }, SUBJECTS);
    expect(acme).toBeDefined();
    expect(globex).toBeDefined();
    expect(acme).not.toBe(globex);
    expect(sharingKey({ ...base, tenant: 'acme' }, SUBJECTS)).not.toBe(sharingKey({ ...base, tenant: 'globex' }, SUBJECTS));
  });

  test('two tokens of one tenant share (a renewed token does not split the tabs)', () => {
    const first = sharingKey({ ...base, token: jwt({ tenant: 'acme', exp: 1 }) }, SUBJECTS);
    expect(sharingKey({ ...base, token: jwt({ tenant: 'acme', exp: 2 }) }, SUBJECTS)).toBe(first);
    expect(sharingKey({ ...base, token: jwt({ tenant: 'ünïcode', exp: 2 }) }, SUBJECTS)).toContain('ünïcode');
  });

  test('nothing is shared while the tenant cannot be known', () => {
    expect(sharingKey({ ...base, token: 'not-a-jwt' }, SUBJECTS)).toBeUndefined();
    expect(sharingKey({ ...base, token: jwt({ scope: 'stream:read' }) }, SUBJECTS)).toBeUndefined();
    expect(sharingKey({ ...base, getToken: () => 't' }, SUBJECTS)).toBeUndefined();
    // No token at all: a gateway without auth, where every browser is the default tenant.
    expect(sharingKey(base, SUBJECTS)).toBeDefined();
  });
});
