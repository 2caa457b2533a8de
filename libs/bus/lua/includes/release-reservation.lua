--[[
Drops a new subject's reservation (admitSubject) when its first append stored nothing, unless the
entry changed since (another append of the subject recorded it, or reserved it again).
releaseReservation(liveKey, member, reservedUntil) returns 1 when the reservation was dropped, else 0.
]]
local function releaseReservation(liveKey, member, reservedUntil)
  local score = redis.call('ZSCORE', liveKey, member)
  if score and tonumber(score) == tonumber(reservedUntil) then return redis.call('ZREM', liveKey, member) end
  return 0
end
