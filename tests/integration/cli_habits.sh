#!/usr/bin/env bash
# cli_habits.sh POLYWS SRCDIR - the command-line habits every command shares, through the real
# binary: --version everywhere, `polyws help CMD` = `polyws CMD --help`, one "Exit status:"
# block per --help (and bad usage really exiting 2), and every scenario key a --help names
# existing in the scenario loader and in docs/scenarios.md.
set -u
POLYWS=$1
SRC=$2
. "$(dirname "$0")/lib.sh" # tmp, ok/bad

version=$(awk -F'"' '/#define PWS_VERSION_STRING/ {print $2}' "$SRC/connector/include/polyws/polyws.h")
[ -n "$version" ] || { echo "no PWS_VERSION_STRING in polyws.h"; exit 1; }

# 1. --version: "polyws X.Y.Z" on stdout, nothing on stderr, exit 0, from every command
while IFS= read -r args; do
  # shellcheck disable=SC2086
  out=$("$POLYWS" $args 2>"$tmp/v.err"); rc=$?
  if [ $rc -eq 0 ] && [ "$out" = "polyws $version" ] && [ ! -s "$tmp/v.err" ]; then ok "polyws $args"
  else bad "polyws $args (rc=$rc, out='$out')"; cat "$tmp/v.err"; fi
done <<'EOF'
--version
version
watch --version
mock --version
check --version
check --tape x.tape --version
record --version
replay --version
tape --version
tape stats --version
tape to-scenario --version
tape to-har --version
tape from-har --version
explore --version
EOF

# 2. `polyws help CMD [SUB]` prints exactly `polyws CMD [SUB] --help`; `polyws help` = --help
help_same() { # help_same WORDS...: compares both ways of asking
  "$POLYWS" help "$@" >"$tmp/h1" 2>"$tmp/h1.err"; local rc1=$?
  "$POLYWS" "$@" --help >"$tmp/h2" 2>"$tmp/h2.err"; local rc2=$?
  if [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ -s "$tmp/h1" ] && cmp -s "$tmp/h1" "$tmp/h2" && [ ! -s "$tmp/h1.err" ]; then
    ok "polyws help $* = polyws $* --help"
  else bad "polyws help $* (rc=$rc1/$rc2)"; diff "$tmp/h1" "$tmp/h2" | head -5; cat "$tmp/h1.err"; fi
}
for c in watch mock check record replay tape explore; do help_same "$c"; done
help_same tape stats
"$POLYWS" help >"$tmp/h1"; rc1=$?
"$POLYWS" --help >"$tmp/h2"; rc2=$?
if [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && cmp -s "$tmp/h1" "$tmp/h2"; then ok "polyws help = polyws --help"; else bad "polyws help (rc=$rc1/$rc2)"; fi
"$POLYWS" help nosuch >"$tmp/n.out" 2>"$tmp/n.err"; rc=$?
if [ $rc -eq 2 ] && [ ! -s "$tmp/n.out" ] && grep -q "polyws help: no such command 'nosuch'" "$tmp/n.err"; then
  ok "polyws help nosuch: exit 2, a clear line"; else bad "polyws help nosuch (rc=$rc)"; cat "$tmp/n.err"; fi

# 3. Every --help: lists --version, has one "Exit status:" block whose entries are "  N  text"
#    with 0 and 2 among them; and bad usage does exit 2 (what the block says)
exit_block() { # exit_block FILE: the codes of its block, space-separated; empty if malformed
  awk '/^Exit status:/ { n++; inb = 1; next }
       inb && /^  [0-9]  [^ ]/ { codes = codes " " substr($0, 3, 1); next }
       inb && /^     [^ ]/ { next }
       inb { inb = 0 }
       END { if (n == 1) print codes }' "$1"
}
while IFS='|' read -r name help_args bad_args; do
  # shellcheck disable=SC2086
  "$POLYWS" $help_args >"$tmp/help.txt" 2>/dev/null; rc=$?
  codes=$(exit_block "$tmp/help.txt")
  if [ $rc -eq 0 ] && grep -q -- "--version" "$tmp/help.txt" && [[ " $codes " == *" 0 "* ]] && [[ " $codes " == *" 2 "* ]]; then
    ok "$name --help: --version and one Exit status block (codes:$codes)"
  else bad "$name --help (rc=$rc, codes='$codes')"; grep -A4 "Exit status" "$tmp/help.txt"; fi
  # shellcheck disable=SC2086
  "$POLYWS" $bad_args >/dev/null 2>&1; rc=$?
  if [ $rc -eq 2 ]; then ok "$name: bad usage exits 2"; else bad "$name: '$bad_args' exited $rc, not 2"; fi
done <<'EOF'
polyws|--help|nosuchcommand
watch|watch --help|watch --nosuch
mock|mock --help|mock --nosuch
check|check --help|check --nosuch
check --tape|check --tape x.tape --help|check --tape x.tape --nosuch
record|record --help|record --nosuch
replay|replay --help|replay --nosuch
tape|tape --help|tape stats --nosuch
explore|explore --help|explore --nosuch
EOF
# and every command's block has a 1 (the commands fail in their own ways; polyws itself does not)
for c in watch mock check record replay tape explore; do
  "$POLYWS" "$c" --help >"$tmp/help.txt"
  if [[ " $(exit_block "$tmp/help.txt") " == *" 1 "* ]]; then ok "$c: exit status 1 documented"; else bad "$c: no 1 in its Exit status block"; fi
done

# 4. Scenario keys named in --help texts exist in the loader (mockserver/src/scenario.c: the
#    keys[] of compile_server / compile_client) and in docs/scenarios.md's tables.
section_keys() { # section_keys server|client: the keys the loader accepts there
  awk -v fn="compile_$1(" 'index($0, "static bool " fn) { inf = 1 }
       inf && /keys\[\] = \{/ { grab = 1 }
       grab { line = line $0 }
       grab && /\};/ { print line; exit }' "$SRC/mockserver/src/scenario.c" | grep -o '"[a-z_]*"' | tr -d '"'
}
doc_keys() { # doc_keys server|client: the keys docs/scenarios.md's "## SECTION:" table lists
  awk -v h="## $1:" '$0 == h { in_s = 1; next } in_s && /^## / { exit } in_s && /^\| `[a-z_]+` \|/ { print }' \
    "$SRC/docs/scenarios.md" | sed -E 's/^\| `([a-z_]+)`.*/\1/'
}
check_help_keys() { # check_help_keys FILE: 0 if every server.X / client.X in FILE exists; prints the others
  local missing=0 key sec name
  for key in $(grep -oE '\b(server|client)\.[a-z_]+' "$1" | sort -u); do
    sec=${key%%.*}; name=${key#*.}
    if ! section_keys "$sec" | grep -qx "$name"; then echo "  $key: not a key the loader accepts"; missing=1; fi
    if ! doc_keys "$sec" | grep -qx "$name"; then echo "  $key: not in docs/scenarios.md's $sec table"; missing=1; fi
  done
  return $missing
}
if [ "$(section_keys client | wc -l)" -ge 5 ] && [ "$(section_keys server | wc -l)" -ge 10 ] &&
   [ "$(doc_keys client | wc -l)" -ge 5 ]; then ok "the loader's and the docs' key lists were found"
else bad "key lists not found (client: $(section_keys client | wc -l), server: $(section_keys server | wc -l))"; fi
named=0
for c in check mock; do
  "$POLYWS" "$c" --help >"$tmp/$c.help"
  named=$((named + $(grep -coE '\b(server|client)\.[a-z_]+' "$tmp/$c.help")))
  if check_help_keys "$tmp/$c.help" >"$tmp/keys.out"; then ok "$c --help: every scenario key it names exists"
  else bad "$c --help names keys the scenarios do not have"; cat "$tmp/keys.out"; fi
done
if [ $named -ge 1 ]; then ok "the help texts name $named scenario key(s)"; else bad "no scenario key found in the help texts (the check checked nothing)"; fi
# the check itself can fail: a help text naming the old client.timeout_ms is caught
printf 'default: the scenario'"'"'s client.timeout_ms, else 30\n' >"$tmp/planted.help"
if check_help_keys "$tmp/planted.help" >"$tmp/keys.out"; then bad "a planted wrong key (client.timeout_ms) was not caught"
else ok "a planted wrong key is caught: $(head -1 "$tmp/keys.out" | sed 's/^ *//')"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
