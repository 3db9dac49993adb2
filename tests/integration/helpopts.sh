# helpopts.sh - what a polyws --help text lists, read with grep and sed, apart from the generator
# in helpdoc/ (so the man page and completion tests do not share its mistakes).  Source it.

# help_options FILE: every option of the text's option entries (an indented line starting with
# "-"), in order: the "-x" and "--long" words before the description (two spaces, or the first
# word that is not an option nor its argument).
help_options() {
  grep -E '^ {1,8}-' "$1" | sed -E 's/^ +//; s/  .*//' |
    awk '{ for (i = 1; i <= NF; i++) { w = $i; sub(/,$/, "", w)
             if (w ~ /^-/) print w; else if (w !~ /^[A-Z0-9]/ && w !~ /\|/) break } }' |
    grep -E '^--?[A-Za-z0-9][-A-Za-z0-9]*$' | awk '!seen[$0]++'
}

# help_commands FILE: the command entries of `polyws --help` ("  watch    connect, ..."), but help.
help_commands() { grep -E '^  [a-z][a-z0-9-]*  +[^ ]' "$1" | awk '$1 != "help" { print $1 }'; }

# help_subcommands FILE CMD: the entries of a command's help that a usage line puts after CMD
# ("  stats   counts ..." with "polyws tape stats TAPE").
help_subcommands() {
  local t
  for t in $(grep -E '^  [a-z][a-z0-9-]*  +[^ ]' "$1" | awk '{ print $1 }'); do
    grep -qE "^(usage: +| +)polyws $2 $t( |\$)" "$1" && echo "$t"
  done
}

# help_vars FILE: the environment variables the text names ($NAME with an underscore, POLYWS_*).
help_vars() {
  { grep -oE '\$[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]' "$1" | tr -d '$'
    grep -oE 'POLYWS_[A-Z0-9_]*[A-Z0-9]' "$1"; } | awk '!seen[$0]++'
}
