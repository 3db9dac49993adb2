#!/usr/bin/env bash
# check_cli.sh POLYWS BADCLIENT SCENARIOS_DIR - `polyws check` end to end.
#
# The scenarios in SCENARIOS_DIR (tests/scenarios) are each built for one
# mistake of tests/clients/badclient.c: that mode must FAIL with the right
# assertion message, while our own client (polyws watch, the default) and
# `badclient good` PASS all of them.  Also: usage errors, --jobs, --junit
# (parsed with python3 when it is installed), --journal, a load error with
# file:line:col, a client that hangs (killed at the timeout with its whole
# process group), a missing client command, and that the API key appears
# nowhere.  Every mock binds 127.0.0.1 port 0; nothing is left running.
set -u
POLYWS=$1
BAD=$2
SCEN=$3
tmp=$(mktemp -d)
trap '[ -n "${KEEP_TMP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT
fails=0
passes=0
ok() { passes=$((passes + 1)); echo "ok   - $1"; }
bad() { fails=$((fails + 1)); echo "FAIL - $1"; }
# show FILE: the output of a failed check, indented
show() { sed 's/^/       | /' "$1" | head -60; }

# run NAME [args...]: polyws check with output in $tmp/NAME.out, exit code in RC
run() {
  local name=$1; shift
  "$POLYWS" check "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  RC=$?
}

# 1. help and usage errors
if "$POLYWS" check --help | grep -q -- "--junit" && "$POLYWS" --help | grep -q "check"; then ok "--help"; else bad "--help"; fi
run u1; [ $RC -eq 2 ] && grep -q "no scenario" "$tmp/u1.err" && ok "no scenario: exit 2" || bad "no scenario (rc=$RC)"
run u2 --jobs 0 "$SCEN"; [ $RC -eq 2 ] && ok "--jobs 0: exit 2" || bad "--jobs 0 (rc=$RC)"
run u3 "$tmp/nope.yaml"; [ $RC -eq 2 ] && grep -q "nope.yaml" "$tmp/u3.err" && ok "missing file: exit 2" || bad "missing file (rc=$RC)"
run u4 --frobnicate "$SCEN"; [ $RC -eq 2 ] && ok "unknown option: exit 2" || bad "unknown option (rc=$RC)"
mkdir "$tmp/empty"
run u5 "$tmp/empty"; [ $RC -eq 2 ] && grep -q "no \*.yaml" "$tmp/u5.err" && ok "empty dir: exit 2" || bad "empty dir (rc=$RC)"

n_scen=$(ls "$SCEN"/*.yaml | wc -l)

# 2. our own client passes every scenario (serially), and so does badclient good
run own "$SCEN"
if [ $RC -eq 0 ] && [ "$(tail -1 "$tmp/own.out")" = "$n_scen passed, 0 failed" ]; then ok "polyws watch passes all $n_scen scenarios"
else bad "polyws watch (rc=$RC)"; show "$tmp/own.out"; fi
run good --client "$BAD good" "$SCEN"
if [ $RC -eq 0 ] && [ "$(tail -1 "$tmp/good.out")" = "$n_scen passed, 0 failed" ]; then ok "badclient good passes all $n_scen scenarios"
else bad "badclient good (rc=$RC)"; show "$tmp/good.out"; fi

# 3. each wrong client fails its scenario with the right assertion
# expect_fail MODE SCENARIO REGEX: the FAIL line must carry the assertion message
expect_fail() {
  local mode=$1 scen=$2 re=$3
  run "bad-$mode" --client "$BAD $mode" "$SCEN/$scen.yaml"
  if [ $RC -eq 1 ] && grep -Eq "^FAIL [^ ]+ \([0-9.]+ s\): $re" "$tmp/bad-$mode.out" &&
     [ "$(tail -1 "$tmp/bad-$mode.out")" = "0 passed, 1 failed" ] &&
     grep -q "last frames on connection" "$tmp/bad-$mode.out"; then
    ok "badclient $mode fails $scen"
  else
    bad "badclient $mode on $scen (rc=$RC)"; show "$tmp/bad-$mode.out"
  fi
}
expect_fail no-auth check_auth_within \
  "auth_within: connection 1 sent no auth within 1000 ms \(it was open for [0-9]+ ms\) \(.*check_auth_within.yaml:[0-9]+:[0-9]+\)"
expect_fail early-subscribe check_early_subscribe \
  "no_subscribe_before_auth: connection 1 sent a subscribe [0-9]+ ms after opening, before auth_success \(\{\"action\":\"subscribe\""
expect_fail no-delay check_reconnect_delay \
  "reconnect_delay: reconnected [0-9]+ ms after connection 1 ended, expected a gap >= 200 ms \\(connection 2\\) \(.*check_reconnect_delay.yaml:[0-9]+:[0-9]+\)"
expect_fail no-resubscribe check_resubscribed \
  "resubscribed: connection 2 subscribed to \{\} after auth_success, expected \{A.AAPL, T.MSFT\} as on connection 1"

# 4. --jobs 4, --junit, --journal: all scenarios with the wrong no-delay client (one fails), in order
run jobs --jobs 4 --junit "$tmp/junit.xml" --journal "$tmp/journals" --client "$BAD no-delay" "$SCEN"
order_want=$(for f in $(ls "$SCEN"/*.yaml | sort); do sed -n 's/^name: *//p' "$f"; done)
order_got=$(grep -E '^(PASS|FAIL) ' "$tmp/jobs.out" | awk '{print $2}')
if [ $RC -eq 1 ] && [ "$order_got" = "$order_want" ] &&
   [ "$(tail -1 "$tmp/jobs.out")" = "$((n_scen - 1)) passed, 1 failed" ]; then ok "--jobs 4: results in order, one failure"
else bad "--jobs 4 (rc=$RC)"; show "$tmp/jobs.out"; fi
if [ "$(ls "$tmp/journals" | wc -l)" -eq "$n_scen" ] && grep -q '"kind":"open"' "$tmp/journals/check-reconnect-delay.jsonl"; then
  ok "--journal: one file per scenario"; else bad "--journal"; ls -l "$tmp/journals"; fi
if command -v python3 >/dev/null; then
  if python3 - "$tmp/junit.xml" "$tmp/journals" "$n_scen" <<'EOF'
import json, os, sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suite = root if root.tag == "testsuite" else root.find("testsuite")
n = int(sys.argv[3])
assert suite is not None, "no testsuite"
assert int(suite.get("tests")) == n and int(suite.get("failures")) == 1, suite.attrib
assert float(suite.get("time")) > 0
cases = suite.findall("testcase")
assert len(cases) == n
for c in cases:
    assert c.get("classname") == "polyws.scenarios" and c.get("name") and float(c.get("time")) >= 0
failed = [c for c in cases if c.find("failure") is not None]
assert len(failed) == 1 and failed[0].get("name") == "check-reconnect-delay"
f = failed[0].find("failure")
assert f.get("message").startswith("reconnect_delay: reconnected "), f.get("message")
assert "last frames on connection 2" in f.text
assert failed[0].find("system-out") is not None
for name in os.listdir(sys.argv[2]):
    with open(os.path.join(sys.argv[2], name)) as fh:
        head = json.loads(fh.readline())  # a tape header: the mock's URL and start
        assert head["polyws_tape"] == 1 and head["mode"] == "mock" and head["url"].startswith("ws://127.0.0.1:"), head
        for line in fh:
            e = json.loads(line)
            assert {"t_us", "conn", "dir", "kind"} <= e.keys(), e
EOF
  then ok "JUnit well-formed with the right counts; journals: a header, then JSON lines"; else bad "JUnit / journal content"; head -c 3000 "$tmp/junit.xml"; fi
else
  echo "skip - python3 not installed: JUnit not parsed"
fi

# 5. a load error is a failure with file:line:col, and the other scenarios still run
mkdir "$tmp/mixed"
printf 'name: broken\ndescription: a typo\nassert:\n  - auth_within: soon\n' >"$tmp/mixed/a_broken.yaml"
cp "$SCEN/check_auth_within.yaml" "$tmp/mixed/b_ok.yaml"
mkdir "$tmp/mixed/expected"; echo "not: [yaml" >"$tmp/mixed/expected/ignored.yaml"
run mixed "$tmp/mixed"
if [ $RC -eq 1 ] && grep -Eq "^FAIL a_broken \([0-9.]+ s\): $tmp/mixed/a_broken.yaml:4:[0-9]+: " "$tmp/mixed.out" &&
   grep -q "^PASS check-auth-within" "$tmp/mixed.out" && [ "$(tail -1 "$tmp/mixed.out")" = "1 passed, 1 failed" ]; then
  ok "load error reported with file:line:col; expected/ skipped"; else bad "load error (rc=$RC)"; show "$tmp/mixed.out"; fi

# 6. a client that hangs is stopped at the timeout, with everything in its process group
start=$(date +%s%N)
run hang --timeout 1 --client "sleep 61.25 & sleep 62.25; true" "$SCEN/check_auth_within.yaml"
el=$(( ($(date +%s%N) - start) / 1000000 ))
sleep 0.2
if [ $RC -eq 1 ] && grep -q "still running after the 1.0 s timeout" "$tmp/hang.out" && [ $el -lt 8000 ]; then
  ok "hanging client stopped at the timeout (${el} ms)"; else bad "hanging client (rc=$RC, ${el} ms)"; show "$tmp/hang.out"; fi
if ps -eo args | grep -Eq "^sleep 6[12]\.25"; then bad "a client process survived"; ps -eo pid,pgid,args | grep "sleep 6"; else ok "no client process left behind"; fi

# 7. a client command that does not exist
run missing --client "$tmp/no-such-client" "$SCEN/check_auth_within.yaml"
if [ $RC -eq 1 ] && grep -q "client: the shell exited with 127: the command was not found" "$tmp/missing.out"; then
  ok "missing client command"; else bad "missing client (rc=$RC)"; show "$tmp/missing.out"; fi
# a client whose runtime stops before it connects: that is the headline, with its stderr
printf '#!/bin/sh\necho "no module named websockets" >&2\nexit 3\n' >"$tmp/nostart.sh"; chmod +x "$tmp/nostart.sh"
run nostart --client "$tmp/nostart.sh" "$SCEN/check_auth_within.yaml"
if [ $RC -eq 1 ] && grep -q "^FAIL .*: client: exited with 3 before opening any connection (see its stderr)" "$tmp/nostart.out" &&
   grep -q "no module named websockets" "$tmp/nostart.out"; then
  ok "a client that exits before connecting: the headline says so, its stderr shown"
else bad "client exiting before connecting (rc=$RC)"; show "$tmp/nostart.out"; fi

# 8. the key never appears: a listed key and a generated one, echoed by the client everywhere
KEY="check-secret-key-0001-xyz"
mkdir "$tmp/keys"
cat >"$tmp/keys/listed.yaml" <<EOF
name: listed-key
description: the client authenticates with the scenario's key and prints it
server:
  keys: [$KEY]
client:
  count: 3
  timeout: 10s
assert:
  - output_matches: {stdout: 'nothing like this'}
EOF
sed -e 's/^name: .*/name: generated-key/' -e '/^server:/d' -e '/^  keys:/d' "$tmp/keys/listed.yaml" >"$tmp/keys/generated.yaml"
leak_client="echo \"key is \$POLYWS_API_KEY\"; echo \"\$POLYWS_API_KEY\" >>$tmp/seen-keys; echo \"stderr \$POLYWS_API_KEY\" >&2; $POLYWS watch -q --format jsonl --count 3"
run keys --junit "$tmp/keys.xml" --journal "$tmp/keyjournal" --verbose --client "$leak_client" "$tmp/keys"
if [ $RC -eq 1 ] && [ "$(tail -1 "$tmp/keys.out")" = "0 passed, 2 failed" ] && grep -q "key is \*\*\*" "$tmp/keys.xml" &&
   grep -q "stderr \*\*\*" "$tmp/keys.out" && [ "$(wc -l <"$tmp/seen-keys")" -eq 2 ] && grep -q "^$KEY$" "$tmp/seen-keys"; then
  ok "keys given to the client and shown as ***"; else bad "key run (rc=$RC)"; show "$tmp/keys.out"; fi
leaked=0
while read -r k; do
  if grep -rqF -- "$k" "$tmp/keys.out" "$tmp/keys.err" "$tmp/keys.xml" "$tmp/keyjournal"; then leaked=1; echo "leaked: $k"; fi
done <"$tmp/seen-keys"
if [ $leaked -eq 0 ] && grep -qF 'params\":\"***' "$tmp/keyjournal/listed-key.jsonl"; then
  ok "no key in output, JUnit or journal"; else bad "a key leaked"; fi

# 9. SIGINT: the running client's group is stopped, the rest is not started, the summary still comes
"$POLYWS" check --client "sleep 63.25" "$SCEN/check_auth_within.yaml" "$SCEN/check_early_subscribe.yaml" \
  >"$tmp/int.out" 2>&1 &
cpid=$!
for _ in $(seq 200); do ps -eo args | grep -Eq "^sleep 63\.25" && break; sleep 0.05; done
kill -INT $cpid
wait $cpid
RC=$?
sleep 0.2
if [ $RC -eq 1 ] && grep -q "client: stopped because the run was interrupted" "$tmp/int.out" &&
   grep -q "^FAIL check-early-subscribe (0.0 s): not run: interrupted" "$tmp/int.out" &&
   [ "$(tail -1 "$tmp/int.out")" = "0 passed, 2 failed" ] && ! ps -eo args | grep -Eq "^sleep 63\.25"; then
  ok "SIGINT stops the client and summarizes"; else bad "SIGINT (rc=$RC)"; show "$tmp/int.out"; fi

# 10. the client's environment: the scenario's hints, and nothing else of POLYWS_*
cat >"$tmp/env.yaml" <<EOF
description: the client sees the scenario's count, duration and heartbeat hints
client:
  count: 7
  duration: 2500ms
  heartbeat: 1500ms
  timeout: 10s
assert:
  - client_exit: 0
EOF
POLYWS_STRAY=1 "$POLYWS" check --client "env | grep '^POLYWS_' | sort >$tmp/env.txt" "$tmp/env.yaml" >"$tmp/env.out" 2>&1; RC=$?
if [ $RC -eq 0 ] && grep -qx 'POLYWS_COUNT=7' "$tmp/env.txt" && grep -qx 'POLYWS_DURATION=2.5' "$tmp/env.txt" &&
   grep -qx 'POLYWS_HEARTBEAT_MS=1500' "$tmp/env.txt" && grep -q '^POLYWS_URL=ws://127.0.0.1:' "$tmp/env.txt" &&
   ! grep -q '^POLYWS_STRAY' "$tmp/env.txt"; then
  ok "client environment: hints set, stray POLYWS_* removed"; else bad "client environment (rc=$RC)"; show "$tmp/env.out"; cat "$tmp/env.txt"; fi
"$POLYWS" watch ws://127.0.0.1:1/ -s A.AAPL --heartbeat 50 2>"$tmp/hb.err"; RC=$?
if [ $RC -eq 2 ] && grep -q -- "--heartbeat needs 100..3600000 ms" "$tmp/hb.err"; then ok "watch --heartbeat range"; else bad "watch --heartbeat 50 (rc=$RC)"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
