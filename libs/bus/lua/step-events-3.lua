#!lua flags=no-writes
--[[
One page of a pack run's history read backwards for its steps' latest events (what `?tail=` sends
before the tail, with the latest status event, so a client that starts at the tail knows every step's
status). The caller reads page after page, newest first, keeps the first event it meets of each step,
and stops once it met as many steps as the steps hash holds, or the history's start: a page at a time,
so Redis is never held for more than one page. Read-only (no-writes): served from a full Redis too.

KEYS: meta, stream, steps
ARGV: upper (read entries with seq < upper; '' for from the newest), pageSize
Returns {lastStatusSeq or '', steps in the steps hash, next upper ('' at the history's start),
         then per pack_run.step entry of the page, newest first: seq, stepIndex, frame, terminal}
]]
local upper = ARGV[1]
local pageSize = tonumber(ARGV[2])
local reply = { redis.call('HGET', KEYS[1], 'ls') or '', redis.call('HLEN', KEYS[3]), '' }
local from = '+'
if upper ~= '' then
  if tonumber(upper) <= 1 then return reply end
  from = '(0-' .. upper
end
local page = redis.call('XREVRANGE', KEYS[2], from, '-', 'COUNT', pageSize)
for _, entry in ipairs(page) do
  local fields = entry[2]
  local frame, terminal = '', '0'
  for f = 1, #fields - 1, 2 do
    if fields[f] == 'f' then frame = fields[f + 1] elseif fields[f] == 'x' then terminal = fields[f + 1] end
  end
  if string.find(frame, '\nevent: pack_run.step\n', 1, true) then
    local seq = string.match(entry[1], '%-(%d+)$')
    -- `"stepIndex":` unescaped is only ever the key of data.stepIndex (a string value would escape its quotes).
    local stepIndex = string.match(frame, '"stepIndex":(%d+)')
    reply[#reply + 1] = seq
    reply[#reply + 1] = stepIndex or ''
    reply[#reply + 1] = frame
    reply[#reply + 1] = terminal
  end
end
if #page == pageSize then reply[3] = string.match(page[#page][1], '%-(%d+)$') end
return reply
