
# ---- the logic (helpdoc/completion.bash), over the tables above ----------------------------------

# _polyws_complete_kind KIND: COMPREPLY for an argument of this kind (see completion.awk), for the
# word in $cur.  Uses bash-completion's _filedir when it is loaded, compgen otherwise.
_polyws_complete_kind() {
  local kind=$1 e IFS=$'\n'
  local -a exts
  COMPREPLY=()
  case $kind in
    none) return 0 ;;
    words:*)
      IFS=' '
      COMPREPLY=($(compgen -W "${kind#words:}" -- "$cur"))
      return 0 ;;
  esac
  IFS=' ' read -r -a exts <<<"${kind#ext:}"
  if declare -F _filedir >/dev/null 2>&1; then
    case $kind in
      dir) _filedir -d ;;
      file) _filedir ;;
      ext:*) local alt=${exts[*]}; _filedir "${alt// /|}" ;;
    esac
    return 0
  fi
  case $kind in
    dir) COMPREPLY=($(compgen -d -- "$cur")) ;;
    file) COMPREPLY=($(compgen -f -- "$cur")) ;;
    ext:*)
      COMPREPLY=($(compgen -d -- "$cur"))
      for e in "${exts[@]}"; do
        COMPREPLY+=($(compgen -f -X "!*.$e" -- "$cur"))
      done ;;
  esac
  # names with spaces quoted, a slash after a directory (only inside a completion)
  compopt -o filenames 2>/dev/null
  return 0
}

# _polyws: the completion of `polyws ...`: the commands, a command's subcommands and options, the
# argument of the option before the cursor, and a command's operands (scenario files and
# directories for check and mock, tapes for replay and tape).
_polyws() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev="" cmd="" sub="" subs="" key kind w i ci=0 IFS=$' \t\n'
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    if [[ -z $cmd ]]; then
      [[ $w == -* ]] && continue
      cmd=$w ci=$i
      subs=$(_polyws_subcommands "$cmd")
    elif [[ -n $subs && -z $sub && $i -eq $((ci + 1)) && " $subs " == *" $w "* ]]; then
      sub=$w
    fi
  done
  if [[ -z $cmd ]]; then
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "$_polyws_top_options" -- "$cur"))
    else
      COMPREPLY=($(compgen -W "$_polyws_commands" -- "$cur"))
    fi
    return 0
  fi
  if [[ $cmd == help ]]; then
    ((COMP_CWORD == ci + 1)) && COMPREPLY=($(compgen -W "$_polyws_commands" -- "$cur"))
    return 0
  fi
  if [[ -n $subs && -z $sub ]]; then
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "$(_polyws_options "$cmd")" -- "$cur"))
    elif ((COMP_CWORD == ci + 1)); then
      COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    fi
    return 0
  fi
  key=$cmd${sub:+ $sub}
  if ((COMP_CWORD - 1 > ci)) && kind=$(_polyws_argkind "$key" "$prev"); then
    _polyws_complete_kind "$kind"
    return 0
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_polyws_options "$key")" -- "$cur"))
    return 0
  fi
  kind=$(_polyws_operands "$key")
  if [[ $kind == none ]]; then
    # no operand to complete (a URL): the options then
    COMPREPLY=($(compgen -W "$(_polyws_options "$key")" -- "$cur"))
  else
    _polyws_complete_kind "$kind"
  fi
  return 0
}
complete -F _polyws polyws
