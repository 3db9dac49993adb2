#!/usr/bin/env bash
# har_bench.sh POLYWS [MESSAGES] [CONNS] - `polyws tape from-har` on a generated HAR file:
# peak RSS and time.  tests/support/gen_har.py writes a Chrome-style HAR of MESSAGES (default
# 1 000 000) WebSocket messages on CONNS (default 4) interleaved connections, about 265 bytes of
# HAR each; the HAR and the tape go to a temporary directory ($TMPDIR or /tmp: about twice the
# HAR's size, plus as much again for the sort's temporary file), removed at the end.  The
# numbers are the child's getrusage (what /usr/bin/time -v prints) and the wall clock.  Prints:
#   har: N messages, HAR M MB, peak RSS R MB (R/M of the file), E s elapsed, U s user, S s system
# POLYWS_OLD=path/to/another/polyws converts with it too and compares the two tapes.
set -euo pipefail
POLYWS=$1
N=${2:-1000000}
CONNS=${3:-4}
PY=/usr/bin/python3
GEN="$(dirname "$0")/../tests/support/gen_har.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" "$GEN" "$tmp/bench.har" --messages "$N" --conns "$CONNS"

# run LABEL BIN: converts, prints the line
run() {
  "$PY" - "$1" "$2" "$tmp/bench.har" "$tmp/$1.tape" "$N" <<'EOF'
import os, resource, subprocess, sys, time
label, binary, har, tape, n = sys.argv[1:6]
t0 = time.monotonic()
rc = subprocess.run([binary, "tape", "from-har", har, "-o", tape]).returncode
wall = time.monotonic() - t0
if rc:
    sys.exit("har_bench: %s tape from-har failed (%d)" % (binary, rc))
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
mb = os.path.getsize(har) / 1048576
print("har%s: %s messages, HAR %.1f MB, peak RSS %.1f MB (%.3f of the file), %.2f s elapsed, %.2f s user, "
      "%.2f s system" % ("" if label == "new" else " (%s)" % label, n, mb, ru.ru_maxrss / 1024,
                         ru.ru_maxrss / 1024 / mb, wall, ru.ru_utime, ru.ru_stime))
EOF
}
run new "$POLYWS"
if [ -n "${POLYWS_OLD:-}" ]; then
  run old "$POLYWS_OLD"
  if cmp -s "$tmp/new.tape" "$tmp/old.tape"; then echo "tapes: identical"; else echo "tapes: DIFFERENT"; exit 1; fi
fi
