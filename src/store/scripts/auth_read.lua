-- SPDX-License-Identifier: MIT
-- auth_read: ARGV username, session ("" for none), now_ms.  What sign-in
-- needs to know of a user, as every auth_ script returns it:
-- {exists, password hash or "", admin, generation, session revoked, failed
-- logins in the window}.  The user's keys share the hash tag {u:NAME}.
local u, session, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
return auth_state(u, session, now)
