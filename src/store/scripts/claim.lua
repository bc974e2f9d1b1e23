-- SPDX-License-Identifier: MIT
-- claim: ARGV rate window s, flood window s, then a message id and its
-- content fingerprint for each message of the worker's batch.  Moves each
-- enqueued message to being_spam_checked (a message already being checked
-- stays so: a redelivery) and counts the sender's recent activity, this
-- message included.  Returns {state, sent_in_window, flood_recipients} for
-- each message in turn, flattened; any state but being_spam_checked means
-- there is nothing to check, and 'unreadable' (the message's key is not a
-- hash) leaves the entry pending, to be dead-lettered.
--
-- One script for the whole batch: each message is still checked against its
-- own current state, in the order given, so the result is the one a script
-- per message would give; the sender's counter and the windows' expiry are
-- written once per batch.
--
-- Rate: pigeon:spam:rate:<sender> holds the sender's message ids scored by
-- their first claim time, so a redelivered message is not counted twice.
-- Flood: pigeon:spam:flood:<sender>:<fingerprint> holds the recipients scored
-- by their latest time.  Both count with ZCOUNT over the window; entries
-- older than the window are trimmed on one claim in eight (by message id),
-- and the key expires one window after its last use.
local rate_w, flood_w = tonumber(ARGV[1]) * 1000, tonumber(ARGV[2]) * 1000
local now = now_ms()
local out, checked, expire = {}, {}, {}

-- Adds member to window key k at the time now (with 'NX' kept at its first
-- time), counts the members of the last w ms, trims older ones when asked,
-- and has k expire w after the batch.
local function window(k, nx, member, w, trim)
	if nx then
		redis.call('ZADD', k, 'NX', now, member)
	else
		redis.call('ZADD', k, now, member)
	end
	local n = redis.call('ZCOUNT', k, now - w, '+inf')
	if trim then
		redis.call('ZREMRANGEBYSCORE', k, '-inf', '(' .. (now - w))
	end
	expire[k] = w
	return n
end
for i = 3, #ARGV - 1, 2 do
	local id, fp = ARGV[i], ARGV[i + 1]
	local key = P .. 'msg:' .. id
	local m = redis.pcall('HMGET', key, 'state', 'sender', 'recipient')
	local state, s, r, sent, flood = nil, nil, nil, 0, 0
	if m.err then
		state = 'unreadable'
	else
		state, s, r = m[1] or 'missing', m[2], m[3]
	end
	if state == 'enqueued' then
		redis.call('HSET', key, 'state', 'being_spam_checked')
		checked[s] = (checked[s] or 0) + 1
		state = 'being_spam_checked'
	end
	if state == 'being_spam_checked' then
		local trim = tonumber(id) % 8 == 0
		if rate_w > 0 then
			sent = window(P .. 'spam:rate:' .. s, true, id, rate_w, trim)
		end
		if flood_w > 0 then
			flood = window(P .. 'spam:flood:' .. s .. ':' .. fp, false, r, flood_w, trim)
		end
	end
	out[#out + 1] = state
	out[#out + 1] = sent
	out[#out + 1] = flood
end
for s, n in pairs(checked) do
	count(s, 'checked', n)
end
for k, w in pairs(expire) do
	redis.call('PEXPIRE', k, w)
end
return out
