-- SPDX-License-Identifier: MIT
-- logout: ARGV username, journal_max, and "again" when logging out while
-- offline is allowed (sessions).  Returns the LOGOUT event's sequence.
local u, jmax, again = ARGV[1], ARGV[2], ARGV[3] == 'again'
if not user_exists(u) then
	return no_such_user(u)
end
if redis.call('ZREM', P .. 'online', u) == 0 and not again then
	return fail('FAILED_PRECONDITION', 'User ' .. u .. " isn't logged in.")
end
return journal({type = 'LOGOUT', time_ms = now_ms(), username = u, text = 'LOGOUT: ' .. u}, jmax)
