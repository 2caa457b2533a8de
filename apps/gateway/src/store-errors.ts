import { HttpProblem } from '@fanout/http';

/** A store call that failed is a 503: the client may retry; nothing was changed by a read. */
export async function fromStore<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof HttpProblem) throw error;
    throw new HttpProblem(503, `the store is unavailable (${what}): ${(error as Error).message}`, {}, { 'Retry-After': '1' });
  }
}
