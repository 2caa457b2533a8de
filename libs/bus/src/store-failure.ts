import { ReplicationTimeoutError } from './redis-store';

/**
 * What an answer may tell of a failed store call: the kind of failure, never the store's own
 * message (it can hold a Lua script's SHA and line, or key names), which belongs in the log. The
 * bus's own replication error is shown: it says how many replicas acknowledged, and nothing else.
 */
export function storeFailureKind(error: unknown): string {
  if (error instanceof ReplicationTimeoutError) return error.message;
  const message = error instanceof Error ? error.message : '';
  if (/^OOM\b/.test(message)) return 'it is out of memory';
  if (/\b(time budget|timed out|deadline)\b/i.test(message)) return 'it did not answer in time';
  return 'it is unreachable or failing';
}
