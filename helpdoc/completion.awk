# completion.awk - the tables of the bash completion, read from polyws's --help texts.  POSIX awk.
#
#   awk -f completion.awk -v version=0.1.0 help/polyws.txt help/watch.txt help/check.mode.txt ...
#
# Each file is one help text, named after its command: polyws.txt is `polyws --help`, CMD.txt is
# `polyws CMD --help`, CMD.mode.txt another help text of CMD (`polyws check --tape X --help`).
# Prints bash: the commands, and shell functions that answer, for a command (or "CMD SUB" for a
# subcommand such as `tape stats`), its options, the kind of argument an option takes and the
# kind of its operands.  A kind is none (no completion), file, dir, "ext:E1 E2" (files with these
# extensions, and directories to walk into) or "words:W1 W2".  helpdoc/completion.bash, appended
# after these tables, is the logic that uses them.
#
# What is read: option entries (an indented line starting with "-": the options before the
# description, and the argument named after each, e.g. "--key-file FILE"), subcommand entries (an
# indented word that a usage line puts after the command: "  stats   counts ..."), and the usage
# lines ("polyws tape to-har TAPE [-o FILE.har]": options, their arguments, the operands).

function trim(s) { sub(/^ +/, "", s); sub(/ +$/, "", s); return s }
function indent_of(s,    i) { i = match(s, /[^ ]/); return i ? i - 1 : -1 }

FNR == 1 {
    name = FILENAME; sub(/.*\//, "", name); sub(/\.txt$/, "", name); sub(/\.mode$/, "", name)
    cmd = (name == "polyws") ? "" : name
    inusage = 0
}

{
    s = $0; sub(/\r$/, "", s); gsub(/\t/, "        ", s)
    ind = indent_of(s)
    if (cmd == "" && s ~ /polyws help( |$|['`"])/) HELPCMD = 1
    if (ind == 0 && tolower(substr(s, 1, 6)) == "usage:") { inusage = 1; U[++nu] = trim(substr(s, 7)); next }
    if (inusage && ind > 0 && trim(s) ~ /^polyws( |$)/) { U[++nu] = trim(s); next }
    inusage = 0
    if (ind < 1 || ind > 8) next
    t = substr(s, ind + 1)
    if (cmd == "") {
        if (t ~ /^[a-z][a-z0-9-]*   *[^ ]/) { split(t, w, " "); if (w[1] != "help") addword("CMDS", "", w[1]); else HELPCMD = 1 }
        else if (t ~ /^-/) entry("", t)
        next
    }
    if (t ~ /^-/) { entry(cmd, t); next }
    if (t ~ /^[a-z][a-z0-9-]*   *[^ ]/) { split(t, w, " "); TERM[cmd, w[1]] = 1 }
}

# entry(key, t): an option entry; the options and their arguments come before the description
# (which starts after two spaces, or at the first word that is neither an option nor an argument).
function entry(key, t,    n, w, i, o, spec) {
    spec = t
    if (match(spec, /   */)) spec = substr(spec, 1, RSTART - 1)
    n = split(spec, w, " ")
    for (i = 1; i <= n; i++) {
        o = w[i]; sub(/,$/, "", o)
        if (o !~ /^-/) break
        addword("OPTS", key, o)
        ENTRYOPT[key, o] = 1
        if (i < n && w[i + 1] !~ /^-/ && ismeta(w[i + 1])) { setkind(key, o, kind(w[i + 1])); i++ }
    }
    # a later option of the same entry ("-s, --subscribe LIST") takes the argument of the last
    for (i = 1; i <= n; i++) {
        o = w[i]; sub(/,$/, "", o)
        if (w[i] ~ /,$/ && i < n && ((key, w[i + 1]) in KINDOF)) KINDOF[key, o] = KINDOF[key, w[i + 1]]
    }
}

# ismeta(w): a word that names an argument: upper case (FILE, HOST:PORT, SCENARIO.yaml, 1|N|max)
# or alternatives (events|none).
function ismeta(w) { return w ~ /^[A-Z0-9]/ || w ~ /\|/ }

function setkind(key, o, k) { KINDOF[key, o] = k }

function addword(what, key, w) {
    if ((what, key, w) in SEEN) return
    SEEN[what, key, w] = 1
    LIST[what, key] = (LIST[what, key] == "" ? "" : LIST[what, key] " ") w
    if (!((what, key) in KEYS)) { KEYS[what, key] = 1; ORDER[what, ++NORDER[what]] = key }
}

# kind(m): what an argument named m is.
function kind(m,    n, a, i, k, words, r) {
    gsub(/[][]/, "", m); sub(/\.\.\.$/, "", m)
    n = split(m, a, "|")
    if (n > 1) {
        words = 1
        for (i = 1; i <= n; i++) if (a[i] !~ /^[a-z0-9][a-z0-9_.-]*$/) words = 0
        if (words) { r = "words:"; for (i = 1; i <= n; i++) r = r (i > 1 ? " " : "") a[i]; return r }
        # SCENARIO.yaml|DIR: the first kind that is a file of some kind (directories come with it)
        for (i = 1; i <= n; i++) { k = kind(a[i]); if (k != "none") return k }
        return "none"
    }
    if (m ~ /\.ya?ml$/ || m == "SCENARIO") return "ext:yaml yml"
    if (m ~ /\.[a-z0-9]+$/) { sub(/.*\./, "", m); return "ext:" m }
    if (m == "TAPE") return "ext:tape jsonl"
    if (m ~ /DIR$/) return "dir"
    if (m ~ /FILE$/) return "file"
    return "none"
}

END {
    # the usage lines: subcommands, options and their arguments, operands
    for (u = 1; u <= nu; u++) {
        n = split(U[u], w, " ")
        if (n < 2 || w[1] != "polyws" || w[2] ~ /^[<[-]/) continue
        c = w[2]; key = c; i = 3
        if (n >= 3 && ((c, w[3]) in TERM)) { addword("SUBS", c, w[3]); key = c " " w[3]; i = 4 }
        for (; i <= n; i++) {
            x = w[i]; gsub(/[][]/, "", x)
            if (x == "" || x == "options" || x ~ /^\(/ || x ~ /\)$/ || x ~ /^</) continue
            if (x ~ /^-/) {
                addword("OPTS", key, x)
                known = ((key, x) in ENTRYOPT) || ((c, x) in ENTRYOPT)
                y = (i < n) ? w[i + 1] : ""; gsub(/[][]/, "", y)
                takes = known ? (((key, x) in KINDOF) || ((c, x) in KINDOF)) : (y != "" && y !~ /^-/ && y != "options" && ismeta(y))
                if (takes && y != "" && y !~ /^-/ && ismeta(y)) {
                    if (!((key, x) in KINDOF) || KINDOF[key, x] == "none") KINDOF[key, x] = kind(y)
                    i++
                }
                continue
            }
            if (!(key in POSKIND)) { POSKIND[key] = kind(x); PORDER[++NPOS] = key }
            else if (POSKIND[key] == "none") POSKIND[key] = kind(x)
        }
    }
    # a subcommand has its command's options too
    for (j = 1; j <= NORDER["SUBS"]; j++) {
        c = ORDER["SUBS", j]; n = split(LIST["SUBS", c], w, " ")
        for (i = 1; i <= n; i++) {
            m = split(LIST["OPTS", c], o, " ")
            for (k = 1; k <= m; k++) { addword("OPTS", c " " w[i], o[k]); if ((c, o[k]) in KINDOF && !((c " " w[i], o[k]) in KINDOF)) KINDOF[c " " w[i], o[k]] = KINDOF[c, o[k]] }
        }
    }

    print "# bash completion for polyws " version ", generated from its --help texts by helpdoc/gen.sh"
    print "# (helpdoc/completion.awk: these tables; helpdoc/completion.bash: the logic).  Do not edit."
    print ""
    print "_polyws_commands=" q(LIST["CMDS", ""] (HELPCMD ? " help" : ""))
    print "_polyws_top_options=" q(LIST["OPTS", ""])
    print ""
    print "# _polyws_subcommands CMD: the subcommands of CMD (none: nothing)"
    print "_polyws_subcommands() {"
    print "  case $1 in"
    for (j = 1; j <= NORDER["SUBS"]; j++) { c = ORDER["SUBS", j]; print "    " q(c) ") echo " q(LIST["SUBS", c]) " ;;" }
    print "  esac"
    print "}"
    print ""
    print "# _polyws_options KEY: the options of a command (KEY: \"CMD\" or \"CMD SUB\")"
    print "_polyws_options() {"
    print "  case $1 in"
    for (j = 1; j <= NORDER["OPTS"]; j++) { c = ORDER["OPTS", j]; if (c != "") print "    " q(c) ") echo " q(LIST["OPTS", c]) " ;;" }
    print "  esac"
    print "}"
    print ""
    print "# _polyws_argkind KEY OPTION: the kind of the option's argument; status 1 if it takes none"
    print "_polyws_argkind() {"
    print "  case \"$1|$2\" in"
    for (j = 1; j <= NORDER["OPTS"]; j++) {
        c = ORDER["OPTS", j]; n = split(LIST["OPTS", c], w, " ")
        for (i = 1; i <= n; i++) if ((c, w[i]) in KINDOF) print "    " q(c "|" w[i]) ") echo " q(KINDOF[c, w[i]]) " ;;"
    }
    print "    *) return 1 ;;"
    print "  esac"
    print "}"
    print ""
    print "# _polyws_operands KEY: the kind of a command's operands"
    print "_polyws_operands() {"
    print "  case $1 in"
    for (j = 1; j <= NPOS; j++) print "    " q(PORDER[j]) ") echo " q(POSKIND[PORDER[j]]) " ;;"
    print "    *) echo none ;;"
    print "  esac"
    print "}"
}

# q(s): s in single quotes for bash.
function q(s) { gsub(/'/, "'\\''", s); return "'" s "'" }
