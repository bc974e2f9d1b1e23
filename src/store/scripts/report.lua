-- SPDX-License-Identifier: MIT
-- report: ARGV username, message id, "spam" or "ham", journal_max, then the
-- message's Bayes tokens (computed by the caller from its content, as
-- read_message gave it).  The recipient says what the message is:
--   spam, while delivered: -> marked_as_spam; out of the inbox and the
--     unread set; the sender's stats delivered -1, marked_as_spam +1;
--     chatters -1, spammers +1; journal SPAM with the reason "reported".
--   ham, while marked_as_spam: -> delivered; into the inbox and the unread
--     set; the same counts back; a DELIVERED event.
-- Then the classifier learns the tokens as that kind, unless it already
-- had (msg's `learned`), unlearning them from the other kind first.  A
-- report of what the message already is changes nothing: the script checks
-- the state and `learned` before each write.  Returns {id, sender,
-- recipient, content, state, created_ms, read_ms, changed}.
local u, id, kind, jmax = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local key = P .. 'msg:' .. id
local m = redis.pcall('HMGET', key, 'sender', 'recipient', 'content', 'state', 'created_ms',
	'read_ms', 'learned')
if m.err or m[2] ~= u then
	return fail('NOT_FOUND', 'No message ' .. id .. ' for ' .. u)
end
local s, c, state, learned = m[1], m[3], m[4], m[7]
if state ~= 'delivered' and state ~= 'marked_as_spam' then
	return fail('FAILED_PRECONDITION', 'Message ' .. id .. ' is ' .. state ..
		', neither delivered nor marked as spam.')
end
local n = tonumber(id)
local want = kind == 'spam' and 'marked_as_spam' or 'delivered'
local changed = 0
-- A leaderboard keeps senders with a count: a score back at 0 leaves it.
local function board(name, by)
	if tonumber(redis.call('ZINCRBY', P .. name, by, s)) >= 0 then
		redis.call('ZREM', P .. name, s)
	end
end
if state ~= want then
	local now = now_ms()
	changed = 1
	state = want
	redis.call('HSET', key, 'state', state)
	if kind == 'spam' then
		redis.call('ZREM', P .. 'inbox:' .. u, n)
		redis.call('ZREM', user_key(u, 'unread'), n)
		count(s, 'delivered', -1)
		count(s, 'marked_as_spam', 1)
		board('chatters', 1)
		board('spammers', -1)
		journal({type = 'SPAM', time_ms = now, username = s, recipient = u, message_id = n,
			reason = 'reported', text = 'SPAM: message with id ' .. id .. ' by ' .. s}, jmax)
	else
		redis.call('ZADD', P .. 'inbox:' .. u, n, n)
		if not m[6] then
			redis.call('ZADD', user_key(u, 'unread'), n, n)
		end
		count(s, 'marked_as_spam', -1)
		count(s, 'delivered', 1)
		board('spammers', 1)
		board('chatters', -1)
		redis.call('PUBLISH', 'message_delivered', cjson.encode({type = 'DELIVERED',
			time_ms = now, username = s, recipient = u, message_id = n, content = c}))
	end
end
if learned ~= kind then
	bayes_learn(kind, learned, ARGV, 5)
	redis.call('HSET', key, 'learned', kind)
end
return {n, s, u, c, state, tonumber(m[5]), tonumber(m[6] or 0), changed}
