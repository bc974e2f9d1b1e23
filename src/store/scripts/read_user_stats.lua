-- SPDX-License-Identifier: MIT
-- read_user_stats: ARGV username.  Returns {enqueued, being_spam_checked,
-- delivered, marked_as_spam, dead_letter, unread}: the first five derived
-- from the sender's cumulative counters (enqueued = sent - checked,
-- being_spam_checked = checked - delivered - marked_as_spam - dead_letter),
-- unread the number of messages delivered to the user and not yet read.
local P = 'pigeon:'
local u = ARGV[1]
if redis.call('HEXISTS', P .. 'users', u) == 0 then
	return redis.error_reply("NOT_FOUND Couldn't find user with username " .. u)
end
local v = redis.call('HMGET', P .. 'stats:' .. u,
	'sent', 'checked', 'delivered', 'marked_as_spam', 'dead_letter')
for i = 1, 5 do
	v[i] = tonumber(v[i]) or 0
end
return {v[1] - v[2], v[2] - v[3] - v[4] - v[5], v[3], v[4], v[5],
	redis.call('ZCARD', P .. '{u:' .. u .. '}:unread')}
