#!/bin/sh
# docs.index: docs/README.md, the docs' index, names every public header (include/vmux/*.h, in
# its table of headers) and every example (examples/*.c, in its list of examples), so that a
# new one is not left out. Fails naming each one missing. POSIX sh (CI installs no python).
#
#   check_index.sh SOURCE_DIR
set -u

src=$1
index=$src/docs/README.md
missing=0
for f in "$src"/include/vmux/*.h "$src"/examples/*.c; do
    name=$(basename "$f")
    if ! grep -q "\`$name\`" "$index"; then
        echo "docs/README.md does not name \`$name\` (${f#"$src"/})"
        missing=1
    fi
done
[ $missing = 0 ] && echo "docs/README.md names every public header and every example"
exit $missing
