/**
 * When a tenant refused for its quota may retry: once its soonest subject expires (after its terminal
 * event, or idle), and at the latest after one history TTL (the soonest a subject ending now frees).
 */
export function quotaRetryAfterSeconds(msUntilASubjectExpires: number | undefined, historyTtlSeconds: number): number {
  if (msUntilASubjectExpires === undefined) return historyTtlSeconds;
  return Math.min(historyTtlSeconds, Math.max(1, Math.ceil(msUntilASubjectExpires / 1000)));
}
