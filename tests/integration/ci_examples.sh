#!/usr/bin/env bash
# ci_examples.sh POLYWS SOURCE_DIR - the CI examples (examples/ci) as far as they can be checked
# without GitHub or GitLab:
#  - each file is valid YAML (PyYAML: /usr/bin/python3, python3-yaml) with the shape the README
#    promises (tests/support/ci_yaml.py): a shard matrix feeding polyws check --shard I/N, --junit
#    published (upload-artifact if: always() + a JUnit report action; artifacts:reports:junit,
#    when: always), the package lists and CMake options the build uses exist here;
#  - every option of each polyws check command the files run is one `polyws check --help` lists;
#  - each command, run as written (variables set as the CI would: shard 1/2, then 2/2) over six
#    scenarios with this polyws, writes a JUnit report; the two shards' test cases are disjoint
#    and together are the six;
#  - broken copies fail: a tab in the indentation, a misspelt option, the report not uploaded
#    when the job fails, GitLab's junit report missing.
set -u
POLYWS=$1 SRC=$2
. "$(dirname "$0")/lib.sh" # tmp, ok/bad
PY=/usr/bin/python3
HELPER=$SRC/tests/support/ci_yaml.py
"$PY" -c 'import yaml' 2>/dev/null || { echo "FAIL: $PY has no yaml module (Debian: python3-yaml, packages/test.txt)"; exit 1; }

# the options polyws check takes, from its --help
"$POLYWS" check --help | grep -o -- '--[a-z][a-z-]*' | sort -u >"$tmp/options"
grep -qx -- --shard "$tmp/options" && grep -qx -- --junit "$tmp/options" ||
  { echo "FAIL: polyws check --help lists no --shard/--junit"; cat "$tmp/options"; exit 1; }

# six quick scenarios, for the shards to split
scen=$tmp/scenarios
mkdir -p "$scen"
for s in happy_path auth_failed invalid_json missing_fields subscribe_before_auth unknown_event_types; do
  cp "$SRC/scenarios/$s.yaml" "$scen/" || exit 1
done

# commands KIND FILE: the polyws check commands of FILE, one a line (exit 1 if none)
commands() { "$PY" "$HELPER" commands "$1" "$2" >"$tmp/cmds" && [ -s "$tmp/cmds" ]; }

# check_file KIND FILE: structure, options, and the commands run for two shards
check_file() {
  local kind=$1 file=$2 name=${2##*/}
  if "$PY" "$HELPER" check "$kind" "$file" "$SRC" >"$tmp/check.out" 2>&1; then
    ok "$name: valid YAML, a shard matrix feeding polyws check --shard I/N and --junit, the report published"
  else bad "$name:"; sed 's/^/       | /' "$tmp/check.out"; fi
  if ! commands "$kind" "$file"; then bad "$name: no polyws check command found"; return; fi
  local cmd unknown=""
  while IFS= read -r cmd; do
    local opt
    for opt in $("$PY" -c 'import shlex, sys; print("\n".join(w.split("=")[0] for w in shlex.split(sys.argv[1]) if w.startswith("--")))' "$cmd"); do
      grep -qx -- "$opt" "$tmp/options" || unknown="$unknown $opt"
    done
  done <"$tmp/cmds"
  if [ -z "$unknown" ]; then ok "$name: every option of its polyws check command is in polyws check --help"
  else bad "$name: options polyws check does not have:$unknown"; fi
  # run each command as the CI would, shard 1/2 and 2/2, in a fresh directory
  local i all=$tmp/$name.cases
  : >"$all"
  for i in 1 2; do
    local work=$tmp/$name.shard$i
    mkdir -p "$work"
    while IFS= read -r cmd; do
      (cd "$work" && PATH="$(dirname "$POLYWS"):$PATH" CLIENT_CMD="$POLYWS watch -q --format jsonl" \
        SCENARIOS="$scen" SHARD_I=$i SHARD_N=2 CI_NODE_INDEX=$i CI_NODE_TOTAL=2 \
        bash -c "$cmd") >"$work/out" 2>&1
      local rc=$?
      local cases; cases=$(grep -o '<testcase [^>]*name="[^"]*"' "$work/report.xml" 2>/dev/null | sed 's/.* name="//; s/"$//')
      if [ $rc -eq 0 ] && [ -f "$work/report.xml" ] && grep -q '<testsuites' "$work/report.xml"; then
        ok "$name: shard $i/2 ran (exit 0), JUnit with $(grep -c . <<<"$cases") test case(s)"
      else bad "$name: shard $i/2: exit $rc, report.xml $( [ -f "$work/report.xml" ] && echo present || echo missing)"; tail -5 "$work/out"; fi
      [ -n "$cases" ] && echo "$cases" >>"$all"
    done <"$tmp/cmds"
  done
  local want; want=$(ls "$scen" | sed 's/\.yaml$//' | sort)
  if [ "$(sort "$all")" = "$want" ]; then ok "$name: the two shards ran each of the 6 scenarios exactly once"
  else bad "$name: shards ran: $(sort "$all" | xargs), want: $(xargs <<<"$want")"; fi
}

check_file github "$SRC/examples/ci/github-actions.yml"
check_file gitlab "$SRC/examples/ci/gitlab-ci.yml"

# expect_fail NAME KIND FILE MESSAGE: the structure or option check fails on FILE with MESSAGE
expect_fail() {
  local name=$1 kind=$2 file=$3 msg=$4 out=""
  out=$("$PY" "$HELPER" check "$kind" "$file" "$SRC" 2>&1)
  local rc=$?
  if [ $rc -eq 0 ] && commands "$kind" "$file"; then
    # structure passed: the option check must catch it
    local cmd
    while IFS= read -r cmd; do
      for opt in $("$PY" -c 'import shlex, sys; print("\n".join(w.split("=")[0] for w in shlex.split(sys.argv[1]) if w.startswith("--")))' "$cmd"); do
        grep -qx -- "$opt" "$tmp/options" || out="$out unknown option $opt"
      done
    done <"$tmp/cmds"
  fi
  if grep -q -- "$msg" <<<"$out"; then ok "broken copy fails: $name"
  else bad "broken copy passes or fails otherwise: $name (want '$msg')"; sed 's/^/       | /' <<<"$out"; fi
}
gh=$SRC/examples/ci/github-actions.yml gl=$SRC/examples/ci/gitlab-ci.yml
sed '0,/^  build:/s//\tbuild:/' "$gh" >"$tmp/tab.yml"
expect_fail "a tab in the indentation" github "$tmp/tab.yml" "not valid YAML"
sed 's/--shard "\$CI_NODE_INDEX/--shards "$CI_NODE_INDEX/' "$gl" >"$tmp/shards.yml"
expect_fail "a misspelt option (--shards)" gitlab "$tmp/shards.yml" "job polyws-check: --shard is not"
sed 's/--jobs 2/--job 2/' "$gh" >"$tmp/job.yml"
expect_fail "an option polyws check does not have (--job)" github "$tmp/job.yml" "unknown option --job"
awk '/if: always\(\)/ && !done { done = 1; next } { print }' "$gh" >"$tmp/noalways.yml"
expect_fail "the shard's report not uploaded when it fails" github "$tmp/noalways.yml" "is not uploaded by actions/upload-artifact with if: always()"
sed '/junit: report.xml/d' "$gl" >"$tmp/nojunit.yml"
expect_fail "GitLab without artifacts:reports:junit" gitlab "$tmp/nojunit.yml" "artifacts:reports:junit is not the --junit file"
sed 's/POLYWS_BUILD_TESTS/POLYWS_TESTS/' "$gl" >"$tmp/opt.yml"
expect_fail "a CMake option polyws does not have" gitlab "$tmp/opt.yml" "cmake option -DPOLYWS_TESTS is not"

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
