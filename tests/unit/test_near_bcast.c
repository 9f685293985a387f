/*
 * The near cache's BCAST mode, its pure parts: the prefix lists of nearCachePrefixes
 * (core/near_prefix.h: checked, matched, cut into PREFIX arguments) and the check of a tracked
 * read's tracking element in EXEC's reply (api/near_track.h: CLIENT CACHING YES's OK in OPTIN
 * mode, CLIENT TRACKINGINFO's flags, redirect and prefixes in BCAST mode), on replies parsed
 * from RESP2 bytes as the server sends them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/near_track.h"
#include "core/near_prefix.h"
#include "core/reader.h"

static bool ok(const char *list)
{
    char why[256] = "";
    bool good = vmux__near_prefixes_ok(list, why, sizeof why);
    assert_true(good == (why[0] == '\0'));
    return good;
}

static void test_prefix_lists(void **state)
{
    (void)state;
    assert_true(ok(NULL));
    assert_true(ok(""));
    assert_true(ok("user:"));
    assert_true(ok("user:;session:;ab;ac"));
    assert_false(ok("user:;user:1"));
    assert_false(ok("user:1;user:"));
    assert_false(ok("a;b;a"));
    assert_false(ok("a;;b"));
    assert_false(ok(";a"));
    assert_false(ok("a;"));
    assert_false(ok(";"));
    char why[256];
    assert_false(vmux__near_prefixes_ok("x;ab;a", why, sizeof why));
    assert_non_null(strstr(why, "'ab' and 'a'"));
    assert_int_equal(vmux__near_prefix_count(NULL), 0);
    assert_int_equal(vmux__near_prefix_count("a;b;c"), 3);
}

static void test_prefix_match(void **state)
{
    (void)state;
    assert_true(vmux__near_prefix_match(NULL, "anything", 8));
    assert_true(vmux__near_prefix_match("", "", 0));
    assert_true(vmux__near_prefix_match("u:;s:", "s:1", 3));
    assert_true(vmux__near_prefix_match("u:;s:", "u:", 2));
    assert_false(vmux__near_prefix_match("u:;s:", "u", 1));
    assert_false(vmux__near_prefix_match("u:;s:", "x:1", 3));
}

static void test_prefix_split(void **state)
{
    (void)state;
    const char *argv[VMUX_NEAR_MAX_PREFIXES];
    char *copy;
    assert_int_equal(vmux__near_prefix_split(NULL, &copy, argv), 0);
    assert_null(copy);
    assert_int_equal(vmux__near_prefix_split("u:;s:;a b", &copy, argv), 3);
    assert_string_equal(argv[0], "u:");
    assert_string_equal(argv[1], "s:");
    assert_string_equal(argv[2], "a b");
    free(copy);
}

/* The reply that RESP2 bytes make. */
static vmux_reply *reply_of(const char *resp)
{
    static const struct vmux_reader_limits limits = {1u << 20, 1u << 20, 2u << 20};
    vmux_reader *rd = vmux__reader_new(&limits);
    vmux_reply *r = NULL;
    assert_int_equal(vmux__reader_feed(rd, resp, strlen(resp)), 0);
    assert_int_equal(vmux__reader_next(rd, &r), 1);
    vmux__reader_free(rd);
    return r;
}

/* Whether CLIENT TRACKINGINFO's answer (flags, redirect, prefixes as RESP) passes for key. */
static bool bcast_passes(const char *flags, long long redirect, const char *prefixes,
                         long long want, const char *key)
{
    char resp[512];
    snprintf(resp, sizeof resp,
             "*6\r\n$5\r\nflags\r\n%s$8\r\nredirect\r\n:%lld\r\n$8\r\nprefixes\r\n%s", flags,
             redirect, prefixes);
    vmux_reply *r = reply_of(resp);
    struct vmux_near_check c = {true, want, false};
    bool pass = vmux__near_track_ok(r, &c, key, strlen(key));
    vmux_reply_free(r);
    return pass;
}

#define ON_BCAST "*2\r\n$2\r\non\r\n$5\r\nbcast\r\n"
#define PREFIXES "*2\r\n$2\r\nu:\r\n$2\r\ns:\r\n"

static void test_trackinginfo_check(void **state)
{
    (void)state;
    assert_true(bcast_passes(ON_BCAST, 7, PREFIXES, 7, "u:1"));
    assert_true(bcast_passes(ON_BCAST, 7, "*1\r\n$0\r\n\r\n", 7, "any"));    /* "": every key */
    assert_false(bcast_passes(ON_BCAST, 8, PREFIXES, 7, "u:1"));             /* another redirect */
    assert_false(bcast_passes(ON_BCAST, 7, PREFIXES, 0, "u:1"));             /* none known */
    assert_false(bcast_passes(ON_BCAST, 7, PREFIXES, 7, "x:1"));             /* under no prefix */
    assert_false(bcast_passes(ON_BCAST, 7, "*0\r\n", 7, "u:1"));             /* no prefix at all */
    assert_false(bcast_passes("*1\r\n$2\r\non\r\n", 7, PREFIXES, 7, "u:1")); /* not bcast */
    assert_false(bcast_passes("*1\r\n$3\r\noff\r\n", 7, PREFIXES, 7, "u:1"));
    assert_false(bcast_passes("*3\r\n$2\r\non\r\n$5\r\nbcast\r\n$15\r\nbroken_redirect\r\n", 7,
                              PREFIXES, 7, "u:1"));

    /* replica reads: the redirect was checked as the read was written; any positive one will do,
     * the rest of the check stands */
    struct vmux_near_check any = {true, 0, true};
    vmux_reply *info = reply_of("*6\r\n$5\r\nflags\r\n" ON_BCAST "$8\r\nredirect\r\n:9\r\n"
                                "$8\r\nprefixes\r\n" PREFIXES);
    vmux_reply *none = reply_of("*6\r\n$5\r\nflags\r\n" ON_BCAST "$8\r\nredirect\r\n:-1\r\n"
                                "$8\r\nprefixes\r\n" PREFIXES);
    assert_true(vmux__near_track_ok(info, &any, "u:1", 3));
    assert_false(vmux__near_track_ok(info, &any, "x:1", 3)); /* under no prefix */
    assert_false(vmux__near_track_ok(none, &any, "u:1", 3)); /* redirecting nowhere */
    vmux_reply_free(info);
    vmux_reply_free(none);

    struct vmux_near_check bcast = {true, 7, false}, optin = {false, 0, false};
    vmux_reply *err = reply_of("-ERR CLIENT CACHING YES is only valid in OPTIN mode\r\n");
    vmux_reply *okr = reply_of("+OK\r\n");
    assert_false(vmux__near_track_ok(err, &bcast, "u:1", 3));
    assert_false(vmux__near_track_ok(err, &optin, "u:1", 3));
    assert_true(vmux__near_track_ok(okr, &optin, "u:1", 3));
    assert_false(vmux__near_track_ok(okr, &bcast, "u:1", 3));
    assert_false(vmux__near_track_ok(NULL, &bcast, "u:1", 3));
    assert_false(vmux__near_track_ok(NULL, &optin, "u:1", 3));
    vmux_reply_free(err);
    vmux_reply_free(okr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix_lists),
        cmocka_unit_test(test_prefix_match),
        cmocka_unit_test(test_prefix_split),
        cmocka_unit_test(test_trackinginfo_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
