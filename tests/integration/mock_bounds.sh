#!/usr/bin/env bash
# mock_bounds.sh POLYWS WSCLIENT - the mock bounds what a client can make it do or write:
# repeated auth messages on an authenticated connection are answered --max-repeated-auth times,
# then the connection is closed (1008, "too many auth messages"); the --journal file stops at
# --journal-max with one last "truncated" line naming the cap, every line JSON, no key in it.
# Every server binds 127.0.0.1 port 0 and is stopped on exit.
set -u
POLYWS=$1
WSCLIENT=$2
. "$(dirname "$0")/lib.sh" # tmp, servers stopped at exit, ok/bad, wait_url, start

KEY="mock-bounds-key-A1b2C3d4E5f6"
AUTH="{\"action\":\"auth\",\"params\":\"$KEY\"}"

# --- repeated auth: 3 answered, the 4th closes
start rep "$POLYWS" mock --max-repeated-auth 3 --rate 1
msgs=()
for _ in $(seq 10); do msgs+=("$AUTH"); done
timeout 20 /usr/bin/python3 "$WSCLIENT" "$URL/stocks" "${msgs[@]}" >"$tmp/rep.client" 2>&1
successes=$(grep -c '"status":"auth_success"' "$tmp/rep.client")
if [ "$successes" -eq 4 ] && grep -q '^close 1008' "$tmp/rep.client"; then
  ok "repeated auth: the first auth and 3 repeats answered, then close 1008"
else
  bad "repeated auth: $successes auth_success, close: $(grep '^close' "$tmp/rep.client")"; sed 's/^/  | /' "$tmp/rep.client" | head -20
fi

# the default is 16: 10 auth messages are all answered and the connection stays open
start rep16 "$POLYWS" mock --rate 1
timeout 20 /usr/bin/python3 "$WSCLIENT" "$URL/stocks" "${msgs[@]}" >"$tmp/rep16.client" 2>&1
successes=$(grep -c '"status":"auth_success"' "$tmp/rep16.client")
if [ "$successes" -eq 10 ] && ! grep -q '^close 1008' "$tmp/rep16.client"; then
  ok "repeated auth: 10 within the default of 16 are all answered"
else
  bad "repeated auth default: $successes auth_success"; sed 's/^/  | /' "$tmp/rep16.client" | head -20
fi

# --- bad values are usage errors
"$POLYWS" mock --max-repeated-auth 0 2>"$tmp/e1"; rc=$?
if [ $rc -eq 2 ] && grep -q -- "--max-repeated-auth needs 1..1000000, not '0'" "$tmp/e1"; then ok "--max-repeated-auth 0 exits 2"; else bad "--max-repeated-auth 0 (rc=$rc)"; cat "$tmp/e1"; fi
"$POLYWS" mock --journal-max 100 2>"$tmp/e2"; rc=$?
if [ $rc -eq 2 ] && grep -q -- "--journal-max needs 4096 bytes or more, not '100'" "$tmp/e2"; then ok "--journal-max 100 exits 2"; else bad "--journal-max 100 (rc=$rc)"; cat "$tmp/e2"; fi

# --- the journal file's cap
export MOCK_KEY=$KEY
start jr "$POLYWS" mock --accept-key-env MOCK_KEY --journal "$tmp/j.jsonl" --journal-max 8192 --rate 5000 --batch 20
POLYWS_API_KEY=$KEY timeout 20 "$POLYWS" watch "$URL/stocks" -s 'T.*,Q.*' --count 2000 >"$tmp/w.out" 2>"$tmp/w.err"
rc=$?
sleep 0.3
size=$(stat -c %s "$tmp/j.jsonl")
last=$(tail -n 1 "$tmp/j.jsonl")
if [ $rc -eq 0 ] && /usr/bin/python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
for l in lines: json.loads(l)
body = sum(len(l) + 1 for l in lines[:-1])
last = json.loads(lines[-1])
ok = body <= 8192 and last["kind"] == "truncated" and "8192 bytes" in last.get("data", "") \
     and sum(1 for l in lines if "\"truncated\"" in l) == 1
sys.exit(0 if ok else 1)' "$tmp/j.jsonl"; then
  ok "journal file stops at --journal-max 8192 ($size bytes with its last line) with one truncated line naming the cap"
else
  bad "journal cap: watch rc=$rc, $size bytes, last line: ${last:0:200}"
fi
if grep -qF -- "$KEY" "$tmp/j.jsonl" "$tmp/w.out" "$tmp/w.err"; then bad "the key appears in the journal or watch output"; else ok "no key in the capped journal"; fi

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
