/* Numbered keys and the servers' counts of what they served: see readkeys.h. */
#include "readkeys.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#define KEY_MAX 32

long vt_node_info(int port, const char *section, const char *field)
{
    char *text = vt_node_admin(port, false, "INFO %s", section);
    assert_non_null(text);
    const char *p = strstr(text, field);
    long v = p != NULL ? strtol(p + strlen(field), NULL, 10) : -1;
    free(text);
    return v;
}

long vt_node_calls(int port, const char *command)
{
    char field[64];
    snprintf(field, sizeof field, "cmdstat_%s:calls=", command);
    long v = vt_node_info(port, "commandstats", field);
    return v < 0 ? 0 : v; /* no line: never called since the last CONFIG RESETSTAT */
}

void vt_keys_write(vmux *m, const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        char k[KEY_MAX], v[KEY_MAX];
        snprintf(k, sizeof k, "%s%d", prefix, i);
        snprintf(v, sizeof v, "v%d", i);
        assert_int_equal(
            vmux_set(m, NULL, VMUX_STR(k), VMUX_STR(v), VMUX_NO_EXPIRY, VMUX_COND_ALWAYS, NULL), 0);
    }
}

void vt_keys_read(vmux *m, const vmux_callopts *o, const char *prefix, int n, int rounds)
{
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < n; i++) {
            char k[KEY_MAX];
            snprintf(k, sizeof k, "%s%d", prefix, i);
            vmux_bytes v = {0};
            assert_int_equal(vmux_get(m, o, VMUX_STR(k), &v), 0);
            assert_non_null(v.ptr);
            vmux_bytes_free(&v);
        }
}

void vt_keys_mget(vmux *m, const char *prefix, int n, vmux_bytes_array *vals)
{
    assert_true(n > 0);
    char(*names)[KEY_MAX] = calloc((size_t)n, sizeof *names);
    vmux_str *keys = calloc((size_t)n, sizeof *keys);
    assert_true(names != NULL && keys != NULL);
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "%s%d", prefix, i);
        keys[i] = VMUX_STR(names[i]);
    }
    *vals = (vmux_bytes_array){0};
    int rc = vmux_mget(m, NULL, keys, (size_t)n, vals);
    free(keys);
    free(names);
    assert_int_equal(rc, 0);
    assert_int_equal(vals->count, n);
}

int vt_set_get(vmux *m, const char *key, const char *value, char *why, size_t len)
{
    const char *set[] = {"SET", key, value};
    const char *get[] = {"GET", key};
    vmux_reply *r = NULL;
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = len);
    int rc = vmux_call(m, &o, 3, set, NULL, &r);
    vmux_reply_free(r);
    r = NULL;
    if (rc == 0)
        rc = vmux_call(m, &o, 2, get, NULL, &r);
    const char *got = rc == 0 ? vmux_reply_str(r, NULL) : NULL;
    if (rc == 0 && strcmp(got != NULL ? got : "", value) != 0) {
        rc = VT_WRONG_VALUE;
        snprintf(why, len, "GET %s: not '%s'", key, value);
    }
    vmux_reply_free(r);
    return rc;
}

void vt_must_set_get(vmux *m, const char *key, const char *value)
{
    char why[256] = "";
    int rc = vt_set_get(m, key, value, why, sizeof why);
    if (rc != 0)
        fail_msg("%s: %s (%s)", key, rc == VT_WRONG_VALUE ? "wrong value" : vmux_err_name(rc), why);
}

int vt_scan_step(vmux_scan *it, void (*mark)(void *arg, const vmux_bytes *key), void *arg)
{
    vmux_bytes_array batch;
    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    int rc = vmux_scan_next(it, &o, &batch);
    if (rc < 0)
        fail_msg("vmux_scan_next: %s (%s)", vmux_err_name(rc), why);
    for (size_t i = 0; i < batch.count; i++)
        mark(arg, &batch.items[i]);
    vmux_bytes_array_free(&batch);
    return rc;
}
