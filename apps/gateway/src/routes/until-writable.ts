import { Writable } from 'node:stream';

type Answer = Pick<Writable, 'destroyed' | 'writableEnded' | 'writableNeedDrain' | 'writableFinished' | 'once' | 'off'>;

/**
 * Resolves true once `answer` takes writes again (at once if it does), false once it is closed.
 * The listener that did not fire is removed: a long answer waits many times on one response.
 */
export function untilWritable(answer: Answer): Promise<boolean> {
  if (answer.destroyed || answer.writableEnded) return Promise.resolve(false);
  if (!answer.writableNeedDrain) return Promise.resolve(true);
  return new Promise((resolve) => {
    const settle = (writable: boolean): void => {
      answer.off('drain', drained);
      answer.off('close', closed);
      resolve(writable);
    };
    const drained = (): void => settle(true);
    const closed = (): void => settle(false);
    answer.once('drain', drained);
    answer.once('close', closed);
  });
}

/** Resolves once an ended `answer` was all handed to the connection, or it closed. */
export function untilTaken(answer: Answer): Promise<void> {
  if (answer.destroyed || answer.writableFinished) return Promise.resolve();
  return new Promise((resolve) => {
    const settle = (): void => {
      answer.off('finish', settle);
      answer.off('close', settle);
      resolve();
    };
    answer.once('finish', settle);
    answer.once('close', settle);
  });
}
