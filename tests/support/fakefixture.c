/* The fault tests' fixture; see fakefixture.h. */
#include "fakefixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "vmux/vmux.h"

int vt_fake_fixture_setup(void **state)
{
    vt_fake_fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->fake = vt_fake_start();
    assert_non_null(fx->fake);
    *state = fx;
    return 0;
}

int vt_fake_fixture_teardown(void **state)
{
    vt_fake_fixture *fx = *state;
    vmux_close(fx->m);
    vt_fake_stop(fx->fake);
    free(fx);
    return 0;
}

struct vmux *vt_fake_open(vt_fake *f, const char *extra)
{
    char conf[512];
    bool more = extra != NULL && extra[0] != '\0';
    /* A scripted server is standalone, and its tests count every command it reads: no
     * INFO cluster (cluster=no), unless extra says otherwise. */
    int n = snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=no%s%s", vt_fake_port(f),
                     more ? "," : "", more ? extra : "");
    assert_true(n > 0 && (size_t)n < sizeof conf);
    return vt_open_conf(conf);
}

void vt_fake_script(vt_fake *f, vt_fake_kind kind, const void *bytes, size_t len)
{
    assert_int_equal(vt_fake_push(f, kind, bytes, len), 0);
}

void vt_fake_script_str(vt_fake *f, vt_fake_kind kind, const char *bytes)
{
    vt_fake_script(f, kind, bytes, strlen(bytes));
}
