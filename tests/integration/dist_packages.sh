#!/usr/bin/env bash
# dist_packages.sh POLYWS SOURCE_DIR - the container image's packages, checked without a container
# daemon (none runs where the tests run, so the Dockerfile is never built here):
#  - packages/build.txt is the one build list: `./run build`, run for real with apt-get, sudo,
#    dpkg-query and cmake replaced by recorders (every package missing), installs exactly the
#    names in it; the Dockerfile's build stage installs exactly the same names (its apt-get
#    command, executed with the same recorder), and no apt-get install in the Dockerfile names a
#    package itself;
#  - the build stage builds with `./run build` and installs with `cmake --install build`; the
#    final stage installs exactly packages/runtime.txt, copies bin/polyws from that prefix and the
#    scenarios, runs as a non-root user created there, ENTRYPOINT ["polyws"]; both stages are
#    FROM debian:bookworm-slim;
#  - every library `ldd POLYWS` shows comes (dpkg -S) from a package in packages/runtime.txt, and
#    every entry there provides one of them (ca-certificates apart: the store wss:// verifies
#    against, not a library);
#  - every name in build.txt and runtime.txt is a Debian package installed here (Debian 12);
#  - .dockerignore leaves out no file git tracks;
#  - broken copies fail these checks, each with its own message (a package named in the
#    Dockerfile, a library missing from runtime.txt, a list hard-coded in run, .dockerignore
#    hiding run, a build.txt name that is no installed package): the test can fail.
set -u
POLYWS=$1 SRC=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok   - $1"; }
bad() { fails=$((fails + 1)); echo "FAIL - $1"; }

# NON_LIBRARY_RUNTIME: runtime.txt entries that are not there for a linked library.
NON_LIBRARY_RUNTIME=" ca-certificates "

# ---- recorders for ./run: every package missing, apt-get install records its arguments
fake=$tmp/fakebin
mkdir -p "$fake"
cat >"$fake/dpkg-query" <<'EOF'
#!/bin/sh
exit 1
EOF
cat >"$fake/apt-get" <<'EOF'
#!/bin/sh
[ "$1" = install ] || exit 0
shift
for a in "$@"; do case $a in -*) ;; *) printf '%s\n' "$a" >>"$APT_RECORD" ;; esac; done
EOF
cat >"$fake/sudo" <<'EOF'
#!/bin/sh
exec "$@"
EOF
cat >"$fake/cmake" <<'EOF'
#!/bin/sh
exit 0
EOF
chmod +x "$fake"/*

# names FILE: the package names in a list file ('#' starts a comment), one a line
names() { sed 's/#.*//' "$1" | tr -s ' \t' '\n\n' | sed '/^$/d'; }

# instructions DOCKERFILE: one line per instruction (continuations joined, comments dropped)
instructions() {
  awk '/^[[:space:]]*#/ { next }
       { line = line $0 }
       /\\$/ { sub(/\\$/, "", line); next }
       { if (line ~ /[^[:space:]]/) print line; line = "" }' "$1"
}

# check_tree DIR: every static check on a tree holding Dockerfile, .dockerignore, run, packages/
# and files.txt (the tracked files).  Prints ok/FAIL lines; the failures are counted in $fails.
check_tree() {
  local dir=$1 d=$1/Dockerfile

  # -- what ./run build installs on a machine that has nothing
  local rundir=$tmp/runcopy
  rm -rf "$rundir" && mkdir -p "$rundir" && cp -r "$dir/run" "$dir/packages" "$rundir/"
  : >"$tmp/run.installs"
  if (cd "$rundir" && PATH="$fake:$PATH" APT_RECORD="$tmp/run.installs" ./run build) >"$tmp/run.out" 2>&1; then
    :
  else bad "./run build with every package missing failed:"; sed 's/^/       | /' "$tmp/run.out" | tail -5; fi
  names "$dir/packages/build.txt" | sort -u >"$tmp/build.list"
  sort -u "$tmp/run.installs" >"$tmp/run.list"
  if [ -s "$tmp/build.list" ] && cmp -s "$tmp/build.list" "$tmp/run.list"; then
    ok "./run build installs exactly packages/build.txt ($(wc -l <"$tmp/build.list") packages)"
  else bad "./run build installs something else than packages/build.txt:"; diff "$tmp/build.list" "$tmp/run.list" | sed 's/^/       | /'; fi

  # -- the Dockerfile, stage by stage
  instructions "$d" >"$tmp/instr"
  local stage=0 name line
  local -a image=() stage_name=()
  : >"$tmp/docker.build.installs"; : >"$tmp/docker.final.installs"
  local apt_ok=1 run_build=0 install_prefix="" copied_bin=0 copied_scen=0 user="" created="" entry="" lists=""
  while IFS= read -r line; do
    local op=${line%%[[:space:]]*} rest=${line#*[[:space:]]}
    op=${op^^}
    case $op in
      FROM)
        stage=$((stage + 1))
        image[stage]=$(awk '{print $1}' <<<"$rest")
        stage_name[stage]=$(awk 'toupper($2) == "AS" {print $3}' <<<"$rest")
        user="" ;;
      RUN)
        [[ $rest == *"./run build"* ]] && [ "$stage" -eq 1 ] && run_build=1
        if [[ $rest =~ cmake\ --install\ build\ --prefix\ ([^[:space:]]+) ]] && [ "$stage" -eq 1 ]; then
          install_prefix=${BASH_REMATCH[1]}
        fi
        [[ $rest =~ useradd\ .*\ ([a-z_][a-z0-9_-]*)[[:space:]]*($|&&) ]] && created=${BASH_REMATCH[1]}
        # every apt-get install: `sed 's/#.*//' FILE | xargs apt-get install -y --no-install-recommends`
        local seg
        while IFS= read -r seg; do
          [[ $seg =~ apt(-get)?[[:space:]].*install ]] || continue
          local re="^[[:space:]]*sed 's/#\\.\\*//' ([^[:space:]]+) \\| xargs apt-get install -y --no-install-recommends[[:space:]]*$"
          if [[ $seg =~ $re ]]; then
            local file=${BASH_REMATCH[1]} base; base=${file##*/}
            local rec=$tmp/docker.final.installs
            [ "$stage" -eq 1 ] && rec=$tmp/docker.build.installs
            lists="$lists stage$stage:$base"
            # the same command, run on our copy of the file, apt-get replaced by the recorder
            (cd "$dir" && PATH="$fake:$PATH" APT_RECORD="$rec" sh -c "${seg/"$file"/packages/$base}")
          else apt_ok=0; bad "Dockerfile stage $stage installs packages not from a list: '$(sed 's/^ *//' <<<"$seg")'"; fi
        done < <(sed 's/&&/\n/g; s/;/\n/g' <<<"$rest") ;;
      COPY)
        [[ $rest == --from=build\ * ]] && [[ $rest == *"/bin/polyws "* ]] && copied_bin=$rest
        [[ $rest == --from=build\ *scenarios* ]] && copied_scen=1 ;;
      USER) user=$(awk '{print $1}' <<<"$rest") ;;
      ENTRYPOINT) entry=$rest ;;
    esac
  done <"$tmp/instr"

  if [ "$stage" -ge 2 ] && [ "${image[1]}" = debian:bookworm-slim ] && [ "${image[stage]}" = debian:bookworm-slim ] \
     && [ "${stage_name[1]}" = build ]; then ok "two stages FROM debian:bookworm-slim, the first named build"
  else bad "stages: ${image[*]:-none} (names: ${stage_name[*]:-none}), want debian:bookworm-slim AS build, then debian:bookworm-slim"; fi
  [ $apt_ok = 1 ] && ok "every apt-get install in the Dockerfile reads a package list (${lists# })"
  sort -u "$tmp/docker.build.installs" >"$tmp/docker.build.list"
  if [ -s "$tmp/build.list" ] && cmp -s "$tmp/build.list" "$tmp/docker.build.list"; then
    ok "the build stage installs exactly packages/build.txt, as ./run build does"
  else bad "the build stage installs something else than packages/build.txt:"; diff "$tmp/build.list" "$tmp/docker.build.list" | sed 's/^/       | /'; fi
  names "$dir/packages/runtime.txt" | sort -u >"$tmp/runtime.list"
  sort -u "$tmp/docker.final.installs" >"$tmp/docker.final.list"
  if [ -s "$tmp/runtime.list" ] && cmp -s "$tmp/runtime.list" "$tmp/docker.final.list"; then
    ok "the final stage installs exactly packages/runtime.txt ($(wc -l <"$tmp/runtime.list") packages)"
  else bad "the final stage installs something else than packages/runtime.txt:"; diff "$tmp/runtime.list" "$tmp/docker.final.list" | sed 's/^/       | /'; fi
  if [ $run_build = 1 ] && [ -n "$install_prefix" ] && [[ $copied_bin == "--from=build $install_prefix/bin/polyws "* ]] \
     && [ $copied_scen = 1 ]; then
    ok "build stage: ./run build, cmake --install build --prefix $install_prefix; final stage copies bin/polyws and the scenarios"
  else bad "build/install steps: ./run build=$run_build, prefix='$install_prefix', copy of polyws='$copied_bin', scenarios=$copied_scen"; fi
  if [ -n "$user" ] && [ "$user" != root ] && [ "$user" != 0 ] && [ "$user" = "$created" ]; then
    ok "the final stage runs as '$user', created by useradd"
  else bad "final stage USER '${user:-none}' (useradd made '${created:-none}'): want a non-root user it creates"; fi
  if [ "$entry" = '["polyws"]' ]; then ok 'ENTRYPOINT ["polyws"]'; else bad "ENTRYPOINT is '$entry'"; fi

  # -- every linked library comes from a runtime package, every library package is used
  local lib path pkg
  : >"$tmp/needed.pkgs"
  local unmapped=0
  while read -r lib path; do
    [ "$path" = "not" ] && { bad "ldd: $lib not found"; unmapped=1; continue; }
    local out="" p
    for p in "$path" "$(readlink -f "$path")" "/usr$path" "${path#/usr}"; do
      out=$(dpkg -S "$p" 2>/dev/null | head -1) && [ -n "$out" ] && break
    done
    if [ -z "$out" ]; then bad "dpkg -S: no package owns $path ($lib)"; unmapped=1; continue; fi
    pkg=${out%%:*}; pkg=${pkg%%,*}
    echo "$pkg $lib" >>"$tmp/needed.pkgs"
  done < <(ldd "$POLYWS" | awk '$2 == "=>" { print $1, ($3 == "not" ? "not" : $3) } $2 != "=>" && $1 ~ /^\// { print $1, $1 }')
  local missing="" extra=""
  while read -r pkg lib; do
    grep -qx "$pkg" "$tmp/runtime.list" || missing="$missing $pkg($lib)"
  done <"$tmp/needed.pkgs"
  while read -r pkg; do
    awk '{print $1}' "$tmp/needed.pkgs" | grep -qx "$pkg" || [[ $NON_LIBRARY_RUNTIME == *" $pkg "* ]] || extra="$extra $pkg"
  done <"$tmp/runtime.list"
  if [ $unmapped = 0 ] && [ -z "$missing" ] && [ -s "$tmp/needed.pkgs" ]; then
    ok "packages/runtime.txt covers the $(wc -l <"$tmp/needed.pkgs") libraries ldd shows: $(awk '{print $1}' "$tmp/needed.pkgs" | sort -u | xargs)"
  elif [ -n "$missing" ]; then bad "packages/runtime.txt misses the packages of linked libraries:$missing"; fi
  if [ -z "$extra" ]; then ok "every runtime.txt entry provides a linked library (or is one of:$NON_LIBRARY_RUNTIME)"
  else bad "packages/runtime.txt lists packages no linked library comes from:$extra"; fi

  # -- the names are real Debian 12 packages (installed here: ./run installed the build list,
  #    and the runtime ones come with it)
  local notinst=""
  while read -r pkg; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || notinst="$notinst $pkg"
  done < <(sort -u "$tmp/build.list" "$tmp/runtime.list")
  if [ -z "$notinst" ]; then ok "every build.txt and runtime.txt name is an installed Debian package"
  else bad "not installed Debian packages (misspelt?):$notinst"; fi

  # -- .dockerignore leaves every tracked file in the build context
  local pat f hidden="" n=0
  while IFS= read -r pat; do
    pat=${pat%%#*}; pat=${pat%"${pat##*[![:space:]]}"}; pat=${pat#/}
    [ -z "$pat" ] || [[ $pat == !* ]] && continue
    while IFS= read -r f; do
      local prefix=$f
      while :; do
        # shellcheck disable=SC2053 # the pattern is a glob on purpose
        if [[ $prefix == $pat ]] || [[ $pat == '**/'* && $prefix == ${pat#'**/'} ]]; then hidden="$hidden $f($pat)"; break; fi
        [[ $prefix == */* ]] || break
        prefix=${prefix%/*}
      done
    done <"$dir/files.txt"
    n=$((n + 1))
  done <"$dir/.dockerignore"
  if [ -z "$hidden" ] && [ $n -gt 0 ]; then ok ".dockerignore ($n patterns) leaves out none of the $(wc -l <"$dir/files.txt") tracked files"
  elif [ -n "$hidden" ]; then bad ".dockerignore leaves out tracked files:$(cut -c1-300 <<<"$hidden")"; fi
}

# copy_tree DIR: the files check_tree reads, from the source tree
copy_tree() {
  mkdir -p "$1"
  cp -r "$SRC/Dockerfile" "$SRC/.dockerignore" "$SRC/run" "$SRC/packages" "$1/" || exit 1
  if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$SRC" ls-files >"$1/files.txt"
  else # a source tree without git: its files, build trees apart
    (cd "$SRC" && find . -path './build*' -prune -o -path ./.git -prune -o -type f -print | sed 's|^\./||') >"$1/files.txt"
  fi
}

echo "# the source tree"
copy_tree "$tmp/tree"
check_tree "$tmp/tree"
real_fails=$fails

# expect_fail NAME MESSAGE: check_tree on $tmp/m must fail, with a FAIL line holding MESSAGE
expect_fail() {
  local before=$fails
  check_tree "$tmp/m" >"$tmp/m.out"
  local got=$((fails - before))
  fails=$before
  if [ "$got" -gt 0 ] && grep -q -- "^FAIL - .*$2" "$tmp/m.out"; then ok "broken copy fails: $1"
  else bad "broken copy passes or fails otherwise: $1 (want '$2')"; sed 's/^/       | /' "$tmp/m.out"; fi
}
echo "# broken copies"
rm -rf "$tmp/m"; copy_tree "$tmp/m"
sed -i '0,/xargs apt-get install -y --no-install-recommends/s//& git/' "$tmp/m/Dockerfile"
expect_fail "the build stage names a package (git)" "installs packages not from a list"
rm -rf "$tmp/m"; copy_tree "$tmp/m"
sed -i '/^libyaml-0-2/d' "$tmp/m/packages/runtime.txt"
expect_fail "runtime.txt without libyaml-0-2" "misses the packages of linked libraries: libyaml-0-2(libyaml-0.so.2)"
rm -rf "$tmp/m"; copy_tree "$tmp/m"
sed -i 's/^mapfile -t PACKAGES .*/PACKAGES=(gcc make cmake)/' "$tmp/m/run"
expect_fail "run with a hard-coded build list" "./run build installs something else"
rm -rf "$tmp/m"; copy_tree "$tmp/m"
echo "run" >>"$tmp/m/.dockerignore"
expect_fail ".dockerignore hiding run" "leaves out tracked files: run(run)"
rm -rf "$tmp/m"; copy_tree "$tmp/m"
echo "libwebsocket-dev" >>"$tmp/m/packages/build.txt"
expect_fail "a misspelt build package" "not installed Debian packages (misspelt?): libwebsocket-dev"
rm -rf "$tmp/m"; copy_tree "$tmp/m"
sed -i 's/^USER .*/USER root/' "$tmp/m/Dockerfile"
expect_fail "the image running as root" "final stage USER 'root'"

[ $real_fails -eq 0 ] && [ $fails -eq 0 ] && { echo "all passed"; exit 0; }
echo "$fails failed"
exit 1
