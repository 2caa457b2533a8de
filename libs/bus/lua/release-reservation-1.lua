#!lua flags=allow-oom
--[[
Drops a new subject's reservation (admit-subject-1.lua) when its first append stored nothing, unless
the entry changed since (another append of the subject recorded it, or reserved it again).
allow-oom: it only deletes.

KEYS: live
ARGV: member, reservedUntil
Returns 1 when the reservation was dropped, else 0.
]]
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
