/** What createProducer and publish refuse before anything is sent (no server: a fetch that records its calls). */
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
  [{ url: 'http://127.0.0.1:1', requestTimeoutMs: -1 }, /requestTimeoutMs must be a number > 0, not -1/],
  [{ url: 'http://127.0.0.1:1', lingerMs: -5 }, /lingerMs must be a number ≥ 0/],
])('createProducer(%j) is a RangeError saying what it takes', (options, message) => {
  expect(() => createProducer({ fetch: recordingFetch, ...options })).toThrow(RangeError);
  expect(() => createProducer({ fetch: recordingFetch, ...options })).toThrow(message);
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
  expect(errors[0]!.message).toMatch(/ECONNREFUSED.*gave up after \d+ attempts/);
  await producer.close().catch(() => undefined);
});
