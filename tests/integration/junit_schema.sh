#!/usr/bin/env bash
# junit_schema.sh POLYWS BADCLIENT REPO - every JUnit file the real `polyws check --junit`
# writes is valid against the Jenkins JUnit schema (tests/data/junit/jenkins-junit.xsd,
# validated with xmllint --noout --schema), and carries what CI tools show:
#   passing scenarios (two at once), failing ones (badclient), a client that prints nothing,
#   one that prints a lot (XML specials, control bytes, bad UTF-8, U+FFFF, "]]>"), one stopped
#   at the --timeout, --client-output none (skipped output assertions), a scenario that does
#   not load (its file name full of XML specials), --shard, and a client printing its key.
# Every <testcase> has exactly one <system-out>; no <testcase> has a file attribute; the
# suite's properties name each scenario's file; no key is in any file.
set -u
POLYWS=$1
BAD=$2
REPO=$3
. "$(dirname "$0")/lib.sh"
XSD=$REPO/tests/data/junit/jenkins-junit.xsd
S=$REPO/scenarios
PY=/usr/bin/python3
command -v xmllint >/dev/null || { echo "FAIL - xmllint not installed (Debian package libxml2-utils)"; exit 1; }
[ -x "$PY" ] || { echo "FAIL - /usr/bin/python3 not installed"; exit 1; }

# run NAME EXPECTED_RC ARGS...: polyws check --junit $tmp/NAME.xml, then the schema and the
# structure checks on that file.
run() {
  local name=$1 want=$2; shift 2
  "$POLYWS" check --junit "$tmp/$name.xml" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  local rc=$?
  if [ "$rc" -ne "$want" ]; then
    bad "$name: exit $rc, expected $want"; sed 's/^/     | /' "$tmp/$name.out" "$tmp/$name.err" | head -30; return 1
  fi
  if [ ! -s "$tmp/$name.xml" ]; then bad "$name: no JUnit file"; return 1; fi
  if xmllint --noout --schema "$XSD" "$tmp/$name.xml" 2>"$tmp/$name.xmllint"; then
    ok "$name: valid against the Jenkins JUnit schema"
  else
    bad "$name: not valid against the Jenkins JUnit schema"; head -c 2000 "$tmp/$name.xmllint"; return 1
  fi
  if "$PY" - "$tmp/$name.xml" >"$tmp/$name.py" 2>&1 <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites", root.tag
suite = root.find("testsuite")
props = {p.get("name"): p.get("value") for p in suite.iter("property")}
cases = suite.findall("testcase")
assert cases, "no testcase"
for c in cases:
    assert "file" not in c.attrib, c.attrib
    outs = c.findall("system-out")
    assert len(outs) == 1, (c.get("name"), len(outs))
    if c.find("skipped") is None:
        assert props.get("file:" + c.get("name")), ("no file property for", c.get("name"), props)
assert int(suite.get("tests")) == len(cases), (suite.get("tests"), len(cases))
assert int(suite.get("failures")) == len(suite.findall("testcase/failure"))
assert int(suite.get("skipped")) == len(suite.findall("testcase/skipped"))
EOF
  then ok "$name: one <system-out> per case, scenario files as suite properties, counts agree"
  else bad "$name: structure"; cat "$tmp/$name.py"; return 1; fi
}

# 1. Passing scenarios, two at once, with our own client.
run pass 0 --jobs 2 "$S/happy_path.yaml" "$S/unknown_event_types.yaml"

# 2. Failing scenarios: the deliberately wrong client.
run fail 1 --client "$BAD no-auth" "$S/happy_path.yaml"
grep -q '<failure type="scenario" message="auth_within' "$tmp/fail.xml" && ok "fail: the failure message" ||
  bad "fail: no auth_within failure"

# 3. A client that prints nothing: still a <system-out>, saying so and how the client ended.
run silent 1 --timeout 2 --client true "$S/happy_path.yaml"
if grep -q '<system-out>(no output) client: exited with 0' "$tmp/silent.xml"; then
  ok "silent: <system-out> says there was no output and how the client ended"
else bad "silent: system-out"; grep -A2 '<system-out' "$tmp/silent.xml" | head; fi

# 4. A client that prints a lot, and every kind of byte XML forbids or must escape.
cat >"$tmp/loud.sh" <<EOF
#!/bin/sh
i=0
while [ \$i -lt 2000 ]; do echo "line \$i <tag attr=\"x\"> & 'q' ]]> \$(printf '\\001\\033[31m\\377\\357\\277\\277\\355\\240\\200')"; i=\$((i+1)); done
exec '$POLYWS' watch -q --format jsonl
EOF
chmod +x "$tmp/loud.sh"
run loud 0 --client "$tmp/loud.sh" "$S/happy_path.yaml"
n=$(wc -c <"$tmp/loud.xml")
[ "$n" -lt 100000 ] && ok "loud: the file stays small ($n bytes)" || bad "loud: $n bytes"

# 5. A client stopped at the timeout.
run timeout 1 --timeout 1 --client "sleep 30" "$S/happy_path.yaml"
grep -q 'stopped at the timeout' "$tmp/timeout.xml" && ok "timeout: the client's end is in the file" ||
  bad "timeout: no 'stopped at the timeout'"

# 6. --client-output none: the output assertions are skipped cases, each with a <system-out>.
run none 0 --client-output none --client "'$POLYWS' watch -q --format jsonl >/dev/null" "$S/happy_path.yaml"
[ "$(grep -c '<skipped ' "$tmp/none.xml")" -eq 2 ] && ok "none: two skipped cases" || bad "none: skipped cases"

# 7. A scenario that does not load, named with every XML special character, next to a good one.
mkdir -p "$tmp/odd"
printf 'name: [unclosed\n' >"$tmp/odd/bad & <broken> \"q\".yaml"
cp "$S/happy_path.yaml" "$tmp/odd/"
run load 1 "$tmp/odd"

# 8. --shard: the suite name carries the shard, and the two shards cover every scenario.
mkdir -p "$tmp/sh"
for f in happy_path unknown_event_types invalid_json missing_fields; do cp "$S/$f.yaml" "$tmp/sh/"; done
run shard1 1 --shard 1/2 --client true --timeout 1 "$tmp/sh" || true
run shard2 1 --shard 2/2 --client true --timeout 1 "$tmp/sh" || true
t=$(cat "$tmp/shard1.xml" "$tmp/shard2.xml" | grep -c '<testcase ')
grep -q 'name="polyws.scenarios.shard1of2"' "$tmp/shard1.xml" && [ "$t" -eq 4 ] &&
  ok "shards: suite names and all 4 scenarios" || bad "shards: $t cases"

# 9. A client that prints its key: the JUnit file shows *** (the project's redactor), never the key.
run key 1 --timeout 2 --client 'echo "key=$POLYWS_API_KEY"; echo "err=$POLYWS_API_KEY" >&2' "$S/happy_path.yaml"
if grep -q '<system-out>key=\*\*\*' "$tmp/key.xml" && grep -q '<system-err>err=\*\*\*' "$tmp/key.xml" &&
   ! grep -q 'POLYWS_API_KEY=' "$tmp/key.xml"; then
  ok "key: system-out and system-err show *** for the key"
else bad "key: not scrubbed"; grep -A1 '<system-' "$tmp/key.xml" | head; fi

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
