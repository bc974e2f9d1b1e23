-- SPDX-License-Identifier: MIT
-- wrk script: POST /message with a JSON body, as the original README's curl
-- call does.  Sender and recipient are the users tools/bench and
-- pigeon-bench register (bench0, bench1, ...); override with the
-- environment: PIGEON_WRK_SENDER, PIGEON_WRK_RECIPIENT.
local sender = os.getenv("PIGEON_WRK_SENDER") or "bench0"
local recipient = os.getenv("PIGEON_WRK_RECIPIENT") or "bench1"

wrk.method = "POST"
wrk.path = "/message"
wrk.headers["Content-Type"] = "application/json; charset=utf-8"
wrk.body = string.format('{"sender": "%s", "recipient": "%s", "content": "%s"}',
	sender, recipient, "hello from wrk")
