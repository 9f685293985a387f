#!/usr/bin/env bash
# The install test (CTest: install.consumers; docs/install.md): installs a build of vmux into a
# fresh prefix, as a user would, and checks that a program builds against it and runs, four
# ways: the shared and the static library, each with pkg-config and with CMake.
#
#   test_install.sh BUILD_DIR CONFIG
#
# The environment (set by tests/install/CMakeLists.txt) names the tools and the layout:
# VMUX_INSTALL_CC, VMUX_INSTALL_CMAKE, VMUX_INSTALL_PKG_CONFIG, VMUX_INSTALL_LIBDIR,
# VMUX_INSTALL_INCLUDEDIR, VMUX_INSTALL_DOCDIR (relative to the prefix), VMUX_INSTALL_SONAME (the
# shared library's SONAME, libvmux.so.0.MINOR for a 0.x release), VMUX_INSTALL_SANITIZE
# (the build's VMUX_SANITIZE: a program linking a sanitized libvmux must be built with the same
# -fsanitize) and VMUX_TEST_STATE_DIR, where the "plain" fixture server's port is.
#
# What it proves:
# - the installed public headers pull in no header of hiredis, libuv or OpenSSL;
# - the library does not use hiredis: libvmux.so does not need it and neither library imports a
#   redis* or sds* symbol, `pkg-config --static --libs vmux` has no -lhiredis, and no program
#   built below needs libhiredis;
# - `pkg-config --cflags vmux` is exactly -I<prefix>/include and `pkg-config --libs vmux`
#   exactly -L<prefix>/lib -lvmux, and those flags alone build the shared program;
# - `pkg-config --static --libs vmux` links libvmux.a (named as the archive, since the linker
#   prefers libvmux.so beside it) with everything it needs;
# - find_package(vmux) loads and vmux::vmux builds and links with the dependencies' development
#   files hidden (no pkg-config module for libuv, no OpenSSL), in which case
#   vmux::vmux_static is absent and find_package(vmux COMPONENTS static) fails; and
#   vmux::vmux_static links when they are there;
# - each of the four programs runs a PING and a SET/GET against a real server;
# - the examples and the documentation are installed under share/doc/vmux, their relative
#   links (but to lib/ and tests/, which are not installed) name installed files, and the examples
#   compile against the installed headers with the pkg-config flags alone.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR CONFIG" >&2
    exit 2
fi
build=$1
config_type=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cc=${VMUX_INSTALL_CC:?}
cmake=${VMUX_INSTALL_CMAKE:?}
pkg_config=${VMUX_INSTALL_PKG_CONFIG:?}
libdir_rel=${VMUX_INSTALL_LIBDIR:?}
soname=${VMUX_INSTALL_SONAME:?}
includedir_rel=${VMUX_INSTALL_INCLUDEDIR:?}
docdir_rel=${VMUX_INSTALL_DOCDIR:?}
state=${VMUX_TEST_STATE_DIR:?}

fail() {
    echo "install test: FAILED: $*" >&2
    exit 1
}
step() { echo "== $*"; }

for rel in "$libdir_rel" "$includedir_rel" "$docdir_rel"; do
    case $rel in
    /*) fail "the build installs into the absolute directory $rel, outside any prefix" ;;
    esac
done

san_flags=()
if [ -n "${VMUX_INSTALL_SANITIZE:-}" ]; then
    san_flags=("-fsanitize=$VMUX_INSTALL_SANITIZE" -fno-omit-frame-pointer)
fi
port=$(cat "$state/plain.port")
server="127.0.0.1:$port"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmux-install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
libdir=$prefix/$libdir_rel
includedir=$prefix/$includedir_rel
docdir=$prefix/$docdir_rel
# Each program names its key after this, so that runs in parallel do not meet.
run_id=$$

step "cmake --install $build --prefix $prefix"
"$cmake" --install "$build" --config "$config_type" --prefix "$prefix" >"$tmp/install.log" ||
    {
        cat "$tmp/install.log" >&2
        fail "cmake --install"
    }
for f in "$includedir/vmux/vmux.h" "$libdir/$soname" "$libdir/libvmux.a" \
    "$libdir/pkgconfig/vmux.pc" "$libdir/cmake/vmux/vmuxConfig.cmake" \
    "$libdir/cmake/vmux/vmuxStaticTargets.cmake" "$docdir/README.md" "$docdir/CHANGES.md" \
    "$docdir/docs/README.md" "$docdir/docs/install.md" "$docdir/examples/hello.c"; do
    [ -f "$f" ] || fail "the install has no ${f#"$prefix"/}"
done

step "the installed pages' relative links name installed files"
# (the API reference, when Doxygen built it, is linked at share/doc/vmux/api/, not in a build tree)
# Without Doxygen (VMUX_BUILD_DOCS=AUTO and none found) no reference is installed, and its links
# keep pointing into the build tree.
no_reference=0
[ -d "$docdir/api" ] || no_reference=1
broken=0
for page in "$docdir"/README.md "$docdir"/docs/*.md "$docdir"/docs/patterns/*.md; do
    dir=$(dirname "$page")
    while read -r target; do
        case $target in
        '' | http* | mailto* | ../lib/* | ../tests/* | lib/* | tests/* | ../../lib/* | ../../tests/*) continue ;;
        ../build/docs/reference/* | ../../build/docs/reference/* | build/docs/reference/*)
            if [ "$no_reference" = 1 ]; then continue; fi ;;
        esac
        [ -e "$dir/$target" ] || [ -e "$dir/${target%/}" ] || {
            echo "  ${page#"$prefix"/}: $target" >&2
            broken=$((broken + 1))
        }
    done < <(grep -o '](\([^): ]*\))' "$page" | sed 's/^](//; s/)$//; s/#.*//' | sort -u)
done
[ "$broken" -eq 0 ] || fail "$broken relative links of the installed pages name nothing installed"

step "the public headers include no dependency's headers"
"$cc" -std=c11 -M -I"$includedir" -x c "$includedir/vmux/vmux.h" >"$tmp/deps" ||
    fail "vmux/vmux.h does not preprocess with -I$includedir alone"
if grep -E '/(hiredis|uv|openssl)(/|[-.a-z]*\.h)' "$tmp/deps"; then
    fail "<vmux/vmux.h> includes the headers above"
fi

step "the library does not use hiredis"
# hiredis's formatter called sds* through the PLT, and so a program's own sds* functions: the
# library formats commands itself (lib/core/format.c) and links no hiredis at all.
readelf -d "$libdir/$soname" >"$tmp/dynamic"
if grep 'NEEDED.*hiredis' "$tmp/dynamic"; then
    fail "$soname needs hiredis"
fi
for lib in "$libdir/$soname" "$libdir/libvmux.a"; do
    if nm -D --undefined-only "$lib" 2>/dev/null | grep -E ' (redis|sds)' ||
        nm --undefined-only "$lib" 2>/dev/null | grep -E ' (redis|sds)'; then
        fail "${lib##*/} imports the redis*/sds* symbols above"
    fi
done

# Runs a built program against the fixture server, and checks its dynamic section: the shared
# builds must need the library's SONAME, the static ones must not, and none needs hiredis.
check_program() {
    local exe=$1 name=$2 link=$3
    readelf -d "$exe" >"$tmp/dynamic"
    if grep 'NEEDED.*hiredis' "$tmp/dynamic"; then
        fail "$name needs hiredis"
    fi
    if [ "$link" = shared ]; then
        grep -qF "[$soname]" "$tmp/dynamic" || fail "$name does not need $soname"
    elif grep -q 'NEEDED.*libvmux' "$tmp/dynamic"; then
        fail "$name, linked statically, needs a shared libvmux"
    fi
    "$exe" "$server" "$name-$run_id" || fail "$name did not run"
}

step "pkg-config: the flags"
export PKG_CONFIG_PATH=$libdir/pkgconfig
# pkg-config's output, without the space that pkgconf ends it with.
pc() {
    local out
    out=$("$pkg_config" "$@") || fail "pkg-config $*"
    printf '%s' "${out%"${out##*[![:space:]]}"}"
}
cflags=$(pc --cflags vmux)
libs=$(pc --libs vmux)
static_cflags=$(pc --static --cflags vmux)
static_libs=$(pc --static --libs vmux)
echo "--cflags: $cflags"
echo "--libs: $libs"
echo "--static --libs: $static_libs"
[ "$cflags" = "-I$includedir" ] || fail "pkg-config --cflags vmux should be -I$includedir alone"
[ "$static_cflags" = "-I$includedir" ] ||
    fail "pkg-config --static --cflags vmux should be -I$includedir alone"
[ "$libs" = "-L$libdir -lvmux" ] || fail "pkg-config --libs vmux should be -L$libdir -lvmux alone"
case " $static_libs " in
*" -L$libdir -lvmux "*) ;;
*) fail "pkg-config --static --libs vmux does not start with -L$libdir -lvmux" ;;
esac
case " $static_libs " in
*" -lhiredis "*) fail "pkg-config --static --libs vmux has -lhiredis: the library does not use it" ;;
esac

step "pkg-config: the installed examples compile with those flags alone"
for ex in "$docdir"/examples/*.c; do
    # shellcheck disable=SC2086 # the flags are words
    "$cc" -std=c11 -Wall -Wextra -Werror -fsyntax-only $cflags "$ex" ||
        fail "the installed example ${ex##*/} does not compile"
done

step "pkg-config: shared, with an rpath"
# shellcheck disable=SC2086
"$cc" "${san_flags[@]}" -std=c11 -Wall -Wextra -Werror $cflags "$here/consumer.c" \
    -o "$tmp/pc-shared" $libs -Wl,-rpath,"$libdir" || fail "the shared pkg-config build"
check_program "$tmp/pc-shared" pkg-config-shared shared

step "pkg-config: static"
# shellcheck disable=SC2086
"$cc" "${san_flags[@]}" -std=c11 -Wall -Wextra -Werror $static_cflags "$here/consumer.c" \
    -o "$tmp/pc-static" ${static_libs/ -lvmux / -l:libvmux.a } || fail "the static pkg-config build"
check_program "$tmp/pc-static" pkg-config-static static

cmake_consumer() {
    local dir=$1
    shift
    "$cmake" -S "$here/cmake-consumer" -B "$dir" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="${san_flags[*]}" \
        -DCMAKE_EXE_LINKER_FLAGS="${san_flags[*]}" -DCONSUMER_SOURCE="$here/consumer.c" "$@" ||
        return 1
    grep -qx "vmux_DIR:PATH=$libdir/cmake/vmux" "$dir/CMakeCache.txt" ||
        fail "find_package(vmux) found another vmux: $(grep vmux_DIR "$dir/CMakeCache.txt")"
    "$cmake" --build "$dir"
}

step "CMake: vmux::vmux, with the dependencies' development files hidden"
mkdir "$tmp/no-pkgconfig"
(
    unset PKG_CONFIG_PATH
    export PKG_CONFIG_LIBDIR=$tmp/no-pkgconfig
    cmake_consumer "$tmp/cmake-shared" -DCONSUMER_LINK=shared -DCONSUMER_EXPECT_NO_STATIC=ON \
        -DCMAKE_DISABLE_FIND_PACKAGE_OpenSSL=ON
) || fail "the shared CMake build"
check_program "$tmp/cmake-shared/consumer" cmake-shared shared

step "CMake: vmux::vmux_static"
cmake_consumer "$tmp/cmake-static" -DCONSUMER_LINK=static || fail "the static CMake build"
check_program "$tmp/cmake-static/consumer" cmake-static static

echo "install test: passed"
