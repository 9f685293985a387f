/* Probes of a handle's near cache for the near-cache tests (nearprobe.h). */
#include "nearprobe.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

vmux_str vt_str(const char *s)
{
    return (vmux_str){s, strlen(s)};
}

vmux_near_stats vt_near_stats(vmux *m)
{
    vmux_near_stats st = VMUX_INIT(vmux_near_stats);
    assert_int_equal(vmux_near_read_stats(m, &st), 0);
    return st;
}

void vt_set(vmux *w, const char *key, const char *value)
{
    assert_int_equal(
        vmux_set(w, NULL, vt_str(key), vt_str(value), VMUX_NO_EXPIRY, VMUX_COND_ALWAYS, NULL), 0);
}

bool vt_near_is(vmux *m, const char *key, const char *want)
{
    vmux_bytes v;
    int rc = vmux_near_get(m, NULL, vt_str(key), &v);
    bool same = rc == 0 && (want == NULL ? v.ptr == NULL
                                         : v.ptr != NULL && strcmp((const char *)v.ptr, want) == 0);
    vmux_bytes_free(&v);
    return same;
}

struct probe {
    vmux *m;
    const char *key;
    const char *want;
};

static bool probe_stored(void *arg)
{
    struct probe *p = arg;
    uint64_t fills = vt_near_stats(p->m).fills;
    return vt_near_is(p->m, p->key, p->want) && vt_near_stats(p->m).fills > fills;
}

static bool probe_hit(void *arg)
{
    struct probe *p = arg;
    uint64_t hits = vt_near_stats(p->m).hits;
    return vt_near_is(p->m, p->key, p->want) && vt_near_stats(p->m).hits > hits;
}

static bool probe_sees(void *arg)
{
    struct probe *p = arg;
    return vt_near_is(p->m, p->key, p->want);
}

void vt_near_until_cached(vmux *m, const char *key, const char *want)
{
    struct probe p = {m, key, want};
    vmux_near_forget(m, vt_str(key));
    assert_true(vt_wait_until(probe_stored, &p, VT_NEAR_WAIT_MS));
    assert_true(vt_wait_until(probe_hit, &p, VT_NEAR_WAIT_MS));
}

void vt_near_until_sees(vmux *m, const char *key, const char *want)
{
    struct probe p = {m, key, want};
    assert_true(vt_wait_until(probe_sees, &p, VT_NEAR_WAIT_MS));
}

int vt_near_count_stale(vmux *m, vmux *w, void (*key_name)(char *buf, size_t len, unsigned i),
                        unsigned n)
{
    int stale = 0;
    for (unsigned i = 0; i < n; i++) {
        char key[64];
        vmux_bytes near, real;
        key_name(key, sizeof key, i);
        assert_int_equal(vmux_near_get(m, NULL, vt_str(key), &near), 0);
        assert_int_equal(vmux_get(w, NULL, vt_str(key), &real), 0);
        if ((near.ptr == NULL) != (real.ptr == NULL) ||
            (near.ptr != NULL && strcmp((char *)near.ptr, (char *)real.ptr) != 0)) {
            print_message("stale: %s near=%s server=%s\n", key, near.ptr ? near.ptr : "(nil)",
                          real.ptr ? real.ptr : "(nil)");
            stale++;
        }
        vmux_bytes_free(&near);
        vmux_bytes_free(&real);
    }
    return stale;
}
