import { PublishedEvent, TenantSubject, isStatusEventType, isTerminalStatus } from '@fanout/contracts';
import { AppendOutcome } from './bus';
import { subjectMember } from './keys';

/** One status change, as the activity stream records it. */
export interface ActivityUpdate {
  member: string;
  subjectSeq: number;
  terminal: boolean;
  /** The `subject.updated` data: {subject, status, seq, updatedAt}. */
  json: string;
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
    const status = (event.data as { status: string }).status;
    const json = JSON.stringify({ subject: { kind: subject.kind, id: subject.id }, status, seq: outcome.seq, updatedAt });
    updates.push({ member: subjectMember(subject), subjectSeq: outcome.seq, terminal: isTerminalStatus(status), json });
  });
  return updates;
}
