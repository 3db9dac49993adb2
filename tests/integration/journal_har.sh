#!/usr/bin/env bash
# journal_har.sh POLYWS WSCLIENT_PY - a HAR made from a mock journal names the real URL and the
# real time.  `polyws mock --journal` serves two real clients (polyws watch on /stocks, and
# tests/support/wsclient.py on /crypto with an auth message); `polyws tape to-har` converts the
# journal.  The HAR must be what a HAR viewer reads (log.version 1.2, log.creator, entries[]
# with request/response/timings and _webSocketMessages as Chrome writes them: type, time,
# opcode, data), each entry's URL the mock's listening URL plus the path the client asked for,
# the Host header it sent, and startedDateTime and every message time within a minute of now.
# The same for a journal written by `polyws check --journal`.  The key is in neither file.
set -u
POLYWS=$1
WSCLIENT=$2
PY=/usr/bin/python3
. "$(dirname "$0")/lib.sh"
KEY=JOURNALHAR-KEY-5b7e21
[ -x "$PY" ] || { echo "FAIL - /usr/bin/python3 not installed"; exit 1; }

# --- polyws mock --journal, two clients, then to-har
export MOCK_KEY=$KEY
start mock "$POLYWS" mock --accept-key-env MOCK_KEY --journal "$tmp/j.jsonl" --seed 5 --rate 200
MOCKPID=$LASTPID
MOCKURL=$URL
POLYWS_API_KEY=$KEY timeout 20 "$POLYWS" watch "$MOCKURL/stocks" -s A.AAPL --count 10 -q --format jsonl \
  >"$tmp/watch.out" 2>"$tmp/watch.err" || { bad "polyws watch failed"; cat "$tmp/watch.err"; }
timeout 10 "$PY" "$WSCLIENT" "$MOCKURL/crypto" "{\"action\":\"auth\",\"params\":\"$KEY\"}" \
  '{"action":"subscribe","params":"XT.*"}' >"$tmp/py.out" 2>&1
kill "$MOCKPID"; wait "$MOCKPID" 2>/dev/null
if head -1 "$tmp/j.jsonl" | grep -q "\"polyws_tape\":1,\"url\":\"$MOCKURL\",.*\"mode\":\"mock\""; then
  ok "the journal starts with a tape header naming the mock's URL"
else bad "journal header"; head -2 "$tmp/j.jsonl"; fi
if "$POLYWS" tape stats "$tmp/j.jsonl" | grep -q "mode mock"; then ok "tape stats reads the header"; else bad "tape stats"; fi

# har_ok HAR N_ENTRIES URL_PREFIX PATH...: the HAR a viewer reads, with real URLs and dates
har_ok() {
  "$PY" - "$@" "$KEY" <<'EOF'
import json, sys, time
from datetime import datetime
har_path, n, prefix, paths, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:-1], sys.argv[-1]
text = open(har_path).read()
assert key not in text, "the key is in the HAR"
log = json.loads(text)["log"]
assert log["version"] == "1.2", log["version"]
assert log["creator"]["name"] == "polyws" and log["creator"]["version"], log["creator"]
assert isinstance(log.get("pages"), list)
entries = log["entries"]
assert len(entries) == n, len(entries)
now = time.time()
for e, path in zip(entries, paths):
    started = datetime.fromisoformat(e["startedDateTime"].replace("Z", "+00:00")).timestamp()
    assert abs(now - started) < 60, ("startedDateTime not within a minute of now", e["startedDateTime"])
    req, resp = e["request"], e["response"]
    assert req["method"] == "GET" and req["url"].startswith(prefix) and req["url"].endswith(path), req["url"]
    assert "unknown" not in req["url"], req["url"]
    host = {h["name"]: h["value"] for h in req["headers"]}.get("Host")
    assert host and req["url"].split("//", 1)[1].startswith(host), (host, req["url"])
    for k in ("httpVersion", "queryString", "cookies", "headersSize", "bodySize"):
        assert k in req, k
    assert resp["status"] == 101 and "content" in resp and "headers" in resp, resp
    assert isinstance(e["time"], (int, float)) and e["time"] >= 0
    assert {"send", "wait", "receive"} <= e["timings"].keys() and isinstance(e["cache"], dict)
    assert e["_resourceType"] == "websocket"
    msgs = e["_webSocketMessages"]
    assert msgs and {m["type"] for m in msgs} == {"send", "receive"}, {m["type"] for m in msgs}
    for m in msgs:
        assert set(m) == {"type", "time", "opcode", "data"}, m
        assert m["opcode"] in (1, 2) and isinstance(m["data"], str)
        assert abs(now - m["time"]) < 60 and m["time"] >= started - 0.001, (m["time"], started)
print("ok", [e["request"]["url"] for e in entries])
EOF
}

"$POLYWS" tape to-har "$tmp/j.jsonl" -o "$tmp/j.har" 2>"$tmp/tohar.err" || { bad "to-har failed"; cat "$tmp/tohar.err"; }
if har_ok "$tmp/j.har" 2 "$MOCKURL/" /stocks /crypto >"$tmp/har.check" 2>&1; then
  ok "HAR from the mock's journal: $(cat "$tmp/har.check")"
else bad "HAR from the mock's journal"; cat "$tmp/har.check"; fi
if grep -q '"data":[[:space:]]*"{\\"action\\":\\"auth\\",\\"params\\":\\"\*\*\*\\"}"' "$tmp/j.har"; then
  ok "the HAR shows the auth message redacted"; else bad "no redacted auth message in the HAR"; fi
if grep -qF "$KEY" "$tmp/j.jsonl"; then bad "the key is in the journal"; else ok "no key in the journal"; fi

# --- the journal of polyws check --journal
"$POLYWS" check --journal "$tmp/cj" "$(dirname "$0")/../../scenarios/happy_path.yaml" >"$tmp/check.out" 2>&1 ||
  { bad "polyws check"; cat "$tmp/check.out"; }
"$POLYWS" tape to-har "$tmp/cj/happy_path.jsonl" -o "$tmp/cj.har" 2>/dev/null || bad "to-har of check's journal"
if har_ok "$tmp/cj.har" 1 "ws://127.0.0.1:" /stocks >"$tmp/cj.check" 2>&1; then
  ok "HAR from polyws check --journal: $(cat "$tmp/cj.check")"
else bad "HAR from check's journal"; cat "$tmp/cj.check"; fi

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
