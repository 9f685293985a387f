/*
 * What the string, key and hash command tests share: the handle and an options value with an
 * error buffer, unique keys (binary ones too), a binary value, and generic-API helpers that
 * read the server's state back. Include it once per test file, after defining CMD_FAMILY (the
 * key prefix, e.g. "strings"), cmocka.h, testutil.h and vmux/vmux.h.
 */
#ifndef VMUX_CMD_COMMON_H
#define VMUX_CMD_COMMON_H

static vmux *M;
static char errbuf[512];
static vmux_callopts EO = VMUX_INIT(vmux_callopts, .errbuf = errbuf, .errlen = sizeof errbuf);

/* Keys live in a ring of buffers so that a test can hold several at once. */
static char keybufs[16][160];
static unsigned keynext;

/* prefix + name, unique to this file and process. */
static vmux_str key(const char *name)
{
    char *b = keybufs[keynext++ % 16];
    int n = snprintf(b, sizeof keybufs[0], "vt:%s:%d:%s", CMD_FAMILY, (int)getpid(), name);
    return VMUX_STRN(b, (size_t)n);
}

/* A key with NUL bytes inside and at the end. */
static vmux_str binkey(const char *name)
{
    vmux_str k = key(name);
    char *b = (char *)k.ptr;
    memcpy(b + k.len, "\0k\0", 3);
    return VMUX_STRN(b, k.len + 3);
}

static const char BIN[] = "a\0b\r\n\0";
#define BINV VMUX_STRN(BIN, sizeof BIN) /* 8 bytes, NULs included */

/* A command through the generic API; fails the test on a transport error. */
static vmux_reply *raw(size_t n, const vmux_str *args)
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
#define RAW(...)                                                                                   \
    raw(sizeof((vmux_str[]){__VA_ARGS__}) / sizeof(vmux_str), (vmux_str[]){__VA_ARGS__})
#define S(s) VMUX_STR(s)
/* A command whose reply is not needed. */
#define DO(...) vmux_reply_free(RAW(__VA_ARGS__))

static int64_t raw_int(vmux_reply *r)
{
    assert_non_null(r);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_INTEGER);
    int64_t v = vmux_reply_integer(r);
    vmux_reply_free(r);
    return v;
}

/* Asserts a reply is the string want (binary-safe), and frees it. */
static void assert_raw_str(vmux_reply *r, vmux_str want)
{
    assert_non_null(r);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_STRING);
    size_t len;
    const char *s = vmux_reply_str(r, &len);
    assert_int_equal(len, want.len);
    assert_memory_equal(s, want.ptr, want.len);
    vmux_reply_free(r);
}

#endif
