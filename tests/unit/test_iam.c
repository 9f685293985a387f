/*
 * The ElastiCache IAM token and its provider (core/iam_token.c, core/iam.c, vmux/iam.h): a
 * token made at a fixed time checked part by part (host, path, every query parameter in
 * canonical order, the credential scope, the signed headers, the signature), for a replication
 * group and for a serverless cache; the provider keeping its token until it is refresh_s old
 * and renewing it then (an injected clock); and the clear errors of a missing variable of the
 * environment, a missing region or a bad option; the iam* configuration keys; and one provider
 * shared by several threads.
 *
 * The expected canonical query, the SHA-256 of the canonical request and the signatures were
 * computed apart from vmux, with Python's hashlib and hmac following AWS's SigV4 description:
 *
 *     def q(s): return urllib.parse.quote(s, safe='-._~')
 *     cq = '&'.join(q(k) + '=' + q(v) for k, v in sorted(params.items()))
 *     creq = 'GET\n/\n' + cq + '\nhost:my-group\n\nhost\n' + hashlib.sha256(b'').hexdigest()
 *     sts = 'AWS4-HMAC-SHA256\n20261202T153000Z\n' + scope + '\n' + sha256(creq).hexdigest()
 *     k = b'AWS4' + secret; for m in (date, region, 'elasticache', 'aws4_request'):
 *         k = hmac.new(k, m, sha256).digest()
 *     signature = hmac.new(k, sts, sha256).hexdigest()
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config_internal.h"
#include "core/iam_token.h"
#include "vmux/vmux.h"

#define T0 1796225400 /* 2026-12-02T15:30:00Z */
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SESSION "IQoJb3JpZ2luX2Vj/session+token=="
#define SCOPE "20261202/eu-west-1/elasticache/aws4_request"
#define EMPTY_HASH "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define TOKEN_MAX 4096

/* The parameters of the token, in canonical order, as they must appear in it: the SigV4 ones
 * that both kinds of token share, between User and X-Amz-Signature. */
#define SIGV4_PARAMS                                                                               \
    "X-Amz-Algorithm=AWS4-HMAC-SHA256",                                                            \
        "X-Amz-Credential=AKIDEXAMPLE%2F20261202%2Feu-west-1%2Felasticache%2Faws4_request",        \
        "X-Amz-Date=20261202T153000Z", "X-Amz-Expires=900",                                        \
        "X-Amz-Security-Token=IQoJb3JpZ2luX2Vj%2Fsession%2Btoken%3D%3D",                           \
        "X-Amz-SignedHeaders=host"

static const char *const group_params[] = {
    "Action=connect",
    "User=app-user",
    SIGV4_PARAMS,
    "X-Amz-Signature=08abd76f9a2ca70b6890b5d004b4802bc02dc19ff6c48e0a3ea00c4172d159e7",
    NULL,
};

static const char *const serverless_params[] = {
    "Action=connect",
    "ResourceType=ServerlessCache",
    "User=app-user",
    SIGV4_PARAMS,
    "X-Amz-Signature=0a032c7bb98470e1ca9c8c96d4c7f465cf64cda86c1f232a52ff13eefa42ed6b",
    NULL,
};

static int64_t fake_now;

static int64_t fake_clock(void *userdata)
{
    (void)userdata;
    return fake_now;
}

static void set_env(void)
{
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    setenv("AWS_SESSION_TOKEN", SESSION, 1);
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
}

static int setup(void **state)
{
    (void)state;
    set_env();
    fake_now = T0;
    return 0;
}

/* Checks the token: "my-group/?" then exactly the expected parameters, in that order. */
static void check_token(const char *token, const char *const *expect)
{
    const char *prefix = "my-group/?";
    assert_memory_equal(token, prefix, strlen(prefix)); /* host (lower case), path "/" */
    char *copy = strdup(token + strlen(prefix)), *save = NULL;
    size_t i = 0;
    for (char *p = strtok_r(copy, "&", &save); p != NULL; p = strtok_r(NULL, "&", &save), i++) {
        assert_non_null(expect[i]);
        assert_string_equal(p, expect[i]);
    }
    assert_null(expect[i]);
    free(copy);
}

static vmux_iam_provider *provider(bool serverless, int64_t refresh_s)
{
    vmux_iam_provider *p = NULL;
    char err[256] = "";
    int rc = vmux_iam_provider_new(
        &VMUX_INIT(vmux_iam_opts, .user = "app-user", .cache = "My-Group", .region = "eu-west-1",
                   .serverless = serverless, .refresh_s = refresh_s, .clock = fake_clock),
        &p, err, sizeof err);
    if (rc != 0)
        fail_msg("vmux_iam_provider_new: %s: %s", vmux_err_name(rc), err);
    return p;
}

/* The canonical request and string to sign behind the replication group's token. */
static void test_presign_parts(void **state)
{
    (void)state;
    const struct vmux__iam_target t = {"app-user", "my-group", "eu-west-1", false};
    const struct vmux__aws_creds c = {"AKIDEXAMPLE", SECRET, SESSION};
    struct vmux__sigv4_presigned sig;
    assert_int_equal(vmux__iam_presign(&t, &c, T0, &sig), 0);
    assert_string_equal(sig.canonical_request,
                        "GET\n/\n"
                        "Action=connect&User=app-user&X-Amz-Algorithm=AWS4-HMAC-SHA256&"
                        "X-Amz-Credential=AKIDEXAMPLE%2F20261202%2Feu-west-1%2Felasticache%"
                        "2Faws4_request&X-Amz-Date=20261202T153000Z&X-Amz-Expires=900&"
                        "X-Amz-Security-Token=IQoJb3JpZ2luX2Vj%2Fsession%2Btoken%3D%3D&"
                        "X-Amz-SignedHeaders=host\n"
                        "host:my-group\n\nhost\n" EMPTY_HASH);
    assert_string_equal(sig.string_to_sign,
                        "AWS4-HMAC-SHA256\n20261202T153000Z\n" SCOPE "\n"
                        "202b2287efdacdbc4063ff8e35b58ed70561a15556cce77dad33caba42240d2f");
    assert_string_equal(sig.signature,
                        "08abd76f9a2ca70b6890b5d004b4802bc02dc19ff6c48e0a3ea00c4172d159e7");
    vmux__sigv4_presigned_free(&sig);
}

/* A provider's first token, for a replication group or a serverless cache, part by part. */
static void expect_first_token(bool serverless, const char *const *expect)
{
    vmux_iam_provider *p = provider(serverless, 0);
    char token[TOKEN_MAX];
    assert_int_equal(vmux_iam_token(p, token, sizeof token, NULL, 0), 0);
    check_token(token, expect);
    vmux_iam_provider_free(p);
}

static void test_group_token(void **state)
{
    (void)state;
    expect_first_token(false, group_params);
}

static void test_serverless_token(void **state)
{
    (void)state;
    expect_first_token(true, serverless_params);
}

/* Without AWS_SESSION_TOKEN (long-term keys) the token has no X-Amz-Security-Token. */
static void test_no_session_token(void **state)
{
    (void)state;
    unsetenv("AWS_SESSION_TOKEN");
    vmux_iam_provider *p = provider(false, 0);
    char token[TOKEN_MAX];
    assert_int_equal(vmux_iam_token(p, token, sizeof token, NULL, 0), 0);
    assert_null(strstr(token, "X-Amz-Security-Token"));
    assert_non_null(strstr(token, "&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature="));
    vmux_iam_provider_free(p);
}

/* The X-Amz-Date a token was signed at. */
static void date_of(const char *token, char out[17])
{
    const char *d = strstr(token, "X-Amz-Date=");
    assert_non_null(d);
    memcpy(out, d + strlen("X-Amz-Date="), 16);
    out[16] = '\0';
}

/* The provider's token now (the kept one or a new one) into token (TOKEN_MAX bytes); it must
 * have been signed at date. */
static void token_signed_at(vmux_iam_provider *p, char *token, const char *date)
{
    char signed_at[17];
    assert_int_equal(vmux_iam_token(p, token, TOKEN_MAX, NULL, 0), 0);
    date_of(token, signed_at);
    assert_string_equal(signed_at, date);
}

/* The kept token serves until it is refresh_s old (default 600 s), then a new one is signed. */
static void test_refresh(void **state)
{
    (void)state;
    vmux_iam_provider *p = provider(false, 0);
    char first[TOKEN_MAX], token[TOKEN_MAX];
    assert_int_equal(vmux_iam_token(p, first, sizeof first, NULL, 0), 0);
    fake_now = T0 + 599;
    assert_int_equal(vmux_iam_token(p, token, sizeof token, NULL, 0), 0);
    assert_string_equal(token, first);
    fake_now = T0 + 600;
    token_signed_at(p, token, "20261202T154000Z");
    /* The credentials function hands out the same kept token, with the user. */
    char user[256], pass[TOKEN_MAX];
    fake_now = T0 + 900;
    assert_int_equal(vmux_iam_credentials(user, sizeof user, pass, sizeof pass, p), 0);
    assert_string_equal(user, "app-user");
    assert_string_equal(pass, token);
    /* A clock that went back gets a new token rather than one from its future. */
    fake_now = T0;
    assert_int_equal(vmux_iam_token(p, token, sizeof token, NULL, 0), 0);
    assert_string_equal(token, first);
    vmux_iam_provider_free(p);
}

/* refresh_s shortens the life of a kept token. */
static void test_refresh_option(void **state)
{
    (void)state;
    vmux_iam_provider *p = provider(false, 60);
    char token[TOKEN_MAX];
    fake_now = T0 + 59;
    token_signed_at(p, token, "20261202T153000Z");
    fake_now = T0 + 60;
    token_signed_at(p, token, "20261202T153100Z");
    vmux_iam_provider_free(p);
}

static void expect_new_fails(int code, const char *needle, const vmux_iam_opts *o)
{
    vmux_iam_provider *p = (vmux_iam_provider *)1;
    char err[256] = "";
    assert_int_equal(vmux_iam_provider_new(o, &p, err, sizeof err), code);
    assert_null(p);
    if (strstr(err, needle) == NULL)
        fail_msg("'%s' not in '%s'", needle, err);
}

/* A missing variable is named, at creation and when a later token cannot be signed. */
static void test_missing_env(void **state)
{
    (void)state;
    const vmux_iam_opts o = VMUX_INIT(vmux_iam_opts, .user = "app-user", .cache = "g",
                                      .region = "eu-west-1", .clock = fake_clock);
    unsetenv("AWS_ACCESS_KEY_ID");
    expect_new_fails(VMUX_ERR_CONFIG, "AWS_ACCESS_KEY_ID is not set in the environment", &o);
    set_env();
    unsetenv("AWS_SECRET_ACCESS_KEY");
    expect_new_fails(VMUX_ERR_CONFIG, "AWS_SECRET_ACCESS_KEY is not set", &o);
    set_env();
    vmux_iam_provider *p = provider(false, 0);
    unsetenv("AWS_ACCESS_KEY_ID");
    char token[TOKEN_MAX], err[256] = "", user[256], pass[TOKEN_MAX];
    assert_int_equal(vmux_iam_token(p, token, sizeof token, err, sizeof err), 0); /* still kept */
    fake_now = T0 + 600;
    assert_int_equal(vmux_iam_token(p, token, sizeof token, err, sizeof err), VMUX_ERR_CONFIG);
    assert_non_null(strstr(err, "AWS_ACCESS_KEY_ID is not set"));
    assert_int_not_equal(vmux_iam_credentials(user, sizeof user, pass, sizeof pass, p), 0);
    vmux_iam_provider_free(p);
}

/* The region comes from the options, else AWS_REGION, else AWS_DEFAULT_REGION, else an error. */
static void test_region(void **state)
{
    (void)state;
    const vmux_iam_opts o =
        VMUX_INIT(vmux_iam_opts, .user = "u", .cache = "g", .clock = fake_clock);
    expect_new_fails(VMUX_ERR_CONFIG, "no region given", &o);
    char token[TOKEN_MAX];
    const char *vars[] = {"AWS_DEFAULT_REGION", "AWS_REGION"};
    for (int i = 0; i < 2; i++) {
        setenv(vars[i], i == 0 ? "ap-south-1" : "us-west-2", 1);
        vmux_iam_provider *p = NULL;
        assert_int_equal(vmux_iam_provider_new(&o, &p, NULL, 0), 0);
        assert_int_equal(vmux_iam_token(p, token, sizeof token, NULL, 0), 0);
        assert_non_null(
            strstr(token, i == 0 ? "%2Fap-south-1%2Felasticache%2F" : "%2Fus-west-2%2Felast"));
        vmux_iam_provider_free(p);
    }
}

static void test_bad_args(void **state)
{
    (void)state;
    vmux_iam_opts o = VMUX_INIT(vmux_iam_opts, .user = "u", .cache = "g", .region = "r");
    expect_new_fails(VMUX_ERR_INVALID_ARG, "no options", NULL);
    o.user = "";
    expect_new_fails(VMUX_ERR_INVALID_ARG, "no user", &o);
    o.user = "u";
    o.cache = NULL;
    expect_new_fails(VMUX_ERR_INVALID_ARG, "no cache name", &o);
    o.cache = "g";
    o.refresh_s = 841;
    expect_new_fails(VMUX_ERR_INVALID_ARG, "refresh_s", &o);
    o.refresh_s = 0;
    o.size = 0;
    expect_new_fails(VMUX_ERR_INVALID_ARG, "VMUX_INIT", &o);
    vmux_iam_provider *p = provider(false, 0);
    char small[64], err[256] = "", user[4], pass[TOKEN_MAX];
    assert_int_equal(vmux_iam_token(p, small, sizeof small, err, sizeof err), VMUX_ERR_INVALID_ARG);
    assert_non_null(strstr(err, "bytes needed, the buffer has 64"));
    /* A user name longer than the handle's buffer is refused, not cut. */
    assert_int_equal(vmux_iam_credentials(user, sizeof user, pass, sizeof pass, p),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_iam_token(NULL, small, sizeof small, NULL, 0), VMUX_ERR_INVALID_ARG);
    vmux_iam_provider_free(p);
    vmux_iam_provider_free(NULL);
}

/* The credentials provider, which has no error buffer, leaves its words for vmux_last_error():
 * the handle's failure quotes them (lib/net/setup.c). */
static void test_credentials_words(void **state)
{
    (void)state;
    vmux_iam_provider *p = provider(false, 0);
    char user[256], small_user[4], small[64], pass[TOKEN_MAX];
    assert_int_equal(vmux_iam_credentials(small_user, sizeof small_user, pass, sizeof pass, p),
                     VMUX_ERR_INVALID_ARG);
    assert_string_equal(vmux_last_error(),
                        "invalid argument: IAM user: 9 bytes needed, the buffer has 4");
    assert_int_equal(vmux_iam_credentials(user, sizeof user, small, sizeof small, p),
                     VMUX_ERR_INVALID_ARG);
    if (strstr(vmux_last_error(), "invalid argument: IAM token: ") != vmux_last_error() ||
        strstr(vmux_last_error(), " bytes needed, the buffer has 64") == NULL)
        fail_msg("unexpected words: \"%s\"", vmux_last_error());
    assert_int_equal(vmux_iam_credentials(user, sizeof user, pass, sizeof pass, p), 0);
    assert_string_equal(vmux_last_error(), "");
    assert_string_equal(user, "app-user");
    vmux_iam_provider_free(p);
}

/* The iam* keys: parsed, printed back, and made into the config's own provider. */
static void test_config_keys(void **state)
{
    (void)state;
    vmux_config *cfg = NULL;
    char err[256] = "", text[1024];
    assert_int_equal(vmux_config_parse("h,iamUser=app-user,iamCache=My-Group,iamRegion=eu-west-1,"
                                       "iamServerless=true",
                                       &cfg, err, sizeof err),
                     0);
    vmux_config_to_string(cfg, text, sizeof text);
    assert_non_null(
        strstr(text, "iamUser=app-user,iamCache=My-Group,iamRegion=eu-west-1,iamServerless=true"));
    assert_int_equal(vmux__config_iam_install(cfg, err, sizeof err), 0);
    assert_true(cfg->credentials_fn == vmux_iam_credentials);
    assert_non_null(cfg->iam_owned);
    assert_ptr_equal(cfg->credentials_userdata, cfg->iam_owned);
    /* The provider signs for the keys' user, cache and region, serverless. */
    char user[256], pass[TOKEN_MAX];
    assert_int_equal(
        cfg->credentials_fn(user, sizeof user, pass, sizeof pass, cfg->credentials_userdata), 0);
    assert_string_equal(user, "app-user");
    assert_memory_equal(
        pass, "my-group/?Action=connect&ResourceType=ServerlessCache&User=app-user&",
        strlen("my-group/?Action=connect&ResourceType=ServerlessCache&User=app-user&"));
    assert_non_null(strstr(pass, "%2Feu-west-1%2Felasticache%2Faws4_request"));
    /* A copy shares the provider but does not own it: freeing both frees it once. */
    vmux_config *copy = vmux_config_dup(cfg);
    assert_null(copy->iam_owned);
    assert_ptr_equal(copy->credentials_userdata, cfg->iam_owned);
    vmux_config_free(copy);
    vmux_config_free(cfg);
}

static void expect_install_fails(const char *text, int code, const char *needle)
{
    vmux_config *cfg = NULL;
    char err[256] = "";
    assert_int_equal(vmux_config_parse(text, &cfg, err, sizeof err), 0);
    assert_int_equal(vmux__config_iam_install(cfg, err, sizeof err), code);
    assert_null(cfg->iam_owned);
    if (strstr(err, needle) == NULL)
        fail_msg("'%s' not in '%s'", needle, err);
    vmux_config_free(cfg);
}

static int dummy_provider(char *u, size_t us, char *p, size_t ps, void *ud)
{
    (void)u, (void)us, (void)p, (void)ps, (void)ud;
    return 0;
}

static void test_config_key_errors(void **state)
{
    (void)state;
    expect_install_fails("h,iamCache=g", VMUX_ERR_CONFIG, "iamCache is set but iamUser is not");
    expect_install_fails("h,iamRegion=eu-west-1", VMUX_ERR_CONFIG,
                         "iamRegion is set but iamUser is not");
    expect_install_fails("h,iamServerless=true", VMUX_ERR_CONFIG,
                         "iamServerless is set but iamUser is not");
    expect_install_fails("h,iamUser=u", VMUX_ERR_CONFIG, "iamUser is set but iamCache is not");
    expect_install_fails("h,iamUser=u,iamCache=g", VMUX_ERR_CONFIG, "no region given");
    unsetenv("AWS_ACCESS_KEY_ID");
    expect_install_fails("h,iamUser=u,iamCache=g,iamRegion=r", VMUX_ERR_CONFIG,
                         "AWS_ACCESS_KEY_ID is not set in the environment");
    set_env();
    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_parse("h,iamUser=u,iamCache=g,iamRegion=r", &cfg, NULL, 0), 0);
    vmux_config_set_credentials_provider(cfg, dummy_provider, NULL);
    char err[256] = "";
    assert_int_equal(vmux__config_iam_install(cfg, err, sizeof err), VMUX_ERR_CONFIG);
    assert_non_null(strstr(err, "both set"));
    vmux_config_free(cfg);
    /* No iam key: nothing to do. */
    assert_int_equal(vmux_config_parse("h", &cfg, NULL, 0), 0);
    assert_int_equal(vmux__config_iam_install(cfg, NULL, 0), 0);
    assert_null(cfg->credentials_fn);
    vmux_config_free(cfg);
}

/* One provider shared by several threads (several handles' I/O threads): each gets a whole
 * token signed at a time the clock gave, while the clock moves on and tokens are renewed. */
enum { THREADS = 4, CALLS = 200 };

static _Atomic int64_t shared_now = T0;

static int64_t shared_clock(void *userdata)
{
    (void)userdata;
    return atomic_fetch_add(&shared_now, 7) + 7;
}

static void *hammer(void *arg)
{
    vmux_iam_provider *p = arg;
    char token[TOKEN_MAX], user[256];
    for (int i = 0; i < CALLS; i++) {
        if (vmux_iam_credentials(user, sizeof user, token, sizeof token, p) != 0 ||
            strncmp(token, "my-group/?Action=connect&User=app-user&", 39) != 0 ||
            strstr(token, "&X-Amz-Signature=") == NULL ||
            strlen(strstr(token, "&X-Amz-Signature=")) != 17 + 64)
            return (void *)1;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    vmux_iam_provider *p = NULL;
    assert_int_equal(vmux_iam_provider_new(&VMUX_INIT(vmux_iam_opts, .user = "app-user",
                                                      .cache = "my-group", .region = "eu-west-1",
                                                      .refresh_s = 60, .clock = shared_clock),
                                           &p, NULL, 0),
                     0);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, p), 0);
    for (int i = 0; i < THREADS; i++) {
        void *bad = NULL;
        pthread_join(t[i], &bad);
        assert_null(bad);
    }
    vmux_iam_provider_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_presign_parts, setup),
        cmocka_unit_test_setup(test_group_token, setup),
        cmocka_unit_test_setup(test_serverless_token, setup),
        cmocka_unit_test_setup(test_no_session_token, setup),
        cmocka_unit_test_setup(test_refresh, setup),
        cmocka_unit_test_setup(test_refresh_option, setup),
        cmocka_unit_test_setup(test_missing_env, setup),
        cmocka_unit_test_setup(test_region, setup),
        cmocka_unit_test_setup(test_bad_args, setup),
        cmocka_unit_test_setup(test_credentials_words, setup),
        cmocka_unit_test_setup(test_config_keys, setup),
        cmocka_unit_test_setup(test_config_key_errors, setup),
        cmocka_unit_test_setup(test_threads, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
