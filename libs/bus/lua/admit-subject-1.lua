#!lua
--[[
Admits a new subject under its tenant's quota (admitSubject), on the tenant's slot: Redis Cluster's
step before the append of a subject that has no history yet.

KEYS: live (zset member -> ms its history expires, inf until its terminal event)
ARGV: member, maxSubjects, reservationMs
Returns {1, reservedUntil} admitted, or {0, msUntilAnEntryLapses} refused (see admitSubject).
]]
--- @include "admit-subject"

return admitSubject(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
