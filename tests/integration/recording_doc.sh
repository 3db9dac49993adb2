#!/usr/bin/env bash
# recording_doc.sh POLYWS SOURCE_DIR - docs/recording.md cannot rot: every command of its
# ```console blocks runs, in order, in an empty directory (this polyws first on PATH, POLYWS_SRC
# the source tree), and prints what the page shows, durations and loopback ports apart
# (tests/support/doc_console.py).  The session is a HAR that tests/support/gen_har.py writes as
# Chrome does; the Python example connector is a client (python3-websockets).  A copy of the page
# with one output changed, and one with a misspelt command, must fail.
set -u
POLYWS=$1 SRC=$2
. "$(dirname "$0")/lib.sh" # tmp, ok/bad
DOC=$SRC/docs/recording.md
runner() { # runner DOC: doc_console.py check in a fresh directory
  local work; work=$(mktemp -d "$tmp/run.XXXXXX")
  (cd "$work" && PATH="$(dirname "$POLYWS"):$PATH" POLYWS_SRC=$SRC /usr/bin/python3 "$SRC/tests/support/doc_console.py" check "$1" "$work")
}

if runner "$DOC" >"$tmp/doc.out" 2>&1; then ok "$(tail -n 1 "$tmp/doc.out")"
else bad "docs/recording.md differs from what its commands print:"; grep -v '^ok   - ' "$tmp/doc.out"; fi

sed 's/^\( *\)"secrets":1$/\1"secrets":2/' "$DOC" >"$tmp/changed.md"
if cmp -s "$DOC" "$tmp/changed.md"; then bad "the mutation found no '\"secrets\":1' line to change"
elif runner "$tmp/changed.md" >"$tmp/changed.out" 2>&1; then bad "a page with a changed output passes"
elif grep -A4 '^FAIL' "$tmp/changed.out" | grep -q '"secrets":2'; then ok "a page with a changed output fails, showing both"
else bad "a page with a changed output fails otherwise:"; cat "$tmp/changed.out"; fi

sed 's/^\$ polyws tape to-scenario /$ polyws tape to-scenarios /' "$DOC" >"$tmp/typo.md"
if runner "$tmp/typo.md" >"$tmp/typo.out" 2>&1; then bad "a page with a misspelt command passes"
elif grep -A8 '^FAIL.*to-scenarios' "$tmp/typo.out" | grep -q "unknown"; then ok "a page with a misspelt command (tape to-scenarios) fails"
else bad "a page with a misspelt command fails otherwise:"; grep -A8 '^FAIL' "$tmp/typo.out" | head -20; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
