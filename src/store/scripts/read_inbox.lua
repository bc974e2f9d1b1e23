-- SPDX-License-Identifier: MIT
-- read_inbox: ARGV username, cursor (last id seen, 0 for none), count.
-- Returns up to count messages {id, sender, recipient, content, state,
-- created_ms} with ids above the cursor, oldest first.
local P = 'pigeon:'
local u, cursor, n = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HEXISTS', P .. 'users', u) == 0 then
	return redis.error_reply("NOT_FOUND Couldn't find user with username " .. u)
end
local ids = redis.call('ZRANGEBYSCORE', P .. 'inbox:' .. u, '(' .. cursor, '+inf', 'LIMIT', 0, n)
local out = {}
for _, id in ipairs(ids) do
	local m = redis.call('HMGET', P .. 'msg:' .. id,
		'sender', 'recipient', 'content', 'state', 'created_ms')
	out[#out + 1] = {tonumber(id), m[1], m[2], m[3], m[4], tonumber(m[5])}
end
return out
