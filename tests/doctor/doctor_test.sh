#!/usr/bin/env bash
# Runs vmux-doctor --json against the test servers and checks the verdicts it gives.
#
#   doctor_test.sh CASE
#
# Environment (set by CTest, tests/doctor/CMakeLists.txt): DOCTOR (the binary), BLACKHOLE
# (tests/doctor/blackhole.c, a port that drops connections), CHATTER (tests/doctor/chatter.c, a
# port that answers neither RESP nor TLS), STATE (the fixtures' state dir,
# with NAME.port and NAME.ports files), CERTS (the test certificates), FIXTURE
# (tests/support/valkey-fixture.sh, for the servers a case starts itself).
# Each case is one CTest test (doctor.CASE). Checks use jq on the one JSON document.
set -euo pipefail

: "${DOCTOR:?}" "${STATE:?}" "${CERTS:?}" "${FIXTURE:?}"
case_name=${1:?usage: doctor_test.sh CASE}
out=
status=

fail() {
    echo "FAIL ($case_name): $*" >&2
    [ -n "$out" ] && printf '%s\n' "$out" >&2
    exit 1
}

port() { cat "$STATE/$1.port"; }

# Runs the doctor with --json on the configuration $1 (few PINGs: the latency step is checked
# for its figures, not for speed); keeps its output and exit status.
doctor() {
    set +e
    out=$("$DOCTOR" --json --pings 5 "$1")
    status=$?
    set -e
    jq -e . >/dev/null <<<"$out" || fail "the output is not one JSON document"
}

# The field $2 (verdict, detail, hint, or facts.KEY) of the first step named $1.
field() {
    jq -r --arg n "$1" "[.steps[] | select(.name == \$n)][0].$2 // empty" <<<"$out"
}

expect_status() {
    [ "$status" = "$1" ] || fail "exit status $status, expected $1"
    [ "$(jq -r .status <<<"$out")" = "$1" ] || fail "JSON status is not $1"
}

# expect STEP VERDICT...: the step's verdict is one of those given.
expect() {
    local step=$1 got v
    shift
    got=$(field "$step" verdict)
    for v in "$@"; do
        [ "$got" = "$v" ] && return 0
    done
    fail "step $step: verdict \"$got\", expected $*"
}

# expect_in STEP FIELD TEXT: the field contains TEXT.
expect_in() {
    local got
    got=$(field "$1" "$2")
    [[ "$got" == *"$3"* ]] || fail "step $1: $2 \"$got\" does not contain \"$3\""
}

# The session steps of a working standalone server; latency may warn on a loaded machine.
expect_session_ok() {
    local s
    for s in resolve tcp auth server role cluster zone open; do
        expect "$s" ok
    done
    expect latency ok warn
    expect_in latency facts.pings 5
    if [ -z "$(field latency facts.p50_ms)" ] || [ -z "$(field latency facts.p99_ms)" ]; then
        fail "latency: no p50/p99"
    fi
}

expect_skipped_after_tls() {
    local s
    for s in auth server role cluster zone latency open; do
        expect "$s" skipped
    done
}

tls_opts() { # the client certificate the TLS fixtures want, and the CA file $1
    echo "ssl=true,sslCaFile=$CERTS/$1,sslCert=$CERTS/client.crt,sslKey=$CERTS/client.key"
}

# A loopback port where nothing listens (checked just before use): an odd one in 22001..31999,
# below Linux's ephemeral range (32768..60999), so no client connection's source port can be
# it, and apart from the fixtures' ports (10000..21999) and the suites' (even, servers.c). In
# the ephemeral range, a sentinel started on such a port once found it taken (its daemon exited)
# while the check that it answered reached something else: its doctor run was refused.
closed_port() {
    local p
    for _ in $(seq 100); do
        p=$((22001 + 2 * (RANDOM % 5000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    fail "no closed port found"
}

case_usage() {
    local rc
    set +e
    "$DOCTOR" >/dev/null 2>&1
    rc=$?
    [ $rc = 2 ] || fail "no configuration: exit $rc, expected 2"
    "$DOCTOR" --frobnicate 127.0.0.1 >/dev/null 2>&1
    rc=$?
    [ $rc = 2 ] || fail "unknown option: exit $rc, expected 2"
    "$DOCTOR" --pings 0 127.0.0.1 >/dev/null 2>&1
    rc=$?
    [ $rc = 2 ] || fail "--pings 0: exit $rc, expected 2"
    local err
    err=$("$DOCTOR" --json "127.0.0.1:99999" 2>&1 >/dev/null)
    rc=$?
    [ $rc = 2 ] || fail "bad port: exit $rc, expected 2"
    [[ "$err" == *"bad configuration"* ]] || fail "bad port: no clear message ($err)"
    "$DOCTOR" --help >/dev/null
    rc=$?
    [ $rc = 0 ] || fail "--help: exit $rc, expected 0"
    set -e
}

case_plain() {
    doctor "127.0.0.1:$(port plain)"
    expect_status 0
    expect_session_ok
    expect tls skipped
    expect_in auth detail '"default"'
    expect_in role facts.role master
    expect_in server facts.server_name valkey
    [ "$(jq -r .verdict <<<"$out")" != fail ] || fail "overall verdict fail"
    # The text's closing line states what was checked: the doctor never writes.
    local last
    last=$("$DOCTOR" --pings 5 "127.0.0.1:$(port plain)" | tail -n 1)
    # (a loaded machine may make the latency step warn: then the line says "with warnings")
    [[ "$last" == *"everything checked works (connection, TLS, auth, setup, topology; writes not tried)"* ||
        "$last" == *"it works, with warnings"* ]] || fail "closing line: $last"
}

case_acl() {
    doctor "redis://vmuxtest:vmuxpass@127.0.0.1:$(port plain)"
    expect_status 0
    expect_session_ok
    expect_in auth detail '"vmuxtest"'
    expect_in auth facts.password set
}

case_wrong_password() {
    doctor "127.0.0.1:$(port plain),user=vmuxtest,password=not-the-password"
    expect_status 1
    expect tcp ok
    expect auth fail
    expect_in auth detail WRONGPASS
    expect_in auth hint "wrong user name or password"
    for s in server role cluster zone latency open; do
        expect "$s" skipped
    done
    # The password never appears in the report.
    [[ "$out" != *not-the-password* ]] || fail "the password is in the output"
}

case_closed_port() {
    doctor "127.0.0.1:$(closed_port)"
    expect_status 1
    expect resolve ok
    expect tcp fail
    expect_in tcp detail refused
    expect_in tcp hint "nothing listens"
    expect tls skipped
}

# Two endpoints, one a closed port and one the plain fixture: the handle opens on the working
# one, so the closed one is a warning that says so (probe: exit 1, open skipped); with both
# closed, nothing works: a failure.
case_endpoint_down() {
    local closed plain
    closed=$(closed_port)
    plain=$(port plain)
    doctor "127.0.0.1:$closed,127.0.0.1:$plain"
    expect_status 0
    [ "$(field_at tcp "127.0.0.1:$closed" verdict)" = warn ] || fail "tcp on the closed port: not warn"
    [[ "$(field_at tcp "127.0.0.1:$closed" detail)" == *"127.0.0.1:$plain works and the handle opened without it: commands do not need it now"* ]] ||
        fail "tcp on the closed port: the detail does not name the working endpoint"
    expect_in tcp hint "nothing listens"
    [ "$(field_at auth "127.0.0.1:$plain" verdict)" = ok ] || fail "auth on the working endpoint"
    expect open ok
    # In text, the held steps come out in order, and the run ends with warnings.
    local text
    text=$("$DOCTOR" --pings 5 "127.0.0.1:$closed,127.0.0.1:$plain")
    [[ "$(grep -n "tcp      127.0.0.1:$closed" <<<"$text" | cut -d: -f1)" -lt \
        "$(grep -n "tcp      127.0.0.1:$plain" <<<"$text" | cut -d: -f1)" ]] || fail "text: order"
    [[ "$text" == *"[warn] tcp      127.0.0.1:$closed"* ]] || fail "text: the closed port is not a warning"
    # Nothing works: a failure, and the open step is skipped.
    doctor "127.0.0.1:$closed,127.0.0.1:$(closed_port)"
    expect_status 1
    expect tcp fail
    expect open skipped
}

# A port that drops SYNs (blackhole.c): the connect times out, the hint names a blocked path.
case_connect_timeout() {
    local port input
    coproc HOLE { "$BLACKHOLE"; }
    read -r port <&"${HOLE[0]}" || fail "blackhole did not start"
    doctor "127.0.0.1:$port,connectTimeout=500"
    input=${HOLE[1]}
    exec {input}>&- # closing its input ends it
    wait "$HOLE_PID" || true
    expect_status 1
    expect tcp fail
    expect_in tcp detail "timed out"
    expect_in tcp hint "drops the packets"
}

case_tls() {
    doctor "127.0.0.1:$(port plain-tls),$(tls_opts ca.crt),user=vmuxtest,password=vmuxpass"
    expect_status 0
    expect_session_ok
    expect tls ok
    expect_in tls facts.protocol TLSv1.
    expect_in tls facts.verify ok
    expect_in tls facts.names IP:127.0.0.1
    expect_in tls facts.subject CN=
    [ "$(field tls facts.days_left)" -gt 0 ] || fail "tls: days_left not positive"
    expect_in auth detail '"vmuxtest"'
}

case_tls_wrong_ca() {
    doctor "127.0.0.1:$(port plain-tls),$(tls_opts other-ca.crt)"
    expect_status 1
    expect tls fail
    expect_in tls hint "wrong CA"
    expect_in tls facts.issuer "vmux test CA"
    expect_skipped_after_tls
}

case_tls_no_client_cert() {
    doctor "127.0.0.1:$(port plain-tls),ssl=true,sslCaFile=$CERTS/ca.crt"
    expect_status 1
    expect tls fail
    expect_in tls hint "wants a client certificate"
    # A client certificate from a CA the server does not trust.
    doctor "127.0.0.1:$(port plain-tls),ssl=true,sslCaFile=$CERTS/ca.crt,sslCert=$CERTS/other-client.crt,sslKey=$CERTS/other-client.key"
    expect_status 1
    expect tls fail
    expect_in tls hint "refused the client certificate"
}

case_tls_missing_file() {
    doctor "127.0.0.1:$(port plain-tls),$(tls_opts no-such-ca.crt)"
    expect_status 1
    expect tls fail
    expect_in tls detail "cannot read sslCaFile=$CERTS/no-such-ca.crt"
    expect_skipped_after_tls
}

case_tls_off() { # ssl=false against a TLS-only server
    doctor "127.0.0.1:$(port plain-tls)"
    expect_status 1
    expect tcp ok
    expect tls fail
    expect_in tls detail "TLS only"
    expect_in tls hint "ssl=true"
    expect_skipped_after_tls
}

case_tls_on_plain() { # ssl=true against a plain-text server
    doctor "127.0.0.1:$(port plain),ssl=true,sslCaFile=$CERTS/ca.crt"
    expect_status 1
    expect tls fail
    expect_in tls hint "ssl=false"
}

case_tls_expired() {
    doctor "127.0.0.1:$(port tls-expired),ssl=true,sslCaFile=$CERTS/ca.crt"
    expect_status 1
    expect tls fail
    expect_in tls facts.verify "expired"
    expect_in tls hint "expired"
    [ "$(field tls facts.days_left)" -lt 0 ] || fail "tls: days_left not negative"
}

case_tls_wrongname() {
    local conf
    conf="127.0.0.1:$(port tls-wrongname),ssl=true,sslCaFile=$CERTS/ca.crt"
    doctor "$conf"
    expect_status 1
    expect tls fail
    expect_in tls hint wrong.example.test
    # sslVerify=false: the library would connect, so the doctor warns and goes on.
    doctor "$conf,sslVerify=false"
    expect_status 0
    expect tls warn
    expect auth ok
    # sslHost= names the certificate's name: verified.
    doctor "$conf,sslHost=wrong.example.test"
    expect_status 0
    expect tls ok
}

case_cluster() {
    doctor "127.0.0.1:$(port cluster)"
    expect_status 0
    expect cluster ok
    expect_in cluster facts.slots_assigned 16384
    expect_in cluster facts.state ok
    [ "$(field cluster facts.primaries)" = 3 ] || fail "cluster: primaries"
    [ "$(field cluster facts.replicas)" = 3 ] || fail "cluster: replicas"
    expect nodes ok
    expect_in server facts.mode cluster
    expect open ok
    # A replica of the cluster with cluster=no: a port that serves only reads, and MOVED.
    local replica
    replica=$(awk '$2 == "replica" { print $1; exit }' "$STATE/cluster.ports")
    doctor "127.0.0.1:$replica,cluster=no"
    expect_status 0
    expect role warn
    expect_in role facts.role replica
    expect cluster warn
    expect_in cluster hint "cluster=auto"
}

# A standalone replica, started here (the fixtures have none): the doctor warns that writes fail.
case_replica() {
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/vmux-doctor-test.XXXXXX")
    # shellcheck disable=SC2064 # expand dir now
    trap "bash '$FIXTURE' stop drep '$dir' >/dev/null 2>&1 || true; bash '$FIXTURE' stop dprim '$dir' >/dev/null 2>&1 || true; rm -rf '$dir'" EXIT
    bash "$FIXTURE" start dprim "$dir" >/dev/null
    bash "$FIXTURE" start drep "$dir" --replicaof 127.0.0.1 "$(cat "$dir/dprim.port")" >/dev/null
    doctor "127.0.0.1:$(cat "$dir/drep.port")"
    expect_status 0
    expect role warn
    expect_in role hint READONLY
    expect_in role detail "a replica of 127.0.0.1:$(cat "$dir/dprim.port")"
    # Listed with its primary, it is fine: the handle writes to the primary.
    doctor "127.0.0.1:$(cat "$dir/dprim.port"),127.0.0.1:$(cat "$dir/drep.port")"
    expect_status 0
    [ "$(jq '[.steps[] | select(.name == "role" and .verdict == "ok")] | length' <<<"$out")" = 2 ] ||
        fail "role: both endpoints should be ok"
}

# wait_until SECONDS WHAT COMMAND...: polls COMMAND until it succeeds; fails the case, naming
# WHAT, when it has not within SECONDS.
wait_until() {
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@"; do
        [ $SECONDS -lt $deadline ] || fail "not within the deadline: $what"
        sleep 0.05
    done
}

# ping_says PORT CODE: the server on PORT answers PING with the error CODE.
ping_says() { valkey-cli -p "$1" PING 2>&1 | grep -q "^$2"; }

# A server busy in a script (started here, with a short busy-reply-threshold, the script run
# from a connection of its own): the tls step's PING is the first to meet BUSY and says what it
# is; the steps that could check nothing say so, and nothing blames the ACL user.
case_busy() {
    local dir port s
    dir=$(mktemp -d "${TMPDIR:-/tmp}/vmux-doctor-test.XXXXXX")
    # The script only reads, so SCRIPT KILL ends it; then the server can stop.
    # shellcheck disable=SC2064 # expand dir now
    trap "[ -s '$dir/dbusy.port' ] && valkey-cli -p \$(cat '$dir/dbusy.port') SCRIPT KILL >/dev/null 2>&1; bash '$FIXTURE' stop dbusy '$dir' >/dev/null 2>&1 || true; rm -rf '$dir'" EXIT
    bash "$FIXTURE" start dbusy "$dir" --busy-reply-threshold 50 >/dev/null
    port=$(cat "$dir/dbusy.port")
    valkey-cli -p "$port" EVAL "while true do end" 0 >/dev/null 2>&1 &
    wait_until 15 "the server answers BUSY" ping_says "$port" BUSY
    doctor "127.0.0.1:$port"
    expect_status 1
    expect tls fail
    expect_in tls detail "busy running a script"
    expect_in tls hint "SCRIPT KILL"
    expect_in tls hint "FUNCTION KILL"
    expect_in tls facts.server_state BUSY
    expect auth ok
    expect_in auth detail "not checked"
    for s in server role cluster zone latency; do
        expect "$s" skipped
        expect_in "$s" detail "the server is busy: not checked"
    done
    expect open skipped
    [[ "$out" != *"grant +"* ]] || fail "a hint blames the ACL user"
    [[ "$out" != *standalone* ]] || fail "the cluster step guessed standalone"
}

# A server loading its dataset (started here, slowed by key-load-delay, loading from DEBUG
# RELOAD on a connection of its own): the tls step says so; INFO and ROLE still answer, so the
# steps that use them run; the latency step, all PINGs, is not checked.
case_loading() {
    local dir port s
    dir=$(mktemp -d "${TMPDIR:-/tmp}/vmux-doctor-test.XXXXXX")
    # Without the delay the load ends at once; then the server can stop.
    # shellcheck disable=SC2064 # expand dir now
    trap "[ -s '$dir/dload.port' ] && valkey-cli -p \$(cat '$dir/dload.port') CONFIG SET key-load-delay 0 >/dev/null 2>&1; bash '$FIXTURE' stop dload '$dir' >/dev/null 2>&1 || true; rm -rf '$dir'" EXIT
    bash "$FIXTURE" start dload "$dir" --enable-debug-command local \
        --loading-process-events-interval-bytes 1024 >/dev/null
    port=$(cat "$dir/dload.port")
    valkey-cli -p "$port" DEBUG POPULATE 20000 >/dev/null
    valkey-cli -p "$port" CONFIG SET key-load-delay 2000 >/dev/null # 40 s for 20000 keys
    valkey-cli -p "$port" DEBUG RELOAD >/dev/null 2>&1 &
    wait_until 15 "the server answers LOADING" ping_says "$port" LOADING
    doctor "127.0.0.1:$port"
    expect_status 1
    expect tls fail
    expect_in tls detail "loading its dataset"
    expect_in tls hint "wait until it is done"
    expect_in tls facts.server_state LOADING
    for s in auth server role cluster zone; do
        expect "$s" ok
    done
    expect latency skipped
    expect_in latency detail "the server is loading its dataset: not checked"
    expect open skipped
}

# A replica cut off from its primary, with replica-serve-stale-data no (a server started here,
# then made a replica of a port where nothing listens): MASTERDOWN, said once.
case_masterdown() {
    local dir port
    dir=$(mktemp -d "${TMPDIR:-/tmp}/vmux-doctor-test.XXXXXX")
    # shellcheck disable=SC2064 # expand dir now
    trap "bash '$FIXTURE' stop ddown '$dir' >/dev/null 2>&1 || true; rm -rf '$dir'" EXIT
    bash "$FIXTURE" start ddown "$dir" >/dev/null
    port=$(cat "$dir/ddown.port")
    valkey-cli -p "$port" CONFIG SET replica-serve-stale-data no >/dev/null
    valkey-cli -p "$port" REPLICAOF 127.0.0.1 "$(closed_port)" >/dev/null
    wait_until 15 "the replica answers MASTERDOWN" ping_says "$port" MASTERDOWN
    doctor "127.0.0.1:$port"
    expect_status 1
    expect tls fail
    expect_in tls detail "link to its primary is down"
    expect_in tls hint "replica-serve-stale-data yes"
    expect_in tls facts.server_state MASTERDOWN
    expect auth ok
    expect role warn
    expect_in role facts.role replica
    expect latency skipped
    expect_in latency detail "the replica's link to its primary is down: not checked"
}

stopped() { [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = T ]; }

# A server stopped by SIGSTOP (started here): the kernel completes the connection, and nothing
# answers. The tls step says so, with TLS off and on, rather than "not a Valkey server".
case_frozen() {
    local dir port pid
    dir=$(mktemp -d "${TMPDIR:-/tmp}/vmux-doctor-test.XXXXXX")
    # shellcheck disable=SC2064 # expand dir now
    trap "[ -s '$dir/dfrozen.pid' ] && kill -CONT \$(cat '$dir/dfrozen.pid') 2>/dev/null; bash '$FIXTURE' stop dfrozen '$dir' >/dev/null 2>&1 || true; rm -rf '$dir'" EXIT
    bash "$FIXTURE" start dfrozen "$dir" >/dev/null
    port=$(cat "$dir/dfrozen.port")
    pid=$(cat "$dir/dfrozen.pid")
    kill -STOP "$pid"
    wait_until 15 "the server is stopped" stopped "$pid"
    doctor "127.0.0.1:$port,connectTimeout=500"
    expect_status 1
    expect tcp ok
    expect tls fail
    expect_in tls detail "accepted the connection but answered nothing within connectTimeout (500 ms)"
    expect_in tls hint "stopped"
    expect_in tls hint "CLIENT PAUSE"
    expect_in tls hint "FAILOVER"
    expect_skipped_after_tls
    doctor "127.0.0.1:$port,connectTimeout=500,ssl=true"
    expect_status 1
    expect tls fail
    expect_in tls detail "the TLS handshake got no answer"
    expect_in tls hint "stopped"
}

# A port where something else answers (chatter.c, an SSH banner): bytes, but neither RESP nor
# TLS, so the tls step asks whether this is a Valkey server at all (not the silent verdict).
case_not_valkey() {
    local port input
    coproc CHAT { "$CHATTER"; }
    read -r port <&"${CHAT[0]}" || fail "chatter did not start"
    doctor "127.0.0.1:$port,connectTimeout=2000"
    input=${CHAT[1]}
    exec {input}>&- # closing its input ends it
    wait "$CHAT_PID" || true
    expect_status 1
    expect tls fail
    expect_in tls detail "does not answer a plain-text PING, nor a TLS handshake"
    expect_in tls hint "is this port a Valkey server?"
    expect_skipped_after_tls
}

# The field $3 of the step named $1 on the endpoint $2.
field_at() {
    jq -r --arg n "$1" --arg e "$2" \
        "[.steps[] | select(.name == \$n and .endpoint == \$e)][0].$3 // empty" <<<"$out"
}

# Starts a sentinel for the service svc (the primary dprim in $1) on port $2 and waits, 15 s at
# most, until it answers and knows the primary; false if it did not (its process is stopped).
start_sentinel() {
    local dir=$1 sport=$2
    printf 'port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor svc 127.0.0.1 %s 1\n' \
        "$sport" "$dir" "$(cat "$dir/dprim.port")" >"$dir/sentinel.conf"
    rm -f "$dir/sentinel.pid"
    valkey-server "$dir/sentinel.conf" --sentinel --daemonize yes \
        --pidfile "$dir/sentinel.pid" --logfile "$dir/sentinel.log" || return 1
    local pid
    for _ in $(seq 150); do # until this sentinel (its pid, not another's) knows the primary
        pid=$(cat "$dir/sentinel.pid" 2>/dev/null)
        if [ -n "$pid" ] &&
            valkey-cli -p "$sport" INFO server 2>/dev/null | tr -d '\r' | grep -qx "process_id:$pid" &&
            valkey-cli -p "$sport" SENTINEL get-master-addr-by-name svc 2>/dev/null |
            grep -qx "$(cat "$dir/dprim.port")"; then
            return 0
        fi
        sleep 0.1
    done
    [ -s "$dir/sentinel.pid" ] && kill "$(cat "$dir/sentinel.pid")" 2>/dev/null
    return 1
}

# A Sentinel service (a primary and one sentinel, started here): the sentinel's network path,
# then the open step and the session steps on the primary it names.
case_sentinel() {
    local dir sport attempt
    dir=$(mktemp -d "${TMPDIR:-/tmp}/vmux-doctor-test.XXXXXX")
    # shellcheck disable=SC2064 # expand dir now
    trap "[ -s '$dir/sentinel.pid' ] && kill \$(cat '$dir/sentinel.pid') 2>/dev/null; bash '$FIXTURE' stop dprim '$dir' >/dev/null 2>&1 || true; rm -rf '$dir'" EXIT
    bash "$FIXTURE" start dprim "$dir" >/dev/null
    # The port is one nobody listened on a moment ago, so another test may take it first: a
    # sentinel that cannot bind it exits, and it is started again on another (3 attempts).
    for attempt in 1 2 3; do
        sport=$(closed_port)
        start_sentinel "$dir" "$sport" && break
        [ "$attempt" = 3 ] && {
            cat "$dir/sentinel.log" >&2 2>/dev/null
            fail "the sentinel did not come up"
        }
    done
    doctor "valkey+sentinel://127.0.0.1:$sport/svc"
    expect_status 0
    expect tcp ok
    expect auth skipped
    expect open ok
    [ "$(field_at role "service svc" verdict)" = ok ] || fail "role on the service: not ok"
    [ "$(field_at role "service svc" facts.role)" = master ] || fail "role on the service"
    [ -n "$(field_at latency "service svc" facts.p50_ms)" ] || fail "latency on the service"
}

# A Sentinel service whose primary is busy in a script: the sentinel's path is fine, and the
# open step, whose session setup the primary refuses, says the server is busy.
case_sentinel_busy() {
    local dir sport attempt
    dir=$(mktemp -d "${TMPDIR:-/tmp}/vmux-doctor-test.XXXXXX")
    # shellcheck disable=SC2064 # expand dir now
    trap "[ -s '$dir/sentinel.pid' ] && kill \$(cat '$dir/sentinel.pid') 2>/dev/null; [ -s '$dir/dprim.port' ] && valkey-cli -p \$(cat '$dir/dprim.port') SCRIPT KILL >/dev/null 2>&1; bash '$FIXTURE' stop dprim '$dir' >/dev/null 2>&1 || true; rm -rf '$dir'" EXIT
    bash "$FIXTURE" start dprim "$dir" --busy-reply-threshold 50 >/dev/null
    for attempt in 1 2 3; do
        sport=$(closed_port)
        start_sentinel "$dir" "$sport" && break
        [ "$attempt" = 3 ] && fail "the sentinel did not come up"
    done
    valkey-cli -p "$(cat "$dir/dprim.port")" EVAL "while true do end" 0 >/dev/null 2>&1 &
    wait_until 15 "the primary answers BUSY" ping_says "$(cat "$dir/dprim.port")" BUSY
    doctor "valkey+sentinel://127.0.0.1:$sport/svc"
    expect_status 1
    expect tls skipped
    expect open fail
    expect_in open detail BUSY
    expect_in open hint "SCRIPT KILL"
}


refused() { ! valkey-cli -p "$1" PING >/dev/null 2>&1; }

# A cluster whose replica is down (a cluster of its own, started here; the replica shut down):
# the nodes step warns that a node is down instead of failing with the announce-address hint,
# and the handle opens (probe20: exit 1, "cannot be reached", open skipped).
case_cluster_node_down() {
    local dir seed replica
    dir=$(mktemp -d "${TMPDIR:-/tmp}/vmux-doctor-test.XXXXXX")
    # shellcheck disable=SC2064 # expand dir now
    trap "bash '$FIXTURE' stop-cluster dcl '$dir' >/dev/null 2>&1 || true; rm -rf '$dir'" EXIT
    bash "$FIXTURE" start-cluster dcl "$dir" 3 1 >/dev/null
    seed=$(cat "$dir/dcl.port")
    replica=$(awk '$2 == "replica" { print $1; exit }' "$dir/dcl.ports")
    valkey-cli -p "$replica" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    wait_until 15 "the replica is down" refused "$replica"
    doctor "127.0.0.1:$seed"
    expect_status 0
    expect nodes warn
    expect_in nodes detail "1 of 6 announced nodes are down: 127.0.0.1:$replica"
    expect_in nodes hint "a node is down"
    # The hint fits the case: a replica down loses its reads and redundancy, nothing fails over.
    expect_in nodes hint "replica 127.0.0.1:$replica: reads from it"
    expect_in nodes hint "nothing fails over"
    [[ "$(field nodes hint)" != *"fails over to a replica"* ]] || fail "nodes: a failover hint"
    [[ "$(field cluster hint)" != *"failover may be under way"* ]] || fail "cluster: a failover hint"
    expect open ok
}

cluster_says() { valkey-cli -p "$1" CLUSTER INFO 2>/dev/null | tr -d '\r' | grep -qx "cluster_state:$2"; }

# A shard whose primary and replica are both down (a cluster of its own, started here, with
# cluster-require-full-coverage yes): the cluster step names the slots that fail and their
# primary, the nodes step says they are unserved until a node of the shard comes back.
case_cluster_shard_down() {
    local dir seed primary replica
    dir=$(mktemp -d "${TMPDIR:-/tmp}/vmux-doctor-test.XXXXXX")
    # shellcheck disable=SC2064 # expand dir now
    trap "bash '$FIXTURE' stop-cluster dsd '$dir' >/dev/null 2>&1 || true; rm -rf '$dir'" EXIT
    bash "$FIXTURE" start-cluster dsd "$dir" 3 1 --cluster-require-full-coverage yes >/dev/null
    seed=$(cat "$dir/dsd.port")
    primary=$(awk '$2 == "primary" && $1 != '"$seed"' { print $1; exit }' "$dir/dsd.ports")
    replica=$(valkey-cli -p "$primary" ROLE | sed -n 4p)
    [ -n "$replica" ] || fail "no replica of $primary"
    valkey-cli -p "$replica" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    valkey-cli -p "$primary" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    wait_until 30 "the cluster is down" cluster_says "$seed" fail
    doctor "127.0.0.1:$seed"
    expect_status 1
    expect cluster fail
    expect_in cluster detail "(primary 127.0.0.1:$primary) fail"
    expect_in cluster detail "; slots "
    expect_in cluster hint "CLUSTERDOWN"
    expect nodes warn
    expect_in nodes hint "primary 127.0.0.1:$primary and its replicas: slots"
    expect_in nodes hint "unserved"
    [[ "$(field nodes hint)" != *"fails over to a replica"* ]] || fail "nodes: a failover hint"
}

# The pid of the node of cluster $2 (in dir $1) that listens on port $3.
node_pid() {
    local f
    for f in "$1/$2"-n*.port; do
        [ "$(cat "$f")" = "$3" ] && cat "${f%.port}.pid" && return 0
    done
    fail "no node of $2 on port $3"
}

# Nodes stopped by SIGSTOP in a cluster of its own (started here, with a cluster-node-timeout
# long enough that the cluster does not fail them over meanwhile): the kernel still accepts
# their connections, so the nodes step PINGs each. A replica that does not answer is a warning;
# a primary serving slots that does not answer is a failure (probe: "all 6 nodes accept
# connections", exit 0).
case_cluster_frozen() {
    local dir seed replica primary rpid ppid
    dir=$(mktemp -d "${TMPDIR:-/tmp}/vmux-doctor-test.XXXXXX")
    # shellcheck disable=SC2064 # expand dir now
    trap "for f in '$dir'/dfz-n*.pid; do kill -CONT \$(cat \$f) 2>/dev/null; done; bash '$FIXTURE' stop-cluster dfz '$dir' >/dev/null 2>&1 || true; rm -rf '$dir'" EXIT
    bash "$FIXTURE" start-cluster dfz "$dir" 3 1 --cluster-node-timeout 120000 >/dev/null
    seed=$(cat "$dir/dfz.port")
    replica=$(awk '$2 == "replica" { print $1; exit }' "$dir/dfz.ports")
    primary=$(awk '$2 == "primary" && $1 != '"$seed"' { print $1; exit }' "$dir/dfz.ports")
    rpid=$(node_pid "$dir" dfz "$replica")
    kill -STOP "$rpid"
    wait_until 15 "the replica is stopped" stopped "$rpid"
    doctor "127.0.0.1:$seed,connectTimeout=500"
    expect_status 0
    expect nodes warn
    expect_in nodes detail "1 of 6 announced nodes accept connections but do not answer PING"
    expect_in nodes detail "127.0.0.1:$replica"
    expect_in nodes hint "CLIENT PAUSE"
    [ "$(field nodes "facts[\"127.0.0.1:$replica\"]")" = "accepts connections but does not answer" ] ||
        fail "nodes: the replica's fact"
    ppid=$(node_pid "$dir" dfz "$primary")
    kill -STOP "$ppid"
    wait_until 15 "the primary is stopped" stopped "$ppid"
    doctor "127.0.0.1:$seed,connectTimeout=500"
    expect_status 1
    expect nodes fail
    expect_in nodes detail "127.0.0.1:$primary (a primary serving slots)"
    expect_in nodes hint "stopped process"
}

"case_${case_name}"
echo "ok: doctor.$case_name"
