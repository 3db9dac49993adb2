#!/usr/bin/env bash
# close_reason.sh POLYWS - a close frame's reason is at most 123 bytes (RFC 6455 5.5: a control
# frame's payload is 125 bytes, 2 of them the code) and stays UTF-8 (7.1.6), also when a tape
# carries a longer one.  The real replayer plays tapes whose close reasons are 181 bytes of
# 3-byte characters, 200 bytes of ASCII and 160 bytes of 4-byte characters; the real mock plays
# a scenario whose reason is exactly 123 bytes of 3-byte characters.  The client is Python's
# websockets (/usr/bin/python3, Debian's python3-websockets), which fails the connection on a
# control frame over 125 bytes or a reason that is not UTF-8: it must see the tape's code and
# the reason cut at the last whole character within 123 bytes.  The mock's loader refuses a
# 124-byte reason.
set -u
POLYWS=$1
PY=/usr/bin/python3
. "$(dirname "$0")/lib.sh" # tmp, servers stopped at exit, ok/bad, wait_url, start

if ! "$PY" -c 'import websockets' 2>/dev/null; then
  bad "Python websockets is missing (apt-get install python3-websockets)"
  echo "$passes passed, $fails failed"; exit 1
fi

# client URL: reads until the server closes; prints "CODE BYTES REASON" of the close it received
cat >"$tmp/client.py" <<'EOF'
import asyncio, sys, websockets
async def main(url):
    async with websockets.connect(url, open_timeout=5, close_timeout=5) as ws:
        try:
            async for _ in ws:
                pass
        except websockets.ConnectionClosed:
            pass
    print(ws.close_code, len(ws.close_reason.encode()), ws.close_reason)
asyncio.run(asyncio.wait_for(main(sys.argv[1]), 15))
EOF

# the expected reason: the longest prefix of whole characters within 123 bytes
cut() { "$PY" -c 'import sys; b = sys.argv[1].encode()[:123]; print(b.decode("utf-8", "ignore"))' "$1"; }

# replay_case NAME REASON: a one-connection tape that closes with 4000 REASON, played to the client
replay_case() {
  local name=$1 reason=$2
  local json
  json=$("$PY" -c 'import json, sys; print(json.dumps(sys.argv[1], ensure_ascii=False))' "$reason")
  cat >"$tmp/$name.tape" <<TAPE
{"polyws_tape":1,"url":"ws://127.0.0.1/stocks","start_us":1700000000000000,"tool":"test","mode":"proxy","redacted":{}}
{"t_us":0,"conn":1,"dir":"-","kind":"open","data":"/stocks"}
{"t_us":10,"conn":1,"dir":"s","kind":"text","data":"[{\"ev\":\"status\",\"status\":\"connected\",\"message\":\"Connected Successfully\"}]"}
{"t_us":20,"conn":1,"dir":"s","kind":"close","code":4000,"reason":$json}
{"t_us":30,"conn":1,"dir":"-","kind":"closed","data":"upstream"}
TAPE
  start "replay-$name" "$POLYWS" replay "$tmp/$name.tape" --speed max --wait-ms 3000
  local got want
  got=$("$PY" "$tmp/client.py" "$URL/stocks" 2>&1)
  want="4000 $(printf '%s' "$(cut "$reason")" | wc -c) $(cut "$reason")"
  if [ "$got" = "$want" ]; then
    ok "replay, $name reason of $(printf '%s' "$reason" | wc -c) bytes: the client got: $got"
  else
    bad "replay, $name reason: the client got '$got', want '$want'"; cat "$tmp/replay-$name.err"
  fi
}

EURO=$(printf 'x'; for _ in $(seq 60); do printf '\xe2\x82\xac'; done)   # 1 + 180 bytes: the cut is at 121
ASCII=$(printf 'a%.0s' $(seq 200))                                       # the cut is at 123
EMOJI=$(for _ in $(seq 40); do printf '\xf0\x9f\x98\x80'; done)          # 160 bytes: the cut is at 120
replay_case euro "$EURO"
replay_case ascii "$ASCII"
replay_case emoji "$EMOJI"

# the mock: a reason of exactly 123 bytes (41 euro signs) goes out whole; 124 bytes do not load
R123=$(for _ in $(seq 41); do printf '\xe2\x82\xac'; done)
cat >"$tmp/s123.yaml" <<YAML
description: a close reason of exactly 123 bytes
connections:
  default:
    - greet
    - auth
    - close: {code: 4000, reason: "$R123"}
YAML
sed "s/reason: \"/reason: \"x/" "$tmp/s123.yaml" >"$tmp/s124.yaml"
start mock "$POLYWS" mock "$tmp/s123.yaml"
cat >"$tmp/auth.py" <<'EOF'
import asyncio, sys, websockets
async def main(url):
    async with websockets.connect(url, open_timeout=5, close_timeout=5) as ws:
        await ws.recv()
        await ws.send('{"action":"auth","params":"k"}')
        try:
            async for _ in ws:
                pass
        except websockets.ConnectionClosed:
            pass
    print(ws.close_code, len(ws.close_reason.encode()), ws.close_reason)
asyncio.run(asyncio.wait_for(main(sys.argv[1]), 15))
EOF
got=$("$PY" "$tmp/auth.py" "$URL/stocks" 2>&1)
if [ "$got" = "4000 123 $R123" ]; then ok "mock, 123-byte reason: the client got it whole"
else bad "mock, 123-byte reason: the client got '$got'"; cat "$tmp/mock.err"; fi
if out=$("$POLYWS" mock --validate "$tmp/s124.yaml" 2>&1); then
  bad "mock --validate accepted a 124-byte close reason"
elif echo "$out" | grep -q "close.reason: 124 bytes is too long (limit 123)"; then ok "mock --validate refuses a 124-byte close reason"
else bad "mock --validate: $out"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
