-- SPDX-License-Identifier: MIT
-- wrk script: POST /message with the original README's body, for example
--   wrk -t2 -c64 -d5s -s tools/wrk/post_message.lua http://127.0.0.1:5000/message
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"content": "My message", "recipient": "Ilya", "sender": "flain1"}'
