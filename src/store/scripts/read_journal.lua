-- SPDX-License-Identifier: MIT
-- read_journal: ARGV mode ("after" or "rev"), from id, to id, count.
-- "after": XRANGE from..to; "rev": XREVRANGE from..to (from is the higher).
-- Returns {last sequence written, entries}.
local P = 'pigeon:'
local mode, from, to, n = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local last = tonumber(redis.call('GET', P .. 'journal:seq')) or 0
local cmd = 'XRANGE'
if mode == 'rev' then
	cmd = 'XREVRANGE'
end
return {last, redis.call(cmd, P .. 'journal', from, to, 'COUNT', n)}
