#!/usr/bin/env bash
# install_test.sh BUILD_DIR SOURCE_DIR - installs into a temporary prefix and
# builds the example against it twice: with find_package(polyws) and with
# pkg-config.  Both binaries must run (usage error, exit 2).
set -eu
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
mkdir "$tmp/consumer"
cat >"$tmp/consumer/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.25)
project(consumer C)
find_package(polyws 0.1 REQUIRED)
add_executable(ex "$src/examples/aggregates.c")
target_link_libraries(ex PRIVATE polyws::polyws)
CM
cmake -S "$tmp/consumer" -B "$tmp/consumer/b" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer/b" >/dev/null
set +e
"$tmp/consumer/b/ex" >/dev/null 2>&1; rc=$?
set -e
[ $rc -eq 2 ] || { echo "FAIL: find_package consumer exited $rc"; exit 1; }
echo "ok   - find_package(polyws) consumer builds and runs"
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
cc -o "$tmp/ex_pc" "$src/examples/aggregates.c" $(pkg-config --cflags --static --libs polyws)
set +e
"$tmp/ex_pc" >/dev/null 2>&1; rc=$?
set -e
[ $rc -eq 2 ] || { echo "FAIL: pkg-config consumer exited $rc"; exit 1; }
echo "ok   - pkg-config consumer builds and runs"
[ -x "$tmp/prefix/bin/polyws" ] && "$tmp/prefix/bin/polyws" --version
echo "3 passed, 0 failed"
