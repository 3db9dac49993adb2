#!/usr/bin/env bash
# install_test.sh BUILD_DIR SOURCE_DIR - installs into a temporary prefix and uses it as a C
# programmer would:
#  - the shared libpolyws has its SONAME and exports exactly the functions the installed headers
#    declare (nm -D), the static one sits next to it, libpwsmock/libpwsreplay are not installed;
#  - tests/clients/consumer.c (public API only) is built four ways: `pkg-config --libs polyws`
#    (shared), `pkg-config --static --libs polyws-static` (the archive), find_package with
#    polyws::polyws (shared) and with polyws::polyws_static; `--static --libs polyws` links too;
#  - each binary links the library it should (readelf -d) and runs against the installed
#    `polyws mock` on 127.0.0.1 (an ephemeral port): exit 0, the expected stdout, and NOTHING on
#    stderr (the library is quiet unless asked: no libwebsockets banner);
#  - examples/aggregates.c builds with find_package and runs against the same mock, quietly;
#  - the man pages (man -M finds and renders polyws(1) and a page per command), the bash
#    completion (sourced, `polyws <TAB>` offers the commands), README.md and docs/*.md.
set -u
build=$1 src=$2
. "$(dirname "$0")/lib.sh" # tmp, servers stopped at exit, ok/bad, start

pfx=$tmp/prefix
cmake --install "$build" --prefix "$pfx" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; echo "FAIL: cmake --install"; exit 1; }
pc=$(find "$pfx" -name polyws.pc | head -1)
[ -n "$pc" ] || { echo "FAIL: no polyws.pc under $pfx"; exit 1; }
lib=$(dirname "$(dirname "$pc")") # CMAKE_INSTALL_LIBDIR: lib, or lib/<multiarch> under /usr

# ---- the files, the SONAME, the exported symbols
version=$(sed -n 's/^#define PWS_VERSION_STRING "\(.*\)"$/\1/p' "$pfx/include/polyws/polyws.h")
major=${version%%.*} rest=${version#*.} minor=${rest%%.*}
if [ "$major" = 0 ]; then soversion=$major.$minor; else soversion=$major; fi
so=$lib/libpolyws.so.$version
if [ -f "$so" ] && [ -L "$lib/libpolyws.so.$soversion" ] && [ -L "$lib/libpolyws.so" ] \
   && [ -f "$lib/libpolyws.a" ] && [ -f "$lib/libpwswire.a" ]; then
  ok "installed: libpolyws.so.$version, libpolyws.so.$soversion, libpolyws.so, libpolyws.a, libpwswire.a"
else bad "installed libraries"; ls -l "$lib"; fi
soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" = "libpolyws.so.$soversion" ]; then ok "SONAME $soname"; else bad "SONAME '$soname', want libpolyws.so.$soversion"; fi
if ls "$lib" | grep -q -e pwsmock -e pwsreplay; then bad "libpwsmock/libpwsreplay installed (they are not meant to be)"; ls "$lib"
else ok "libpwsmock and libpwsreplay are not installed"; fi
nm -D --defined-only "$so" | awk '{print $3}' | sort >"$tmp/exported"
grep -ho 'PWS_API[^;]*' "$pfx"/include/polyws/*.h | grep -o '\bpws_[a-z0-9_]*(' | tr -d '(' | sort -u >"$tmp/declared"
nexp=$(wc -l <"$tmp/exported") ndecl=$(wc -l <"$tmp/declared")
if [ "$nexp" -gt 20 ] && cmp -s "$tmp/exported" "$tmp/declared"; then
  ok "nm -D: $nexp exported symbols, exactly the $ndecl functions the headers declare"
else bad "nm -D: $nexp exported, $ndecl declared"; diff "$tmp/declared" "$tmp/exported" | head -20; fi

# ---- the man pages, the bash completion, the documentation (helpdoc/)
. "$(dirname "$0")/helpopts.sh" # help_commands
"$pfx/bin/polyws" --help >"$tmp/polyws.help"
commands=$(help_commands "$tmp/polyws.help")
mandir=$pfx/share/man
missing=""
for p in polyws $(for c in $commands; do echo "polyws-$c"; done); do
  found=$(man -M "$mandir" -w "$p" 2>/dev/null)
  [ "$found" = "$mandir/man1/$p.1" ] && MANWIDTH=100 man -M "$mandir" "$p" 2>/dev/null | grep -q '^SYNOPSIS' || missing="$missing $p"
done
if [ -z "$missing" ] && [ -n "$commands" ]; then ok "man -M PREFIX/share/man finds and renders polyws(1) and polyws-{$(echo $commands | tr ' ' ,)}(1)"
else bad "man pages missing or unreadable under $mandir/man1:$missing"; ls -l "$mandir/man1" 2>&1 | head; fi
compfile=$pfx/share/bash-completion/completions/polyws
offered=$(bash --norc --noprofile -c '. "$1" && COMP_WORDS=(polyws "") COMP_CWORD=1 && _polyws && echo "${COMPREPLY[*]}"' _ "$compfile" 2>&1)
want=$(echo $commands)
grep -q 'polyws help' "$tmp/polyws.help" && want="$want help" # 'polyws help CMD' is completed too
if [ "$offered" = "$want" ]; then ok "bash completion installed in share/bash-completion/completions: 'polyws <TAB>' -> $offered"
else bad "bash completion $compfile: 'polyws <TAB>' -> '$offered', want '$want'"; fi
docdir=$pfx/share/doc/polyws
missing=""
for d in README.md "$src"/docs/*.md; do
  d=${d#"$src"/}
  cmp -s "$src/$d" "$docdir/$d" || missing="$missing $d"
done
if [ -z "$missing" ]; then ok "share/doc/polyws: README.md and $(ls "$src"/docs/*.md | wc -l) docs/*.md"
else bad "share/doc/polyws lacks:$missing"; fi

# ---- a mock to talk to: the installed one
export CONSUMER_API_KEY=consumer-key-2718281828 POLYGON_API_KEY=consumer-key-2718281828
start mock "$pfx/bin/polyws" mock --accept-key-env CONSUMER_API_KEY --rate 2000
URL=$URL/stocks
want=$(printf 'version %s\nstrerror PWS_ERR_AUTH: authentication failed\nevents 50\n' "$version")

# check_run NAME NEEDS_SO BINARY [env...]: NEEDS_SO = yes if the binary must load libpolyws.so;
# the run must exit 0 with the expected stdout and an empty stderr.
check_run() {
  local name=$1 needs=$2 bin=$3; shift 3
  local needed; needed=$(readelf -d "$bin" | grep -c "NEEDED.*\[libpolyws\.so\.$soversion\]")
  if [ "$needs" = yes ] && [ "$needed" -ne 1 ]; then bad "$name: does not load libpolyws.so.$soversion"; return; fi
  if [ "$needs" = no ] && [ "$needed" -ne 0 ]; then bad "$name: loads libpolyws.so, should hold the archive"; return; fi
  env "$@" timeout 60 "$bin" "$URL" A.AAPL,T.MSFT 50 >"$tmp/$name.stdout" 2>"$tmp/$name.stderr"
  local rc=$?
  if [ $rc -eq 0 ] && [ "$(cat "$tmp/$name.stdout")" = "$want" ] && [ ! -s "$tmp/$name.stderr" ]; then
    ok "$name: links $( [ "$needs" = yes ] && echo libpolyws.so.$soversion || echo libpolyws.a ), runs against the mock, nothing on stderr"
  else
    bad "$name: exit $rc"; echo "  stdout:"; sed 's/^/    /' "$tmp/$name.stdout"; echo "  stderr:"; sed 's/^/    /' "$tmp/$name.stderr"
  fi
}

# ---- pkg-config
export PKG_CONFIG_PATH=$lib/pkgconfig
consumer=$src/tests/clients/consumer.c
echo "# pkg-config --libs polyws: $(pkg-config --libs polyws)"
echo "# pkg-config --static --libs polyws-static: $(pkg-config --static --libs polyws-static)"
if cc -o "$tmp/c_pc" "$consumer" $(pkg-config --cflags --libs polyws) 2>"$tmp/cc_pc.err"; then
  # the prefix is not in the loader's path: LD_LIBRARY_PATH, as after installing to one without ldconfig
  ldd_line=$(LD_LIBRARY_PATH=$lib ldd "$tmp/c_pc" | grep libpolyws)
  case $ldd_line in *"$lib/libpolyws.so.$soversion"*) ok "ldd: $ldd_line";; *) bad "ldd: '$ldd_line'";; esac
  check_run pkg-config yes "$tmp/c_pc" LD_LIBRARY_PATH="$lib"
else bad "cc \$(pkg-config --cflags --libs polyws)"; head -20 "$tmp/cc_pc.err"; fi
if cc -o "$tmp/c_pcs" "$consumer" $(pkg-config --static --cflags --libs polyws-static) 2>"$tmp/cc_pcs.err"; then
  check_run pkg-config-static no "$tmp/c_pcs"
else bad "cc \$(pkg-config --static --cflags --libs polyws-static)"; head -20 "$tmp/cc_pcs.err"; fi
# --static on polyws.pc lists what libpolyws.a needs (Libs.private, Requires.private); plain cc
# still takes the .so from -lpolyws (cc -static would take every archive): it must link.
if cc -o "$tmp/c_pcx" "$consumer" $(pkg-config --static --cflags --libs polyws) 2>"$tmp/cc_pcx.err"; then
  check_run pkg-config--static-polyws yes "$tmp/c_pcx" LD_LIBRARY_PATH="$lib"
else bad "cc \$(pkg-config --static --cflags --libs polyws)"; head -20 "$tmp/cc_pcx.err"; fi

# ---- CMake find_package, both targets
mkdir "$tmp/cm"
cat >"$tmp/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.25)
project(consumer C)
find_package(polyws $version REQUIRED)
add_executable(c_shared "$consumer")
target_link_libraries(c_shared PRIVATE polyws::polyws)
add_executable(c_static "$consumer")
target_link_libraries(c_static PRIVATE polyws::polyws_static)
add_executable(aggregates "$src/examples/aggregates.c")
target_link_libraries(aggregates PRIVATE polyws::polyws)
CM
if cmake -S "$tmp/cm" -B "$tmp/cm/b" -DCMAKE_PREFIX_PATH="$pfx" >"$tmp/cm.log" 2>&1 \
   && cmake --build "$tmp/cm/b" >>"$tmp/cm.log" 2>&1; then
  check_run find_package-shared yes "$tmp/cm/b/c_shared" # CMake's build RPATH finds the prefix
  check_run find_package-static no "$tmp/cm/b/c_static"
  # the example: stops itself after 20 table additions (A.AAPL aggregates; what was queued
  # by then is still delivered, so 20 or more)
  timeout 60 "$tmp/cm/b/aggregates" "$URL" A.AAPL >"$tmp/agg.out" 2>"$tmp/agg.err"; rc=$?
  if [ $rc -eq 0 ] && [ "$(grep -c '^+ AAPL' "$tmp/agg.out")" -ge 20 ] && [ ! -s "$tmp/agg.err" ]; then
    ok "examples/aggregates.c (find_package): $(grep -c '^+ AAPL' "$tmp/agg.out") additions, nothing on stderr"
  else bad "aggregates example: exit $rc, $(grep -c '^+ AAPL' "$tmp/agg.out") additions"; head -5 "$tmp/agg.err"; fi
else bad "find_package consumer"; tail -20 "$tmp/cm.log"; fi

"$pfx/bin/polyws" --version
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
