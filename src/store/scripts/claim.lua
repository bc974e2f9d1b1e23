-- SPDX-License-Identifier: MIT
-- claim: ARGV message id, content fingerprint, rate window s, flood window s.
-- Moves an enqueued message to being_spam_checked (a message already being
-- checked stays so: a redelivery) and counts the sender's recent activity,
-- this message included.  Returns {state, sent_in_window, flood_recipients};
-- any state but being_spam_checked means there is nothing to check.
local id, fp = ARGV[1], ARGV[2]
local rate_w, flood_w = tonumber(ARGV[3]), tonumber(ARGV[4])
local key = P .. 'msg:' .. id
local m = redis.call('HMGET', key, 'state', 'sender', 'recipient')
local state, s, r = m[1], m[2], m[3]
if not state then
	return {'missing', 0, 0}
end
if state == 'enqueued' then
	redis.call('HSET', key, 'state', 'being_spam_checked')
	count_move(s, 'enqueued', 'being_spam_checked')
	state = 'being_spam_checked'
elseif state ~= 'being_spam_checked' then
	return {state, 0, 0}
end
local now = now_ms()
local sent, flood = 0, 0
if rate_w > 0 then
	local k = P .. 'spam:rate:' .. s
	redis.call('ZADD', k, 'NX', now, id)
	redis.call('ZREMRANGEBYSCORE', k, '-inf', '(' .. (now - rate_w * 1000))
	sent = redis.call('ZCARD', k)
	redis.call('PEXPIRE', k, rate_w * 1000)
end
if flood_w > 0 then
	local k = P .. 'spam:flood:' .. s .. ':' .. fp
	redis.call('ZADD', k, now, r)
	redis.call('ZREMRANGEBYSCORE', k, '-inf', '(' .. (now - flood_w * 1000))
	flood = redis.call('ZCARD', k)
	redis.call('PEXPIRE', k, flood_w * 1000)
end
return {state, sent, flood}
