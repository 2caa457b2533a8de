#!lua
--[[
Claims finished subjects for one archiver: at most `limit` members of the pending set whose time has
come, each moved past a lease (now + leaseMs), so no other archiver takes it until that lease runs
out (a crashed archiver's subjects come back by themselves).
KEYS: pending. ARGV: leaseMs, limit. Returns the claimed members.
]]
--- @include "redis-clock"

local now = nowMs()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), member) end
return due
