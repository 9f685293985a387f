/*
 * A scripted fake Valkey server for fault tests, running in a thread of the test process.
 *
 * It listens on an ephemeral 127.0.0.1 port and accepts any number of connections. It reads
 * RESP commands with hiredis's reader and answers the connection-setup commands itself
 * (CLIENT, AUTH, SELECT, HELLO with +OK; PING with +PONG). Every other command, on whatever
 * connection, takes the next action of one shared script, in the order pushed. A command that
 * finds the script empty is answered with "-ERR fakeserver: script is empty", so a test that
 * pushed too few actions fails clearly instead of hanging.
 *
 * Threading: every function may be called from any thread while the server runs; the server's
 * own thread never calls back into the test.
 */
#ifndef VMUX_FAKESERVER_H
#define VMUX_FAKESERVER_H

#include <stddef.h>

typedef struct vt_fake vt_fake;

typedef enum vt_fake_kind {
    VT_FAKE_SEND,          /* send the bytes; the connection goes on serving */
    VT_FAKE_SEND_CLOSE,    /* send the bytes, then close the connection */
    VT_FAKE_SEND_SILENT,   /* send the bytes, then never answer on this connection again,
                              keeping it open (input is read and dropped) */
    VT_FAKE_CLOSE,         /* close the connection without sending anything */
    VT_FAKE_SEND_BYTEWISE, /* send the bytes one byte per TCP segment, pausing ~1 ms between
                              them, so the client sees them arrive separately */
} vt_fake_kind;

/* Starts a server and its thread. Returns NULL (with a message on stderr) on failure. */
vt_fake *vt_fake_start(void);

/* The server's port on 127.0.0.1. */
int vt_fake_port(const vt_fake *f);

/*
 * Appends an action to the script; bytes (len of them, may be 0 for VT_FAKE_CLOSE) are
 * copied. Returns 0, or -1 when memory runs out.
 */
int vt_fake_push(vt_fake *f, vt_fake_kind kind, const void *bytes, size_t len);

/* vt_fake_push() with a NUL-terminated string. */
int vt_fake_push_str(vt_fake *f, vt_fake_kind kind, const char *bytes);

/*
 * Answers the next `times` commands named name (any case; 0: every one from now on) with bytes
 * itself, taking no script action, in place of the default (setup commands +OK, PING +PONG, the
 * rest from the script): "AUTH" with "+OK\r\n+OK\r\n" makes a server that sends one reply too
 * many, "INFO" with a fixed text keeps the script for the test's own commands. A later call for
 * the same name replaces the earlier one. name may also be a command and its first argument
 * ("SENTINEL REPLICAS"), which takes precedence over the command's name alone. At most 8 names.
 * Returns 0, or -1 when memory runs out or no room is left.
 */
int vt_fake_answer(vt_fake *f, const char *name, const char *bytes, unsigned times);

/*
 * Sends bytes (copied) at once to every open connection that has sent SUBSCRIBE, as a server
 * publishing to it would (a sentinel's +switch-master), outside the script. Returns 0, or -1
 * when memory runs out.
 */
int vt_fake_publish(vt_fake *f, const char *bytes);

/* How many connections the server has accepted so far (reconnects show here). */
unsigned vt_fake_accepted(vt_fake *f);

/* How many connections the client closed while the server still had them open. */
unsigned vt_fake_hangups(vt_fake *f);

/*
 * How many commands named name (any case) the server has read so far, on every connection,
 * however they were answered (counted before the answer is sent: a SUBSCRIBE counted is
 * answered before anything vt_fake_publish() sends after). The first 32 names seen are counted, if
 * under 32 bytes long; any other reads 0.
 */
unsigned vt_fake_count(vt_fake *f, const char *name);

/* How many commands took an action from the script (or found it empty) so far. */
unsigned vt_fake_commands(vt_fake *f);

/* How many pushed actions no command has taken yet. */
size_t vt_fake_pending(vt_fake *f);

/* Closes every connection and the listener, joins the thread and frees f. NULL is allowed. */
void vt_fake_stop(vt_fake *f);

#endif
