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

-- Both keys expire with the last active revocation (at once when none is left).
local function keepUntilLastExpires(all, expiry)
  local last = redis.call('ZRANGE', expiry, -1, -1, 'WITHSCORES')
  if #last == 0 then
    redis.call('DEL', all, expiry)
    return
  end
  redis.call('PEXPIREAT', all, last[2])
  redis.call('PEXPIREAT', expiry, last[2])
end
