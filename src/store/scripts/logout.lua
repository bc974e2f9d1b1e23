-- SPDX-License-Identifier: MIT
-- logout: ARGV username, journal_max, "again" when logging out while
-- offline is allowed (sessions), and the session's id ('' for all of the
-- user's).  Ends the session: a user who still has another live session
-- stays online, with the latest of their deadlines; otherwise no longer
-- listed online, no deadline.  Journals LOGOUT either way.  Returns the
-- LOGOUT event's sequence.  FAILED_PRECONDITION writes nothing.
local u, jmax, again, sid = ARGV[1], ARGV[2], ARGV[3] == 'again', ARGV[4] or ''
if not user_exists(u) then
	return no_such_user(u)
end
local now = now_ms()
local sessions = user_key(u, 'sessions')
local left
if sid ~= '' then
	redis.call('ZREM', sessions, sid)
	redis.call('ZREMRANGEBYSCORE', sessions, '-inf', now)
	left = redis.call('ZRANGE', sessions, -1, -1, 'WITHSCORES')[2]
end
if left then
	redis.call('ZADD', DEADLINES, left, u)
else
	if redis.call('ZREM', ONLINE, u) == 0 and not again then
		return fail('FAILED_PRECONDITION', 'User ' .. u .. " isn't logged in.")
	end
	redis.call('ZREM', DEADLINES, u)
	redis.call('DEL', sessions)
end
seen(u, now)
return journal({type = 'LOGOUT', time_ms = now, username = u, text = 'LOGOUT: ' .. u}, jmax)
