-- The revocations whose time has passed leave both keys.
local function dropExpiredRevocations(all, expiry, now)
  local expired = redis.call('ZRANGEBYSCORE', expiry, '-inf', now)
  if #expired == 0 then return end
  -- In slices: unpack has a limit on how many values it returns.
  for from = 1, #expired, 1000 do
    redis.call('HDEL', all, unpack(expired, from, math.min(from + 999, #expired)))
  end
  redis.call('ZREMRANGEBYSCORE', expiry, '-inf', now)
end

-- The hash and the index expire with the last active revocation (at once when none is left). The
-- version outlives them: see bumpRevocationsVersion.
local function keepUntilLastExpires(all, expiry)
  local last = redis.call('ZRANGE', expiry, -1, -1, 'WITHSCORES')
  if #last == 0 then
    redis.call('DEL', all, expiry)
    return
  end
  redis.call('PEXPIREAT', all, last[2])
  redis.call('PEXPIREAT', expiry, last[2])
end

-- The version is `<epoch>:<count>`: the count goes up with every change. It lives until the last
-- revocation it was bumped for would expire (lifted or not), so a replica holding any revocation
-- that still counts never sees a version it loaded before; one that starts again after that (it
-- expired, or Redis lost its data) does under a new random epoch.
local function bumpRevocationsVersion(version, epochCandidate, lastsUntilMs)
  local epoch, count = epochCandidate, 0
  local stamp = redis.call('GET', version)
  if stamp then
    local storedEpoch, storedCount = string.match(stamp, '^(.*):(%d+)$')
    if storedEpoch then epoch, count = storedEpoch, tonumber(storedCount) end
  end
  -- Absolute, so that keeping the later of two expiries keeps it to the millisecond (SPUBLISH needs Redis 7 already).
  local lastsUntil = redis.call('PEXPIRETIME', version)
  redis.call('SET', version, epoch .. ':' .. (count + 1))
  redis.call('PEXPIREAT', version, math.max(lastsUntil, lastsUntilMs))
end
