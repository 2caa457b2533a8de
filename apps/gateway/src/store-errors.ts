import { storeFailureKind } from '@fanout/bus';
import { HttpProblem } from '@fanout/http';

/**
 * A store call that failed is a 503: the client may retry; nothing was changed by a read. Made once
 * per kind of call and used as `.catch(handler)`, so a request holds no closure or extra async frame
 * while it waits for the store.
 */
function storeFailure(what: string): (error: unknown) => never {
  return (error) => {
    if (error instanceof HttpProblem) throw error;
    throw new HttpProblem(503, `the store is unavailable (${what}): ${storeFailureKind(error)}`, {}, { 'Retry-After': '1' });
  };
}

export const STORE_FAILED = {
  readingSubject: storeFailure('reading the subject'),
  readingSubjects: storeFailure('reading the subjects'),
  readingActivity: storeFailure('reading the activity'),
  readingHistory: storeFailure('reading history'),
  listingSubjects: storeFailure('listing subjects'),
  subscribing: storeFailure('subscribing'),
  readingWatchers: storeFailure('reading the watcher counts'),
  readingRevocations: storeFailure('reading the revocations'),
  changingRevocations: storeFailure('changing the revocations'),
} as const;
