#!lua
--[[
Stores a revocation until it expires and announces it to every replica (addRevocation), unless
maxActive revocations are active already. Expired ones are dropped first, and the keys live until
the last active revocation expires (the version until the last one added would), so what is kept is
bounded by maxActive and by time. The version changes with it, so a replica that missed the
announcement reloads.

KEYS: all (hash id -> revocation JSON), expiry (zset id -> ms it expires), version (see bumpRevocationsVersion)
ARGV: id, revocation JSON, expiresAtMs, maxActive, channel, announcement JSON, versionEpochCandidate,
      storeBy (epoch ms: the caller has given up by then)
Returns 1 stored, 0 refused (maxActive active), or the error `DEADLINE_PASSED <ms late>`, with nothing
changed, when Redis runs it after storeBy (by its own clock): the admin was answered 503 by then.
]]
--- @include "append-reply"
--- @include "redis-clock"
--- @include "revocations"

local now = nowMs()
if now > tonumber(ARGV[8]) then return redis.error_reply(DEADLINE_PASSED .. ' ' .. (now - tonumber(ARGV[8]))) end
dropExpiredRevocations(KEYS[1], KEYS[2], now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
bumpRevocationsVersion(KEYS[3], ARGV[7], tonumber(ARGV[3]))
keepUntilLastExpires(KEYS[1], KEYS[2])
redis.call('SPUBLISH', ARGV[5], ARGV[6])
return 1
