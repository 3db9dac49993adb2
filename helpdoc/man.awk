# man.awk - turns a command's `--help` text into a man(7) page.  POSIX awk (mawk, gawk, busybox).
#
#   awk -f man.awk -v page=polyws-watch -v cmd=watch -v summary="..." -v version=0.1.0 \
#       -v date=2024-01-01 -v docdir=/usr/share/doc/polyws -v commands="watch mock ..." \
#       [-v modefile=MODE.txt -v modename="TAPE MODE"] [-v docsfile=DOCS.tsv] HELP.txt > page.1
#
# The help text is the single source: the page cannot say what --help does not.  What the parser
# understands of a help text (everything else is kept as prose):
#   - "usage: polyws ..." and the lines under it that start with "polyws": the SYNOPSIS;
#   - an entry: a line indented 1..MAX_TERM_INDENT columns that starts with "-" (an option), or a
#     single word followed by two or more spaces and text (an argument, a command); lines indented
#     deeper below it continue its description.  A run of entries is a list: OPTIONS if any entry
#     is an option, COMMANDS otherwise.  A prose paragraph directly above a list (no blank line)
#     is that list's heading;
#   - a line starting "Exit status:" and what follows it up to the first line ending with "." (or
#     the entries under it, "  0  ..."): EXIT STATUS;
#   - $NAMES with an underscore, and POLYWS_* names: ENVIRONMENT;
#   - "polyws CMD" and "docs/NAME.md": SEE ALSO;
#   - other indented lines: kept as they are (an example), in the section they fall in.
# modefile is a second help text (e.g. `polyws check --tape X --help`) rendered as a section of
# its own, named modename.  docsfile lists the installed documents (PATH<TAB>TITLE per line) for
# the FILES section of polyws(1).

BEGIN {
    MAX_TERM_INDENT = 8   # an entry starts within this many columns; its description is deeper
    nel = 0
}

{ sub(/\r$/, ""); H[++nh] = $0 }

END {
    if (nh == 0) { print "man.awk: empty help text" > "/dev/stderr"; exit 1 }
    parse(H, nh, 1)
    if (modefile != "") {
        nm = 0
        while ((getline line < modefile) > 0) { sub(/\r$/, "", line); M[++nm] = line }
        close(modefile)
        parse(M, nm, 2)
    }
    for (k = 1; k <= nel; k++) if (ET[k] == "list" || ET[k] == "exit") split_entries(k)
    render()
}

# ---- parsing ----------------------------------------------------------------------------------

function indent_of(s,    i) { i = match(s, /[^ ]/); return i ? i - 1 : -1 }
function trim(s) { sub(/^ +/, "", s); sub(/ +$/, "", s); return s }

function is_entry_start(s,    ind, t) {
    ind = indent_of(s)
    if (ind < 1 || ind > MAX_TERM_INDENT) return 0
    t = substr(s, ind + 1)
    if (t ~ /^-[-A-Za-z0-9]/) return 1
    return t ~ /^[^ ]+   *[^ ]/
}

function newel(doc, type) {
    nel++; ET[nel] = type; ED[nel] = doc; EN[nel] = 0; NE[nel] = 0; HEAD[nel] = 0; ISHEAD[nel] = 0
    return nel
}
function addline(k, s) { EL[k, ++EN[k]] = s }
function addentry(k, s) { NE[k]++; ERAW[k, NE[k]] = s; EIND[k, NE[k]] = indent_of(s); NC[k, NE[k]] = 0 }
function addcont(k, s) { NC[k, NE[k]]++; ECONT[k, NE[k], NC[k, NE[k]]] = s }

# parse(L, n, doc): the lines L[1..n] of help text number doc into elements (usage, prose, pre,
# list, exit) appended to the global element arrays.
function parse(L, n, doc,    i, s, ind, k, state, rest, prev) {
    state = ""; k = 0
    for (i = 1; i <= n; i++) {
        s = L[i]
        gsub(/\t/, "        ", s)
        sub(/ +$/, "", s)
        ind = indent_of(s)
        if (ind < 0) { state = ""; continue }
        if (ind == 0 && tolower(substr(s, 1, 6)) == "usage:") {
            k = newel(doc, "usage"); addline(k, trim(substr(s, 7))); state = "usage"; continue
        }
        if (state == "usage" && ind > 0 && trim(s) ~ /^polyws( |$)/) { addline(k, trim(s)); continue }
        if (ind == 0 && substr(s, 1, 12) == "Exit status:") {
            k = newel(doc, "exit"); rest = trim(substr(s, 13))
            if (rest != "") addline(k, rest)
            state = (rest ~ /\.$/) ? "" : "exit"
            continue
        }
        if (state == "exit" || state == "exitlist") {
            if (is_entry_start(s)) { addentry(k, s); state = "exitlist"; continue }
            if (state == "exitlist" && ind > EIND[k, NE[k]]) { addcont(k, s); continue }
            if (state == "exit" && ind == 0) { addline(k, s); if (s ~ /\.$/) state = ""; continue }
            state = ""
        }
        if (is_entry_start(s)) {
            if (state != "list") {
                prev = k
                k = newel(doc, "list")
                if (state == "prose") { HEAD[k] = prev; ISHEAD[prev] = 1 }
                state = "list"
            }
            addentry(k, s); continue
        }
        if (state == "list" && ind > EIND[k, NE[k]]) { addcont(k, s); continue }
        if (ind > 0) {
            if (state != "pre") { k = newel(doc, "pre"); state = "pre" }
            addline(k, s); continue
        }
        if (state != "prose") { k = newel(doc, "prose"); state = "prose" }
        addline(k, s)
    }
}

# split_entries(k): each entry's term and first description line.  The term ends at the first run
# of two or more spaces; an entry whose term is followed by one space only ("--plan-markets LIST
# the keys' plan") is split at the list's description column (the most common one).
function split_entries(k,    e, j, t, ind, col, votes, best, bestn, c, s) {
    split("", votes)
    for (e = 1; e <= NE[k]; e++) {
        s = ERAW[k, e]; ind = EIND[k, e]; t = substr(s, ind + 1)
        if (match(t, /   */)) votes[ind + RSTART + RLENGTH - 1]++
        for (j = 1; j <= NC[k, e]; j++) votes[indent_of(ECONT[k, e, j])]++
    }
    best = 0; bestn = 0
    for (c in votes) if (votes[c] > bestn || (votes[c] == bestn && c + 0 < best)) { best = c + 0; bestn = votes[c] }
    for (e = 1; e <= NE[k]; e++) {
        s = ERAW[k, e]; ind = EIND[k, e]; t = substr(s, ind + 1)
        if (match(t, /   */)) {
            ETERM[k, e] = substr(t, 1, RSTART - 1); EDESC[k, e] = substr(t, RSTART + RLENGTH)
        } else if (best > ind && length(s) > best && substr(s, best, 1) == " " && substr(s, best + 1, 1) != " " &&
                   substr(s, best + 1) ~ / / && substr(s, best + 1) !~ /^[A-Z][A-Z0-9_.:|\/-]*$/) {
            # (not "--handshake-timeout DURATION": a lone metavar is the term's, the text is below)
            ETERM[k, e] = trim(substr(s, 1, best)); EDESC[k, e] = substr(s, best + 1)
        } else if (t ~ /^-/) {
            # one space and off the column: the options, one argument after each, then the text
            ETERM[k, e] = opt_prefix(t); EDESC[k, e] = substr(t, length(ETERM[k, e]) + 2)
        } else {
            ETERM[k, e] = t; EDESC[k, e] = ""
        }
        if (ETERM[k, e] ~ /^-/) EOPT[k] = 1
    }
}

# ---- roff -------------------------------------------------------------------------------------

# esc(s): text for a roff text line.  Backslashes become \e; a hyphen that starts a word (an option
# such as --key-env or -q, or a minus) and every hyphen in such a word become \- so they copy and
# search as ASCII hyphen-minus; a leading "." or "'" (a control line) is guarded with \&.
function esc(s,    out, i, c, p, n, inopt) {
    out = ""; p = " "; n = length(s); inopt = 0
    for (i = 1; i <= n; i++) {
        c = substr(s, i, 1)
        if (c == "\\") { out = out "\\e"; inopt = 0 }
        else if (c == "-") {
            if (inopt || index(" ([{|,/=\"'`<", p) > 0) { out = out "\\-"; inopt = 1 }
            else out = out "-"
        } else {
            if (inopt && c !~ /[A-Za-z0-9_]/) inopt = 0
            out = out c
        }
        p = c
    }
    if (out ~ /^[.']/) out = "\\&" out
    return out
}

# A macro argument in double quotes ("" stands for a quote inside).
function qarg(s) { s = esc(s); gsub(/"/, "\"\"", s); return "\"" s "\"" }

# tag(term): an entry's tag: options in bold, their arguments in italics, commas plain.
function tag(term,    n, w, i, out, comma) {
    n = split(term, w, " ")
    out = ""
    for (i = 1; i <= n; i++) {
        comma = ""
        if (w[i] ~ /,$/ && length(w[i]) > 1) { comma = ","; w[i] = substr(w[i], 1, length(w[i]) - 1) }
        if (w[i] ~ /^-/ || i == 1) out = out (i > 1 ? " " : "") "\\fB" esc(w[i]) "\\fR" comma
        else out = out " \\fI" esc(w[i]) "\\fR" comma
    }

    return out
}

function emit_lines(k,    j) { for (j = 1; j <= EN[k]; j++) print esc(trim(EL[k, j])) }

function emit_prose(k) { print ".PP"; emit_lines(k) }

function emit_pre(k,    j, min, ind) {
    min = 1000
    for (j = 1; j <= EN[k]; j++) { ind = indent_of(EL[k, j]); if (ind < min) min = ind }
    print ".PP"; print ".RS 4"; print ".nf"
    for (j = 1; j <= EN[k]; j++) print esc(substr(EL[k, j], min + 1))
    print ".fi"; print ".RE"
}

function emit_entry(k, e, suffix,    j) {
    print ".TP"
    print tag(ETERM[k, e])
    if (trim(EDESC[k, e]) != "") print esc(trim(EDESC[k, e]))
    for (j = 1; j <= NC[k, e]; j++) print esc(trim(ECONT[k, e, j]))
    if (suffix != "") print suffix
}

# A heading paragraph: one short line ending with ":" becomes a subsection, otherwise a paragraph.
function emit_heading(k, section,    t) {
    t = trim(EL[k, 1])
    if (EN[k] == 1 && t ~ /:$/ && length(t) <= 40) {
        t = substr(t, 1, length(t) - 1)
        if (toupper(t) != section) print ".SS " qarg(t)
    } else emit_prose(k)
}

function emit_list(k, section,    e, suffix) {
    if (HEAD[k]) emit_heading(HEAD[k], section)
    for (e = 1; e <= NE[k]; e++) {
        suffix = ""
        if (page == "polyws" && index(" " commands " ", " " ETERM[k, e] " "))
            suffix = ".br\nSee \\fBpolyws\\-" esc(ETERM[k, e]) "\\fR(1)."
        emit_entry(k, e, suffix)
    }
}

function emit_el(k, section) {
    if (ET[k] == "prose") emit_prose(k)
    else if (ET[k] == "pre") emit_pre(k)
    else if (ET[k] == "list") emit_list(k, section)
}

# ---- environment ------------------------------------------------------------------------------

# newvars(s): the environment variables s names that no earlier source named, in order, marked
# as named.  A name is $NAME with an underscore in it (not a placeholder such as $VAR) or POLYWS_*.
function newvars(s,    out, v) {
    out = ""
    while (match(s, /\$?[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]/)) {
        v = substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
        if (v !~ /^\$/ && v !~ /^POLYWS_/) continue
        sub(/^\$/, "", v)
        if (v in ENVSEEN) continue
        ENVSEEN[v] = 1; out = out (out == "" ? "" : " ") v
    }
    return out
}
function text_of(k,    j, s) { s = ""; for (j = 1; j <= EN[k]; j++) s = s " " EL[k, j]; return s }
function entry_text(k, e,    j, s) {
    s = ETERM[k, e] " " EDESC[k, e]
    for (j = 1; j <= NC[k, e]; j++) s = s " " ECONT[k, e, j]
    return s
}
function envtag(vars,    n, v, i, out) {
    n = split(vars, v, " "); out = ""
    for (i = 1; i <= n; i++) out = out (i > 1 ? ", " : "") "\\fB" esc(v[i]) "\\fR"
    return out
}

# ---- the page ---------------------------------------------------------------------------------

function render(    k, first, last, title, j, n, w, i, line, vars, e, sect, modes, seealso, docs, s, c, cmds, nd, dl, dp) {
    first = 0; last = 0
    for (k = 1; k <= nel; k++) if (ED[k] == 1 && ET[k] == "list") { if (!first) first = k; last = k }

    title = toupper(page); gsub(/-/, "\\-", title)
    print ".\\\" Generated from `" (cmd == "" ? "polyws" : "polyws " cmd) " --help` by helpdoc/gen.sh: edit the help text, not this page."
    print ".TH \"" title "\" 1 " qarg(date) " " qarg("polyws " version) " \"User Commands\""
    print ".SH NAME"
    print esc(page) " \\- " esc(summary)

    print ".SH SYNOPSIS"
    n = 0
    for (k = 1; k <= nel; k++) if (ET[k] == "usage") for (j = 1; j <= EN[k]; j++) {
        if (n++) print ".br"
        print synopsis_line(EL[k, j])
    }

    # DESCRIPTION: the prose before the first list (all of it if there is no list)
    # (none: a list of commands first is the description, else the summary is)
    print ".SH DESCRIPTION"
    n = 0; sect = ""
    for (k = 1; k <= nel; k++) {
        if (ED[k] != 1 || ISHEAD[k] || (first && k >= first) || (ET[k] != "prose" && ET[k] != "pre")) continue
        emit_el(k, "DESCRIPTION"); n++
    }
    if (!n && first && !EOPT[first]) sect = "COMMANDS"
    else if (!n) { print ".PP"; print esc(toupper(substr(summary, 1, 1)) substr(summary, 2) ".") }
    # OPTIONS / COMMANDS: the lists and the prose between them, in order
    for (k = first; first && k <= last; k++) {
        if (ED[k] != 1 || ISHEAD[k] || ET[k] == "usage" || ET[k] == "exit") continue
        if (ET[k] == "list") {
            s = EOPT[k] ? "OPTIONS" : "COMMANDS"
            if (s != sect) { print ".SH " s; sect = s }
        }
        emit_el(k, sect)
    }
    # a mode of the command with a help text of its own
    if (modefile != "") {
        print ".SH " qarg(modename)
        for (k = 1; k <= nel; k++) if (ED[k] == 2) {
            if (ET[k] == "usage") { for (j = 1; j <= EN[k]; j++) { print ".PP"; print synopsis_line(EL[k, j]) } }
            else if (!ISHEAD[k] && ET[k] != "exit") emit_el(k, modename)
        }
    }
    # EXIT STATUS
    for (k = 1; k <= nel; k++) if (ED[k] == 1 && ET[k] == "exit") {
        print ".SH \"EXIT STATUS\""
        if (EN[k]) emit_prose(k)
        for (e = 1; e <= NE[k]; e++) emit_entry(k, e, "")
    }
    # ENVIRONMENT: entries naming variables, then the prose after the lists that names any (moved
    # here), then the rest (pointing at their section)
    n = 0
    for (k = 1; k <= nel; k++) if (ED[k] == 1 && ET[k] == "list") for (e = 1; e <= NE[k]; e++) {
        vars = newvars(entry_text(k, e))
        if (vars == "") continue
        if (!n++) print ".SH ENVIRONMENT"
        print ".TP"; print envtag(vars)
        print "(" tag(ETERM[k, e]) ") " esc(trim(EDESC[k, e]))
        for (j = 1; j <= NC[k, e]; j++) print esc(trim(ECONT[k, e, j]))
    }
    for (k = last + 1; k <= nel; k++) {
        if (ED[k] != 1 || ET[k] != "prose" || ISHEAD[k]) continue
        vars = newvars(text_of(k))
        if (vars == "") continue
        if (!n++) print ".SH ENVIRONMENT"
        MOVED[k] = 1
        print ".TP"; print envtag(vars); emit_lines(k)
    }
    for (k = 1; k <= nel; k++) {
        if (ET[k] != "prose" && ET[k] != "pre" && ET[k] != "list") continue
        if (ET[k] == "list" && ED[k] == 1) continue
        vars = newvars(ET[k] == "list" ? list_text(k) : text_of(k))
        if (vars == "") continue
        if (!n++) print ".SH ENVIRONMENT"
        print ".TP"; print envtag(vars)
        print "See " (ED[k] == 2 ? toupper(modename) : (first && k > first ? (k > last ? "NOTES" : "OPTIONS") : "DESCRIPTION")) "."
    }
    # NOTES: the prose after the last list
    n = 0
    for (k = last + 1; first && k <= nel; k++) {
        if (ED[k] != 1 || ISHEAD[k] || MOVED[k] || (ET[k] != "prose" && ET[k] != "pre")) continue
        if (!n++) print ".SH NOTES"
        emit_el(k, "NOTES")
    }
    # FILES (polyws(1)): the installed documentation
    if (docsfile != "") {
        nd = 0
        while ((getline line < docsfile) > 0) {
            if (!nd++) { print ".SH FILES" }
            split(line, dl, "\t")
            print ".TP"; print "\\fI" esc(docdir "/" dl[1]) "\\fR"; print esc(dl[2])
        }
        close(docsfile)
    }
    # SEE ALSO: polyws(1), the commands and the documents the help names
    print ".SH \"SEE ALSO\""
    seealso = ""; docs = ""
    if (page != "polyws") seealso = "polyws"
    n = split(commands, cmds, " ")
    for (i = 1; i <= n; i++) {
        if (cmds[i] == cmd) continue
        if (page == "polyws" || mentions("polyws " cmds[i])) seealso = seealso " polyws-" cmds[i]
    }
    n = split(seealso, w, " ")
    for (i = 1; i <= n; i++) print ".BR " esc(w[i]) " (1)" (i < n ? "," : "")
    for (j = 1; j <= nh; j++) { s = H[j]; while (match(s, /docs\/[A-Za-z0-9_.-]+\.md/)) { adddoc(substr(s, RSTART, RLENGTH)); s = substr(s, RSTART + RLENGTH) } }
    for (j = 1; j <= nm; j++) { s = M[j]; while (match(s, /docs\/[A-Za-z0-9_.-]+\.md/)) { adddoc(substr(s, RSTART, RLENGTH)); s = substr(s, RSTART + RLENGTH) } }
    if (ndocs) {
        print ".PP"
        print "The documentation installed in \\fI" esc(docdir) "\\fR:"
        for (i = 1; i <= ndocs; i++) { print ".br"; print "\\fI" esc(docdir "/" DOCS[i]) "\\fR" }
    } else if (page == "polyws") {
        print ".PP"; print "README.md and docs/*.md in \\fI" esc(docdir) "\\fR."
    }
}

function adddoc(d,    i) { for (i = 1; i <= ndocs; i++) if (DOCS[i] == d) return; DOCS[++ndocs] = d }

# mentions(s): whether either help text names s as a word ("polyws mock", not "polyws mockery").
function mentions(s,    j, t) {
    for (j = 1; j <= nh; j++) { t = " " H[j] " "; gsub(/[`'"(),.:;]/, " ", t); if (index(t, " " s " ")) return 1 }
    for (j = 1; j <= nm; j++) { t = " " M[j] " "; gsub(/[`'"(),.:;]/, " ", t); if (index(t, " " s " ")) return 1 }
    return 0
}

# synopsis_line(s): "polyws", the command and a subcommand of it in bold, the rest as it is.
function synopsis_line(s,    n, w, i, out, bold) {
    n = split(s, w, " ")
    out = ""; bold = 1
    for (i = 1; i <= n; i++) {
        if (bold && (w[i] == "polyws" || (i == 2 && w[i] == cmd) || (i == 3 && w[i] ~ /^[a-z][a-z0-9-]*$/ && is_term(w[i]))))
            out = out (i > 1 ? " " : "") "\\fB" esc(w[i]) "\\fR"
        else { bold = 0; out = out (i > 1 ? " " : "") esc(w[i]) }
    }
    return out
}

function is_term(t,    k, e) {
    for (k = 1; k <= nel; k++) if (ET[k] == "list") for (e = 1; e <= NE[k]; e++) if (ETERM[k, e] == t) return 1
    return 0
}

function list_text(k,    e, s) { s = ""; for (e = 1; e <= NE[k]; e++) s = s " " entry_text(k, e); return s }

# opt_prefix(t): the leading options of t, each with at most one argument ("-x, --xray LEVEL" of
# "-x, --xray LEVEL Level of the x ray").
function opt_prefix(t,    n, w, i, out, arg) {
    n = split(t, w, " "); out = ""; arg = 0
    for (i = 1; i <= n; i++) {
        if (w[i] ~ /^-/) arg = 0
        else if (arg++ || i == 1) break
        out = out (i > 1 ? " " : "") w[i]
    }
    return out
}
