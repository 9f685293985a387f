#!/usr/bin/env bash
# Starts and stops throwaway valkey-server instances for the tests, on free loopback ports.
#
#   valkey-fixture.sh start NAME STATEDIR [extra valkey-server args...]
#   valkey-fixture.sh start-tls NAME STATEDIR CERTDIR CERT AUTHCLIENTS [extra valkey-server args...]
#   valkey-fixture.sh stop NAME STATEDIR
#
# start leaves STATEDIR/NAME.pid, NAME.log, NAME.d/ (the server's dir) and NAME.port (written
# last and atomically, so a reader never sees a half-written port). Running start again first
# stops a server left over from an earlier run. Only 127.0.0.1 is ever used.
#
# start-tls starts a TLS-only server (--port 0, --tls-port on the chosen port) that serves
# CERTDIR/CERT.crt with CERTDIR/CERT.key, trusts CERTDIR/ca.crt for client certificates, and
# runs with tls-auth-clients AUTHCLIENTS (yes, no or optional). CERTDIR is made by
# gen-certs.sh. NAME.port then holds the TLS port.
set -euo pipefail

readonly PORT_MIN=20000
readonly PORT_SPAN=25001 # ports 20000..45000
readonly TRIES=20
readonly START_DEADLINE_S=15
readonly STOP_DEADLINE_S=10

die() {
    echo "valkey-fixture: $*" >&2
    exit 1
}

# True when pid names a live process (a zombie counts as gone: it no longer serves anything).
alive() {
    local pid=$1 state
    kill -0 "$pid" 2>/dev/null || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [ "$state" != Z ]
}

# Reads a pid from a pidfile; prints nothing when the file is missing or does not hold a number.
read_pid() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    case $pid in
    '' | *[!0-9]*) return 0 ;;
    esac
    printf '%s\n' "$pid"
}

# True when something already accepts connections on the port.
port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# valkey-cli's TLS options for a start-tls server (empty for a plain one); set by start_tls.
CLI_TLS=()

cli() {
    local port=$1
    shift
    timeout 5 valkey-cli -h 127.0.0.1 -p "$port" --no-auth-warning "${CLI_TLS[@]}" "$@" 2>/dev/null
}

# Waits until the server with pid file $2 answers PING on port $1 and is the one that answers
# (INFO's process_id matches), so a port taken by another process is never reported as ours.
wait_up() {
    local port=$1 pidfile=$2 deadline=$((SECONDS + START_DEADLINE_S)) pid ping
    while [ $SECONDS -lt $deadline ]; do
        pid=$(read_pid "$pidfile")
        if [ -n "$pid" ]; then
            alive "$pid" || return 1
            ping=$(cli "$port" ping || true)
            if [ "$ping" = PONG ] &&
                cli "$port" info server | tr -d '\r' | grep -qx "process_id:$pid"; then
                return 0
            fi
        fi
        sleep 0.05
    done
    return 1
}

# Terminates the server named by a pid file (TERM, then KILL) and waits until it is gone.
kill_server() {
    local pidfile=$1 pid deadline
    pid=$(read_pid "$pidfile")
    if [ -n "$pid" ] && alive "$pid" && grep -q valkey "/proc/$pid/comm" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + STOP_DEADLINE_S))
        while alive "$pid" && [ $SECONDS -lt $deadline ]; do
            sleep 0.05
        done
        if alive "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
            deadline=$((SECONDS + STOP_DEADLINE_S))
            while alive "$pid" && [ $SECONDS -lt $deadline ]; do
                sleep 0.05
            done
        fi
        alive "$pid" && die "server $pid ($pidfile) would not stop"
    fi
    rm -f "$pidfile"
}

# start NAME STATEDIR [args...]: a plain server; with TLS_ARGS set (by start_tls), a TLS one.
TLS_ARGS=()

start() {
    local name=$1 dir=$2 port try listen
    shift 2
    mkdir -p "$dir/$name.d"
    dir=$(cd "$dir" && pwd)
    stop "$name" "$dir"
    for try in $(seq "$TRIES"); do
        port=$((PORT_MIN + RANDOM % PORT_SPAN))
        port_busy "$port" && continue
        : >"$dir/$name.log"
        if [ ${#TLS_ARGS[@]} -gt 0 ]; then
            listen=(--port 0 --tls-port "$port" "${TLS_ARGS[@]}")
        else
            listen=(--port "$port")
        fi
        valkey-server --bind 127.0.0.1 "${listen[@]}" --save '' --appendonly no \
            --daemonize yes --pidfile "$dir/$name.pid" --logfile "$dir/$name.log" \
            --dir "$dir/$name.d" "$@" || die "valkey-server failed to run (args: $*)"
        if wait_up "$port" "$dir/$name.pid"; then
            printf '%s\n' "$port" >"$dir/$name.port.tmp"
            mv -f "$dir/$name.port.tmp" "$dir/$name.port"
            echo "valkey-fixture: $name is up on 127.0.0.1:$port${TLS_ARGS[0]:+ (TLS)} (pid $(read_pid "$dir/$name.pid"))"
            return 0
        fi
        echo "valkey-fixture: $name did not come up on port $port (try $try):" >&2
        tail -n 3 "$dir/$name.log" >&2 || true
        kill_server "$dir/$name.pid"
    done
    die "could not start $name after $TRIES tries; see $dir/$name.log"
}

start_tls() {
    [ $# -ge 5 ] || die "usage: $0 start-tls NAME STATEDIR CERTDIR CERT AUTHCLIENTS [args...]"
    local name=$1 dir=$2 certs=$3 cert=$4 auth=$5 f
    shift 5
    case $auth in
    yes | no | optional) ;;
    *) die "AUTHCLIENTS must be yes, no or optional, not '$auth'" ;;
    esac
    certs=$(cd "$certs" 2>/dev/null && pwd) || die "no certificate directory $3 (run gen-certs.sh)"
    for f in ca.crt client.crt client.key "$cert.crt" "$cert.key"; do
        [ -s "$certs/$f" ] || die "missing $certs/$f (run gen-certs.sh)"
    done
    TLS_ARGS=(--tls-cert-file "$certs/$cert.crt" --tls-key-file "$certs/$cert.key"
        --tls-ca-cert-file "$certs/ca.crt" --tls-auth-clients "$auth")
    # The readiness check verifies the server against the test CA (and shows a client
    # certificate, which every mode accepts), except for a deliberately expired certificate,
    # which no verifying client accepts: that one is checked without verification.
    CLI_TLS=(--tls --cacert "$certs/ca.crt" --cert "$certs/client.crt" --key "$certs/client.key")
    if ! openssl x509 -noout -checkend 0 -in "$certs/$cert.crt" >/dev/null 2>&1; then
        CLI_TLS+=(--insecure)
    fi
    start "$name" "$dir" "$@"
}

stop() {
    local name=$1 dir=$2
    rm -f "$dir/$name.port" "$dir/$name.port.tmp"
    kill_server "$dir/$name.pid"
}

[ $# -ge 3 ] || die "usage: $0 start|stop NAME STATEDIR [valkey-server args...]"
command -v valkey-server >/dev/null || die "valkey-server is not installed"
case $1 in
start) shift && start "$@" ;;
start-tls) shift && start_tls "$@" ;;
stop) [ $# -eq 3 ] || die "usage: $0 stop NAME STATEDIR" && stop "$2" "$3" ;;
*) die "unknown action '$1' (start, start-tls or stop)" ;;
esac
