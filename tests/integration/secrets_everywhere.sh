#!/usr/bin/env bash
# secrets_everywhere.sh POLYWS WSCLIENT_PY LEAKSCAN - no artifact of any command holds an API key
# in any encoding.  A client sends the key (the scenario's, so polyws check hands it out) JSON-
# escaped in its auth message, then the key in every encoding a key takes on its way (raw, JSON
# \u escapes, percent, base64 and base64url at each alignment, a 12-byte piece, a 20-byte
# prefix) inside a subscribe and a text that is not JSON, and prints them on stdout and stderr.
# It runs under polyws check (JUnit, HTML report, journals, check's own output), against
# polyws mock (its journal and log), through polyws record (the tape, record's log), against
# polyws replay of that tape while deviating (the report on stderr), through tape from-har (a
# browser-like HAR with the key in headers, query, binary and ping frames), and polyws watch reads a
# server that echoes every encoding in a status message (watch's stdout and stderr).  leakscan
# (tests/support/leakcheck.c, written apart from the redactor) must find no trace in any of
# those files, and must find one in every line of the encodings list (a positive control).
set -u
POLYWS=$1
CLIENT=$2
LEAKSCAN=$3
. "$(dirname "$0")/lib.sh" # tmp, servers stopped at exit, ok/bad, wait_url, start
unset POLYWS_API_KEY
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

# a fresh key, never written anywhere but the files that must hold it
KEY=$($PY -c 'import secrets,string; print("".join(secrets.choice(string.ascii_letters+string.digits) for _ in range(32)))')
printf '%s\n' "$KEY" >"$tmp/key"
cat >"$tmp/enc.py" <<'PY'
import base64, os, sys
key = sys.argv[2] if len(sys.argv) > 2 else os.environ["POLYWS_API_KEY"]
def encodings(k):
    b = k.encode()
    yield k                                                       # raw
    yield "".join("\\u%04x" % ord(c) for c in k)                  # JSON, every byte
    yield "".join(("\\u%04X" % ord(c)) if i % 2 else c for i, c in enumerate(k))  # JSON, mixed
    yield "".join("%%%02X" % x for x in b)                        # percent, every byte
    yield "".join(("%%%02x" % ord(c)) if i % 3 == 0 else c for i, c in enumerate(k))  # percent, mixed
    for pre in (b"", b"x", b"xy"):                                # base64 at each alignment
        yield base64.b64encode(pre + b + b"!").decode()
        yield base64.urlsafe_b64encode(pre + b"\xfb\xff" + b).decode()
    yield k[5:17]                                                 # a 12-byte piece
    yield k[:20]                                                  # a long prefix
def esc(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')
encs = list(encodings(key))
if sys.argv[1] == "list":
    print("\n".join(encs))
elif sys.argv[1] == "auth":
    print('{"action":"auth","params":"%s"}' % "".join(("\\u%04x" % ord(c)) if i % 2 else c for i, c in enumerate(key)))
elif sys.argv[1] == "subscribe":
    print('{"action":"subscribe","params":"%s"}' % esc(",".join("T." + e for e in encs)))
elif sys.argv[1] == "note":
    print("not json: " + " ".join(encs))
elif sys.argv[1] == "echo":
    # a tape whose server answers auth with a status that echoes every encoding
    msg = esc(esc("key " + " ".join(encs) + " is over its quota"))
    print('{"polyws_tape":1,"url":"ws://127.0.0.1/stocks","start_us":1700000000000000,"start":"2023-11-14T22:13:20.000000Z","tool":"test","mode":"proxy","redacted":{"placeholder":"***","auth_params":true,"fields":[],"headers":[],"secrets":1}}')
    print('{"t_us":0,"conn":1,"dir":"-","kind":"open","data":"/stocks"}')
    print('{"t_us":10,"conn":1,"dir":"s","kind":"text","data":"[{\\"ev\\":\\"status\\",\\"status\\":\\"connected\\",\\"message\\":\\"Connected Successfully\\"}]"}')
    print('{"t_us":20,"conn":1,"dir":"c","kind":"text","data":"{\\"action\\":\\"auth\\",\\"params\\":\\"***\\"}"}')
    print('{"t_us":30,"conn":1,"dir":"s","kind":"text","data":"[{\\"ev\\":\\"status\\",\\"status\\":\\"error\\",\\"message\\":\\"%s\\"}]"}' % msg)
    print('{"t_us":40,"conn":1,"dir":"s","kind":"close","code":1008,"reason":"over quota"}')
    print('{"t_us":50,"conn":1,"dir":"-","kind":"closed","data":"upstream"}')
PY
$PY "$tmp/enc.py" list "$KEY" >"$tmp/encodings.txt"
if "$LEAKSCAN" --each-line "$tmp/key" "$tmp/encodings.txt" >"$tmp/control.out"; then
  ok "positive control: leakscan finds the key in each of the $(wc -l <"$tmp/encodings.txt") encodings"
else
  bad "positive control: an encoding leakscan does not see"; cat "$tmp/control.out"
fi

# the client under test: auth (escaped), the encodings in a subscribe and in a non-JSON text,
# then the encodings on stdout and stderr, and a failing exit so every report shows its output
cat >"$tmp/client.sh" <<EOF2
#!/bin/sh
$PY "$CLIENT" "\$POLYWS_URL" "\$($PY "$tmp/enc.py" auth)" "\$($PY "$tmp/enc.py" subscribe)" "\$($PY "$tmp/enc.py" note)" >/dev/null 2>&1
$PY "$tmp/enc.py" list
$PY "$tmp/enc.py" list >&2
exit 3
EOF2
chmod +x "$tmp/client.sh"

# --- polyws check: JUnit, HTML report, journals, check's stdout and stderr
cat >"$tmp/secrets.yaml" <<EOF2
description: 'the key in every encoding, sent and printed by the client'
server:
  keys: [$KEY]
client:
  timeout: 15s
connections:
  default:
    - greet
    - auth
    - expect: {json: {action: subscribe}, timeout: 5s}
    - expect: {regex: "not json", timeout: 5s}
    - sleep: 1s
assert:
  - client_exit: 0
EOF2
mkdir -p "$tmp/journals"
"$POLYWS" check --client "$tmp/client.sh" --client-output none --junit "$tmp/check.xml" \
  --report "$tmp/check.html" --journal "$tmp/journals" -v "$tmp/secrets.yaml" >"$tmp/check.out" 2>"$tmp/check.err"
rc=$?
[ "$rc" = 1 ] && ok "check ran the client and failed the scenario (exit 1)" || { bad "check exit $rc"; cat "$tmp/check.err"; }
grep -q '\*\*\*' "$tmp/check.xml" && ok "JUnit shows the client's output with the key replaced" || bad "JUnit has no ***"
[ -s "$tmp/journals/secrets.jsonl" ] && ok "check wrote the journal" || bad "no journal from check"
grep -q 'subscribe' "$tmp/journals/secrets.jsonl" && ok "the journal holds the client's subscribe" || bad "no subscribe in the journal"

# --- polyws mock: journal and log
start mock "$POLYWS" mock --journal "$tmp/mock.jsonl" --limit 3
"$PY" "$CLIENT" "$URL/stocks" "$($PY "$tmp/enc.py" auth "$KEY")" "$($PY "$tmp/enc.py" subscribe "$KEY")" \
  "$($PY "$tmp/enc.py" note "$KEY")" >"$tmp/mock_client.out" 2>&1
kill "$LASTPID" 2>/dev/null; wait "$LASTPID" 2>/dev/null
grep -q 'not json: ' "$tmp/mock.jsonl" && ok "the mock journaled the non-JSON text" || bad "the mock's journal lacks the text"

# --- polyws record through the mock: the tape and record's log
start up "$POLYWS" mock --limit 3
UP=$URL
start rec "$POLYWS" record --upstream "$UP" -o "$tmp/rec.tape"
"$PY" "$CLIENT" "$URL/stocks" "$($PY "$tmp/enc.py" auth "$KEY")" "$($PY "$tmp/enc.py" subscribe "$KEY")" \
  "$($PY "$tmp/enc.py" note "$KEY")" >"$tmp/rec_client.out" 2>&1
kill -INT "$LASTPID" 2>/dev/null; wait "$LASTPID" 2>/dev/null
grep -q '"dir":"c"' "$tmp/rec.tape" && ok "record wrote the client's frames" || bad "the tape has no client frames"
"$POLYWS" tape to-har "$tmp/rec.tape" -o "$tmp/rec.har" 2>"$tmp/har.err" && ok "tape to-har" || bad "tape to-har failed"

# --- polyws tape from-har of a browser-like HAR: the key in the auth message, in an X-Polygon-Key
# header and a Sec-WebSocket-Protocol token, in the URL's query, inside a binary message and a
# ping, and every encoding in a received text
cat >"$tmp/har.py" <<'PY'
import base64, json, subprocess, sys
key = sys.argv[1]
encs = subprocess.run([sys.executable, sys.argv[2], "list", key], capture_output=True, text=True).stdout.split("\n")
msgs = [
    {"type": "send", "time": 1700000000.0, "opcode": 1, "data": json.dumps({"action": "auth", "params": key})},
    {"type": "receive", "time": 1700000000.1, "opcode": 1,
     "data": json.dumps([{"ev": "status", "status": "error", "message": "key " + " ".join(encs) + " over quota"}])},
    {"type": "send", "time": 1700000000.2, "opcode": 2,
     "data": base64.b64encode(b"\x00\x01bin " + key.encode() + b" \xff").decode()},
    {"type": "send", "time": 1700000000.3, "opcode": 9, "data": "ping " + key},
]
entry = {"startedDateTime": "2023-11-14T22:13:20.000Z", "_resourceType": "websocket",
         "request": {"method": "GET", "url": "wss://socket.example/stocks?apiKey=" + key + "&x=1",
                     "headers": [{"name": "X-Polygon-Key", "value": key},
                                 {"name": "Sec-WebSocket-Protocol", "value": "v1, token." + key},
                                 {"name": "User-Agent", "value": "test"}]},
         "response": {"status": 101, "headers": []}, "_webSocketMessages": msgs}
print(json.dumps({"log": {"version": "1.2", "entries": [entry]}}))
PY
$PY "$tmp/har.py" "$KEY" "$tmp/enc.py" >"$tmp/browser.har"
grep -q "$KEY" "$tmp/browser.har" && ok "the browser HAR holds the key (input)" || bad "the HAR was not made"
if "$POLYWS" tape from-har "$tmp/browser.har" -o "$tmp/fromhar.tape" 2>"$tmp/fromhar.err"; then
  ok "tape from-har"
else
  bad "tape from-har failed"; cat "$tmp/fromhar.err"
fi
grep -q '"kind":"binary"' "$tmp/fromhar.tape" && grep -q '"X-Polygon-Key"' "$tmp/fromhar.tape" &&
  grep -q '"kind":"ping"' "$tmp/fromhar.tape" && ok "the tape kept the binary message, the ping and the header" ||
  { bad "the tape lost a frame or the header"; cat "$tmp/fromhar.tape"; }

# --- polyws replay of that tape, a client deviating with the encodings (report on stderr)
start rep "$POLYWS" replay "$tmp/rec.tape" --speed max --wait-ms 3000
"$PY" "$CLIENT" "$URL/stocks" "$($PY "$tmp/enc.py" auth "$KEY")" "$($PY "$tmp/enc.py" note "$KEY")" >"$tmp/rep_client.out" 2>&1
wait "$LASTPID" 2>/dev/null
grep -q 'deviat' "$tmp/rep.err" && ok "replay reported the deviation" || { bad "no deviation report"; cat "$tmp/rep.err"; }

# --- polyws watch against a server that echoes every encoding
$PY "$tmp/enc.py" echo "$KEY" >"$tmp/echo.tape"
start echo "$POLYWS" replay "$tmp/echo.tape" --speed max
POLYWS_API_KEY=$KEY timeout 20 "$POLYWS" watch "$URL/stocks" -s T.AAPL --format jsonl -v --duration 3 >"$tmp/watch.out" 2>"$tmp/watch.err"
wait "$LASTPID" 2>/dev/null
grep -q '"status":"error"' "$tmp/watch.out" && ok "watch showed the server's status" || { bad "watch did not show the status"; cat "$tmp/watch.err"; }

# --- not a trace anywhere
files=("$tmp/check.xml" "$tmp/check.html" "$tmp/check.out" "$tmp/check.err" "$tmp"/journals/*
       "$tmp/mock.jsonl" "$tmp/mock.out" "$tmp/mock.err" "$tmp/rec.tape" "$tmp/rec.har" "$tmp/har.err"
       "$tmp/fromhar.tape" "$tmp/fromhar.err" "$tmp/rec.out" "$tmp/rec.err" "$tmp/up.err" "$tmp/rep.out" "$tmp/rep.err"
       "$tmp/watch.out" "$tmp/watch.err" "$tmp/echo.err")
for f in "${files[@]}"; do [ -s "$f" ] || echo "note: $(basename "$f") is empty"; done
if "$LEAKSCAN" "$tmp/key" "${files[@]}" >"$tmp/scan.out"; then
  ok "no trace of the key in any encoding in ${#files[@]} artifacts"
else
  bad "the key leaks:"; cat "$tmp/scan.out"
fi
echo "$passes passed, $fails failed"
[ "$fails" = 0 ]
