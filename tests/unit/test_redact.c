/*
 * Keeping credentials out of messages and memory: vmux__redact() masks every credential in a
 * message before it is cut to size, vmux__error_code() keeps only an error's code word, and a
 * connection buffer marked secret wipes the bytes it held once they are consumed, while it
 * keeps pending ones when it grows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/redact.h"
#include "core/buf.h"

static void test_every_occurrence_masked(void **state)
{
    (void)state;
    const char *secrets[] = {"hunter2", NULL, "", "alice"};
    char out[128];
    vmux__redact("alice: 'hunter2' and 'hunter2' again", out, sizeof(out), secrets, 4);
    assert_string_equal(out, "*****: '*****' and '*****' again");
    vmux__redact("nothing here", out, sizeof(out), secrets, 4);
    assert_string_equal(out, "nothing here");
    vmux__redact("no secrets", out, sizeof(out), NULL, 0);
    assert_string_equal(out, "no secrets");
}

/* A user name that begins the password must not leave the password's tail behind. */
static void test_longest_secret_wins(void **state)
{
    (void)state;
    const char *secrets[] = {"app", "app-s3cret"};
    char out[64];
    vmux__redact("args: 'app' 'app-s3cret'", out, sizeof(out), secrets, 2);
    assert_string_equal(out, "args: '*****' '*****'");
}

/* A short secret is masked where it stands alone, not inside every word that holds it. */
static void test_short_secret_alone_only(void **state)
{
    (void)state;
    const char *secrets[] = {"a", "bob"};
    char out[128];
    vmux__redact("unknown command 'AUTH', with args beginning with: 'bob' 'a' ", out, sizeof(out),
                 secrets, 2);
    assert_string_equal(out, "unknown command 'AUTH', with args beginning with: '*****' '*****' ");
    vmux__redact("a bobcat", out, sizeof(out), secrets, 2);
    assert_string_equal(out, "***** bobcat");
}

/* Masking runs over the whole text, so a cut never leaves a prefix of the password. */
static void test_cut_after_masking(void **state)
{
    (void)state;
    const char *secrets[] = {"0123456789abcdef"};
    char out[12];
    vmux__redact("xxxxxxxx0123456789abcdef", out, sizeof(out), secrets, 1);
    assert_string_equal(out, "xxxxxxxx***");
    vmux__redact("anything", out, 1, secrets, 1);
    assert_string_equal(out, "");
}

static void test_error_code_word(void **state)
{
    (void)state;
    char code[32];
    vmux__error_code("WRONGPASS invalid username-password pair", code, sizeof(code));
    assert_string_equal(code, "WRONGPASS");
    vmux__error_code("ERR unknown command 'AUTH', with args beginning with: 'pw'", code,
                     sizeof(code));
    assert_string_equal(code, "ERR");
    vmux__error_code("lowercase-secret", code, sizeof(code));
    assert_string_equal(code, "ERR");
    vmux__error_code("NOPERM_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 x", code, sizeof(code));
    assert_int_equal(strlen(code), 31);
    vmux__error_code("NOAUTH", code, 4);
    assert_string_equal(code, "NOA");
}

static bool all_zero(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

/* Drained: the secret's bytes are zero in the memory the buffer keeps for reuse. */
static void test_secret_buffer_wiped_when_drained(void **state)
{
    (void)state;
    static const char cmd[] = "*2\r\n$4\r\nAUTH\r\n$9\r\nhunter2!!\r\n";
    struct vmux_buf b = {0};
    assert_int_equal(vmux__buf_append(&b, cmd, sizeof(cmd) - 1), 0);
    b.secret = true;
    b.off = b.len; /* all sent */
    vmux__buf_drained(&b);
    assert_non_null(b.data);
    assert_true(all_zero(b.data, sizeof(cmd) - 1));
    assert_false(b.secret);
    vmux__buf_free(&b);
}

/* Compacted on the next append: the consumed secret is wiped before new bytes reuse the room. */
static void test_secret_buffer_wiped_when_compacted(void **state)
{
    (void)state;
    struct vmux_buf b = {0};
    assert_int_equal(vmux__buf_append(&b, "AUTH hunter2!!-long-tail", 24), 0);
    b.secret = true;
    b.off = b.len;
    assert_int_equal(vmux__buf_append(&b, "PING", 4), 0);
    assert_memory_equal(b.data, "PING", 4);
    assert_true(all_zero(b.data + 4, 20));
    assert_false(b.secret);
    vmux__buf_free(&b);
}

/* Grown while the secret is pending: the bytes move intact and stay marked. */
static void test_secret_buffer_grows_intact(void **state)
{
    (void)state;
    struct vmux_buf b = {0};
    assert_int_equal(vmux__buf_append(&b, "AUTH hunter2!!", 14), 0);
    b.secret = true;
    size_t cap = b.cap;
    static char big[64 * 1024];
    memset(big, 'x', sizeof(big));
    assert_int_equal(vmux__buf_append(&b, big, sizeof(big)), 0);
    assert_true(b.cap > cap);
    assert_memory_equal(b.data, "AUTH hunter2!!", 14);
    assert_true(b.secret);
    vmux__buf_free(&b);
    assert_null(b.data);
    assert_false(b.secret);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_occurrence_masked),
        cmocka_unit_test(test_longest_secret_wins),
        cmocka_unit_test(test_short_secret_alone_only),
        cmocka_unit_test(test_cut_after_masking),
        cmocka_unit_test(test_error_code_word),
        cmocka_unit_test(test_secret_buffer_wiped_when_drained),
        cmocka_unit_test(test_secret_buffer_wiped_when_compacted),
        cmocka_unit_test(test_secret_buffer_grows_intact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
