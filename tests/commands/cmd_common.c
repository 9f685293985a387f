/* The helpers the string, key, hash and scan command tests share (cmd_common.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd_common.h"
#include "testutil.h"

vmux *M;
char errbuf[512];
vmux_callopts EO = VMUX_INIT(vmux_callopts, .errbuf = errbuf, .errlen = sizeof errbuf);

const char BIN[8] = "a\0b\r\n\0";
char junk[1];

/* Keys live in a ring of buffers so that a test can hold several at once. */
static char keybufs[16][160];
static unsigned keynext;

vmux_str key(const char *name)
{
    char *b = keybufs[keynext++ % 16];
    int group = (int)strcspn(name, "-");
    int n = snprintf(b, sizeof keybufs[0], "vt:{%s:%d:%.*s}:%s", cmd_family, (int)getpid(), group,
                     name, name);
    return VMUX_STRN(b, (size_t)n);
}

vmux_str slot_key(const char *tag, const char *name)
{
    char *b = keybufs[keynext++ % 16];
    int n =
        snprintf(b, sizeof keybufs[0], "vt:{%s}:%s:%s:%d", tag, cmd_family, name, (int)getpid());
    return VMUX_STRN(b, (size_t)n);
}

bool refused_crossslot(int rc, int64_t n)
{
    if (vt_cluster_mode() == NULL) {
        assert_int_equal(rc, 0);
        return false;
    }
    assert_int_equal(rc, VMUX_ERR_CROSSSLOT);
    assert_int_equal(n, 0);
    assert_non_null(strstr(errbuf, "slot 15495"));
    assert_non_null(strstr(errbuf, "slot 3300"));
    return true;
}

vmux_str binkey(const char *name)
{
    vmux_str k = key(name);
    char *b = (char *)k.ptr;
    memcpy(b + k.len, "\0k\0", 3);
    return VMUX_STRN(b, k.len + 3);
}

vmux_reply *raw(size_t n, const vmux_str *args)
{
    const char *argv[16];
    size_t lens[16];
    for (size_t i = 0; i < n; i++) {
        argv[i] = args[i].ptr;
        lens[i] = args[i].len;
    }
    vmux_reply *r = NULL;
    int rc = vmux_call(M, NULL, (int)n, argv, lens, &r);
    if (rc != 0 && rc != VMUX_ERR_SERVER)
        fail_msg("vmux_call: %s", vmux_err_name(rc));
    return r;
}

int64_t raw_int(vmux_reply *r)
{
    assert_non_null(r);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_INTEGER);
    int64_t v = vmux_reply_integer(r);
    vmux_reply_free(r);
    return v;
}

void assert_raw_str(vmux_reply *r, vmux_str want)
{
    assert_non_null(r);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_STRING);
    size_t len;
    const char *s = vmux_reply_str(r, &len);
    assert_int_equal(len, want.len);
    assert_memory_equal(s, want.ptr, want.len);
    vmux_reply_free(r);
}

void assert_raw_nil(vmux_reply *r)
{
    assert_non_null(r);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_NIL);
    vmux_reply_free(r);
}

void assert_wrongtype(int rc)
{
    assert_int_equal(rc, VMUX_ERR_SERVER);
    assert_non_null(strstr(errbuf, "WRONGTYPE"));
    errbuf[0] = '\0';
}

void assert_zero_bytes(const vmux_bytes *b)
{
    assert_null(b->ptr);
    assert_int_equal(b->len, 0);
}

void assert_zero_array(const vmux_bytes_array *a)
{
    assert_null(a->items);
    assert_int_equal(a->count, 0);
}

void on_reply(int status, vmux_reply *reply, void *userdata)
{
    struct done *d = userdata;
    d->status = status;
    d->reply = reply;
    atomic_store(&d->fired, 1);
}

bool fired(void *arg)
{
    return atomic_load(&((struct done *)arg)->fired) != 0;
}

void wait_done(struct done *d)
{
    assert_true(vt_wait_until(fired, d, 20000));
}

int64_t server_time(void)
{
    vmux_reply *r = RAW(S("TIME"));
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_ARRAY);
    int64_t t = strtoll(vmux_reply_str(vmux_reply_element(r, 0), NULL), NULL, 10);
    vmux_reply_free(r);
    return t;
}

int cmd_setup(void **state)
{
    (void)state;
    M = vt_open("plain", NULL);
    return 0;
}

int cmd_teardown(void **state)
{
    (void)state;
    vmux_close(M);
    M = NULL;
    return 0;
}
