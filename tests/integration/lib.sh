# lib.sh - what the shell integration tests share: a temporary directory removed at exit, the
# background servers they started (killed and reaped at exit), ok/bad counters, and starting a
# server that writes "listening URL" to a --port-file.  Source it after setting POLYWS:
#   . "$(dirname "$0")/lib.sh"
# Every server binds 127.0.0.1 port 0 (the commands' default).
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
fails=0
passes=0
ok() { passes=$((passes + 1)); echo "ok   - $1"; }
bad() { fails=$((fails + 1)); echo "FAIL - $1"; }

# wait_url PORTFILE: prints the URL once the file holds a "listening URL" line (5 s at most).
wait_url() {
  for _ in $(seq 250); do
    if [ -s "$1" ] && grep -q '^listening ' "$1"; then awk '/^listening /{print $2; exit}' "$1"; return 0; fi
    sleep 0.02
  done
  return 1
}

# start NAME CMD...: runs CMD --port-file in the background (stdout and stderr in $tmp/NAME.out
# and .err), sets LASTPID and URL; exits the test if it does not listen.
start() {
  local name=$1; shift
  "$@" --port-file "$tmp/$name.port" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids+=($!)
  LASTPID=$!
  URL=$(wait_url "$tmp/$name.port") || { echo "$name did not start"; cat "$tmp/$name.err"; exit 1; }
}
