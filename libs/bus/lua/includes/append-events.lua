--[[
One subject's batch of events, appended in one atomic step: idempotency by eventId, the state-machine
check, seq assignment, XADD, trimming (the history, and the ids of what it trims from the idempotency
index), expiry after a terminal event, and one SPUBLISH of the finished frames. All or none: if any
event breaks the state machine, nothing is written. append-4.lua runs it alone (its slot in Redis
Cluster); append-and-record-9.lua runs it with the tenant's record on a single Redis.

appendEvents(keys, a):
keys: meta (hash), stream (entries 0-<seq>: f frame, x terminal, i eventId), ids (hash eventId -> seq
      of every retained event), steps (hash stepIndex -> status)
a:    channel, kind, maxlen, ttl (seconds), idleTtl (seconds; 0: none), epochCandidate, publishedAt,
      storeBy (epoch ms, or nil for no deadline), known ('' or '<epoch>:<seq>': the last seq the
      caller saw stored in that epoch), count, and the events in argv after argv[base]: per
      event eventId, type, status,
      attempt, stepIndex, jsonHead, jsonTail; onNewSubject (optional): called when the subject has no
      history, before anything is written, and its answer (if any) is answered instead of storing.
Returns reply, statusChanges. reply is {outcomes, state}. outcomes, per event: {STORED, seq},
{DUPLICATE, seq}, or {REFUSED, rule, current, requested[, expectedAttempt]}; when one is refused
nothing is written and the caller answers the others not stored. state, for the tenant's record of
the subject: {} when the subject has no history, else {epoch, lastSeq, storedAt, terminal (0|1),
statusSeq, status, statusAt, liveUntil, archived}, the status being the last status event stored
before this call ('' for a subject this call created), liveUntil the epoch ms its unfinished history
now expires when this call renewed that expiry, else '', archived '1' for a subject whose history was
archived (finish-archive-4.lua), which its tenant's record leaves alone, else ''. statusChanges: the
status events this call stored, {seq, status} in seq order.
reply is the error `DEADLINE_PASSED <ms late>`, with nothing stored, when Redis runs the script after
storeBy (by its own clock), and `PUBLISH_DENIED <channel>`, with nothing stored, when the Redis user
may not publish on the channel (publishDenied).
]]
--- @include "append-reply"
--- @include "state-machines"
--- @include "redis-clock"
--- @include "stream-batch"

--[[
The trim keeps the stream at the seqs after lastSeq - maxlen (exactly maxlen entries, unless a store
that lost events left a hole: see lostTail), and the idempotency index with it: the eventId of each
entry that leaves the history (its `i` field) leaves `ids`. So `ids` holds the retained events' ids
only, and a subject's memory is bounded by its history, not by every event it ever stored. After an
append up to lastSeq the entries that leave are those of seqs up to lastSeq - maxlen: the stored
ones are read by id before the append (no XLEN, and no read at all while lastSeq <= maxlen), and
the append's last XADD trims them (MINID, by seq as they were read), with no XTRIM.
storedIdsUpTo returns the eventIds of the stored entries of seqs up to lastLeaving.
]]
local function storedIdsUpTo(streamKey, lastLeaving)
  local ids = {}
  if lastLeaving < 1 then return ids end
  for _, entry in ipairs(redis.call('XRANGE', streamKey, '-', '0-' .. string.format('%d', lastLeaving))) do
    local fields = entry[2]
    for f = 1, #fields - 1, 2 do
      if fields[f] == 'i' then ids[#ids + 1] = fields[f + 1] end
    end
  end
  return ids
end

-- unpack has a stack limit: a history cut short at once (a lower maxlen) leaves in slices.
local HDEL_AT_MOST = 1000
local function deleteIds(idsKey, ids)
  for first = 1, #ids, HDEL_AT_MOST do
    redis.call('HDEL', idsKey, unpack(ids, first, math.min(first + HDEL_AT_MOST - 1, #ids)))
  end
end

--[[
An unfinished subject lives idleTtl after its last append, and at most a tenth more: its keys' expiry
is renewed only once a tenth of it has passed (PTTL under idleTtl), so most appends set none, and
whenever the append created a key (the steps hash: the first step of a pack run). Returns the epoch
ms the subject now expires when it renewed it (for the tenant's record), else ''.
]]
local function idleSpanMs(idleTtl)
  local idleMs = idleTtl * 1000
  return idleMs + math.floor(idleMs / 10)
end

local function renewIdleExpiry(keys, idleTtl, createdSteps)
  local metaKey = keys.meta
  if redis.call('PTTL', metaKey) >= idleTtl * 1000 and not createdSteps then return '' end
  local spanMs = idleSpanMs(idleTtl)
  for _, key in ipairs({ metaKey, keys.stream, keys.ids, keys.steps }) do redis.call('PEXPIRE', key, spanMs) end
  return redis.call('PEXPIRETIME', metaKey)
end

--[[
A subject stored before stream entries held their eventId still has, in `ids`, the ids of events
trimmed since. While `ids` holds more ids than the stream has entries, each append sweeps a slice of
it (HSCAN, its cursor kept in meta as `ic`) and drops the ids of seqs before the history's first.
A subject stored since never sweeps: its `ids` holds exactly the stream's ids. Two O(1) lengths
(one when the append trimmed: the stream then holds `retained` entries).
]]
local SWEEP_COUNT = 200
local function sweepOldIds(metaKey, streamKey, idsKey, lastSeq, retained)
  local held = redis.call('HLEN', idsKey)
  retained = retained or redis.call('XLEN', streamKey)
  if held <= retained then return end
  local firstRetained = lastSeq - retained + 1
  local reply = redis.call('HSCAN', idsKey, redis.call('HGET', metaKey, 'ic') or '0', 'COUNT', SWEEP_COUNT)
  local found, gone = reply[2], {}
  for f = 1, #found - 1, 2 do
    if tonumber(found[f + 1]) < firstRetained then gone[#gone + 1] = found[f] end
  end
  if #gone > 0 then redis.call('HDEL', idsKey, unpack(gone)) end
  redis.call('HSET', metaKey, 'ic', reply[1])
end

-- The error to answer when the Redis user's ACL does not let it publish on one of the channels, else
-- nil. Asked before anything is written: a SPUBLISH refused after the XADD would fail the script
-- with the events stored, where its 503 says nothing was.
local function publishDenied(channels)
  for _, channel in ipairs(channels) do
    if not redis.acl_check_cmd('SPUBLISH', channel, '') then return redis.error_reply(PUBLISH_DENIED .. ' ' .. channel) end
  end
  return nil
end

local function appendEvents(keys, a)
  local metaKey, streamKey, idsKey, stepsKey = keys.meta, keys.stream, keys.ids, keys.steps
  local kind, publishedAt, count, argv = a.kind, a.publishedAt, a.count, a.argv
  local FIELDS, BASE = 7, a.base

  -- A script Redis gets to only after a stall: the publisher has answered 503 by now, so it must not store.
  if a.storeBy then
    local late = nowMs() - a.storeBy
    if late > 0 then return redis.error_reply(DEADLINE_PASSED .. ' ' .. late), {} end
  end
  -- (append-and-record-9.lua asked already, before its quota's admission wrote anything.)
  local denied = not a.channelChecked and publishDenied({ a.channel })
  if denied then return denied, {} end

  local meta = redis.call('HMGET', metaKey, 'e', 's', 'st', 'a', 'x', 'u', 'ls', 'lu', 'ar', 'ti')
  if not meta[1] and a.onNewSubject then
    local instead = a.onNewSubject()
    if instead then return instead, {} end
  end
  local epoch = meta[1] or a.epochCandidate
  local seq = tonumber(meta[2]) or 0
  -- lostTail: the store lost events it had stored and answered (Redis restarted from an older
  -- snapshot, or a replica was promoted before it had them), and the caller saw a later seq of this
  -- epoch stored. New events follow that seq, so none gets a seq that clients may hold for another
  -- event: the seqs lost are a hole in the history, which readers are told of as a gap.
  local storedSeq = seq
  local knownEpoch, knownSeq = string.match(a.known or '', '^(%x+):(%d+)$')
  if meta[1] and knownEpoch == meta[1] and tonumber(knownSeq) > seq then seq = tonumber(knownSeq) end
  local status = meta[3] or nil
  local attempt = tonumber(meta[4]) or 0
  local statusSeq, statusAt = meta[7] or '', meta[8] or ''

  -- What the tenant's record needs: the subject as it stands, with its last status before this call.
  local archived = meta[9] == '1'
  local function stateAfter(lastSeq, storedAt, terminal, liveUntil)
    return { epoch, lastSeq, storedAt, terminal and '1' or '0', statusSeq, meta[3] or '', statusAt, liveUntil, archived and '1' or '' }
  end
  local function unchangedState()
    if not meta[1] then return {} end
    return stateAfter(storedSeq, meta[6] or '', meta[5] == '1', '')
  end

  -- Each step's status as read (stepRead) and as this call leaves it (stepStatus); only changes are written.
  local stepStatus, stepRead = {}, {}
  local function currentStep(index)
    local known = stepStatus[index]
    if known == nil then
      known = redis.call('HGET', stepsKey, index) or ''
      stepStatus[index] = known
      stepRead[index] = known
    end
    return known
  end

  -- The caller words the refusal (refusalReason in @fanout/contracts).
  local function refuse(rule, current, requested, expectedAttempt)
    return { REFUSED, rule, current or 'none', requested, expectedAttempt }
  end

  local function checkStatus(requested, givenAttempt)
    local machine = stateMachines()[kind]
    local allowed
    if status == nil then allowed = machine.first else allowed = machine.next[status] or {} end
    if not allowed[requested] then
      if status == nil then return refuse(RULE.first_status, nil, requested) end
      return refuse(RULE.status_transition, status, requested)
    end
    if kind ~= 'job' then return nil end
    local given = tonumber(givenAttempt)
    if status == nil then return nil, given or 1 end
    local isRetry = status == RETRY_FROM and requested == RETRY_TO
    local expected = attempt
    if isRetry then expected = attempt + 1 end
    if isRetry and given ~= expected then return refuse(RULE.retry_attempt, status, requested, expected) end
    if not isRetry and given ~= nil and given ~= expected then return refuse(RULE.attempt, status, requested, expected) end
    return nil, expected
  end

  -- The pack run's steps (HLEN, read when a new step would start), counting those this call starts.
  local stepCount
  local function checkStep(index, requested)
    local current = currentStep(index)
    if current == '' then
      if not stepMachine().first[requested] then return refuse(RULE.step_first, nil, requested) end
      stepCount = stepCount or redis.call('HLEN', stepsKey)
      if stepCount >= MAX_STEPS then return refuse(RULE.step_limit, nil, requested) end
      return nil
    end
    local allowed = stepMachine().next[current]
    if allowed == nil then return refuse(RULE.step_finished, current, requested) end
    if allowed[requested] then return nil end
    return refuse(RULE.step_transition, current, requested)
  end

  local results, plan = {}, {}
  local seenInBatch = {}
  local refused = false
  local nextSeq = seq
  for i = 1, count do
    local b = BASE + (i - 1) * FIELDS
    local eventId, etype, reqStatus, reqAttempt, stepIndex = argv[b + 1], argv[b + 2], argv[b + 3], argv[b + 4], argv[b + 5]
    -- Once archived, `ids` may be gone with the history: the terminal event's id is kept in meta.
    local duplicateOf = seenInBatch[eventId] or redis.call('HGET', idsKey, eventId) or (archived and eventId == meta[10] and meta[2])
    if duplicateOf then
      results[i] = { DUPLICATE, tonumber(duplicateOf) }
    else
      local requested = reqStatus ~= '' and reqStatus or etype
      local err, resolvedAttempt
      if status ~= nil and TERMINAL[status] then
        err = refuse(RULE.subject_terminal, status, requested)
      elseif STATUS_TYPES[etype] then
        err, resolvedAttempt = checkStatus(reqStatus, reqAttempt)
      elseif status == nil then
        err = refuse(RULE.status_event_first, nil, requested)
      elseif etype == 'pack_run.step' then
        err = checkStep(stepIndex, reqStatus)
      elseif etype == 'pack_run.log' then
        local current = currentStep(stepIndex)
        if current ~= '' and stepMachine().next[current] == nil then err = refuse(RULE.step_finished, current, etype) end
      end
      if err then
        refused = true
        results[i] = err
      else
        nextSeq = nextSeq + 1
        seenInBatch[eventId] = nextSeq
        local terminal = false
        if STATUS_TYPES[etype] then
          status = reqStatus
          terminal = TERMINAL[reqStatus] == true
          if resolvedAttempt then attempt = resolvedAttempt end
        elseif etype == 'pack_run.step' then
          if stepStatus[stepIndex] == '' then stepCount = stepCount + 1 end
          stepStatus[stepIndex] = reqStatus
        end
        results[i] = { STORED, nextSeq }
        plan[i] = { seq = nextSeq, attempt = etype == 'job.status' and attempt or nil, terminal = terminal }
      end
    end
  end

  if refused or nextSeq == seq then return { results, unchangedState() }, {} end

  local maxlen = a.maxlen
  local lastLeaving = nextSeq - maxlen
  local leaving = storedIdsUpTo(streamKey, lastLeaving)
  -- Trimming when stored entries leave, or this batch's own first ones (a batch longer than maxlen).
  local trims = #leaving > 0 or seq + 1 <= lastLeaving
  local trimFrom = trims and '0-' .. string.format('%d', lastLeaving + 1) or nil
  local frames, statusChanges = {}, {}
  local firstSeq, firstSeqText, lastSeqText, isTerminal = nil, nil, nil, false
  local lastStatusSeq, lastStatusAt = statusSeq, statusAt
  for i = 1, count do
    local p = plan[i]
    if p then
      local b = BASE + (i - 1) * FIELDS
      local eventId, etype = argv[b + 1], argv[b + 2]
      -- %d: Lua writes other numbers with 14 significant digits, which would change a large attempt;
      -- and the seq is written once, for the frame, the entry id, ids and the batch's header.
      local seqText = string.format('%d', p.seq)
      local frame = storedEventFrame(epoch, p.seq, seqText, etype, argv[b + 6], p.attempt and string.format('%d', p.attempt) or '', argv[b + 7], publishedAt)
      addStreamEntry(streamKey, seqText, frame, p.terminal, eventId, trimFrom and p.seq == nextSeq and 'MINID' or nil, trimFrom)
      redis.call('HSET', idsKey, eventId, seqText)
      if p.seq <= lastLeaving then leaving[#leaving + 1] = eventId end
      frames[#frames + 1] = frame
      firstSeq, firstSeqText, lastSeqText = firstSeq or p.seq, firstSeqText or seqText, seqText
      isTerminal = isTerminal or p.terminal
      if STATUS_TYPES[etype] then
        lastStatusSeq, lastStatusAt = p.seq, publishedAt
        statusChanges[#statusChanges + 1] = { seq = p.seq, status = argv[b + 3] }
      end
    end
  end
  deleteIds(idsKey, leaving)
  sweepOldIds(metaKey, streamKey, idsKey, nextSeq, trims and maxlen or nil)
  -- The meta fields whose value this call changed (every one, for a new subject), in this order.
  local metaUpdate = { metaKey }
  local function setMeta(field, value, stored)
    if value ~= stored then
      metaUpdate[#metaUpdate + 1] = field
      metaUpdate[#metaUpdate + 1] = value
    end
  end
  setMeta('e', epoch, meta[1])
  setMeta('s', nextSeq, nil)
  setMeta('st', status, meta[3])
  setMeta('a', string.format('%d', attempt), meta[4])
  setMeta('u', publishedAt, meta[6])
  setMeta('x', isTerminal and '1' or '0', meta[5])
  setMeta('ls', lastStatusSeq, meta[7])
  setMeta('lu', lastStatusAt, meta[8])
  redis.call('HSET', unpack(metaUpdate))
  local createdSteps = false
  for index, stepState in pairs(stepStatus) do
    if stepState ~= stepRead[index] then
      -- HSET answers 1 for a new field; the hash is new when it held no other.
      if redis.call('HSET', stepsKey, index, stepState) == 1 and redis.call('HLEN', stepsKey) == 1 then createdSteps = true end
    end
  end
  local liveUntil = ''
  if isTerminal then
    for _, key in ipairs({ metaKey, streamKey, idsKey, stepsKey }) do redis.call('EXPIRE', key, a.ttl) end
  elseif a.idleTtl > 0 then
    liveUntil = renewIdleExpiry(keys, a.idleTtl, createdSteps)
  end
  publishBatch(a.channel, firstSeqText, lastSeqText, isTerminal, frames)
  return { results, stateAfter(nextSeq, publishedAt, isTerminal, liveUntil) }, statusChanges
end
