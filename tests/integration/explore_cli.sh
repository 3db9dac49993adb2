#!/usr/bin/env bash
# explore_cli.sh POLYWS SOURCE_DIR - `polyws explore` end to end (docs/explore.md).
#
#   - usage errors exit 2, --help has the usage line and "Exit status:";
#   - the same seed draws the same scenarios (--print), another seed others;
#   - the Python example with --break no-resubscribe-3 (it does not subscribe on its third
#     reconnect) is caught at a fixed seed: exit 1, invariant "resubscribe", a shrunk scenario
#     of at most 5 steps in --out, which `polyws check` fails with the resubscribed headline;
#   - its --junit validates against the Jenkins JUnit schema (tests/data/junit, xmllint) with a
#     testcase per invariant of the run and one for the shrunk scenario; its --html is check's
#     report page with the shrunk scenario's sequence diagram; no API key the client was given
#     appears in any output, file or report;
#   - the correct Python example passes a few runs (exit 0), with the progress line on a
#     terminal (script(1)), a JUnit file of passing cases and a page with no scenario;
#   - --jobs 2 gives the same runs, verdicts, JUnit cases and written file as --jobs 1 (and -q
#     on a terminal shows no progress line).
# Needs python3-websockets and xmllint (a missing one fails the test: CI installs them).
# About 80 s on 2 cores.
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
printf '#!/bin/sh\necho "ModuleNotFoundError: websockets" >&2\nexit 1\n' >"$tmp/nostart.sh"; chmod +x "$tmp/nostart.sh"
"$POLYWS" explore --client "$tmp/nostart.sh" --runs 5 --seed 1 --out "$tmp/none" >"$tmp/ns.out" 2>"$tmp/ns.err"; rc=$?
if [ $rc -eq 2 ] && grep -q 'could not be run: client: exited with 1 before opening any connection' "$tmp/ns.err" &&
   grep -q 'ModuleNotFoundError: websockets' "$tmp/ns.err" && [ "$(grep -c '^run ' "$tmp/ns.out")" -eq 1 ] && [ ! -e "$tmp/none" ]; then
  ok "a client that exits before connecting: exit 2 after one run, its stderr shown, nothing shrunk"
else bad "client exiting before connecting: rc $rc"; cat "$tmp/ns.out" "$tmp/ns.err"; fi

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

# Every key a client is given (POLYWS_API_KEY, fresh per scenario) is logged, then looked for.
printf '#!/bin/sh\nprintf "%%s\\n" "$POLYWS_API_KEY" >>"%s"\nexec "$@"\n' "$tmp/keys.txt" >"$tmp/keylog.sh"
BROKEN="sh $tmp/keylog.sh $BROKEN"
XSD="$SRC/tests/data/junit/jenkins-junit.xsd"

# 3. the broken client is caught and shrunk
"$POLYWS" explore --client "$BROKEN" --seed $SEED --runs 1 --jobs 2 --out "$tmp/out" --junit "$tmp/broken.xml" \
  --html "$tmp/broken.html" >"$tmp/broken.out" 2>&1; rc=$?
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

# --junit: valid, one failed case for the invariant of the run, one for the shrunk scenario
if xmllint --noout --schema "$XSD" "$tmp/broken.xml" 2>"$tmp/xsd.err" &&
   grep -q "<testcase classname=\"polyws.explore.seed-$SEED\" name=\"resubscribe\"" "$tmp/broken.xml" &&
   grep -q "<testcase classname=\"polyws.explore.seed-$SEED\" name=\"auth_first\"" "$tmp/broken.xml" &&
   grep -q "<testcase classname=\"polyws.explore.shrunk\" name=\"explore-$SEED-resubscribe\"" "$tmp/broken.xml" &&
   grep -q '<testsuites name="polyws explore" tests="[0-9]*" failures="2" ' "$tmp/broken.xml"; then
  ok "--junit: schema-valid, a case per invariant of the run, the shrunk scenario's case, 2 failures"
else bad "--junit of the broken client"; cat "$tmp/xsd.err"; head -20 "$tmp/broken.xml"; fi
# --html: check's page with the shrunk scenario's sequence diagram
if grep -q '^<!DOCTYPE html>' "$tmp/broken.html" &&
   grep -q "<svg class=\"seq\"[^>]* data-scenario=\"explore-$SEED-resubscribe\"" "$tmp/broken.html" &&
   grep -q 'resubscribed: ' "$tmp/broken.html"; then ok "--html: the report page with the shrunk scenario's sequence diagram"
else bad "--html of the broken client"; head -c 600 "$tmp/broken.html"; fi
nkeys=$(sort -u "$tmp/keys.txt" 2>/dev/null | grep -c .)
if [ "$nkeys" -ge 5 ] &&
   ! grep -rqF -f "$tmp/keys.txt" "$tmp/broken.out" "$tmp/out" "$tmp/broken.xml" "$tmp/broken.html" "$tmp/check.out"; then
  ok "no key in any output ($nkeys keys given; none in the output, the file, JUnit, HTML, check's output)"
else bad "a key leaked, or too few keys were logged ($nkeys)"; fi

# 4. the correct client passes a few runs; the progress line on a terminal
tty() { script -qfec "$2" /dev/null >"$1" 2>&1 </dev/null; }
tty "$tmp/good.out" "'$POLYWS' explore --client '$GOOD' --seed 187 --runs 3 --jobs 2 --out '$tmp/good' --junit '$tmp/good.xml' --html '$tmp/good.html'"
sed $'s/\r//g; s/\x1b\\[K//g' "$tmp/good.out" >"$tmp/good.txt" # the terminal's line ends and erasures
if grep -q '^explore: 3 run(s) in .* 0 failure(s)$' "$tmp/good.txt" && [ ! -e "$tmp/good" ]; then
  ok "correct client: 3 runs (seeds 187-189) pass, nothing written"
else bad "correct client"; cat "$tmp/good.txt"; fi
if grep -q $'\rexploring: [0-9]*% [0-3]/3 runs, .*0 failures found' "$tmp/good.out"; then
  ok "a progress line on a terminal (runs, failures found)"
else bad "no progress line on a terminal"; cat -v "$tmp/good.out" | head -5; fi
if ! grep -q 'exploring: ' "$tmp/broken.out"; then ok "no progress line when stderr is not a terminal"
else bad "a progress line without a terminal"; fi
if xmllint --noout --schema "$XSD" "$tmp/good.xml" 2>"$tmp/xsd.err" && ! grep -q '<failure' "$tmp/good.xml" &&
   [ "$(grep -c '<testcase classname="polyws.explore.seed-' "$tmp/good.xml")" -ge 9 ] &&
   grep -q '^<!DOCTYPE html>' "$tmp/good.html" && ! grep -q '<svg class="seq"' "$tmp/good.html"; then
  ok "passing runs: a schema-valid JUnit file of passing cases, a page with no scenario"
else bad "passing runs' --junit/--html"; cat "$tmp/xsd.err"; fi

# 5. --jobs 2 = --jobs 1: seeds 185 (passes) and 186 (breaks resubscribe), every run made, no
#    shrinking; -q on a terminal shows no progress line
J="--client '$GOOD --break no-resubscribe-3' --seed 185 --runs 2 --keep-going --max-shrink-runs 0"
tty "$tmp/j1.out" "'$POLYWS' explore $J -q --jobs 1 --out '$tmp/j1' --junit '$tmp/j1.xml'"
eval "\"\$POLYWS\" explore $J --jobs 2 --out '$tmp/j2' --junit '$tmp/j2.xml'" >"$tmp/j2.out" 2>&1
runs() { sed $'s/\r//g; s/\x1b\\[K//g' "$1" | grep '^run ' | sed 's/ ([0-9.]* s,/ (/'; }
cases() { sed -n 's/.*<testcase classname="\([^"]*\)" name="\([^"]*\)".*/\1 \2/p; s/.*<failure type="\([a-z]*\)".*/  \1/p' "$1"; }
if [ "$(runs "$tmp/j1.out" | grep -c 'seed 186: FAIL.*invariant resubscribe')" = 1 ] &&
   [ "$(runs "$tmp/j1.out")" = "$(runs "$tmp/j2.out")" ] && [ "$(cases "$tmp/j1.xml")" = "$(cases "$tmp/j2.xml")" ] &&
   [ "$(sed "s|$tmp/j1/|DIR/|" "$tmp/j1/explore-186-resubscribe.yaml")" = \
     "$(sed "s|$tmp/j2/|DIR/|" "$tmp/j2/explore-186-resubscribe.yaml")" ]; then
  ok "--jobs 2 = --jobs 1: the same runs and verdicts, JUnit cases and written file"
else bad "--jobs 2 differs from --jobs 1"; diff <(runs "$tmp/j1.out") <(runs "$tmp/j2.out"); diff <(cases "$tmp/j1.xml") <(cases "$tmp/j2.xml") | head; fi
if ! grep -q 'exploring: ' "$tmp/j1.out"; then ok "-q: no progress line on a terminal"; else bad "-q showed a progress line"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
