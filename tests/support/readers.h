/*
 * Reading threads for the replica-read tests (integration/test_cluster_reads.c,
 * resilience/test_standalone_reads.c): each reads the keys "<prefix>0" .. "<prefix>N-1" in turn
 * with vmux_get() (retry-safe, as every typed read is) until told to stop, counting the reads
 * that succeeded and those that failed.
 */
#ifndef VMUX_TEST_READERS_H
#define VMUX_TEST_READERS_H

struct vmux;
typedef struct vt_readers vt_readers;

/* Starts nthreads (1..16) readers on m; fails the test when it cannot. The caller keeps m open
 * until vt_readers_stop(). */
vt_readers *vt_readers_start(struct vmux *m, const char *prefix, int nkeys, int nthreads);

/* The reads that succeeded so far, all threads together (any thread). */
long vt_readers_done(vt_readers *r);

/* Stops and joins the threads and frees r; fails the test, naming the thread and the first
 * error, when any read failed. */
void vt_readers_stop(vt_readers *r);

#endif
