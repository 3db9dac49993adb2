#!/usr/bin/env bash
# report_browser.sh POLYWS [SOURCE_DIR] - `polyws check --report` seen by a real browser.
#
# Runs three scenarios with our own client (polyws watch) and writes the HTML
# report: happy_path (passes, one connection), tcp_drop_midstream (passes, a
# drop and a reconnect) and a scenario written here that fails on purpose (a
# failed step, markup in its description).  Then headless Chromium loads the
# file (no network: the page must need none) and the DOM it built is checked:
# every scenario has its section, failed first, each with one <svg class="seq">
# holding arrows both ways; the drop and the failed step are marked; no API key
# anywhere.  A screenshot must be a real picture, not a blank page.  A second
# run with a client that never connects (`false`) must still give a diagram.
#
# Chromium is required (Debian: apt-get install chromium); without it this test
# fails, unless POLYWS_SKIP_BROWSER=1, which skips it (exit 77).  CHROMIUM=path
# picks the browser.  Every mock binds 127.0.0.1 port 0.
set -u
POLYWS=$1
SRC=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap '[ -n "${KEEP_TMP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT
fails=0
passes=0
ok() { passes=$((passes + 1)); echo "ok   - $1"; }
bad() { fails=$((fails + 1)); echo "FAIL - $1"; }
show() { sed 's/^/       | /' "$1" | head -40; }

browser=${CHROMIUM:-}
if [ -n "$browser" ] && ! command -v "$browser" >/dev/null 2>&1; then
  browser=""
elif [ -z "$browser" ]; then
  for b in chromium chromium-browser google-chrome-stable google-chrome; do
    if command -v "$b" >/dev/null 2>&1; then browser=$(command -v "$b"); break; fi
  done
fi
if [ -z "$browser" ]; then
  if [ "${POLYWS_SKIP_BROWSER:-}" = 1 ]; then
    echo "skip - no chromium (POLYWS_SKIP_BROWSER=1)"
    exit 77
  fi
  echo "FAIL - chromium not found (Debian: apt-get install chromium; or set POLYWS_SKIP_BROWSER=1 to skip)"
  exit 1
fi

# chrome URL [args...]: headless Chromium with a throwaway profile, nothing fetched in the background
chrome() {
  local url=$1; shift
  mkdir -p "$tmp/home"
  HOME="$tmp/home" timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --disable-extensions \
    --user-data-dir="$(mktemp -d "$tmp/profile.XXXXXX")" "$@" "$url"
}

# A scenario that fails on purpose: the server waits for an unsubscribe that never comes.
cat >"$tmp/report_failing.yaml" <<'EOF'
name: report_failing
description: 'Fails on purpose: the mock waits for an unsubscribe that never comes. <b>Markup</b> & "quotes" stay text.'
client:
  subscribe: [A.AAPL]
  count: 5
  timeout: 10s
connections:
  default:
    - handshake
    - stream: {count: 5, rate: 500, batch: 1}
    - expect: {json: {action: unsubscribe}, timeout: 300ms}
assert:
  - auth_within: 2s
  - no_reconnect
EOF

# 1. the report of a run with one failure
"$POLYWS" check --jobs 3 --report "$tmp/r.html" "$SRC/scenarios/happy_path.yaml" \
  "$SRC/scenarios/tcp_drop_midstream.yaml" "$tmp/report_failing.yaml" >"$tmp/run.out" 2>&1
rc=$?
if [ $rc -eq 1 ] && [ "$(tail -1 "$tmp/run.out")" = "2 passed, 1 failed" ] && [ -s "$tmp/r.html" ] &&
   [ ! -e "$tmp/r.html.tmp" ]; then ok "polyws check --report wrote the report (2 passed, 1 failed)"
else bad "polyws check --report (rc=$rc)"; show "$tmp/run.out"; exit 1; fi
if grep -q "pwscheck-" "$tmp/r.html"; then bad "an API key is in the report"; else ok "no API key in the report"; fi
if grep -Eqi '<script|<link|src=|@import|url\(' "$tmp/r.html"; then bad "the report refers to something outside it"
else ok "self-contained: no scripts, links or external resources"; fi

# 2. the DOM Chromium builds from it
chrome "file://$tmp/r.html" --dump-dom >"$tmp/dom.html" 2>"$tmp/chrome.err"
rc=$?
if [ $rc -eq 0 ] && grep -q '<svg class="seq"' "$tmp/dom.html"; then ok "chromium loaded the report ($(wc -c <"$tmp/dom.html") bytes of DOM)"
else bad "chromium --dump-dom (rc=$rc)"; show "$tmp/chrome.err"; fi

# One line per scenario section of the dumped DOM: name, state, diagrams, arrows each way, marks.
awk 'BEGIN { RS = "<section " }
     NR > 1 && /^class="scenario / {
       match($0, /data-scenario="[^"]*"/); name = substr($0, RSTART + 15, RLENGTH - 16)
       state = $0; sub(/^class="scenario /, "", state); sub(/".*/, "", state)
       end = index($0, "</section>"); body = end ? substr($0, 1, end) : $0
       svg = gsub(/<svg class="seq"/, "&", body); c2s = gsub(/class="msg c2s /, "&", body)
       s2c = gsub(/class="msg s2c /, "&", body); drop = gsub(/<g class="drop"/, "&", body)
       failed = gsub(/<g class="step_failed"/, "&", body)
       print name, state, svg, c2s, s2c, drop, failed
     }' "$tmp/dom.html" >"$tmp/sections.txt"
order=$(awk '{printf "%s%s", sep, $1; sep = " "}' "$tmp/sections.txt")
if [ "$order" = "report_failing happy_path tcp_drop_midstream" ]; then ok "three sections, the failed one first"
else bad "sections: '$order'"; show "$tmp/sections.txt"; fi
while read -r name state svg c2s s2c drop failed; do
  if [ "$svg" -eq 1 ] && [ "$c2s" -gt 0 ] && [ "$s2c" -gt 0 ]; then ok "$name ($state): svg.seq with $c2s+$s2c arrows"
  else bad "$name ($state): $svg svg.seq, $c2s c2s and $s2c s2c arrows"; fi
done <"$tmp/sections.txt"
if awk '$1 == "tcp_drop_midstream" && $6 >= 1 { f = 1 } END { exit !f }' "$tmp/sections.txt"; then ok "the drop is marked"
else bad "no drop mark in tcp_drop_midstream"; fi
if awk '$1 == "report_failing" && $2 == "fail" && $7 >= 1 { f = 1 } END { exit !f }' "$tmp/sections.txt"; then
  ok "the failed step is marked"
else bad "no step_failed mark in report_failing"; fi
if grep -q '<svg class="seq"[^>]*data-connections="2"' "$tmp/dom.html"; then ok "tcp_drop_midstream shows 2 connections"
else bad "no diagram with data-connections=\"2\""; fi
# Markup in a description is text in the DOM, not an element.
if grep -q '&lt;b&gt;Markup&lt;/b&gt; &amp; "quotes"' "$tmp/dom.html" && ! grep -q '<b>Markup</b>' "$tmp/dom.html"; then
  ok "markup in a description stays text"
else bad "the description's markup was not escaped"; fi

# 3. a screenshot: a PNG of the requested size with real content
chrome "file://$tmp/r.html" --screenshot="$tmp/r.png" --window-size=1280,4000 >"$tmp/shot.out" 2>&1
rc=$?
size=$(wc -c <"$tmp/r.png" 2>/dev/null || echo 0)
dims=$(od -An -tu1 -j16 -N8 "$tmp/r.png" 2>/dev/null | awk '{print $1*16777216+$2*65536+$3*256+$4 "x" $5*16777216+$6*65536+$7*256+$8}')
magic=$(od -An -c -j1 -N3 "$tmp/r.png" 2>/dev/null | tr -d ' ')
if [ $rc -eq 0 ] && [ "$magic" = "PNG" ] && [ "$dims" = "1280x4000" ] && [ "$size" -gt 60000 ]; then
  ok "screenshot: $dims PNG, $size bytes"
else bad "screenshot (rc=$rc, magic '$magic', $dims, $size bytes)"; show "$tmp/shot.out"; fi
[ -n "${KEEP_TMP:-}" ] && echo "screenshot: $tmp/r.png"

# 4. a client that never connects still gets a section and a (empty) diagram
"$POLYWS" check --client false --report "$tmp/none.html" "$SRC/scenarios/happy_path.yaml" >"$tmp/none.out" 2>&1
rc=$?
chrome "file://$tmp/none.html" --dump-dom >"$tmp/none.dom" 2>/dev/null
if [ $rc -eq 1 ] && grep -q '<section class="scenario fail"' "$tmp/none.dom" &&
   grep -q '<svg class="seq"[^>]*data-connections="0"' "$tmp/none.dom" && grep -q 'never connected' "$tmp/none.dom"; then
  ok "--client false: FAIL section with an empty diagram"
else bad "--client false report (rc=$rc)"; show "$tmp/none.out"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
