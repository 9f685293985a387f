/*
 * A fake RESP2 server for vmux-refusal-bench (refusals.c): one thread of its own, plain
 * non-blocking sockets on a free 127.0.0.1 port, pipelined RESP arrays of bulk strings parsed as
 * they come. It answers a handle's own commands as a standalone primary would (PING, CLIENT,
 * AUTH, SELECT, READONLY, READWRITE with +OK or +PONG; INFO with a standalone primary's fields;
 * ROLE master; HELLO with NOPROTO, so the connection stays RESP2; CLUSTER with "cluster support
 * disabled") and every other command with a LOADING refusal, or, not refusing, with a nil bulk
 * string. A measuring tool: a malformed request closes its connection, and nothing more is
 * checked.
 */
#ifndef VMUX_BENCH_FAKE_SERVER_H
#define VMUX_BENCH_FAKE_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define FAKE_MAX_PEERS 16

/* The reply a refused command gets, as a loading Valkey sends it. */
#define FAKE_LOADING "LOADING Valkey is loading the dataset in memory"

struct fake_peer;

struct fake_server {
    int port;            /* where it listens, on 127.0.0.1 */
    bool refuse;         /* every other command: LOADING (true) or nil (false) */
    uint64_t refused;    /* commands refused; read it after fake_server_stop() */
    uint64_t answered;   /* commands answered otherwise (setup, nil); the same */
    clockid_t cpu_clock; /* the server thread's CPU clock, while it runs */
    int listen_fd, stop_fd[2];
    pthread_t thread;
    struct fake_peer *peers[FAKE_MAX_PEERS];
};

/*
 * Listens on a free 127.0.0.1 port (s->port) and starts the server's thread. refuse: what every
 * command other than the handle's own gets (see above). Returns 0, or -1 with a message on stderr
 * (nothing left running). Not thread-safe: one caller starts and stops a server.
 */
int fake_server_start(struct fake_server *s, bool refuse);

/* The CPU time, in seconds, that the server's thread has used so far. Between start and stop. */
double fake_server_cpu(const struct fake_server *s);

/* Stops the thread, closes every connection and the listening socket. */
void fake_server_stop(struct fake_server *s);

#endif
