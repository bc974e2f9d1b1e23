-- SPDX-License-Identifier: MIT
-- deadletter: ARGV queue entry id, deliveries, reason, journal_max.  Moves a
-- message that failed too often to the dead-letter stream with a DEAD_LETTER
-- journal event, and acknowledges the queue entry.  Returns {state, sequence or 0}.
local entry, deliveries, reason, jmax = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local e = redis.call('XRANGE', P .. 'queue', entry, entry)
local id
if e[1] then
	local f = e[1][2]
	for i = 1, #f, 2 do
		if f[i] == 'id' then
			id = f[i + 1]
		end
	end
end
if not id then
	queue_done(entry)
	return {'missing', 0}
end
local key = P .. 'msg:' .. id
local m = redis.call('HMGET', key, 'state', 'sender', 'recipient', 'content')
local state, s, r, c = m[1], m[2], m[3], m[4]
if state ~= 'enqueued' and state ~= 'being_spam_checked' then
	queue_done(entry)
	return {state or 'missing', 0}
end
local now = now_ms()
redis.call('HSET', key, 'state', 'dead_letter')
if state == 'enqueued' then
	count(s, 'checked', 1)
end
count(s, 'dead_letter', 1)
redis.call('XADD', P .. 'deadletter', '*', 'id', id, 'sender', s, 'recipient', r,
	'content', c, 'entry', entry, 'deliveries', deliveries, 'reason', reason, 'time_ms', now)
local seq = journal({type = 'DEAD_LETTER', time_ms = now, username = s, recipient = r,
	message_id = tonumber(id), reason = reason,
	text = 'DEAD_LETTER: message with id ' .. id .. ' by ' .. s}, jmax)
queue_done(entry)
return {'dead_letter', seq}
