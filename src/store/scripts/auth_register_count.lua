-- SPDX-License-Identifier: MIT
-- auth_register_count: ARGV window_ms.  Counts one registration attempt in
-- a window that starts with the first.  Returns the auth_read shape with
-- the count in the window as its last element.
local k = P .. 'register-count'
local n = redis.call('INCR', k)
if n == 1 then
	redis.call('PEXPIRE', k, ARGV[1])
end
return {0, "", 0, 0, 0, n}
