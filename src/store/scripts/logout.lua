-- SPDX-License-Identifier: MIT
-- logout: ARGV username, journal_max.  Returns the LOGOUT event's sequence.
local u, jmax = ARGV[1], ARGV[2]
if not user_exists(u) then
	return no_such_user(u)
end
if redis.call('ZREM', P .. 'online', u) == 0 then
	return fail('FAILED_PRECONDITION', 'User ' .. u .. " isn't logged in.")
end
return journal({type = 'LOGOUT', time_ms = now_ms(), username = u, text = 'LOGOUT: ' .. u}, jmax)
