#!/usr/bin/env bash
# manpages.sh POLYWS HELPDOC_DIR - the man pages helpdoc/gen.sh made from POLYWS's --help texts
# (HELPDOC_DIR/man1), checked against what the binary says now:
#  - one page per command `polyws --help` lists, and polyws(1);
#  - groff -man -ww reports no warning; man -l renders each page; the roff source has no stray
#    control line (a text line starting with "." or "'") nor an unescaped option hyphen;
#  - NAME is the command's line in `polyws --help`; SYNOPSIS holds every usage line;
#  - OPTIONS holds an entry for every option the command's --help lists (read here with grep, not
#    by the generator), and the mode section (TAPE MODE) every option of the mode's own help;
#  - polyws(1) lists every command, polyws-tape(1) every subcommand; EXIT STATUS is there when
#    the help has "Exit status:", ENVIRONMENT names every $VARIABLE the help names.
# A page older than the binary's help fails here: the build regenerates them when it relinks.
set -u
POLYWS=$1 dir=$2
. "$(dirname "$0")/lib.sh"      # tmp, ok/bad
. "$(dirname "$0")/helpopts.sh" # help_options, help_commands, help_subcommands, help_vars

for t in man groff; do
  command -v "$t" >/dev/null || { echo "FAIL: $t is missing (Debian: apt-get install man-db; ./run test installs it)"; exit 1; }
done

# render PAGE: the page as text, 200 columns (a tag on one line), plain ASCII hyphens
render() { MANWIDTH=200 MAN_KEEP_FORMATTING= man -l "$1" 2>"$tmp/man.err" | sed 's/\xe2\x88\x92/-/g; s/\xe2\x80\x90/-/g'; }
# section TEXT NAME: the lines of section NAME of a rendered page (up to the next heading)
section() { awk -v s="$2" '$0 == s { on = 1; next } on && /^[A-Z]/ { exit } on' "$1"; }
# has_tag SECTIONFILE OPTION: whether an entry of the section (a line indented 7) names OPTION
has_tag() { grep -E '^       [^ ]' "$1" | grep -qE -- "(^| |,)$2(,| |\$)"; }

"$POLYWS" --help >"$tmp/polyws.help" || { echo "FAIL: polyws --help"; exit 1; }
commands=$(help_commands "$tmp/polyws.help")
[ -n "$commands" ] || { echo "FAIL: no commands in polyws --help"; exit 1; }

# ---- the set of pages
want=$(for c in "" $commands; do echo "polyws${c:+-$c}.1"; done | sort)
have=$(cd "$dir/man1" && ls -- *.1 2>/dev/null | sort)
if [ "$want" = "$have" ]; then ok "pages: $(echo $have)"; else bad "pages: have '$(echo $have)', want '$(echo $want)'"; fi

# check_page PAGE HELPFILE CMD: the checks every page gets
check_page() {
  local page=$1 help=$2 cmd=$3 name w line o v missing
  name=$(basename "$page" .1)
  local warn; warn=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
  if [ -z "$warn" ]; then ok "$name: groff -man -ww: no warnings"; else bad "$name: groff warns:"; echo "$warn" | head -10; fi
  if render "$page" >"$tmp/$name.txt" && [ -s "$tmp/$name.txt" ] && [ ! -s "$tmp/man.err" ]; then
    ok "$name: man -l renders it ($(wc -l <"$tmp/$name.txt") lines)"
  else bad "$name: man -l"; cat "$tmp/man.err"; return; fi
  # roff hygiene: control lines are the macros the generator writes; hyphens of options escaped
  w=$(grep -nvE '^(\.(TH|SH|SS|PP|TP|br|RS|RE|nf|fi|BR)( |$)|\.\\"|[^.'"'"'])' "$page")
  if [ -z "$w" ]; then ok "$name: no stray control line"; else bad "$name: stray control lines:"; echo "$w" | head -5; fi
  w=$(grep -v '^\.\\"' "$page" | grep -nE '(^|[ ([|,/="`])--?[A-Za-z]')
  if [ -z "$w" ]; then ok "$name: option hyphens are \\-"; else bad "$name: unescaped hyphens:"; echo "$w" | head -5; fi
  # NAME and SYNOPSIS
  local summary; summary=$(awk -v c="$cmd" '$1 == c && /^  [a-z]/ { sub(/^  [^ ]+ +/, ""); print; exit }' "$tmp/polyws.help")
  [ -z "$cmd" ] && summary="" # polyws(1)'s line is not in a help text
  line=$(section "$tmp/$name.txt" NAME | tr -s ' \n' '  ' | sed 's/^ //; s/ $//')
  case $line in "$name - $summary"*) ok "$name: NAME: $line";; *) bad "$name: NAME '$line', want '$name - $summary'";; esac
  section "$tmp/$name.txt" SYNOPSIS | tr -s ' ' >"$tmp/$name.syn"
  missing=""
  while IFS= read -r line; do
    line=$(echo "$line" | sed -E 's/^usage: +//; s/^ +//' | tr -s ' ')
    grep -qF -- "$line" "$tmp/$name.syn" || missing="$missing | $line"
  done < <(grep -E '^(usage: +| +)polyws( |$)' "$help")
  if [ -z "$missing" ]; then ok "$name: SYNOPSIS has every usage line"; else bad "$name: SYNOPSIS lacks$missing"; fi
  # OPTIONS
  section "$tmp/$name.txt" OPTIONS >"$tmp/$name.opts"
  missing="" local n=0
  for o in $(help_options "$help"); do
    n=$((n + 1)); has_tag "$tmp/$name.opts" "$o" || missing="$missing $o"
  done
  if [ -z "$missing" ]; then ok "$name: OPTIONS has all $n options of its --help"; else bad "$name: OPTIONS lacks:$missing"; fi
  # EXIT STATUS
  if grep -q '^Exit status:' "$help"; then
    # its first words: on the "Exit status:" line, or the line under it ("  0  success")
    w=$(awk '/^Exit status:/ { on = 1; sub(/^Exit status: */, "") } on && NF { sub(/^ +/, ""); print; exit }' "$help" | cut -c1-30 | tr -s " ")
    if section "$tmp/$name.txt" "EXIT STATUS" | tr -s ' \n' '  ' | grep -qF -- "$w"; then ok "$name: EXIT STATUS ($w...)"
    else bad "$name: EXIT STATUS lacks '$w'"; fi
  fi
  # ENVIRONMENT
  section "$tmp/$name.txt" ENVIRONMENT >"$tmp/$name.env"
  missing="" n=0
  for v in $(help_vars "$help"); do n=$((n + 1)); grep -qE "^       .*\\b$v\\b" "$tmp/$name.env" || missing="$missing $v"; done
  if [ -z "$missing" ]; then ok "$name: ENVIRONMENT names all $n variables of its --help"; else bad "$name: ENVIRONMENT lacks:$missing"; fi
  section "$tmp/$name.txt" "SEE ALSO" >"$tmp/$name.see"
  if [ -z "$cmd" ] || grep -q 'polyws(1)' "$tmp/$name.see"; then ok "$name: SEE ALSO"; else bad "$name: SEE ALSO lacks polyws(1)"; fi
}

check_page "$dir/man1/polyws.1" "$tmp/polyws.help" ""
section "$tmp/polyws.txt" DESCRIPTION >"$tmp/polyws.desc"
section "$tmp/polyws.txt" COMMANDS >>"$tmp/polyws.desc"
missing=""
for c in $commands; do
  has_tag "$tmp/polyws.desc" "$c" && grep -q "polyws-$c(1)" "$tmp/polyws.txt" || missing="$missing $c"
done
if [ -z "$missing" ]; then ok "polyws: lists every command, each with its page"; else bad "polyws: lacks commands:$missing"; fi
if section "$tmp/polyws.txt" FILES | grep -q 'README.md' && section "$tmp/polyws.txt" FILES | grep -q 'docs/tapes.md'; then
  ok "polyws: FILES points at README.md and docs/*.md"
else bad "polyws: FILES does not list the documentation"; fi

for c in $commands; do
  [ -f "$dir/man1/polyws-$c.1" ] || continue
  "$POLYWS" "$c" --help >"$tmp/$c.help" || { bad "polyws $c --help"; continue; }
  check_page "$dir/man1/polyws-$c.1" "$tmp/$c.help" "$c"
  subs=$(help_subcommands "$tmp/$c.help" "$c")
  if [ -n "$subs" ]; then
    { section "$tmp/polyws-$c.txt" DESCRIPTION; section "$tmp/polyws-$c.txt" COMMANDS; } >"$tmp/$c.subs"
    missing=""; for s in $subs; do has_tag "$tmp/$c.subs" "$s" || missing="$missing $s"; done
    if [ -z "$missing" ]; then ok "polyws-$c: every subcommand ($(echo $subs))"; else bad "polyws-$c: lacks subcommands:$missing"; fi
  fi
  # a mode with a help text of its own ("see polyws check --tape X --help")
  mode=$(tr '\n' ' ' <"$tmp/$c.help" | grep -oE "polyws $c( --?[a-z][a-z-]*( [A-Z][A-Za-z]*)?)+ --help" | head -1)
  if [ -n "$mode" ]; then
    args=${mode#"polyws $c "}; args=${args% --help}
    # shellcheck disable=SC2086
    "$POLYWS" "$c" $args --help >"$tmp/$c.mode" || { bad "polyws $c $args --help"; continue; }
    title=$(echo "$args" | awk '{ o = $1; sub(/^-+/, "", o); print toupper(o) " MODE" }')
    section "$tmp/polyws-$c.txt" "$title" >"$tmp/$c.modesec"
    missing="" n=0
    for o in $(help_options "$tmp/$c.mode"); do n=$((n + 1)); has_tag "$tmp/$c.modesec" "$o" || missing="$missing $o"; done
    if [ -s "$tmp/$c.modesec" ] && [ -z "$missing" ]; then ok "polyws-$c: $title has all $n options of 'polyws $c $args --help'"
    else bad "polyws-$c: $title lacks:${missing:- the section}"; fi
  fi
done

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
