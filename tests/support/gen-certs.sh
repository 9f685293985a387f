#!/usr/bin/env bash
# Generates the throwaway certificates of the TLS tests with openssl (none is ever committed).
#
#   gen-certs.sh DIR
#
# DIR receives (keys are EC P-256, unencrypted, mode 600):
#   ca.crt ca.key               the test CA
#   server.crt server.key       server cert signed by the CA, SAN IP:127.0.0.1, DNS:localhost
#   client.crt client.key       client cert signed by the CA (extendedKeyUsage clientAuth)
#   other-ca.crt                an unrelated CA, for "wrong CA" tests
#   other-client.crt/.key       a client cert signed by the unrelated CA (one servers refuse)
#   expired.crt expired.key     like server.crt, but its validity ended in 2020
#   wrongname.crt wrongname.key signed by the CA, SAN DNS:wrong.example.test only
#   ipv6.crt ipv6.key           signed by the CA, SAN IP:::1 only (server.crt does not name ::1)
#   capath/                     the CA alone, as a hashed directory (for sslCaPath)
#
# Idempotent: a complete set that still verifies, and stays valid for another week, is kept.
# Otherwise a new set is made in a temporary directory beside DIR and renamed into place, so a
# reader never sees a half-written set.
set -euo pipefail

readonly DAYS=90
readonly KEEP_SECONDS=$((7 * 24 * 3600))
readonly FILES="ca.crt ca.key server.crt server.key client.crt client.key other-ca.crt
other-client.crt other-client.key expired.crt expired.key wrongname.crt wrongname.key ipv6.crt ipv6.key"

die() {
    echo "gen-certs: $*" >&2
    exit 1
}

# True when DIR holds a whole set whose certificates chain to its CA and are not about to expire
# (and whose expired certificate is still expired).
usable() {
    local dir=$1 f
    for f in $FILES; do
        [ -s "$dir/$f" ] || return 1
    done
    openssl verify -no-CAfile -no-CAstore -CApath "$dir/capath" "$dir/server.crt" \
        >/dev/null 2>&1 || return 1
    openssl verify -CAfile "$dir/ca.crt" "$dir/server.crt" "$dir/client.crt" \
        "$dir/wrongname.crt" "$dir/ipv6.crt" >/dev/null 2>&1 || return 1
    openssl verify -CAfile "$dir/other-ca.crt" "$dir/other-client.crt" >/dev/null 2>&1 || return 1
    for f in ca server client other-ca other-client wrongname ipv6; do
        openssl x509 -noout -checkend "$KEEP_SECONDS" -in "$dir/$f.crt" >/dev/null || return 1
    done
    ! openssl x509 -noout -checkend 0 -in "$dir/expired.crt" >/dev/null
}

# A minimal openssl configuration, so the result does not depend on the system's openssl.cnf.
write_config() {
    local dir=$1
    cat >"$dir/openssl.cnf" <<EOF
[ req ]
distinguished_name = dn
prompt             = no
[ dn ]
CN = unused
[ ca_ext ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
[ server_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = IP:127.0.0.1, DNS:localhost
authorityKeyIdentifier = keyid
[ wrongname_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:wrong.example.test
authorityKeyIdentifier = keyid
[ ipv6_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = IP:::1
authorityKeyIdentifier = keyid
[ client_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
authorityKeyIdentifier = keyid
# Only for the expired certificate: "openssl x509 -days" cannot reach into the past, while
# "openssl ca" takes explicit start and end dates.
[ ca ]
default_ca = test_ca
[ test_ca ]
dir              = $dir/ca-db
database         = \$dir/index.txt
serial           = \$dir/serial
new_certs_dir    = \$dir
certificate      = $dir/ca.crt
private_key      = $dir/ca.key
default_md       = sha256
policy           = any
unique_subject   = no
copy_extensions  = none
[ any ]
commonName       = supplied
EOF
    mkdir "$dir/ca-db"
    : >"$dir/ca-db/index.txt"
    openssl rand -hex 8 >"$dir/ca-db/serial"
}

newkey() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
    chmod 600 "$1"
}

# self_signed_ca DIR NAME CN: NAME.key and a self-signed NAME.crt with CA extensions.
self_signed_ca() {
    local dir=$1 name=$2 cn=$3
    newkey "$dir/$name.key"
    openssl req -config "$dir/openssl.cnf" -new -x509 -key "$dir/$name.key" -subj "/CN=$cn" \
        -days "$DAYS" -sha256 -extensions ca_ext -set_serial "0x$(openssl rand -hex 8)" \
        -out "$dir/$name.crt"
}

# signed DIR NAME CN EXT [CA]: NAME.key and NAME.crt signed by DIR's CA (default "ca") with
# extension section EXT.
signed() {
    local dir=$1 name=$2 cn=$3 ext=$4 ca=${5:-ca}
    newkey "$dir/$name.key"
    openssl req -config "$dir/openssl.cnf" -new -key "$dir/$name.key" -subj "/CN=$cn" \
        -out "$dir/$name.csr"
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.crt" -CAkey "$dir/$ca.key" \
        -set_serial "0x$(openssl rand -hex 8)" -days "$DAYS" -sha256 \
        -extfile "$dir/openssl.cnf" -extensions "$ext" -out "$dir/$name.crt" 2>/dev/null
}

# A server certificate like server.crt whose validity ended long ago.
expired() {
    local dir=$1
    newkey "$dir/expired.key"
    openssl req -config "$dir/openssl.cnf" -new -key "$dir/expired.key" -subj "/CN=expired" \
        -out "$dir/expired.csr"
    openssl ca -config "$dir/openssl.cnf" -batch -notext -in "$dir/expired.csr" \
        -startdate 20200101000000Z -enddate 20200102000000Z -extfile "$dir/openssl.cnf" \
        -extensions server_ext -out "$dir/expired.crt" 2>/dev/null
}

generate() {
    local dir=$1
    write_config "$dir"
    self_signed_ca "$dir" ca "vmux test CA"
    self_signed_ca "$dir" other-ca "vmux unrelated test CA"
    signed "$dir" other-client vmux-untrusted-client client_ext other-ca
    rm -f "$dir/other-ca.key" # nothing else is signed by it
    signed "$dir" server localhost server_ext
    signed "$dir" client vmux-test-client client_ext
    signed "$dir" wrongname wrong.example.test wrongname_ext
    signed "$dir" ipv6 ipv6-loopback ipv6_ext
    expired "$dir"
    # The <subject hash>.0 name is what a hashed CA directory (openssl rehash) holds.
    mkdir "$dir/capath"
    cp "$dir/ca.crt" "$dir/capath/$(openssl x509 -noout -subject_hash -in "$dir/ca.crt").0"
    rm -rf "$dir/ca-db" "$dir"/*.csr "$dir/openssl.cnf"
    usable "$dir" || die "the generated set in $dir does not verify"
}

[ $# -eq 1 ] || die "usage: $0 DIR"
command -v openssl >/dev/null || die "openssl is not installed"
target=$1
mkdir -p "$(dirname "$target")"
target=$(cd "$(dirname "$target")" && pwd)/$(basename "$target")
if usable "$target"; then
    echo "gen-certs: $target is up to date"
    exit 0
fi

tmp=$(mktemp -d "$target.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
generate "$tmp"
chmod 755 "$tmp"
# rename() cannot replace a non-empty directory: move a stale set aside first.
if [ -e "$target" ]; then
    old=$(mktemp -d "$target.old.XXXXXX")
    mv -T "$target" "$old/set"
    mv -T "$tmp" "$target"
    rm -rf "$old"
else
    mv -T "$tmp" "$target"
fi
echo "gen-certs: new certificates in $target"
