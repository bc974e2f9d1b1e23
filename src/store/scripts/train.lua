-- SPDX-License-Identifier: MIT
-- train: ARGV then, for each text, its kind ("spam" or "ham"), its number
-- of tokens k and its k tokens.  The classifier learns each text as its
-- kind (prelude's bayes_learn).  Returns {spam learned, ham learned}, the
-- totals after the call.
local i = 1
while i <= #ARGV do
	local kind, k = ARGV[i], tonumber(ARGV[i + 1])
	if (kind ~= 'spam' and kind ~= 'ham') or not k or i + 1 + k > #ARGV then
		return fail('INVALID_ARGUMENT', 'malformed training batch')
	end
	bayes_learn(kind, nil, ARGV, i + 2, i + 1 + k)
	i = i + 2 + k
end
local t = redis.call('HMGET', BAYES .. 'learned', 'spam', 'ham')
return {tonumber(t[1] or 0), tonumber(t[2] or 0)}
