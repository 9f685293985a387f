# Splits Doxygen's man page of one public header (its "X.h.3") into one page per function, as
# libcurl ships one page per function: NAME (the function and its brief), SYNOPSIS (the #include
# and the prototype), DESCRIPTION (the whole comment, as Doxygen rendered it, then the text of
# the named member group the function is in, such as config.h's "Callbacks") and SEE ALSO (the
# header's page). Writes the header's own page too, renamed to page (vmux_X.h, or vmux.h) so that
# it cannot clash with another package's "types.h". Run by reference.cmake:
#
#   awk -v header=vmux/call.h -v page=vmux_call.h -v outdir=DIR -f man3.awk call.h.3
#
# Prints the name of each function page it writes. Exits 1, naming the function, when a function
# has no brief (no first sentence to put in NAME).

function flush_function(    f) {
    if (fname == "")
        return
    if (!(fname in brief) || brief[fname] == "") {
        printf "man3.awk: %s: %s has no brief description\n", header, fname > "/dev/stderr"
        failed = 1
        fname = ""
        return
    }
    f = outdir "/" fname ".3"
    th = th_line
    sub(/^\.TH "[^"]*"/, ".TH \"" fname "\"", th)
    print th > f
    print ".ad l" > f
    print ".nh" > f
    print ".SH NAME" > f
    print fname " \\- " brief[fname] > f
    print ".SH SYNOPSIS" > f
    print ".nf" > f
    print "\\fB#include <" header ">\\fP" > f
    print ".sp" > f
    print proto ";" > f
    print ".fi" > f
    print ".SH DESCRIPTION" > f
    printf "%s", body > f
    if (group[fname] != "") {
        print ".PP" > f
        printf "%s", group[fname] > f
    }
    print ".SH \"SEE ALSO\"" > f
    print "\\fB" page "\\fP(3)" > f
    close(f)
    print fname
    fname = ""
}

BEGIN {
    section = ""
    fname = ""
    pending = ""
    syn = 0
    failed = 0
    hpage = outdir "/" page ".3"
}

# The header's page, renamed; the function pages are cut out of its "Function Documentation".
{
    line = $0
    if (line ~ /^\.TH /) {
        th_line = line
        sub(/^\.TH "[^"]*"/, ".TH \"" page "\"", line)
    } else if (prev == ".SH NAME") {
        sub(/^[^ ]+ \\-/, page " \\-", line)
    }
    print line > hpage
    last = prev
    prev = $0
}

/^\.SH / {
    flush_function()
    section = $0
    sub(/^\.SH "?/, "", section)
    sub(/"? *$/, "", section)
    next
}

# A named member group's text, in the synopsis, comes after its title and before its members'
# ".in +1c": the title is either a subsection (.SS "Callbacks") or, in a section such as
# "Functions", ".RI "\fBTyped setters\fP"", ".br". The latter ends at ".in -1c" twice.
section == "SYNOPSIS" && /^\.SS / {
    gtext = ""
    gcollect = 1
    gnested = 0
    next
}
section == "SYNOPSIS" && /^\.RI "\\fB[^\\]*\\fP"$/ {
    gtext = ""
    gcollect = 1
    gnested = 1
    next
}
section == "SYNOPSIS" && gcollect && /^\.in \+1c$/ {
    gcollect = 0
    sub(/\.PP\n$/, "", gtext)
    next
}
section == "SYNOPSIS" && gcollect {
    if ($0 != ".br" && !(gtext == "" && ($0 == "" || $0 == ".PP")))
        gtext = gtext $0 "\n"
    next
}
section == "SYNOPSIS" && /^\.in -1c$/ {
    if (gnested && last == ".in -1c")
        gtext = ""
    next
}

# In the synopsis: ".RI "int \fBvmux_call\fP (...)"", ".br", ".RI "brief "". A brief may
# itself look like a prototype, so where a line stands is tracked in syn (1: after a prototype,
# 2: after its .br).
section == "SYNOPSIS" && syn == 2 && /^\.RI "/ {
    s = $0
    sub(/^\.RI "/, "", s)
    sub(/ *"$/, "", s)
    brief[pending] = s
    syn = 0
    next
}
section == "SYNOPSIS" && syn == 1 && /^\.br$/ {
    syn = 2
    next
}
section == "SYNOPSIS" && /^\.RI ".*\\fB[A-Za-z0-9_]+\\fP \(/ {
    s = $0
    sub(/ \(.*/, "", s)
    sub(/\\fP$/, "", s)
    sub(/.*\\fB/, "", s)
    pending = s
    group[s] = gtext
    syn = 1
    next
}
section == "SYNOPSIS" {
    syn = 0
    next
}

section == "Function Documentation" && /^\.SS "/ {
    flush_function()
    proto = $0
    sub(/^\.SS "/, "", proto)
    sub(/"$/, "", proto)
    s = proto
    sub(/ \(.*/, "", s)
    sub(/.* /, "", s)
    fname = s
    body = ""
    next
}

section == "Function Documentation" && fname != "" {
    if (body == "" && $0 == "")
        next
    body = body $0 "\n"
}

END {
    flush_function()
    close(hpage)
    exit failed
}
