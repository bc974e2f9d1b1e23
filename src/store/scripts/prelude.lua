-- SPDX-License-Identifier: MIT
-- Prepended to every mutating script: key names, the clock, errors, the
-- journal.  Errors start with the pigeon status name the store maps them to.
local P = 'pigeon:'

local function now_ms()
	local t = redis.call('TIME')
	return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function fail(status, text)
	return redis.error_reply(status .. ' ' .. text)
end

local function user_exists(name)
	return redis.call('HEXISTS', P .. 'users', name) == 1
end

local function no_such_user(name)
	return fail('NOT_FOUND', "Couldn't find user with username " .. name)
end

-- Appends one entry "<seq>-0" to the journal, then publishes the event on
-- event_journal.  ev holds type, time_ms, text and optionally username,
-- recipient, message_id, reason; empty optional fields are left out.
local function journal(ev, jmax)
	local seq = redis.call('INCR', P .. 'journal:seq')
	if ev.reason == '' then
		ev.reason = nil
	end
	ev.seq = seq
	local fields = {'type', ev.type, 'time_ms', ev.time_ms, 'text', ev.text}
	for _, k in ipairs({'username', 'recipient', 'message_id', 'reason'}) do
		if ev[k] ~= nil then
			fields[#fields + 1] = k
			fields[#fields + 1] = ev[k]
		end
	end
	redis.call('XADD', P .. 'journal', 'MAXLEN', '~', jmax, seq .. '-0', unpack(fields))
	redis.call('PUBLISH', 'event_journal', cjson.encode(ev))
	return seq
end

-- Ends the queue entry's life: acknowledged and removed, so the stream holds
-- exactly the messages not finished yet.
local function queue_done(entry)
	redis.call('XACK', P .. 'queue', 'workers', entry)
	redis.call('XDEL', P .. 'queue', entry)
end

-- Moves the counters of sender s from one state to another.
local function count_move(s, from, to)
	local k = P .. 'stats:' .. s
	if from then
		redis.call('HINCRBY', k, from, -1)
	end
	redis.call('HINCRBY', k, to, 1)
end
