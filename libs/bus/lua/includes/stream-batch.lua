--[[
Frames of consecutive seqs, stored and published together: each is the stream entry `0-<seq>`
(f: the frame, x: 1 for a subject's terminal event, and i: a subject's event's eventId, so the
trim knows which ids leave the idempotency index), and all of them go out as one pub/sub message.
]]
--- @include "stored-frame"
local function addStreamEntry(streamKey, seq, frame, terminal, eventId)
  if eventId then
    redis.call('XADD', streamKey, '0-' .. seq, 'f', frame, 'x', terminal and '1' or '0', 'i', eventId)
  else
    redis.call('XADD', streamKey, '0-' .. seq, 'f', frame, 'x', terminal and '1' or '0')
  end
end

local function publishBatch(channel, firstSeq, lastSeq, terminal, frames)
  redis.call('SPUBLISH', channel, encodeBatchMessage(firstSeq, lastSeq, terminal, frames))
end
