#!/usr/bin/env bash
# Runs one example (examples/) with a password in its configuration URL, prints what it printed,
# and fails if the password shows anywhere in it, stdout or stderr: an example shows its
# configuration only as vmux_config_to_string() writes it, the password masked.
#
#   example-masked.sh EXAMPLE PORTFILE   as the "plain" fixture's ACL user (tests/CMakeLists.txt)
#                                        on 127.0.0.1:$(cat PORTFILE); the example must succeed
#   example-masked.sh EXAMPLE --closed   the same URL with port 1, where nothing listens; the
#                                        example must fail, and its error line is what is checked
set -uo pipefail

readonly USER_NAME=vmuxtest PASSWORD=vmuxpass
example=$1 where=$2
if [ "$where" = --closed ]; then
    config="valkey://$USER_NAME:$PASSWORD@127.0.0.1:1?connectRetry=1&connectTimeout=2000"
else
    config="valkey://$USER_NAME:$PASSWORD@127.0.0.1:$(cat "$where")"
fi

out=$(VMUX_CONFIG=$config "$example" "$config" 2>&1)
rc=$?
printf '%s\n' "$out"
case $out in
*"$PASSWORD"*)
    echo "example-masked: the password appears in what $example printed" >&2
    exit 1
    ;;
esac
if [ "$where" = --closed ] && [ $rc -eq 0 ]; then
    echo "example-masked: $example succeeded against a closed port" >&2
    exit 1
fi
if [ "$where" != --closed ] && [ $rc -ne 0 ]; then
    echo "example-masked: $example failed (exit status $rc)" >&2
    exit 1
fi
exit 0
