-- SPDX-License-Identifier: MIT
-- finish: ARGV message id, queue entry id, verdict ("deliver", "spam" or
-- "would_be_spam"), reason, journal_max.  Moves a message being checked to
-- delivered or marked_as_spam, and always acknowledges the queue entry.
-- Returns {state, journal sequence or 0}.
local id, entry, verdict, reason, jmax = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key = P .. 'msg:' .. id
local m = redis.call('HMGET', key, 'state', 'sender', 'recipient', 'content')
local state, s, r, c = m[1], m[2], m[3], m[4]
if state ~= 'being_spam_checked' then
	queue_done(entry)
	return {state or 'missing', 0}
end
local now = now_ms()
local n = tonumber(id)
local seq = 0
if verdict == 'spam' then
	redis.call('HSET', key, 'state', 'marked_as_spam')
	count(s, 'marked_as_spam', 1)
	redis.call('ZINCRBY', P .. 'spammers', -1, s)
	seq = journal({type = 'SPAM', time_ms = now, username = s, recipient = r, message_id = n,
		reason = reason, text = 'SPAM: message with id ' .. id .. ' by ' .. s}, jmax)
	queue_done(entry)
	return {'marked_as_spam', seq}
end
redis.call('HSET', key, 'state', 'delivered')
count(s, 'delivered', 1)
redis.call('ZADD', P .. 'inbox:' .. r, n, n)
redis.call('ZINCRBY', P .. 'chatters', -1, s)
if verdict == 'would_be_spam' then
	seq = journal({type = 'WOULD_BE_SPAM', time_ms = now, username = s, recipient = r,
		message_id = n, reason = reason,
		text = 'WOULD_BE_SPAM: message with id ' .. id .. ' by ' .. s}, jmax)
end
redis.call('PUBLISH', 'message_delivered', cjson.encode({type = 'DELIVERED', time_ms = now,
	username = s, recipient = r, message_id = n, content = c}))
queue_done(entry)
return {'delivered', seq}
