-- SPDX-License-Identifier: MIT
-- Prepended to every mutating script: key names, the clock, errors, the
-- journal.  Errors start with the pigeon status name the store maps them to.
-- Every redis.call costs about a microsecond or two of Lua glue: the scripts
-- the worker runs per message keep to as few as they can.
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

-- Ends the life in the group of one queue entry, or of a list of them.  The
-- entries stay in the stream until a worker trims the acknowledged head
-- (store_queue_trim).
local function queue_done(entries)
	if type(entries) ~= 'table' then
		entries = {entries}
	end
	for i = 1, #entries, 500 do
		redis.call('XACK', P .. 'queue', 'workers',
			unpack(entries, i, math.min(i + 499, #entries)))
	end
end

-- Adds n to one of the sender's cumulative counters (sent, checked,
-- delivered, marked_as_spam, dead_letter); read_user_stats derives the
-- counts per state from them.
local function count(s, field, n)
	redis.call('HINCRBY', P .. 'stats:' .. s, field, n)
end

-- A key of user u's own (docs/redis-schema.md: sign-in state, profile): all
-- of them share the hash tag {u:NAME}, so a script touches one cluster slot
-- for them.
local function user_key(u, what)
	return P .. '{u:' .. u .. '}:' .. what
end

-- Presence.  pigeon:online lists the users online (score 0, so that
-- ListOnlineUsers pages it by name); pigeon:presence:deadlines holds each
-- user's deadline, ms on Redis's clock.  A user is online while their
-- deadline is ahead; activity moves it to now + the TTL, and once it has
-- passed, the sweep (or the user's next Login or Heartbeat, whichever runs
-- first) ends the session.  In --auth required a user may hold several
-- sessions, one per login: {u:NAME}:sessions holds each one's own deadline,
-- and the user's is the latest of them, so the user stays online while any
-- session lives.
local ONLINE = P .. 'online'
local DEADLINES = P .. 'presence:deadlines'

-- u's session deadline, or nil when u has none.
local function deadline(u)
	local d = redis.call('ZSCORE', DEADLINES, u)
	return d and tonumber(d)
end

-- Records that u acted at now: GetUser's last_seen_ms.
local function seen(u, now)
	redis.call('HSET', user_key(u, 'profile'), 'last_seen_ms', now)
end

-- u acted at now (SendMessage as the sender, MarkRead): a live session's
-- deadline moves to now + ttl; a session past its deadline is left to the
-- sweep.
local function active(u, now, ttl)
	local d = deadline(u)
	if d and d > now then
		redis.call('ZADD', DEADLINES, now + ttl, u)
	end
	seen(u, now)
end

-- Ends u's session (all of them), whose deadline has passed: drops the
-- deadlines and the listing, and journals "LOGOUT: u" with reason 'expired'.  True when it
-- did; false, writing nothing but the deadline, when u was no longer listed
-- (logged out, or ended by an earlier call): scripts run one at a time, so
-- however many pigeonds sweep, a session ends, and is journaled, once.
local function expire(u, now, jmax)
	redis.call('ZREM', DEADLINES, u)
	redis.call('DEL', user_key(u, 'sessions'))
	if redis.call('ZREM', ONLINE, u) == 0 then
		return false
	end
	journal({type = 'LOGOUT', time_ms = now, username = u, reason = 'expired',
		text = 'LOGOUT: ' .. u}, jmax)
	return true
end

-- The Bayesian classifier's counts (docs/redis-schema.md, "Spam learning"):
-- per token, how many messages learned as spam and as ham held it, and the
-- number of messages learned of each kind, with a version that moves with
-- every change so that workers reload only a changed model.  One hash tag:
-- the model is one thing, read whole.
local BAYES = P .. '{bayes}:'

-- Learns the tokens a[from..to] (to: #a) of one message as kind ("spam"
-- or "ham"); when it had been learned as the other kind (was), unlearns
-- them from that kind first.  Counts never go below zero (a token the
-- tokenizer no longer makes).
local function bayes_learn(kind, was, a, from, to)
	to = to or #a
	if was == 'spam' or was == 'ham' then
		for i = from, to do
			if tonumber(redis.call('HINCRBY', BAYES .. was, a[i], -1)) <= 0 then
				redis.call('HDEL', BAYES .. was, a[i])
			end
		end
		if tonumber(redis.call('HINCRBY', BAYES .. 'learned', was, -1)) < 0 then
			redis.call('HSET', BAYES .. 'learned', was, 0)
		end
	end
	for i = from, to do
		redis.call('HINCRBY', BAYES .. kind, a[i], 1)
	end
	redis.call('HINCRBY', BAYES .. 'learned', kind, 1)
	redis.call('HINCRBY', BAYES .. 'learned', 'version', 1)
end

-- What the auth_ scripts return: {exists, password hash or "", admin,
-- generation, session revoked, failed logins in the window}.
local function auth_state(u, session, now)
	local role = redis.call('HGET', P .. 'users', u)
	local a = redis.call('HMGET', user_key(u, 'auth'), 'pw', 'gen')
	local revoked = 0
	if session ~= '' then
		local until_ms = redis.call('ZSCORE', user_key(u, 'revoked'), session)
		if until_ms and tonumber(until_ms) > now then
			revoked = 1
		end
	end
	return {role and 1 or 0, a[1] or '', role == 'admin' and 1 or 0, tonumber(a[2] or 0),
		revoked, tonumber(redis.call('GET', user_key(u, 'login-fails')) or 0)}
end
