#!/usr/bin/env bash
# har_stream.sh POLYWS GEN_HAR - `polyws tape from-har` streams: its peak memory does not grow
# with the HAR file.  tests/support/gen_har.py writes two Chrome-style HAR files, 100 000 and
# 400 000 messages on 4 connections whose frames interleave in time (about 26 and 105 MB);
# both are converted and their peak RSS (getrusage of the child) compared: the bigger may use
# at most 8 MiB more, and less than half its file (the cJSON version used 3.8 times its file;
# the streaming one uses 13 MB, 38 MB in the sanitizer build).  The tapes are checked too: every message is there, in time order overall and in
# generation order per connection, and the key from the auth messages, the query string and
# the cookie is nowhere.  A HAR read from a pipe gives the same tape as from the file.
# No time is measured (bench/har_bench.sh does that).
set -u
POLYWS=$1
GEN=$2
PY=/usr/bin/python3
. "$(dirname "$0")/lib.sh"
KEY=HARSTREAM-KEY-7f3a9c

# The sanitizer build's allocator keeps freed memory in quarantine (256 MB by default): keep it
# small so that the RSS measured is the program's, not the quarantine's.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4:thread_local_quarantine_size_kb=256"

# peak KIB FILE.har OUT.tape: the child's peak RSS in KiB, or "fail"
peak() {
  "$PY" - "$POLYWS" "$1" "$2" <<'EOF'
import resource, subprocess, sys
r = subprocess.run([sys.argv[1], "tape", "from-har", sys.argv[2], "-o", sys.argv[3]])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if r.returncode == 0 else "fail")
EOF
}

# check_tape TAPE MESSAGES CONNS: the frames are all there, in order, without the key
check_tape() {
  "$PY" - "$1" "$2" "$3" "$KEY" <<'EOF'
import json, sys
path, want, conns, key = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
lines = last_t = 0
per_conn = {}
with open(path) as f:
    header = f.readline()
    if key in header:
        sys.exit("the key is in the header")
    for line in f:
        if key in line:
            sys.exit("the key is on a frame line: " + line[:120])
        x = json.loads(line)
        lines += 1
        if x["t_us"] < last_t:
            sys.exit("line %d goes back in time" % (lines + 1))
        last_t = x["t_us"]
        if x["dir"] != "-":
            prev = per_conn.get(x["conn"], -1)
            if x["t_us"] <= prev:
                sys.exit("conn %d out of order at line %d" % (x["conn"], lines + 1))
            per_conn[x["conn"]] = x["t_us"]
if lines != want + conns or len(per_conn) != conns:
    sys.exit("%d lines on %d connections, want %d on %d" % (lines, len(per_conn), want + conns, conns))
print("%d lines" % lines)
EOF
}

for n in 100000 400000; do
  if ! "$PY" "$GEN" "$tmp/h$n.har" --messages $n --conns 4 --key "$KEY"; then
    bad "gen_har.py $n"; echo "$passes passed, $fails failed"; exit 1
  fi
  rss[$n]=$(peak "$tmp/h$n.har" "$tmp/h$n.tape")
  size[$n]=$(($(stat -c %s "$tmp/h$n.har") / 1024))
  if msg=$(check_tape "$tmp/h$n.tape" $n 4 2>&1); then
    ok "from-har $n messages (${size[$n]} KiB): $msg, in order, no key; peak RSS ${rss[$n]} KiB"
  else
    bad "from-har $n messages (rss ${rss[$n]}): $msg"
  fi
done
small=${rss[100000]}; big=${rss[400000]}
if [ "$small" != fail ] && [ "$big" != fail ] && [ "$big" -le $((small + 8192)) ] &&
   [ "$big" -lt $((size[400000] / 2)) ]; then
  ok "peak RSS bounded: $big KiB for ${size[400000]} KiB of HAR, $small KiB for ${size[100000]} KiB"
else
  bad "peak RSS grows with the file: $big KiB for ${size[400000]} KiB of HAR, $small KiB for ${size[100000]} KiB"
fi

# a pipe is read the same way (no seek, no size known in advance)
if cat "$tmp/h100000.har" | "$POLYWS" tape from-har /dev/stdin -o "$tmp/pipe.tape" &&
   cmp -s "$tmp/pipe.tape" "$tmp/h100000.tape"; then
  ok "from a pipe: the same tape"
else
  bad "from a pipe: a different tape or a failure"
fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
