#!/usr/bin/env bash
# check_contract.sh POLYWS BADCLIENT REPO - `polyws check` judges the client contract
# (docs/client-contract.md), not a formatting: every client here is polyws watch behind a
# filter that keeps the contract (other spacing, numbers written differently, hints ignored)
# or breaks it (an altered, a dropped, a reordered event), plus the deliberately wrong
# badclient for first-cause headlines, --client-output none, --shard, JUnit and the status line.
set -uo pipefail
POLYWS=$1
BAD=$2
REPO=$3
S=$REPO/scenarios
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
show() { sed 's/^/    | /' "$1" | head -40; }
# run NAME ARGS...: polyws check, output in $tmp/NAME.out, exit status in RC
run() {
  local name=$1; shift
  "$POLYWS" check "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  RC=$?
}
WATCH="env -u POLYWS_COUNT -u POLYWS_DURATION '$POLYWS' watch -q --format jsonl"

# 1. Other spacing, numbers by value, count ignored: passes; the runner stops it once complete.
respace="$WATCH | sed -u -e 's/\":/\": /g' -e 's/,\"/, \"/g' -e 's/\"p\": 190.5,/\"p\": 1.905e2,/'"
run spacing --verbose --client "$respace" "$S/happy_path.yaml" "$S/unknown_event_types.yaml" "$S/invalid_json.yaml"
if [ $RC -eq 0 ] && grep -q "stopped by the runner: the scenario was complete" "$tmp/spacing.out" &&
   grep -Eq "ok: events: [0-9]+ printed events \(types (A, T|T, A)\) all agree" "$tmp/spacing.out"; then
  ok "other spacing and number forms pass; a client ignoring POLYWS_COUNT is stopped once complete"
else bad "spacing (rc=$RC)"; show "$tmp/spacing.out"; fi

# 2. Duration hint ignored: stopped 2 s after client.duration, not a failure.
run duration --verbose --client "$WATCH" "$S/force_disconnect.yaml"
if [ $RC -eq 0 ] && grep -q "stopped by the runner: the scenario was complete" "$tmp/duration.out"; then
  ok "a client ignoring POLYWS_DURATION passes"; else bad "duration (rc=$RC)"; show "$tmp/duration.out"; fi

# 3. An altered event is caught as never sent.
run altered --client "$WATCH | sed -u 's/\"i\":\"after\"/\"i\":\"later\"/'" "$S/invalid_json.yaml"
if [ $RC -eq 1 ] && grep -q "^FAIL invalid_json .*: events: stdout line [0-9]* printed {.*i=later.*}, which the server never sent" "$tmp/altered.out"; then
  ok "altered event: headline says it was never sent"; else bad "altered (rc=$RC)"; show "$tmp/altered.out"; fi

# 4. A dropped event in the middle of a connection is caught as lost, with its time.
run lost --client "'$POLYWS' watch -q --format jsonl | awk 'NR != 12 { print; fflush() }'" "$S/happy_path.yaml"
if [ $RC -eq 1 ] && grep -Eq "^FAIL happy_path .*: events: connection 1 sent \{.*\} at \+[0-9.]+ s and the client never printed it" "$tmp/lost.out"; then
  ok "dropped event: headline names the lost event"; else bad "lost (rc=$RC)"; show "$tmp/lost.out"; fi

# 5. Reordered events of one symbol are caught.
run reorder --client "'$POLYWS' watch -q --format jsonl | tac" "$S/trade_sequence_anomalies.yaml"
if [ $RC -eq 1 ] && grep -q "^FAIL trade_sequence_anomalies .*: events: stdout line [0-9]* printed .* out of order or twice" "$tmp/reorder.out"; then
  ok "reordered events: headline says out of order"; else bad "reorder (rc=$RC)"; show "$tmp/reorder.out"; fi

# 6. --client-output none: output not judged, output assertions skipped in JUnit.
run none --client-output none --junit "$tmp/none.xml" --client "echo garbage; '$POLYWS' watch -q --format jsonl >/dev/null" "$S/happy_path.yaml"
if [ $RC -eq 0 ] && grep -q 'skipped="2"' "$tmp/none.xml" && [ "$(grep -c '<skipped message="printed: skipped' "$tmp/none.xml")" -eq 2 ]; then
  ok "--client-output none: passes, two output assertions skipped in JUnit"; else bad "none (rc=$RC)"; show "$tmp/none.out"; cat "$tmp/none.xml"; fi
run none_bad --client-output nothing "$S/happy_path.yaml"
[ $RC -eq 2 ] && grep -q "client-output needs events or none" "$tmp/none_bad.err" && ok "--client-output nothing: exit 2" || bad "--client-output nothing (rc=$RC)"

# 7. First-cause headlines with the deliberately wrong clients.
expect_head() { # NAME MODE SCENARIO REGEX
  run "$1" --junit "$tmp/$1.xml" --client "$BAD $2" "$S/$3.yaml"
  if [ $RC -eq 1 ] && grep -Eq "^FAIL $3 \([0-9.]+ s\): $4" "$tmp/$1.out" &&
     /usr/bin/python3 - "$tmp/$1.xml" "$4" <<'EOF'
import re, sys, xml.etree.ElementTree as ET
f = ET.parse(sys.argv[1]).getroot().find(".//failure")
assert f is not None and re.match(sys.argv[2], f.get("message")), f.get("message") if f is not None else None
EOF
  then ok "badclient $2 on $3: headline and JUnit message /$4/"
  else bad "badclient $2 on $3 (rc=$RC)"; show "$tmp/$1.out"; fi
}
expect_head noauth no-auth happy_path "auth_within: connection 1 sent no auth within 2000 ms"
expect_head norecon no-reconnect demo "min_connects: did not reconnect after connection 1 ended at \+[0-9.]+ s \(dropped without a close frame\)"
expect_head noresub no-resubscribe demo "resubscribed: connection 2 subscribed to \{\} after auth_success"
if grep -q "set client.killed_ok" "$tmp/noauth.out"; then bad "no-auth: a killed_ok hint that does not apply"; else ok "no-auth: no killed_ok hint"; fi

# 8. JUnit: every testcase has <system-out>, "(no output)" and how the client ended when it
# printed nothing.
run silent --junit "$tmp/silent.xml" --timeout 2 --client "true" "$S/happy_path.yaml"
if [ $RC -eq 1 ] && grep -q "<system-out>(no output) client: exited with 0 after" "$tmp/silent.xml"; then
  ok "JUnit: (no output) for a silent client"; else bad "silent JUnit (rc=$RC)"; cat "$tmp/silent.xml"; fi

# 9. --shard: N shards run every scenario exactly once; bad values are usage errors.
all=$(ls "$S"/*.yaml | wc -l)
: >"$tmp/shards"
for i in 1 2 3; do
  run "shard$i" --shard "$i/3" --timeout 1 --client true --junit "$tmp/shard$i.xml" "$S"
  grep -Eo '^(PASS|FAIL) [^ ]+' "$tmp/shard$i.out" | cut -d' ' -f2 >>"$tmp/shards"
  grep -q "polyws.scenarios.shard${i}of3" "$tmp/shard$i.xml" || bad "shard $i: JUnit suite name"
done
if [ "$(wc -l <"$tmp/shards")" -eq "$all" ] && [ "$(sort -u "$tmp/shards" | wc -l)" -eq "$all" ]; then
  ok "--shard 1/3..3/3: $all scenarios, each once"; else bad "shards: $(wc -l <"$tmp/shards") run, want $all"; fi
run shardagain --shard 2/3 --timeout 1 --client true "$S"
if diff <(grep -Eo '^(PASS|FAIL) [^ ]+' "$tmp/shard2.out" | cut -d' ' -f2) \
        <(grep -Eo '^(PASS|FAIL) [^ ]+' "$tmp/shardagain.out" | cut -d' ' -f2) >/dev/null; then
  ok "--shard is stable"; else bad "--shard 2/3 differs between runs"; fi
for v in 0/3 4/3 1/0 x 1/3x -1/3 1/1001; do
  run shardbad --shard "$v" "$S/happy_path.yaml"
  [ $RC -eq 2 ] && grep -q "shard needs I/N" "$tmp/shardbad.err" || bad "--shard $v (rc=$RC)"
done
ok "bad --shard values are usage errors"

# 10. A status line on a terminal, none otherwise.
if command -v script >/dev/null; then
  script -qfec "'$POLYWS' check --client true --timeout 1 '$S/happy_path.yaml' '$S/auth_failed.yaml'" /dev/null >"$tmp/tty.out" 2>&1
  if grep -q $'\r\033\[K\[[0-9]/2\]' "$tmp/tty.out" && grep -q "0 passed, 2 failed" "$tmp/tty.out"; then
    ok "status line on a terminal"; else bad "no status line on a terminal"; cat -v "$tmp/tty.out" | head; fi
  if grep -q $'\033' "$tmp/silent.out"; then bad "escape codes when stdout is not a terminal"; else ok "no status line off a terminal"; fi
else
  bad "script(1) (util-linux) is missing"
fi

echo "$fails failure(s)"
[ $fails -eq 0 ]
