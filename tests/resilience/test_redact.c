/*
 * No credential in what a failed connection reports. A server may echo AUTH's arguments in its
 * error (here AUTH is renamed away, so the server answers "unknown command 'AUTH', with args
 * beginning with: '<user>' '<password>'"), or name the user (NOPERM); that text must not reach
 * vmux_open's error buffer, any log line (at DEBUG) or any CONNECTION_FAILED event. Each case
 * uses its own distinctive user and password, given in the config string, as a URL or by the
 * credentials provider, and checks every message for them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strndup under -std=c11 */
#endif
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "servers.h"
#include "testutil.h"
#include "vmux/vmux.h"

enum { MAXLINES = 256, LINE = 512 };

#define ADMIN_USER "redact-admin"
#define ADMIN_PASS "Admin-Pw-c81d"
#define NOPERM_USER "redact-noperm-u3"
#define NOPERM_PASS "NoPerm-Pw-H5v2r8"

/* ---- the two servers: AUTH renamed away, and an ordinary one with ACL users ---- */

struct servers {
    vt_server renamed;
    vt_server acl;
};

/* Sends one command on a fresh hiredis connection (as ADMIN_USER when admin is true); returns
 * its text (malloc'ed) or NULL when the server cannot be reached or does not answer in 5 s. */
static char *side(const vt_server *s, bool admin, const char *fmt, ...)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, tv);
    char *text = NULL;
    if (c != NULL && c->err == 0 && redisSetTimeout(c, tv) == REDIS_OK) {
        redisReply *r = admin ? redisCommand(c, "AUTH %s %s", ADMIN_USER, ADMIN_PASS) : NULL;
        bool ok = !admin || (r != NULL && r->type == REDIS_REPLY_STATUS);
        freeReplyObject(r);
        va_list ap;
        va_start(ap, fmt);
        r = ok ? redisvCommand(c, fmt, ap) : NULL;
        va_end(ap);
        if (r != NULL && r->str != NULL)
            text = strndup(r->str, r->len);
        else if (r != NULL)
            text = strdup("(not a string)");
        freeReplyObject(r);
    }
    redisFree(c);
    return text;
}

static void side_ok(const vt_server *s, bool admin, const char *cmd, const char *arg)
{
    char *r = arg != NULL ? side(s, admin, cmd, arg) : side(s, admin, cmd);
    if (r == NULL || strcmp(r, "OK") != 0)
        fail_msg("%s: %s", cmd, r ? r : "(no reply)");
    free(r);
}

static int servers_setup(void **state)
{
    struct servers *sv = calloc(1, sizeof(*sv));
    const char *renamed[] = {"--rename-command", "AUTH", "", NULL};
    if (sv == NULL || vt_server_start(&sv->renamed, 0, renamed) != 0) {
        free(sv);
        return -1;
    }
    if (vt_server_start(&sv->acl, 0, NULL) != 0) {
        vt_server_stop(&sv->renamed);
        free(sv);
        return -1;
    }
    /* The side connections authenticate as an admin, so that requirepass may be set later. */
    char *r = side(&sv->acl, false, "ACL SETUSER %s on >%s ~* &* +@all", ADMIN_USER, ADMIN_PASS);
    bool ok = r != NULL && strcmp(r, "OK") == 0;
    free(r);
    r = side(&sv->acl, true, "ACL SETUSER %s on >%s -@all", NOPERM_USER, NOPERM_PASS);
    ok = ok && r != NULL && strcmp(r, "OK") == 0;
    free(r);
    *state = sv;
    return ok ? 0 : -1;
}

static int servers_teardown(void **state)
{
    struct servers *sv = *state;
    vt_server_stop(&sv->renamed);
    vt_server_stop(&sv->acl);
    free(sv);
    return 0;
}

/* ---- what the handle said: errbuf, every log line, every event ---- */

struct said {
    pthread_mutex_t mu;
    int nlines, nevents;
    char lines[MAXLINES][LINE];
    char events[MAXLINES][LINE];
    char err[256];
};

static void on_log(vmux_log_level level, const char *message, void *ud)
{
    struct said *s = ud;
    (void)level;
    pthread_mutex_lock(&s->mu);
    if (s->nlines < MAXLINES)
        snprintf(s->lines[s->nlines++], LINE, "%s", message);
    pthread_mutex_unlock(&s->mu);
}

static void on_event(const vmux_event *e, void *ud)
{
    struct said *s = ud;
    pthread_mutex_lock(&s->mu);
    if (e->type == VMUX_EVENT_CONNECTION_FAILED && s->nevents < MAXLINES)
        snprintf(s->events[s->nevents++], LINE, "%s | %s", e->endpoint, e->reason);
    pthread_mutex_unlock(&s->mu);
}

static void expect_absent(const char *text, const char *secret)
{
    if (secret != NULL && *secret != '\0' && strstr(text, secret) != NULL)
        fail_msg("'%s' leaked in: %s", secret, text);
}

/*
 * Opens with one attempt and expects VMUX_ERR_AUTH with expect in errbuf; then checks errbuf,
 * every log line and every event for the user and (a 24-byte prefix of) the password.
 */
static void expect_failed_clean(vmux_config *cfg, const char *expect, const char *user,
                                const char *password)
{
    struct said *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    pthread_mutex_init(&s->mu, NULL);
    vmux_config_set_connect_retry(cfg, 1);
    vmux_config_set_log(cfg, on_log, VMUX_LOG_DEBUG, s);
    vmux_config_set_event_handler(cfg, on_event, s);
    vmux *m = (vmux *)cfg; /* a non-NULL marker that a failed open must clear */
    int rc = vmux_open(cfg, &m, s->err, sizeof(s->err));
    vmux_config_free(cfg);
    assert_null(m);
    if (rc != VMUX_ERR_AUTH || strstr(s->err, expect) == NULL)
        fail_msg("open: %s (%s), expected VMUX_ERR_AUTH and '%s'", vmux_err_name(rc), s->err,
                 expect);
    char prefix[25];
    snprintf(prefix, sizeof(prefix), "%s", password);
    pthread_mutex_lock(&s->mu);
    assert_true(s->nevents >= 1); /* the failure was reported, so the checks below see it */
    assert_true(s->nlines >= 1);
    const char *texts[2 * MAXLINES + 1];
    int n = 0;
    texts[n++] = s->err;
    for (int i = 0; i < s->nlines; i++)
        texts[n++] = s->lines[i];
    for (int i = 0; i < s->nevents; i++)
        texts[n++] = s->events[i];
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < n; i++) {
        expect_absent(texts[i], user);
        expect_absent(texts[i], prefix);
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static vmux_config *config_for(const vt_server *srv, const char *extra)
{
    char *text = vt_server_conf(srv, extra);
    vmux_config *cfg = vt_config(text);
    free(text);
    return cfg;
}

/* The renamed server does echo AUTH's arguments: the leak these tests guard against is real. */
static void expect_echo(const vt_server *srv, const char *user, const char *password)
{
    char *r = side(srv, false, "AUTH %s %s", user, password);
    if (r == NULL || strstr(r, password) == NULL || strstr(r, user) == NULL)
        fail_msg("the server did not echo AUTH's arguments: %s", r ? r : "(no reply)");
    free(r);
}

/* ---- config string, URL and credentials provider against the renamed AUTH ---- */

static void test_renamed_auth_config(void **state)
{
    struct servers *sv = *state;
    const char *user = "redact-user-ren1", *pw = "Renamed-Pw-Q7x9k2";
    expect_echo(&sv->renamed, user, pw);
    vmux_config *cfg = config_for(&sv->renamed, NULL);
    vmux_config_set_user(cfg, user);
    vmux_config_set_password(cfg, pw);
    expect_failed_clean(cfg, "AUTH failed: ERR", user, pw);
}

/* The server cuts its echo at 128 bytes: the part of a long password it shows never matches
 * the whole password, so only withholding the message keeps it out. */
static void test_renamed_auth_long_password(void **state)
{
    struct servers *sv = *state;
    char pw[200];
    for (size_t i = 0; i < sizeof(pw) - 1; i++)
        pw[i] = "Long-Pw-0123456789"[i % 18];
    pw[sizeof(pw) - 1] = '\0';
    vmux_config *cfg = config_for(&sv->renamed, NULL);
    vmux_config_set_password(cfg, pw);
    expect_failed_clean(cfg, "AUTH failed: ERR", NULL, pw);
}

static void test_renamed_auth_url(void **state)
{
    struct servers *sv = *state;
    const char *user = "redact-user-url2", *pw = "Url-Pw-W2e6y4";
    char url[128];
    snprintf(url, sizeof(url), "redis://%s:%s@127.0.0.1:%d", user, pw, sv->renamed.port);
    vmux_config *cfg = vt_config(url);
    expect_failed_clean(cfg, "AUTH failed: ERR", user, pw);
}

struct creds {
    const char *user, *password;
};

static int provider(char *user, size_t user_size, char *password, size_t password_size,
                    void *userdata)
{
    const struct creds *c = userdata;
    snprintf(user, user_size, "%s", c->user);
    snprintf(password, password_size, "%s", c->password);
    return 0;
}

static void test_renamed_auth_provider(void **state)
{
    struct servers *sv = *state;
    static const struct creds c = {"redact-prov-u4", "Provider-Pw-J3n6w0"};
    vmux_config *cfg = config_for(&sv->renamed, NULL);
    vmux_config_set_credentials_provider(cfg, provider, (void *)&c);
    expect_failed_clean(cfg, "AUTH failed: ERR", c.user, c.password);
}

/* ---- an ordinary server: wrong password, a user without permission ---- */

static void test_wrong_password_requirepass(void **state)
{
    struct servers *sv = *state;
    const char *pw = "Wrong-Pw-Z4m8t1";
    side_ok(&sv->acl, true, "CONFIG SET requirepass %s", "Right-Pw-b7c2");
    vmux_config *cfg = config_for(&sv->acl, NULL);
    vmux_config_set_password(cfg, pw);
    expect_failed_clean(cfg, "AUTH failed: WRONGPASS", NULL, pw);
    side_ok(&sv->acl, true, "CONFIG SET requirepass %s", "");
}

static void test_wrong_password_acl_user(void **state)
{
    struct servers *sv = *state;
    vmux_config *cfg = config_for(&sv->acl, NULL);
    vmux_config_set_user(cfg, NOPERM_USER);
    vmux_config_set_password(cfg, "Wrong-Pw-for-acl-R9s1");
    expect_failed_clean(cfg, "AUTH failed: WRONGPASS", NOPERM_USER, "Wrong-Pw-for-acl-R9s1");
}

/* AUTH succeeds; the next setup command's NOPERM error names the user. */
static void test_user_without_permission(void **state)
{
    struct servers *sv = *state;
    vmux_config *cfg = config_for(&sv->acl, "name=redact-client");
    vmux_config_set_user(cfg, NOPERM_USER);
    vmux_config_set_password(cfg, NOPERM_PASS);
    expect_failed_clean(cfg, "NOPERM", NOPERM_USER, NOPERM_PASS);
}

static void test_provider_user_without_permission(void **state)
{
    struct servers *sv = *state;
    static const struct creds c = {NOPERM_USER, NOPERM_PASS};
    vmux_config *cfg = config_for(&sv->acl, "name=redact-client");
    vmux_config_set_credentials_provider(cfg, provider, (void *)&c);
    expect_failed_clean(cfg, "NOPERM", c.user, c.password);
}

static void test_provider_wrong_password(void **state)
{
    struct servers *sv = *state;
    static const struct creds c = {NOPERM_USER, "Provider-Wrong-Pw-T8u5"};
    vmux_config *cfg = config_for(&sv->acl, NULL);
    vmux_config_set_credentials_provider(cfg, provider, (void *)&c);
    expect_failed_clean(cfg, "AUTH failed: WRONGPASS", c.user, c.password);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_renamed_auth_config),
        cmocka_unit_test(test_renamed_auth_long_password),
        cmocka_unit_test(test_renamed_auth_url),
        cmocka_unit_test(test_renamed_auth_provider),
        cmocka_unit_test(test_wrong_password_requirepass),
        cmocka_unit_test(test_wrong_password_acl_user),
        cmocka_unit_test(test_user_without_permission),
        cmocka_unit_test(test_provider_user_without_permission),
        cmocka_unit_test(test_provider_wrong_password),
    };
    return cmocka_run_group_tests(tests, servers_setup, servers_teardown);
}
