/*
 * What the string, key, hash and scan command tests share: the handle (opened and closed by the
 * group setup and teardown) and an options value with an error buffer, unique keys (binary ones
 * too), a binary value, generic-API helpers that read the server's state back, assertions on
 * replies and out-parameters, and the capture of an async completion. They live in cmd_common.c,
 * which the command tests link; a test file that includes this header defines cmd_family (the key
 * prefix, e.g. "strings").
 */
#ifndef VMUX_CMD_COMMON_H
#define VMUX_CMD_COMMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmux/vmux.h"

#include "cmd_collections.h" /* assert_refused_words() */

/* Defined by the test file: the family its keys are named after. */
extern const char cmd_family[];

/* The handle the tests use; opened by the test file's setup. */
extern vmux *M;
/* Call options whose error buffer is errbuf. */
extern char errbuf[512];
extern vmux_callopts EO;

/* cmd_family + name, unique to this file and process; from a ring of 16 buffers, so that a
 * test can hold several at once. The key's {hash tag} is the family, the process and name up to
 * its first '-': keys named "rename-from", "rename-to" share a cluster slot (a command may use
 * them together), while the groups of a file spread over the cluster's shards. */
vmux_str key(const char *name);

/* A key in the slot of {tag}, unique to this file and process, from key()'s ring: for the
 * multi-key commands' tests of keys in two slots ({a} is slot 15495, {b} slot 3300). */
vmux_str slot_key(const char *tag, const char *name);

/*
 * Checks the outcome rc (and integer result n) of a command given keys in slots {a} and {b}
 * (slot_key()) with EO: on a cluster, VMUX_ERR_CROSSSLOT with n zeroed and both slots named in
 * errbuf, and returns true; on a standalone server, rc 0, and returns false (n is the caller's
 * to check).
 */
bool refused_crossslot(int rc, int64_t n);

/* A key with NUL bytes inside and at the end. */
vmux_str binkey(const char *name);

/* "a\0b\r\n\0" with its final NUL. */
extern const char BIN[8];
#define BINV VMUX_STRN(BIN, sizeof BIN) /* 8 bytes, NULs included */

/* A command through the generic API; fails the test on a transport error. */
vmux_reply *raw(size_t n, const vmux_str *args);
#define RAW(...)                                                                                   \
    raw(sizeof((vmux_str[]){__VA_ARGS__}) / sizeof(vmux_str), (vmux_str[]){__VA_ARGS__})
#define S(s) VMUX_STR(s)
/* A command whose reply is not needed. */
#define DO(...) vmux_reply_free(RAW(__VA_ARGS__))

/* Asserts a reply is an integer, frees it and returns the integer. */
int64_t raw_int(vmux_reply *r);

/* Asserts a reply is the string want (binary-safe), and frees it. */
void assert_raw_str(vmux_reply *r, vmux_str want);

/* Asserts a reply is nil, and frees it. */
void assert_raw_nil(vmux_reply *r);

/* Asserts b holds want's bytes, NUL-terminated (defined in cmd_collections.c). */
void assert_bytes(const vmux_bytes *b, vmux_str want);

/* Asserts rc is a server error whose message (in errbuf) is WRONGTYPE, and clears errbuf. */
void assert_wrongtype(int rc);

/* Garbage for out-parameters that must be zeroed on error. */
extern char junk[1];
#define JUNK_BYTES ((vmux_bytes){junk, 99})
#define JUNK_ARRAY ((vmux_bytes_array){(vmux_bytes *)junk, 99})

/* Assert that an out-parameter was zeroed. */
void assert_zero_bytes(const vmux_bytes *b);
void assert_zero_array(const vmux_bytes_array *a);

/* An async completion captured for the test thread. */
struct done {
    atomic_int fired;
    int status;
    vmux_reply *reply;
};

/* A vmux_callback that fills the struct done userdata points to. */
void on_reply(int status, vmux_reply *reply, void *userdata);

/* Whether the struct done arg points to has fired (a vt_wait_until() condition). */
bool fired(void *arg);

/* Waits for d to fire, failing the test after 20 s. */
void wait_done(struct done *d);

/* The server's clock (TIME), in seconds. */
int64_t server_time(void);

/* The group setup and teardown: open M on the plain server, and close it. */
int cmd_setup(void **state);
int cmd_teardown(void **state);

#endif
