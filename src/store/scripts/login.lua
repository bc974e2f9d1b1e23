-- SPDX-License-Identifier: MIT
-- login: ARGV username, journal_max, presence TTL ms, "again" when logging
-- in while online is allowed (sessions), and the new session's id ('' for
-- none).  Opens (or, again, refreshes) the user's session: listed online,
-- deadline now + TTL; with a session id, that session's own deadline too.
-- Returns the LOGIN event's sequence.  ALREADY_EXISTS writes nothing.
local u, jmax, ttl, again, sid = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4] == 'again',
	ARGV[5] or ''
if not user_exists(u) then
	return no_such_user(u)
end
local now = now_ms()
-- A session past its deadline that no sweep has ended yet ends here, so that
-- this login opens a new one and the journal says so in order.
local d = deadline(u)
if d and d <= now then
	expire(u, now, jmax)
end
if redis.call('ZADD', ONLINE, 'NX', 0, u) == 0 and not again then
	return fail('ALREADY_EXISTS', 'User ' .. u .. ' is already logged in.')
end
if sid ~= '' then
	local sessions = user_key(u, 'sessions')
	redis.call('ZREMRANGEBYSCORE', sessions, '-inf', now)
	redis.call('ZADD', sessions, now + ttl, sid)
end
redis.call('ZADD', DEADLINES, now + ttl, u)
seen(u, now)
return journal({type = 'LOGIN', time_ms = now, username = u, text = 'LOGIN: ' .. u}, jmax)
