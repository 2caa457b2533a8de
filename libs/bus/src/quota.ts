/**
 * When a tenant refused for its quota may retry: once its soonest subject expires, or, when all of
 * its subjects are still running, after one history TTL (the soonest a subject ending now frees).
 */
export function quotaRetryAfterSeconds(msUntilASubjectExpires: number | undefined, historyTtlSeconds: number): number {
  if (msUntilASubjectExpires === undefined) return historyTtlSeconds;
  return Math.max(1, Math.ceil(msUntilASubjectExpires / 1000));
}
