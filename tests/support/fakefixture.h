/*
 * The fault tests' fixture: a scripted fake server (fakeserver.h) and a handle on it, set up and
 * torn down per test by cmocka. Threading: the test's thread only.
 */
#ifndef VMUX_FAKEFIXTURE_H
#define VMUX_FAKEFIXTURE_H

#include <stddef.h>

#include "fakeserver.h"

struct vmux;

typedef struct vt_fake_fixture {
    vt_fake *fake;
    struct vmux *m; /* NULL until vt_fake_fixture_open() */
} vt_fake_fixture;

/* cmocka setup: *state becomes a new fixture with its fake server started and no handle yet. */
int vt_fake_fixture_setup(void **state);

/* cmocka teardown: closes the handle (if any), stops the fake server, frees the fixture. */
int vt_fake_fixture_teardown(void **state);

/* A cmocka test (cmocka_unit_test_setup_teardown) run inside a fresh fixture. */
#define VT_FAKE_TEST(f)                                                                            \
    cmocka_unit_test_setup_teardown(f, vt_fake_fixture_setup, vt_fake_fixture_teardown)

/*
 * Opens a handle on the fake server f with the configuration keys extra (may be NULL), as
 * vt_open_conf() does (failing the running test when it cannot).
 */
struct vmux *vt_fake_open(vt_fake *f, const char *extra);

/* vt_fake_push(), failing the running test when it cannot. */
void vt_fake_script(vt_fake *f, vt_fake_kind kind, const void *bytes, size_t len);

/* vt_fake_script() with a NUL-terminated string. */
void vt_fake_script_str(vt_fake *f, vt_fake_kind kind, const char *bytes);

#endif
