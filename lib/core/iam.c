/*
 * The ElastiCache IAM credentials provider (include/vmux/iam.h): one kept token, replaced when
 * it is older than refresh_s, signed with the credentials the environment holds at that moment.
 * A mutex guards the kept token, since several handles (several I/O threads) may share one
 * provider.
 */
#include <ctype.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "core/errbuf.h"
#include "core/iam_token.h"
#include "core/sized.h"
#include "core/why.h"
#include "vmux/error.h"
#include "vmux/iam.h"

#define DEFAULT_REFRESH_S 600
#define MAX_REFRESH_S 840 /* a token handed out keeps at least a minute to live */

struct vmux_iam_provider {
    char *user;
    char *cache; /* lower case */
    char *region;
    bool serverless;
    int64_t refresh_s;
    vmux_iam_clock_fn clock;
    void *clock_userdata;
    uv_mutex_t lock; /* guards token and made_at */
    char *token;     /* the kept token, or NULL */
    int64_t made_at; /* when it was signed, Unix seconds */
};

static int64_t system_clock(void *userdata)
{
    (void)userdata;
    return (int64_t)time(NULL);
}

static void wipe_free(char *s)
{
    if (s != NULL)
        OPENSSL_cleanse(s, strlen(s));
    free(s);
}

static char *lower_dup(const char *s)
{
    char *d = strdup(s);
    for (char *p = d; p != NULL && *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

/* The environment's variable, or NULL when it is unset or empty. */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* The credentials of the environment, or VMUX_ERR_CONFIG naming the one missing. */
static int env_creds(struct vmux__aws_creds *c, char *errbuf, size_t errlen)
{
    c->access_key_id = env("AWS_ACCESS_KEY_ID");
    c->secret_access_key = env("AWS_SECRET_ACCESS_KEY");
    c->session_token = env("AWS_SESSION_TOKEN");
    const char *missing = c->access_key_id == NULL       ? "AWS_ACCESS_KEY_ID"
                          : c->secret_access_key == NULL ? "AWS_SECRET_ACCESS_KEY"
                                                         : NULL;
    if (missing == NULL)
        return 0;
    vmux__errbuf_set(errbuf, errlen,
                     "IAM token: %s is not set in the environment (the token is signed with "
                     "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN)",
                     missing);
    return VMUX_ERR_CONFIG;
}

/* A new token into p->token, signed now. Called with p->lock held. */
static int renew(vmux_iam_provider *p, int64_t now, char *errbuf, size_t errlen)
{
    struct vmux__aws_creds c;
    int rc = env_creds(&c, errbuf, errlen);
    if (rc != 0)
        return rc;
    const struct vmux__iam_target t = {p->user, p->cache, p->region, p->serverless};
    char *token = vmux__iam_token_make(&t, &c, now);
    if (token == NULL) {
        vmux__errbuf_set(errbuf, errlen, "IAM token: out of memory");
        return VMUX_ERR_NOMEM;
    }
    wipe_free(p->token);
    p->token = token;
    p->made_at = now;
    return 0;
}

/* Copies the kept token into buf, renewing it first when it is too old (or from the future:
 * the clock went back). Called with p->lock held. */
static int current(vmux_iam_provider *p, char *buf, size_t len, char *errbuf, size_t errlen)
{
    int64_t now = p->clock(p->clock_userdata);
    if (p->token == NULL || now - p->made_at >= p->refresh_s || now < p->made_at) {
        int rc = renew(p, now, errbuf, errlen);
        if (rc != 0)
            return rc;
    }
    size_t n = strlen(p->token);
    if (n >= len) {
        vmux__errbuf_set(errbuf, errlen,
                         "invalid argument: IAM token: %zu bytes needed, the buffer has %zu", n + 1,
                         len);
        return VMUX_ERR_INVALID_ARG;
    }
    memcpy(buf, p->token, n + 1);
    return 0;
}

int vmux_iam_token(vmux_iam_provider *p, char *buf, size_t len, char *errbuf, size_t errlen)
{
    if (p == NULL || buf == NULL) {
        vmux__errbuf_set(errbuf, errlen, "invalid argument: IAM token: %s is NULL",
                         p == NULL ? "the provider" : "buf");
        return VMUX_ERR_INVALID_ARG;
    }
    uv_mutex_lock(&p->lock);
    int rc = current(p, buf, len, errbuf, errlen);
    uv_mutex_unlock(&p->lock);
    return rc;
}

int vmux_iam_credentials(char *user, size_t user_size, char *password, size_t password_size,
                         void *provider)
{
    vmux_iam_provider *p = provider;
    vmux__why_begin();
    if (p == NULL || user == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "IAM credentials: %s is NULL",
                             p == NULL ? "the provider" : "user");
    size_t n = strlen(p->user);
    if (n >= user_size)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "IAM user: %zu bytes needed, the buffer has %zu",
                             n + 1, user_size);
    char err[256] = "";
    int rc = vmux_iam_token(p, password, password_size, err, sizeof err);
    if (rc != 0)
        return vmux__why_set(rc, "%s", err);
    memcpy(user, p->user, n + 1);
    return 0;
}

/* The region: the option, else AWS_REGION, else AWS_DEFAULT_REGION. */
static const char *region_of(const vmux_iam_opts *o)
{
    if (o->region != NULL && o->region[0] != '\0')
        return o->region;
    return env("AWS_REGION") != NULL ? env("AWS_REGION") : env("AWS_DEFAULT_REGION");
}

static int check_opts(const vmux_iam_opts *o, char *errbuf, size_t errlen)
{
    const char *why = o->user == NULL || o->user[0] == '\0'     ? "no user"
                      : o->cache == NULL || o->cache[0] == '\0' ? "no cache name"
                      : o->refresh_s < 0 || o->refresh_s > MAX_REFRESH_S
                          ? "refresh_s is outside 1..840 seconds"
                          : NULL;
    if (why != NULL) {
        vmux__errbuf_set(errbuf, errlen, "invalid argument: IAM provider: %s", why);
        return VMUX_ERR_INVALID_ARG;
    }
    if (region_of(o) == NULL) {
        vmux__errbuf_set(errbuf, errlen,
                         "IAM provider: no region given, and neither AWS_REGION "
                         "nor AWS_DEFAULT_REGION is set in the environment");
        return VMUX_ERR_CONFIG;
    }
    return 0;
}

static vmux_iam_provider *provider_alloc(const vmux_iam_opts *o)
{
    vmux_iam_provider *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->user = strdup(o->user);
    p->cache = lower_dup(o->cache);
    p->region = strdup(region_of(o));
    p->serverless = o->serverless;
    p->refresh_s = o->refresh_s > 0 ? o->refresh_s : DEFAULT_REFRESH_S;
    p->clock = o->clock != NULL ? o->clock : system_clock;
    p->clock_userdata = o->clock_userdata;
    if (p->user == NULL || p->cache == NULL || p->region == NULL || uv_mutex_init(&p->lock) != 0) {
        free(p->user);
        free(p->cache);
        free(p->region);
        free(p);
        return NULL;
    }
    return p;
}

int vmux_iam_provider_new(const vmux_iam_opts *opts, vmux_iam_provider **out, char *errbuf,
                          size_t errlen)
{
    vmux_iam_opts o;
    if (out != NULL)
        *out = NULL;
    if (opts == NULL || out == NULL || vmux__sized_in(&o, sizeof o, opts) != 0) {
        vmux__errbuf_set(errbuf, errlen,
                         "invalid argument: IAM provider: no options (use VMUX_INIT) or no out");
        return VMUX_ERR_INVALID_ARG;
    }
    int rc = check_opts(&o, errbuf, errlen);
    if (rc != 0)
        return rc;
    vmux_iam_provider *p = provider_alloc(&o);
    if (p == NULL) {
        vmux__errbuf_set(errbuf, errlen, "IAM provider: out of memory");
        return VMUX_ERR_NOMEM;
    }
    uv_mutex_lock(&p->lock);
    rc = renew(p, p->clock(p->clock_userdata), errbuf, errlen);
    uv_mutex_unlock(&p->lock);
    if (rc != 0) {
        vmux_iam_provider_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void vmux_iam_provider_free(vmux_iam_provider *p)
{
    if (p == NULL)
        return;
    wipe_free(p->token);
    free(p->user);
    free(p->cache);
    free(p->region);
    uv_mutex_destroy(&p->lock);
    free(p);
}
