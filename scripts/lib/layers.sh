#!/usr/bin/env bash
# Checks that the layers of lib/ call only downward: no file in lib/<layer>/ includes a header of
# a layer above it, and no file outside lib/mux includes the handle's internals (mux/mux.h).
# Prints each violation as file:line and exits non-zero when there is one.
#
#   scripts/lib/layers.sh [ROOT]      ROOT: the source tree (default: this script's tree)
#
# The order, from the top: patterns, api, mux, route, net, core (docs/architecture.md). A layer
# may include its own headers and those of any layer below it.
set -euo pipefail

root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

layers=(core net route mux api patterns) # bottom first: the index is the height

# Headers private to their own directory: the handle's struct is not for the layers above.
private_headers=(mux/mux.h)

declare -A height
for i in "${!layers[@]}"; do
    height[${layers[$i]}]=$i
done

violations=0

# check_file FILE LAYER: reports each include of a higher layer's or another layer's private header.
check_file() {
    local file=$1 layer=$2 mine lineno target dir h p
    mine=${height[$layer]}
    while IFS=: read -r lineno target; do
        dir=${target%%/*}
        h=${height[$dir]:-}
        [ -n "$h" ] || continue # vmux/, hiredis/: not a layer of lib/
        if [ "$h" -gt "$mine" ]; then
            echo "layers: ${file#"$root"/}:$lineno: $layer includes $target, from the layer above ($dir)"
            violations=$((violations + 1))
        fi
        for p in "${private_headers[@]}"; do
            if [ "$target" = "$p" ] && [ "$dir" != "$layer" ]; then
                echo "layers: ${file#"$root"/}:$lineno: $target is private to lib/$dir"
                violations=$((violations + 1))
            fi
        done
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" |
        sed 's/^\([0-9]*\):[^"]*"\([^"]*\)".*/\1:\2/')
}

for layer in "${layers[@]}"; do
    [ -d "$root/lib/$layer" ] || continue
    for file in "$root/lib/$layer"/*.[ch]; do
        [ -e "$file" ] || continue
        check_file "$file" "$layer"
    done
done

if [ "$violations" -gt 0 ]; then
    echo "layers: $violations include(s) reach upward or into private headers;" \
        "the order is ${layers[*]} (bottom first)" >&2
    exit 1
fi
echo "layers: every include in lib/ points to its own layer or one below"
