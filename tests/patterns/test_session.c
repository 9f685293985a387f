/*
 * Sessions (session.h) against the real server: ids (length, alphabet, uniqueness, also from
 * many threads), fields read and written binary-safe, sliding expiry (every operation sets the
 * TTL back to the full idle TTL; a session used more often than its TTL outlives it; an idle
 * one expires and stays gone: writes do not bring it back), the absolute lifetime, missing and
 * malformed ids reported as not found, destroy, a key of another type, bad arguments, and the
 * longest TTL (VMUX_TTL_MAX_MS: taken by the server; a longer one refused by name). Server
 * state is checked over an admin connection. Keys start with "patsess:".
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "vmux/vmux.h"

#define S VMUX_STR

static int setup(void **state)
{
    *state = vt_open("plain", NULL);
    return 0;
}

static int teardown(void **state)
{
    vmux_close(*state);
    return 0;
}

static vmux_session_store *store(vmux *m, const char *prefix, int64_t idle_ms, int64_t life_ms)
{
    vmux_session_opts o = VMUX_INIT(vmux_session_opts, .prefix = prefix, .idle_ttl_ms = idle_ms,
                                    .max_lifetime_ms = life_ms);
    vmux_session_store *s = NULL;
    assert_int_equal(vmux_session_store_new(m, &o, &s), 0);
    assert_non_null(s);
    return s;
}

static long admin_long(const char *format, const char *key)
{
    char *r = vt_admin("plain", format, key);
    assert_non_null(r);
    char *end = NULL;
    long v = strtol(r, &end, 10);
    if (end == r)
        fail_msg("admin: not a number: %s", r);
    free(r);
    return v;
}

static char *key_of(vmux_session_store *s, const char *id)
{
    static char key[256];
    int n = vmux_session_key(s, id, key, sizeof key);
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(key));
    return key;
}

static long pttl(vmux_session_store *s, const char *id)
{
    return admin_long("PTTL %s", key_of(s, id));
}

static bool is_lower_hex(const char *id, size_t want)
{
    if (strlen(id) != want)
        return false;
    for (size_t i = 0; i < want; i++)
        if (strchr("0123456789abcdef", id[i]) == NULL)
            return false;
    return true;
}

static void expect_field(vmux_session_store *s, const char *id, vmux_str field, vmux_str want)
{
    vmux_bytes v = {0};
    bool found = false;
    assert_int_equal(vmux_session_get(s, NULL, id, field, &v, &found), 0);
    assert_true(found);
    assert_non_null(v.ptr);
    assert_int_equal(v.len, want.len);
    assert_memory_equal(v.ptr, want.ptr, want.len);
    vmux_bytes_free(&v);
}

static void test_create_and_read(void **state)
{
    vmux_session_store *s = store(*state, "patsess:basic:", 0, 0);
    vmux_str fields[] = {S("user"), S("role")};
    vmux_str values[] = {S("alice"), S("admin")};
    char id[VMUX_SESSION_ID_MAX];
    assert_int_equal(vmux_session_create(s, NULL, fields, values, 2, id), 0);
    assert_true(is_lower_hex(id, 32));

    char *key = key_of(s, id);
    assert_int_equal(strncmp(key, "patsess:basic:", 14), 0);
    assert_string_equal(key + 14, id);
    assert_int_equal(admin_long("EXISTS %s", key), 1);
    long ttl = pttl(s, id);
    assert_true(ttl > 0 && ttl <= 1800000); /* the default idle TTL: 30 minutes */
    char *r = vt_admin("plain", "HGET %s user", key);
    assert_string_equal(r, "alice");
    free(r);

    expect_field(s, id, S("user"), S("alice"));
    expect_field(s, id, S("role"), S("admin"));
    vmux_bytes v = {(char *)"junk", 4};
    bool found = false;
    assert_int_equal(vmux_session_get(s, NULL, id, S("nope"), &v, &found), 0);
    assert_true(found);
    assert_null(v.ptr);

    vmux_field_array all = {0};
    assert_int_equal(vmux_session_get_all(s, NULL, id, &all, &found), 0);
    assert_true(found);
    assert_int_equal(all.count, 2); /* the reserved field is not shown */
    for (size_t i = 0; i < all.count; i++) {
        bool user = strcmp(all.items[i].field.ptr, "user") == 0;
        assert_true(user || strcmp(all.items[i].field.ptr, "role") == 0);
        assert_string_equal(all.items[i].value.ptr, user ? "alice" : "admin");
    }
    vmux_field_array_free(&all);

    vmux_str more_f[] = {S("role"), S("theme")};
    vmux_str more_v[] = {S("viewer"), S("dark")};
    assert_int_equal(vmux_session_set(s, NULL, id, more_f, more_v, 2, &found), 0);
    assert_true(found);
    expect_field(s, id, S("role"), S("viewer"));
    expect_field(s, id, S("theme"), S("dark"));
    vmux_session_store_free(s);
}

static void test_empty_session_exists(void **state)
{
    vmux_session_store *s = store(*state, "patsess:empty:", 0, 0);
    char id[VMUX_SESSION_ID_MAX];
    assert_int_equal(vmux_session_create(s, NULL, NULL, NULL, 0, id), 0);
    vmux_field_array all = {0};
    bool found = false;
    assert_int_equal(vmux_session_get_all(s, NULL, id, &all, &found), 0);
    assert_true(found);
    assert_int_equal(all.count, 0);
    assert_null(all.items);

    /* deleting every field of its own leaves the session in place */
    vmux_str f[] = {S("a"), S("b")};
    vmux_str v[] = {S("1"), S("2")};
    assert_int_equal(vmux_session_set(s, NULL, id, f, v, 2, &found), 0);
    vmux_str gone[] = {S("a"), S("b"), S("never")};
    int64_t deleted = -1;
    assert_int_equal(vmux_session_del(s, NULL, id, gone, 3, &deleted, &found), 0);
    assert_true(found);
    assert_int_equal(deleted, 2);
    assert_int_equal(vmux_session_get_all(s, NULL, id, &all, &found), 0);
    assert_true(found);
    assert_int_equal(all.count, 0);
    vmux_session_store_free(s);
}

static void test_ids_unique(void **state)
{
    enum { N = 200 };
    vmux_session_opts o = VMUX_INIT(vmux_session_opts,
                                    .prefix = "patsess:ids:", .idle_ttl_ms = 60000, .id_bytes = 32);
    vmux_session_store *s = NULL;
    assert_int_equal(vmux_session_store_new(*state, &o, &s), 0);
    static char ids[N][VMUX_SESSION_ID_MAX];
    for (int i = 0; i < N; i++) {
        assert_int_equal(vmux_session_create(s, NULL, NULL, NULL, 0, ids[i]), 0);
        assert_true(is_lower_hex(ids[i], 64));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(ids[i], ids[j]);
    }
    vmux_session_store_free(s);
}

/* Brings the session's TTL down behind its back, runs op, and checks the TTL is full again. */
typedef void (*session_op)(vmux_session_store *s, const char *id);

static void op_get(vmux_session_store *s, const char *id)
{
    vmux_bytes v;
    bool found = false;
    assert_int_equal(vmux_session_get(s, NULL, id, S("user"), &v, &found), 0);
    assert_true(found);
    vmux_bytes_free(&v);
}

static void op_get_all(vmux_session_store *s, const char *id)
{
    vmux_field_array a;
    bool found = false;
    assert_int_equal(vmux_session_get_all(s, NULL, id, &a, &found), 0);
    assert_true(found);
    vmux_field_array_free(&a);
}

static void op_set(vmux_session_store *s, const char *id)
{
    vmux_str f = S("seen"), v = S("yes");
    bool found = false;
    assert_int_equal(vmux_session_set(s, NULL, id, &f, &v, 1, &found), 0);
    assert_true(found);
}

static void op_del(vmux_session_store *s, const char *id)
{
    vmux_str f = S("seen");
    bool found = false;
    assert_int_equal(vmux_session_del(s, NULL, id, &f, 1, NULL, &found), 0);
    assert_true(found);
}

static void op_touch(vmux_session_store *s, const char *id)
{
    bool found = false;
    int64_t ttl = 0;
    assert_int_equal(vmux_session_touch(s, NULL, id, &found, &ttl), 0);
    assert_true(found);
    assert_int_equal(ttl, 60000);
}

static void test_every_access_renews(void **state)
{
    vmux_session_store *s = store(*state, "patsess:renew:", 60000, 0);
    vmux_str f = S("user"), v = S("bob");
    char id[VMUX_SESSION_ID_MAX];
    assert_int_equal(vmux_session_create(s, NULL, &f, &v, 1, id), 0);
    session_op ops[] = {op_get, op_get_all, op_set, op_del, op_touch};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        free(vt_admin("plain", "PEXPIRE %s 2000", key_of(s, id)));
        long before = pttl(s, id);
        assert_true(before > 0 && before <= 2000);
        ops[i](s, id);
        long after = pttl(s, id);
        /* back near the full 60 s: far above the 2 s it had, never above 60 s */
        assert_true(after > 50000 && after <= 60000);
    }
    vmux_session_store_free(s);
}

struct ttl_wait {
    vmux_session_store *s;
    const char *id;
    long below;
};

static bool ttl_below(void *arg)
{
    struct ttl_wait *w = arg;
    long t = pttl(w->s, w->id);
    return t >= 0 && t < w->below;
}

static void test_use_keeps_session_past_ttl(void **state)
{
    vmux_session_store *s = store(*state, "patsess:alive:", 1500, 0);
    char id[VMUX_SESSION_ID_MAX];
    vmux_str f = S("user"), v = S("carol");
    assert_int_equal(vmux_session_create(s, NULL, &f, &v, 1, id), 0);
    uint64_t t0 = vt_now_ms();
    /* Each round lets at least 500 ms of the 1.5 s TTL run out, then reads: five rounds keep
     * the session alive for longer than its TTL. */
    for (int round = 0; round < 5; round++) {
        struct ttl_wait w = {s, id, 1000};
        assert_true(vt_wait_until(ttl_below, &w, 10000));
        expect_field(s, id, S("user"), S("carol"));
        assert_true(pttl(s, id) > 1000);
    }
    assert_true(vt_now_ms() - t0 >= 2000);
    assert_int_equal(admin_long("EXISTS %s", key_of(s, id)), 1);
    vmux_session_store_free(s);
}

static bool key_gone(void *arg)
{
    return admin_long("EXISTS %s", arg) == 0;
}

static void test_idle_session_expires(void **state)
{
    vmux_session_store *s = store(*state, "patsess:idle:", 300, 0);
    char id[VMUX_SESSION_ID_MAX];
    vmux_str f = S("user"), v = S("dave");
    assert_int_equal(vmux_session_create(s, NULL, &f, &v, 1, id), 0);
    char key[256];
    strcpy(key, key_of(s, id));
    assert_int_equal(admin_long("EXISTS %s", key), 1);
    assert_true(vt_wait_until(key_gone, key, 10000));

    vmux_bytes got = {(char *)"junk", 4};
    bool found = true;
    assert_int_equal(vmux_session_get(s, NULL, id, f, &got, &found), 0);
    assert_false(found);
    assert_null(got.ptr);
    /* a write to an expired session does not bring it back */
    found = true;
    assert_int_equal(vmux_session_set(s, NULL, id, &f, &v, 1, &found), 0);
    assert_false(found);
    assert_int_equal(admin_long("EXISTS %s", key), 0);
    vmux_session_store_free(s);
}

struct touch_wait {
    vmux_session_store *s;
    const char *id;
    int64_t max_ttl;
};

/* Touches the session; true once it is gone. Every TTL set must respect the lifetime. */
static bool touched_until_gone(void *arg)
{
    struct touch_wait *w = arg;
    bool found = false;
    int64_t ttl = -1;
    assert_int_equal(vmux_session_touch(w->s, NULL, w->id, &found, &ttl), 0);
    if (found)
        assert_true(ttl > 0 && ttl <= w->max_ttl);
    return !found;
}

static void test_absolute_lifetime(void **state)
{
    vmux_session_store *s = store(*state, "patsess:life:", 60000, 1500);
    char id[VMUX_SESSION_ID_MAX];
    assert_int_equal(vmux_session_create(s, NULL, NULL, NULL, 0, id), 0);
    char key[256];
    strcpy(key, key_of(s, id));
    long ttl = pttl(s, id);
    assert_true(ttl > 0 && ttl <= 1500);
    /* used all the time, it still ends at its lifetime (well before the 60 s idle TTL) */
    struct touch_wait w = {s, id, 1500};
    assert_true(vt_wait_until(touched_until_gone, &w, 20000));
    assert_int_equal(admin_long("EXISTS %s", key), 0);
    vmux_session_store_free(s);
}

static void test_binary_fields(void **state)
{
    vmux_session_store *s = store(*state, "patsess:bin:", 60000, 0);
    static const char f1[] = "a\0b", v1[] = "\0\xff\x01zz\0";
    char big[5000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 31 + 7);
    vmux_str fields[] = {VMUX_STRN(f1, 3), S("big"), S("empty"), S("big")};
    vmux_str values[] = {VMUX_STRN(v1, 6), S("first"), VMUX_STRN("", 0),
                         VMUX_STRN(big, sizeof big)};
    char id[VMUX_SESSION_ID_MAX];
    assert_int_equal(vmux_session_create(s, NULL, fields, values, 4, id), 0);
    expect_field(s, id, VMUX_STRN(f1, 3), VMUX_STRN(v1, 6));
    expect_field(s, id, S("big"), VMUX_STRN(big, sizeof big)); /* the last value given wins */
    expect_field(s, id, S("empty"), VMUX_STRN("", 0));
    vmux_bytes none;
    bool found = false;
    assert_int_equal(vmux_session_get(s, NULL, id, VMUX_STRN("a", 1), &none, &found), 0);
    assert_true(found);
    assert_null(none.ptr);

    vmux_field_array all;
    assert_int_equal(vmux_session_get_all(s, NULL, id, &all, &found), 0);
    assert_int_equal(all.count, 3);
    bool saw_bin = false;
    for (size_t i = 0; i < all.count; i++) {
        if (all.items[i].field.len == 3 && memcmp(all.items[i].field.ptr, f1, 3) == 0) {
            assert_memory_equal(all.items[i].field.ptr, f1, 3);
            assert_int_equal(all.items[i].value.len, 6);
            assert_memory_equal(all.items[i].value.ptr, v1, 6);
            saw_bin = true;
        }
    }
    assert_true(saw_bin);
    vmux_field_array_free(&all);

    vmux_str nulf = VMUX_STRN(f1, 3);
    int64_t deleted = 0;
    assert_int_equal(vmux_session_del(s, NULL, id, &nulf, 1, &deleted, &found), 0);
    assert_int_equal(deleted, 1);
    assert_int_equal(vmux_session_get(s, NULL, id, nulf, &none, &found), 0);
    assert_null(none.ptr);
    vmux_session_store_free(s);
}

/* Every operation on id reports not found, succeeds, and creates nothing. */
static void expect_missing(vmux_session_store *s, const char *id)
{
    vmux_str f = S("user"), v = S("x");
    vmux_bytes got = {(char *)"junk", 4};
    vmux_field_array all = {(vmux_field_value *)&got, 9};
    bool found = true;
    int64_t n = 7;
    assert_int_equal(vmux_session_get(s, NULL, id, f, &got, &found), 0);
    assert_false(found);
    assert_null(got.ptr);
    found = true;
    assert_int_equal(vmux_session_get_all(s, NULL, id, &all, &found), 0);
    assert_false(found);
    assert_int_equal(all.count, 0);
    found = true;
    assert_int_equal(vmux_session_set(s, NULL, id, &f, &v, 1, &found), 0);
    assert_false(found);
    found = true;
    assert_int_equal(vmux_session_del(s, NULL, id, &f, 1, &n, &found), 0);
    assert_false(found);
    assert_int_equal(n, 0);
    found = true;
    n = 7;
    assert_int_equal(vmux_session_touch(s, NULL, id, &found, &n), 0);
    assert_false(found);
    assert_int_equal(n, 0);
    found = true;
    assert_int_equal(vmux_session_destroy(s, NULL, id, &found), 0);
    assert_false(found);
}

static void test_missing_sessions(void **state)
{
    vmux_session_store *s = store(*state, "patsess:missing:", 60000, 0);
    const char *never = "0123456789abcdef0123456789abcdef";
    expect_missing(s, never);
    assert_int_equal(admin_long("EXISTS %s", key_of(s, never)), 0);

    /* ids this store cannot have made: no round trip, just "not found" */
    const char *bad[] = {"",
                         "xyz",
                         "0123456789ABCDEF0123456789ABCDEF",
                         "0123456789abcdef0123456789abcde",
                         "0123456789abcdef0123456789abcdef0",
                         "0123456789abcdef0123456789abcdeg",
                         "../../etc/passwd"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_missing(s, bad[i]);
        char key[256];
        assert_int_equal(vmux_session_key(s, bad[i], key, sizeof key), VMUX_ERR_INVALID_ARG);
    }

    /* a key under the prefix that is not a session (no reserved field) is not one */
    char key[256];
    strcpy(key, key_of(s, never));
    free(vt_admin("plain", "HSET %s user mallory", key));
    vmux_bytes got;
    bool found = true;
    assert_int_equal(vmux_session_get(s, NULL, never, S("user"), &got, &found), 0);
    assert_false(found);
    free(vt_admin("plain", "DEL %s", key));
    vmux_session_store_free(s);
}

static void test_destroy(void **state)
{
    vmux_session_store *s = store(*state, "patsess:destroy:", 60000, 0);
    char id[VMUX_SESSION_ID_MAX];
    vmux_str f = S("user"), v = S("erin");
    assert_int_equal(vmux_session_create(s, NULL, &f, &v, 1, id), 0);
    bool existed = false;
    assert_int_equal(vmux_session_destroy(s, NULL, id, &existed), 0);
    assert_true(existed);
    assert_int_equal(admin_long("EXISTS %s", key_of(s, id)), 0);
    expect_missing(s, id);
    vmux_session_store_free(s);
}

static void test_wrong_type(void **state)
{
    vmux_session_store *s = store(*state, "patsess:wrong:", 60000, 0);
    const char *id = "00000000000000000000000000000001";
    free(vt_admin("plain", "SET %s notahash", key_of(s, id)));
    char err[200] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux_bytes got;
    bool found = true;
    assert_int_equal(vmux_session_get(s, &o, id, S("f"), &got, &found), VMUX_ERR_SERVER);
    assert_false(found);
    assert_non_null(strstr(err, "WRONGTYPE"));
    free(vt_admin("plain", "DEL %s", key_of(s, id)));
    vmux_session_store_free(s);
}

static void test_bad_arguments(void **state)
{
    vmux *m = *state;
    vmux_session_store *s = NULL;
    vmux_session_opts o = VMUX_INIT(vmux_session_opts, .id_bytes = 8);
    assert_int_equal(vmux_session_store_new(m, &o, &s), VMUX_ERR_INVALID_ARG);
    assert_null(s);
    o = VMUX_INIT(vmux_session_opts, .id_bytes = VMUX_SESSION_ID_BYTES_MAX + 1);
    assert_int_equal(vmux_session_store_new(m, &o, &s), VMUX_ERR_INVALID_ARG);
    o = VMUX_INIT(vmux_session_opts, .idle_ttl_ms = -1);
    assert_int_equal(vmux_session_store_new(m, &o, &s), VMUX_ERR_INVALID_ARG);
    o = VMUX_INIT(vmux_session_opts, .max_lifetime_ms = -5);
    assert_int_equal(vmux_session_store_new(m, &o, &s), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_session_store_new(NULL, NULL, &s), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_session_store_new(m, NULL, NULL), VMUX_ERR_INVALID_ARG);
    vmux_session_store_free(NULL);

    s = store(m, "patsess:args:", 60000, 0);
    char id[VMUX_SESSION_ID_MAX] = "x";
    vmux_str empty = VMUX_STRN("", 0), f = S("f"), v = S("v");
    bool found = true;
    assert_int_equal(vmux_session_create(s, NULL, &empty, &v, 1, id), VMUX_ERR_INVALID_ARG);
    assert_string_equal(id, "");
    assert_int_equal(vmux_session_create(s, NULL, &f, NULL, 1, id), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_session_create(NULL, NULL, NULL, NULL, 0, id), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_session_create(s, NULL, NULL, NULL, 0, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_session_create(s, NULL, NULL, NULL, 0, id), 0);
    assert_int_equal(vmux_session_set(s, NULL, id, &empty, &v, 1, &found), VMUX_ERR_INVALID_ARG);
    assert_false(found);
    assert_int_equal(vmux_session_set(s, NULL, id, &f, &v, 0, &found), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_session_get(s, NULL, id, empty, NULL, &found), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_session_get(s, NULL, NULL, f, NULL, &found), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_session_del(s, NULL, id, &empty, 1, NULL, &found), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_session_del(s, NULL, id, &f, 0, NULL, &found), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_session_touch(NULL, NULL, id, &found, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_session_destroy(s, NULL, NULL, &found), VMUX_ERR_INVALID_ARG);
    char small[8];
    assert_int_equal(vmux_session_key(s, id, small, sizeof small), VMUX_ERR_INVALID_ARG);
    /* the reserved field is still there: the session was not harmed by any of it */
    char *r = vt_admin("plain", "HEXISTS %s %b", key_of(s, id), "", (size_t)0);
    assert_string_equal(r, "1");
    free(r);
    assert_int_equal(vmux_session_destroy(s, NULL, id, &found), 0);
    assert_true(found);
    vmux_session_store_free(s);
}

/* Expects call to refuse with words in err (opts->errbuf) equal to want. */
#define SESSION_REFUSED(err, call, want)                                                           \
    do {                                                                                           \
        (err)[0] = '\0';                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != VMUX_ERR_INVALID_ARG || strcmp((err), (want)) != 0)                             \
            fail_msg("%s: %s, errbuf '%s'; expected VMUX_ERR_INVALID_ARG, '%s'", #call,            \
                     vmux_err_name(rc_), (err), (want));                                           \
    } while (0)

/*
 * A session call's refusal names the argument in opts->errbuf, as the typed commands do; the
 * store's own refusals name theirs in vmux_last_error(). They returned a bare
 * VMUX_ERR_INVALID_ARG and left the buffer (and vmux_last_error()) as it was.
 */
static void test_refusal_words(void **state)
{
    vmux *m = *state;
    vmux_session_store *s = NULL;
    VT_LAST_ERROR(vmux_session_store_new(NULL, NULL, &s), VMUX_ERR_INVALID_ARG,
                  "invalid argument: the handle is NULL");
    VT_LAST_ERROR(vmux_session_store_new(m, &(vmux_session_opts){0}, &s), VMUX_ERR_INVALID_ARG,
                  "invalid argument: opts->size is 0: opts not made with VMUX_INIT (abi.h)");
    VT_LAST_ERROR(vmux_session_store_new(m, &VMUX_INIT(vmux_session_opts, .idle_ttl_ms = -1), &s),
                  VMUX_ERR_INVALID_ARG,
                  "invalid argument: idle_ttl_ms -1 out of range 0 .. 2^53 (VMUX_TTL_MAX_MS)");
    s = store(m, "patsess:words:", 60000, 0);
    char err[200], id[VMUX_SESSION_ID_MAX] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux_str empty = VMUX_STRN("", 0), f = S("f"), v = S("v"), nul = VMUX_STRN(NULL, 2);
    bool found;
    SESSION_REFUSED(err, vmux_session_create(NULL, &o, &f, &v, 1, id),
                    "invalid argument: s is NULL");
    SESSION_REFUSED(err, vmux_session_create(s, &o, &f, NULL, 1, id),
                    "invalid argument: values is NULL with n 1");
    SESSION_REFUSED(err, vmux_session_create(s, &o, &empty, &v, 1, id),
                    "invalid argument: fields[0] is empty: the field \"\" is the session's own");
    SESSION_REFUSED(err, vmux_session_create(s, &o, &f, &nul, 1, id),
                    "invalid argument: values[0] is at NULL with length 2 (a vmux_str {NULL, len > "
                    "0} is no string)");
    SESSION_REFUSED(err, vmux_session_get(s, &o, NULL, f, NULL, &found),
                    "invalid argument: id is NULL");
    SESSION_REFUSED(err, vmux_session_set(s, &o, "x", &f, &v, 0, &found),
                    "invalid argument: n is 0: must be at least 1");
    SESSION_REFUSED(err, vmux_session_set(s, &o, "x", &f, NULL, 1, &found),
                    "invalid argument: values is NULL with n 1");
    SESSION_REFUSED(err, vmux_session_del(s, &o, "x", NULL, 1, NULL, &found),
                    "invalid argument: fields is NULL with n 1");
    SESSION_REFUSED(err, vmux_session_touch(NULL, &o, "x", &found, NULL),
                    "invalid argument: s is NULL");
    SESSION_REFUSED(err, vmux_session_destroy(s, &o, NULL, &found), "invalid argument: id is NULL");
    vmux_session_store_free(s);
}

/*
 * TTLs: VMUX_TTL_MAX_MS (2^53 ms) is the longest, and the server takes it (the session exists,
 * with that TTL); a longer one is refused by name. INT64_MAX was accepted, and Lua turned it
 * negative: the created session was already gone; near it the PEXPIRE failed after the HSET and
 * left a session without a TTL.
 */
static void expect_ttl_refused(vmux *m, int64_t idle_ms, int64_t life_ms, const char *field)
{
    vmux_session_opts o =
        VMUX_INIT(vmux_session_opts, .idle_ttl_ms = idle_ms, .max_lifetime_ms = life_ms);
    vmux_session_store *s = NULL;
    assert_int_equal(vmux_session_store_new(m, &o, &s), VMUX_ERR_INVALID_ARG);
    assert_null(s);
    assert_non_null(strstr(vmux_last_error(), field));
}

static void test_ttl_bounds(void **state)
{
    vmux *m = *state;
    expect_ttl_refused(m, INT64_MAX, 0, "idle_ttl_ms");
    expect_ttl_refused(m, INT64_MAX - 1000000000000, 0, "idle_ttl_ms");
    expect_ttl_refused(m, VMUX_TTL_MAX_MS + 1, 0, "idle_ttl_ms");
    expect_ttl_refused(m, 0, INT64_MAX, "max_lifetime_ms");
    expect_ttl_refused(m, 0, VMUX_TTL_MAX_MS + 1, "max_lifetime_ms");
    for (int life = 0; life <= 1; life++) {
        vmux_session_store *s =
            store(m, "patsess:maxttl:", VMUX_TTL_MAX_MS, life ? VMUX_TTL_MAX_MS : 0);
        char id[VMUX_SESSION_ID_MAX];
        assert_int_equal(vmux_session_create(s, NULL, NULL, NULL, 0, id), 0);
        long ttl = pttl(s, id);
        assert_true(ttl > VMUX_TTL_MAX_MS - 3600000 && ttl <= VMUX_TTL_MAX_MS);
        bool found = false;
        int64_t set = 0;
        assert_int_equal(vmux_session_touch(s, NULL, id, &found, &set), 0);
        assert_true(found);
        assert_true(set > VMUX_TTL_MAX_MS - 3600000 && set <= VMUX_TTL_MAX_MS);
        assert_int_equal(vmux_session_destroy(s, NULL, id, &found), 0);
        assert_true(found);
        vmux_session_store_free(s);
    }
}

enum { THREADS = 8, PER_THREAD = 50 };

struct worker {
    vmux_session_store *s;
    int index;
    char ids[PER_THREAD][VMUX_SESSION_ID_MAX];
    int failures;
};

/* Creates sessions and reads each back; counts anything unexpected (cmocka is not threaded). */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        char value[32];
        snprintf(value, sizeof value, "%d:%d", w->index, i);
        vmux_str f = S("who"), v = S(value);
        bool found = false;
        vmux_bytes got = {0};
        if (vmux_session_create(w->s, NULL, &f, &v, 1, w->ids[i]) != 0 ||
            vmux_session_get(w->s, NULL, w->ids[i], f, &got, &found) != 0 || !found ||
            got.ptr == NULL || strcmp(got.ptr, value) != 0)
            w->failures++;
        vmux_bytes_free(&got);
    }
    return NULL;
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_threads_share_a_store(void **state)
{
    vmux_session_store *s = store(*state, "patsess:threads:", 60000, 0);
    static struct worker w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.s = s, .index = i};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    static char all[THREADS * PER_THREAD][VMUX_SESSION_ID_MAX];
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(w[i].failures, 0);
        memcpy(all[i * PER_THREAD], w[i].ids, sizeof w[i].ids);
    }
    qsort(all, THREADS * PER_THREAD, sizeof all[0], cmp_id);
    for (int i = 1; i < THREADS * PER_THREAD; i++)
        assert_string_not_equal(all[i - 1], all[i]);
    vmux_session_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_read),
        cmocka_unit_test(test_empty_session_exists),
        cmocka_unit_test(test_ids_unique),
        cmocka_unit_test(test_every_access_renews),
        cmocka_unit_test(test_use_keeps_session_past_ttl),
        cmocka_unit_test(test_idle_session_expires),
        cmocka_unit_test(test_absolute_lifetime),
        cmocka_unit_test(test_binary_fields),
        cmocka_unit_test(test_missing_sessions),
        cmocka_unit_test(test_destroy),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_refusal_words),
        cmocka_unit_test(test_ttl_bounds),
        cmocka_unit_test(test_threads_share_a_store),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
