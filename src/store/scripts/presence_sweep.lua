-- SPDX-License-Identifier: MIT
-- presence_sweep: ARGV batch, journal_max.  Takes up to batch sessions whose
-- deadline has passed, oldest first, and ends each (prelude's expire: LOGOUT
-- with reason expired, journaled once however many pigeonds sweep).  Returns
-- {sessions taken, sessions ended, ''}: fewer taken than batch means none is
-- left; taken but not ended were already logged out.
local batch, jmax = ARGV[1], ARGV[2]
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', DEADLINES, '-inf', now, 'LIMIT', 0, batch)
local ended = 0
for _, u in ipairs(due) do
	if expire(u, now, jmax) then
		ended = ended + 1
	end
end
return {#due, ended, ''}
