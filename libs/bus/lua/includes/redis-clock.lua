--[[
Redis's own clock in epoch milliseconds: every caller's script judges time by the same clock. Read
once per script call (TIME), so the parts of one atomic step (the deadline, a quota's admission, the
record) judge it at the same instant, for one redis.call.
]]
local clockMs = nil
local function nowMs()
  if clockMs == nil then
    local time = redis.call('TIME')
    clockMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  end
  return clockMs
end
