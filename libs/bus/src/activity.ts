import { PublishedEvent, TenantSubject, isStatusEventType } from '@fanout/contracts';
import { AppendOutcome } from './bus';
import { luaString } from './lua-literals';

/** One status change, as the activity stream records it. */
export interface ActivityUpdate {
  subjectSeq: number;
  /** The `subject.updated` data: {subject, status, seq, updatedAt}. */
  json: string;
}

/*
 * The `subject.updated` data is JSON.stringify({subject: {kind, id}, status, seq, updatedAt}), written
 * here from these pieces so that the Lua scripts that build it inside Redis (the `activity-update`
 * include) write the same bytes with the same pieces.
 */
const SUBJECT_FIELD = '{"subject":';
const STATUS_FIELD = ',"status":';
const SEQ_FIELD = ',"seq":';
const UPDATED_AT_FIELD = ',"updatedAt":';
const UPDATE_END = '}';

/** The `subject` of a subject's `subject.updated` data: `{"kind":…,"id":…}`. */
export function activitySubjectJson(subject: { kind: string; id: string }): string {
  return JSON.stringify({ kind: subject.kind, id: subject.id });
}

export function activityUpdate(subject: TenantSubject, status: string, seq: number, updatedAt: string): ActivityUpdate {
  const json = `${SUBJECT_FIELD}${activitySubjectJson(subject)}${STATUS_FIELD}${JSON.stringify(status)}${SEQ_FIELD}${seq}${UPDATED_AT_FIELD}${JSON.stringify(updatedAt)}${UPDATE_END}`;
  return { subjectSeq: seq, json };
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

/**
 * {@link activityUpdate} as the Lua function `activityUpdateJson(subjectJson, status, seq, updatedAt)`
 * (subjectJson from {@link activitySubjectJson}): the `activity-update` include.
 */
export function activityUpdateLua(): string {
  return `--- @include "json-string"
local function activityUpdateJson(subjectJson, status, seq, updatedAt)
  return ${luaString(SUBJECT_FIELD)} .. subjectJson .. ${luaString(STATUS_FIELD)} .. jsonString(status) .. ${luaString(SEQ_FIELD)} .. string.format('%d', tonumber(seq))
    .. ${luaString(UPDATED_AT_FIELD)} .. jsonString(updatedAt) .. ${luaString(UPDATE_END)}
end`;
}
