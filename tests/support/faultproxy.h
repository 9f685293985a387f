/*
 * A fault-injecting TCP proxy for tests: it listens on an ephemeral 127.0.0.1 port and relays
 * each connection it accepts to a target host:port, or, on command, cuts, refuses, delays or
 * blackholes them. It runs its own libuv loop in its own thread.
 *
 * Threading: every function may be called from any thread while the proxy runs. The mode
 * changes and vt_proxy_cut() are handed to the proxy's thread and return once that thread has
 * applied them, so when one returns the new behaviour is in force.
 */
#ifndef VMUX_FAULTPROXY_H
#define VMUX_FAULTPROXY_H

#include <stdint.h>

typedef struct vt_proxy vt_proxy;

typedef enum vt_proxy_mode {
    VT_PROXY_PASS,      /* relay bytes both ways as they come */
    VT_PROXY_REFUSE,    /* close each new connection as soon as it is accepted; connections
                           already open carry on as before */
    VT_PROXY_DELAY,     /* relay bytes both ways, each chunk held for the mode's delay first */
    VT_PROXY_BLACKHOLE, /* read from both sides, relay nothing, close nothing: a route that
                           drops every packet. What is read is held, and relayed (as TCP would
                           retransmit it) if the mode turns to PASS or DELAY while the
                           connection lives. New connections are accepted and blackholed. */
    VT_PROXY_THROTTLE,  /* relay toward the server at most the mode's rate (its delay_ms
                           argument read as KiB per second), reading nothing more from a client
                           while 64 KiB of it wait, so the client's writes back up as over a slow
                           link; toward the client as PASS. Connections accepted in this mode
                           also get a small receive buffer (64 KiB), so the kernel does not
                           absorb what the link would hold back. */
} vt_proxy_mode;

/*
 * Starts a proxy to host:port (host an IPv4 literal such as "127.0.0.1") in PASS mode.
 * Returns NULL, with a message on stderr, on failure.
 */
vt_proxy *vt_proxy_start(const char *host, int port);

/* The port the proxy listens on, on 127.0.0.1. */
int vt_proxy_port(const vt_proxy *p);

/* Switches the mode; delay_ms counts only for VT_PROXY_DELAY. Returns 0, or -1 on bad input. */
int vt_proxy_set_mode(vt_proxy *p, vt_proxy_mode mode, unsigned delay_ms);

/*
 * Relays the connections accepted from now on to host:port (an IPv4 literal) instead; the
 * connections already relayed keep their server (vt_proxy_cut() ends them). 0, or -1 for a bad
 * address.
 */
int vt_proxy_set_target(vt_proxy *p, const char *host, int port);

/*
 * Closes every proxied connection now, on both sides, with bytes held or delayed dropped.
 * The mode does not change: new connections are handled by it (set VT_PROXY_REFUSE first to
 * keep them out).
 */
void vt_proxy_cut(vt_proxy *p);

/*
 * Arms a trap for the next `times` chunks from clients that contain pattern: each such chunk
 * is relayed to the server; then the server's next bytes on that connection (its reply) are
 * dropped and the connection is cut on both sides. So the server has run the command and the
 * client never hears the outcome. pattern is copied (at most 127 bytes). A new call replaces
 * the trap; times 0 disarms it.
 */
void vt_proxy_trap_reply(vt_proxy *p, const char *pattern, unsigned times);

/* How many times the trap fired. */
unsigned vt_proxy_trap_fired(vt_proxy *p);

/* How many connections the proxy accepted (including the ones REFUSE closed at once). */
unsigned vt_proxy_accepted(vt_proxy *p);

/* How many proxied connections are open now. */
unsigned vt_proxy_live(vt_proxy *p);

/* Closes every connection and the listener, joins the thread and frees p. NULL is allowed. */
void vt_proxy_stop(vt_proxy *p);

/*
 * A cmocka fixture for suites whose handle talks to the "plain" server through a proxy: *state
 * becomes a struct vt_proxied, with the proxy and a handle opened on it ("127.0.0.1:<port>"
 * followed by extra, "" for none). In cluster mode both stay NULL: the proxy would stand in
 * front of the seed node only, so those tests skip. Returns 0, or -1 when the proxy cannot
 * start. The teardown lets every byte through again, closes the handle, stops the proxy.
 */
struct vmux;
struct vt_proxied {
    vt_proxy *proxy;
    struct vmux *m;
};
int vt_proxied_setup(void **state, const char *extra);
int vt_proxied_teardown(void **state);

#endif
