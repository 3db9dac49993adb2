#!/usr/bin/env bash
# handshake_cli.sh POLYWS - the handshake options of polyws mock, record and replay end to end:
# each command's --help lists them; bad values are usage errors (exit 2, one line naming the
# option); a connection that sends half an upgrade request and stalls is closed after
# --handshake-timeout, and the "handshakes:" line on stderr counts it; --max-per-address
# refuses a second connection from 127.0.0.1.  Every server binds 127.0.0.1 port 0.
set -u
POLYWS=$1
. "$(dirname "$0")/lib.sh" # tmp, servers stopped at exit, ok/bad, wait_url, start

# --- --help and usage errors
for cmd in mock record replay; do
  "$POLYWS" $cmd --help >"$tmp/help" 2>&1
  if grep -q -- '--handshake-timeout DURATION' "$tmp/help" && grep -q -- '--max-pending N' "$tmp/help" &&
     grep -q -- '--max-per-address N' "$tmp/help" && grep -q 'handshakes: ' "$tmp/help"; then
    ok "$cmd --help lists the handshake options and the handshakes line"
  else bad "$cmd --help"; fi
done
check_usage() { # CMD OPTION VALUE MESSAGE
  "$POLYWS" "$1" "$2" "$3" >/dev/null 2>"$tmp/e"; local rc=$?
  if [ $rc -eq 2 ] && grep -qF -- "$4" "$tmp/e"; then ok "$1 $2 $3: exit 2"; else bad "$1 $2 $3 (rc=$rc)"; cat "$tmp/e"; fi
}
check_usage mock --handshake-timeout 0 "polyws mock: --handshake-timeout needs a duration of 1ms..1h"
check_usage mock --handshake-timeout 2h "--handshake-timeout needs a duration of 1ms..1h (250ms, 2s, 1.5s, 1m or milliseconds), not '2h'"
check_usage mock --handshake-timeout 1e3 "not '1e3'"
check_usage record --max-pending 0 "polyws record: --max-pending needs 1..65536, not '0'"
check_usage replay --max-pending 65537 "polyws replay: --max-pending needs 1..65536, not '65537'"
check_usage mock --max-per-address -1 "polyws mock: --max-per-address needs 0..1000000 (0 = no cap), not '-1'"

# stall PORT: connects, sends half an upgrade request, and waits (10 s at most) for the server
# to close; prints "closed" if it did.
stall() {
  # (a socket refused at once may be reset before the request is written: SIGPIPE is ignored)
  timeout 10 bash -c 'trap "" PIPE; exec 5<>/dev/tcp/127.0.0.1/'"$1"'; printf "GET /stocks HTTP/1.1\r\nHost: x\r\n" >&5 2>/dev/null; cat <&5 >/dev/null 2>&1; echo closed'
}
# stop_and_line NAME PID: stops a server started by start and prints its last handshakes line.
stop_and_line() { kill -TERM "$2"; wait "$2" 2>/dev/null; grep 'handshakes:' "$tmp/$1.err" | tail -1; }

# --- mock: a stalled connection is closed after the timeout and counted
start mock "$POLYWS" mock --handshake-timeout 300ms
MOCK_URL=$URL MOCK_PID=$LASTPID
port=${URL##*:}
if [ "$(stall "$port")" = closed ]; then ok "mock closed the stalled connection"; else bad "mock kept the stalled connection"; fi
POLYWS_API_KEY=k timeout 20 "$POLYWS" watch "$URL/stocks" -s 'A.*' --count 3 -q >/dev/null 2>"$tmp/w.err"
rc=$?
if [ $rc -eq 0 ]; then ok "a normal session afterwards"; else bad "watch rc=$rc"; cat "$tmp/w.err"; fi

# --- record in front of it: the same, with the proxy's counters (the stalled client never
# reaches the mock: the proxy connects upstream only for a complete request)
start rec "$POLYWS" record --upstream "$MOCK_URL" -o "$tmp/t.tape" --handshake-timeout 0.3s -q
port=${URL##*:}
if [ "$(stall "$port")" = closed ]; then ok "record closed the stalled client"; else bad "record kept the stalled client"; fi
line=$(stop_and_line rec "$LASTPID")
if echo "$line" | grep -q '^polyws record: handshakes: 1 accepted, 0 upgraded, 1 timed out, 0 evicted'; then
  ok "record: $line"
else bad "record's handshakes line: '$line'"; cat "$tmp/rec.err"; fi
if grep -q '"kind":"open"' "$tmp/t.tape"; then bad "the stalled client is on the tape"; else ok "nothing of it on the tape"; fi

# (3 accepted: the stall, watch, and record's start-up probe of its upstream, a TCP connection
# that sends nothing and is neither upgraded nor timed out)
line=$(stop_and_line mock "$MOCK_PID")
if echo "$line" | grep -q '^polyws mock: handshakes: 3 accepted, 1 upgraded, 1 timed out, 0 evicted'; then
  ok "mock: $line"
else bad "mock's handshakes line: '$line'"; cat "$tmp/mock.err"; fi

# --- mock --max-per-address 1: a second connection from 127.0.0.1 is refused while one is there
start pa "$POLYWS" mock --max-per-address 1
port=${URL##*:}
exec 6<>/dev/tcp/127.0.0.1/"$port"
printf 'GET /stocks HTTP/1.1\r\nHost: x\r\n' >&6
if [ "$(stall "$port")" = closed ]; then ok "--max-per-address 1 refused the second connection"; else bad "second connection kept"; fi
exec 6>&-
line=$(stop_and_line pa "$LASTPID")
if echo "$line" | grep -q '1 refused (per address)'; then ok "mock: $line"; else bad "per-address line: '$line'"; fi

# --- replay: a stalled client is closed and counted, the tape still plays to a real one
printf '%s\n' '{"polyws_tape":1,"url":"ws://x","start_us":1700000000000000,"start":"2023-11-14T22:13:20.000000Z","tool":"test","mode":"proxy"}' \
  '{"t_us":0,"conn":1,"dir":"-","kind":"open","data":"/stocks"}' \
  '{"t_us":10,"conn":1,"dir":"s","kind":"text","data":"[{\"ev\":\"status\",\"status\":\"connected\",\"message\":\"Connected Successfully\"}]"}' \
  >"$tmp/r.tape"
"$POLYWS" replay "$tmp/r.tape" --speed max --handshake-timeout 300ms --port-file "$tmp/rp.port" >"$tmp/rp.out" 2>"$tmp/rp.err" &
RP=$!
pids+=($RP)
URL=$(wait_url "$tmp/rp.port") || { bad "replay did not start"; cat "$tmp/rp.err"; }
if [ -n "$URL" ]; then
  port=${URL##*:}
  if [ "$(stall "$port")" = closed ]; then ok "replay closed the stalled client"; else bad "replay kept the stalled client"; fi
  timeout 20 /usr/bin/python3 -c '
import asyncio, sys, websockets
async def main():
    async with websockets.connect(sys.argv[1]) as ws:
        print(await ws.recv())
asyncio.run(main())' "$URL/stocks" >"$tmp/rp.client" 2>&1
  wait "$RP"
  line=$(grep 'handshakes:' "$tmp/rp.err" | tail -1)
  if grep -q '"connected"' "$tmp/rp.client" && echo "$line" | grep -q '1 timed out'; then
    ok "replay: played to the real client; $line"
  else bad "replay: client '$(head -c 200 "$tmp/rp.client")', line '$line'"; cat "$tmp/rp.err"; fi
fi

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
