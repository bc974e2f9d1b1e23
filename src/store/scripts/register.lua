-- SPDX-License-Identifier: MIT
-- register: ARGV username, role ("regular" or "admin"), password hash (""
-- for none: --auth open).  Returns the role.
local u, role, pw = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HSETNX', P .. 'users', u, role) == 0 then
	return fail('ALREADY_EXISTS', 'User ' .. u .. ' already exists')
end
if pw ~= '' then
	redis.call('HSET', auth_key(u, 'auth'), 'pw', pw)
end
return role
