-- SPDX-License-Identifier: MIT
-- claim: ARGV message id, content fingerprint, rate window s, flood window s.
-- Moves an enqueued message to being_spam_checked (a message already being
-- checked stays so: a redelivery) and counts the sender's recent activity,
-- this message included.  Returns {state, sent_in_window, flood_recipients};
-- any state but being_spam_checked means there is nothing to check.
--
-- Rate: pigeon:spam:rate:<sender> holds the sender's message ids scored by
-- their first claim time, so a redelivered message is not counted twice.
-- Flood: pigeon:spam:flood:<sender>:<fingerprint> holds the recipients scored
-- by their latest time.  Both count with ZCOUNT over the window; entries
-- older than the window are trimmed on one claim in eight (by message id),
-- and the key expires one window after its last use.
local id, fp = ARGV[1], ARGV[2]
local rate_w, flood_w = tonumber(ARGV[3]) * 1000, tonumber(ARGV[4]) * 1000
local key = P .. 'msg:' .. id
local m = redis.call('HMGET', key, 'state', 'sender', 'recipient')
local state, s, r = m[1], m[2], m[3]
if not state then
	return {'missing', 0, 0}
end
if state == 'enqueued' then
	redis.call('HSET', key, 'state', 'being_spam_checked')
	count(s, 'checked', 1)
	state = 'being_spam_checked'
elseif state ~= 'being_spam_checked' then
	return {state, 0, 0}
end
local now = now_ms()
local trim = tonumber(id) % 8 == 0
local sent, flood = 0, 0
if rate_w > 0 then
	local k = P .. 'spam:rate:' .. s
	redis.call('ZADD', k, 'NX', now, id)
	sent = redis.call('ZCOUNT', k, now - rate_w, '+inf')
	if trim then
		redis.call('ZREMRANGEBYSCORE', k, '-inf', '(' .. (now - rate_w))
	end
	redis.call('PEXPIRE', k, rate_w)
end
if flood_w > 0 then
	local k = P .. 'spam:flood:' .. s .. ':' .. fp
	redis.call('ZADD', k, now, r)
	flood = redis.call('ZCOUNT', k, now - flood_w, '+inf')
	if trim then
		redis.call('ZREMRANGEBYSCORE', k, '-inf', '(' .. (now - flood_w))
	end
	redis.call('PEXPIRE', k, flood_w)
end
return {state, sent, flood}
