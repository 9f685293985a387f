/*
 * MOVED and ASK error replies (route/redirect.h): the endpoint rules (last colon, IPv6, brackets,
 * an empty host, "?"), other errors passed over, malformed redirects refused, and every prefix
 * and single-byte change of a valid one read without harm.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "route/redirect.h"
#include "vmux/error.h"

static int parse(const char *msg, struct vmux_redirect *r)
{
    return vmux__redirect_parse(msg, strlen(msg), r);
}

static void expect(const char *msg, enum vmux_redirect_kind kind, unsigned slot, const char *host,
                   int port)
{
    struct vmux_redirect r;
    if (parse(msg, &r) != 1)
        fail_msg("'%s' is not read as a redirect", msg);
    assert_int_equal(r.kind, kind);
    assert_int_equal(r.slot, slot);
    assert_int_equal(r.hostlen, strlen(host));
    assert_memory_equal(r.host, host, r.hostlen);
    assert_int_equal(r.port, port);
    assert_int_equal(r.asked, host[0] == '\0');
    assert_int_equal(r.unknown, strcmp(host, "?") == 0);
}

static void test_redirects(void **state)
{
    (void)state;
    expect("MOVED 3999 127.0.0.1:6381", VMUX_REDIRECT_MOVED, 3999, "127.0.0.1", 6381);
    expect("ASK 3999 127.0.0.1:6381", VMUX_REDIRECT_ASK, 3999, "127.0.0.1", 6381);
    expect("MOVED 0 h:1", VMUX_REDIRECT_MOVED, 0, "h", 1);
    expect("MOVED 16383 node-3.example.com:65535", VMUX_REDIRECT_MOVED, 16383, "node-3.example.com",
           65535);
    /* IPv6, as the server writes it (no brackets): split at the last colon. */
    expect("MOVED 12 ::1:6380", VMUX_REDIRECT_MOVED, 12, "::1", 6380);
    expect("ASK 12 2001:db8::7:30001", VMUX_REDIRECT_ASK, 12, "2001:db8::7", 30001);
    expect("MOVED 12 [2001:db8::7]:30001", VMUX_REDIRECT_MOVED, 12, "2001:db8::7", 30001);
    /* An empty host: the host asked; "?": unknown. */
    expect("MOVED 3999 :6380", VMUX_REDIRECT_MOVED, 3999, "", 6380);
    expect("MOVED 3999 ?:6380", VMUX_REDIRECT_MOVED, 3999, "?", 6380);
    expect("ASK 1 []:7000", VMUX_REDIRECT_ASK, 1, "", 7000);
    /* Port 0: a node without an address (probe37: one restarted empty at its address), as "?". */
    expect("MOVED 15059 :0", VMUX_REDIRECT_MOVED, 15059, "?", 0);
    expect("MOVED 1 h:0", VMUX_REDIRECT_MOVED, 1, "?", 0);
    expect("ASK 1 ::1:00", VMUX_REDIRECT_ASK, 1, "?", 0);
}

static void test_other_errors(void **state)
{
    (void)state;
    struct vmux_redirect r = {.slot = 77};
    const char *others[] = {
        "ERR unknown command",
        "CROSSSLOT Keys in request don't hash to the same slot",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "CLUSTERDOWN The cluster is down",
        "MOV",
        "MOVE",
        "MOVEDX 1 h:1",
        "moved 1 h:1",
        "ASKING",
        "AS",
        "",
        "MOVED\t1 h:1",
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        if (parse(others[i], &r) != 0)
            fail_msg("'%s' is read as a redirect", others[i]);
    assert_int_equal(r.slot, 77); /* untouched */
    assert_int_equal(vmux__redirect_parse(NULL, 0, &r), 0);
    assert_int_equal(vmux__redirect_parse("MOVED 1 h:1", 0, &r), 0);
}

static void test_malformed(void **state)
{
    (void)state;
    struct vmux_redirect r = {.slot = 77};
    const char *bad[] = {
        "MOVED",
        "MOVED ",
        "ASK",
        "MOVED 1",
        "MOVED 1 ",
        "MOVED  1 h:1",
        "MOVED 1  h:1",
        "MOVED 1 h:1 ",
        "MOVED 1 h:1 x",
        "MOVED x h:1",
        "MOVED -1 h:1",
        "MOVED +1 h:1",
        "MOVED 16384 h:1",
        "MOVED 99999 h:1",
        "MOVED 123456 h:1",
        "MOVED 1 h",
        "MOVED 1 h:",
        "MOVED 1 h:65536",
        "MOVED 1 h:123456",
        "MOVED 1 h:-1",
        "MOVED 1 h:6x",
        "MOVED 1 [::1:6380",
        "MOVED 1 ::1]:6380",
        "MOVED 1 [:80",
        "MOVED 1 :",
        "ASK 1 h:80:",
        "MOVED 1\th:1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parse(bad[i], &r) != VMUX_ERR_PROTOCOL)
            fail_msg("'%s' is not refused as malformed", bad[i]);
    assert_int_equal(r.slot, 77);
    /* A NUL inside is a byte like another: not a digit, not a space. */
    assert_int_equal(vmux__redirect_parse("MOVED 1\0 h:1", 12, &r), VMUX_ERR_PROTOCOL);
    assert_int_equal(vmux__redirect_parse("MOVED 1 h:1\0", 12, &r), VMUX_ERR_PROTOCOL);
}

static void test_endpoint_split(void **state)
{
    (void)state;
    const char *host;
    size_t len;
    int port;
    assert_int_equal(vmux__endpoint_split("a:b:c:1", 7, &host, &len, &port), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(host, "a:b:c", 5);
    assert_int_equal(port, 1);
    /* Only len bytes are read. */
    assert_int_equal(vmux__endpoint_split("h:12345", 4, &host, &len, &port), 0);
    assert_int_equal(port, 12);
    assert_int_equal(vmux__endpoint_split("h:12", 1, &host, &len, &port), VMUX_ERR_PROTOCOL);
    assert_int_equal(vmux__endpoint_split("", 0, &host, &len, &port), VMUX_ERR_PROTOCOL);
}

/*
 * Every prefix of valid redirects, and every single-byte change of them, is read as a redirect,
 * another error or a malformed one, with a slot and port in range when it is a redirect; run
 * under the sanitizers, nothing is read outside the given bytes (each case has its own buffer of
 * exactly its length).
 */
static void test_mangled(void **state)
{
    (void)state;
    const char *valid[] = {"MOVED 3999 127.0.0.1:6381", "ASK 16383 [2001:db8::7]:30001",
                           "MOVED 12 ::1:6380", "MOVED 0 ?:1"};
    const char repl[] = {'\0', ' ', ':', '[', ']', '9', 'x', '?', '\xff'};
    for (size_t v = 0; v < sizeof valid / sizeof valid[0]; v++) {
        size_t n = strlen(valid[v]);
        for (size_t cut = 0; cut <= n; cut++) {
            for (size_t at = 0; at <= cut; at++) {
                for (size_t k = 0; k < sizeof repl; k++) {
                    char *buf = malloc(cut > 0 ? cut : 1);
                    memcpy(buf, valid[v], cut);
                    if (at < cut)
                        buf[at] = repl[k];
                    struct vmux_redirect r;
                    int rc = vmux__redirect_parse(buf, cut, &r);
                    assert_true(rc == 1 || rc == 0 || rc == VMUX_ERR_PROTOCOL);
                    if (rc == 1) {
                        bool none = r.unknown && r.port == 0; /* port 0: no address */
                        assert_true(r.slot < 16384 && (none || (r.port >= 1 && r.port <= 65535)));
                        assert_true(r.hostlen == 0 || none ||
                                    (r.host >= buf && r.host + r.hostlen <= buf + cut));
                    }
                    free(buf);
                    if (at == cut)
                        break;
                }
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redirects), cmocka_unit_test(test_other_errors),
        cmocka_unit_test(test_malformed), cmocka_unit_test(test_endpoint_split),
        cmocka_unit_test(test_mangled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
