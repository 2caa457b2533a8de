import { PublishedEvent, TenantSubject, isStatusEventType } from '@fanout/contracts';
import { AppendOutcome } from './bus';

/** One status change, as the activity stream records it. */
export interface ActivityUpdate {
  subjectSeq: number;
  /** The `subject.updated` data: {subject, status, seq, updatedAt}. */
  json: string;
}

export function activityUpdate(subject: TenantSubject, status: string, seq: number, updatedAt: string): ActivityUpdate {
  return { subjectSeq: seq, json: JSON.stringify({ subject: { kind: subject.kind, id: subject.id }, status, seq, updatedAt }) };
}

/** The status changes an append stored (duplicates and refusals changed nothing). */
export function activityUpdates(
  subject: TenantSubject,
  events: readonly PublishedEvent[],
  outcomes: readonly AppendOutcome[],
  updatedAt: string,
): ActivityUpdate[] {
  const updates: ActivityUpdate[] = [];
  events.forEach((event, i) => {
    const outcome = outcomes[i];
    if (!outcome || !('seq' in outcome) || outcome.duplicate || !isStatusEventType(event.type)) return;
    updates.push(activityUpdate(subject, (event.data as { status: string }).status, outcome.seq, updatedAt));
  });
  return updates;
}
