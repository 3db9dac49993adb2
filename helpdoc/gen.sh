#!/bin/sh
# gen.sh - the man pages and the bash completion of polyws, made from the binary's own --help
# texts (the single source: what the help says, the pages and the completion say).  POSIX sh and
# awk only.
#
#   sh helpdoc/gen.sh POLYWS_BINARY OUT_DIR DOCDIR SUMMARY [DOC_PATH=TITLE_SOURCE...]
#
#   POLYWS_BINARY  the built polyws, run with --version, --help and CMD --help
#   OUT_DIR        gets help/*.txt (the texts as read), man1/polyws.1 and man1/polyws-CMD.1 (one
#                  per command `polyws --help` lists), completions/polyws (bash)
#   DOCDIR         where the documentation is installed (named in the pages)
#   SUMMARY        the one line of polyws(1)'s NAME section
#   DOC_PATH=FILE[=TITLE]  an installed document (path under DOCDIR), its source, and its title
#                  in polyws(1)'s FILES section (default: the document's first "# " heading)
#
# A command whose help points at another help text of its own ("see polyws check --tape X
# --help") gets that text as a section of its page (the mode: "TAPE MODE").  Exits non-zero,
# with the reason on stderr, if the binary or a help text fails.
set -eu

die() { echo "gen.sh: $*" >&2; exit 1; }
[ $# -ge 4 ] || die "usage: gen.sh POLYWS_BINARY OUT_DIR DOCDIR SUMMARY [DOC_PATH=SOURCE...]"
bin=$1 out=$2 docdir=$3 summary=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$bin" ] || die "$bin is not an executable"
export LC_ALL=C

mkdir -p "$out/help" "$out/man1" "$out/completions"
rm -f "$out"/help/*.txt "$out"/man1/*.1

# help FILE ARGS...: the help text of `polyws ARGS` into FILE; it must exit 0 and say something.
help() {
  f=$1; shift
  "$bin" "$@" >"$f" 2>"$f.err" || die "'polyws $*' exited $? ($(head -c 300 "$f.err"))"
  rm -f "$f.err"
  [ -s "$f" ] || die "'polyws $*' printed nothing on stdout"
}

version=$("$bin" --version 2>/dev/null | awk 'NR == 1 { print $NF }') || true
[ -n "$version" ] || die "'polyws --version' printed no version"
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
  date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d 2>/dev/null || date -u +%Y-%m-%d)
else
  date=$(date -u +%Y-%m-%d)
fi

help "$out/help/polyws.txt" --help
# The commands: the entries of the main help ("  watch    connect, ..."); `help` is not a page.
commands=$(awk '/^  [a-z][a-z0-9-]*   *[^ ]/ && $1 != "help" { printf "%s%s", sep, $1; sep = " " }' "$out/help/polyws.txt")
[ -n "$commands" ] || die "no commands found in 'polyws --help'"

# The one-line summary of each command is its entry in the main help.
summary_of() {
  awk -v c="$1" '
    !found && $1 == c && /^  [a-z]/ { found = 1; sub(/^  [^ ]+  */, ""); s = $0; next }
    found && /^           *[^ ]/ { sub(/^ */, ""); s = s " " $0; next }
    found { exit }
    END { print s }' "$out/help/polyws.txt"
}

# The documents, PATH<TAB>TITLE, for polyws(1).
: >"$out/help/docs.tsv"
for d in "$@"; do
  path=${d%%=*} src=${d#*=} title=""
  case $src in *=*) title=${src#*=} src=${src%%=*} ;; esac
  [ -f "$src" ] || die "no document $src"
  [ -n "$title" ] || title=$(awk '/^# / { sub(/^# +/, ""); print; exit }' "$src")
  printf '%s\t%s\n' "$path" "${title:-$path}" >>"$out/help/docs.tsv"
done

awk -f "$here/man.awk" -v page=polyws -v cmd= -v summary="$summary" -v version="$version" \
    -v date="$date" -v docdir="$docdir" -v commands="$commands" -v docsfile="$out/help/docs.tsv" \
    "$out/help/polyws.txt" >"$out/man1/polyws.1"

helps="$out/help/polyws.txt"
for c in $commands; do
  help "$out/help/$c.txt" "$c" --help
  helps="$helps $out/help/$c.txt"
  # a mode with a help of its own: "polyws CMD --opt ARG --help" named in the text
  mode=$(tr '\n' ' ' <"$out/help/$c.txt" |
         grep -o "polyws $c\( -\{1,2\}[a-z][a-z-]*\( [A-Z][A-Za-z]*\)\{0,1\}\)\{1,\} --help" | head -n 1 || true)
  modeargs="" modename=""
  if [ -n "$mode" ]; then
    modeargs=$(echo "$mode" | sed "s/^polyws $c //; s/ --help\$//")
    # shellcheck disable=SC2086 # the words of the mode's options, as the help wrote them
    help "$out/help/$c.mode.txt" "$c" $modeargs --help
    helps="$helps $out/help/$c.mode.txt"
    modename=$(echo "$modeargs" | awk '{ o = $1; sub(/^-+/, "", o); print toupper(o) " MODE" }')
  fi
  awk -f "$here/man.awk" -v page="polyws-$c" -v cmd="$c" -v summary="$(summary_of "$c")" \
      -v version="$version" -v date="$date" -v docdir="$docdir" -v commands="$commands" \
      -v modefile="${mode:+$out/help/$c.mode.txt}" -v modename="$modename" \
      "$out/help/$c.txt" >"$out/man1/polyws-$c.1"
done

# shellcheck disable=SC2086 # the list of help files
awk -f "$here/completion.awk" -v version="$version" $helps >"$out/completions/polyws.tmp"
cat "$here/completion.bash" >>"$out/completions/polyws.tmp"
mv "$out/completions/polyws.tmp" "$out/completions/polyws"
