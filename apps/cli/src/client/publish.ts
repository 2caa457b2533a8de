import { randomUUID } from 'node:crypto';
import { Problem } from '@fanout/contracts';

export interface OutgoingEvent {
  eventId: string;
  tenant: string;
  subject: { kind: string; id: string };
  type: string;
  occurredAt: string;
  correlationId?: string;
  data: Record<string, unknown>;
}

/** One line per problem: `409 Conflict: job j1: illegal transition …`, then each validation error. */
export function describeProblem(status: number, problem: Problem | undefined, body: string): string {
  if (!problem) return `${status}: ${body.slice(0, 500) || '(empty answer)'}`;
  const lines = [`${status} ${problem.title}: ${problem.detail}`];
  for (const error of problem.errors ?? []) lines.push(`  ${error.path || '(body)'}: ${error.message}`);
  return lines.join('\n');
}

/** Fills in what a producer may leave out: a fresh eventId, occurredAt now, the endpoint's tenant. */
export function completeEvent(raw: Record<string, unknown>, tenant: string): Record<string, unknown> {
  return {
    eventId: randomUUID(),
    occurredAt: new Date().toISOString(),
    tenant,
    ...raw,
  };
}
