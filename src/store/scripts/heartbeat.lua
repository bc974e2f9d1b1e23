-- SPDX-License-Identifier: MIT
-- heartbeat: ARGV username, journal_max, presence TTL ms.  Keeps the user's
-- live session alive: its deadline moves to now + TTL.  A user listed online
-- without a deadline (logged in before sessions had one) gets one.  A session
-- whose deadline has passed is ended here if no sweep has ended it yet
-- (LOGOUT, reason expired), and not renewed.  Either way the user was seen
-- now.  Returns {1, new deadline} for a live session, {0, 0} otherwise.
local u, jmax, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
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
redis.call('ZADD', DEADLINES, now + ttl, u)
return {1, now + ttl}
