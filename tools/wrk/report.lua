-- SPDX-License-Identifier: MIT
-- wrk script for GET requests: changes no request, only prints one
-- machine-readable line at the end for tools/bench, which also appends it to
-- post_message.lua for the POST run (wrk takes one script).
function done(summary, latency, requests)
	local errors = summary.errors
	io.write(string.format(
		"WRK_RESULT requests=%d seconds=%.3f non2xx=%d errors=%d p50_us=%d p99_us=%d\n",
		summary.requests, summary.duration / 1e6, errors.status,
		errors.connect + errors.read + errors.write + errors.timeout,
		latency:percentile(50), latency:percentile(99)))
end
