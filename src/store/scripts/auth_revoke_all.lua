-- SPDX-License-Identifier: MIT
-- auth_revoke_all: ARGV username.  Bumps the user's token generation: every
-- token issued before carries a lower one and no longer verifies.
-- Publishes the user's name on pigeon:auth, as auth_revoke does.  Returns
-- the auth_read shape, with the new generation.
local u = ARGV[1]
if not user_exists(u) then
	return no_such_user(u)
end
redis.call('HINCRBY', user_key(u, 'auth'), 'gen', 1)
redis.call('PUBLISH', 'pigeon:auth', u)
return auth_state(u, '', 0)
