/* The helpers the list, set and sorted-set command tests share (cmd_collections.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd_collections.h"
#include "testutil.h"

int cmd_state_setup(void **state)
{
    *state = vt_open("plain", NULL);
    return 0;
}

int cmd_state_teardown(void **state)
{
    vmux_close(*state);
    return 0;
}

void del(vmux_str key)
{
    char *r = vt_admin("plain", "DEL %b", key.ptr, key.len);
    assert_non_null(r);
    free(r);
}

long admin_int(const char *format, vmux_str key)
{
    char *r = vt_admin("plain", format, key.ptr, key.len);
    assert_non_null(r);
    long v = strtol(r, NULL, 10);
    free(r);
    return v;
}

void set_string(vmux_str key)
{
    char *r = vt_admin("plain", "SET %b text", key.ptr, key.len);
    assert_non_null(r);
    assert_string_equal(r, "OK");
    free(r);
}

void call_array(vmux *m, int argc, const char **argv, const size_t *lens, vmux_bytes_array *out)
{
    vmux_reply *r;
    assert_int_equal(vmux_call(m, NULL, argc, argv, lens, &r), 0);
    assert_int_equal(vmux_reply_to_bytes_array(r, out), 0);
    vmux_reply_free(r);
}

void assert_bytes(const vmux_bytes *b, vmux_str want)
{
    assert_non_null(b->ptr);
    assert_int_equal(b->len, want.len);
    assert_memory_equal(b->ptr, want.ptr, want.len);
    assert_int_equal(b->ptr[b->len], '\0');
}

void expect_array(const vmux_bytes_array *got, const vmux_str *want, size_t n)
{
    assert_int_equal(got->count, n);
    for (size_t i = 0; i < n; i++)
        assert_bytes(&got->items[i], want[i]);
}

void expect_wrongtype(int rc, const char *err)
{
    assert_int_equal(rc, VMUX_ERR_SERVER);
    if (strstr(err, "WRONGTYPE") == NULL)
        fail_msg("no WRONGTYPE in '%s'", err);
}

vmux_reply *wait_reply(struct vt_async *r)
{
    assert_true(vt_wait_until(vt_async_done, r, 10000));
    assert_int_equal(r->status, 0);
    return r->reply;
}

size_t scan_member(char *buf, char tag, char tail, int i)
{
    int n = snprintf(buf, 24, "%c:%d", tag, i);
    buf[n] = '\0';
    buf[n + 1] = tail;
    return (size_t)n + 2;
}

int scan_index(const vmux_bytes *b, char tag, char tail, int n)
{
    if (b->len < 5 || b->ptr[0] != tag || b->ptr[1] != ':')
        fail_msg("unexpected member %.*s", (int)b->len, b->ptr);
    int i = atoi(b->ptr + 2);
    char want[24];
    size_t len = scan_member(want, tag, tail, i);
    assert_true(i >= 0 && i < n);
    assert_int_equal(b->len, len);
    assert_memory_equal(b->ptr, want, len);
    return i;
}

void assert_refused_words(const char *buf)
{
    if (strncmp(buf, "invalid argument: ", 18) != 0)
        fail_msg("not a refusal's words: \"%s\"", buf);
}
