/*
 * The ElastiCache IAM provider (vmux/iam.h) through the credentials hook, against a real server:
 * a local server cannot check a SigV4 signature, so the test makes the token the password of an
 * ACL user ("iam-app"), as an ElastiCache IAM user accepts exactly the token. The handle
 * authenticates as that user with the provider's token; once the kept token is renewed (an
 * injected clock moved 10 minutes on) and the server knows only the new one, a killed connection
 * comes back with the new token. A provider that cannot sign (a variable of the environment
 * gone) fails the attempt with VMUX_ERR_AUTH, in its own words. A session token of 4096 bytes
 * (AWS gives them no fixed size) makes a token the handle's password buffer holds; one too long
 * for it fails in words that say so.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* setenv, unsetenv under -std=c11 */
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "vmux/vmux.h"

enum { T0 = 1796225400, TOKEN_MAX = 65536, DEADLINE_MS = 20000 };

static _Atomic int64_t fake_now = T0;

static int64_t fake_clock(void *userdata)
{
    (void)userdata;
    return atomic_load(&fake_now);
}

/* A provider signing with session_token (and example keys) at the fake clock's T0. */
static vmux_iam_provider *make_provider_with(const char *session_token)
{
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
    setenv("AWS_SESSION_TOKEN", session_token, 1);
    atomic_store(&fake_now, T0);
    vmux_iam_provider *p = NULL;
    char err[256] = "";
    int rc = vmux_iam_provider_new(&VMUX_INIT(vmux_iam_opts, .user = "iam-app", .cache = "my-group",
                                              .region = "eu-west-1", .clock = fake_clock),
                                   &p, err, sizeof err);
    if (rc != 0)
        fail_msg("vmux_iam_provider_new: %s (%s)", vmux_err_name(rc), err);
    return p;
}

static vmux_iam_provider *make_provider(void)
{
    return make_provider_with("IQoJb3JpZ2luX2Vj/session+token==");
}

/* A base64 session token of len bytes (an STS token's alphabet: '+', '/' and '=' are
 * percent-encoded in the IAM token, so it grows), allocated. */
static char *session_token_of(size_t len)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *s = malloc(len + 1);
    assert_non_null(s);
    for (size_t i = 0; i < len; i++)
        s[i] = i + 2 >= len ? '=' : b64[(i * 37 + i / 64) % 64];
    s[len] = '\0';
    return s;
}

/* The server's user iam-app takes exactly the provider's current token as its password;
 * returns the token's length. */
static size_t server_user_takes(vmux_iam_provider *p)
{
    static char token[TOKEN_MAX]; /* the test's thread only */
    assert_int_equal(vmux_iam_token(p, token, sizeof token, NULL, 0), 0);
    char *r = vt_admin("plain", "ACL SETUSER iam-app reset on >%s ~* &* +@all", token);
    assert_non_null(r);
    assert_string_equal(r, "OK");
    free(r);
    return strlen(token);
}

static vmux *open_with(vmux_iam_provider *p, const char *extra)
{
    char *conf = vt_server_config("plain", extra);
    vmux_config *cfg = vt_config(conf);
    free(conf);
    assert_int_equal(vmux_config_set_credentials_provider(cfg, vmux_iam_credentials, p), 0);
    vmux *m = vt_open_config(cfg, "IAM provider");
    vmux_config_free(cfg);
    return m;
}

static bool whoami_is_iam_app(void *arg)
{
    vmux_reply *r = NULL;
    const char *argv[] = {"ACL", "WHOAMI"};
    if (vmux_call(arg, NULL, 2, argv, NULL, &r) != 0)
        return false;
    const char *s = vmux_reply_str(r, NULL);
    bool ok = s != NULL && strcmp(s, "iam-app") == 0;
    vmux_reply_free(r);
    return ok;
}

static void test_token_authenticates_and_renews(void **state)
{
    (void)state;
    vmux_iam_provider *p = make_provider();
    server_user_takes(p);
    vmux *m = open_with(p, "abortConnect=true,reconnectMin=50,reconnectMax=200");
    assert_true(whoami_is_iam_app(m));

    /* Ten minutes on, the provider signs a new token; the server now knows only that one. */
    atomic_store(&fake_now, T0 + 600);
    server_user_takes(p);
    free(vt_admin("plain", "CLIENT KILL USER iam-app"));
    if (!vt_poll_until(whoami_is_iam_app, m, DEADLINE_MS, 50))
        fail_msg("no command succeeded as iam-app with the renewed token within %d ms",
                 DEADLINE_MS);
    vmux_close(m);
    vmux_iam_provider_free(p);
}

static void test_provider_failure_is_auth_error(void **state)
{
    (void)state;
    vmux_iam_provider *p = make_provider();
    unsetenv("AWS_SECRET_ACCESS_KEY");
    atomic_store(&fake_now, T0 + 600); /* the kept token is too old: a new one cannot be signed */
    char *conf = vt_server_config("plain", "connectRetry=1");
    vmux_config *cfg = vt_config(conf);
    free(conf);
    vmux_config_set_credentials_provider(cfg, vmux_iam_credentials, p);
    vmux *m = NULL;
    char err[256] = "";
    assert_int_equal(vmux_open(cfg, &m, err, sizeof err), VMUX_ERR_AUTH);
    assert_null(m);
    if (strstr(err, "the credentials provider failed: IAM token: AWS_SECRET_ACCESS_KEY is not "
                    "set in the environment") == NULL)
        fail_msg("unexpected reason: %s", err);
    vmux_config_free(cfg);
    vmux_iam_provider_free(p);
}

/* An STS session token of 4096 bytes makes an IAM token of some 4.7 KB, which the handle's
 * password buffer holds: the server's user, whose password is that token, is authenticated. */
static void test_long_session_token(void **state)
{
    (void)state;
    char *session = session_token_of(4096);
    vmux_iam_provider *p = make_provider_with(session);
    assert_true(server_user_takes(p) > 4096); /* the buffer's size before */
    vmux *m = open_with(p, "abortConnect=true,connectRetry=1");
    assert_true(whoami_is_iam_app(m));
    vmux_close(m);
    vmux_iam_provider_free(p);
    free(session);
}

/* A token longer than the handle's buffer (16384 bytes) fails the attempt in words that give
 * both sizes, rather than "the credentials provider failed" alone. */
static void test_token_too_long_words(void **state)
{
    (void)state;
    char *session = session_token_of(16000);
    vmux_iam_provider *p = make_provider_with(session);
    char token[64], want[128], err[512] = "";
    size_t needed = 0;
    assert_int_equal(vmux_iam_token(p, token, sizeof token, err, sizeof err), VMUX_ERR_INVALID_ARG);
    assert_int_equal(sscanf(err, "invalid argument: IAM token: %zu bytes needed", &needed), 1);
    assert_true(needed > 16384);
    snprintf(want, sizeof want,
             "the credentials provider failed: invalid argument: IAM token: %zu bytes needed, the "
             "buffer has 16384",
             needed);
    char *conf = vt_server_config("plain", "connectRetry=1");
    vmux_config *cfg = vt_config(conf);
    free(conf);
    vmux_config_set_credentials_provider(cfg, vmux_iam_credentials, p);
    vmux *m = NULL;
    err[0] = '\0';
    assert_int_equal(vmux_open(cfg, &m, err, sizeof err), VMUX_ERR_AUTH);
    assert_null(m);
    if (strstr(err, want) == NULL)
        fail_msg("the reason does not say \"%s\": %s", want, err);
    vmux_config_free(cfg);
    vmux_iam_provider_free(p);
    free(session);
}

/* The iam* keys: vmux_open() makes the provider itself. The server's user takes any password
 * here (nopass): the token's text is the unit tests' business; this checks the handle
 * authenticates as iamUser through the provider the keys made, and that a missing variable
 * fails the open in words. */
static void test_config_keys(void **state)
{
    (void)state;
    vmux_iam_provider_free(make_provider()); /* sets the environment */
    char *r = vt_admin("plain", "ACL SETUSER iam-keys reset on nopass ~* &* +@all");
    assert_non_null(r);
    free(r);
    char *conf =
        vt_server_config("plain", "iamUser=iam-keys,iamCache=my-group,iamRegion=eu-west-1");
    vmux *m = vt_open_conf(conf);
    vmux_reply *reply = NULL;
    const char *argv[] = {"ACL", "WHOAMI"};
    assert_int_equal(vmux_call(m, NULL, 2, argv, NULL, &reply), 0);
    assert_string_equal(vmux_reply_str(reply, NULL), "iam-keys");
    vmux_reply_free(reply);
    vmux_close(m);

    unsetenv("AWS_ACCESS_KEY_ID");
    char err[256] = "";
    m = NULL;
    assert_int_equal(vmux_open_str(conf, &m, err, sizeof err), VMUX_ERR_CONFIG);
    assert_null(m);
    if (strstr(err, "AWS_ACCESS_KEY_ID is not set") == NULL)
        fail_msg("unexpected reason: %s", err);
    free(conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_authenticates_and_renews),
        cmocka_unit_test(test_provider_failure_is_auth_error),
        cmocka_unit_test(test_long_session_token),
        cmocka_unit_test(test_token_too_long_words),
        cmocka_unit_test(test_config_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
