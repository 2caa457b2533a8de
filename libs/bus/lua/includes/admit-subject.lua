--[[
Admits a new subject under its tenant's quota: the tenant's live subjects (recorded by recordSubject,
until their history expires) and reservations of subjects being created count. Admitted, a subject
not yet counted is reserved until reservedUntil; its first append's record then makes the entry live
(or releaseReservation drops it, if nothing was stored). Refused, the answer says when the tenant's
soonest entry lapses, if any is due.

admitSubject(liveKey, member, maxSubjects, reservationMs) returns {1, reservedUntil} admitted
(reservedUntil '' when the subject was counted already), or {0, msUntilAnEntryLapses} refused (-1
when every counted subject is still running).
]]
--- @include "redis-clock"

local function admitSubject(liveKey, member, maxSubjects, reservationMs)
  local now = nowMs()
  local counted = '(' .. now

  local score = redis.call('ZSCORE', liveKey, member)
  if score and (score == 'inf' or tonumber(score) > now) then return { 1, '' } end

  if redis.call('ZCOUNT', liveKey, counted, '+inf') >= maxSubjects then
    local soonest = redis.call('ZRANGEBYSCORE', liveKey, counted, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)[2]
    if soonest == nil or soonest == 'inf' then return { 0, -1 } end
    return { 0, math.ceil(tonumber(soonest) - now) }
  end
  local reservedUntil = now + reservationMs
  redis.call('ZADD', liveKey, reservedUntil, member)
  -- The index lives at least as long as the reservation (GT leaves one with no expiry as it is).
  redis.call('PEXPIREAT', liveKey, reservedUntil, 'GT')
  return { 1, string.format('%d', reservedUntil) }
end
