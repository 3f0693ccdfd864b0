# Turns docs/teams-attendance.1.txt (its grammar is described at its top) into
#   mode=c    the --help text as C string literals (build/generated/usage.inc), or
#   mode=man  the man page teams-attendance(1) in roff -man (build/teams-attendance.1).
# Usage: awk -v mode=c|man -v version=X.Y.Z -v out=FILE [-v settings=FILE] -f cli-doc.awk SOURCE
# The "@settings" line stands for the table of settings in src/config.c: in C it is a
# NULL that config_usage() fills at run time; in the man page it is the text in
# settings=FILE (what `settings-doc` prints), read as an "@help environment" block.
# POSIX awk (mawk, gawk, busybox): no gensub, no arrays of arrays.

BEGIN {
    kind = ""; n = 0; nsec = 0; nhelp = 0; name = ""; status = 0
    if (mode != "c" && mode != "man") fail("mode must be c or man")
    if (out == "") fail("out=FILE is required")
}

function fail(msg) {
    print "cli-doc.awk: " msg > "/dev/stderr"
    status = 1
    exit 1
}

# ---- escaping, a character at a time (gsub's "\\" handling differs between awks)

function cstr(s,    r, i, c) {
    r = ""
    for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (c == "\\" || c == "\"" || c == "?") r = r "\\" c
        else r = r c
    }
    return r
}

function roff(s,    r, i, c) {
    r = ""
    for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (c == "\\") r = r "\\e"
        else if (c == "-") r = r "\\-"
        else r = r c
    }
    if (r ~ /^[.']/) r = "\\&" r
    return r
}

function trim(s) {
    sub(/^[ \t]+/, "", s)
    sub(/[ \t]+$/, "", s)
    return s
}

function indent(s) {
    match(s, /^ */)
    return RLENGTH
}

function squeeze(s) {
    gsub(/[ \t]+/, " ", s)
    return trim(s)
}

# Appends text to the man section titled t (sections are printed in a fixed order).
function add(t, text) {
    if (!(t in body)) order[++nsec] = t
    body[t] = body[t] text "\n"
}

# The text inside the heading's parentheses, as a sentence.
function intro(h,    a, b, i) {
    a = index(h, "("); b = 0
    for (i = length(h); i > a; i--) if (substr(h, i, 1) == ")") { b = i; break }
    if (!a || !b) return ""
    h = substr(h, a + 1, b - a - 1)
    return toupper(substr(h, 1, 1)) substr(h, 2) "."
}

# Splits an entry line into tag and description: at the first run of two or more
# spaces, else at the block's description column when a space stands right before
# it; otherwise the whole line is the tag. Sets TAG and DESC.
function split_entry(s, col,    t, p) {
    t = substr(s, 3)
    p = match(t, /[^ ]  +[^ ]/)
    if (p) {
        TAG = substr(t, 1, p)
        DESC = trim(substr(t, p + 1))
        return
    }
    if (col > 0 && length(s) > col && substr(s, col, 1) == " " && substr(s, col + 1, 1) != " ") {
        TAG = trim(substr(s, 1, col))
        DESC = trim(substr(s, col + 1))
        return
    }
    TAG = trim(s); DESC = ""
}

# The description column of a block: the indent of its first continuation line.
function desc_col(    i) {
    for (i = 2; i <= n; i++)
        if (lines[i] != "" && indent(lines[i]) > 2) return indent(lines[i])
    return 0
}

# Entries of a block (from line 2): an entry line indented two spaces and the lines
# indented further that follow it (with commas_join, an entry that ends with a comma
# goes on in the next line too). Fills ETAG[k], EDESC[k]; returns their number.
function entries(commas_join,    i, k, col, l) {
    k = 0; col = desc_col()
    for (i = 2; i <= n; i++) {
        l = lines[i]
        if (trim(l) == "") continue
        if (indent(l) == 2 && commas_join && k > 0 && squeeze(ETAG[k] " " EDESC[k]) ~ /,$/) {
            EDESC[k] = squeeze(EDESC[k] " " l)
        } else if (indent(l) == 2) {
            split_entry(l, col)
            ETAG[++k] = TAG; EDESC[k] = DESC
        } else if (k > 0) {
            EDESC[k] = squeeze(EDESC[k] " " l)
        } else {
            fail("line " lineno[i] ": a continuation line without an entry")
        }
    }
    return k
}

function bold_tag(t,    r, w, i, nw, words) {
    # options and commands in bold, their arguments in italics
    nw = split(t, words, " ")
    r = ""
    for (i = 1; i <= nw; i++) {
        w = words[i]
        if (w ~ /^-/ || w ~ /^\[?--/ || w ~ /^\[?(teams-attendance|run|convert|check|schema)\]?$/)
            r = r (i > 1 ? " " : "") "\\fB" roff(w) "\\fR"
        else if (w ~ /^[A-Z][A-Z.\/|]*[],]*$/)
            r = r (i > 1 ? " " : "") "\\fI" roff(w) "\\fR"
        else
            r = r (i > 1 ? " " : "") roff(w)
    }
    return r
}

function flush_block(    i, k, nk, t, para) {
    if (kind == "") return
    # blank lines at the end of a block belong to no block: --help puts one blank
    # line between its blocks
    while (n > 0 && trim(lines[n]) == "") n--
    if (mode == "c") {
        if (kind ~ /^help /) {
            if (nhelp++) print "\"\\n\"," > out
            for (i = 1; i <= n; i++) print "\"" cstr(lines[i]) "\\n\"," > out
        }
        n = 0; kind = ""
        return
    }
    if (kind == "help usage") {
        nk = entries(0)
        add("SYNOPSIS", ".nf")
        for (k = 1; k <= nk; k++) add("SYNOPSIS", bold_tag(ETAG[k]))
        add("SYNOPSIS", ".fi")
        for (k = 1; k <= nk; k++) {
            if (EDESC[k] == "") continue
            add("COMMANDS", ".TP\n" bold_tag(ETAG[k]) "\n" roff(EDESC[k]))
        }
    } else if (kind == "help options" || kind == "help environment") {
        t = kind == "help options" ? "OPTIONS" : "ENVIRONMENT"
        if (intro(lines[1]) != "") add(t, ".PP\n" roff(intro(lines[1])))
        nk = entries(t == "ENVIRONMENT")
        for (k = 1; k <= nk; k++) {
            if (t == "OPTIONS")
                add(t, ".TP\n" bold_tag(ETAG[k]) "\n" roff(EDESC[k]))
            else
                add(t, ".IP \\(bu 2\n" roff(squeeze(ETAG[k] " " EDESC[k])))
        }
    } else if (kind == "help settings") {
        # an entry line "  NAME ...   what a value looks like, its default", then its
        # help in lines indented further: the help first, the rest in parentheses
        if (intro(lines[1]) != "") add("ENVIRONMENT", ".PP\n" roff(intro(lines[1])))
        nk = 0
        for (i = 2; i <= n; i++) {
            if (trim(lines[i]) == "") continue
            if (indent(lines[i]) == 2) {
                split_entry(lines[i], 0)
                ETAG[++nk] = TAG; EDESC[nk] = DESC; EHELP[nk] = ""
            } else if (nk > 0) {
                EHELP[nk] = squeeze(EHELP[nk] " " lines[i])
            } else {
                fail("line " lineno[i] ": a help line without a setting")
            }
        }
        for (k = 1; k <= nk; k++)
            add("ENVIRONMENT", ".TP\n" bold_tag(ETAG[k]) "\n" \
                roff(EHELP[k] (EDESC[k] != "" ? " (" EDESC[k] ")" : "")))
    } else if (kind == "help exit") {
        t = lines[1]
        sub(/^[^:]*:/, "", t)
        for (i = 2; i <= n; i++) t = t " " lines[i]
        add("EXIT STATUS", roff(squeeze(t)))
    } else if (kind ~ /^man /) {
        t = substr(kind, 5)
        para = 0 # 1 in a paragraph, 2 in a block of lines kept as they are
        for (i = 1; i <= n; i++) {
            if (trim(lines[i]) == "" || (para == 2 && indent(lines[i]) < 2)) {
                if (para == 2) add(t, ".fi\n.RE")
                para = 0
                if (trim(lines[i]) == "") continue
            }
            if (indent(lines[i]) >= 2) {
                if (para != 2) add(t, ".PP\n.RS 4\n.nf")
                add(t, roff(substr(lines[i], 3)))
                para = 2
                continue
            }
            if (!para) add(t, ".PP")
            add(t, roff(lines[i]))
            para = 1
        }
        if (para == 2) add(t, ".fi\n.RE")
    } else {
        fail("unknown block kind \"" kind "\"")
    }
    n = 0; kind = ""
}

# The table of settings: a NULL in C, the generated block in the man page.
function settings_block(    l, got) {
    if (mode == "c") {
        if (nhelp++) print "\"\\n\"," > out
        print "NULL," > out
        return
    }
    if (settings == "") fail("@settings needs -v settings=FILE (what settings-doc prints)")
    kind = "help settings"
    got = 0
    while ((getline l < settings) > 0) {
        lines[++n] = l
        lineno[n] = settings ":" (++got)
    }
    close(settings)
    if (!got) fail("no settings in " settings)
    flush_block()
}

/^#/ { next }

/^@/ {
    flush_block()
    if ($1 == "@name") {
        name = trim(substr($0, 6))
        next
    }
    if ($1 == "@help") {
        if ($2 !~ /^(usage|options|environment|exit)$/) fail("line " NR ": @help takes usage, options, environment or exit")
        kind = "help " $2
        next
    }
    if ($1 == "@man") {
        if (trim(substr($0, 5)) == "") fail("line " NR ": @man needs a title")
        kind = "man " toupper(trim(substr($0, 5)))
        next
    }
    if ($1 == "@settings") {
        settings_block()
        next
    }
    fail("line " NR ": unknown directive " $1)
}

{
    if (kind == "") {
        if (trim($0) != "") fail("line " NR ": text outside a block")
        next
    }
    # a blank line that ends a man-only block is not part of it; in help blocks
    # every line counts, blank ones included
    lines[++n] = $0
    lineno[n] = NR
}

END {
    if (status) exit status
    flush_block()
    if (status) exit status
    if (mode == "c") {
        close(out)
        exit 0
    }
    if (name == "") fail("no @name line")
    print ".\\\" Generated from docs/teams-attendance.1.txt by scripts/cli-doc.awk: edit that file." > out
    print ".TH TEAMS\\-ATTENDANCE 1 \"\" \"teams\\-attendance " version "\" \"User Commands\"" > out
    print ".nh" > out
    print ".ad l" > out
    print ".SH NAME" > out
    print "teams\\-attendance \\- " roff(name) > out
    split("SYNOPSIS DESCRIPTION COMMANDS OPTIONS ENVIRONMENT", first, " ")
    for (i = 1; i <= 5; i++) if (first[i] in body) {
        print ".SH " first[i] > out
        printf "%s", body[first[i]] > out
        done[first[i]] = 1
    }
    if ("EXIT STATUS" in body) {
        print ".SH \"EXIT STATUS\"" > out
        printf "%s", body["EXIT STATUS"] > out
        done["EXIT STATUS"] = 1
    }
    for (i = 1; i <= nsec; i++) if (!(order[i] in done)) {
        t = order[i]
        print (t ~ / / ? ".SH \"" t "\"" : ".SH " t) > out
        printf "%s", body[t] > out
    }
    close(out)
}
