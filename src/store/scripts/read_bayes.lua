-- SPDX-License-Identifier: MIT
-- read_bayes: no ARGV.  The Bayesian classifier's counts as one snapshot:
-- {version, spam messages learned, ham messages learned, the spam hash's
-- fields and values flattened, the ham hash's}.  A script, so that no
-- report lands between the reads.
local B = 'pigeon:{bayes}:'
local t = redis.call('HMGET', B .. 'learned', 'version', 'spam', 'ham')
return {tonumber(t[1] or 0), tonumber(t[2] or 0), tonumber(t[3] or 0),
	redis.call('HGETALL', B .. 'spam'), redis.call('HGETALL', B .. 'ham')}
