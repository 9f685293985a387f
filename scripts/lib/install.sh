# shellcheck shell=bash
# Installs what vmux needs to build and test, on Debian 12 (bookworm). Sourced by scripts/check
# and scripts/demo. Idempotent: when every package is present it changes nothing, runs no apt
# command and prints one line. valkey 8 comes from bookworm-backports.

# libhiredis-dev is for the tests and the benchmark, which compare with hiredis 0.14: the library
# does not use it.
vmux_install_base_pkgs=(build-essential cmake pkg-config libhiredis-dev libuv1-dev libssl-dev
    libcmocka-dev openssl libasan8 libubsan1 libtsan2 jq doxygen
    clang libclang-rt-14-dev # the fuzz targets: clang, and its libFuzzer runtime (a Recommends)
    locales) # integration.locale compiles de_DE.UTF-8 (localedef) from its sources
vmux_install_bpo_pkgs=(valkey-server valkey-tools valkey-sentinel)

# Prints the packages of "$@" that are not fully installed.
vmux_install_missing() {
    local p
    for p in "$@"; do
        if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
            printf '%s\n' "$p"
        fi
    done
}

# Adds bookworm-backports only when no apt source names it yet (one-line or deb822 format).
vmux_install_ensure_backports() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        if grep -Eq '^[^#]*bookworm-backports' "$f"; then
            return 0
        fi
    done
    echo "install: adding bookworm-backports to the apt sources"
    echo 'deb http://deb.debian.org/debian bookworm-backports main' \
        >/etc/apt/sources.list.d/bookworm-backports.list
}

# Keeps the package's own valkey service from starting: tests start their own servers.
vmux_install_block_services() {
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        vmux_install_policy_added=1
    fi
}

vmux_install_unblock_services() {
    if [ "${vmux_install_policy_added:-0}" = 1 ]; then
        rm -f /usr/sbin/policy-rc.d
    fi
}

vmux_install() {
    local -a miss_base miss_bpo
    mapfile -t miss_base < <(vmux_install_missing "${vmux_install_base_pkgs[@]}")
    mapfile -t miss_bpo < <(vmux_install_missing "${vmux_install_bpo_pkgs[@]}")
    if [ ${#miss_base[@]} -eq 0 ] && [ ${#miss_bpo[@]} -eq 0 ]; then
        echo "install: all build and test packages are present"
        return 0
    fi
    local -a missing=("${miss_base[@]}" "${miss_bpo[@]}")
    echo "install: missing packages: ${missing[*]}"
    if [ "$(id -u)" != 0 ]; then
        echo "install: error: these packages are missing and installing them needs root;" \
            "run as root or install them: ${missing[*]}" >&2
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    vmux_install_ensure_backports
    apt-get update -q || return 1
    vmux_install_block_services
    local rc=0
    if [ ${#miss_base[@]} -gt 0 ]; then
        apt-get install -y -q --no-install-recommends "${miss_base[@]}" || rc=1
    fi
    if [ $rc = 0 ] && [ ${#miss_bpo[@]} -gt 0 ]; then
        apt-get install -y -q --no-install-recommends -t bookworm-backports "${miss_bpo[@]}" || rc=1
    fi
    vmux_install_unblock_services
    if [ $rc != 0 ]; then
        echo "install: error: apt-get install failed" >&2
        return 1
    fi
    # A service started despite policy-rc.d (no init system here, normally) is stopped again.
    local svc
    for svc in valkey-server valkey-sentinel; do
        if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
            systemctl stop "$svc" || true
            systemctl disable "$svc" >/dev/null 2>&1 || true
        fi
    done
    echo "install: done"
}

if ! vmux_install; then
    echo "install: the required packages could not be installed" >&2
    exit 1
fi
