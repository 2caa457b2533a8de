#!lua flags=allow-oom
--[[
Records an append of a subject in its tenant's keys (recordSubject), on the tenant's slot: Redis
Cluster's second step, after append-4.lua on the subject's slot. Idempotent, so a record that failed
after its append is repaired by the retry or the subject's next append.

allow-oom: the append this follows is stored already, and what a record adds is bounded (an entry
per live subject, the activity trimmed to maxlen), so it completes over maxmemory too, as a script
that started under it would.

KEYS: recent, live, recorded, activity meta, activity stream (see recordSubject)
ARGV: channel, maxlen, activityEpochCandidate, ttlMs, member, epoch, lastSeq, terminal (0|1),
      storedAt, storedAtMs, liveUntilMs ('' for none), idleSpanMs, count, activityKnown, then per
      status change in seq order: subjectSeq, dataJson
Returns recordSubject's answer: the activity's '<epoch>:<lastSeq>' when it appended to it, else ''.
]]
--- @include "record-subject"

local FIELDS, BASE = 2, 14
local updates = {}
for i = 1, tonumber(ARGV[13]) do
  local b = BASE + (i - 1) * FIELDS
  updates[i] = { tonumber(ARGV[b + 1]), ARGV[b + 2] }
end
return recordSubject({ recent = KEYS[1], live = KEYS[2], recorded = KEYS[3], activityMeta = KEYS[4], activityStream = KEYS[5] }, {
  channel = ARGV[1],
  maxlen = tonumber(ARGV[2]),
  epochCandidate = ARGV[3],
  ttlMs = tonumber(ARGV[4]),
  member = ARGV[5],
  epoch = ARGV[6],
  lastSeq = tonumber(ARGV[7]),
  terminal = ARGV[8] == '1',
  storedAt = ARGV[9],
  storedAtMs = ARGV[10],
  liveUntilMs = tonumber(ARGV[11]),
  idleSpanMs = tonumber(ARGV[12]),
  activityKnown = ARGV[14],
}, updates)
