#!lua flags=allow-oom
--[[
Lifts a revocation and announces it to every replica (removeRevocation).

KEYS: all (hash id -> revocation JSON), expiry (zset id -> ms it expires)
ARGV: id, channel, announcement JSON
Returns 1 lifted, 0 when no active revocation has that id.
]]
--- @include "redis-clock"
--- @include "revocations"

dropExpiredRevocations(KEYS[1], KEYS[2], nowMs())
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
keepUntilLastExpires(KEYS[1], KEYS[2])
redis.call('SPUBLISH', ARGV[2], ARGV[3])
return 1
