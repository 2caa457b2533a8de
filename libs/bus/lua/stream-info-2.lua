#!lua flags=no-writes
--[[
Reads a subject's place in one step: its meta hash and the first retained seq. no-writes: it
runs when Redis is over maxmemory too, so streams and history are served from a full Redis.
KEYS: meta, stream. Returns {} for an unknown subject, else {epoch, lastSeq, firstSeq, status, terminal, updatedAt}.
]]
local meta = redis.call('HMGET', KEYS[1], 'e', 's', 'st', 'x', 'u')
if not meta[1] then return {} end
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local lastSeq = tonumber(meta[2])
local firstSeq = lastSeq + 1
if first[1] then firstSeq = tonumber(string.match(first[1][1], '%-(%d+)$')) end
return { meta[1], lastSeq, firstSeq, meta[3], meta[4], meta[5] }
