#!/usr/bin/env bash
# check_tape.sh POLYWS - deterministic regression runs: `polyws check --tape
# TAPE --golden FILE` against a tape recorded from `polyws mock` (with a drop,
# so the replay spans two connections).  Every server binds 127.0.0.1:0.
set -u
P=$1
tmp=$(mktemp -d)
mock=""
trap '[ -n "$mock" ] && kill "$mock" 2>/dev/null; rm -rf "$tmp"' EXIT
passes=0 fails=0
ok() { passes=$((passes + 1)); echo "ok   - $1"; }
bad() { fails=$((fails + 1)); echo "FAIL - $1"; }

export TAPE_KEY="tape-secret-key-424242"
"$P" mock --accept-key-env TAPE_KEY --seed 5 --rate 3000 --drop-after 150 --port-file "$tmp/port" >/dev/null 2>&1 &
mock=$!
for _ in $(seq 200); do [ -s "$tmp/port" ] && break; sleep 0.02; done
url=$(awk '/^listening /{print $2}' "$tmp/port")
POLYWS_API_KEY=$TAPE_KEY "$P" record --url "$url/stocks" -s A.AAPL,T.MSFT --count 400 -o "$tmp/s.tape" -q >"$tmp/rec.out" 2>&1
rc=$?
kill "$mock"; wait "$mock" 2>/dev/null; mock=""
if [ $rc -eq 0 ] && [ -s "$tmp/s.tape" ]; then ok "recorded a tape (direct mode)"; else bad "record (rc=$rc)"; cat "$tmp/rec.out"; fi
if grep -q "$TAPE_KEY" "$tmp/s.tape"; then bad "key in the tape"; else ok "no key in the tape"; fi

"$P" check --tape "$tmp/s.tape" --golden "$tmp/g.jsonl" --update-golden >"$tmp/u.out" 2>&1; rc=$?
if [ $rc -eq 0 ] && grep -q "golden updated" "$tmp/u.out" && [ -s "$tmp/g.jsonl" ]; then ok "--update-golden writes the golden file"; else bad "--update-golden (rc=$rc)"; cat "$tmp/u.out"; fi
cp "$tmp/g.jsonl" "$tmp/g1.jsonl"
"$P" check --tape "$tmp/s.tape" --golden "$tmp/g.jsonl" --update-golden >/dev/null 2>&1
if cmp -s "$tmp/g.jsonl" "$tmp/g1.jsonl"; then ok "two replays give byte-identical output"; else bad "replays differ"; fi
if [ "$(grep -c '"ev":"A"\|"ev":"T"' "$tmp/g.jsonl")" -eq 400 ]; then ok "all 400 events across the drop"; else bad "event count $(grep -c '"ev":"A"\|"ev":"T"' "$tmp/g.jsonl")"; fi

"$P" check --tape "$tmp/s.tape" --golden "$tmp/g.jsonl" >"$tmp/c.out" 2>&1; rc=$?
if [ $rc -eq 0 ] && [ "$(tail -1 "$tmp/c.out")" = "1 passed, 0 failed" ]; then ok "matches its golden file"; else bad "check (rc=$rc)"; cat "$tmp/c.out"; fi

sed -i '10s/"sym":"/"sym":"X/' "$tmp/g.jsonl"
"$P" check --tape "$tmp/s.tape" --golden "$tmp/g.jsonl" >"$tmp/d.out" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q "differs from .* at line 10" "$tmp/d.out" && [ "$(tail -1 "$tmp/d.out")" = "0 passed, 1 failed" ]; then
  ok "a different output fails with the line"; else bad "diff report (rc=$rc)"; cat "$tmp/d.out"; fi

"$P" check --tape "$tmp/s.tape" --golden "$tmp/g1.jsonl" --subscribe A.AAPL --timeout 20 >"$tmp/v.out" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q "deviated from the tape.*expected.*subscribe.*got" "$tmp/v.out"; then
  ok "a deviating client fails with expected vs got"; else bad "deviation (rc=$rc)"; cat "$tmp/v.out"; fi

"$P" check --tape "$tmp/nope.tape" --golden "$tmp/g1.jsonl" >"$tmp/n.out" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q "cannot read the tape" "$tmp/n.out"; then ok "missing tape is a clear failure"; else bad "missing tape (rc=$rc)"; cat "$tmp/n.out"; fi
"$P" check --tape "$tmp/s.tape" >/dev/null 2>&1; rc=$?
if [ $rc -eq 2 ]; then ok "--tape without --golden is a usage error"; else bad "usage (rc=$rc)"; fi

# A mock journal with a hand-made fault frame ("raw" entry) replays as written:
# the client fails connection 1 with close 1002 as on the tape, then goes on.
cat >"$tmp/fault.yaml" <<EOF
description: a frame with RSV bits set mid-stream, then a second connection
client: {subscribe: T.AAPL, count: 2, timeout: 10s}
connections:
  1:
    - handshake
    - events: [{ev: T, sym: AAPL, x: 4, i: before, z: 3, p: 1.5, s: 1, t: 1, q: 1}]
    - fault: reserved_bits
  default:
    - handshake
    - events: [{ev: T, sym: AAPL, x: 4, i: after, z: 3, p: 1.5, s: 1, t: 2, q: 2}]
assert:
  - client_closed_with: {code: 1002, connection: 1}
  - min_connects: 2
EOF
"$P" check --journal "$tmp/fj" "$tmp/fault.yaml" >"$tmp/fj.out" 2>&1; rc=$?
ftape=$(ls "$tmp"/fj/*.jsonl 2>/dev/null | head -1)
if [ $rc -eq 0 ] && [ -n "$ftape" ] && grep -q '"kind":"raw"' "$ftape"; then ok "fault scenario journaled with a raw entry"; else bad "fault journal (rc=$rc)"; cat "$tmp/fj.out"; fi
"$P" check --tape "$ftape" --golden "$tmp/fg.jsonl" --update-golden >"$tmp/fr.out" 2>&1; rc=$?
if [ $rc -eq 0 ] && grep -q '"i":"before"' "$tmp/fg.jsonl" && grep -q '"i":"after"' "$tmp/fg.jsonl"; then
  ok "raw fault frame replayed: close 1002 matched, both connections"; else bad "raw replay (rc=$rc)"; cat "$tmp/fr.out"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
