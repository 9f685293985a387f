/*
 * Hostile and broken replies: a scripted fake server (fakeserver.h) answers commands with
 * malformed, oversized, truncated, unsolicited or dribbled bytes, and each case checks that the
 * library reports a clear error code, never crashes, hangs or leaks (ASan/LSan and TSan builds
 * run this too), and that after a protocol error the same handle works again on a new
 * connection.
 *
 * The hostile command is INCR, which is never resent after a broken link, so each scripted
 * action answers exactly one call; the follow-up is a GET.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "vmux/vmux.h"

#include "fakefixture.h"
#include "testutil.h"

#define SYNC_TIMEOUT_MS 2000
/*
 * A TIMEOUT later than this many times its deadline means the deadline did not end the wait:
 * a liveness guard, not a speed claim, that a loaded machine under sanitizers cannot trip.
 */
#define LIVENESS 10
/* Time allowed for a reconnect or a link to be closed. */
#define EVENT_WAIT_MS 10000
/* An allocation this large for one reply would mean a hostile header was trusted. */
#define MAX_VM_GROWTH_KB (256 * 1024)

#define assert_status(expr, want)                                                                  \
    do {                                                                                           \
        int got_ = (expr);                                                                         \
        if (got_ != (want))                                                                        \
            fail_msg("%s returned %s, expected %s", #expr, vmux_err_name(got_),                    \
                     vmux_err_name(want));                                                         \
    } while (0)

/* Opens the handle on the fake server, with extra configuration keys when given. */
static void open_handle(vt_fake_fixture *fx, const char *extra)
{
    char keys[256];
    snprintf(keys, sizeof keys, "syncTimeout=%d%s%s", SYNC_TIMEOUT_MS, extra ? "," : "",
             extra ? extra : "");
    fx->m = vt_fake_open(fx->fake, keys);
    assert_int_equal(vt_fake_accepted(fx->fake), 1);
}

static int call_incr(vt_fake_fixture *fx, vmux_reply **out)
{
    const char *argv[] = {"INCR", "vmux:hostile"};
    return vmux_call(fx->m, NULL, 2, argv, NULL, out);
}

static int call_get(vt_fake_fixture *fx, vmux_reply **out)
{
    const char *argv[] = {"GET", "vmux:key"};
    return vmux_call(fx->m, NULL, 2, argv, NULL, out);
}

static void push(vt_fake_fixture *fx, vt_fake_kind kind, const void *bytes, size_t len)
{
    vt_fake_script(fx->fake, kind, bytes, len);
}

static void push_str(vt_fake_fixture *fx, vt_fake_kind kind, const char *bytes)
{
    vt_fake_script_str(fx->fake, kind, bytes);
}

static void assert_string_reply(const vmux_reply *r, const char *want)
{
    assert_non_null(r);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_STRING);
    size_t len = 0;
    const char *s = vmux_reply_str(r, &len);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(s, want, len);
}

/*
 * The command answered with bad[0..len) fails with want; the next command then succeeds, on the
 * conns-th connection: the second when the error ends the connection (proving the broken link was
 * replaced rather than reused out of step), the first when the reply was refused and skipped.
 */
static void expect_error_on(vt_fake_fixture *fx, const void *bad, size_t len, vt_fake_kind kind,
                            int want, int conns)
{
    push(fx, kind, bad, len);
    push_str(fx, VT_FAKE_SEND, "$5\r\nafter\r\n");
    vmux_reply *r = NULL;
    assert_status(call_incr(fx, &r), want);
    assert_null(r);

    assert_status(call_get(fx, &r), 0);
    assert_string_reply(r, "after");
    vmux_reply_free(r);
    assert_int_equal(vt_fake_accepted(fx->fake), conns);
    assert_int_equal(vt_fake_pending(fx->fake), 0);
}

/* expect_error_on() where the error ends the connection: the GET is answered on a second one. */
static void expect_error_then_recover(vt_fake_fixture *fx, const void *bad, size_t len,
                                      vt_fake_kind kind, int want)
{
    expect_error_on(fx, bad, len, kind, want, 2);
}

static void test_bad_type_byte(void **state)
{
    vt_fake_fixture *fx = *state;
    open_handle(fx, NULL);
    static const char bad[] = "?foo\r\n";
    expect_error_then_recover(fx, bad, sizeof bad - 1, VT_FAKE_SEND, VMUX_ERR_PROTOCOL);
}

/* A length near INT64_MAX must be refused at the header, not waited for until the deadline. */
static void test_huge_bulk_length(void **state)
{
    vt_fake_fixture *fx = *state;
    open_handle(fx, NULL);
    static const char bad[] = "$9223372036854775807\r\n";
    expect_error_then_recover(fx, bad, sizeof bad - 1, VT_FAKE_SEND, VMUX_ERR_PROTOCOL);
}

/* Peak virtual memory in kB: it grows with any large allocation, even one never touched. */
static long vm_peak_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    assert_non_null(f);
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmPeak: %ld kB", &kb) == 1)
            break;
    fclose(f);
    assert_true(kb > 0);
    return kb;
}

/*
 * 10^10 elements exceed the default maxReplyElements (16 Mi), and more than a refused reply may
 * owe (2^32: core/reader.c); 80 GB must not be allocated, nor the rest waited for.
 */
static void test_huge_array_count(void **state)
{
    vt_fake_fixture *fx = *state;
    open_handle(fx, NULL);
    static const char bad[] = "*10000000000\r\n";
    long before = vm_peak_kb();
    expect_error_then_recover(fx, bad, sizeof bad - 1, VT_FAKE_SEND, VMUX_ERR_PROTOCOL);
    long grown = vm_peak_kb() - before;
    if (grown > MAX_VM_GROWTH_KB)
        fail_msg("peak virtual memory grew by %ld kB for one refused reply", grown);
}

static void test_bulk_over_max_bulk_length(void **state)
{
    vt_fake_fixture *fx = *state;
    open_handle(fx, "maxBulkLength=1024");
    enum { N = 2000 };
    static char bad[16 + N + 2];
    int head = snprintf(bad, sizeof bad, "$%d\r\n", N);
    memset(bad + head, 'x', N);
    memcpy(bad + head + N, "\r\n", 2);
    /* refused and skipped: the GET is answered on the same connection */
    expect_error_on(fx, bad, (size_t)head + N + 2, VT_FAKE_SEND, VMUX_ERR_PROTOCOL, 1);
}

/* A GET whose reply the reader refuses: VMUX_ERR_PROTOCOL, no reply, the words in err. */
static void get_refused(vt_fake_fixture *fx, char *err, size_t errlen)
{
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = errlen);
    vmux_reply *r = NULL;
    assert_status(vmux_call(fx->m, &o, 2, (const char *[]){"GET", "vmux:big"}, NULL, &r),
                  VMUX_ERR_PROTOCOL);
    assert_null(r);
}

/* A synchronous caller hears which limit the reply broke, not only "malformed or oversized". */
static void test_bulk_over_max_bulk_length_says_so(void **state)
{
    vt_fake_fixture *fx = *state;
    open_handle(fx, "maxBulkLength=1024");
    push_str(fx, VT_FAKE_SEND, "$2000\r\n");
    char err[256] = "";
    get_refused(fx, err, sizeof err);
    if (strstr(err, "malformed or oversized reply from the server: ") != err ||
        strstr(err, "bulk string of 2000 bytes exceeds maxBulkLength 1024") == NULL)
        fail_msg("errbuf: %s", err);
}

/*
 * A typed call whose command ran and was answered in another shape than the function reads
 * (VMUX_ERR_PROTOCOL from its converter) names the command, what it expected and what came:
 * its words named only the reply's kind ("the command ran, but its reply (array) is not of the
 * shape this function reads").
 */
static void test_typed_reply_of_another_shape(void **state)
{
    vt_fake_fixture *fx = *state;
    open_handle(fx, NULL);
    char err[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    push_str(fx, VT_FAKE_SEND, "*3\r\n:1\r\n:2\r\n:3\r\n");
    vmux_bytes v;
    assert_status(vmux_get(fx->m, &o, VMUX_STR("k"), &v), VMUX_ERR_PROTOCOL);
    assert_null(v.ptr);
    assert_string_equal(err, "GET: the command ran, but its reply is not of the shape this "
                             "function reads: expected a string or nil, got array of 3 elements");
    push_str(fx, VT_FAKE_SEND, "$2\r\nhi\r\n");
    int64_t n = 7;
    assert_status(vmux_incr(fx->m, &o, VMUX_STR("k"), &n), VMUX_ERR_PROTOCOL);
    assert_int_equal(n, 0);
    assert_string_equal(err, "INCR: the command ran, but its reply is not of the shape this "
                             "function reads: expected an integer, got string");
}

/* An async caller hears the same, from vmux_last_error() in its callback; its reply stays NULL. */
static void test_bulk_over_max_bulk_length_says_so_async(void **state)
{
    vt_fake_fixture *fx = *state;
    open_handle(fx, "maxBulkLength=1024");
    push_str(fx, VT_FAKE_SEND, "$2000\r\n");
    struct vt_async h = {.status = 1};
    assert_status(
        vmux_call_async(fx->m, NULL, 2, (const char *[]){"GET", "vmux:big"}, NULL, vt_on_async, &h),
        0);
    assert_true(vt_wait_until(vt_async_done, &h, EVENT_WAIT_MS));
    assert_status(h.status, VMUX_ERR_PROTOCOL);
    assert_null(h.reply);
    if (strstr(h.words, "malformed or oversized reply from the server: ") != h.words ||
        strstr(h.words, "bulk string of 2000 bytes exceeds maxBulkLength 1024") == NULL)
        fail_msg("vmux_last_error() in the callback: %s", h.words);
}

/*
 * A status line longer than maxReplyBuffer (a script's status_reply can be) is refused, not
 * buffered: its command fails with the limit's words, the line is dropped as it comes, and the
 * next command is answered on the same connection.
 */
static void test_long_line_over_buffer(void **state)
{
    vt_fake_fixture *fx = *state;
    open_handle(fx, "maxBulkLength=1024,maxReplyBuffer=4096");
    enum { N = 3 * 4096 };
    char *bad = malloc(N + 2);
    assert_non_null(bad);
    bad[0] = '+';
    memset(bad + 1, 'a', N - 1);
    memcpy(bad + N, "\r\n", 2);
    expect_error_on(fx, bad, N + 2, VT_FAKE_SEND, VMUX_ERR_PROTOCOL, 1);
    free(bad);
}

/*
 * A length line that never ends is refused, with its reason, once it is longer than any length
 * can be (32 bytes): not buffered up to maxReplyBuffer (513 MiB by default) until the deadline.
 */
static void test_endless_length_line_refused(void **state)
{
    vt_fake_fixture *fx = *state;
    open_handle(fx, NULL);
    static char bad[4096];
    bad[0] = '$';
    memset(bad + 1, '7', sizeof bad - 1);
    push(fx, VT_FAKE_SEND, bad, sizeof bad);
    push_str(fx, VT_FAKE_SEND, "$5\r\nafter\r\n");
    char err[256] = "";
    get_refused(fx, err, sizeof err);
    if (strstr(err, "Protocol error, bulk string length longer than 32 bytes") == NULL)
        fail_msg("errbuf: %s", err);
    vmux_reply *r = NULL;
    assert_status(call_get(fx, &r), 0); /* on a new connection */
    assert_string_reply(r, "after");
    vmux_reply_free(r);
    assert_int_equal(vt_fake_accepted(fx->fake), 2);
}

/* levels arrays of one element, each in the next, around ":1" (the caller frees it). */
static char *nested(int levels)
{
    char *s = malloc((size_t)levels * 4 + 5);
    assert_non_null(s);
    for (int i = 0; i < levels; i++)
        memcpy(s + 4 * i, "*1\r\n", 4);
    memcpy(s + 4 * levels, ":1\r\n", 5);
    return s;
}

/*
 * A reply nested as deep as COMMAND DOCS's (13 levels) is a reply like any other: hiredis 0.14's
 * reader refused more than 7, and the connection failed with every command on it.
 */
static void test_deep_nesting_is_read(void **state)
{
    vt_fake_fixture *fx = *state;
    open_handle(fx, NULL);
    char *deep = nested(13);
    push(fx, VT_FAKE_SEND, deep, 13 * 4 + 4);
    free(deep);
    vmux_reply *r = NULL;
    assert_status(call_incr(fx, &r), 0);
    const vmux_reply *e = r;
    for (int i = 0; i < 13; i++)
        e = vmux_reply_element(e, 0);
    assert_non_null(e);
    assert_int_equal(vmux_reply_integer(e), 1);
    vmux_reply_free(r);
}

/* Deeper than the reader's limit (1024 levels, core/reader.h): fails cleanly, no overflow. */
static void test_nesting_too_deep(void **state)
{
    vt_fake_fixture *fx = *state;
    open_handle(fx, NULL);
    enum { LEVELS = 1100 };
    char *bad = nested(LEVELS);
    expect_error_then_recover(fx, bad, LEVELS * 4 + 4, VT_FAKE_SEND, VMUX_ERR_PROTOCOL);
    free(bad);
}

/* Half a reply and then EOF: the command was written, so its outcome is unknown. */
static void test_truncated_then_closed(void **state)
{
    vt_fake_fixture *fx = *state;
    open_handle(fx, NULL);
    static const char bad[] = "$10\r\nabc";
    expect_error_then_recover(fx, bad, sizeof bad - 1, VT_FAKE_SEND_CLOSE,
                              VMUX_ERR_CONNECTION_LOST);
}

static void test_closed_without_reply(void **state)
{
    vt_fake_fixture *fx = *state;
    open_handle(fx, NULL);
    expect_error_then_recover(fx, "", 0, VT_FAKE_CLOSE, VMUX_ERR_CONNECTION_LOST);
}

/* Half a reply and then silence: the deadline, not the server, ends the wait. */
static void test_truncated_then_silent(void **state)
{
    vt_fake_fixture *fx = *state;
    open_handle(fx, NULL);
    push_str(fx, VT_FAKE_SEND_SILENT, "$10\r\nabc");
    vmux_reply *r = NULL;
    uint64_t t0 = vt_now_ms();
    assert_status(call_incr(fx, &r), VMUX_ERR_TIMEOUT);
    uint64_t took = vt_now_ms() - t0;
    assert_null(r);
    if (took < SYNC_TIMEOUT_MS || took > LIVENESS * SYNC_TIMEOUT_MS)
        fail_msg("TIMEOUT came after %llu ms; syncTimeout is %d ms", (unsigned long long)took,
                 SYNC_TIMEOUT_MS);
}

static bool one_hangup(void *arg)
{
    return vt_fake_hangups(arg) >= 1;
}

/*
 * A reply with no command waiting for it: the first reply is delivered, the stray one makes
 * the client drop the link (it could otherwise be taken as the answer to a later command), and
 * the next command is answered on a new connection.
 */
static void test_unsolicited_reply(void **state)
{
    vt_fake_fixture *fx = *state;
    open_handle(fx, NULL);
    push_str(fx, VT_FAKE_SEND, "$2\r\nok\r\n+STRAY\r\n");
    vmux_reply *r = NULL;
    assert_status(call_get(fx, &r), 0);
    assert_string_reply(r, "ok");
    vmux_reply_free(r);

    if (!vt_wait_until(one_hangup, fx->fake, EVENT_WAIT_MS))
        fail_msg("the client kept the link after an unsolicited reply");
    push_str(fx, VT_FAKE_SEND, "$5\r\nafter\r\n");
    r = NULL;
    assert_status(call_get(fx, &r), 0);
    assert_string_reply(r, "after");
    vmux_reply_free(r);
    assert_int_equal(vt_fake_accepted(fx->fake), 2);
}

/* INFO cluster's answer on a standalone server: a bulk string. */
#define INFO_STANDALONE "$30\r\n# Cluster\r\ncluster_enabled:0\r\n\r\n"
/* Rounds of test_surplus_reply_in_setup: the unfixed client lost the race about 4 times in 5. */
#define SURPLUS_ROUNDS 8

/*
 * One reply too many in setup: the first connection's AUTH is answered "+OK" twice, so every
 * later reply on it is one command behind, and the setup's INFO cluster (detection, cluster=auto)
 * got the last CLIENT SETINFO's "+OK". It took that as "standalone", and the caller's GET then got
 * INFO's text with rc=0. Now INFO's reply must be a string: the "+OK" fails that connection
 * (VMUX_ERR_PROTOCOL) and the handle opens on a new one, where GET gets its own reply.
 */
static void test_surplus_reply_in_setup(void **state)
{
    (void)state;
    for (int round = 0; round < SURPLUS_ROUNDS; round++) {
        vt_fake *f = vt_fake_start();
        assert_non_null(f);
        assert_int_equal(vt_fake_answer(f, "AUTH", "+OK\r\n+OK\r\n", 1), 0);
        assert_int_equal(vt_fake_answer(f, "INFO", INFO_STANDALONE, 0), 0);
        assert_int_equal(vt_fake_answer(f, "READONLY", "+OK\r\n", 0), 0); /* the seed's */
        vt_fake_script_str(f, VT_FAKE_SEND, "$3\r\nbar\r\n");
        vmux *m = vt_fake_open(f, "cluster=auto,password=secret,syncTimeout=2000");
        const char *argv[] = {"GET", "vmux:key"};
        vmux_reply *r = NULL;
        int rc = vmux_call(m, NULL, 2, argv, NULL, &r);
        const char *said = r != NULL ? vmux_reply_str(r, NULL) : NULL;
        if (rc != 0 || said == NULL || strcmp(said, "bar") != 0)
            fail_msg("round %d: GET: %s, reply '%s' (another command's?)", round, vmux_err_name(rc),
                     said != NULL ? said : "(none)");
        vmux_reply_free(r);
        vmux_close(m);
        assert_true(vt_fake_accepted(f) >= 2); /* the out-of-step connection was replaced */
        vt_fake_stop(f);
    }
}

/*
 * A server that turns connections away (maxclients: "-ERR max number of clients reached", sent
 * before it reads a command, so the first one gets it) fails the open as a connection failure
 * with the server's words, whichever setup command came first: AUTH (probe29: VMUX_ERR_AUTH
 * "AUTH failed: ERR", as if the password were wrong) or an ignorable CLIENT SETINFO (probe29: the
 * error ignored, VMUX_ERR_IO "the server closed the connection"; this fake keeps it open, and the
 * handle opened).
 */
static void test_turned_away_in_setup(void **state)
{
    (void)state;
    static const char *const first[] = {"AUTH", "CLIENT"};
    static const char *const keys[] = {"password=secret,", ""};
    for (int i = 0; i < 2; i++) {
        vt_fake *f = vt_fake_start();
        assert_non_null(f);
        assert_int_equal(vt_fake_answer(f, first[i], "-ERR max number of clients reached\r\n", 0),
                         0);
        char conf[128], err[512] = "";
        snprintf(conf, sizeof conf, "127.0.0.1:%d,%sconnectRetry=1,cluster=no", vt_fake_port(f),
                 keys[i]);
        vmux *m = NULL;
        int rc = vmux_open_str(conf, &m, err, sizeof err);
        if (rc != VMUX_ERR_CONNECT || strstr(err, "max number of clients reached") == NULL)
            fail_msg("%s first: %s, '%s'", first[i], vmux_err_name(rc), err);
        assert_null(m);
        vt_fake_stop(f);
    }
}

static void test_reply_byte_by_byte(void **state)
{
    vt_fake_fixture *fx = *state;
    open_handle(fx, NULL);
    push_str(fx, VT_FAKE_SEND_BYTEWISE, "*4\r\n$5\r\nhello\r\n:-42\r\n$-1\r\n+OK\r\n");
    vmux_reply *r = NULL;
    assert_status(call_get(fx, &r), 0);
    assert_non_null(r);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_ARRAY);
    assert_int_equal(vmux_reply_len(r), 4);
    assert_string_reply(vmux_reply_element(r, 0), "hello");
    assert_int_equal(vmux_reply_get_kind(vmux_reply_element(r, 1)), VMUX_REPLY_INTEGER);
    assert_int_equal(vmux_reply_integer(vmux_reply_element(r, 1)), -42);
    assert_int_equal(vmux_reply_get_kind(vmux_reply_element(r, 2)), VMUX_REPLY_NIL);
    assert_int_equal(vmux_reply_get_kind(vmux_reply_element(r, 3)), VMUX_REPLY_STATUS);
    assert_string_equal(vmux_reply_str(vmux_reply_element(r, 3), NULL), "OK");
    vmux_reply_free(r);
    assert_int_equal(vt_fake_accepted(fx->fake), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        VT_FAKE_TEST(test_bad_type_byte),
        VT_FAKE_TEST(test_huge_bulk_length),
        VT_FAKE_TEST(test_huge_array_count),
        VT_FAKE_TEST(test_bulk_over_max_bulk_length),
        VT_FAKE_TEST(test_bulk_over_max_bulk_length_says_so),
        VT_FAKE_TEST(test_bulk_over_max_bulk_length_says_so_async),
        VT_FAKE_TEST(test_typed_reply_of_another_shape),
        VT_FAKE_TEST(test_long_line_over_buffer),
        VT_FAKE_TEST(test_endless_length_line_refused),
        VT_FAKE_TEST(test_deep_nesting_is_read),
        VT_FAKE_TEST(test_nesting_too_deep),
        VT_FAKE_TEST(test_truncated_then_closed),
        VT_FAKE_TEST(test_closed_without_reply),
        VT_FAKE_TEST(test_truncated_then_silent),
        VT_FAKE_TEST(test_unsolicited_reply),
        VT_FAKE_TEST(test_reply_byte_by_byte),
        VT_FAKE_TEST(test_surplus_reply_in_setup),
        cmocka_unit_test(test_turned_away_in_setup),
    };
    return cmocka_run_group_tests_name("hostile_replies", tests, NULL, NULL);
}
