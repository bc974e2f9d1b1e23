-- SPDX-License-Identifier: MIT
-- send: ARGV sender, recipient, content, idempotency key ('' for none).
-- Returns {id, sender, recipient, content, state, created_ms, duplicate}.
local s, r, c, key = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if not user_exists(s) then
	return no_such_user(s)
end
if not user_exists(r) then
	return no_such_user(r)
end
local idem
if key ~= '' then
	idem = P .. 'idem:' .. s .. ':' .. key
	local first = redis.call('GET', idem)
	if first then
		local m = redis.call('HMGET', P .. 'msg:' .. first,
			'sender', 'recipient', 'content', 'state', 'created_ms')
		-- A ':' in a username can make two senders' keys collide; only
		-- the sender who stored the key gets the duplicate answer.
		if m[1] == s then
			return {tonumber(first), m[1], m[2], m[3], m[4], tonumber(m[5]), 1}
		end
		idem = nil
	end
end
local id = redis.call('INCR', P .. 'msg:seq')
local now = now_ms()
redis.call('HSET', P .. 'msg:' .. id, 'sender', s, 'recipient', r, 'content', c,
	'state', 'enqueued', 'created_ms', now)
count_move(s, nil, 'enqueued')
if idem then
	redis.call('SET', idem, id, 'EX', 86400)
end
redis.call('XADD', P .. 'queue', '*', 'id', id, 'sender', s, 'recipient', r, 'content', c)
redis.call('PUBLISH', 'message_queue', cjson.encode({type = 'QUEUED', time_ms = now,
	username = s, recipient = r, message_id = id}))
return {id, s, r, c, 'enqueued', now, 0}
