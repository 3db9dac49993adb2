#!/usr/bin/env bash
# examples_check.sh POLYWS SOURCE_DIR - the example connectors under `polyws check`.
#
# examples/python/polygon_connector.py (python3-websockets) and
# examples/node/polygon_connector.js (node + ws) are the first outside users of
# `polyws check`: each must PASS every scenario in SCENARIOS below, and their
# deliberately wrong variants must FAIL with the right headline:
#   --break no-auth       on happy_path: the headline mentions auth
#   --break no-reconnect  on demo:       the headline mentions reconnect
# A missing interpreter or library (Debian: python3-websockets, nodejs, node-ws)
# is a failure, not a skip: CI installs them.  Exit status 1 if anything failed.
#
# Environment: EXAMPLES_PYTHON (interpreter, default /usr/bin/python3 if it has
# websockets, else python3), EXAMPLES_NODE (default node), EXAMPLES_JOBS
# (polyws check --jobs, default 2), KEEP_TMP=1 keeps the outputs.
set -u
POLYWS=$1
SRC=$2
SCEN=$SRC/scenarios

# Both connectors must pass the whole scenario library: every scenario is written against the
# client contract, so one that fails a correct connector is a bug in the scenario or the judge.
# (To narrow a local run, list names here instead.)
SCENARIOS=()
for f in "$SCEN"/*.yaml; do n=${f##*/}; SCENARIOS+=("${n%.yaml}"); done

tmp=$(mktemp -d)
trap '[ -n "${KEEP_TMP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT
fails=0
passes=0
ok() { passes=$((passes + 1)); echo "ok   - $1"; }
bad() { fails=$((fails + 1)); echo "FAIL - $1"; }
show() { sed 's/^/       | /' "$1" | head -"${2:-80}"; }

# Output judged by the client contract (one JSON event per line), if this polyws has the option.
OUT_OPT=()
"$POLYWS" check --help 2>&1 | grep -q -- "--client-output" && OUT_OPT=(--client-output events)

# check NAME [args...]: polyws check, output in $tmp/NAME.out, exit status in RC
check() {
  local name=$1; shift
  "$POLYWS" check --jobs "${EXAMPLES_JOBS:-2}" "${OUT_OPT[@]}" "$@" >"$tmp/$name.out" 2>&1
  RC=$?
}

# 1. the runtimes: fail loudly when one is missing
PY=${EXAMPLES_PYTHON:-}
if [ -z "$PY" ]; then
  PY=python3
  [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import websockets" 2>/dev/null && PY=/usr/bin/python3
fi
NODE=${EXAMPLES_NODE:-node}
have_py=0 have_node=0
if "$PY" -c "import websockets" 2>"$tmp/py.err"; then have_py=1; ok "python: $PY with websockets $("$PY" -c 'import websockets; print(websockets.__version__)')"
else bad "python: '$PY' cannot import websockets (install python3-websockets)"; show "$tmp/py.err" 5; fi
if ! "$NODE" -e "require('ws')" 2>/dev/null && [ -d /usr/share/nodejs/ws ]; then
  export NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}  # Debian's node-ws with a non-Debian node
fi
if "$NODE" -e "require('ws')" 2>"$tmp/node.err"; then have_node=1; ok "node: $("$NODE" --version) with ws ($(
  "$NODE" -e "console.log(require('ws/package.json').version)" 2>/dev/null || echo '?'))"
else bad "node: '$NODE' cannot require('ws') (install nodejs and node-ws)"; show "$tmp/node.err" 5; fi

PY_CLIENT="$(printf '%q %q' "$PY" "$SRC/examples/python/polygon_connector.py")"
NODE_CLIENT="$(printf '%q %q' "$NODE" "$SRC/examples/node/polygon_connector.js")"

# 2. each connector passes every scenario of the list
files=()
for s in "${SCENARIOS[@]}"; do files+=("$SCEN/$s.yaml"); done
# passes_all LABEL CLIENT
passes_all() {
  local label=$1 client=$2
  check "$label" --client "$client" "${files[@]}"
  grep -E '^(PASS|FAIL) ' "$tmp/$label.out" | sed -E "s/^/       $label: /" | cut -c1-220
  if [ "$RC" -eq 0 ] && [ "$(tail -1 "$tmp/$label.out")" = "${#SCENARIOS[@]} passed, 0 failed" ]; then
    ok "$label passes all ${#SCENARIOS[@]} scenarios"
  else
    bad "$label: polyws check exited with $RC, $(tail -1 "$tmp/$label.out")"
    # every failure with its verdicts, frames and client stderr
    awk '/^FAIL /{p=1} /^PASS /{p=0} p' "$tmp/$label.out" | sed 's/^/       | /' | head -300
  fi
}
[ $have_py = 1 ] && passes_all python "$PY_CLIENT"
[ $have_node = 1 ] && passes_all node "$NODE_CLIENT"

# 3. the deliberately wrong variants fail, and the headline names the mistake
# expect_fail LABEL CLIENT SCENARIO REGEX: the first FAIL line's headline must match REGEX (any case)
expect_fail() {
  local label=$1 client=$2 scen=$3 re=$4
  check "$label" --client "$client" "$SCEN/$scen.yaml"
  local head
  head=$(grep -E '^FAIL ' "$tmp/$label.out" | head -1 | sed -E 's/^FAIL [^ ]+ \([0-9.]+ s\): //')
  if [ "$RC" -eq 1 ] && printf '%s\n' "$head" | grep -Eiq -- "$re"; then
    ok "$label fails $scen: $head"
  else
    bad "$label on $scen: expected a FAIL whose headline matches /$re/ (rc=$RC)"; show "$tmp/$label.out"
  fi
}
if [ $have_py = 1 ]; then
  expect_fail python-no-auth "$PY_CLIENT --break no-auth" happy_path "auth"
  expect_fail python-no-reconnect "$PY_CLIENT --break no-reconnect" demo "reconnect"
fi
if [ $have_node = 1 ]; then
  expect_fail node-no-auth "$NODE_CLIENT --break no-auth" happy_path "auth"
  expect_fail node-no-reconnect "$NODE_CLIENT --break no-reconnect" demo "reconnect"
fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
