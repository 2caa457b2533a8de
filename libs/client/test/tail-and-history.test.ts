/** `subscribe({ tail })`'s URL and `history({ before })`, without a server. */
import { history, HistoryError, streamUrl } from '../src';

test('the stream URL carries tail beside the resume position and token', () => {
  expect(streamUrl('http://gw/', [{ kind: 'pack-run', id: 'p1' }], { tail: 100 })).toBe('http://gw/api/v1/stream/pack-runs/p1?tail=100');
  expect(streamUrl('http://gw', [{ kind: 'job', id: 'a' }, { kind: 'job', id: 'b' }], { lastEventId: 'x', tail: 5, token: 't' })).toBe(
    'http://gw/api/v1/stream?subjects=job:a,job:b&lastEventId=x&tail=5&access_token=t',
  );
});

test('history pages backwards with before, and a refusal is a HistoryError with the problem detail', async () => {
  const asked: { url: string; headers: Record<string, string> }[] = [];
  const fetch = (async (url: string, init: { headers: Record<string, string> }) => {
    asked.push({ url, headers: init.headers });
    if (url.includes('nope')) return new Response(JSON.stringify({ title: 'Not Found', status: 404, detail: 'no pack-run with id nope' }), { status: 404 });
    return new Response(JSON.stringify({ events: [{ seq: 4 }, { seq: 5 }], next: 4 }), { status: 200 });
  }) as unknown as typeof globalThis.fetch;
  const page = await history({ baseUrl: 'http://gw', subject: { kind: 'pack-run', id: 'p1' }, before: 6, limit: 2, token: 'tok', fetch });
  expect(page).toEqual({ events: [{ seq: 4 }, { seq: 5 }], next: 4 });
  expect(asked[0]).toEqual({ url: 'http://gw/api/v1/pack-runs/p1/events?before=6&limit=2', headers: { Accept: 'application/json', Authorization: 'Bearer tok' } });
  await expect(history({ baseUrl: 'http://gw', subject: { kind: 'pack-run', id: 'nope' }, before: 6, fetch })).rejects.toEqual(new HistoryError(404, 'no pack-run with id nope'));
  await expect(history({ baseUrl: 'http://gw', subject: { kind: 'job', id: 'a' }, after: 1, before: 6, fetch })).rejects.toThrow(TypeError);
});
