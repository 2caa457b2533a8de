#!lua flags=no-writes
--[[
Reads a subject's place in one step: its meta hash and the first retained seq. no-writes: it
runs when Redis is over maxmemory too, so streams and history are served from a full Redis.
A subject archived whose history has left Redis (only its meta is kept, see finish-archive-4.lua) is
unknown here: its readers ask the archive.
KEYS: meta, stream. Returns {} for an unknown subject, else {epoch, lastSeq, firstSeq, status, terminal, updatedAt}.
]]
local meta = redis.call('HMGET', KEYS[1], 'e', 's', 'st', 'x', 'u', 'ar')
if not meta[1] then return {} end
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if meta[6] == '1' and not first[1] then return {} end
local lastSeq = tonumber(meta[2])
local firstSeq = lastSeq + 1
if first[1] then firstSeq = tonumber(string.match(first[1][1], '%-(%d+)$')) end
return { meta[1], lastSeq, firstSeq, meta[3], meta[4], meta[5] }
