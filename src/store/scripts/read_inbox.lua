-- SPDX-License-Identifier: MIT
-- read_inbox: ARGV username, cursor (last id seen, 0 for none), count, and
-- "unread" to list only the messages not yet read.  Returns up to count
-- messages with ids above the cursor, oldest first, as one flat array: id,
-- sender, recipient, content, state, created_ms, read_ms for each (all
-- strings; read_ms false while unread).
--
-- The inbox's scores are the ids, as are the unread set's, so the messages
-- up to the cursor are the first ZCOUNT of them, and SORT_RO BY nosort pages
-- the sorted set in its own order and reads each message's fields in the
-- same command: three calls whatever the page size (a HMGET per message,
-- each turned into a Lua table, cost Redis several times more).
local P = 'pigeon:'
local u, cursor, n, unread = ARGV[1], ARGV[2], ARGV[3], ARGV[4] == 'unread'
if redis.call('HEXISTS', P .. 'users', u) == 0 then
	return redis.error_reply("NOT_FOUND Couldn't find user with username " .. u)
end
local set = unread and P .. '{u:' .. u .. '}:unread' or P .. 'inbox:' .. u
local skip = redis.call('ZCOUNT', set, '-inf', cursor)
local m = P .. 'msg:*->'
return redis.call('SORT_RO', set, 'BY', 'nosort', 'LIMIT', skip, n, 'GET', '#',
	'GET', m .. 'sender', 'GET', m .. 'recipient', 'GET', m .. 'content',
	'GET', m .. 'state', 'GET', m .. 'created_ms', 'GET', m .. 'read_ms')
