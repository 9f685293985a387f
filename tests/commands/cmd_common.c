/* The helpers the string, key and hash command tests share (cmd_common.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd_common.h"

vmux *M;
char errbuf[512];
vmux_callopts EO = VMUX_INIT(vmux_callopts, .errbuf = errbuf, .errlen = sizeof errbuf);

const char BIN[8] = "a\0b\r\n\0";

/* Keys live in a ring of buffers so that a test can hold several at once. */
static char keybufs[16][160];
static unsigned keynext;

vmux_str key(const char *name)
{
    char *b = keybufs[keynext++ % 16];
    int n = snprintf(b, sizeof keybufs[0], "vt:%s:%d:%s", cmd_family, (int)getpid(), name);
    return VMUX_STRN(b, (size_t)n);
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
