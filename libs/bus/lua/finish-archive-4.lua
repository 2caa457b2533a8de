#!lua
--[[
A subject's history was written to the archive: marks it archived (`ar` in meta) and deletes its keys
(keepSeconds 0) or lets them expire within keepSeconds. Only the history that was archived: a subject
whose epoch or last seq differs (started again since) is left alone.
KEYS: meta, stream, ids, steps. ARGV: epoch, lastSeq, keepSeconds.
Returns 1 when it applied, 0 when the subject is not the archived one.
]]
local meta = redis.call('HMGET', KEYS[1], 'e', 's')
if meta[1] ~= ARGV[1] or meta[2] ~= ARGV[2] then return 0 end
local keep = tonumber(ARGV[3])
if keep == 0 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
  return 1
end
redis.call('HSET', KEYS[1], 'ar', '1')
for _, key in ipairs(KEYS) do
  local ttl = redis.call('TTL', key)
  if ttl < 0 or ttl > keep then redis.call('EXPIRE', key, keep) end
end
return 1
