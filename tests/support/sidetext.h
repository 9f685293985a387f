/*
 * A side connection to a server, not through vmux: one command on a fresh blocking hiredis
 * connection, its reply turned into text by the caller's rule. For tests that inspect or steer a
 * server they started themselves, by port, behind the library's back.
 */
#ifndef VMUX_TEST_SIDETEXT_H
#define VMUX_TEST_SIDETEXT_H

#include <stdarg.h>

struct redisReply;

/* How a test turns a (non-NULL) reply into malloc'ed text; NULL when it cannot. */
typedef char *vt_reply_text_fn(const struct redisReply *r);

/*
 * The text of a reply that is not an array: an integer in decimal, nil as "(nil)", any other
 * reply its string (status, error or bulk), malloc'ed; NULL when out of memory. A
 * vt_reply_text_fn's building block; not for arrays.
 */
char *vt_reply_scalar_text(const struct redisReply *r);

/*
 * Sends one command (hiredis format) to 127.0.0.1:port, as the default user, on a fresh
 * connection with 5 s connect and I/O timeouts, and returns text(reply), which the caller frees.
 * Returns NULL when the server cannot be reached or gives no reply within 5 s (or text does).
 * Any thread; never fails the running test.
 */
char *vt_side_text(int port, vt_reply_text_fn *text, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* vt_side_text() with the command's arguments in ap. */
char *vt_side_vtext(int port, vt_reply_text_fn *text, const char *fmt, va_list ap);

#endif
