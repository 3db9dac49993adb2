#!/usr/bin/env bash
# completion.sh POLYWS COMPLETION_FILE - the bash completion helpdoc/gen.sh made from POLYWS's
# --help texts, sourced into this bash and driven as readline would (COMP_WORDS, COMP_CWORD,
# then _polyws; COMPREPLY is what a TAB offers), in a directory of scenario, tape, HAR and other
# files:
#  - `polyws <TAB>` offers exactly the commands of `polyws --help`; `polyws re<TAB>` the two;
#  - `polyws CMD -<TAB>` offers every option CMD's --help lists (read here with grep), and
#    `polyws watch --fo<TAB>` exactly --format;
#  - `polyws check <TAB>` and `polyws mock <TAB>` offer the *.yaml/*.yml files and directories,
#    not the other files; replay and `tape stats` tapes (*.tape, *.jsonl); `tape from-har` *.har;
#  - after an option taking FILE every file, after one taking DIR directories only, after one
#    taking a number nothing; `tape <TAB>` the subcommands; --client-output its two words.
set -u
POLYWS=$1 comp=$2
. "$(dirname "$0")/lib.sh"      # tmp, ok/bad
. "$(dirname "$0")/helpopts.sh" # help_options, help_commands, help_subcommands

[ -s "$comp" ] || { echo "FAIL: no completion file $comp"; exit 1; }
# shellcheck disable=SC1090
. "$comp" || { echo "FAIL: sourcing $comp"; exit 1; }
declare -F _polyws >/dev/null || { echo "FAIL: $comp defines no _polyws"; exit 1; }
case $(complete -p polyws 2>/dev/null) in *"-F _polyws"*) ok "complete -p polyws: -F _polyws";; *) bad "polyws is not completed by _polyws";; esac

mkdir -p "$tmp/w/scenarios" "$tmp/w/out"
cd "$tmp/w" || exit 1
touch a.yaml b.yml notes.txt s.tape j.jsonl h.har "with space.yaml"

# tab WORD...: the completions of the command line WORD... (the last word is the one completed),
# sorted, one line
tab() {
  COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _polyws
  printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//'
}
# expect WANT WORD...: the completions must be exactly WANT (sorted, space-separated)
expect() {
  local want=$1; shift
  local got; got=$(tab "$@")
  if [ "$got" = "$want" ]; then ok "'$*<TAB>' -> $got"; else bad "'$*<TAB>' -> '$got', want '$want'"; fi
}

"$POLYWS" --help >"$tmp/polyws.help" || { echo "FAIL: polyws --help"; exit 1; }
commands=$(help_commands "$tmp/polyws.help")
# `polyws help CMD`, where the help names it, is completed like a command
helpcmd=$(grep -qE '^  help  |polyws help' "$tmp/polyws.help" && echo help)
expect "$(printf '%s\n' $commands $helpcmd | sort | tr '\n' ' ' | sed 's/ $//')" polyws ''
expect "record replay" polyws re
[ -n "$helpcmd" ] && expect "$(printf '%s\n' $commands help | sort | tr '\n' ' ' | sed 's/ $//')" polyws help ''
expect "--format" polyws watch --fo
expect "a.yaml b.yml out scenarios with space.yaml" polyws check ''
expect "a.yaml b.yml out scenarios with space.yaml" polyws check --jobs 2 ''
expect "a.yaml b.yml out scenarios with space.yaml" polyws mock ''
expect "j.jsonl out s.tape scenarios" polyws replay ''
expect "j.jsonl out s.tape scenarios" polyws tape stats ''
expect "h.har out scenarios" polyws tape from-har ''
expect "a.yaml b.yml h.har j.jsonl notes.txt out s.tape scenarios with space.yaml" polyws watch --key-file ''
expect "out scenarios" polyws check --journal ''
expect "" polyws watch -n ''
expect "events none" polyws check --client-output ''
expect "scenarios" polyws check sc
# check's tape mode (its own help, `polyws check --tape X --help`)
expect "--tape" polyws check --ta
expect "j.jsonl out s.tape scenarios" polyws check --tape ""

# every option of every command's help, and the subcommands
for c in $commands; do
  "$POLYWS" "$c" --help >"$tmp/$c.help" || { bad "polyws $c --help"; continue; }
  subs=$(help_subcommands "$tmp/$c.help" "$c")
  if [ -n "$subs" ]; then expect "$(echo "$subs" | sort | tr '\n' ' ' | sed 's/ $//')" polyws "$c" ''; fi
  opts=$(help_options "$tmp/$c.help")
  [ -n "$opts" ] || continue
  offered=" $(tab polyws "$c" -) "
  missing=""
  for o in $opts; do case $offered in *" $o "*) ;; *) missing="$missing $o";; esac; done
  if [ -z "$missing" ]; then ok "'polyws $c -<TAB>' offers all $(echo $opts | wc -w) options of its --help"
  else bad "'polyws $c -<TAB>' lacks:$missing"; fi
done

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
