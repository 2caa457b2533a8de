--[[
Appends subject status changes to a tenant's activity stream (subject.updated frames) and publishes
them as one batch. An update older than the last one recorded for its subject is skipped, so two
publishers racing on one subject never show its statuses out of order. A terminal status forgets
the subject, so a subject whose history was lost and started again is recorded again.

KEYS: meta, stream, latest (hash member -> subject seq)
ARGV: channel, maxlen, epochCandidate, updatedAt, count, then per update: member, subjectSeq, terminal (0|1), dataJson
Returns the number of frames appended.
]]
local metaKey, streamKey, latestKey = KEYS[1], KEYS[2], KEYS[3]
local channel, maxlen, epochCandidate, updatedAt = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local count = tonumber(ARGV[5])
local FIELDS, BASE = 4, 5

local meta = redis.call('HMGET', metaKey, 'e', 's')
local epoch = meta[1] or epochCandidate
local seq = tonumber(meta[2]) or 0
local firstSeq = seq + 1
local frames = {}
for i = 1, count do
  local b = BASE + (i - 1) * FIELDS
  local member, subjectSeq, terminal, json = ARGV[b + 1], tonumber(ARGV[b + 2]), ARGV[b + 3], ARGV[b + 4]
  local latest = tonumber(redis.call('HGET', latestKey, member) or '0')
  if subjectSeq > latest then
    seq = seq + 1
    local frame = 'id: ' .. epoch .. '-' .. string.format('%010d', seq) .. '\nevent: subject.updated\ndata: ' .. json .. '\n\n'
    redis.call('XADD', streamKey, '0-' .. seq, 'f', frame, 'x', '0')
    if terminal == '1' then
      redis.call('HDEL', latestKey, member)
    else
      redis.call('HSET', latestKey, member, subjectSeq)
    end
    frames[#frames + 1] = frame
  end
end
if #frames == 0 then return 0 end
redis.call('XTRIM', streamKey, 'MAXLEN', maxlen)
redis.call('HSET', metaKey, 'e', epoch, 's', seq, 'st', 'active', 'x', '0', 'u', updatedAt)
redis.call('SPUBLISH', channel, firstSeq .. ' ' .. seq .. ' 0\n' .. table.concat(frames))
return #frames
