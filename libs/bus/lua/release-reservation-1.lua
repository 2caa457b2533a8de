#!lua flags=allow-oom
--[[
Drops a new subject's reservation when its first append stored nothing (releaseReservation), on the
tenant's slot: Redis Cluster's step after an append that admit-subject-1.lua admitted.
allow-oom: it only deletes.

KEYS: live
ARGV: member, reservedUntil
Returns 1 when the reservation was dropped, else 0.
]]
--- @include "release-reservation"

return releaseReservation(KEYS[1], ARGV[1], ARGV[2])
