#!/usr/bin/env bash
# record_header_secrets.sh POLYWS - the header of a proxy tape counts the keys the recorder
# learned from clients' auth messages ("secrets"), although it was written before any client
# came: the count is rewritten in place (docs/tapes.md), the header keeps its length, and the
# tape reads, converts and replays as before.  `polyws mock` is the service, `polyws watch` the
# client; every server binds 127.0.0.1 port 0 and is stopped on exit.
set -u
POLYWS=$1
. "$(dirname "$0")/lib.sh" # tmp, servers stopped at exit, ok/bad, wait_url, start

export KEY_ONE="header-secrets-key-one-31337"
KEY_TWO="header-secrets-key-two-27182"

# header_secrets TAPE: the "secrets" count of the tape's header line
header_secrets() {
  python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["redacted"]["secrets"])' "$1"
}

start mock "$POLYWS" mock --accept-key-env KEY_ONE --rate 200
MOCK_URL=$URL
start rec "$POLYWS" record --upstream "$MOCK_URL" -o "$tmp/p.tape"
RECPID=$LASTPID
header_len=$(head -1 "$tmp/p.tape" | wc -c)
if [ "$(header_secrets "$tmp/p.tape")" = 0 ]; then ok "before any client: secrets 0"; else bad "initial header"; head -1 "$tmp/p.tape"; fi

POLYWS_API_KEY=$KEY_ONE "$POLYWS" watch "$URL/stocks" -s A.AAPL --count 3 -q --format jsonl >"$tmp/w1.out" 2>"$tmp/w1.err"; rc1=$?
sleep 0.3
n1=$(header_secrets "$tmp/p.tape")
# the second client's key is wrong (auth_failed): the recorder saw it all the same
POLYWS_API_KEY=$KEY_TWO "$POLYWS" watch "$URL/stocks" -s A.AAPL --duration 2 --max-attempts 1 -q --format jsonl \
  >"$tmp/w2.out" 2>"$tmp/w2.err"
# the first key again: not counted twice
POLYWS_API_KEY=$KEY_ONE "$POLYWS" watch "$URL/stocks" -s A.AAPL --count 1 -q --format jsonl >"$tmp/w3.out" 2>"$tmp/w3.err"
sleep 0.3
n_live=$(header_secrets "$tmp/p.tape")
kill -TERM $RECPID; wait $RECPID; rrc=$?

if [ "$rc1" -eq 0 ] && [ "$n1" = 1 ]; then ok "after one client authenticated: secrets 1 (while recording)"; else bad "one key (rc=$rc1, secrets=$n1)"; head -1 "$tmp/p.tape"; fi
if [ "$n_live" = 2 ] && [ "$rrc" -eq 0 ] && [ "$(header_secrets "$tmp/p.tape")" = 2 ]; then
  ok "two distinct keys, one of them twice: secrets 2"; else bad "two keys (live=$n_live, rc=$rrc)"; head -1 "$tmp/p.tape"; fi
if [ "$(head -1 "$tmp/p.tape" | wc -c)" -eq "$header_len" ]; then ok "the header kept its length"; else bad "header length changed"; fi
if python3 -c '
import json, sys
lines = open(sys.argv[1]).read().split("\n")
assert lines[-1] == ""
[json.loads(l) for l in lines[:-1]]
' "$tmp/p.tape"; then ok "every line of the tape is JSON"; else bad "tape lines"; fi
"$POLYWS" tape stats "$tmp/p.tape" >"$tmp/stats.out" 2>&1; rc=$?
if [ $rc -eq 0 ] && grep -q "^connections  3" "$tmp/stats.out"; then ok "tape stats reads it"; else bad "stats (rc=$rc)"; cat "$tmp/stats.out"; fi
if grep -rqF -e "$KEY_ONE" -e "$KEY_TWO" "$tmp"; then bad "a key leaked:"; grep -rlF -e "$KEY_ONE" -e "$KEY_TWO" "$tmp"; else ok "no key in the tape or any output"; fi

# a tape on stdout (maybe a pipe) cannot be rewritten: it keeps the count it started with
start rec2 "$POLYWS" record --upstream "$MOCK_URL" -o -
RECPID=$LASTPID
POLYWS_API_KEY=$KEY_ONE timeout 20 "$POLYWS" watch "$URL/stocks" -s A.AAPL --count 1 -q --format jsonl >/dev/null 2>&1
sleep 0.3
kill -TERM $RECPID; wait $RECPID; rrc=$?
if [ $rrc -eq 0 ] && grep -q '^{"polyws_tape":1' "$tmp/rec2.out" && grep -q '"kind":"open"' "$tmp/rec2.out" &&
   ! grep -qF "$KEY_ONE" "$tmp/rec2.out"; then ok "-o -: a whole tape on stdout, no key"; else bad "-o - (rc=$rrc)"; head -3 "$tmp/rec2.err"; fi

if grep -lq "Sanitizer\|runtime error" "$tmp"/*.err 2>/dev/null; then bad "sanitizer reports:"; grep -h -A5 "Sanitizer\|runtime error" "$tmp"/*.err | head -40
else ok "no sanitizer report in any stderr"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
