#!lua flags=allow-oom
--[[
Lifts a revocation and announces it to every replica (removeRevocation); the version changes with
it, so a replica that missed the announcement reloads.

KEYS: all (hash id -> revocation JSON), expiry (zset id -> ms it expires), version (see bumpRevocationsVersion)
ARGV: id, channel, announcement JSON, versionEpochCandidate, storeBy (epoch ms: the caller has given up by then)
Returns 1 lifted, 0 when no active revocation has that id, or the error `DEADLINE_PASSED <ms late>`, with
nothing changed, when Redis runs it after storeBy (by its own clock): the admin was answered 503 by then.
]]
--- @include "append-reply"
--- @include "redis-clock"
--- @include "revocations"

local now = nowMs()
if now > tonumber(ARGV[5]) then return redis.error_reply(DEADLINE_PASSED .. ' ' .. (now - tonumber(ARGV[5]))) end
dropExpiredRevocations(KEYS[1], KEYS[2], now)
local expiresAtMs = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not expiresAtMs then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
bumpRevocationsVersion(KEYS[3], ARGV[4], tonumber(expiresAtMs))
keepUntilLastExpires(KEYS[1], KEYS[2])
redis.call('SPUBLISH', ARGV[2], ARGV[3])
return 1
