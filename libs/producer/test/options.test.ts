/** What createProducer and publish refuse before anything is sent (no server: a fetch that records its calls). */
import { AddressInfo, createServer } from 'node:net';
import { MAX_EVENT_BYTES } from '@fanout/contracts';
import { ProducerUnavailableError, ValidationError, createProducer } from '../src';

const calls: unknown[] = [];
const recordingFetch = (async (...args: unknown[]) => {
  calls.push(args);
  return new Response(JSON.stringify({ results: [] }), { status: 202, headers: { 'Content-Type': 'application/json' } });
}) as typeof fetch;

/** An unsigned token whose claims name `tenant` (the producer reads the claim, never checks the signature). */
const tokenFor = (tenant: string) => `x.${Buffer.from(JSON.stringify({ tenant, scope: 'events:write' })).toString('base64url')}.x`;

test.each([
  [{ url: 'not a url' }, /url must be the publisher's http\(s\) URL/],
  [{ url: 'ftp://127.0.0.1' }, /url must be/],
  [{ url: undefined as unknown as string }, /url must be/],
  [{ url: 'http://127.0.0.1:1', maxInFlight: 0 }, /maxInFlight must be a whole number > 0, not 0/],
  [{ url: 'http://127.0.0.1:1', maxInFlight: Number.NaN }, /maxInFlight/],
  [{ url: 'http://127.0.0.1:1', maxInFlight: 1.5 }, /maxInFlight/],
  [{ url: 'http://127.0.0.1:1', requestTimeoutMs: -1 }, /requestTimeoutMs must be a finite number > 0, not -1/],
  [{ url: 'http://127.0.0.1:1', requestTimeoutMs: Infinity }, /requestTimeoutMs must be a finite number > 0, not Infinity/],
  [{ url: 'http://127.0.0.1:1', lingerMs: -5 }, /lingerMs must be a finite number ≥ 0/],
  [{ url: 'http://127.0.0.1:1', maxQueued: 1.5 }, /maxQueued must be a whole number > 0, not 1.5/],
  [{ url: 'http://127.0.0.1:1', retry: { initialDelayMs: Number.NaN } }, /retry.initialDelayMs must be a finite number > 0, not NaN/],
  [{ url: 'http://127.0.0.1:1', retry: { initialDelayMs: -1 } }, /retry.initialDelayMs/],
  [{ url: 'http://127.0.0.1:1', retry: { maxDelayMs: Infinity } }, /retry.maxDelayMs/],
  [{ url: 'http://127.0.0.1:1', retry: { multiplier: 0.5 } }, /retry.multiplier must be a number ≥ 1, not 0.5/],
  [{ url: 'http://127.0.0.1:1', retry: { maxElapsedMs: -1 } }, /retry.maxElapsedMs must be a number > 0/],
  [{ url: 'http://127.0.0.1:1', retry: { maxElapsedMs: Number.NaN } }, /retry.maxElapsedMs/],
  [{ url: 'http://127.0.0.1:1', tenant: 'bad tenant' }, /tenant must match/],
  [{ url: 'http://127.0.0.1:1', token: tokenFor('acme'), tenant: 'other' }, /tenant "other" is not the token's tenant \("acme"\)/],
  [{ url: 'http://127.0.0.1:1', fetch: 'x' as unknown as typeof fetch }, /fetch must be a function/],
])('createProducer(%j) is a RangeError saying what it takes', (options, message) => {
  expect(() => createProducer({ fetch: recordingFetch, ...options })).toThrow(RangeError);
  expect(() => createProducer({ fetch: recordingFetch, ...options })).toThrow(message);
});

test('createProducer without options is a RangeError; a retry option given as undefined takes its default (no retry storm)', async () => {
  expect(() => (createProducer as (options?: unknown) => unknown)()).toThrow(/createProducer needs its options/);
  let attempts = 0;
  const unreachable = (async () => {
    attempts += 1;
    throw new TypeError('fetch failed');
  }) as typeof fetch;
  const producer = createProducer({ url: 'http://127.0.0.1:1', tenant: 't', fetch: unreachable, lingerMs: 0, retry: { initialDelayMs: undefined, maxDelayMs: undefined, maxElapsedMs: 300 } });
  const job = { eventId: 'e1', subject: { kind: 'job' as const, id: 'j1' }, type: 'job.status' as const, data: { status: 'pending' as const } };
  await expect(producer.publish(job)).rejects.toBeInstanceOf(ProducerUnavailableError);
  // 50 ms doubling with full jitter over 300 ms: a handful of attempts, where NaN delays made hundreds and never gave up.
  expect(attempts).toBeLessThan(30);
  await producer.close().catch(() => undefined);
});

test("an event for another tenant than the token's is refused alone (403, nothing sent), not with the events batched beside it", async () => {
  calls.length = 0;
  const producer = createProducer({ url: 'http://127.0.0.1:1', token: tokenFor('acme'), fetch: recordingFetch, lingerMs: 50 });
  const job = (id: string, tenant?: string) => ({ eventId: `e-${id}`, ...(tenant ? { tenant } : {}), subject: { kind: 'job' as const, id }, type: 'job.status' as const, data: { status: 'pending' as const } });
  const foreign = producer.publish(job('b', 'other'));
  await expect(foreign).rejects.toMatchObject({ name: 'ProducerError', status: 403, eventId: 'e-b', message: expect.stringContaining('tenant acme only, not other') });
  const own = [producer.publish(job('a')), producer.publish(job('c', 'acme'))];
  await producer.flush().catch(() => undefined);
  await Promise.allSettled(own);
  expect(calls).toHaveLength(1);
  const sent = JSON.parse(String((calls[0] as [string, { body: string }])[1].body)) as { events: { eventId: string }[] };
  expect(sent.events.map((e) => e.eventId)).toEqual(['e-a', 'e-c']);
  await producer.close().catch(() => undefined);
  calls.length = 0;
});

test("with a token and no tenant, an event is measured as the server measures it, the token's tenant added: one over 64 KiB then is refused before anything is sent", async () => {
  const tenant = 'acme-with-a-long-tenant-name';
  const producer = createProducer({ url: 'http://127.0.0.1:1', token: tokenFor(tenant), fetch: recordingFetch, lingerMs: 0 });
  // An event of exactly `bytes` of JSON without its tenant: a pack_run.status whose steps plan pads it.
  const padded = (bytes: number) => {
    const status = { eventId: 'e1', subject: { kind: 'pack-run' as const, id: 'p1' }, type: 'pack_run.status' as const, occurredAt: '2026-12-05T00:00:00.000Z', data: { status: 'pending' as const, steps: [] as { index: number; name: string }[] } };
    for (let index = 0; Buffer.byteLength(JSON.stringify(status)) < bytes - 300; index++) status.data.steps.push({ index, name: 'n'.repeat(250) });
    const short = bytes - Buffer.byteLength(JSON.stringify(status));
    status.data.steps.push({ index: status.data.steps.length, name: 'm'.repeat(short - Buffer.byteLength(JSON.stringify({ index: status.data.steps.length, name: '' })) - 1) });
    return status;
  };
  const withTenant = Buffer.byteLength(`,"tenant":${JSON.stringify(tenant)}`);
  const fits = padded(MAX_EVENT_BYTES - withTenant);
  const over = padded(MAX_EVENT_BYTES - withTenant + 1);
  expect([Buffer.byteLength(JSON.stringify(fits)), Buffer.byteLength(JSON.stringify(over))]).toEqual([MAX_EVENT_BYTES - withTenant, MAX_EVENT_BYTES - withTenant + 1]);
  await expect(producer.publish(over)).rejects.toBeInstanceOf(ValidationError);
  expect(calls).toHaveLength(0);
  // One byte less is sent (this fetch's answer is no publisher's: the publish fails after).
  await producer.publish(fits).catch(() => undefined);
  expect(calls).toHaveLength(1);
  await producer.close().catch(() => undefined);
});

test('events given up on (retry.maxElapsedMs) reject each with its own ProducerUnavailableError, naming its eventId', async () => {
  const unreachable = (async () => {
    throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:1') });
  }) as typeof fetch;
  const producer = createProducer({ url: 'http://127.0.0.1:1', tenant: 't', fetch: unreachable, lingerMs: 0, retry: { initialDelayMs: 10, maxElapsedMs: 100 } });
  const job = (eventId: string, status: 'pending' | 'scheduled') => ({ eventId, subject: { kind: 'job' as const, id: 'j1' }, type: 'job.status' as const, data: { status } });
  const outcomes = await Promise.allSettled([producer.publish(job('e1', 'pending')), producer.publish(job('e2', 'scheduled'))]);
  const errors = outcomes.map((o) => (o.status === 'rejected' ? (o.reason as ProducerUnavailableError) : undefined));
  expect(errors.map((e) => [e?.name, e?.status, e?.eventId])).toEqual([
    ['ProducerUnavailableError', 0, 'e1'],
    ['ProducerUnavailableError', 0, 'e2'],
  ]);
  expect(errors[0]!.message).toMatch(/ECONNREFUSED.*gave up after \d+ attempts?;/);
  await producer.close().catch(() => undefined);
});

test('retry.maxElapsedMs also cuts an attempt in flight: a publisher that takes the request and never answers is given up on then, not after requestTimeoutMs', async () => {
  const held: import('node:net').Socket[] = [];
  const silent = createServer((socket) => {
    held.push(socket);
    socket.resume();
  });
  const port = await new Promise<number>((resolve) => silent.listen(0, '127.0.0.1', () => resolve((silent.address() as AddressInfo).port)));
  try {
    const producer = createProducer({ url: `http://127.0.0.1:${port}`, tenant: 't', lingerMs: 0, requestTimeoutMs: 60_000, retry: { maxElapsedMs: 500 } });
    const started = Date.now();
    const error = await producer.publish({ eventId: 'e1', subject: { kind: 'job', id: 'j1' }, type: 'job.status', data: { status: 'pending' } }).then(
      () => undefined,
      (e: Error) => e,
    );
    const tookMs = Date.now() - started;
    expect(error).toBeInstanceOf(ProducerUnavailableError);
    expect(error!.message).toMatch(/no answer from http:\/\/127.0.0.1:\d+ within 500 ms \(gave up after 1 attempt; the events may be stored/);
    expect(held.length).toBeGreaterThan(0); // the request reached the server
    expect(tookMs).toBeLessThan(30_000); // 0.5 s, far from the attempt's own 60 s
    await producer.close().catch(() => undefined);
  } finally {
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
}, 90_000);

test('giving up says whether the events may be stored: not when every attempt was refused before it was sent; after any answer, even a 503, they may be', async () => {
  const job = { eventId: 'e1', subject: { kind: 'job' as const, id: 'j1' }, type: 'job.status' as const, data: { status: 'pending' as const } };
  // A port nothing listens on (fetch refuses port 1 itself as a bad port).
  const closedPort = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
  const failing = (fetchImpl: typeof fetch) => createProducer({ url: `http://127.0.0.1:${closedPort}`, tenant: 't', fetch: fetchImpl, lingerMs: 0, retry: { initialDelayMs: 10, maxElapsedMs: 100 } });
  const messageOf = async (fetchImpl: typeof fetch): Promise<string> => {
    const producer = failing(fetchImpl);
    const error = (await producer.publish(job).then(() => undefined, (e: Error) => e))!;
    await producer.close().catch(() => undefined);
    return error.message;
  };
  // A closed port, with the real fetch.
  expect(await messageOf(fetch)).toMatch(/ECONNREFUSED.*; nothing was stored\)$/);
  // A 503 of a replica that did not acknowledge in time: the event was stored.
  expect(await messageOf((async () => new Response('{"title":"x","status":503,"detail":"d"}', { status: 503 })) as typeof fetch)).toMatch(/the events may be stored/);
  const reset = (async () => {
    throw new TypeError('fetch failed', { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) });
  }) as typeof fetch;
  expect(await messageOf(reset)).toMatch(/ECONNRESET.*the events may be stored: publish them again with the same eventIds/);
  expect(await messageOf((async () => new Response('bad gateway', { status: 502 })) as typeof fetch)).toMatch(/the events may be stored/);
});
