/*
 * Keys written and read through a handle, and where the reads went: numbered keys "<prefix>0" ..
 * "<prefix>N-1" and the servers' own counts of the commands each served (INFO commandstats,
 * after CONFIG RESETSTAT), for the replica-read tests (integration/test_cluster_reads.c,
 * resilience/test_standalone_reads.c); one key set and read back, for the routing tests
 * (test_cluster_route.c, test_cluster_tls.c, test_cluster_tls_names.c). Each fails the running
 * cmocka test when a call it makes fails, but vt_set_get(), which worker threads use; any thread.
 */
#ifndef VMUX_TEST_READKEYS_H
#define VMUX_TEST_READKEYS_H

#include "vmux/vmux.h"

/*
 * The number after field (given with its separator: "master_port:", "cmdstat_get:calls=") in
 * the INFO section of the plain server at 127.0.0.1:port, or -1 when the text has no field.
 * Fails the test when the server gives no reply.
 */
long vt_node_info(int port, const char *section, const char *field);

/* The calls of command (lower case: "get", "eval_ro") the server at port has served. */
long vt_node_calls(int port, const char *command);

/* SETs each key "<prefix><i>" (i < n) to "v<i>" through m. */
void vt_keys_write(vmux *m, const char *prefix, int n);

/* Reads every key "<prefix><i>" (i < n) rounds times with vmux_get(m, o, ...): each must exist. */
void vt_keys_read(vmux *m, const vmux_callopts *o, const char *prefix, int n, int rounds);

/* One MGET of the n keys "<prefix><i>" into *vals (the caller frees it with
 * vmux_bytes_array_free()), which must succeed with n values. */
void vt_keys_mget(vmux *m, const char *prefix, int n, vmux_bytes_array *vals);

/* vt_set_get()'s status when GET answered something other than the value just set. */
#define VT_WRONG_VALUE (-1000)

/*
 * SET key value, then GET key, through m (the handle's reason into why, len bytes). Returns 0,
 * the first call's error, or VT_WRONG_VALUE (why says so). Does not fail the test: for worker
 * threads.
 */
int vt_set_get(vmux *m, const char *key, const char *value, char *why, size_t len);

/* As vt_set_get(), failing the test (naming the key, the error and the reason) unless it is 0. */
void vt_must_set_get(vmux *m, const char *key, const char *value);

/*
 * One vmux_scan_next() of it, with an error buffer: mark(arg, key) for each key of its batch;
 * returns 1 or 0 as vmux_scan_next() does, and fails the test (its code and words) when the step
 * fails.
 */
int vt_scan_step(vmux_scan *it, void (*mark)(void *arg, const vmux_bytes *key), void *arg);

#endif
