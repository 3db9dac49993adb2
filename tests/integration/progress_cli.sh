#!/usr/bin/env bash
# progress_cli.sh POLYWS GEN_HAR - the progress line of `polyws tape from-har`, `tape to-har`,
# `tape to-scenario`, `tape stats`, `record` and `replay`, end to end: script(1) gives each
# command a terminal, and the line must be drawn ('\r' redraws, ended by a newline) with final
# counts equal to the real totals (the HAR's messages, the tape's lines, the frames `tape stats`
# counts, the replay's "frames sent").  Without a terminal (a file, a pipe) and with -q, stderr
# must hold no progress line at all; to-har writing to the same terminal shows none either.
# The API key (in the HAR's auth messages, in $POLYWS_API_KEY) must appear in no output.
# Inputs: tests/support/gen_har.py's HAR (60 000 messages, about 16 MB), `polyws mock`'s stream.
set -u
POLYWS=$1
GEN=$2
PY=/usr/bin/python3
. "$(dirname "$0")/lib.sh" # tmp, servers stopped at exit, ok/bad, wait_url, start

KEY=PROGRESS-KEY-4b1d7e
export SECRET_KEY=$KEY
export POLYWS_API_KEY=$KEY # watch's key, for the mock and the replays (never shown by either)

if ! command -v script >/dev/null; then bad "script(1) (util-linux) is missing"; echo "1 failed"; exit 1; fi

# tty OUT CMD: runs the shell command CMD with a terminal for stdin, stdout and stderr (a pty,
# 80 columns unless it says otherwise); everything the terminal showed goes to OUT.
tty() { script -qfec "$2" /dev/null >"$1" 2>&1 </dev/null; }

# meter OUT LABEL: what the terminal in OUT showed of the progress lines "LABEL: ...":
#   draws N      how many times the line was drawn ('\r' then LABEL)
#   last TEXT    the last drawing (without its escape codes)
#   ended yes|no the last drawing ended with a newline
meter() {
  "$PY" - "$1" "$2" <<'EOF'
import re, sys
data = open(sys.argv[1], 'rb').read().decode('utf-8', 'replace')
label = sys.argv[2] + ': '
# a pty shows "\n" as "\r\n": those are ends of lines, not redraws
data = data.replace('\r\n', '\n')
draws = [m.start() for m in re.finditer(re.escape('\r' + label), data)]
print('draws', len(draws))
if draws:
    rest = data[draws[-1] + 1:]
    text = re.split(r'[\r\n]', rest)[0]
    print('last', text.replace('\x1b[K', ''))
    end = rest.find('\n')
    cut = rest.find('\r')
    print('ended', 'yes' if end >= 0 and (cut < 0 or end < cut) else 'no')
EOF
}
field() { awk -v k="$1" '$1 == k { sub(/^[^ ]+ /, ""); print; exit }'; }

# 1. from-har on a terminal: reading (bytes of the file, percent, messages), then writing (lines)
"$PY" "$GEN" "$tmp/big.har" --messages 60000 --conns 4 --key "$KEY" || { bad "gen_har.py"; exit 1; }
LINES=$("$PY" "$GEN" "$tmp/big.har" --messages 60000 --conns 4 --key "$KEY" --expect | awk '$1 == "lines" {print $2}')
CONNS=$("$PY" "$GEN" "$tmp/big.har" --messages 60000 --conns 4 --key "$KEY" --expect | awk '$1 == "conns" {print $2}')
MESSAGES=$((LINES - CONNS)) # every line but the open lines is a message of the HAR
HARSIZE=$(stat -c %s "$tmp/big.har")
HARMB=$("$PY" -c "import sys; s = int(sys.argv[1]) / 1e6; print(f'{s:.1f}/{s:.1f} MB')" "$HARSIZE")
tty "$tmp/fromhar.tty" "'$POLYWS' tape from-har '$tmp/big.har' -o '$tmp/big.tape'"
TAPELINES=$(($(wc -l <"$tmp/big.tape") - 1))
meter "$tmp/fromhar.tty" "from-har reading" >"$tmp/m.r"
meter "$tmp/fromhar.tty" "from-har writing" >"$tmp/m.w"
if [ "$(field draws <"$tmp/m.r")" -ge 2 ] && [ "$(field ended <"$tmp/m.r")" = yes ] &&
   field last <"$tmp/m.r" | grep -q "^from-har reading: 100% $HARMB, $MESSAGES messages, \(.*/s, \)\?[0-9.]*s\$"; then
  ok "from-har: reading line redrawn, final: 100% of the file ($HARMB), $MESSAGES messages"
else bad "from-har reading line"; cat "$tmp/m.r"; fi
if [ "$TAPELINES" -eq "$LINES" ] && [ "$(field draws <"$tmp/m.w")" -ge 2 ] && [ "$(field ended <"$tmp/m.w")" = yes ] &&
   field last <"$tmp/m.w" | grep -q "^from-har writing: 100% $LINES/$LINES lines, "; then
  ok "from-har: writing line, final: $LINES/$LINES lines (the tape has $TAPELINES)"
else bad "from-har writing line (tape $TAPELINES, expected $LINES)"; cat "$tmp/m.w"; fi
if ! grep -qE "ETA -|nan|inf" "$tmp/fromhar.tty"; then
  ok "from-har: no nan or negative ETA"; else bad "from-har odd numbers"; cat -v "$tmp/fromhar.tty" | head -5; fi

# 2. the same without a terminal, through a pipe, and with -q: stderr holds nothing
"$POLYWS" tape from-har "$tmp/big.har" -o "$tmp/file.tape" 2>"$tmp/file.err"; rc=$?
"$POLYWS" tape from-har "$tmp/big.har" -o "$tmp/pipe.tape" 2>&1 | cat >"$tmp/pipe.err"
tty "$tmp/quiet.tty" "'$POLYWS' tape from-har -q '$tmp/big.har' -o '$tmp/quiet.tape'"
if [ $rc -eq 0 ] && [ ! -s "$tmp/file.err" ] && [ ! -s "$tmp/pipe.err" ] && [ ! -s "$tmp/quiet.tty" ] &&
   cmp -s "$tmp/big.tape" "$tmp/file.tape" && cmp -s "$tmp/big.tape" "$tmp/pipe.tape" && cmp -s "$tmp/big.tape" "$tmp/quiet.tape"; then
  ok "from-har: silent to a file, a pipe and with -q on a terminal; the same tape every time"
else bad "from-har silent (rc=$rc)"; cat -v "$tmp/file.err" "$tmp/pipe.err" "$tmp/quiet.tty" | head -5; fi

# 3. to-har, to-scenario and stats on a terminal: lines of the tape, 100% of its bytes
TAPEMB=$("$PY" -c "import sys; s = int(sys.argv[1]) / 1e6; print(f'{s:.1f}/{s:.1f} MB')" "$(stat -c %s "$tmp/big.tape")")
for sub in to-har to-scenario stats; do
  tty "$tmp/$sub.tty" "'$POLYWS' tape $sub '$tmp/big.tape' -o '$tmp/out.$sub'"
  meter "$tmp/$sub.tty" "$sub reading" >"$tmp/m.$sub"
  if [ -s "$tmp/out.$sub" ] && [ "$(field draws <"$tmp/m.$sub")" -ge 2 ] && [ "$(field ended <"$tmp/m.$sub")" = yes ] &&
     field last <"$tmp/m.$sub" | grep -q "^$sub reading: 100% $TAPEMB, $TAPELINES lines, "; then
    ok "$sub: line redrawn, final: 100% of the tape ($TAPEMB), $TAPELINES lines"
  else bad "$sub progress line"; cat "$tmp/m.$sub"; fi
  "$POLYWS" tape $sub "$tmp/big.tape" -o "$tmp/np.$sub" 2>"$tmp/np.$sub.err"
  tty "$tmp/q.$sub.tty" "'$POLYWS' tape $sub --quiet '$tmp/big.tape' -o '$tmp/q.$sub'"
  if [ ! -s "$tmp/np.$sub.err" ] && [ ! -s "$tmp/q.$sub.tty" ] && cmp -s "$tmp/out.$sub" "$tmp/np.$sub" &&
     cmp -s "$tmp/out.$sub" "$tmp/q.$sub"; then ok "$sub: silent without a terminal and with --quiet; same output"
  else bad "$sub silent"; cat -v "$tmp/np.$sub.err" "$tmp/q.$sub.tty" | head -5; fi
done
# the text of `tape stats` agrees with the line's count
if grep -q "^lines  *$TAPELINES " "$tmp/out.stats"; then ok "stats counts the same $TAPELINES lines"; else bad "stats lines"; head -8 "$tmp/out.stats"; fi

# 4. to-har writing to the terminal itself: no line (it would cut the HAR); to a pipe: a line
"$PY" "$GEN" "$tmp/small.har" --messages 200 --conns 2 --key "$KEY"
"$POLYWS" tape from-har "$tmp/small.har" -o "$tmp/small.tape"
tty "$tmp/self.tty" "'$POLYWS' tape to-har '$tmp/small.tape'"
tty "$tmp/topipe.tty" "'$POLYWS' tape to-har '$tmp/small.tape' | wc -c"
if grep -q '"_webSocketMessages"' "$tmp/self.tty" && [ "$(meter "$tmp/self.tty" "to-har reading" | field draws)" -eq 0 ] &&
   [ "$(meter "$tmp/topipe.tty" "to-har reading" | field ended)" = yes ]; then
  ok "to-har: no line when the HAR goes to the same terminal, a line when it goes to a pipe"
else bad "to-har on its own terminal"; cat -v "$tmp/topipe.tty" | head -3; fi

# 5. record (direct mode, --count: the final line comes after the last frame is recorded)
start mock "$POLYWS" mock --accept-key-env SECRET_KEY --rate 2000
tty "$tmp/rec.tty" "'$POLYWS' record --url '$URL/stocks' -s A.AAPL,T.MSFT --count 2000 -o '$tmp/rec.tape'"
FRAMES=$("$POLYWS" tape stats --json "$tmp/rec.tape" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['frames'])")
meter "$tmp/rec.tty" recording >"$tmp/m.rec"
if [ "$(field draws <"$tmp/m.rec")" -ge 2 ] && [ "$(field ended <"$tmp/m.rec")" = yes ] &&
   field last <"$tmp/m.rec" | grep -q "^recording: $FRAMES frames, .*, [0-9.]*s, 0 clients\$"; then
  ok "record: line redrawn, final: $FRAMES frames (as tape stats counts)"
else bad "record progress line ($FRAMES frames on the tape)"; cat "$tmp/m.rec"; fi
"$POLYWS" record --url "$URL/stocks" -s A.AAPL --count 300 -o "$tmp/rec2.tape" 2>"$tmp/rec2.err" | cat >/dev/null
tty "$tmp/recq.tty" "'$POLYWS' record -q --url '$URL/stocks' -s A.AAPL --count 300 -o '$tmp/rec3.tape'"
if [ ! -s "$tmp/rec2.err" ] && [ ! -s "$tmp/recq.tty" ] && [ -s "$tmp/rec2.tape" ] && [ -s "$tmp/rec3.tape" ]; then
  ok "record: silent without a terminal and with -q"; else bad "record silent"; cat -v "$tmp/rec2.err" "$tmp/recq.tty" | head; fi
tty "$tmp/recj.tty" "'$POLYWS' record --url '$URL/stocks' -s A.AAPL --count 300 --jsonl - -o '$tmp/rec4.tape'"
if [ "$(grep -c '"ev":"A"' "$tmp/recj.tty")" -eq 300 ] && [ "$(meter "$tmp/recj.tty" recording | field draws)" -eq 0 ]; then
  ok "record --jsonl - on the terminal: the events, no progress line"; else bad "record --jsonl -"; head -c 300 "$tmp/recj.tty"; fi

# 6. replay: a client plays the recorded tape; the line counts the frames sent (data, pings and
# pongs: the close goes out through the close handshake and is not counted, as in the summary)
SFRAMES=$("$POLYWS" tape stats --json "$tmp/rec.tape" | "$PY" -c "import json,sys; s=json.load(sys.stdin)['server']; print(s['text']+s['binary']+s['ping']+s['pong'])")
script -qfec "'$POLYWS' replay '$tmp/rec.tape' --speed max --duration 60 --port-file '$tmp/rp.port'" /dev/null >"$tmp/rp.tty" 2>&1 </dev/null &
pids+=($!)
RPPID=$!
RURL=$(wait_url "$tmp/rp.port") || { bad "replay did not start"; cat "$tmp/rp.tty"; }
"$POLYWS" watch "$RURL/stocks" -s A.AAPL,T.MSFT --format jsonl --count 2000 --duration 20 -q --max-attempts 1 >"$tmp/rp.jsonl" 2>"$tmp/rp.werr"
wait $RPPID
meter "$tmp/rp.tty" replaying >"$tmp/m.rp"
SENT=$(grep -o "[0-9]* frames sent" "$tmp/rp.tty" | awk '{print $1}')
if [ "$(field draws <"$tmp/m.rp")" -ge 2 ] && [ "$(field ended <"$tmp/m.rp")" = yes ] && [ "${SENT:-x}" = "$SFRAMES" ] &&
   field last <"$tmp/m.rp" | grep -q "^replaying: $SFRAMES frames, .*, 1/1 connection played\$"; then
  ok "replay: line redrawn, final: $SFRAMES frames (the tape's server frames, as the summary says), 1/1 played"
else bad "replay progress line (tape: $SFRAMES server frames, summary: ${SENT:-none})"; cat "$tmp/m.rp"; cat -v "$tmp/rp.tty" | tail -3; fi
start rpq "$POLYWS" replay "$tmp/rec.tape" --speed max --duration 60
RPPID=$LASTPID
"$POLYWS" watch "$URL/stocks" -s A.AAPL,T.MSFT --format jsonl --count 2000 --duration 20 -q --max-attempts 1 >/dev/null 2>&1
wait $RPPID; rc=$?
if [ $rc -eq 0 ] && ! grep -q "replaying" "$tmp/rpq.err" && ! grep -q $'\r' "$tmp/rpq.err" && grep -q "frames sent" "$tmp/rpq.err"; then
  ok "replay: no progress line without a terminal (the summary stays)"; else bad "replay without a terminal (rc=$rc)"; cat -v "$tmp/rpq.err"; fi
script -qfec "'$POLYWS' replay -q '$tmp/rec.tape' --speed max --duration 60 --port-file '$tmp/rp2.port'" /dev/null >"$tmp/rp2.tty" 2>&1 </dev/null &
pids+=($!)
RPPID=$!
RURL=$(wait_url "$tmp/rp2.port") || { bad "replay -q did not start"; cat "$tmp/rp2.tty"; }
"$POLYWS" watch "$RURL/stocks" -s A.AAPL,T.MSFT --format jsonl --count 2000 --duration 20 -q --max-attempts 1 >/dev/null 2>&1
wait $RPPID
if [ "$(meter "$tmp/rp2.tty" replaying | field draws)" -eq 0 ] && grep -q "^listening " "$tmp/rp2.tty"; then
  ok "replay -q on a terminal: no progress line"; else bad "replay -q"; cat -v "$tmp/rp2.tty"; fi

# 7. the key is in none of it
if ! grep -rqF "$KEY" "$tmp"/*.tty "$tmp"/*.err "$tmp"/*.tape; then ok "the key appears in no output and no tape"
else bad "the key leaked"; grep -rlF "$KEY" "$tmp"/*.tty "$tmp"/*.err "$tmp"/*.tape; fi

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
