/*
 * Servers a test starts, kills and restarts itself (for fault tests that need to do what CTest
 * fixtures cannot: SIGKILL a server mid-load and bring it back on the same port). Each is a
 * valkey-server child process on 127.0.0.1, with no persistence, stopped by its own pid.
 */
#ifndef VMUX_SERVERS_H
#define VMUX_SERVERS_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct vt_server {
    int port;
    pid_t pid; /* 0 while not running */
    char dir[256];
    char *extra[32]; /* extra valkey-server arguments, NULL-terminated (copied) */
    bool sentinel;   /* runs as a Sentinel (vt_sentinel_start()) */
} vt_server;

/*
 * Starts a valkey-server on a free loopback port (port 0) or on the given port, with the
 * extra arguments (NULL-terminated, may be NULL), and waits (deadline 10 s) until it answers
 * PING. Returns 0, or -1 with a message on stderr.
 */
int vt_server_start(vt_server *s, int port, const char *const *extra);

/*
 * For a cmocka fixture: a vt_server allocated and started (vt_server_start) on a free port with
 * extra. Returns NULL, with nothing left over, when either fails. vt_server_stop() and free() it.
 */
vt_server *vt_server_new(const char *const *extra);

/*
 * As vt_server_start(), a Sentinel: valkey-server <dir>/sentinel.conf --sentinel, the file empty
 * at first (Sentinel rewrites it with what it learns, which a restart keeps). extra gives the
 * sentinel directives as arguments ("--sentinel", "monitor", "mymaster", "127.0.0.1", "6379",
 * "2", ...). Kill, restart and stop as for a server.
 */
int vt_sentinel_start(vt_server *s, int port, const char *const *extra);

/* Kills the server with SIGKILL and waits until its process is gone and the port is free. */
void vt_server_kill(vt_server *s);

/* Starts the server again on the same port with the same arguments. Returns 0 or -1. */
int vt_server_restart(vt_server *s);

/* Stops the server (SIGTERM, then SIGKILL after a deadline) and removes its directory. */
void vt_server_stop(vt_server *s);

/* A loopback TCP port free at the time of the call (the kernel's choice), or -1: for a listener
 * the test starts itself (a server's second, TLS port). Another process may take it meanwhile. */
int vt_free_port(void);

/*
 * A loopback TCP port where nothing listens for as long as *fd stays open (a socket bound to it
 * without listen()): a connection to it is refused, and no other process can take it. -1 (and
 * *fd -1) on failure. The caller closes *fd.
 */
int vt_refusing_port(int *fd);

/* Returns a malloc'ed "127.0.0.1:<port>[,extra]" configuration string. */
char *vt_server_conf(const vt_server *s, const char *extra);

/* Opens a vmux handle on s with the configuration keys extra (may be NULL), as vt_open_conf(). */
struct vmux;
struct vmux *vt_server_open(const vt_server *s, const char *extra);

#endif
