-- SPDX-License-Identifier: MIT
-- The Redis ceiling of tools/bench: a send's commands in one script, as
-- src/store/scripts/send.lua runs them (both users checked, the id counted,
-- the message stored, the sender's counter moved, the message queued and
-- announced), under its own key prefix.  ARGV: sender, recipient, content.
local P = 'anchor:'
local s, r, c = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HEXISTS', P .. 'users', s) == 0 or redis.call('HEXISTS', P .. 'users', r) == 0 then
	return redis.error_reply('NOT_FOUND no such user')
end
local id = redis.call('INCR', P .. 'msg:seq')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', P .. 'msg:' .. id, 'sender', s, 'recipient', r, 'content', c,
	'state', 'enqueued', 'created_ms', now)
redis.call('HINCRBY', P .. 'stats:' .. s, 'enqueued', 1)
redis.call('XADD', P .. 'queue', '*', 'id', id, 'sender', s, 'recipient', r, 'content', c)
redis.call('PUBLISH', 'anchor_queue', cjson.encode({type = 'QUEUED', time_ms = now,
	username = s, recipient = r, message_id = id}))
return {id, s, r, c, 'enqueued', now, 0}
