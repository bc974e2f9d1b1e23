-- SPDX-License-Identifier: MIT
-- read_user_stats: ARGV username.  Returns {enqueued, being_spam_checked,
-- delivered, marked_as_spam}.
local P = 'pigeon:'
local u = ARGV[1]
if redis.call('HEXISTS', P .. 'users', u) == 0 then
	return redis.error_reply("NOT_FOUND Couldn't find user with username " .. u)
end
local v = redis.call('HMGET', P .. 'stats:' .. u,
	'enqueued', 'being_spam_checked', 'delivered', 'marked_as_spam')
for i = 1, 4 do
	v[i] = tonumber(v[i]) or 0
end
return v
