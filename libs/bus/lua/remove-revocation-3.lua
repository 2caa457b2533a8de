#!lua flags=allow-oom
--[[
Lifts a revocation and announces it to every replica (removeRevocation); the version changes with
it, so a replica that missed the announcement reloads.

KEYS: all (hash id -> revocation JSON), expiry (zset id -> ms it expires), version (see bumpRevocationsVersion)
ARGV: id, channel, announcement JSON, versionEpochCandidate
Returns 1 lifted, 0 when no active revocation has that id.
]]
--- @include "redis-clock"
--- @include "revocations"

dropExpiredRevocations(KEYS[1], KEYS[2], nowMs())
local expiresAtMs = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not expiresAtMs then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
bumpRevocationsVersion(KEYS[3], ARGV[4], tonumber(expiresAtMs))
keepUntilLastExpires(KEYS[1], KEYS[2])
redis.call('SPUBLISH', ARGV[2], ARGV[3])
return 1
