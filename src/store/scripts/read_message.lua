-- SPDX-License-Identifier: MIT
-- read_message: ARGV username, message id.  The message as its recipient
-- sees it, in report's shape with changed 0: {id, sender, recipient,
-- content, state, created_ms, read_ms, 0}.  NOT_FOUND when there is no such
-- message or the user is not its recipient, in the same words, so that a
-- caller learns nothing of other users' ids.
local P = 'pigeon:'
local u, id = ARGV[1], ARGV[2]
local m = redis.pcall('HMGET', P .. 'msg:' .. id, 'sender', 'recipient', 'content', 'state',
	'created_ms', 'read_ms')
if m.err or m[2] ~= u then
	return redis.error_reply('NOT_FOUND No message ' .. id .. ' for ' .. u)
end
return {tonumber(id), m[1], m[2], m[3], m[4], tonumber(m[5]), tonumber(m[6] or 0), 0}
