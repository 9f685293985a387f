/* Probes of a handle's near cache for the near-cache tests (nearprobe.h). */
#include "nearprobe.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

long long vt_client_id(int port, const char *mark1, const char *mark2)
{
    char *list = vt_node_admin(port, false, "CLIENT LIST");
    assert_non_null(list);
    long long id = -1;
    char *save = NULL;
    for (char *line = strtok_r(list, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
        if (strstr(line, mark1) != NULL && strstr(line, mark2) != NULL)
            id = atoll(strstr(line, "id=") + 3);
    free(list);
    return id;
}

void vt_kill_client(int port, long long id)
{
    assert_true(id > 0);
    char *t = vt_node_admin(port, false, "CLIENT KILL ID %lld", id);
    assert_non_null(t);
    assert_string_equal(t, "1");
    free(t);
}

uint64_t vt_near_flushes(vmux *m, int cause)
{
    vmux_near_stats st = vt_near_stats(m);
    switch (cause) {
    case VT_FLUSH_LOST:
        return st.flushes_lost;
    case VT_FLUSH_RECONNECT:
        return st.flushes_reconnect;
    case VT_FLUSH_MOVED:
        return st.flushes_moved;
    default:
        return st.flushes_failover;
    }
}

bool vt_near_flushed(void *arg)
{
    struct vt_near_flush *f = arg;
    return vt_near_flushes(f->m, (int)f->cause) > f->before;
}

uint64_t vt_near_until_fresh(vmux *m, const char *key, const char *old, const char *want,
                             uint64_t since)
{
    struct timespec pause = {0, VT_FRESH_POLL_NS};
    for (;;) {
        vmux_bytes v;
        assert_int_equal(vmux_near_get(m, NULL, vt_str(key), &v), 0);
        assert_non_null(v.ptr);
        bool fresh = strcmp((char *)v.ptr, want) == 0;
        if (!fresh)
            assert_string_equal((char *)v.ptr, old);
        vmux_bytes_free(&v);
        uint64_t now = vt_now_ns();
        if (fresh)
            return now - since;
        assert_true(now - since < (uint64_t)VT_NEAR_WAIT_MS * 1000000u);
        nanosleep(&pause, NULL);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void vt_near_print_windows(const char *what, uint64_t *lat, size_t n)
{
    assert_true(n > 0);
    qsort(lat, n, sizeof lat[0], cmp_u64);
    print_message("%s over %zu writes: p50 %.1f us, p99 %.1f us, max %.1f us (reads every %d us)\n",
                  what, n, (double)lat[n / 2] / 1e3, (double)lat[n * 99 / 100] / 1e3,
                  (double)lat[n - 1] / 1e3, VT_FRESH_POLL_NS / 1000);
}
