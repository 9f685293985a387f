/*
 * Doubles go to the server and come back with a '.', whatever locale the program set
 * (core/cnum.h): under a de_DE LC_NUMERIC, whose decimal point is ',', INCRBYFLOAT, ZADD and
 * ZINCRBY send "1.5" and their replies read as numbers; a reply "3,5", which the server never
 * writes, is not a number. The locale is compiled by the test into its own directory
 * (localedef, from Debian's "locales" package, which scripts/check installs) and found through
 * LOCPATH.
 */
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/cnum.h"
#include "core/reader.h"
#include "testutil.h"
#include "vmux/vmux.h"

/* Makes de_DE.UTF-8 in a directory of the test's own and sets LC_ALL to it. */
static int group_setup(void **state)
{
    (void)state;
    const char *base = getenv("VMUX_TEST_STATE_DIR");
    static char dir[512], cmd[1200];
    snprintf(dir, sizeof dir, "%s/locale", base != NULL ? base : "/tmp");
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && localedef -i de_DE -f UTF-8 '%s/de_DE.UTF-8' 2>/dev/null", dir, dir);
    /* localedef exits 1 on warnings (a locale it still writes): the setlocale() below decides */
    if (system(cmd) == -1 || setenv("LOCPATH", dir, 1) != 0 ||
        setlocale(LC_ALL, "de_DE.UTF-8") == NULL) {
        fprintf(stderr, "cannot make and set de_DE.UTF-8 in %s (is \"locales\" installed?)\n", dir);
        return -1;
    }
    if (strcmp(localeconv()->decimal_point, ",") != 0) {
        fprintf(stderr, "de_DE.UTF-8's decimal point is \"%s\", not \",\"\n",
                localeconv()->decimal_point);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    setlocale(LC_ALL, "C");
    return 0;
}

/* A bulk string reply holding text, as the reader makes it. */
static vmux_reply *bulk(const char *text)
{
    static const struct vmux_reader_limits limits = {1u << 20, 1u << 20, 2u << 20};
    char resp[64];
    int n = snprintf(resp, sizeof resp, "$%zu\r\n%s\r\n", strlen(text), text);
    vmux_reader *rd = vmux__reader_new(&limits);
    assert_non_null(rd);
    assert_int_equal(vmux__reader_feed(rd, resp, (size_t)n), 0);
    vmux_reply *r = NULL;
    assert_int_equal(vmux__reader_next(rd, &r), 1);
    vmux__reader_free(rd);
    return r;
}

static void test_reply_text(void **state)
{
    (void)state;
    double d = 0;
    vmux_reply *r = bulk("3.5");
    assert_int_equal(vmux_reply_to_double(r, &d), 0);
    assert_true(d == 3.5);
    vmux_reply_free(r);
    r = bulk("3,5");
    assert_int_equal(vmux_reply_to_double(r, &d), VMUX_ERR_PROTOCOL);
    vmux_reply_free(r);
    char buf[32];
    vmux__fmt_g(buf, sizeof buf, 17, 1.5);
    assert_string_equal(buf, "1.5");
    assert_string_equal(localeconv()->decimal_point, ","); /* the thread's locale is untouched */
}

static void test_commands(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    vmux_str key = VMUX_STR("locale:f"), zkey = VMUX_STR("locale:z"), member = VMUX_STR("m");
    vmux_del(m, NULL, &key, 1, NULL);
    vmux_del(m, NULL, &zkey, 1, NULL);
    double sum = 0;
    assert_int_equal(vmux_incrbyfloat(m, NULL, key, 1.5, &sum), 0);
    assert_true(sum == 1.5);
    vmux_zmember item = {member, 2.25};
    int64_t added = 0;
    assert_int_equal(vmux_zadd(m, NULL, zkey, &item, 1, VMUX_COND_ALWAYS, false, &added), 0);
    assert_int_equal(added, 1);
    double score = 0;
    assert_int_equal(vmux_zincrby(m, NULL, zkey, member, 0.5, &score), 0);
    assert_true(score == 2.75);
    bool found = false;
    assert_int_equal(vmux_zscore(m, NULL, zkey, member, &score, &found), 0);
    assert_true(found && score == 2.75);
    vmux_del(m, NULL, &key, 1, NULL);
    vmux_del(m, NULL, &zkey, 1, NULL);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_text),
        cmocka_unit_test(test_commands),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
