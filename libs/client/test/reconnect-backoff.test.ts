/**
 * Reconnect storms (issue 17, item 5): an EventSource that drops reconnects by itself after the
 * gateway's `retry:`; one that then keeps failing before it opens would retry at that same pace for
 * ever, so the client closes it and reopens after an exponential backoff with jitter.
 */
import { subscribe } from '../src';
import { FakeEventSource, FakeEventSourceClass } from './fake-event-source';

beforeEach(() => {
  FakeEventSource.reset();
  jest.useFakeTimers();
});

afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
});

function subscribeWithFake(reconnectDelayMs: number): () => void {
  return subscribe({
    baseUrl: 'http://127.0.0.1:1',
    subjects: ['job:a'],
    EventSource: FakeEventSourceClass,
    reconnectDelayMs,
    shareAcrossTabs: false,
    onState: () => undefined,
    onEvent: () => undefined,
  });
}

/** The delay until the client opens its next EventSource. */
function delayUntilNextOpen(): number {
  const before = FakeEventSource.opened.length;
  let waited = 0;
  while (FakeEventSource.opened.length === before) {
    if (waited > 60_000) throw new Error('no EventSource was opened within 60 s');
    jest.advanceTimersByTime(10);
    waited += 10;
  }
  return waited;
}

test('the first drop is left to the EventSource; failures in a row after it back off exponentially, each delay within its upper half', () => {
  jest.spyOn(Math, 'random').mockReturnValue(0);
  const stop = subscribeWithFake(1000);
  FakeEventSource.latest.open();
  FakeEventSource.latest.drop();
  expect(FakeEventSource.opened).toHaveLength(1);
  expect(FakeEventSource.latest.closed).toBe(false);

  const delays: number[] = [];
  for (let i = 0; i < 6; i += 1) {
    const failing = FakeEventSource.latest;
    failing.drop();
    expect(failing.closed).toBe(true);
    delays.push(delayUntilNextOpen());
  }
  // random() = 0: half of 2 s, 4 s, 8 s, 16 s, then the 30 s ceiling.
  expect(delays).toEqual([1000, 2000, 4000, 8000, 15_000, 15_000]);

  // An EventSource that opens starts the count again.
  FakeEventSource.latest.open();
  FakeEventSource.latest.drop();
  expect(FakeEventSource.latest.closed).toBe(false);
  stop();
});

test('the delays are jittered: two clients failing in step do not come back in step', () => {
  const random = jest.spyOn(Math, 'random');
  const stop = subscribeWithFake(1000);
  FakeEventSource.latest.open();
  FakeEventSource.latest.drop();
  const delays: number[] = [];
  for (const r of [0.1, 0.9]) {
    random.mockReturnValue(r);
    FakeEventSource.latest.drop();
    delays.push(delayUntilNextOpen());
    FakeEventSource.latest.open();
    FakeEventSource.latest.drop();
  }
  expect(delays[0]).toBeGreaterThanOrEqual(1000);
  expect(delays[0]).toBeLessThan(delays[1]!);
  expect(delays[1]).toBeLessThanOrEqual(2000);
  stop();
});
