#!/usr/bin/env bash
# slowloris_bench.sh POLYWS SLOWLORIS [options] - how much clients that never finish their
# WebSocket upgrade slow a normal client down.
#
# Starts `polyws mock` (and, with --target record, `polyws record` in front of it), times a
# normal session (`polyws watch URL/stocks -s A.* --count 5`) --reps times, then opens
# --stallers connections with SLOWLORIS (tests/clients/slowloris.c: half an upgrade request
# each, then silence) and, as soon as all of them have connected, times the same session
# --reps times again.  Prints each time, then
#   RESULT target=T stallers=N base_median_s=B first_s=F median_s=M ratio=R
# where ratio = max(first, median with stallers) / median without.  The first session after
# the flood is the one that waits longest when the server lets stalled connections hold it.
# Then it waits for the server's handshake timeout so that every staller is closed, stops the
# servers and checks their "handshakes:" line: every staller must have been timed out,
# evicted or refused by the server.
#
#   --target mock|record  which server the stallers and the client use (default mock)
#   --stallers N          default 5000 (lowered to fit the descriptor limit, with a note)
#   --reps N              sessions timed with and without stallers (default 5)
#   --reconnect           the stallers reconnect at once when the server closes them
#   --max-ratio X         exit 1 if the first or the median session with stallers took more than
#                         X times the median without, and more than --slack-s above it (a
#                         0.15 s session on a loaded 2-core machine varies by more than 2x)
#                         (default: no bound, measure only)
#   --slack-s S           see --max-ratio (default 0.5)
#   --rate N              the mock's --rate, events per second (default 100: the session takes
#                         about 0.15 s; a slower stream makes it longer)
#   --server-nofile N     start the servers with this soft descriptor limit (ulimit -Sn), as
#                         a shell with the usual default of 1024 would (default: inherited)
#   --no-counters         do not check the servers' handshake counters (for a build without them)
#   --timeout-s S         the server's handshake timeout the wait assumes (default 5)
#
# Exit status: 0 if every session completed (and the bounds held), 1 otherwise.
set -u
POLYWS=$1
SLOWLORIS=$2
shift 2
target=mock stallers=5000 reps=5 reconnect="" max_ratio="" counters=1 hs_timeout=5 slack=0.5 rate="" nofile=
while [ $# -gt 0 ]; do
  case $1 in
    --target) target=$2; shift ;;
    --stallers) stallers=$2; shift ;;
    --reps) reps=$2; shift ;;
    --reconnect) reconnect=--reconnect ;;
    --max-ratio) max_ratio=$2; shift ;;
    --no-counters) counters=0 ;;
    --timeout-s) hs_timeout=$2; shift ;;
    --slack-s) slack=$2; shift ;;
    --server-nofile) nofile=$2; shift ;;
    --rate) rate=$2; shift ;;
    *) echo "slowloris_bench: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
case $target in mock|record) ;; *) echo "slowloris_bench: --target mock or record" >&2; exit 2 ;; esac

tmp=$(mktemp -d)
pids=()
cleanup() {
  exec 3>&- 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail=0

# The stallers need a descriptor each; the servers raise their own limit.
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$stallers" -gt $((hard - 100)) ]; then
  echo "note: descriptor limit $hard: $stallers stallers lowered to $((hard - 100))"
  stallers=$((hard - 100))
fi

# wait_url PORTFILE: the URL of a "listening URL" line (10 s at most).
wait_url() {
  for _ in $(seq 500); do
    if [ -s "$1" ] && grep -q '^listening ' "$1"; then awk '/^listening /{print $2; exit}' "$1"; return 0; fi
    sleep 0.02
  done
  return 1
}

# server CMD...: runs a server in the background, with --server-nofile's limit if given.
server() {
  if [ -n "$nofile" ]; then (ulimit -Sn "$nofile" && exec "$@") & else "$@" & fi
}
server "$POLYWS" mock ${rate:+--rate "$rate"} --port-file "$tmp/mock.port" >"$tmp/mock.out" 2>"$tmp/mock.err"
mock_pid=$!
pids+=($mock_pid)
MOCK_URL=$(wait_url "$tmp/mock.port") || { echo "mock did not start"; cat "$tmp/mock.err"; exit 1; }
server_pid=$mock_pid
server_err=$tmp/mock.err
URL=$MOCK_URL
if [ "$target" = record ]; then
  server "$POLYWS" record --upstream "$MOCK_URL" -o "$tmp/tape.jsonl" --port-file "$tmp/rec.port" -q \
    >"$tmp/rec.out" 2>"$tmp/rec.err"
  server_pid=$!
  pids+=($server_pid)
  server_err=$tmp/rec.err
  URL=$(wait_url "$tmp/rec.port") || { echo "record did not start"; cat "$tmp/rec.err"; exit 1; }
fi

# session: one normal client session; prints its seconds, returns its status.
session() {
  local t0 t1 rc
  t0=$(date +%s%N)
  POLYWS_API_KEY=slowloris-bench-key timeout 120 "$POLYWS" watch "$URL/stocks" -s 'A.*' --count 5 -q \
    >"$tmp/w.out" 2>"$tmp/w.err"
  rc=$?
  t1=$(date +%s%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'
  return $rc
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# timed SERIES REPS: REPS sessions, their times one per line in $tmp/SERIES.
timed() {
  local name=$1 n=$2 t
  : >"$tmp/$name"
  for i in $(seq "$n"); do
    if t=$(session); then
      echo "$t" >>"$tmp/$name"
      echo "  $name session $i: $t s"
    else
      echo "  $name session $i: FAILED after $t s (watch exit $?)"; sed 's/^/    | /' "$tmp/w.err" | head -5
      fail=1
    fi
  done
}

echo "target $target ($URL), $stallers stallers${reconnect:+ (reconnecting)}, $reps sessions each${nofile:+, servers started with ulimit -Sn $nofile}${rate:+, mock --rate $rate}"
session >/dev/null # warm-up
timed base "$reps"

mkfifo "$tmp/hold"
hostport=${URL#ws://}
"$SLOWLORIS" "$hostport" "$stallers" $reconnect <"$tmp/hold" >"$tmp/sl.out" 2>"$tmp/sl.err" &
sl_pid=$!
pids+=($sl_pid)
exec 3>"$tmp/hold" # the stallers hold on until this closes
t0=$(date +%s%N)
for _ in $(seq 1200); do grep -q '^open' "$tmp/sl.out" && break; sleep 0.1; done
if ! grep -q '^open' "$tmp/sl.out"; then echo "the stallers did not connect"; cat "$tmp/sl.err"; exit 1; fi
echo "  stallers connected in $(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }') s ($(head -1 "$tmp/sl.out") still open)"
timed with "$reps"

base=$(median <"$tmp/base")
first=$(head -1 "$tmp/with")
with=$(median <"$tmp/with")
ratio=$(awk -v b="${base:-0}" -v f="${first:-0}" -v m="${with:-0}" 'BEGIN { x = f > m ? f : m; if (b > 0) printf "%.2f", x / b; else print "inf" }')
echo "RESULT target=$target stallers=$stallers${reconnect:+ reconnect=1} base_median_s=$base first_s=$first median_s=$with ratio=$ratio"
if [ -n "$max_ratio" ] && ! awk -v b="${base:-0}" -v f="${first:-inf}" -v m="${with:-inf}" -v x="$max_ratio" \
    -v s="$slack" 'BEGIN { bound = x * b; if (b + s > bound) bound = b + s; exit !(b > 0 && f <= bound && m <= bound) }'; then
  echo "FAIL - ratio $ratio: the first ($first s) or the median ($with s) session with stallers took more than" \
       "$max_ratio x and $slack s more than the median without ($base s)"
  fail=1
fi

# Every staller must be closed by the server: wait out its handshake timeout (hold mode).
if [ -z "$reconnect" ]; then sleep $((hs_timeout + 2)); fi
exec 3>&-
wait "$sl_pid"
closed=$(awk '/^closed_by_server/ { print $2 }' "$tmp/sl.out")
echo "  stallers: $(tail -1 "$tmp/sl.out")"
kill -TERM "$server_pid"
wait "$server_pid"
line=$(grep 'handshakes:' "$server_err" | tail -1)
echo "  server: ${line:-no handshakes line}"
if [ "$counters" = 1 ]; then
  turned=$(echo "$line" | awk '{ n = 0; for (i = 1; i <= NF; i++) if ($(i+1) == "timed" || $(i+1) == "evicted" || $(i+1) == "refused") n += $i; print n }')
  if [ -z "$reconnect" ] && [ "${closed:-0}" -ne "$stallers" ]; then
    echo "FAIL - the server closed $closed of $stallers stallers"; fail=1
  fi
  if [ -z "$line" ] || [ "${turned:-0}" -lt "${closed:-1}" ]; then
    echo "FAIL - the server's counters ($turned timed out, evicted or refused) miss stallers it closed ($closed)"; fail=1
  fi
fi
exit $fail
