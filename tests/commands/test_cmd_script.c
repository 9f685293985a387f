/* Scripts: EVALSHA with EVAL fallback, surviving SCRIPT FLUSH; errors; binary arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "vmux/vmux.h"

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

static const char SRC[] = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])";

static void test_sha1_is_computed_locally(void **state)
{
    (void)state;
    vmux_script *s;
    assert_int_equal(vmux_script_new(VMUX_STR("return 1"), &s), 0);
    /* sha1("return 1"), as SCRIPT LOAD would report it */
    assert_string_equal(vmux_script_sha1(s), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    vmux_script_free(s);
    assert_int_equal(vmux_script_new(VMUX_STRN("", 0), &s), VMUX_ERR_INVALID_ARG);
}

static void test_runs_and_survives_script_flush(void **state)
{
    vmux *m = *state;
    vmux_script *s;
    assert_int_equal(vmux_script_new(VMUX_STR(SRC), &s), 0);
    vmux_str keys[] = {VMUX_STR("scr:k")};
    vmux_str args[] = {VMUX_STRN("v\0one", 5)};
    vmux_reply *r;
    assert_int_equal(vmux_script_run(m, NULL, s, keys, 1, args, 1, &r), 0);
    size_t len;
    assert_memory_equal(vmux_reply_str(r, &len), "v\0one", 5);
    assert_int_equal(len, 5);
    vmux_reply_free(r);
    /* the server forgets every script; the next run loads it again by itself */
    free(vt_admin("plain", "SCRIPT FLUSH"));
    char *exists = vt_admin("plain", "SCRIPT EXISTS %s", vmux_script_sha1(s));
    assert_string_equal(exists, "0");
    free(exists);
    args[0] = VMUX_STR("two");
    assert_int_equal(vmux_script_run(m, NULL, s, keys, 1, args, 1, &r), 0);
    assert_string_equal(vmux_reply_str(r, NULL), "two");
    vmux_reply_free(r);
    exists = vt_admin("plain", "SCRIPT EXISTS %s", vmux_script_sha1(s));
    assert_string_equal(exists, "1");
    free(exists);
    vmux_script_free(s);
}

static void test_script_errors(void **state)
{
    vmux *m = *state;
    vmux_script *s;
    assert_int_equal(vmux_script_new(VMUX_STR("return redis.call('NOSUCHCOMMAND')"), &s), 0);
    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    vmux_reply *r;
    assert_int_equal(vmux_script_run(m, &o, s, NULL, 0, NULL, 0, &r), VMUX_ERR_SERVER);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_ERROR);
    assert_non_null(strstr(why, "Unknown") ? why : strstr(why, "unknown"));
    vmux_reply_free(r);
    assert_int_equal(vmux_script_run(m, NULL, s, NULL, 1, NULL, 0, &r), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_script_run(m, NULL, NULL, NULL, 0, NULL, 0, &r), VMUX_ERR_INVALID_ARG);
    vmux_script_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1_is_computed_locally),
        cmocka_unit_test_setup_teardown(test_runs_and_survives_script_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
