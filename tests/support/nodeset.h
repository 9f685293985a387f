/*
 * A small set of node names ("host:port"), for tests that compare the nodes a handle names, the
 * nodes its events announce and the nodes a cluster names: kept in the order they were added.
 */
#ifndef VMUX_TEST_NODESET_H
#define VMUX_TEST_NODESET_H

#include <stdbool.h>
#include <stddef.h>

enum { VT_NODESET_MAX = 8, VT_NODESET_NAME = 64 };

/* Initialize with {0} (or set n to 0 to empty it). Names longer than VT_NODESET_NAME - 1 bytes
 * are cut to fit. */
typedef struct vt_nodeset {
    char name[VT_NODESET_MAX][VT_NODESET_NAME];
    size_t n;
} vt_nodeset;

/* Whether name is in s. */
bool vt_nodeset_has(const vt_nodeset *s, const char *name);

/*
 * Adds name at the end of s unless it is there already. Returns false when s is full and name
 * not in it (name is then not added; a test that cannot go on asserts it), true otherwise.
 */
bool vt_nodeset_add(vt_nodeset *s, const char *name);

/* Removes name from s, the others keeping their order; returns whether it was there. */
bool vt_nodeset_del(vt_nodeset *s, const char *name);

/* Whether a and b hold the same names, in whatever order. */
bool vt_nodeset_same(const vt_nodeset *a, const vt_nodeset *b);

/* Writes s's names into out (len bytes, cut to fit), each after a space: " a:1 b:2"; "" when
 * s is empty. */
void vt_nodeset_text(const vt_nodeset *s, char *out, size_t len);

#endif
