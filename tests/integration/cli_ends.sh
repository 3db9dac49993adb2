#!/usr/bin/env bash
# cli_ends.sh POLYWS - how the commands end when what they talk to goes away, through the real
# binary and the real mock on 127.0.0.1 (ephemeral ports):
#   - a reader of stdout that goes away (`| head -n 1`, a pipe closed before the first write):
#     the command stops at once with status 0; a full disk (/dev/full): status 1 and a clear line;
#   - a dead upstream (a port bound, then closed): watch and record end with "cannot reach URL",
#     status 1, in bounded time; record's proxy mode already at start-up, or once
#     --max-retries + 1 client sessions in a row could not reach it.
set -u
POLYWS=$1
. "$(dirname "$0")/lib.sh" # tmp, servers stopped at exit, ok/bad, start
export POLYWS_API_KEY="ends-secret-key-4242" # the mock takes any key; it must never be printed

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
closed_port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
# closed_pipe CMD...: runs CMD with stdout a pipe whose reader is already gone (a deterministic
# EPIPE on the first write); prints its exit status; its stderr goes to $tmp/cp.err.
closed_pipe() {
  /usr/bin/python3 - "$@" 2>"$tmp/cp.err" <<'EOF'
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
p = subprocess.run(sys.argv[1:], stdout=w, timeout=20)
print(p.returncode)
EOF
}

start mock "$POLYWS" mock --rate 2000
MOCK=$URL/stocks

# 1. watch | head -n 1: at once, status 0, one line
t=$(date +%s%N)
timeout 10 "$POLYWS" watch "$MOCK" -s A.AAPL -q --format jsonl 2>"$tmp/w.err" | head -n 1 >"$tmp/w.head"
st=("${PIPESTATUS[@]}"); el=$(ms_since "$t")
if [ "${st[0]}" -eq 0 ] && [ "$(wc -l <"$tmp/w.head")" -eq 1 ] && [ "$el" -lt 5000 ] && [ ! -s "$tmp/w.err" ]; then
  ok "watch | head -n 1: status 0 in $el ms, one line, nothing on stderr"
else bad "watch | head -n 1 (status ${st[*]}, $el ms)"; cat "$tmp/w.err"; fi
rc=$(closed_pipe "$POLYWS" watch "$MOCK" -s A.AAPL -q --format jsonl)
if [ "$rc" = 0 ] && [ ! -s "$tmp/cp.err" ]; then ok "watch into a closed pipe: status 0, quiet"; else bad "watch into a closed pipe (rc=$rc)"; cat "$tmp/cp.err"; fi

# 2. watch > /dev/full: status 1, one clear line
t=$(date +%s%N)
timeout 10 "$POLYWS" watch "$MOCK" -s A.AAPL -q --format jsonl >/dev/full 2>"$tmp/full.err"; rc=$?; el=$(ms_since "$t")
if [ $rc -eq 1 ] && [ "$el" -lt 5000 ] && grep -qx "polyws watch: cannot write to standard output: No space left on device" "$tmp/full.err"; then
  ok "watch > /dev/full: status 1 in $el ms, a clear line"; else bad "watch > /dev/full (rc=$rc, $el ms)"; cat "$tmp/full.err"; fi

# 3. record --jsonl -: the same, and the tape is still a tape
t=$(date +%s%N)
timeout 10 "$POLYWS" record --url "$MOCK" -s A.AAPL -q --jsonl - -o "$tmp/r.tape" 2>"$tmp/r.err" | head -n 1 >"$tmp/r.head"
st=("${PIPESTATUS[@]}"); el=$(ms_since "$t")
if [ "${st[0]}" -eq 0 ] && [ "$(wc -l <"$tmp/r.head")" -eq 1 ] && [ "$el" -lt 8000 ] && head -1 "$tmp/r.tape" | grep -q '"polyws_tape"'; then
  ok "record --jsonl - | head -n 1: status 0 in $el ms, a tape"
else bad "record --jsonl - | head (status ${st[*]}, $el ms)"; cat "$tmp/r.err"; fi
timeout 10 "$POLYWS" record --url "$MOCK" -s A.AAPL -q --jsonl - -o "$tmp/r2.tape" >/dev/full 2>"$tmp/rf.err"; rc=$?
if [ $rc -eq 1 ] && grep -q "polyws record: cannot write to standard output: No space left on device" "$tmp/rf.err"; then
  ok "record --jsonl - > /dev/full: status 1, a clear line"; else bad "record > /dev/full (rc=$rc)"; cat "$tmp/rf.err"; fi

# 4. tape and check output, --help and --version: a closed pipe is status 0, /dev/full status 1
"$POLYWS" check --client "cat >/dev/null" --client-output none "$(dirname "$0")/../../scenarios/happy_path.yaml" >/dev/null 2>&1 || true
for args in "tape stats $tmp/r.tape" "tape to-har $tmp/r.tape" "tape to-scenario $tmp/r.tape" "tape --help" "watch --help" "--version"; do
  # shellcheck disable=SC2086
  rc=$(closed_pipe "$POLYWS" $args)
  if [ "$rc" = 0 ] && [ ! -s "$tmp/cp.err" ]; then ok "polyws $args into a closed pipe: status 0"; else bad "polyws $args into a closed pipe (rc=$rc)"; cat "$tmp/cp.err"; fi
  # shellcheck disable=SC2086
  "$POLYWS" $args >/dev/full 2>"$tmp/df.err"; rc=$?
  if [ $rc -eq 1 ] && grep -q "cannot write to standard output: No space left on device" "$tmp/df.err"; then
    ok "polyws $args > /dev/full: status 1"; else bad "polyws $args > /dev/full (rc=$rc)"; cat "$tmp/df.err"; fi
done
mkdir "$tmp/scen"
for i in 1 2 3; do
  printf 'description: passes with any client that exits 0\nclient: {timeout: 5s}\nconnections:\n  1: [handshake]\n' >"$tmp/scen/s$i.yaml"
done
t=$(date +%s%N)
rc=$(closed_pipe "$POLYWS" check --client "exit 0" --client-output none "$tmp/scen")
el=$(ms_since "$t")
if [ "$rc" = 0 ] && [ ! -s "$tmp/cp.err" ]; then ok "check into a closed pipe: status 0 ($el ms)"; else bad "check into a closed pipe (rc=$rc)"; cat "$tmp/cp.err"; fi
# a failure is not hidden behind the pipe: the verdict of what ran stands
printf 'description: fails with a client that exits at once\nclient: {timeout: 5s}\nconnections:\n  1: [handshake]\nassert:\n  - min_connects: 1\n' >"$tmp/fail.yaml"
rc=$(closed_pipe "$POLYWS" check --client "exit 0" --client-output none "$tmp/fail.yaml")
if [ "$rc" = 1 ]; then ok "check of a failing scenario into a closed pipe: status 1"; else bad "check of a failing scenario into a closed pipe (rc=$rc)"; cat "$tmp/cp.err"; fi
"$POLYWS" check --client "exit 0" --client-output none "$tmp/scen" >/dev/full 2>"$tmp/cf.err"; rc=$?
if [ $rc -eq 1 ] && grep -q "polyws check: cannot write to standard output: No space left on device" "$tmp/cf.err"; then
  ok "check > /dev/full: status 1"; else bad "check > /dev/full (rc=$rc)"; cat "$tmp/cf.err"; fi

# 5. a dead upstream: watch gives up after --max-retries (default 5) before a first connection
DEAD=ws://127.0.0.1:$(closed_port)/stocks
t=$(date +%s%N)
timeout 20 "$POLYWS" watch "$DEAD" -s A.AAPL -q --backoff-ms 20 >/dev/null 2>"$tmp/dw.err"; rc=$?; el=$(ms_since "$t")
if [ $rc -eq 1 ] && [ "$el" -lt 5000 ] && grep -q "^polyws watch: cannot reach $DEAD: .*(gave up after 6 attempts; --max-retries)" "$tmp/dw.err"; then
  ok "watch, dead URL: status 1 after 6 attempts in $el ms"; else bad "watch, dead URL (rc=$rc, $el ms)"; cat "$tmp/dw.err"; fi
timeout 20 "$POLYWS" watch "$DEAD" -s A.AAPL -q --max-retries 0 >/dev/null 2>"$tmp/dw0.err"; rc=$?
if [ $rc -eq 1 ] && grep -q "gave up after 1 attempt;" "$tmp/dw0.err"; then ok "watch --max-retries 0: the first failure ends it"
else bad "watch --max-retries 0 (rc=$rc)"; cat "$tmp/dw0.err"; fi

# 6. record direct mode: the same, with the upstream's own error; the key in the URL is not shown
t=$(date +%s%N)
timeout 20 "$POLYWS" record --url "$DEAD?apiKey=$POLYWS_API_KEY" -s A.AAPL -q --max-retries 1 -o "$tmp/d.tape" 2>"$tmp/dr.err"; rc=$?; el=$(ms_since "$t")
if [ $rc -eq 1 ] && [ "$el" -lt 5000 ] && grep -q "^polyws record: cannot reach $DEAD: cannot connect to the upstream .*(gave up after 2 attempts; --max-retries)" "$tmp/dr.err"; then
  ok "record --url, dead upstream: status 1 in $el ms"; else bad "record --url, dead upstream (rc=$rc, $el ms)"; cat "$tmp/dr.err"; fi
# the default (5 retries with the connector's backoff, 0.5 s doubling: about 15.5 s)
t=$(date +%s%N)
timeout 40 "$POLYWS" record --url "$DEAD" -s A.AAPL -q -o "$tmp/d2.tape" 2>"$tmp/dr2.err"; rc=$?; el=$(ms_since "$t")
if [ $rc -eq 1 ] && [ "$el" -lt 25000 ] && grep -q "(gave up after 6 attempts; --max-retries)" "$tmp/dr2.err"; then
  ok "record --url, dead upstream, default retries: status 1 in $el ms"; else bad "record default retries (rc=$rc, $el ms)"; cat "$tmp/dr2.err"; fi

# 7. record proxy mode: a dead upstream is an error at start-up, before the tape is created
t=$(date +%s%N)
timeout 20 "$POLYWS" record --upstream "$DEAD" -o "$tmp/p.tape" >"$tmp/p.out" 2>"$tmp/p.err"; rc=$?; el=$(ms_since "$t")
if [ $rc -eq 1 ] && [ "$el" -lt 3000 ] && [ ! -e "$tmp/p.tape" ] && [ ! -s "$tmp/p.out" ] &&
   grep -qx "polyws record: cannot reach $DEAD: connecting to 127.0.0.1:[0-9]*: Connection refused" "$tmp/p.err"; then
  ok "record --upstream, dead: status 1 in $el ms, no tape, no listening line"; else bad "record --upstream, dead (rc=$rc, $el ms)"; cat "$tmp/p.err"; fi
# a wss upstream whose certificate is refused: the TLS handshake is part of the probe
start tlsmock "$POLYWS" mock --tls
timeout 20 "$POLYWS" record --upstream "$URL/stocks" -o "$tmp/t.tape" >/dev/null 2>"$tmp/t.err"; rc=$?
if [ $rc -eq 1 ] && grep -q "polyws record: cannot reach $URL/stocks: tls: certificate verify failed: self-signed certificate" "$tmp/t.err"; then
  ok "record --upstream wss, untrusted certificate: status 1 at start-up"; else bad "record --upstream wss (rc=$rc)"; cat "$tmp/t.err"; fi
CA=$(awk '/^ca-file /{print $2}' "$tmp/tlsmock.out")
timeout 20 "$POLYWS" record --upstream "$URL/stocks" --ca "$CA" -d 0.3 -o "$tmp/t2.tape" >/dev/null 2>"$tmp/t2.err"; rc=$?
if [ $rc -eq 0 ]; then ok "record --upstream wss with its CA: the probe passes"; else bad "record --upstream wss --ca (rc=$rc)"; cat "$tmp/t2.err"; fi

# 8. record proxy mode: an upstream that dies later ends it after --max-retries + 1 sessions in a row
start upmock "$POLYWS" mock
UPPID=$LASTPID
UP=$URL/stocks
start rec "$POLYWS" record --upstream "$UP" --max-retries 1 -o "$tmp/later.tape"
RECPID=$LASTPID
REC=$URL
timeout 10 "$POLYWS" watch "$REC" -s A.AAPL -q -n 3 --format jsonl >"$tmp/l1.out" 2>&1; rc1=$?
kill "$UPPID"; wait "$UPPID" 2>/dev/null
t=$(date +%s%N)
timeout 20 "$POLYWS" watch "$REC" -s A.AAPL -q --backoff-ms 50 --max-retries 3 >/dev/null 2>&1
for _ in $(seq 100); do kill -0 "$RECPID" 2>/dev/null || break; sleep 0.05; done
wait "$RECPID"; rc=$?; el=$(ms_since "$t")
if [ $rc1 -eq 0 ] && [ $rc -eq 1 ] && [ "$el" -lt 10000 ] &&
   grep -q "polyws record: cannot reach $UP: cannot connect to the upstream .*(gave up after 2 client sessions in a row; --max-retries)" "$tmp/rec.err"; then
  ok "record --upstream: an upstream that died ends it (status 1, $el ms)"; else bad "record --upstream, upstream died (rc=$rc1/$rc, $el ms)"; cat "$tmp/rec.err"; fi

if grep -rqF -e "$POLYWS_API_KEY" "$tmp"/*.err "$tmp"/*.out 2>/dev/null; then bad "the key was printed"; else ok "the key never printed"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
