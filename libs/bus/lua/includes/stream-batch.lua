--[[
Frames of consecutive seqs, stored and published together: each is the stream entry `0-<seq>`
(f: the frame, x: 1 for a subject's terminal event, and i: a subject's event's eventId, so the
trim knows which ids leave the idempotency index), and all of them go out as one pub/sub message.
]]
--- @include "stored-frame"
-- seq: a number, or its text (string.format('%d')). With trimBy ('MAXLEN' or 'MINID') and trimTo,
-- the XADD then trims the stream exactly (as XTRIM would): to trimTo entries, or to the entries from
-- the id trimTo on.
local function addStreamEntry(streamKey, seq, frame, terminal, eventId, trimBy, trimTo)
  local id, x = '0-' .. seq, terminal and '1' or '0'
  if trimBy then
    if eventId then return redis.call('XADD', streamKey, trimBy, trimTo, id, 'f', frame, 'x', x, 'i', eventId) end
    return redis.call('XADD', streamKey, trimBy, trimTo, id, 'f', frame, 'x', x)
  end
  if eventId then return redis.call('XADD', streamKey, id, 'f', frame, 'x', x, 'i', eventId) end
  return redis.call('XADD', streamKey, id, 'f', frame, 'x', x)
end

local function publishBatch(channel, firstSeq, lastSeq, terminal, frames)
  redis.call('SPUBLISH', channel, encodeBatchMessage(firstSeq, lastSeq, terminal, frames))
end
