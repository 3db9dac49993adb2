#!/usr/bin/env bash
# cli_watch.sh POLYWS - `polyws watch` end to end against `polyws mock`.
# Every mock binds 127.0.0.1 (or ::1) port 0 and is killed on exit.
set -u
POLYWS=$1
. "$(dirname "$0")/lib.sh" # tmp, servers stopped at exit, ok/bad, wait_url, start

export SECRET_KEY="cli-secret-key-31337"
# start_mock NAME [args...]: starts a mock, sets URL
start_mock() {
  local name=$1; shift
  "$POLYWS" mock --port-file "$tmp/$name.port" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids+=($!)
  for _ in $(seq 200); do [ -s "$tmp/$name.port" ] && break; sleep 0.02; done
  URL=$(awk '/^listening /{print $2}' "$tmp/$name.port")
  [ -n "$URL" ] || { echo "mock $name did not start"; cat "$tmp/$name.err"; exit 1; }
  URL=$URL/stocks # the mock serves the market paths only
}

# 1. --help works and exits 0
if "$POLYWS" watch --help | grep -q -- "--subscribe"; then ok "watch --help"; else bad "watch --help"; fi
if "$POLYWS" --help | grep -q "watch"; then ok "polyws --help"; else bad "polyws --help"; fi

# 2. usage errors exit 2 with a clear line (numbers are checked whole, with their range)
"$POLYWS" mock --batch -1 2>"$tmp/e0"; rc=$?
if [ $rc -eq 2 ] && grep -q -- "--batch needs 1..1000, not '-1'" "$tmp/e0"; then ok "mock: a bad number exits 2"; else bad "mock --batch -1 (rc=$rc)"; cat "$tmp/e0"; fi
"$POLYWS" watch ws://127.0.0.1:1/ 2>"$tmp/e1"; rc=$?
if [ $rc -eq 2 ] && grep -q "nothing to subscribe" "$tmp/e1"; then ok "usage error exits 2"; else bad "usage error (rc=$rc)"; fi
"$POLYWS" watch http://x/ -s A.AAPL 2>"$tmp/e2"; rc=$?
if [ $rc -eq 2 ] && grep -q "ws:// or wss://" "$tmp/e2"; then ok "bad URL exits 2"; else bad "bad URL (rc=$rc)"; fi

# 3. JSON lines: --count stops after N events; same seed gives identical bytes
start_mock a --accept-key-env SECRET_KEY --seed 7 --rate 2000
POLYWS_API_KEY=$SECRET_KEY "$POLYWS" watch "$URL" -s A.AAPL,T.MSFT --format jsonl --count 200 -q >"$tmp/run1.jsonl" 2>"$tmp/run1.err"; rc=$?
start_mock b --accept-key-env SECRET_KEY --seed 7 --rate 2000
POLYWS_API_KEY=$SECRET_KEY "$POLYWS" watch "$URL" -s A.AAPL,T.MSFT --format jsonl --count 200 -q >"$tmp/run2.jsonl" 2>"$tmp/run2.err"; rc2=$?
# status lines come first; market data lines must be exactly 200
n1=$(grep -vc '"ev":"status"' "$tmp/run1.jsonl")
if [ $rc -eq 0 ] && [ $rc2 -eq 0 ] && [ "$n1" -eq 200 ]; then ok "--count 200 exits 0 with 200 events"; else bad "--count (rc=$rc/$rc2 n=$n1)"; cat "$tmp/run1.err"; fi
if cmp -s "$tmp/run1.jsonl" "$tmp/run2.jsonl"; then ok "two runs give identical bytes"; else bad "runs differ"; diff "$tmp/run1.jsonl" "$tmp/run2.jsonl" | head -5; fi
if grep -q '"ev":"T","sym":"MSFT"' "$tmp/run1.jsonl" && grep -q '"ev":"A","sym":"AAPL"' "$tmp/run1.jsonl"; then ok "typed JSON lines"; else bad "typed JSON lines"; head -3 "$tmp/run1.jsonl"; fi

# 4. wrong key: exit 1 with one clear line, no retry, key never printed
export WRONG_KEY="wrong-key-xyz-123456"
POLYWS_API_KEY=$WRONG_KEY "$POLYWS" watch "$URL" -s A.AAPL -q >"$tmp/auth.out" 2>"$tmp/auth.err"; rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$tmp/auth.err")" -eq 1 ] && grep -q "authentication failed" "$tmp/auth.err"; then
  ok "auth failure: exit 1, one line"; else bad "auth failure (rc=$rc)"; cat "$tmp/auth.err"; fi
if grep -rq -e "$WRONG_KEY" -e "$SECRET_KEY" "$tmp"/*.out "$tmp"/*.err "$tmp"/*.jsonl; then bad "a key leaked into output"; else ok "no key in any output"; fi

# 4b. a path the mock serves no market on (HTTP 404 at the upgrade): exit 1 at once with one line, no retry
start=$(date +%s%N)
POLYWS_API_KEY=$SECRET_KEY timeout 10 "$POLYWS" watch "${URL%/stocks}/nonexistent" -s A.AAPL -q >"$tmp/404.out" 2>"$tmp/404.err"; rc=$?
el=$(( ($(date +%s%N) - start) / 1000000 ))
if [ $rc -eq 1 ] && [ $el -lt 3000 ] && [ "$(wc -l <"$tmp/404.err")" -eq 1 ] && grep -q "HTTP 404 Not Found for path /nonexistent" "$tmp/404.err"; then
  ok "bad path (404): exit 1 in ${el} ms, one line"; else bad "bad path (rc=$rc, ${el} ms)"; cat "$tmp/404.err"; fi

# 5. --key-file, and a missing key file is a clear error
printf '%s\n' "$SECRET_KEY" >"$tmp/keyfile"
"$POLYWS" watch "$URL" -s A.AAPL --key-file "$tmp/keyfile" --count 5 -q --format jsonl >"$tmp/kf.out" 2>&1; rc=$?
if [ $rc -eq 0 ]; then ok "--key-file"; else bad "--key-file (rc=$rc)"; cat "$tmp/kf.out"; fi
"$POLYWS" watch "$URL" -s A.AAPL --key-file "$tmp/nope" 2>"$tmp/kf.err"; rc=$?
if [ $rc -eq 1 ] && grep -q "$tmp/nope" "$tmp/kf.err"; then ok "missing key file named"; else bad "missing key file (rc=$rc)"; fi

# 6. reconnect through a drop: data keeps flowing, exit 0 at --count
start_mock c --accept-key-env SECRET_KEY --rate 2000 --drop-after 100
POLYWS_API_KEY=$SECRET_KEY "$POLYWS" watch "$URL" -s T.MSFT --format jsonl --count 300 --backoff-ms 50 >"$tmp/drop.jsonl" 2>"$tmp/drop.err"; rc=$?
if [ $rc -eq 0 ] && grep -q "reconnecting in" "$tmp/drop.err" && [ "$(grep -c '"ev":"T"' "$tmp/drop.jsonl")" -eq 300 ]; then
  ok "reconnects through a drop"; else bad "drop (rc=$rc)"; cat "$tmp/drop.err"; fi

# 6b. libwebsockets' lines come through the library's log: hidden by default, shown with -v
POLYWS_API_KEY=$SECRET_KEY "$POLYWS" watch "$URL" -s A.AAPL --format jsonl --count 5 >/dev/null 2>"$tmp/lws0.err"; rc=$?
POLYWS_API_KEY=$SECRET_KEY "$POLYWS" watch "$URL" -s A.AAPL --format jsonl --count 5 -v >/dev/null 2>"$tmp/lws1.err"; rc1=$?
if [ $rc -eq 0 ] && [ $rc1 -eq 0 ] && ! grep -q "LWS:" "$tmp/lws0.err" \
   && grep -q "^polyws: info: lws: LWS: 4\.1" "$tmp/lws1.err" && [ "$(grep -c "LWS:" "$tmp/lws1.err")" -eq 1 ]; then
  ok "lws banner: not shown by default, once through the library's log with -v"
else bad "lws lines (rc=$rc/$rc1)"; cat "$tmp/lws0.err" "$tmp/lws1.err"; fi

# 7. table format when not a terminal prints the final table
POLYWS_API_KEY=$SECRET_KEY "$POLYWS" watch "$URL" -s 'A.*' --format table --count 50 -q >"$tmp/table.out" 2>&1; rc=$?
if [ $rc -eq 0 ] && grep -q "^SYMBOL" "$tmp/table.out" && [ "$(grep -cE '^[A-Z]+ +[0-9]' "$tmp/table.out")" -ge 2 ]; then
  ok "table output"; else bad "table output (rc=$rc)"; cat "$tmp/table.out"; fi

# 8. --duration stops a quiet stream
start_mock d --accept-key-env SECRET_KEY --rate 1
start=$(date +%s%N)
POLYWS_API_KEY=$SECRET_KEY "$POLYWS" watch "$URL" -s A.AAPL --duration 1.5 -q --format jsonl >/dev/null 2>&1; rc=$?
el=$(( ($(date +%s%N) - start) / 1000000 ))
if [ $rc -eq 0 ] && [ $el -ge 1400 ] && [ $el -lt 6000 ]; then ok "--duration 1.5 (${el} ms)"; else bad "--duration (rc=$rc, ${el} ms)"; fi

# 9. wss with the mock's CA via POLYWS_CA_FILE
"$POLYWS" mock --tls --accept-key-env SECRET_KEY --rate 500 --port-file "$tmp/tls.port" >"$tmp/tls.out" 2>"$tmp/tls.err" &
pids+=($!)
for _ in $(seq 200); do grep -q '^ca-file' "$tmp/tls.out" 2>/dev/null && break; sleep 0.02; done
TURL=$(awk '/^listening /{print $2 "/stocks"}' "$tmp/tls.out"); CA=$(awk '/^ca-file /{print $2}' "$tmp/tls.out")
POLYWS_API_KEY=$SECRET_KEY POLYWS_CA_FILE=$CA "$POLYWS" watch "$TURL" -s A.AAPL --count 5 -q --format jsonl >"$tmp/tls.jsonl" 2>"$tmp/tls.werr"; rc=$?
if [ $rc -eq 0 ] && [ "$(grep -c '"ev":"A"' "$tmp/tls.jsonl")" -eq 5 ]; then ok "wss with --ca"; else bad "wss (rc=$rc)"; cat "$tmp/tls.werr"; fi

# 10. IPv6 loopback, ws and wss (the certificate names ::1); skipped where ::1 cannot be bound
"$POLYWS" mock --listen '[::1]:0' --accept-key-env SECRET_KEY --rate 500 >"$tmp/v6.out" 2>"$tmp/v6.err" &
v6pid=$!
pids+=($v6pid)
for _ in $(seq 250); do [ -s "$tmp/v6.out" ] || ! kill -0 $v6pid 2>/dev/null && break; sleep 0.02; done
if grep -q '^listening ws://\[::1\]:' "$tmp/v6.out"; then
  V6URL=$(awk '/^listening /{print $2 "/stocks"}' "$tmp/v6.out")
  POLYWS_API_KEY=$SECRET_KEY "$POLYWS" watch "$V6URL" -s A.AAPL --count 5 -q --format jsonl >"$tmp/v6.jsonl" 2>"$tmp/v6.werr"; rc=$?
  if [ $rc -eq 0 ] && [ "$(grep -c '"ev":"A"' "$tmp/v6.jsonl")" -eq 5 ]; then ok "ws over IPv6 ($V6URL)"; else bad "ws over IPv6 (rc=$rc)"; cat "$tmp/v6.werr"; fi
  "$POLYWS" mock --tls --listen '[::1]:0' --accept-key-env SECRET_KEY --rate 500 >"$tmp/v6t.out" 2>"$tmp/v6t.err" &
  pids+=($!)
  for _ in $(seq 200); do grep -q '^ca-file' "$tmp/v6t.out" 2>/dev/null && break; sleep 0.02; done
  V6T=$(awk '/^listening /{print $2 "/stocks"}' "$tmp/v6t.out"); CA6=$(awk '/^ca-file /{print $2}' "$tmp/v6t.out")
  POLYWS_API_KEY=$SECRET_KEY "$POLYWS" watch "$V6T" --ca "$CA6" -s A.AAPL --count 5 -q --format jsonl >"$tmp/v6t.jsonl" 2>"$tmp/v6t.werr"; rc=$?
  if [ $rc -eq 0 ] && [ "$(grep -c '"ev":"A"' "$tmp/v6t.jsonl")" -eq 5 ]; then ok "wss over IPv6, IP-literal certificate check"; else bad "wss over IPv6 (rc=$rc)"; cat "$tmp/v6t.werr"; fi
else
  echo "skip - IPv6 loopback not available: $(grep -v '^\[' "$tmp/v6.err" | head -1)"
fi

# 11. a server that echoes the key (a status message, one cut at the end of the key, a close reason):
# watch prints "***" where it was, and neither the key nor a piece of 8+ bytes of it, on stdout or stderr
pad=$(printf 'x%.0s' $(seq 245))
cat >"$tmp/echo.yaml" <<YAML
description: the server echoes the key
connections:
  1:
    - handshake
    - status: {status: error, message: "key $SECRET_KEY is over its quota"}
    - status: {status: error, message: "$pad$SECRET_KEY"}
    - close: {code: 1008, reason: "key $SECRET_KEY revoked"}
  default: [handshake, serve]
YAML
start_mock echo --accept-key-env SECRET_KEY --rate 2000 "$tmp/echo.yaml"
POLYWS_API_KEY=$SECRET_KEY timeout 20 "$POLYWS" watch "$URL" -s A.AAPL --format jsonl --count 5 --backoff-ms 50 -v \
  >"$tmp/echo.jsonl" 2>"$tmp/echo.werr"; rc=$?
leak=""
for n in $(seq 8 ${#SECRET_KEY}); do
  for piece in "${SECRET_KEY:0:n}" "${SECRET_KEY: -n}"; do
    grep -qF -- "$piece" "$tmp/echo.jsonl" "$tmp/echo.werr" && leak="$leak $piece"
  done
done
if [ $rc -eq 0 ] && [ -z "$leak" ] && grep -q '"message":"key \*\*\* is over its quota"' "$tmp/echo.jsonl" \
   && grep -q 'x\*\*\*","truncated":true' "$tmp/echo.jsonl" && grep -q '(code 1008: key \*\*\* revoked)' "$tmp/echo.werr"; then
  ok "a key the server echoes is masked on stdout and stderr"
else
  bad "echoed key (rc=$rc, leaked:${leak:- none})"; cat "$tmp/echo.jsonl" "$tmp/echo.werr" | cut -c1-300
fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
