import { IncomingMessage } from 'node:http';
import { MAX_REQUEST_BYTES } from '@fanout/contracts';
import { HttpProblem } from '@fanout/http';
import { BodyBudget } from '../src/body-budget';

const MiB = 1024 * 1024;
const declaring = (bytes: number) => ({ headers: { 'content-length': String(bytes) } }) as unknown as IncomingMessage;
const chunked = { headers: { 'transfer-encoding': 'chunked' } } as unknown as IncomingMessage;

function refusal(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(HttpProblem);
    expect((error as HttpProblem).status).toBe(503);
    return (error as HttpProblem).detail;
  }
}

test("one tenant's bodies hold at most a quarter of the budget: past it its next is a 503 while other tenants still publish", () => {
  const budget = new BodyBudget(64 * MiB);
  expect(budget.maxBytesPerTenant).toBe(16 * MiB);
  // Four bodies of unknown length (each counted as the largest, 4 MiB) that never come: the tenant's quarter.
  const held = [1, 2, 3, 4].map(() => budget.reserveFor(chunked, 'greedy'));
  expect(held.map((r) => r.bytes)).toEqual([MAX_REQUEST_BYTES, MAX_REQUEST_BYTES, MAX_REQUEST_BYTES, MAX_REQUEST_BYTES]);
  expect(refusal(() => budget.reserveFor(declaring(100), 'greedy'))).toMatch(/for this tenant as it may at once \(a quarter of FANOUT_MAX_BODY_BYTES_IN_FLIGHT/);
  const others = ['a', 'b', 'c'].map((tenant) => budget.reserveFor(chunked, tenant));
  // Without a token the tenant is not known (any client may name any): only the whole budget applies.
  const anonymous = Array.from({ length: 9 }, () => budget.reserveFor(chunked, undefined));
  expect(refusal(() => budget.reserveFor(declaring(100), undefined))).toMatch(/^the publisher is reading as many request bodies as it may at once/);
  for (const reservation of [...anonymous, ...others]) budget.release(reservation);
  budget.release(held[0]);
  expect(budget.reserveFor(declaring(100), 'greedy').bytes).toBe(100);
});

test('a budget under one largest body is refused; a tenant share is never under one largest body', () => {
  expect(() => new BodyBudget(MAX_REQUEST_BYTES - 1)).toThrow(RangeError);
  const small = new BodyBudget(MAX_REQUEST_BYTES);
  expect(small.maxBytesPerTenant).toBe(MAX_REQUEST_BYTES);
  expect(small.reserveFor(chunked, 't').bytes).toBe(MAX_REQUEST_BYTES);
});
