/*
 * What the list, set and sorted-set command tests share: the group fixture that keeps the handle
 * in cmocka's state, the admin connection's view of a key (binary-safe), assertions on typed
 * results, and the capture of an async completion. They live in cmd_collections.c, part of the
 * vmux_cmd_common library that every command test links. All of them run on the test's thread
 * (on_async_result on the handle's I/O thread) and fail the running cmocka test as they say.
 */
#ifndef VMUX_CMD_COLLECTIONS_H
#define VMUX_CMD_COLLECTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "testutil.h"
#include "vmux/vmux.h"

/* The group setup: opens a handle on the "plain" fixture into *state (fails the test when it
 * cannot). The group teardown closes it. */
int cmd_state_setup(void **state);
int cmd_state_teardown(void **state);

/* Deletes key through the admin connection; fails the test when the admin gets no reply. */
void del(vmux_str key);

/* The admin connection's integer answer to a one-key command, such as "LLEN %b"; fails the test
 * when the admin gets no reply. */
long admin_int(const char *format, vmux_str key);

/* Sets key to a string through the admin connection, so that list and set commands on it fail
 * with WRONGTYPE; fails the test unless the reply is OK. */
void set_string(vmux_str key);

/* Runs a command through the generic API (vmux_call, not the typed call under test) into out,
 * which the caller frees; fails the test when the call fails or the reply is no array. */
void call_array(vmux *m, int argc, const char **argv, const size_t *lens, vmux_bytes_array *out);

/* Asserts b holds want's bytes, NUL-terminated (cmd_common.h declares it too). */
void assert_bytes(const vmux_bytes *b, vmux_str want);

/* Asserts got holds exactly want[0..n), in order (assert_bytes on each). */
void expect_array(const vmux_bytes_array *got, const vmux_str *want, size_t n);

/* Asserts rc is a server error whose message err holds WRONGTYPE. */
void expect_wrongtype(int rc, const char *err);

/* Waits (10 s) for r's callback (vt_on_async, testutil.h) and returns its reply, which the caller
 * frees; fails the test when the callback does not come in time or its status is not 0. */
vmux_reply *wait_reply(struct vt_async *r);

/* Member i of a collection filled for a scan test: "<tag>:<i>", a NUL and tail, so that it is
 * binary; written into buf (24 bytes at least). Returns its length. */
size_t scan_member(char *buf, char tag, char tail, int i);

/* The i of member b, which must be scan_member(.., tag, tail, i) for an i in [0, n); fails the
 * test on any other member. */
int scan_index(const vmux_bytes *b, char tag, char tail, int n);

/*
 * Asserts that buf holds the words of a typed call's refusal before sending ("invalid argument:
 * " and which argument broke which rule, typed.h), not a server's message: nothing was sent.
 * (Declared here, for every command test: cmd_common.h includes this header too.)
 */
void assert_refused_words(const char *buf);

#endif
