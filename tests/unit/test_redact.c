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
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/redact.h"
#include "vmux/config.h"

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

/* What a log callback was given last. */
static char logged[1024];

static void keep_line(vmux_log_level level, const char *line, void *userdata)
{
    (void)level;
    (void)userdata;
    snprintf(logged, sizeof logged, "%s", line);
}

/* Every log line masks the configured password, user (but "default") and sentinel password,
 * wherever a server's text put them, before the line is cut: no prefix survives the cut. */
static void test_log_lines_masked(void **state)
{
    (void)state;
    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_parse("127.0.0.1:6379,user=appuser,password=S3cretPw_XYZ,"
                                       "sentinelPassword=SentinelPw_42",
                                       &cfg, NULL, 0),
                     0);
    assert_int_equal(vmux_config_set_log(cfg, keep_line, VMUX_LOG_DEBUG, NULL), 0);
    vmux__log(cfg, VMUX_LOG_ERROR,
              "subscriber connection: ERR unknown command 'SUBSCRIBE', with args beginning with: "
              "'appuser' 'S3cretPw_XYZ' 'SentinelPw_42'");
    assert_string_equal(logged, "subscriber connection: ERR unknown command 'SUBSCRIBE', with "
                                "args beginning with: '*****' '*****' '*****'");
    /* a password across the line's cut (511 characters): not one byte of it is left */
    char pad[600];
    memset(pad, 'x', 508);
    pad[508] = '\0';
    vmux__log(cfg, VMUX_LOG_ERROR, "%sS3cretPw_XYZ", pad);
    assert_int_equal(strlen(logged), 511);
    assert_null(strstr(logged, "S3c"));
    /* a line longer than the formatting buffer is masked whole too */
    memset(pad, 'y', 599);
    pad[599] = '\0';
    vmux__log(cfg, VMUX_LOG_ERROR, "%s%s S3cretPw_XYZ", pad, pad);
    assert_null(strstr(logged, "S3cretPw"));
    vmux_config_free(cfg);

    /* the server's own user is no secret: its name stays readable */
    assert_int_equal(
        vmux_config_parse("127.0.0.1:6379,user=default,password=pw-of-default", &cfg, NULL, 0), 0);
    assert_int_equal(vmux_config_set_log(cfg, keep_line, VMUX_LOG_DEBUG, NULL), 0);
    vmux__log(cfg, VMUX_LOG_INFO, "readFrom: default order; pw-of-default");
    assert_string_equal(logged, "readFrom: default order; *****");
    vmux_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_occurrence_masked),
        cmocka_unit_test(test_log_lines_masked),
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
