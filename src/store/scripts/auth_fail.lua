-- SPDX-License-Identifier: MIT
-- auth_fail: ARGV username, window_ms.  Counts a failed login for the
-- username (known or not) in a window that starts with the first failure.
-- Returns the auth_read shape, with the new count.
local u, window = ARGV[1], ARGV[2]
local k = user_key(u, 'login-fails')
if redis.call('INCR', k) == 1 then
	redis.call('PEXPIRE', k, window)
end
return auth_state(u, '', 0)
