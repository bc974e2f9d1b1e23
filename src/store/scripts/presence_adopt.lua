-- SPDX-License-Identifier: MIT
-- presence_adopt: ARGV cursor ("0" to begin), presence TTL ms.  One ZSCAN
-- step over pigeon:online: each user listed without a deadline (logged in
-- before sessions had deadlines) gets now + TTL, so that their session too
-- ends unless they act.  Returns {deadlines given, 0, next cursor}; the
-- cursor "0" ends the pass.
local cursor, ttl = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
local step = redis.call('ZSCAN', ONLINE, cursor, 'COUNT', 500)
local given, m = 0, step[2]
for i = 1, #m, 2 do
	given = given + redis.call('ZADD', DEADLINES, 'NX', now + ttl, m[i])
end
return {given, 0, step[1]}
