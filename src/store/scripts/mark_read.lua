-- SPDX-License-Identifier: MIT
-- mark_read: ARGV username, up_to_id, presence TTL ms.  Marks every message
-- delivered to the user with an id up to up_to_id and not yet read as read
-- now (read_ms), publishes one READ event per message on message_read (the
-- relay sends it to receipts/<sender>), and drops them from the user's
-- unread set.  Reading is the user's activity, as sending is for a sender:
-- a live session's deadline moves to now + TTL.  Returns {unread count,
-- messages marked by this call}.
--
-- Only messages in the unread set are touched, and each leaves it here, so
-- a message is marked, and its READ published, once: a repeated call, or
-- one with a lower id, finds nothing to do.
local u, upto, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
if not user_exists(u) then
	return no_such_user(u)
end
local unread = user_key(u, 'unread')
local ids = redis.call('ZRANGEBYSCORE', unread, '-inf', upto)
local now = now_ms()
for _, id in ipairs(ids) do
	local key = P .. 'msg:' .. id
	redis.call('HSET', key, 'read_ms', now)
	redis.call('PUBLISH', 'message_read', cjson.encode({type = 'READ', time_ms = now,
		username = redis.call('HGET', key, 'sender'), recipient = u,
		message_id = tonumber(id)}))
end
if #ids > 0 then
	redis.call('ZREMRANGEBYSCORE', unread, '-inf', upto)
end
active(u, now, ttl)
return {redis.call('ZCARD', unread), #ids}
