#!/usr/bin/env bash
# explore_cli.sh POLYWS SOURCE_DIR - `polyws explore` end to end (docs/explore.md).
#
#   - usage errors exit 2, --help has the usage line and "Exit status:";
#   - the same seed draws the same scenarios (--print), another seed others;
#   - the Python example with --break no-resubscribe-3 (it does not subscribe on its third
#     reconnect) is caught at a fixed seed: exit 1, invariant "resubscribe", a shrunk scenario
#     of at most 5 steps in --out, which `polyws check` fails with the resubscribed headline;
#   - the correct Python example passes a few runs (exit 0).
# Needs python3-websockets (a missing one fails the test: CI installs it).  About 50 s on 2 cores.
set -u
POLYWS=$1
SRC=$2
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
GOOD="$PY $SRC/examples/python/polygon_connector.py"
BROKEN="$GOOD --break no-resubscribe-3"
SEED=189   # its first scenario opens 4 connections, small enough to shrink in ~30 s

# 1. usage
"$POLYWS" explore --help >"$tmp/help" 2>&1; rc=$?
if [ $rc -eq 0 ] && grep -q '^usage: polyws explore' "$tmp/help" && grep -q '^Exit status:' "$tmp/help" &&
   grep -q '^ *--seed S' "$tmp/help"; then ok "--help: usage line, options, Exit status"; else bad "--help (rc $rc)"; cat "$tmp/help"; fi
for args in "--runs 0" "--runs x" "--seed -1" "--jobs 0" "--time-budget 5x" "--out ''" "extra-arg"; do
  eval "\"$POLYWS\" explore $args" >"$tmp/usage.out" 2>"$tmp/usage.err"; rc=$?
  if [ $rc -eq 2 ] && grep -q '^polyws explore: ' "$tmp/usage.err"; then ok "usage error exits 2: $args"
  else bad "usage error '$args': rc $rc"; cat "$tmp/usage.err"; fi
done
"$POLYWS" explore --client "/nonexistent/client" --runs 1 --seed 1 --out "$tmp/none" >"$tmp/nx.out" 2>"$tmp/nx.err"; rc=$?
if [ $rc -eq 2 ] && grep -q 'could not be run' "$tmp/nx.err" && [ ! -e "$tmp/none" ]; then ok "a client that cannot run: exit 2, nothing written"
else bad "unrunnable client: rc $rc"; cat "$tmp/nx.out" "$tmp/nx.err"; fi

# 2. determinism of the generator
"$POLYWS" explore --print --seed 42 --runs 5 >"$tmp/p1" && "$POLYWS" explore --print --seed 42 --runs 5 >"$tmp/p2" &&
  "$POLYWS" explore --print --seed 43 --runs 5 >"$tmp/p3"
if cmp -s "$tmp/p1" "$tmp/p2" && ! cmp -s "$tmp/p1" "$tmp/p3" && [ "$(grep -c '^description:' "$tmp/p1")" = 5 ]; then
  ok "--print: the same seed draws the same 5 scenarios, another seed others"
else bad "--print is not deterministic by seed"; fi
# every printed scenario loads (split on the run headers)
awk -v d="$tmp" '/^# run /{n++} {print > (d "/gen" n ".yaml")}' "$tmp/p1"
if "$POLYWS" mock --validate "$tmp"/gen*.yaml >"$tmp/val.out" 2>&1; then ok "the drawn scenarios pass polyws mock --validate"
else bad "a drawn scenario does not load"; cat "$tmp/val.out"; fi

if ! "$PY" -c "import websockets" 2>/dev/null; then
  bad "python: '$PY' cannot import websockets (install python3-websockets)"
  echo "$passes passed, $fails failed"; exit 1
fi

# 3. the broken client is caught and shrunk
"$POLYWS" explore --client "$BROKEN" --seed $SEED --runs 1 --jobs 2 --out "$tmp/out" >"$tmp/broken.out" 2>&1; rc=$?
files=("$tmp"/out/*.yaml)
case_file=${files[0]}
if [ $rc -eq 1 ] && grep -q "^run 1/1 seed $SEED: FAIL .*invariant resubscribe" "$tmp/broken.out" &&
   [ ${#files[@]} -eq 1 ] && [ -f "$case_file" ]; then ok "broken client: exit 1, seed $SEED breaks resubscribe, one file written"
else bad "broken client: rc $rc, files: ${files[*]}"; cat "$tmp/broken.out"; fi
steps=$(awk '/^connections:/{c=1; next} /^assert:/{c=0} c && /^    - /{n++} END{print n+0}' "$case_file" 2>/dev/null)
if [ -n "$steps" ] && [ "$steps" -ge 1 ] && [ "$steps" -le 5 ]; then ok "shrunk to $steps steps (<= 5)"
else bad "shrunk scenario has '$steps' steps"; cat "$case_file"; fi
if grep -q "^shrink: .* -> $steps steps" "$tmp/broken.out" && grep -q '^explore: 1 run(s) in .* runs/minute), 1 failure(s)$' "$tmp/broken.out"; then
  ok "summary: runs, runs/minute, failures, shrink steps and size"
else bad "summary lines"; cat "$tmp/broken.out"; fi
if grep -q "^description: 'polyws explore seed $SEED breaks invariant resubscribe" "$case_file" &&
   grep -q "^# Reproduce: polyws check --client" "$case_file"; then ok "the file names the seed and the invariant"
else bad "the file's description/header"; head -12 "$case_file"; fi
"$POLYWS" check --client "$BROKEN" "$case_file" >"$tmp/check.out" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q '^FAIL .*: resubscribed: ' "$tmp/check.out"; then ok "polyws check fails the shrunk file for the same invariant"
else bad "polyws check on the shrunk file: rc $rc"; cat "$tmp/check.out"; fi
"$POLYWS" check --client "$GOOD" "$case_file" >"$tmp/check_good.out" 2>&1; rc=$?
if [ $rc -eq 0 ]; then ok "the correct client passes the shrunk file (it tests the bug, not the scenario)"
else bad "the correct client fails the shrunk file: rc $rc"; cat "$tmp/check_good.out"; fi

# 4. the correct client passes a few runs
"$POLYWS" explore --client "$GOOD" --seed 187 --runs 3 --jobs 2 --out "$tmp/good" >"$tmp/good.out" 2>&1; rc=$?
if [ $rc -eq 0 ] && grep -q '^explore: 3 run(s) in .* 0 failure(s)$' "$tmp/good.out" && [ ! -e "$tmp/good" ]; then
  ok "correct client: 3 runs (seeds 187-189) pass, exit 0, nothing written"
else bad "correct client: rc $rc"; cat "$tmp/good.out"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
