#!/usr/bin/env bash
# tape_bad_input.sh POLYWS DATA_DIR - files that are not tapes, or tapes with absurd values, get
# a clear error naming the file and what is wrong, and exit 1, from every command that reads
# them; never a crash, a sanitizer report or "0 frames" with exit 0.  DATA_DIR holds the inputs
# (tests/data/bad_input: regressions from fuzzing and from bug reports).
set -u
POLYWS=$1
DATA=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
passes=0
ok() { passes=$((passes + 1)); echo "ok   - $1"; }
bad() { fails=$((fails + 1)); echo "FAIL - $1"; }

# file | what the error must say (after "FILE: ")
TAPES=(
  "empty.tape|empty file, not a tape (no header line and no frame lines)"
  "not_a_tape.txt|line 1: not a tape (no header line, and not a frame line: expected '{' at byte 1)"
  "binary_no_newline.bin|line 1: not a tape (no header line, and not a frame line: expected '{' at byte 1)"
  "header_start_us_1e999.tape|line 1: header start_us inf is out of range (beyond +-253402300800000000, the year 10000)"
  "header_secrets_1e10.tape|line 1: header redacted.secrets 1e+10 is not a count (0..4294967295)"
  "t_us_extremes.tape|line 1: t_us -9223372036854775807 is out of range (beyond +-253402300800000000, the year 10000) at byte 2"
)
HARS=(
  "empty.har|empty file, not a HAR"
  "truncated.har|truncated: the JSON ends inside a value at byte 150 (line 2, column 74), not a complete HAR"
  "truncated_in_string.har|truncated: the JSON ends inside a value at byte 700 (line 9, column 131), not a complete HAR"
  "har_nested_1001.har|invalid JSON at byte 1001 (line 1, column 1001): arrays and objects nested deeper than 1000, not a HAR"
  "invalid_json.har|invalid JSON at byte 36 (line 1, column 36), not a HAR"
  "har_time_1e300.har|log.entries[0]._webSocketMessages[1].time 1e+300 is not a time (Unix seconds within +-253402300800, the year 10000)"
  "har_started_year_intmin.har|log.entries[0].startedDateTime \"-2147483648-01-01T00:00:00Z\" is not a date and time"
)

# expect NAME WANT CMD...: CMD exits 1 and its stderr has WANT, and no sanitizer report
expect() {
  local name=$1 want=$2; shift 2
  timeout 20 "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ $rc -eq 1 ] && grep -qF -- "$want" "$tmp/err" && ! grep -q "runtime error\|Sanitizer" "$tmp/err"; then
    ok "$name"
  else
    bad "$name (rc=$rc)"; head -5 "$tmp/err"
  fi
}

for row in "${TAPES[@]}"; do
  f=${row%%|*}; msg="$f: ${row#*|}"
  expect "tape stats $f" "$msg" "$POLYWS" tape stats "$DATA/$f"
  expect "tape stats --json $f" "$msg" "$POLYWS" tape stats --json "$DATA/$f"
  expect "tape to-har $f" "$msg" "$POLYWS" tape to-har "$DATA/$f" -o "$tmp/x.har"
  expect "tape to-scenario $f" "$msg" "$POLYWS" tape to-scenario "$DATA/$f" -o "$tmp/x.yaml"
  expect "replay $f" "$msg" "$POLYWS" replay "$DATA/$f" --duration 5
  if [ -e "$tmp/x.har" ] || [ -e "$tmp/x.yaml" ]; then bad "$f: an output file was left behind"; rm -f "$tmp/x.har" "$tmp/x.yaml"; fi
done
for row in "${HARS[@]}"; do
  f=${row%%|*}; msg="$f: ${row#*|}"
  expect "tape from-har $f" "$msg" "$POLYWS" tape from-har "$DATA/$f" -o "$tmp/x.tape"
  if [ -e "$tmp/x.tape" ]; then bad "$f: a tape was written"; rm -f "$tmp/x.tape"; fi
done

# the controls: a header-only tape is a valid empty tape, a cut first frame line after a header
# is a cut tape, and a journal (no header) whose only line is cut is a cut journal
printf '{"polyws_tape":1,"url":"","start_us":0,"tool":"t","mode":"proxy","redacted":{}}\n' >"$tmp/hdr.tape"
printf '{"t_us":1,"conn":1,"dir":"s","ki' >"$tmp/cutjournal.tape"
cp "$tmp/hdr.tape" "$tmp/cut.tape"; printf '{"t_us":1,"conn":1,"dir":"s","ki' >>"$tmp/cut.tape"
for f in hdr cut cutjournal; do
  "$POLYWS" tape stats "$tmp/$f.tape" >"$tmp/out" 2>"$tmp/err"; rc=$?
  if [ $rc -eq 0 ] && grep -q "^lines        0 " "$tmp/out"; then ok "$f.tape: a valid empty tape, exit 0"; else bad "$f.tape (rc=$rc)"; cat "$tmp/err"; fi
done
if grep -q "truncated:   last line cut (32 bytes)" <("$POLYWS" tape stats "$tmp/cut.tape"); then ok "cut.tape says it is cut"; else bad "cut.tape"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
