-- SPDX-License-Identifier: MIT
-- logout: ARGV username, journal_max, and "again" when logging out while
-- offline is allowed (sessions).  Ends the user's session: no longer listed
-- online, no deadline.  Returns the LOGOUT event's sequence.
-- FAILED_PRECONDITION writes nothing.
local u, jmax, again = ARGV[1], ARGV[2], ARGV[3] == 'again'
if not user_exists(u) then
	return no_such_user(u)
end
if redis.call('ZREM', ONLINE, u) == 0 and not again then
	return fail('FAILED_PRECONDITION', 'User ' .. u .. " isn't logged in.")
end
redis.call('ZREM', DEADLINES, u)
local now = now_ms()
seen(u, now)
return journal({type = 'LOGOUT', time_ms = now, username = u, text = 'LOGOUT: ' .. u}, jmax)
