#!/usr/bin/env bash
# header_example.sh CC INCLUDE_DIR... - the example at the top of polyws/polyws.h compiles.
#
# The header shows "the shape of a program" as the indented lines after "The shape of a
# program"; this takes exactly those lines, puts them in a main() with the handler the header
# names, and compiles the file with -Wall -Wextra -Werror against the public headers, so the
# example cannot drift from the API again (it once called pws_create with two arguments).
set -euo pipefail
CC=$1; shift
inc=(); for d in "$@"; do inc+=(-I "$d"); done
hdr=""
for d in "$@"; do [ -f "$d/polyws/polyws.h" ] && hdr="$d/polyws/polyws.h"; done
[ -n "$hdr" ] || { echo "polyws/polyws.h not found in $*"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# the block: from "The shape of a program" to the first comment line that is not code
awk '/The shape of a program/ { on = 1; next }
     on && /^ \*     / { sub(/^ \*     /, ""); print; seen = 1; next }
     on && seen && !/^ \*$/ { exit }' "$hdr" >"$tmp/block.c"
lines=$(wc -l <"$tmp/block.c")
[ "$lines" -ge 5 ] || { echo "example block not found in $hdr ($lines lines)"; exit 1; }
{
  echo '#include <polyws/polyws.h>'
  echo '#include <stdio.h>'
  echo 'static void my_handler(const pws_event *ev, void *user) { (void)ev; (void)user; }'
  echo 'int main(void)'
  echo '{'
  sed 's/^/    /' "$tmp/block.c"
  echo '}'
} >"$tmp/example.c"
if "$CC" -std=c11 -Wall -Wextra -Werror -fsyntax-only "${inc[@]}" "$tmp/example.c"; then
  echo "ok: the $lines-line example of $hdr compiles"
else
  cat -n "$tmp/example.c"; echo "FAIL: the example of $hdr does not compile"; exit 1
fi
