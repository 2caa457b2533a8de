#!lua
--[[
A subject's batch of events and its tenant's record in one atomic step, for a single Redis (a
standalone server; a Sentinel-managed master would be one too), where the subject's and the tenant's
keys are on one node: the quota's admission of a new subject (admitSubject), the append (appendEvents), and the
record (recordSubject) with the activity's subject.updated data built here as the TypeScript of the
two-script path builds it (activityUpdateJson). Redis Cluster, where those keys are on two slots, runs
admit-subject-1.lua, append-4.lua and record-subject-5.lua instead; this script answers as they do.

Declared with a shebang and no flags: over maxmemory Redis refuses it before it runs, so nothing is
stored; a script that started under it completes, append and record together.

KEYS: meta, stream, ids, steps (the subject's: see appendEvents); recent, live, recorded, activity
      meta, activity stream (the tenant's: see recordSubject)
ARGV: channel, kind, maxlen, ttlSeconds, epochCandidate, publishedAt, storeBy (epoch ms, or '' for no
      deadline), activityChannel, activityEpochCandidate, member (kind:id), subjectJson
      ({"kind":…,"id":…}), maxSubjects (0: no quota), reservationMs, eventCount, publishedAtMs
      (publishedAt in epoch ms, as isoTimeMs writes it), idleTtlSeconds (0: none), known (see
      appendEvents), activityKnown (see recordSubject), then per event: eventId, type, status,
      attempt, stepIndex, jsonHead, jsonTail
Returns appendEvents' reply with the record's answer added, {outcomes, state, activity}, {OVER_QUOTA, msUntilAnEntryLapses} when a new subject
is refused for its tenant's quota (nothing stored), or the error `DEADLINE_PASSED <ms late>` or
`PUBLISH_DENIED <channel>` with nothing stored.
]]
--- @include "append-events"
--- @include "admit-subject"
--- @include "release-reservation"
--- @include "record-subject"
--- @include "activity-update"

local subjectKeys = { meta = KEYS[1], stream = KEYS[2], ids = KEYS[3], steps = KEYS[4] }
local tenantKeys = { recent = KEYS[5], live = KEYS[6], recorded = KEYS[7], activityMeta = KEYS[8], activityStream = KEYS[9] }
local maxlen, ttl, publishedAt = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[6]
local member, subjectJson = ARGV[10], ARGV[11]
local maxSubjects = tonumber(ARGV[12])

-- Before the quota's admission writes anything (appendEvents asks again for the subject's channel).
local denied = publishDenied({ ARGV[1], ARGV[8] })
if denied then return denied end

local reservedUntil = ''
local overQuota = false
local function admitNewSubject()
  local admission = admitSubject(tenantKeys.live, member, maxSubjects, tonumber(ARGV[13]))
  if admission[1] == 0 then
    overQuota = true
    return { OVER_QUOTA, admission[2] }
  end
  reservedUntil = admission[2]
end

local reply, statusChanges = appendEvents(subjectKeys, {
  channel = ARGV[1],
  kind = ARGV[2],
  maxlen = maxlen,
  ttl = ttl,
  idleTtl = tonumber(ARGV[16]),
  epochCandidate = ARGV[5],
  publishedAt = publishedAt,
  storeBy = tonumber(ARGV[7]),
  known = ARGV[17],
  count = tonumber(ARGV[14]),
  argv = ARGV,
  base = 18,
  onNewSubject = maxSubjects > 0 and admitNewSubject or nil,
  channelChecked = true,
})
if reply.err or overQuota then return reply end

local epoch, lastSeq, storedAt, terminal, statusSeq, status, statusAt, liveUntil, archived = unpack(reply[2])
if epoch == nil or archived == '1' then
  -- The subject has no history: nothing to record, and a reservation made for it no longer counts.
  -- An archived one: its tenant's keys let it go when its history went.
  if reservedUntil ~= '' then releaseReservation(tenantKeys.live, member, reservedUntil) end
  return reply
end

-- What the two-script path records: the status before this call (which makes a failed record
-- repairable), then each status event this call stored; the JSON of those the record appends.
local updates = {}
if statusSeq ~= '' then updates[1] = { tonumber(statusSeq), status, statusAt } end
for _, change in ipairs(statusChanges) do
  updates[#updates + 1] = { change.seq, change.status, publishedAt }
end
local function updateJson(update)
  return activityUpdateJson(subjectJson, update[2], update[1], update[3])
end
reply[3] = recordSubject(tenantKeys, {
  channel = ARGV[8],
  maxlen = maxlen,
  epochCandidate = ARGV[9],
  ttlMs = ttl * 1000,
  member = member,
  epoch = epoch,
  lastSeq = lastSeq,
  terminal = terminal == '1',
  storedAt = storedAt,
  storedAtMs = storedAt == publishedAt and ARGV[15] or nil,
  liveUntilMs = tonumber(liveUntil),
  idleSpanMs = idleSpanMs(tonumber(ARGV[16])),
  activityKnown = ARGV[18],
}, updates, updateJson)
return reply
