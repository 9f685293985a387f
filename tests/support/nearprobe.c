/* Probes of a handle's near cache for the near-cache tests (nearprobe.h). */
#include "nearprobe.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "testutil.h"

vmux_str vt_str(const char *s)
{
    return (vmux_str){s, strlen(s)};
}

int vt_near_server_start(struct vt_near_server *s, const char *name, const char *const *extra)
{
    s->name = name;
    return vt_server_start(&s->srv, 0, extra);
}

void vt_near_server_stop(struct vt_near_server *s)
{
    vt_server_stop(&s->srv);
}

vmux *vt_near_open(const struct vt_near_server *s, const char *extra)
{
    char conf[256];
    snprintf(conf, sizeof conf, "nearCache=true,name=%s%s%s", s->name, extra ? "," : "",
             extra ? extra : "");
    return vt_server_open(&s->srv, conf);
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

void vt_near_set_cached(vmux *m, vmux *w, const char *key, const char *value)
{
    vt_set(w, key, value);
    vt_near_until_cached(m, key, value);
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

static int cmp_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The n texts sorted and joined by ","; frees them. */
static char *joined(char **texts, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(texts[i]) + 1;
    qsort(texts, n, sizeof *texts, cmp_text);
    char *out = calloc(1, len);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            strcat(out, ",");
        strcat(out, texts[i]);
        free(texts[i]);
    }
    free(texts);
    return out;
}

static char *fields_text(const vmux_field_array *a)
{
    char **t = calloc(a->count + 1, sizeof *t);
    assert_non_null(t);
    for (size_t i = 0; i < a->count; i++) {
        size_t len = a->items[i].field.len + a->items[i].value.len + 2;
        t[i] = malloc(len);
        assert_non_null(t[i]);
        snprintf(t[i], len, "%s=%s", a->items[i].field.ptr, a->items[i].value.ptr);
    }
    return joined(t, a->count);
}

static char *members_text(const vmux_bytes_array *a)
{
    char **t = calloc(a->count + 1, sizeof *t);
    assert_non_null(t);
    for (size_t i = 0; i < a->count; i++) {
        t[i] = strdup(a->items[i].ptr);
        assert_non_null(t[i]);
    }
    return joined(t, a->count);
}

/* The read's text in *out (NULL: a missing value); returns the read's error. */
static int read_text(const struct vt_near_read *r, char **out)
{
    vmux_bytes v = {0};
    vmux_field_array f = {0};
    vmux_bytes_array a = {0};
    int rc;
    *out = NULL;
    switch (r->kind) {
    case VT_NEAR_GET:
    case VT_NEAR_HGET:
        rc = r->kind == VT_NEAR_GET
                 ? vmux_near_get(r->m, NULL, vt_str(r->key), &v)
                 : vmux_near_hget(r->m, NULL, vt_str(r->key), vt_str(r->field), &v);
        if (rc == 0 && v.ptr != NULL)
            *out = strdup(v.ptr);
        vmux_bytes_free(&v);
        return rc;
    case VT_NEAR_HGETALL:
        rc = vmux_near_hgetall(r->m, NULL, vt_str(r->key), &f);
        *out = rc == 0 ? fields_text(&f) : NULL;
        vmux_field_array_free(&f);
        return rc;
    default:
        rc = vmux_near_smembers(r->m, NULL, vt_str(r->key), &a);
        *out = rc == 0 ? members_text(&a) : NULL;
        vmux_bytes_array_free(&a);
        return rc;
    }
}

char *vt_near_read_text(const struct vt_near_read *r)
{
    char *text;
    assert_int_equal(read_text(r, &text), 0);
    return text;
}

bool vt_near_read_is(const struct vt_near_read *r, const char *want)
{
    char *text;
    int rc = read_text(r, &text);
    bool same = rc == 0 && (want == NULL ? text == NULL : text != NULL && strcmp(text, want) == 0);
    free(text);
    return same;
}

struct read_probe {
    const struct vt_near_read *r;
    const char *want;
};

static bool read_stored(void *arg)
{
    struct read_probe *p = arg;
    uint64_t fills = vt_near_stats(p->r->m).fills;
    return vt_near_read_is(p->r, p->want) && vt_near_stats(p->r->m).fills > fills;
}

static bool read_hit(void *arg)
{
    struct read_probe *p = arg;
    uint64_t hits = vt_near_stats(p->r->m).hits;
    return vt_near_read_is(p->r, p->want) && vt_near_stats(p->r->m).hits > hits;
}

static bool read_sees(void *arg)
{
    struct read_probe *p = arg;
    return vt_near_read_is(p->r, p->want);
}

void vt_near_read_until_cached(const struct vt_near_read *r, const char *want)
{
    struct read_probe p = {r, want};
    vmux_near_forget(r->m, vt_str(r->key));
    assert_true(vt_wait_until(read_stored, &p, VT_NEAR_WAIT_MS));
    assert_true(vt_wait_until(read_hit, &p, VT_NEAR_WAIT_MS));
}

void vt_near_read_until_hit(const struct vt_near_read *r, const char *want)
{
    struct read_probe p = {r, want};
    assert_true(vt_wait_until(read_hit, &p, VT_NEAR_WAIT_MS));
}

void vt_near_read_until_sees(const struct vt_near_read *r, const char *want)
{
    struct read_probe p = {r, want};
    assert_true(vt_wait_until(read_sees, &p, VT_NEAR_WAIT_MS));
}

/* Appends the strings of the array r to buf, ',' between them. */
static void put_list(char *buf, size_t len, const vmux_reply *r)
{
    for (size_t i = 0; i < vmux_reply_len(r); i++) {
        size_t at = strlen(buf);
        snprintf(buf + at, len - at, "%s%s", i > 0 ? "," : "",
                 vmux_reply_str(vmux_reply_element(r, i), NULL));
    }
}

void vt_tracking_info(vmux *m, char *buf, size_t len)
{
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 2, (const char *[]){"CLIENT", "TRACKINGINFO"}, NULL, &r),
                     0);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_ARRAY);
    buf[0] = '\0';
    for (size_t i = 0; i + 1 < vmux_reply_len(r); i += 2) {
        const char *name = vmux_reply_str(vmux_reply_element(r, i), NULL);
        const vmux_reply *v = vmux_reply_element(r, i + 1);
        size_t at = strlen(buf);
        snprintf(buf + at, len - at, "%s%s=", i > 0 ? " " : "", name != NULL ? name : "?");
        if (vmux_reply_get_kind(v) == VMUX_REPLY_INTEGER) {
            at = strlen(buf);
            snprintf(buf + at, len - at, "%lld", (long long)vmux_reply_integer(v));
        } else {
            put_list(buf, len, v);
        }
    }
    vmux_reply_free(r);
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

/* xorshift64: the next number of *rng's sequence. */
static uint64_t next_random(uint64_t *rng)
{
    *rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17;
    return *rng;
}

static void *run_reader(void *arg)
{
    struct vt_near_worker *wk = arg;
    struct vt_near_run *r = wk->run;
    uint64_t rng = 0x9e3779b97f4a7c15u * (uint64_t)(wk->index + 1);
    while (!atomic_load(&r->stop)) {
        char key[32];
        vmux_bytes v;
        r->key_name(key, sizeof key, (unsigned)(next_random(&rng) % r->nkeys));
        if (vmux_near_get(r->m, NULL, vt_str(key), &v) != 0)
            atomic_fetch_add(&r->read_errors, 1);
        vmux_bytes_free(&v);
        atomic_fetch_add(&r->reads, 1);
    }
    return NULL;
}

static void *run_writer(void *arg)
{
    struct vt_near_worker *wk = arg;
    struct vt_near_run *r = wk->run;
    uint64_t rng = 0x2545f4914f6cdd1du * (uint64_t)(wk->index + 7), n = 0;
    while (!atomic_load(&r->stop)) {
        char key[32], value[48];
        r->key_name(key, sizeof key, (unsigned)(next_random(&rng) % r->nkeys));
        snprintf(value, sizeof value, "w%d-%llu", wk->index, (unsigned long long)n++);
        if (vmux_set(r->w[wk->index], NULL, vt_str(key), vt_str(value), VMUX_NO_EXPIRY,
                     VMUX_COND_ALWAYS, NULL) != 0)
            atomic_fetch_add(&r->write_errors, 1);
        else
            atomic_fetch_add(&r->writes, 1);
    }
    return NULL;
}

static void start_workers(struct vt_near_run *r, struct vt_near_worker *wk, int n,
                          void *(*fn)(void *))
{
    for (int i = 0; i < n; i++) {
        wk[i] = (struct vt_near_worker){r, i, 0};
        assert_int_equal(pthread_create(&wk[i].thread, NULL, fn, &wk[i]), 0);
    }
}

void vt_near_run_start(struct vt_near_run *r)
{
    assert_true(r->nreaders <= VT_NEAR_RUN_READERS);
    start_workers(r, r->readers, r->nreaders, run_reader);
    start_workers(r, r->writers, VT_NEAR_RUN_WRITERS, run_writer);
}

void vt_near_run_stop(struct vt_near_run *r)
{
    atomic_store(&r->stop, true);
    for (int i = 0; i < r->nreaders; i++)
        pthread_join(r->readers[i].thread, NULL);
    for (int i = 0; i < VT_NEAR_RUN_WRITERS; i++)
        pthread_join(r->writers[i].thread, NULL);
}
