--[[
Records an append of a subject in its tenant's keys: the recent-subjects index, the live-subjects
index a tenant quota counts, and the activity stream, whose subject.updated frames are published as
one batch. record-subject-5.lua runs it after append-4.lua (the tenant's slot, apart from the
subject's in Redis Cluster); append-and-record-9.lua runs it in the append's own step.

Idempotent: the tenant keeps what it recorded of each subject (its epoch and last seq), and a call
that brings nothing newer changes nothing. So an append whose record failed is recorded by its
retry, or by the subject's next append, never twice and never out of order: racing publishers
cannot show a subject's statuses backwards, and a subject whose history was lost and started again
(a new epoch) is recorded again. Each call also drops a few subjects whose history has expired, and
the tenant's keys expire with the last of its subjects (keepTenantKeys).

recordSubject(keys, r, updates[, dataJsonOf]):
keys:    recent (zset member -> ms of its last append), live (zset member -> ms its history expires,
         after its terminal event or idle; inf with no idle expiry until its terminal event), recorded (hash member -> 'epoch lastSeq'), activityMeta,
         activityStream
r:       channel (the activity's), maxlen, epochCandidate (the activity's), ttlMs, member, epoch,
         lastSeq, terminal (boolean), storedAt, storedAtMs (nil: read from storedAt, only if needed),
         liveUntilMs (nil, unless the append renewed the unfinished subject's idle expiry: then when
         its history expires if idle), idleSpanMs (0: no idle expiry; else the longest an unfinished
         subject's history lives after its last append), activityKnown ('' or '<epoch>:<seq>': the
         activity's last seq the caller saw stored in that epoch; see appendEvents' lostTail)
updates: per status change in seq order, {subjectSeq, dataJson}, or {subjectSeq, ...} with
         dataJsonOf(update) answering its dataJson: called only for the changes it appends
Returns the activity's '<epoch>:<lastSeq>' when this call appended to it, else ''.
]]
--- @include "redis-clock"
--- @include "stream-batch"
--- @include "iso-time"

local PRUNE_AT_MOST = 32

local function updateDataJson(update) return update[2] end

--[[
A tenant's keys live as long as its longest-lived subject may: until the highest score of its live
index (the last of its subjects to lapse), or for ever while one has no end (+inf). Set whenever the
live index or the activity changed, so a key this call created has it too.
]]
local function keepTenantKeys(keys)
  local last = redis.call('ZRANGE', keys.live, -1, -1, 'WITHSCORES')[2]
  for _, key in ipairs({ keys.recent, keys.live, keys.recorded, keys.activityMeta, keys.activityStream }) do
    if last == nil or last == 'inf' then
      redis.call('PERSIST', key)
    else
      redis.call('PEXPIREAT', key, string.format('%d', tonumber(last)))
    end
  end
end

local function recordSubject(keys, r, updates, dataJsonOf)
  local recentKey, liveKey, recordedKey = keys.recent, keys.live, keys.recorded
  local now = nowMs()

  local lapsed = redis.call('ZRANGEBYSCORE', liveKey, '-inf', now, 'LIMIT', 0, PRUNE_AT_MOST)
  if #lapsed > 0 then
    redis.call('ZREM', liveKey, unpack(lapsed))
    redis.call('ZREM', recentKey, unpack(lapsed))
    redis.call('HDEL', recordedKey, unpack(lapsed))
  end

  local recordedUpTo = 0
  local recorded = redis.call('HGET', recordedKey, r.member)
  if recorded then
    local epoch, seq = string.match(recorded, '^(%S+) (%d+)$')
    if epoch == r.epoch then recordedUpTo = tonumber(seq) end
  end
  if r.lastSeq <= recordedUpTo then return '' end

  -- Appends the changes not recorded yet (subjectSeq past recordedUpTo) to the activity, as one batch.
  local function appendActivity()
    local first = nil
    for i = 1, #updates do
      if updates[i][1] > recordedUpTo then
        first = i
        break
      end
    end
    if not first then return '' end
    local meta = redis.call('HMGET', keys.activityMeta, 'e', 's')
    local epoch = meta[1] or r.epochCandidate
    local seq = tonumber(meta[2]) or 0
    -- A store that lost the activity's last frames (as appendEvents' lostTail): new ones follow them.
    local knownEpoch, knownSeq = string.match(r.activityKnown or '', '^(%x+):(%d+)$')
    if meta[1] and knownEpoch == meta[1] and tonumber(knownSeq) > seq then seq = tonumber(knownSeq) end
    local firstSeq = seq + 1
    local frames = {}
    -- Only past maxlen can the activity hold more than maxlen frames, and the last XADD then trims
    -- it (MAXLEN: by count, which a hole left by lost seqs does not upset).
    local lastSeq = seq + #updates - first + 1
    local trimTo = lastSeq > r.maxlen and r.maxlen or nil
    for i = first, #updates do
      seq = seq + 1
      local frame = activityFrame(epoch, seq, (dataJsonOf or updateDataJson)(updates[i]))
      addStreamEntry(keys.activityStream, seq, frame, false, nil, seq == lastSeq and trimTo and 'MAXLEN' or nil, trimTo)
      frames[#frames + 1] = frame
    end
    redis.call('HSET', keys.activityMeta, 'e', epoch, 's', seq, 'st', 'active', 'x', '0', 'u', r.storedAt)
    publishBatch(r.channel, firstSeq, seq, false, frames)
    return epoch .. ':' .. string.format('%d', seq)
  end

  -- A subject recorded in this epoch is live already (+inf, or until it expires idle) unless this
  -- record is its terminal one or renews its idle expiry: the live entry goes only with the recorded
  -- one (the prune, recentSubjects), and after a recorded terminal event no append stores anything more.
  -- A first record without the expiry (the record of its renewal failed) counts the subject until the
  -- latest it can expire, never less.
  local liveChanged = true
  if r.terminal then
    redis.call('ZADD', liveKey, now + r.ttlMs, r.member)
  elseif r.liveUntilMs then
    redis.call('ZADD', liveKey, r.liveUntilMs, r.member)
  elseif recordedUpTo == 0 then
    redis.call('ZADD', liveKey, r.idleSpanMs > 0 and (now + r.idleSpanMs) or '+inf', r.member)
  else
    liveChanged = false
  end
  redis.call('ZADD', recentKey, 'GT', r.storedAtMs or isoTimeMs(r.storedAt), r.member)
  local appended = appendActivity()
  -- Last: a call that failed before this is redone whole by the next one.
  redis.call('HSET', recordedKey, r.member, r.epoch .. ' ' .. r.lastSeq)
  if liveChanged or appended ~= '' then keepTenantKeys(keys) end
  return appended
end
