/* Helpers shared by the integration tests: where the fixture servers are, and deadlines. */
#ifndef VMUX_TESTUTIL_H
#define VMUX_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Returns the TCP port of the fixture server called name (as registered in CMake with
 * vmux_add_server_fixture), read from $VMUX_TEST_STATE_DIR/<name>.port. Fails the running
 * cmocka test (fail_msg) when the file is missing or bad.
 */
int vt_server_port(const char *name);

/*
 * Returns a configuration string for the fixture server called name: "127.0.0.1:<port>",
 * followed by ",<extra>" when extra is not NULL or empty. The string is malloc'ed; the
 * caller frees it.
 */
char *vt_server_config(const char *name, const char *extra);

/* Monotonic clock in milliseconds and nanoseconds. */
uint64_t vt_now_ms(void);
uint64_t vt_now_ns(void);

/*
 * Polls cond(arg) every millisecond until it returns true or timeout_ms passes; returns the
 * last result. Use it to wait for a condition with a deadline, never a bare sleep.
 */
bool vt_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms);

/*
 * Sends one command to the fixture server called name over a fresh blocking connection that
 * does not go through vmux (hiredis's own client), for setting up or inspecting server state
 * independently of the library under test. Returns the reply as a malloc'ed string (status,
 * error or bulk text; integers printed in decimal; nil as "(nil)"), or NULL on a connection
 * failure. The caller frees it.
 */
char *vt_admin(const char *name, const char *format, ...);

#endif
