-- SPDX-License-Identifier: MIT
-- finish: ARGV journal_max, then for each message of the worker's batch its
-- id, queue entry id, verdict ("deliver", "spam" or "would_be_spam") and
-- reason.  Moves each message being checked to delivered (into the
-- recipient's inbox, unread) or marked_as_spam and acknowledges its queue
-- entry, and acknowledges the entries of
-- messages already final or gone.  Returns {state, journal sequence or 0}
-- for each message in turn, flattened.
--
-- A message still enqueued (its claim failed, e.g. Redis out of memory) or
-- unreadable (its key is not a hash) is not acknowledged: the entry stays
-- pending and is handed out again, or dead-lettered after too many tries.
--
-- One script for the whole batch: each message is checked against its own
-- current state, so running it again changes nothing; the senders' counters
-- and leaderboard scores are added once per batch and the entries
-- acknowledged with one XACK.
local jmax = ARGV[1]
local now = now_ms()
local out, acks = {}, {}
local delivered, spam = {}, {}
for i = 2, #ARGV - 3, 4 do
	local id, entry, verdict, reason = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
	local key = P .. 'msg:' .. id
	local m = redis.pcall('HMGET', key, 'state', 'sender', 'recipient', 'content')
	local state, seq = 'unreadable', 0
	if not m.err then
		state = m[1] or 'missing'
	end
	if state == 'being_spam_checked' then
		local s, r, c, n = m[2], m[3], m[4], tonumber(id)
		if verdict == 'spam' then
			state = 'marked_as_spam'
			redis.call('HSET', key, 'state', state)
			spam[s] = (spam[s] or 0) + 1
			seq = journal({type = 'SPAM', time_ms = now, username = s, recipient = r,
				message_id = n, reason = reason,
				text = 'SPAM: message with id ' .. id .. ' by ' .. s}, jmax)
		else
			state = 'delivered'
			redis.call('HSET', key, 'state', state)
			delivered[s] = (delivered[s] or 0) + 1
			redis.call('ZADD', P .. 'inbox:' .. r, n, n)
			redis.call('ZADD', user_key(r, 'unread'), n, n)
			if verdict == 'would_be_spam' then
				seq = journal({type = 'WOULD_BE_SPAM', time_ms = now, username = s,
					recipient = r, message_id = n, reason = reason,
					text = 'WOULD_BE_SPAM: message with id ' .. id .. ' by ' .. s}, jmax)
			end
			redis.call('PUBLISH', 'message_delivered', cjson.encode({type = 'DELIVERED',
				time_ms = now, username = s, recipient = r, message_id = n, content = c}))
		end
	end
	if state ~= 'enqueued' and state ~= 'unreadable' then
		acks[#acks + 1] = entry
	end
	out[#out + 1] = state
	out[#out + 1] = seq
end
for s, n in pairs(delivered) do
	count(s, 'delivered', n)
	redis.call('ZINCRBY', P .. 'chatters', -n, s)
end
for s, n in pairs(spam) do
	count(s, 'marked_as_spam', n)
	redis.call('ZINCRBY', P .. 'spammers', -n, s)
end
queue_done(acks)
return out
