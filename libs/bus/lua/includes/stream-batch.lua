--[[
Frames of consecutive seqs, stored and published together: each is the stream entry `0-<seq>`
(f: the frame, x: 1 for a subject's terminal event), and all of them go out as one pub/sub message.
]]
--- @include "stored-frame"
local function addStreamEntry(streamKey, seq, frame, terminal)
  redis.call('XADD', streamKey, '0-' .. seq, 'f', frame, 'x', terminal and '1' or '0')
end

local function publishBatch(channel, firstSeq, lastSeq, terminal, frames)
  redis.call('SPUBLISH', channel, encodeBatchMessage(firstSeq, lastSeq, terminal, frames))
end
