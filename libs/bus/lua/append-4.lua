#!lua
--[[
Atomically appends a batch of one subject's events (appendEvents: duplicates, the state machine, seq,
XADD, trimming, expiry, one SPUBLISH), on the subject's slot. Redis Cluster's append: the tenant's
record follows as record-subject-5.lua on the tenant's slot. Declared with a shebang (no flags), so
Redis over maxmemory refuses it before it runs, never half way.

KEYS: meta, stream, ids, steps (see appendEvents)
ARGV: channel, kind, maxlen, ttlSeconds, epochCandidate, publishedAt, storeBy (epoch ms, or '' for
      no deadline), onlyExisting ('1': store nothing for a subject with no history and answer
      NEW_SUBJECT), eventCount, idleTtlSeconds (0: none), known (see appendEvents), then per event:
      eventId, type, status, attempt, stepIndex, jsonHead, jsonTail
Returns appendEvents' reply {outcomes, state} (state for record-subject-5.lua), NEW_SUBJECT, or the
error `DEADLINE_PASSED <ms late>` or `PUBLISH_DENIED <channel>` with nothing stored.
]]
--- @include "append-events"

local onlyExisting = ARGV[8] == '1'
local reply = appendEvents({ meta = KEYS[1], stream = KEYS[2], ids = KEYS[3], steps = KEYS[4] }, {
  channel = ARGV[1],
  kind = ARGV[2],
  maxlen = tonumber(ARGV[3]),
  ttl = tonumber(ARGV[4]),
  idleTtl = tonumber(ARGV[10]),
  epochCandidate = ARGV[5],
  publishedAt = ARGV[6],
  storeBy = tonumber(ARGV[7]),
  known = ARGV[11],
  count = tonumber(ARGV[9]),
  argv = ARGV,
  base = 11,
  onNewSubject = onlyExisting and function() return NEW_SUBJECT end or nil,
})
return reply
