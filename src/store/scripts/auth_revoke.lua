-- SPDX-License-Identifier: MIT
-- auth_revoke: ARGV username, session, expires_ms, now_ms.  Revokes one
-- session's token until it would have expired anyway; entries past their
-- expiry are dropped, and the set itself expires with its latest entry.
-- Publishes the user's name on pigeon:auth, so that every pigeond drops
-- what it cached of sign-ins.  Returns the auth_read shape.
local u, session, expires, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local k = user_key(u, 'revoked')
redis.call('ZADD', k, expires, session)
redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
local last = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')
if last[2] ~= nil then
	redis.call('PEXPIREAT', k, last[2])
end
redis.call('PUBLISH', 'pigeon:auth', u)
return auth_state(u, session, now)
