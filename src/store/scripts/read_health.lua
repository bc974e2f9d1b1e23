-- SPDX-License-Identifier: MIT
-- read_health: no arguments.  Returns {queue_depth, queue_pending,
-- dead_letters, workers}.  Finished entries are deleted from the queue
-- stream, so its length minus the group's pending count is what waits for a
-- worker.
local P = 'pigeon:'
local len = redis.call('XLEN', P .. 'queue')
local pending, consumers = 0, 0
if redis.call('EXISTS', P .. 'queue') == 1 then
	for _, g in ipairs(redis.call('XINFO', 'GROUPS', P .. 'queue')) do
		local h = {}
		for i = 1, #g, 2 do
			h[g[i]] = g[i + 1]
		end
		if h['name'] == 'workers' then
			pending = h['pending']
			consumers = h['consumers']
		end
	end
end
return {len - pending, pending, redis.call('XLEN', P .. 'deadletter'), consumers}
