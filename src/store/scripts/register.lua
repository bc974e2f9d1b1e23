-- SPDX-License-Identifier: MIT
-- register: ARGV username, role ("regular" or "admin").  Returns the role.
local u, role = ARGV[1], ARGV[2]
if redis.call('HSETNX', P .. 'users', u, role) == 0 then
	return fail('ALREADY_EXISTS', 'User ' .. u .. ' already exists')
end
return role
