-- SPDX-License-Identifier: MIT
-- heartbeat: ARGV username, journal_max, presence TTL ms, and a session's id
-- ('' for the user's session as a whole).  Keeps the user's live session
-- alive: its deadline moves to now + TTL.  A user listed online without a
-- deadline (logged in before sessions had one) gets one.  A session whose
-- deadline has passed is ended here if no sweep has ended it yet (LOGOUT,
-- reason expired), and not renewed; so is, silently, one of several sessions
-- whose own deadline passed, or that ended (logged out) while the user kept
-- others.  Either way the user was seen now.  Returns {1, new deadline} for
-- a live session, {0, 0} otherwise.
local u, jmax, ttl, sid = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4] or ''
if not user_exists(u) then
	return no_such_user(u)
end
local now = now_ms()
local d = deadline(u)
seen(u, now)
if d and d <= now then
	expire(u, now, jmax)
	return {0, 0}
end
if not d and not redis.call('ZSCORE', ONLINE, u) then
	return {0, 0}
end
if sid ~= '' then
	-- A user who logged in before sessions were kept has no set: the user's
	-- deadline is the session's.
	local sessions = user_key(u, 'sessions')
	local own = redis.call('ZSCORE', sessions, sid)
	if own and tonumber(own) <= now then
		return {0, 0}
	end
	if not own and redis.call('EXISTS', sessions) == 1 then
		return {0, 0}
	end
	if own then
		redis.call('ZADD', sessions, now + ttl, sid)
	end
end
redis.call('ZADD', DEADLINES, now + ttl, u)
return {1, now + ttl}
