-- SPDX-License-Identifier: MIT
-- register: ARGV username, role ("regular" or "admin"), the username's
-- confusable skeleton (validate_username_skeleton), password hash ("" for
-- none: --auth open).  Returns the role.  A name whose skeleton an existing
-- user already has looks like that user's: refused, so that nobody can pass
-- for someone else.  users.c gives every user a skeleton before a connection
-- serves, so the check also holds for users registered before skeletons
-- were kept.  The user's profile keeps when they registered (GetUser's
-- created_ms).
local u, role, skel, pw = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if user_exists(u) then
	return fail('ALREADY_EXISTS', 'User ' .. u .. ' already exists')
end
local twin = redis.call('HGET', P .. 'user-skeletons', skel)
if twin then
	return fail('ALREADY_EXISTS', 'User ' .. u .. ' is too similar to the existing user ' .. twin)
end
redis.call('HSET', P .. 'users', u, role)
redis.call('HSET', P .. 'user-skeletons', skel, u)
redis.call('HSET', user_key(u, 'profile'), 'created_ms', now_ms())
if pw ~= '' then
	redis.call('HSET', user_key(u, 'auth'), 'pw', pw)
end
return role
