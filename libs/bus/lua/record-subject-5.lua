#!lua flags=allow-oom
--[[
Records an append of a subject in its tenant's keys (the tenant's slot, apart from the subject's in
Redis Cluster): the recent-subjects index, the live-subjects index a tenant quota counts, and the
activity stream, whose subject.updated frames are published as one batch.

Idempotent: the tenant keeps what it recorded of each subject (its epoch and last seq), and a call
that brings nothing newer changes nothing. So an append whose record failed is recorded by its
retry, or by the subject's next append, never twice and never out of order: racing publishers
cannot show a subject's statuses backwards, and a subject whose history was lost and started again
(a new epoch) is recorded again.

allow-oom: the append this follows is stored already, and what a record adds is bounded (an entry
per live subject, the activity trimmed to maxlen), so it completes over maxmemory too, as a script
that started under it would. Each call also drops a few subjects whose history has expired.

KEYS: recent (zset member -> ms of its last append), live (zset member -> ms its history expires,
      inf until its terminal event), recorded (hash member -> 'epoch lastSeq'),
      activity meta, activity stream
ARGV: channel, maxlen, activityEpochCandidate, ttlMs, member, epoch, lastSeq, terminal (0|1),
      storedAt, storedAtMs, count, then per status change in seq order: subjectSeq, dataJson
Returns the number of activity frames appended.
]]
--- @include "redis-clock"
--- @include "stream-batch"

local recentKey, liveKey, recordedKey, metaKey, streamKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local channel, maxlen, epochCandidate, ttlMs = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local member, subjectEpoch, lastSeq, terminal = ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8] == '1'
local storedAt, storedAtMs, count = ARGV[9], ARGV[10], tonumber(ARGV[11])
local FIELDS, BASE, PRUNE_AT_MOST = 2, 11, 32

local now = nowMs()

local lapsed = redis.call('ZRANGEBYSCORE', liveKey, '-inf', now, 'LIMIT', 0, PRUNE_AT_MOST)
if #lapsed > 0 then
  redis.call('ZREM', liveKey, unpack(lapsed))
  redis.call('ZREM', recentKey, unpack(lapsed))
  redis.call('HDEL', recordedKey, unpack(lapsed))
end

local recordedUpTo = 0
local recorded = redis.call('HGET', recordedKey, member)
if recorded then
  local epoch, seq = string.match(recorded, '^(%S+) (%d+)$')
  if epoch == subjectEpoch then recordedUpTo = tonumber(seq) end
end
if lastSeq <= recordedUpTo then return 0 end

-- Appends the changes not recorded yet (subjectSeq past recordedUpTo) to the activity, as one batch.
local function appendActivity()
  local first = nil
  for i = 1, count do
    if tonumber(ARGV[BASE + (i - 1) * FIELDS + 1]) > recordedUpTo then
      first = i
      break
    end
  end
  if not first then return 0 end
  local meta = redis.call('HMGET', metaKey, 'e', 's')
  local epoch = meta[1] or epochCandidate
  local seq = tonumber(meta[2]) or 0
  local firstSeq = seq + 1
  local frames = {}
  for i = first, count do
    seq = seq + 1
    local frame = activityFrame(epoch, seq, ARGV[BASE + (i - 1) * FIELDS + 2])
    addStreamEntry(streamKey, seq, frame, false)
    frames[#frames + 1] = frame
  end
  redis.call('XTRIM', streamKey, 'MAXLEN', maxlen)
  redis.call('HSET', metaKey, 'e', epoch, 's', seq, 'st', 'active', 'x', '0', 'u', storedAt)
  publishBatch(channel, firstSeq, seq, false, frames)
  return #frames
end

redis.call('ZADD', liveKey, terminal and (now + ttlMs) or '+inf', member)
redis.call('ZADD', recentKey, 'GT', storedAtMs, member)
local appended = appendActivity()
-- Last: a call that failed before this is redone whole by the next one.
redis.call('HSET', recordedKey, member, subjectEpoch .. ' ' .. lastSeq)
return appended
