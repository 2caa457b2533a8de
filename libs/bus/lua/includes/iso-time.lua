--[[
An ISO 8601 time as JavaScript's toISOString writes it (`2026-11-27T10:00:00.000Z`, UTC) in epoch
milliseconds, as Date.parse reads it, written as an integer: a days-from-civil count of the proleptic
Gregorian calendar (Howard Hinnant's algorithm).
]]
local function isoTimeMs(text)
  local y, mo, d, h, mi, s, ms = string.match(text, '^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)%.(%d%d%d)Z$')
  if not y then error('not an ISO 8601 time in UTC with milliseconds: ' .. text) end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yearOfEra = y - era * 400
  local dayOfYear = math.floor((153 * (mo > 2 and mo - 3 or mo + 9) + 2) / 5) + d - 1
  local dayOfEra = yearOfEra * 365 + math.floor(yearOfEra / 4) - math.floor(yearOfEra / 100) + dayOfYear
  local days = era * 146097 + dayOfEra - 719468
  return string.format('%d', ((days * 24 + tonumber(h)) * 60 + tonumber(mi)) * 60000 + tonumber(s) * 1000 + tonumber(ms))
end
