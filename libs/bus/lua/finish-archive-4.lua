#!lua
--[[
A subject's history was written to the archive: deletes its history (keepSeconds 0) or lets it expire
within keepSeconds. Only the history that was archived: a subject whose epoch or last seq differs
(started again since) is left alone.
Its meta hash stays until its own expiry (FANOUT_HISTORY_TTL_S after the terminal event), marked
archived (`ar`) with its terminal event's eventId (`ti`): the append script then refuses new events
as for any finished subject and answers the terminal event re-sent as a duplicate, so a publish does
not start a new history that would shadow the archived one.
KEYS: meta, stream, ids, steps. ARGV: epoch, lastSeq, keepSeconds.
Returns 1 when it applied, 0 when the subject is not the archived one.
]]
local meta = redis.call('HMGET', KEYS[1], 'e', 's')
if meta[1] ~= ARGV[1] or meta[2] ~= ARGV[2] then return 0 end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
local marks = { KEYS[1], 'ar', '1' }
if last then
  local fields = last[2]
  for f = 1, #fields - 1, 2 do
    if fields[f] == 'i' then
      marks[#marks + 1] = 'ti'
      marks[#marks + 1] = fields[f + 1]
    end
  end
end
redis.call('HSET', unpack(marks))
local keep = tonumber(ARGV[3])
if keep == 0 then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
  return 1
end
for k = 2, 4 do
  local ttl = redis.call('TTL', KEYS[k])
  if ttl < 0 or ttl > keep then redis.call('EXPIRE', KEYS[k], keep) end
end
return 1
