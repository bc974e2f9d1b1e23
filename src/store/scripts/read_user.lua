-- SPDX-License-Identifier: MIT
-- read_user: ARGV username.  Returns {role, online (0 or 1), last_seen_ms,
-- created_ms}; the times are 0 when unknown (never seen; registered before
-- registration times were kept, or from the users file).
local P = 'pigeon:'
local u = ARGV[1]
local role = redis.call('HGET', P .. 'users', u)
if not role then
	return redis.error_reply("NOT_FOUND Couldn't find user with username " .. u)
end
local p = redis.call('HMGET', P .. '{u:' .. u .. '}:profile', 'last_seen_ms', 'created_ms')
local online = redis.call('ZSCORE', P .. 'online', u) and 1 or 0
return {role, online, tonumber(p[1]) or 0, tonumber(p[2]) or 0}
