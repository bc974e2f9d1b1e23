-- SPDX-License-Identifier: MIT
-- read_health: ARGV live_ms.  Returns {queue_depth, queue_pending,
-- dead_letters, workers}.  queue_depth is the group's lag (entries no worker
-- has read yet); when Redis cannot tell it (entries deleted past the group's
-- position) it is the stream's length minus the pending count, an upper
-- bound.  workers counts the consumers that read within the last live_ms: a
-- live worker reads at least once a second.
local P = 'pigeon:'
local live = tonumber(ARGV[1])
local q = P .. 'queue'
local depth, pending, workers = 0, 0, 0
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
			for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', q, 'workers')) do
				for i = 1, #c, 2 do
					if c[i] == 'idle' and c[i + 1] < live then
						workers = workers + 1
					end
				end
			end
		end
	end
end
return {depth, pending, redis.call('XLEN', P .. 'deadletter'), workers}
