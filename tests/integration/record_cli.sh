#!/usr/bin/env bash
# record_cli.sh POLYWS - `polyws record`, `polyws replay` and `polyws tape` end to end,
# with `polyws mock` standing in for the live service and `polyws watch` as the client.
# Every server binds 127.0.0.1 port 0 and is killed on exit; nothing needs the internet.
set -u
POLYWS=$1
. "$(dirname "$0")/lib.sh" # tmp, servers stopped at exit, ok/bad, wait_url, start

export SECRET_KEY="record-cli-secret-key-90210"
export POLYWS_API_KEY=$SECRET_KEY

MOCK_ARGS=(--accept-key-env SECRET_KEY --seed 7 --rate 3000)

# 1. help texts
if "$POLYWS" record --help | grep -q -- "--upstream" && "$POLYWS" replay --help | grep -q -- "--speed"; then
  ok "record/replay --help"; else bad "record/replay --help"; fi
"$POLYWS" record -o "$tmp/x.tape" 2>"$tmp/u.err"; rc=$?
if [ $rc -eq 2 ] && grep -q "upstream" "$tmp/u.err"; then ok "record without a mode exits 2"; else bad "record usage (rc=$rc)"; fi

# 2. direct run: watch against the mock
start m1 "$POLYWS" mock "${MOCK_ARGS[@]}"
"$POLYWS" watch "$URL/stocks" -s A.AAPL,T.MSFT --format jsonl --count 300 -q >"$tmp/direct.jsonl" 2>"$tmp/direct.err"; rc=$?
if [ $rc -eq 0 ] && [ "$(grep -vc '"ev":"status"' "$tmp/direct.jsonl")" -eq 300 ]; then ok "direct run"; else bad "direct run (rc=$rc)"; fi

# 3. the same through the recording proxy: same output, a tape without the key
start m2 "$POLYWS" mock "${MOCK_ARGS[@]}" --journal "$tmp/m2.journal"
start rec "$POLYWS" record --upstream "$URL" -o "$tmp/session.tape"
RECPID=$LASTPID
"$POLYWS" watch "$URL/stocks" -s A.AAPL,T.MSFT --format jsonl --count 300 -q >"$tmp/recorded.jsonl" 2>"$tmp/recorded.err"; rc=$?
sleep 0.5
kill -TERM $RECPID; wait $RECPID; rrc=$?
if [ $rc -eq 0 ] && [ $rrc -eq 0 ] && cmp -s "$tmp/direct.jsonl" "$tmp/recorded.jsonl"; then
  ok "through the proxy: same output as the direct run"; else bad "proxy run differs (rc=$rc/$rrc)"; diff "$tmp/direct.jsonl" "$tmp/recorded.jsonl" | head -3; fi
if head -1 "$tmp/session.tape" | grep -q '"polyws_tape":1' && grep -q '"kind":"open"' "$tmp/session.tape" &&
   grep -q '\\"params\\":\\"\*\*\*\\"' "$tmp/session.tape"; then ok "tape header, open line, redacted auth"; else bad "tape content"; head -3 "$tmp/session.tape"; fi
if [ ! -s "$tmp/rec.err" ]; then ok "recorder quiet when stderr is not a terminal"; else bad "recorder wrote to stderr"; cat "$tmp/rec.err"; fi

# 4. replay at full speed to the connector: the same output again
start rp "$POLYWS" replay "$tmp/session.tape" --speed max
RPPID=$LASTPID
"$POLYWS" watch "$URL/stocks" -s T.MSFT,A.AAPL --format jsonl --count 300 -q >"$tmp/replayed.jsonl" 2>"$tmp/replayed.err"; rc=$?
wait $RPPID; rprc=$?
if [ $rc -eq 0 ] && [ $rprc -eq 0 ] && cmp -s "$tmp/direct.jsonl" "$tmp/replayed.jsonl"; then
  ok "replayed: same output as the direct run; replay exits 0"; else bad "replay (rc=$rc/$rprc)"; cat "$tmp/rp.err"; diff "$tmp/direct.jsonl" "$tmp/replayed.jsonl" | head -3; fi

# 5. direct mode: our own connector recorded, events as JSON lines
start m3 "$POLYWS" mock "${MOCK_ARGS[@]}"
"$POLYWS" record --url "$URL/stocks" -s A.AAPL,T.MSFT --count 300 --jsonl "$tmp/rec-direct.jsonl" -o "$tmp/direct.tape" \
  >"$tmp/recd.out" 2>"$tmp/recd.err"; rc=$?
if [ $rc -eq 0 ] && cmp -s "$tmp/direct.jsonl" "$tmp/rec-direct.jsonl" && grep -q '"mode":"direct"' "$tmp/direct.tape" &&
   grep -q '"kind":"closed"' "$tmp/direct.tape"; then ok "record --url (direct mode)"; else bad "direct mode (rc=$rc)"; cat "$tmp/recd.err"; fi
if grep -q '"secrets":1' "$tmp/direct.tape"; then ok "direct mode lists the key as a scrubbed secret"; else bad "direct header"; fi

# 6. a client that deviates gets a report, and replay exits 1
start rp2 "$POLYWS" replay "$tmp/session.tape" --speed max --wait-ms 2000
RPPID=$LASTPID
"$POLYWS" watch "$URL/stocks" -s A.AAPL,Q.SPY --format jsonl --duration 3 -q --max-attempts 1 >/dev/null 2>&1
wait $RPPID; rprc=$?
if [ $rprc -eq 1 ] && grep -q 'expected text {"action":"subscribe","params":"A.AAPL,T.MSFT"}; got text {"action":"subscribe","params":"A.AAPL,Q.SPY"}' "$tmp/rp2.err" &&
   grep -q "channel T.MSFT missing" "$tmp/rp2.err"; then ok "replay mismatch: expected vs got, exit 1"; else bad "mismatch report (rc=$rprc)"; cat "$tmp/rp2.err"; fi

# 7. SIGKILL mid-stream: the tape is readable and holds a prefix of what the mock journaled
start m4 "$POLYWS" mock --accept-key-env SECRET_KEY --seed 3 --rate 20000 --journal "$tmp/m4.journal"
start rec2 "$POLYWS" record --upstream "$URL" -o "$tmp/killed.tape"
RECPID=$LASTPID
"$POLYWS" watch "$URL/stocks" -s 'A.*,T.*' --format jsonl --duration 3 -q --max-attempts 1 >"$tmp/killed.jsonl" 2>/dev/null &
WPID=$!
sleep 1.2
kill -KILL $RECPID
wait $WPID 2>/dev/null
sleep 0.3
python3 - "$tmp/killed.tape" "$tmp/m4.journal" >"$tmp/kill.check" 2>&1 <<'EOF'
import json, sys
tape, journal = sys.argv[1], sys.argv[2]
raw = open(tape, 'rb').read()
lines = raw.split(b'\n')
cut = lines[-1]              # b'' if the file ends with a newline
frames = [json.loads(l) for l in lines[1:-1] if l.strip()]
hdr = json.loads(lines[0])
assert hdr['polyws_tape'] == 1
jr = [json.loads(l) for l in open(journal, 'rb').read().split(b'\n')[1:] if l.strip()]  # after its header
def texts(es): return [(e['dir'], e.get('data')) for e in es if e['kind'] == 'text' and e['dir'] in 'cs']
t, j = texts(frames), texts(jr)
assert len(t) > 20, len(t)
assert j[:len(t)] == t, 'the tape is not a prefix of the journal'
print('frames', len(frames), 'text', len(t), 'journal text', len(j), 'cut-bytes', len(cut))
EOF
if [ $? -eq 0 ]; then ok "SIGKILL mid-stream: tape readable, a gap-free prefix ($(cat "$tmp/kill.check"))"; else bad "SIGKILL tape"; cat "$tmp/kill.check"; fi
"$POLYWS" replay "$tmp/killed.tape" --duration 0.2 >/dev/null 2>"$tmp/killed-replay.err"
if ! grep -q "error" "$tmp/killed-replay.err"; then ok "the killed tape loads in replay"; else bad "killed tape in replay"; cat "$tmp/killed-replay.err"; fi

# 8. wss upstream with the mock's CA
"$POLYWS" mock --tls --accept-key-env SECRET_KEY --rate 500 --port-file "$tmp/tls.port" >"$tmp/tls.out" 2>"$tmp/tls.err" &
pids+=($!)
for _ in $(seq 250); do grep -q '^ca-file' "$tmp/tls.out" 2>/dev/null && break; sleep 0.02; done
TURL=$(awk '/^listening /{print $2}' "$tmp/tls.out"); CA=$(awk '/^ca-file /{print $2}' "$tmp/tls.out")
start rec3 "$POLYWS" record --upstream "$TURL" --ca "$CA" -o "$tmp/tls.tape"
RECPID=$LASTPID
"$POLYWS" watch "$URL/stocks" -s A.AAPL --count 5 -q --format jsonl >"$tmp/tls.jsonl" 2>"$tmp/tls.werr"; rc=$?
sleep 0.3; kill -TERM $RECPID; wait $RECPID
if [ $rc -eq 0 ] && [ "$(grep -c '"ev":"A"' "$tmp/tls.jsonl")" -eq 5 ] && grep -q '"url":"wss://' "$tmp/tls.tape"; then
  ok "wss upstream verified with --ca"; else bad "wss upstream (rc=$rc)"; cat "$tmp/tls.werr" "$tmp/rec3.err"; fi

# 9. a progress line on a terminal (stderr is a pty here)
start m5 "$POLYWS" mock --accept-key-env SECRET_KEY --rate 1000
MURL=$URL
python3 - "$POLYWS" "$MURL" "$tmp/pty.tape" >"$tmp/pty.out" 2>&1 <<'EOF'
import os, pty, sys, subprocess, time
polyws, url, tape = sys.argv[1:4]
master, slave = pty.openpty()
p = subprocess.Popen([polyws, 'record', '--upstream', url, '-o', tape, '--duration', '1.2'],
                     stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL)
os.close(slave)
out = b''
end = time.time() + 10
while time.time() < end:
    try:
        chunk = os.read(master, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
p.wait()
sys.stdout.write(out.decode(errors='replace'))
EOF
if grep -q "recording: 0 frames" "$tmp/pty.out" && grep -q "frames/s" "$tmp/pty.out"; then ok "progress line on a terminal"; else bad "progress line"; cat "$tmp/pty.out"; fi

# 10. tape stats, also on a tape with a cut last line
"$POLYWS" tape stats "$tmp/session.tape" >"$tmp/stats.txt" 2>&1; rc=$?
"$POLYWS" tape stats --json "$tmp/session.tape" >"$tmp/stats.json" 2>&1; rcj=$?
if [ $rc -eq 0 ] && [ $rcj -eq 0 ] && grep -q "^server->client" "$tmp/stats.txt" && grep -q "^connections  1" "$tmp/stats.txt" &&
   python3 -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['events']['A']+s['events']['T']>=300 and s['client']['text']==2 and s['connections']==1" "$tmp/stats.json"; then
  ok "tape stats (text and --json)"; else bad "tape stats (rc=$rc/$rcj)"; cat "$tmp/stats.txt" "$tmp/stats.json"; fi
cp "$tmp/session.tape" "$tmp/cut.tape"; printf '{"t_us":9,"conn":1,"dir":"s","kind":"te' >>"$tmp/cut.tape"
"$POLYWS" tape stats "$tmp/cut.tape" >"$tmp/cut.txt" 2>&1; rc=$?
if [ $rc -eq 0 ] && grep -q "truncated:   last line cut (39 bytes), ignored" "$tmp/cut.txt"; then ok "stats on a cut tape says so"; else bad "cut tape stats (rc=$rc)"; cat "$tmp/cut.txt"; fi

# 11. to-scenario: a valid scenario, and the mock playing it gives the recorded output
"$POLYWS" tape to-scenario "$tmp/session.tape" -o "$tmp/session.yaml"; rc=$?
"$POLYWS" mock --validate "$tmp/session.yaml" >"$tmp/validate.out" 2>&1; vrc=$?
if [ $rc -eq 0 ] && [ $vrc -eq 0 ]; then ok "to-scenario output validates"; else bad "to-scenario (rc=$rc/$vrc)"; cat "$tmp/validate.out"; fi
start scn "$POLYWS" mock "$tmp/session.yaml"
"$POLYWS" watch "$URL/stocks" -s A.AAPL,T.MSFT --format jsonl --count 300 -q >"$tmp/scenario.jsonl" 2>"$tmp/scenario.err"; rc=$?
if [ $rc -eq 0 ] && cmp -s "$tmp/direct.jsonl" "$tmp/scenario.jsonl"; then ok "the mock plays the scenario: same output"; else
  bad "scenario playback (rc=$rc)"; cat "$tmp/scenario.err"; diff "$tmp/direct.jsonl" "$tmp/scenario.jsonl" | head -3; fi

# 12. HAR round trip: to-har, from-har, same text frames; replaying the converted tape gives the same output
"$POLYWS" tape to-har "$tmp/session.tape" -o "$tmp/session.har" 2>"$tmp/har.err"; rc=$?
"$POLYWS" tape from-har "$tmp/session.har" -o "$tmp/fromhar.tape"; rc2=$?
python3 - "$tmp/session.tape" "$tmp/fromhar.tape" "$tmp/session.har" >"$tmp/har.check" 2>&1 <<'EOF2'
import json, sys
def frames(p):
    ls = [json.loads(l) for l in open(p) if l.strip()][1:]
    op = [l['t_us'] for l in ls if l['kind'] == 'open'][0]
    return [(l['conn'], l['dir'], l['kind'], l.get('data'), l['t_us'] - op) for l in ls if l['kind'] in ('text', 'binary')]
a, b = frames(sys.argv[1]), frames(sys.argv[2])
assert len(a) == len(b) > 20, (len(a), len(b))
for x, y in zip(a, b):
    assert x[:4] == y[:4], (x, y)
    assert abs(x[4] - y[4]) <= 1, (x, y)
har = json.load(open(sys.argv[3]))
e = har['log']['entries']
assert len(e) == 1 and e[0]['_resourceType'] == 'websocket'
assert {m['type'] for m in e[0]['_webSocketMessages']} == {'send', 'receive'}
print(len(a), 'frames equal')
EOF2
prc=$?
if [ $rc -eq 0 ] && [ $rc2 -eq 0 ] && [ $prc -eq 0 ] && grep -q "left out" "$tmp/har.err"; then
  ok "HAR round trip ($(cat "$tmp/har.check"))"; else bad "HAR round trip (rc=$rc/$rc2)"; cat "$tmp/har.check" "$tmp/har.err"; fi
start rp3 "$POLYWS" replay "$tmp/fromhar.tape" --speed max
RPPID=$LASTPID
"$POLYWS" watch "$URL/stocks" -s A.AAPL,T.MSFT --format jsonl --count 300 -q >"$tmp/har.jsonl" 2>/dev/null; rc=$?
kill $RPPID 2>/dev/null; wait $RPPID 2>/dev/null
if [ $rc -eq 0 ] && cmp -s "$tmp/direct.jsonl" "$tmp/har.jsonl"; then ok "a tape from HAR replays to the same output"; else bad "HAR replay (rc=$rc)"; fi

# 13. the key appears nowhere: tapes, logs, outputs
if grep -rqF -e "$SECRET_KEY" "$tmp"; then bad "the key leaked:"; grep -rlF -e "$SECRET_KEY" "$tmp"; else ok "the key is in no tape, log or output"; fi

# 14. in sanitizer builds: no report from any process
if grep -lq "Sanitizer" "$tmp"/*.err 2>/dev/null; then bad "sanitizer reports:"; grep -l "Sanitizer" "$tmp"/*.err; grep -h -A5 "Sanitizer" "$tmp"/*.err | head -40
else ok "no sanitizer report in any stderr"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
