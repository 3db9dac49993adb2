#!/usr/bin/env bash
# replay_secrets.sh POLYWS WSCLIENT_PY - `polyws replay` never prints a client's API key: a
# client that deviates from the tape gets a report on stderr with the auth params as "***" and
# the key it authenticated with replaced wherever else it shows up, raw or JSON-escaped in its
# auth message, while the report still says where and how the client deviated.
# Every replayer binds 127.0.0.1 port 0 and is stopped by the end of its tape.
set -u
POLYWS=$1
CLIENT=$2
. "$(dirname "$0")/lib.sh" # tmp, servers stopped at exit, ok/bad, wait_url, start

KEY="AbcdEfgh1234SecretKey5678Zyxw"
# the same key with every character as a JSON \u escape: what a client may send instead
ESCAPED=$(python3 -c 'import sys; print("".join("\\u%04x" % ord(c) for c in sys.argv[1]))' "$KEY")
unset POLYWS_API_KEY

cat >"$tmp/s.tape" <<'TAPE'
{"polyws_tape":1,"url":"ws://127.0.0.1/stocks","start_us":1700000000000000,"start":"2023-11-14T22:13:20.000000Z","tool":"test","mode":"proxy","redacted":{"placeholder":"***","auth_params":true,"fields":[],"headers":[],"secrets":1}}
{"t_us":0,"conn":1,"dir":"-","kind":"open","data":"/stocks"}
{"t_us":10,"conn":1,"dir":"s","kind":"text","data":"[{\"ev\":\"status\",\"status\":\"connected\",\"message\":\"Connected Successfully\"}]"}
{"t_us":20,"conn":1,"dir":"c","kind":"text","data":"{\"action\":\"auth\",\"params\":\"***\"}"}
{"t_us":30,"conn":1,"dir":"s","kind":"text","data":"[{\"ev\":\"status\",\"status\":\"auth_success\",\"message\":\"authenticated\"}]"}
{"t_us":40,"conn":1,"dir":"c","kind":"text","data":"{\"action\":\"subscribe\",\"params\":\"A.AAPL\"}"}
{"t_us":50,"conn":1,"dir":"s","kind":"text","data":"[{\"ev\":\"status\",\"status\":\"success\",\"message\":\"subscribed to: A.AAPL\"}]"}
{"t_us":60,"conn":1,"dir":"s","kind":"close","code":1000,"reason":"bye"}
{"t_us":70,"conn":1,"dir":"-","kind":"closed","data":"upstream"}
TAPE

# run NAME [ENV=VALUE...] -- MSG...: replays the tape to one client sending MSG...; the
# replay's stdout and stderr are in $tmp/NAME.out and .err, the client's in $tmp/NAME.client
run() {
  local name=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  env "${envs[@]}" "$POLYWS" replay "$tmp/s.tape" --speed max --wait-ms 3000 --port-file "$tmp/$name.port" \
    >"$tmp/$name.out" 2>"$tmp/$name.err" &
  local pid=$!
  pids+=($pid)
  local url
  url=$(wait_url "$tmp/$name.port") || { echo "replay did not start"; cat "$tmp/$name.err"; return 1; }
  python3 "$CLIENT" "$url/stocks" "$@" >"$tmp/$name.client" 2>&1
  wait $pid
  RC=$?
}

# leaked NAME: the key, raw or escaped (either case of hex digits), in the replay's output
leaked() {
  grep -qiF -e "$KEY" -e "$ESCAPED" "$tmp/$1.out" "$tmp/$1.err"
}

# 1. an auth message with an extra member deviates: the report quotes it with params ***
run extra -- "{\"action\":\"auth\",\"params\":\"$KEY\",\"extra\":1}"
if [ "$RC" -eq 1 ] && ! leaked extra &&
   grep -qF 'line 4): expected text {"action":"auth","params":"***"}; got text {"action":"auth","params":"***","extra":1} (extra: unexpected member)' "$tmp/extra.err"; then
  ok "a deviating auth message: key hidden, report says line 4 and why"
else bad "deviating auth (rc=$RC)"; cat "$tmp/extra.err"; fi

# 2. the key JSON-escaped in the auth message, then sent raw where the tape has a subscribe
run escaped -- "{\"action\":\"auth\",\"params\":\"$ESCAPED\"}" "{\"action\":\"subscribe\",\"params\":\"$KEY\"}"
if [ "$RC" -eq 1 ] && ! leaked escaped &&
   grep -qF 'line 6): expected text {"action":"subscribe","params":"A.AAPL"}; got text {"action":"subscribe","params":"***"}' "$tmp/escaped.err" &&
   grep -qF 'channel A.AAPL missing' "$tmp/escaped.err"; then
  ok "a key learned from an escaped auth is hidden in a later message and in the reason"
else bad "escaped key (rc=$RC)"; cat "$tmp/escaped.err"; fi

# 3. the key straddling the report's 160-byte quote limit: no part of it is shown
PAD=$(printf 'x%.0s' $(seq 116)) # the key starts at byte 153 of 160 quoted
run long -- "{\"action\":\"auth\",\"pad\":\"$PAD\",\"params\":\"$KEY\"}"
if [ "$RC" -eq 1 ] && ! grep -qF -e "${KEY:0:8}" "$tmp/long.out" "$tmp/long.err" && grep -qF 'line 4)' "$tmp/long.err"; then
  ok "a key at the quote limit: not even its start is shown"
else bad "key at the quote limit (rc=$RC)"; cat "$tmp/long.err"; fi

# 4. $POLYWS_API_KEY is hidden even before any auth (here the client sends it as a subscribe)
run env_key POLYWS_API_KEY="$KEY" -- "{\"action\":\"subscribe\",\"params\":\"$KEY\"}"
if [ "$RC" -eq 1 ] && ! leaked env_key && grep -qF 'line 4): expected text {"action":"auth","params":"***"}; got text {"action":"subscribe","params":"***"}' "$tmp/env_key.err"; then
  ok "\$POLYWS_API_KEY is hidden from the report"
else bad "env key (rc=$RC)"; cat "$tmp/env_key.err"; fi

# 5. the control: a client that follows the tape gets no report, exit 0
run good -- "{\"action\":\"auth\",\"params\":\"$KEY\"}" '{"action":"subscribe","params":"A.AAPL"}'
if [ "$RC" -eq 0 ] && ! leaked good && ! grep -q "deviation:" "$tmp/good.err"; then ok "a matching client: exit 0, no report"
else bad "matching client (rc=$RC)"; cat "$tmp/good.err" "$tmp/good.client"; fi

# 6. in sanitizer builds: no report from any process
if grep -lq "Sanitizer\|runtime error" "$tmp"/*.err 2>/dev/null; then bad "sanitizer reports:"; grep -h -A5 "Sanitizer\|runtime error" "$tmp"/*.err | head -40
else ok "no sanitizer report in any stderr"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
