#!/usr/bin/env bash
# Starts and stops throwaway valkey-server instances for the tests, on free loopback ports.
#
#   valkey-fixture.sh start NAME STATEDIR [extra valkey-server args...]
#   valkey-fixture.sh start-tls NAME STATEDIR CERTDIR CERT AUTHCLIENTS [extra valkey-server args...]
#   valkey-fixture.sh stop NAME STATEDIR
#   valkey-fixture.sh start-cluster NAME STATEDIR PRIMARIES REPLICAS [extra valkey-server args...]
#   valkey-fixture.sh start-cluster-tls NAME STATEDIR CERTDIR PRIMARIES REPLICAS [extra args...]
#   valkey-fixture.sh stop-cluster NAME STATEDIR
#
# start leaves STATEDIR/NAME.pid, NAME.log, NAME.d/ (the server's dir) and NAME.port (written
# last and atomically, so a reader never sees a half-written port). Running start again first
# stops a server left over from an earlier run. Only 127.0.0.1 is ever used.
#
# start-tls starts a TLS-only server (--port 0, --tls-port on the chosen port) that serves
# CERTDIR/CERT.crt with CERTDIR/CERT.key, trusts CERTDIR/ca.crt for client certificates, and
# runs with tls-auth-clients AUTHCLIENTS (yes, no or optional). CERTDIR is made by
# gen-certs.sh. NAME.port then holds the TLS port.
#
# start-cluster starts PRIMARIES * (1 + REPLICAS) cluster nodes, NAME-n0, NAME-n1... (each a
# server as above, with --cluster-enabled yes, its own nodes.conf in a fresh NAME-nI.d/, a short
# cluster-node-timeout, cluster-require-full-coverage no, and replication that syncs at once and
# pings every second, so replicas show their offset soon), joins them with valkey-cli --cluster
# create, and waits (with a deadline) until every node says cluster_state:ok, knows every node,
# sees every link connected and no node failing, lists every node in CLUSTER SLOTS (replicas
# appear there only once their offset is known), and every replica's link to its primary is up.
# It then writes NAME.ports, one "PORT primary" or "PORT replica" line per node, primaries first,
# and NAME.port (the first primary's port, a seed), both atomically and last. On any failure it
# stops every node it started. Each node's bus port (PORT + 10000) is checked free as well, and
# kept in a range of its own (below).
# start-cluster-tls does the same with TLS-only nodes (--port 0, --tls-port on the chosen port,
# CERTDIR/server.crt, whose names are 127.0.0.1 and localhost, tls-auth-clients yes) that speak
# TLS to each other too (--tls-cluster yes, --tls-replication yes; a node dials its peers with
# CERTDIR/client.crt, as they verify the client certificate), created by valkey-cli --tls with
# the test CA and client certificate. NAME.ports then holds the TLS ports.
# stop-cluster stops every node of NAME, whether or not start-cluster finished.
set -euo pipefail

# Below Linux's ephemeral range (32768..60999), so that no client connection can hold a port a
# node is restarted on: servers 12000..19999; cluster nodes 10000..11999, their buses (port +
# 10000) 20000..21999. The C tests' own servers (servers.c) take 22000..32766.
readonly PORT_MIN=12000
readonly PORT_SPAN=8000
# VMUX_FIXTURE_CLUSTER_PORT_MIN and _SPAN move the cluster nodes' range (a shared machine whose
# users each keep to their own ports); the buses stay 10000 above.
readonly CLUSTER_PORT_MIN=${VMUX_FIXTURE_CLUSTER_PORT_MIN:-10000}
readonly CLUSTER_PORT_SPAN=${VMUX_FIXTURE_CLUSTER_PORT_SPAN:-2000}
readonly TRIES=20
readonly START_DEADLINE_S=15
readonly STOP_DEADLINE_S=10
readonly CLUSTER_DEADLINE_S=90
readonly CLUSTER_NODE_TIMEOUT_MS=2000
readonly CLUSTER_BUS_OFFSET=10000

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
# With BUS_OFFSET set (by start_cluster), the port BUS_OFFSET above the chosen one must be free too.
TLS_ARGS=()
BUS_OFFSET=

start() {
    local name=$1 dir=$2 port try listen
    shift 2
    mkdir -p "$dir/$name.d"
    dir=$(cd "$dir" && pwd)
    stop "$name" "$dir"
    local min=$PORT_MIN span=$PORT_SPAN
    if [ -n "$BUS_OFFSET" ]; then
        min=$CLUSTER_PORT_MIN
        span=$CLUSTER_PORT_SPAN
    fi
    for try in $(seq "$TRIES"); do
        port=$((min + RANDOM % span))
        port_busy "$port" && continue
        [ -n "$BUS_OFFSET" ] && port_busy $((port + BUS_OFFSET)) && continue
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

# ---- clusters ----

# The nodes of cluster NAME that have a pid file (started, or left over), one name per line:
# NAME-n<digits> only, so that cluster "cluster" never takes "cluster-noreplica-n0" for its own.
cluster_nodes() {
    local name=$1 dir=$2 f node
    for f in "$dir/$name"-n*.pid; do
        [ -e "$f" ] || continue
        node=${f##*/}
        node=${node%.pid}
        case ${node#"$name"-n} in
        '' | *[!0-9]*) continue ;;
        esac
        printf '%s\n' "$node"
    done
}

stop_cluster() {
    local name=$1 dir=$2 node
    rm -f "$dir/$name.ports" "$dir/$name.ports.tmp" "$dir/$name.port" "$dir/$name.port.tmp"
    for node in $(cluster_nodes "$name" "$dir"); do
        stop "$node" "$dir"
    done
}

# The value of FIELD in an INFO-style "field:value" reply (CLUSTER INFO, INFO replication).
info_field() {
    tr -d '\r' | sed -n "s/^$1://p"
}

# True when the node on port $1 sees the whole cluster healthy: state ok, all slots, $2 nodes
# known, $3 primaries and $4 replicas among them, every link connected, none failing or in
# handshake, every node listed by CLUSTER SLOTS; and its own replication is up (a primary with $5
# replicas online, a replica whose link to its primary is up).
node_ready() {
    local port=$1 total=$2 primaries=$3 replicas=$4 per=$5 info nodes role
    info=$(cli "$port" cluster info) || return 1
    [ "$(info_field cluster_state <<<"$info")" = ok ] || return 1
    [ "$(info_field cluster_slots_assigned <<<"$info")" = 16384 ] || return 1
    [ "$(info_field cluster_known_nodes <<<"$info")" = "$total" ] || return 1
    nodes=$(cli "$port" cluster nodes | tr -d '\r') || return 1
    [ "$(grep -c . <<<"$nodes")" = "$total" ] || return 1
    [ "$(awk '$3 ~ /(^|,)master(,|$)/' <<<"$nodes" | grep -c .)" = "$primaries" ] || return 1
    [ "$(awk '$3 ~ /(^|,)slave(,|$)/ && $4 != "-"' <<<"$nodes" | grep -c .)" = "$replicas" ] || return 1
    awk '$3 ~ /fail|handshake|noaddr/ || $8 != "connected" {bad = 1} END {exit bad}' <<<"$nodes" ||
        return 1
    # CLUSTER SLOTS lists a replica only once this node has heard of its replication offset; each
    # primary serves one range after create, so the node ids listed are one per node.
    [ "$(cli "$port" cluster slots | grep -cE '^[0-9a-f]{40}$')" = "$total" ] || return 1
    info=$(cli "$port" info replication) || return 1
    role=$(info_field role <<<"$info")
    if [ "$role" = master ]; then
        [ "$(info_field connected_slaves <<<"$info")" = "$per" ]
    else
        [ "$(info_field master_link_status <<<"$info")" = up ]
    fi
}

# Waits until every node in ports ($1, space separated) is node_ready; false at the deadline.
wait_cluster_ready() {
    local ports=$1 total=$2 primaries=$3 per=$4 deadline=$((SECONDS + CLUSTER_DEADLINE_S)) p ok
    while [ $SECONDS -lt $deadline ]; do
        ok=1
        for p in $ports; do
            node_ready "$p" "$total" "$primaries" $((primaries * per)) "$per" || {
                ok=0
                break
            }
        done
        [ $ok = 1 ] && return 0
        sleep 0.1
    done
    return 1
}

# Writes NAME.ports ("PORT primary|replica", primaries first) from what the first node reports,
# then NAME.port (the first primary's port).
write_cluster_ports() {
    local name=$1 dir=$2 port=$3 nodes
    nodes=$(cli "$port" cluster nodes | tr -d '\r') || return 1
    {
        awk '$3 ~ /(^|,)master(,|$)/ {split($2, a, "@"); n = split(a[1], b, ":"); print b[n], "primary"}' <<<"$nodes" | sort -n
        awk '$3 ~ /(^|,)slave(,|$)/ {split($2, a, "@"); n = split(a[1], b, ":"); print b[n], "replica"}' <<<"$nodes" | sort -n
    } >"$dir/$name.ports.tmp"
    mv -f "$dir/$name.ports.tmp" "$dir/$name.ports"
    awk 'NR == 1 {print $1}' "$dir/$name.ports" >"$dir/$name.port.tmp"
    mv -f "$dir/$name.port.tmp" "$dir/$name.port"
}

start_cluster() {
    [ $# -ge 4 ] || die "usage: $0 start-cluster NAME STATEDIR PRIMARIES REPLICAS [args...]"
    local name=$1 dir=$2 primaries=$3 per=$4 total i node ports="" addrs=()
    shift 4
    case "$primaries:$per" in
    *[!0-9:]* | :* | *:) die "PRIMARIES and REPLICAS must be numbers" ;;
    esac
    [ "$primaries" -ge 3 ] || die "a cluster needs at least 3 primaries (valkey-cli --cluster create)"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    stop_cluster "$name" "$dir"
    trap 'stop_cluster "$name" "$dir"' EXIT
    total=$((primaries * (1 + per)))
    BUS_OFFSET=$CLUSTER_BUS_OFFSET
    for ((i = 0; i < total; i++)); do
        node=$name-n$i
        rm -rf "$dir/$node.d"
        start "$node" "$dir" --cluster-enabled yes --cluster-config-file "$dir/$node.d/nodes.conf" \
            --cluster-node-timeout "$CLUSTER_NODE_TIMEOUT_MS" --cluster-require-full-coverage no \
            --repl-diskless-sync-delay 0 --repl-ping-replica-period 1 "$@"
        ports="$ports $(cat "$dir/$node.port")"
        addrs+=("127.0.0.1:$(cat "$dir/$node.port")")
    done
    ports=${ports# }
    if ! timeout 120 valkey-cli "${CLI_TLS[@]}" --cluster create "${addrs[@]}" --cluster-replicas "$per" \
        --cluster-yes >"$dir/$name.create.log" 2>&1; then
        tail -n 20 "$dir/$name.create.log" >&2
        die "valkey-cli --cluster create failed for $name; see $dir/$name.create.log"
    fi
    wait_cluster_ready "$ports" "$total" "$primaries" "$per" ||
        die "cluster $name did not become ready within ${CLUSTER_DEADLINE_S}s (ports:$ports)"
    write_cluster_ports "$name" "$dir" "${ports%% *}" || die "could not read $name's nodes"
    [ "$(grep -c . "$dir/$name.ports")" = "$total" ] || die "cluster $name: wrong node count"
    trap - EXIT
    echo "valkey-fixture: cluster $name is up${TLS_ARGS[0]:+ (TLS)}: $primaries primaries, $per replica(s) each, ports $ports"
}

start_cluster_tls() {
    [ $# -ge 5 ] || die "usage: $0 start-cluster-tls NAME STATEDIR CERTDIR PRIMARIES REPLICAS [args...]"
    local name=$1 dir=$2 certs=$3 f
    shift 3
    certs=$(cd "$certs" 2>/dev/null && pwd) || die "no certificate directory $3 (run gen-certs.sh)"
    for f in ca.crt client.crt client.key server.crt server.key; do
        [ -s "$certs/$f" ] || die "missing $certs/$f (run gen-certs.sh)"
    done
    TLS_ARGS=(--tls-cert-file "$certs/server.crt" --tls-key-file "$certs/server.key"
        --tls-client-cert-file "$certs/client.crt" --tls-client-key-file "$certs/client.key"
        --tls-ca-cert-file "$certs/ca.crt" --tls-auth-clients yes
        --tls-cluster yes --tls-replication yes)
    CLI_TLS=(--tls --cacert "$certs/ca.crt" --cert "$certs/client.crt" --key "$certs/client.key")
    start_cluster "$name" "$dir" "$@"
}

[ $# -ge 3 ] || die "usage: $0 start|stop|start-tls|start-cluster|start-cluster-tls|stop-cluster NAME STATEDIR [...]"
command -v valkey-server >/dev/null || die "valkey-server is not installed"
case $1 in
start) shift && start "$@" ;;
start-tls) shift && start_tls "$@" ;;
stop) [ $# -eq 3 ] || die "usage: $0 stop NAME STATEDIR" && stop "$2" "$3" ;;
start-cluster) shift && start_cluster "$@" ;;
start-cluster-tls) shift && start_cluster_tls "$@" ;;
stop-cluster) [ $# -eq 3 ] || die "usage: $0 stop-cluster NAME STATEDIR" && stop_cluster "$2" "$3" ;;
*) die "unknown action '$1' (start, start-tls, stop, start-cluster, start-cluster-tls or stop-cluster)" ;;
esac
