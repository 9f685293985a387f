#!/bin/sh
# Compiles every ```c block of the user-facing docs (README.md, docs/*.md, docs/patterns/*.md)
# against the public headers, so that an example which drifts from include/vmux/*.h fails the
# test docs.snippets (tests/docs/CMakeLists.txt). POSIX sh and awk (mawk): CI installs no python
# (scripts/lib/install.sh).
#
# Each block is one of (docs/testing.md, "Code blocks in the docs"):
#   program   it defines main() (a line that starts with "int main("): compiled on its own and
#             linked against libvmux.
#   unit      it defines functions (a line that starts with "{", the house style's function
#             body; another brace style makes it a fragment, which fails as a nested function):
#             compiled on its own, so it must include what it uses.
#   fragment  anything else: the body of "int vmux_snippet(void) { ... return 0; }", after
#             <stdbool.h>, <stddef.h>, <stdint.h>, <stdio.h>, <stdlib.h>, <string.h> and
#             <vmux/vmux.h>. An excerpt may declare what it does not use, so -Wunused-variable
#             and -Wunused-but-set-variable are off for fragments.
# An HTML comment on the line(s) right before the fence, invisible on the rendered page, says
# what the page gives in prose:
#   <!-- snippet: context DECLARATIONS -->
#             file-scope declarations put before the block (after a fragment's headers, or a
#             unit's own #include lines), e.g. "vmux *m; const char *key;". A program with a
#             context is compiled but not linked: the context declares what the page leaves out.
#   <!-- snippet: skip REASON -->
#             the block is not compiled; the reason is required and printed.
# A directive not followed by a ```c block, an unknown one, or a skip without a reason fails
# the test. Compiler messages name the Markdown file and line (the sources carry #line).
#
#   check_snippets.sh SOURCE_DIR WORK_DIR INCLUDE_DIR LIBRARY CC [CFLAGS...]
set -u

if [ $# -lt 5 ]; then
    echo "usage: $0 SOURCE_DIR WORK_DIR INCLUDE_DIR LIBRARY CC [CFLAGS...]" >&2
    exit 2
fi
src=$1 work=$2 inc=$3 lib=$4 cc=$5
shift 5

rm -rf "$work" && mkdir -p "$work" || exit 2
cd "$src" || exit 2

# Writes block n to $work/n.c and prints "n kind file:line [skip reason]" for each.
extract() {
    awk -v work="$work" '
    function fail(file, line, msg) {
        printf "%s:%d: %s\n", file, line, msg > "/dev/stderr"
        bad = 1
    }
    # A directive must be followed by the fence at once.
    function drop_directive() {
        if (verb != "")
            fail(dir_file, dir_line, "snippet directive not followed by a ```c block")
        verb = ""
        arg = ""
    }
    function emit(    out, i, nhead) {
        if (kind == "skip") {
            printf "%d skip %s:%d %s\n", n, FILENAME, start, reason
            return
        }
        if (body ~ /(^|\n)int[ \t]+main[ \t]*\(/)
            kind = "program"
        else if (body ~ /(^|\n)\{/)
            kind = "unit"
        else
            kind = "fragment"
        out = work "/" n ".c"
        nhead = 0
        if (kind == "fragment") {
            print "#include <stdbool.h>\n#include <stddef.h>\n#include <stdint.h>" > out
            print "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>" > out
            print "#include <vmux/vmux.h>" > out
        } else {
            # A unit keeps its own #include lines first: the context may use them.
            while (nhead < nlines && lines[nhead + 1] ~ /^(#include|[ \t]*$)/)
                nhead++
            printf "#line %d \"%s\"\n", start + 1, FILENAME > out
            for (i = 1; i <= nhead; i++)
                print lines[i] > out
        }
        if (ctx != "")
            printf "#line %d \"%s\"\n%s\n", ctx_line, FILENAME, ctx > out
        if (kind == "fragment")
            print "int vmux_snippet(void);\nint vmux_snippet(void)\n{" > out
        printf "#line %d \"%s\"\n", start + 1 + nhead, FILENAME > out
        for (i = nhead + 1; i <= nlines; i++)
            print lines[i] > out
        if (kind == "fragment")
            print "return 0;\n}" > out
        close(out)
        printf "%d %s%s %s:%d\n", n, kind, ctx != "" ? "+context" : "", FILENAME, start
    }
    # What a page left open: checked at the start of the next page and at the end.
    function check_closed() {
        if (in_dir) {
            fail(dir_file, dir_line, "unterminated snippet directive (no -->)")
            verb = ""
        }
        if (in_block)
            fail(block_file, start, "unterminated ```c block")
        drop_directive()
    }
    FNR == 1 {
        check_closed()
        in_dir = 0
        in_block = 0
        in_other = 0
    }
    # A block in another language (no backtick in its info string) may show a ```c line.
    in_other {
        if ($0 ~ /^(   |  | )?```[ \t]*$/)
            in_other = 0
        next
    }
    in_dir {
        line = $0
        in_dir = !sub(/-->.*/, "", line)
        arg = arg "\n" line
        next
    }
    in_block && /^(   |  | )?```[ \t]*$/ {
        in_block = 0
        emit()
        next
    }
    in_block {
        lines[++nlines] = $0
        body = body $0 "\n"
        next
    }
    /^<!-- snippet:/ {
        drop_directive()
        dir_file = FILENAME
        dir_line = FNR
        line = $0
        sub(/^<!-- snippet:[ \t]*/, "", line)
        in_dir = !sub(/-->.*/, "", line)
        verb = line
        sub(/[ \t].*/, "", verb)
        arg = line
        sub(/^[^ \t]*[ \t]*/, "", arg)
        if (verb != "context" && verb != "skip") {
            fail(FILENAME, FNR, "unknown snippet directive \"" verb "\" (context or skip)")
            verb = ""
        }
        next
    }
    /^(   |  | )?```c[ \t]*$/ {
        n++
        in_block = 1
        block_file = FILENAME
        start = FNR
        nlines = 0
        body = ""
        kind = ""
        ctx = ""
        reason = ""
        if (verb == "skip") {
            kind = "skip"
            reason = arg
            gsub(/^[ \t\n]+|[ \t\n]+$/, "", reason)
            gsub(/[ \t]*\n[ \t]*/, " ", reason)
            if (reason == "")
                fail(FILENAME, FNR, "snippet: skip needs a reason")
        } else if (verb == "context") {
            ctx = arg
            ctx_line = dir_line
        }
        verb = ""
        next
    }
    /^(   |  | )?```[^`]*$/ {
        drop_directive()
        in_other = 1
        next
    }
    { drop_directive() }
    END {
        check_closed()
        exit bad
    }
    ' "$@"
}

pages="README.md"
for f in docs/*.md docs/patterns/*.md; do
    [ -f "$f" ] && pages="$pages $f"
done
# shellcheck disable=SC2086 # the page names hold no spaces
if ! extract $pages >"$work/blocks"; then
    echo "docs.snippets: fix the snippet markup above (docs/testing.md, \"Code blocks in the docs\")" >&2
    exit 1
fi

# Compiles block $1 of kind $2; the compiler flags follow.
compile() {
    b=$1 k=$2
    shift 2
    case $k in
    program) "$cc" "$@" -I"$inc" -o "$work/$b" "$work/$b.c" "$lib" ;;
    fragment*)
        "$cc" "$@" -Wno-unused-variable -Wno-unused-but-set-variable -I"$inc" -c \
            -o "$work/$b.o" "$work/$b.c"
        ;;
    *) "$cc" "$@" -I"$inc" -c -o "$work/$b.o" "$work/$b.c" ;;
    esac
}

total=0 failed=0 skipped=0
while read -r n kind where reason; do
    total=$((total + 1))
    if [ "$kind" = skip ]; then
        skipped=$((skipped + 1))
        echo "SKIP $where: $reason"
    elif compile "$n" "$kind" "$@" >"$work/$n.log" 2>&1; then
        echo "ok   $where ($kind)"
    else
        failed=$((failed + 1))
        echo "FAIL $where ($kind; generated as $work/$n.c):"
        sed 's/^/    /' "$work/$n.log"
    fi
done <"$work/blocks"

echo "docs.snippets: $total blocks, $failed failed, $skipped skipped"
if [ "$total" -eq 0 ]; then
    echo "docs.snippets: no \`\`\`c block under $src: wrong source directory?" >&2
    exit 1
fi
[ "$failed" -eq 0 ]
