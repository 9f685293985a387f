#!/usr/bin/env bash
# Checks the library's symbols against its public headers:
# - the shared library exports exactly the functions its headers declare with VMUX_EXPORT;
# - every other non-static function of the static library carries the internal vmux__ prefix
#   (libuv's uv__ rule), so a reader never mistakes an internal function for API.
# Prints what is wrong and exits non-zero when anything is.
#
#   scripts/lib/symbols.sh ROOT LIBVMUX.so LIBVMUX.a
set -euo pipefail

root=$1 shared=$2 static=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

grep -ho 'VMUX_EXPORT[^;]*' "$root"/include/vmux/*.h | grep -o 'vmux_[a-z0-9_]* *(' |
    tr -d '( ' | sort -u >"$tmp/api"
nm -D --defined-only "$shared" | awk '$2 == "T" {print $3}' | sort -u >"$tmp/exported"
nm -g --defined-only "$static" | awk '$2 == "T" {print $3}' | sort -u >"$tmp/global"

bad=0
if ! diff -u "$tmp/api" "$tmp/exported" >"$tmp/diff"; then
    echo "symbols: the shared library's exports differ from the headers' VMUX_EXPORT functions"
    echo "(- declared but not exported, + exported but not declared):"
    grep '^[-+]vmux' "$tmp/diff" || true
    bad=1
fi
comm -23 "$tmp/global" "$tmp/api" | grep -v '^vmux__' >"$tmp/unprefixed" || true
if [ -s "$tmp/unprefixed" ]; then
    echo "symbols: internal functions without the vmux__ prefix:"
    cat "$tmp/unprefixed"
    bad=1
fi
[ "$bad" = 0 ] && echo "symbols: $(wc -l <"$tmp/api") exported functions, all declared; every internal one is vmux__"
exit "$bad"
