import { storeFailureKind } from '@fanout/bus';

/** What a 503 tells the producer about a failed store (the store's own message goes to the log). */
export function storeFailureDetail(error: unknown): string {
  return `the store is unavailable (${storeFailureKind(error)}); retry with the same eventIds`;
}
