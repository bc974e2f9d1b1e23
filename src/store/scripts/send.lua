-- SPDX-License-Identifier: MIT
-- send: ARGV sender, recipient, content, idempotency key ('' for none),
-- presence TTL ms.  Returns {id, sender, recipient, content, state,
-- created_ms, duplicate}.  Sending is the sender's activity: their live
-- session's deadline moves to now + TTL, in this script rather than another
-- round trip (a session past its deadline is left to the sweep).
local s, r, c, key, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
if not user_exists(s) then
	return no_such_user(s)
end
if not user_exists(r) then
	return no_such_user(r)
end
-- The sender's length goes first, so a ':' in a username or a key cannot
-- make two (sender, key) pairs share a name.
local idem
if key ~= '' then
	idem = P .. 'idem:' .. #s .. ':' .. s .. ':' .. key
	local first = redis.call('GET', idem)
	if first then
		local m = redis.call('HMGET', P .. 'msg:' .. first,
			'sender', 'recipient', 'content', 'state', 'created_ms')
		return {tonumber(first), m[1], m[2], m[3], m[4], tonumber(m[5]), 1}
	end
end
local id = redis.call('INCR', P .. 'msg:seq')
local now = now_ms()
redis.call('HSET', P .. 'msg:' .. id, 'sender', s, 'recipient', r, 'content', c,
	'state', 'enqueued', 'created_ms', now)
count(s, 'sent', 1)
active(s, now, ttl)
if idem then
	redis.call('SET', idem, id, 'EX', 86400)
end
redis.call('XADD', P .. 'queue', '*', 'id', id, 'sender', s, 'recipient', r, 'content', c)
redis.call('PUBLISH', 'message_queue', cjson.encode({type = 'QUEUED', time_ms = now,
	username = s, recipient = r, message_id = id}))
return {id, s, r, c, 'enqueued', now, 0}
