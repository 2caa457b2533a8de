--[[
Redis's own clock in epoch milliseconds: every caller's script judges time by the same clock.
]]
local function nowMs()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
