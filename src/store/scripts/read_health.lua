-- SPDX-License-Identifier: MIT
-- read_health: ARGV live_ms, now_ms.  Returns {queue_depth, queue_pending,
-- dead_letters, workers, oldest_pending_ms}.  queue_depth is the group's lag (entries no worker
-- has read yet); when Redis cannot tell it (entries deleted past the group's
-- position) it is the stream's length minus the pending count, an upper
-- bound.  workers counts the heartbeats of the last live_ms (a live worker
-- beats once a second).  oldest_pending_ms is the age of the oldest entry
-- handed to a worker and not yet acknowledged, from its stream id (when it
-- was queued); 0 when none is pending.
local P = 'pigeon:'
local live, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local q = P .. 'queue'
local depth, pending, workers, oldest = 0, 0, 0, 0
if redis.call('EXISTS', q) == 1 then
	for _, g in ipairs(redis.call('XINFO', 'GROUPS', q)) do
		local h = {}
		for i = 1, #g, 2 do
			h[g[i]] = g[i + 1]
		end
		if h['name'] == 'workers' then
			pending = h['pending']
			if type(h['lag']) == 'number' then
				depth = h['lag']
			else
				depth = math.max(redis.call('XLEN', q) - pending, 0)
			end
		end
	end
end
if pending > 0 then
	local first = redis.call('XPENDING', q, 'workers')[2]
	if first then
		oldest = math.max(now - tonumber(string.match(first, '^(%d+)')), 0)
	end
end
workers = redis.call('ZCOUNT', P .. 'workers', now - live, '+inf')
return {depth, pending, redis.call('XLEN', P .. 'deadletter'), workers, oldest}
