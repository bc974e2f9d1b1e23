-- SPDX-License-Identifier: MIT
-- login: ARGV username, journal_max, and "again" when logging in while
-- online is allowed (sessions).  Returns the LOGIN event's sequence.
local u, jmax, again = ARGV[1], ARGV[2], ARGV[3] == 'again'
if not user_exists(u) then
	return no_such_user(u)
end
if redis.call('ZADD', P .. 'online', 'NX', 0, u) == 0 and not again then
	return fail('ALREADY_EXISTS', 'User ' .. u .. ' is already logged in.')
end
return journal({type = 'LOGIN', time_ms = now_ms(), username = u, text = 'LOGIN: ' .. u}, jmax)
