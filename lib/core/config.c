/*
 * Configuration: StackExchange.Redis-style strings, URLs, typed setters and getters.
 *
 * Every key lives in one table (keys[]): its name, kind, field offset and range. The string
 * parser, URL queries, vmux_config_set(), the typed setters, to_string, dup and free all go
 * through it, so a key is added in one place. Text is parsed into a private copy that is cut
 * in place; apply works on a duplicate of the config and swaps it in only on success, so a
 * failed apply leaves the caller's config untouched.
 */
#include "core/config_internal.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/errbuf.h"
#include "vmux/error.h"

enum key_kind {
    KIND_BOOL,
    KIND_TEXT,   /* a string that to_string prints and must re-parse to itself */
    KIND_SECRET, /* the password: any bytes, never printed, wiped when freed */
    KIND_INT,
    KIND_U64,
    KIND_POLICY,
};

enum key_id {
    KEY_SSL,
    KEY_SSL_HOST,
    KEY_SSL_CA_FILE,
    KEY_SSL_CA_PATH,
    KEY_SSL_CERT,
    KEY_SSL_KEY,
    KEY_SSL_VERIFY,
    KEY_USER,
    KEY_PASSWORD,
    KEY_NAME,
    KEY_DEFAULT_DATABASE,
    KEY_ABORT_CONNECT,
    KEY_CONNECT_RETRY,
    KEY_CONNECT_TIMEOUT,
    KEY_SYNC_TIMEOUT,
    KEY_ASYNC_TIMEOUT,
    KEY_KEEP_ALIVE,
    KEY_BACKLOG_SIZE,
    KEY_BACKLOG_POLICY,
    KEY_RECONNECT_MIN,
    KEY_RECONNECT_MAX,
    KEY_BLOCKING_POOL_SIZE,
    KEY_MAX_BULK_LENGTH,
    KEY_MAX_REPLY_ELEMENTS,
    KEY_MAX_REPLY_BUFFER,
    KEY_MAX_PENDING,
    KEY_MAX_PENDING_BYTES,
    KEY_COUNT
};

struct key_def {
    const char *name;
    enum key_kind kind;
    size_t off;
    uint64_t min, max; /* numeric kinds only */
    const char *unit;  /* numeric kinds only; NULL for a bare number */
};

#define FIELD_OFF(f) offsetof(struct vmux_config, f)
#define FLAG(n, f)                                                                                 \
    {                                                                                              \
        n, KIND_BOOL, FIELD_OFF(f), 0, 0, NULL                                                     \
    }
#define TEXT(n, f)                                                                                 \
    {                                                                                              \
        n, KIND_TEXT, FIELD_OFF(f), 0, 0, NULL                                                     \
    }
#define INTK(n, f, lo, unit)                                                                       \
    {                                                                                              \
        n, KIND_INT, FIELD_OFF(f), lo, INT_MAX, unit                                               \
    }
#define U64K(n, f, unit)                                                                           \
    {                                                                                              \
        n, KIND_U64, FIELD_OFF(f), 1, UINT64_MAX, unit                                             \
    }

/* The order here is the order to_string prints keys in. */
static const struct key_def keys[KEY_COUNT] = {
    [KEY_SSL] = FLAG("ssl", ssl),
    [KEY_SSL_HOST] = TEXT("sslHost", ssl_host),
    [KEY_SSL_CA_FILE] = TEXT("sslCaFile", ssl_ca_file),
    [KEY_SSL_CA_PATH] = TEXT("sslCaPath", ssl_ca_path),
    [KEY_SSL_CERT] = TEXT("sslCert", ssl_cert),
    [KEY_SSL_KEY] = TEXT("sslKey", ssl_key),
    [KEY_SSL_VERIFY] = FLAG("sslVerify", ssl_verify),
    [KEY_USER] = TEXT("user", user),
    [KEY_PASSWORD] = {"password", KIND_SECRET, FIELD_OFF(password), 0, 0, NULL},
    [KEY_NAME] = TEXT("name", name),
    [KEY_DEFAULT_DATABASE] = INTK("defaultDatabase", default_database, 0, NULL),
    [KEY_ABORT_CONNECT] = FLAG("abortConnect", abort_connect),
    [KEY_CONNECT_RETRY] = INTK("connectRetry", connect_retry, 1, "attempts"),
    [KEY_CONNECT_TIMEOUT] = INTK("connectTimeout", connect_timeout_ms, 1, "milliseconds"),
    [KEY_SYNC_TIMEOUT] = INTK("syncTimeout", sync_timeout_ms, 1, "milliseconds"),
    [KEY_ASYNC_TIMEOUT] = INTK("asyncTimeout", async_timeout_ms, 1, "milliseconds"),
    [KEY_KEEP_ALIVE] = INTK("keepAlive", keep_alive_s, 0, "seconds"),
    [KEY_BACKLOG_SIZE] = INTK("backlogSize", backlog_size, 1, "commands"),
    [KEY_BACKLOG_POLICY] = {"backlogPolicy", KIND_POLICY, FIELD_OFF(backlog_policy), 0, 0, NULL},
    [KEY_RECONNECT_MIN] = INTK("reconnectMin", reconnect_min_ms, 1, "milliseconds"),
    [KEY_RECONNECT_MAX] = INTK("reconnectMax", reconnect_max_ms, 1, "milliseconds"),
    [KEY_BLOCKING_POOL_SIZE] = INTK("blockingPoolSize", blocking_pool_size, 1, "connections"),
    [KEY_MAX_BULK_LENGTH] = U64K("maxBulkLength", max_bulk_length, "bytes"),
    [KEY_MAX_REPLY_ELEMENTS] = U64K("maxReplyElements", max_reply_elements, "elements"),
    [KEY_MAX_REPLY_BUFFER] = U64K("maxReplyBuffer", max_reply_buffer, "bytes"),
    [KEY_MAX_PENDING] = INTK("maxPending", max_pending, 1, "commands"),
    [KEY_MAX_PENDING_BYTES] = U64K("maxPendingBytes", max_pending_bytes, "bytes"),
};

static const struct vmux_config defaults = {
    .ssl_verify = true,
    .abort_connect = true,
    .connect_retry = VMUX_DEFAULT_CONNECT_RETRY,
    .connect_timeout_ms = VMUX_DEFAULT_CONNECT_TIMEOUT_MS,
    .sync_timeout_ms = VMUX_DEFAULT_SYNC_TIMEOUT_MS,
    .async_timeout_ms = -1,
    .keep_alive_s = VMUX_DEFAULT_KEEP_ALIVE_S,
    .backlog_size = VMUX_DEFAULT_BACKLOG_SIZE,
    .backlog_policy = VMUX_BACKLOG_QUEUE,
    .reconnect_min_ms = VMUX_DEFAULT_RECONNECT_MIN_MS,
    .reconnect_max_ms = VMUX_DEFAULT_RECONNECT_MAX_MS,
    .blocking_pool_size = VMUX_DEFAULT_BLOCKING_POOL_SIZE,
    .max_bulk_length = VMUX_DEFAULT_MAX_BULK_LENGTH,
    .max_reply_elements = VMUX_DEFAULT_MAX_REPLY_ELEMENTS,
    .max_reply_buffer = VMUX_DEFAULT_MAX_REPLY_BUFFER,
    .max_pending = VMUX_DEFAULT_MAX_PENDING,
    .max_pending_bytes = VMUX_DEFAULT_MAX_PENDING_BYTES,
};

/* Where a parse writes: the config being built and the caller's error buffer. */
struct parse {
    vmux_config *cfg;
    char *errbuf;
    size_t errlen;
};

#define FAIL(p, ...) (vmux_errbuf_set((p)->errbuf, (p)->errlen, __VA_ARGS__), VMUX_ERR_CONFIG)

static void *field(vmux_config *cfg, const struct key_def *k)
{
    return (char *)cfg + k->off;
}

static const void *cfield(const vmux_config *cfg, const struct key_def *k)
{
    return (const char *)cfg + k->off;
}

static const vmux_config *or_defaults(const vmux_config *cfg)
{
    return cfg != NULL ? cfg : &defaults;
}

static bool is_string_key(const struct key_def *k)
{
    return k->kind == KIND_TEXT || k->kind == KIND_SECRET;
}

/* Passwords should not linger in freed heap memory. */
static void free_wiped(char *s)
{
    if (s != NULL)
        explicit_bzero(s, strlen(s));
    free(s);
}

/* ---- low-level text helpers ---- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Trims s in place: returns the first non-space character and cuts trailing spaces. */
static char *trim(char *s)
{
    while (is_space(*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && is_space(s[n - 1]))
        s[--n] = '\0';
    return s;
}

enum num_result { NUM_OK, NUM_BAD, NUM_NEGATIVE, NUM_TOO_BIG };

/* Plain decimal digits only: no sign, no spaces, no base prefixes, no overflow. */
static enum num_result parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (n > 0 && s[0] == '-') {
        enum num_result r = parse_u64(s + 1, n - 1, out);
        return r == NUM_BAD ? NUM_BAD : NUM_NEGATIVE;
    }
    if (n == 0)
        return NUM_BAD;
    uint64_t v = 0;
    bool big = false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return NUM_BAD;
        unsigned d = (unsigned)(s[i] - '0');
        big = big || v > (UINT64_MAX - d) / 10;
        v = big ? 0 : v * 10 + d;
    }
    *out = v;
    return big ? NUM_TOO_BIG : NUM_OK;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *out = strcasecmp(s, yes[i]) == 0;
            return true;
        }
    }
    return false;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes s in place. Fails on a bad escape or an encoded NUL byte. */
static bool percent_decode(char *s)
{
    char *w = s;
    for (const char *r = s; *r != '\0'; r++) {
        if (*r != '%') {
            *w++ = *r;
            continue;
        }
        int hi = hex_digit(r[1]), lo = hi < 0 ? -1 : hex_digit(r[2]);
        if (lo < 0 || (hi == 0 && lo == 0))
            return false;
        *w++ = (char)(hi * 16 + lo);
        r += 2;
    }
    *w = '\0';
    return true;
}

/* Characters of host names and IP literals (':' for IPv6, '%' for zone ids). */
static bool host_ok(const char *h, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        if (!isalnum(c) && c != '.' && c != '-' && c != '_' && c != ':' && c != '%')
            return false;
    }
    return true;
}

/*
 * Why a printable string value would not survive a round trip through to_string (NULL if it
 * would). Client names are also limited to what CLIENT SETNAME accepts.
 */
static const char *text_problem(const struct key_def *k, const char *v)
{
    size_t n = strlen(v);
    if (n > 0 && (is_space(v[0]) || is_space(v[n - 1])))
        return "may not begin or end with a space";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c == 0x7f || c == ',')
            return "may not contain ',' or control characters";
        if (k == &keys[KEY_NAME] && (c < '!' || c > '~'))
            return "may hold only printable ASCII without spaces (CLIENT SETNAME refuses others)";
    }
    return NULL;
}

/* ---- storing values: shared by the typed setters and the text parser ---- */

static bool in_range(const struct key_def *k, uint64_t v)
{
    return v >= k->min && v <= k->max;
}

static int store_bool(vmux_config *cfg, const struct key_def *k, bool v)
{
    if (cfg == NULL)
        return VMUX_ERR_INVALID_ARG;
    *(bool *)field(cfg, k) = v;
    return 0;
}

static int store_int(vmux_config *cfg, const struct key_def *k, int v)
{
    if (cfg == NULL || v < 0 || !in_range(k, (uint64_t)v))
        return VMUX_ERR_INVALID_ARG;
    *(int *)field(cfg, k) = v;
    return 0;
}

static int store_u64(vmux_config *cfg, const struct key_def *k, uint64_t v)
{
    if (cfg == NULL || !in_range(k, v))
        return VMUX_ERR_INVALID_ARG;
    *(uint64_t *)field(cfg, k) = v;
    return 0;
}

/* An empty string clears the value, like NULL, so "name=" and to_string agree. */
static int store_text(vmux_config *cfg, const struct key_def *k, const char *v)
{
    if (cfg == NULL || (v != NULL && k->kind == KIND_TEXT && text_problem(k, v) != NULL))
        return VMUX_ERR_INVALID_ARG;
    char *copy = NULL;
    if (v != NULL && v[0] != '\0' && (copy = strdup(v)) == NULL)
        return VMUX_ERR_NOMEM;
    char **slot = field(cfg, k);
    free_wiped(*slot);
    *slot = copy;
    return 0;
}

static int store_policy(vmux_config *cfg, vmux_backlog_policy v)
{
    if (cfg == NULL || (v != VMUX_BACKLOG_QUEUE && v != VMUX_BACKLOG_FAIL_FAST))
        return VMUX_ERR_INVALID_ARG;
    cfg->backlog_policy = v;
    return 0;
}

/* ---- endpoints ---- */

static int endpoint_push(vmux_config *cfg, const char *host, size_t hlen, int port)
{
    char *h = strndup(host, hlen);
    if (h == NULL)
        return VMUX_ERR_NOMEM;
    struct vmux_endpoint *e = realloc(cfg->endpoints, (cfg->nendpoints + 1) * sizeof *e);
    if (e == NULL) {
        free(h);
        return VMUX_ERR_NOMEM;
    }
    e[cfg->nendpoints++] = (struct vmux_endpoint){h, port};
    cfg->endpoints = e;
    return 0;
}

static bool parse_port(const char *s, size_t n, int *port)
{
    uint64_t v;
    if (n > 5 || parse_u64(s, n, &v) != NUM_OK || v < 1 || v > 65535)
        return false;
    *port = (int)v;
    return true;
}

/*
 * Splits "host[:port]" or "[v6]:port" into host and port text. Returns NULL or why it
 * cannot be split.
 */
static const char *split_hostport(const char *s, const char **host, size_t *hlen, const char **port)
{
    *port = NULL;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':'))
            return "bad IPv6 address";
        *host = s + 1;
        *hlen = (size_t)(close - s - 1);
        *port = close[1] == ':' ? close + 2 : NULL;
        return NULL;
    }
    const char *colon = strchr(s, ':');
    if (colon != NULL && strchr(colon + 1, ':') != NULL)
        return "IPv6 addresses must be in brackets, as in [::1]:6379";
    *host = s;
    *hlen = colon != NULL ? (size_t)(colon - s) : strlen(s);
    *port = colon != NULL ? colon + 1 : NULL;
    return NULL;
}

static int parse_endpoint(struct parse *p, const char *s)
{
    const char *host, *port_text;
    size_t hlen;
    const char *why = split_hostport(s, &host, &hlen, &port_text);
    if (why != NULL)
        return FAIL(p, "bad endpoint '%s': %s", s, why);
    if (hlen == 0)
        return FAIL(p, "empty host in endpoint '%s'", s);
    if (!host_ok(host, hlen))
        return FAIL(p, "bad host '%.*s' in endpoint '%s'", (int)hlen, host, s);
    int port = VMUX_DEFAULT_PORT;
    if (port_text != NULL && !parse_port(port_text, strlen(port_text), &port))
        return FAIL(p, "bad port '%s' in endpoint '%s' (1..65535)", port_text, s);
    return endpoint_push(p->cfg, host, hlen, port);
}

/* ---- keys from text ---- */

static const struct key_def *find_key(const char *name)
{
    for (size_t i = 0; i < KEY_COUNT; i++) {
        if (strcasecmp(keys[i].name, name) == 0)
            return &keys[i];
    }
    return NULL;
}

static int set_number(struct parse *p, const struct key_def *k, const char *v)
{
    const char *of = k->unit != NULL ? " of " : "", *unit = k->unit != NULL ? k->unit : "";
    uint64_t n = 0;
    enum num_result r = parse_u64(v, strlen(v), &n);
    if (r == NUM_BAD)
        return FAIL(p, "%s: '%s' is not a whole number%s%s", k->name, v, of, unit);
    if (r != NUM_OK || !in_range(k, n))
        return FAIL(p, "%s: '%s' is %s (expected %" PRIu64 "..%" PRIu64 "%s%s)", k->name, v,
                    r == NUM_NEGATIVE ? "negative" : "out of range", k->min, k->max,
                    k->unit != NULL ? " " : "", unit);
    return k->kind == KIND_INT ? store_int(p->cfg, k, (int)n) : store_u64(p->cfg, k, n);
}

static int set_bool(struct parse *p, const struct key_def *k, const char *v)
{
    bool b;
    if (!parse_bool(v, &b))
        return FAIL(p, "%s: '%s' is not a boolean (true or false)", k->name, v);
    return store_bool(p->cfg, k, b);
}

static int set_policy(struct parse *p, const struct key_def *k, const char *v)
{
    if (strcasecmp(v, "queue") == 0)
        return store_policy(p->cfg, VMUX_BACKLOG_QUEUE);
    if (strcasecmp(v, "failFast") == 0)
        return store_policy(p->cfg, VMUX_BACKLOG_FAIL_FAST);
    return FAIL(p, "%s: '%s' is not queue or failFast", k->name, v);
}

static int set_text(struct parse *p, const struct key_def *k, const char *v)
{
    const char *why = k->kind == KIND_TEXT ? text_problem(k, v) : NULL;
    if (why != NULL)
        return FAIL(p, "%s: '%s' %s", k->name, v, why);
    return store_text(p->cfg, k, v);
}

static int set_key(struct parse *p, const char *key, const char *value)
{
    const struct key_def *k = find_key(key);
    if (k == NULL)
        return key[0] == '\0' ? FAIL(p, "empty key before '='") : FAIL(p, "unknown key '%s'", key);
    switch (k->kind) {
    case KIND_BOOL:
        return set_bool(p, k, value);
    case KIND_TEXT:
    case KIND_SECRET:
        return set_text(p, k, value);
    case KIND_POLICY:
        return set_policy(p, k, value);
    default:
        return set_number(p, k, value);
    }
}

/* ---- configuration strings ---- */

/* One token: "key=value" (split at the first '=') or an endpoint. */
static int apply_token(struct parse *p, char *tok)
{
    tok = trim(tok);
    if (tok[0] == '\0')
        return 0;
    char *eq = strchr(tok, '=');
    if (eq == NULL)
        return parse_endpoint(p, tok);
    *eq = '\0';
    return set_key(p, trim(tok), trim(eq + 1));
}

static int apply_string(struct parse *p, char *s)
{
    char *next;
    for (char *tok = s; tok != NULL; tok = next) {
        next = strchr(tok, ',');
        if (next != NULL)
            *next++ = '\0';
        int rc = apply_token(p, tok);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- URLs: scheme://[user[:password]@]host[:port][/db][?key=value&...] ---- */

/* Length of "scheme" when s starts with "scheme://", else 0. */
static size_t url_scheme_len(const char *s)
{
    if (!isalpha((unsigned char)s[0]))
        return 0;
    size_t i = 1;
    while (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    return strncmp(s + i, "://", 3) == 0 ? i : 0;
}

static int url_scheme(struct parse *p, const char *scheme)
{
    static const char *const plain[] = {"redis", "valkey"}, *const tls[] = {"rediss", "valkeys"};
    for (size_t i = 0; i < 2; i++) {
        if (strcasecmp(scheme, plain[i]) == 0)
            return 0;
        if (strcasecmp(scheme, tls[i]) == 0)
            return store_bool(p->cfg, &keys[KEY_SSL], true);
    }
    return FAIL(p, "unsupported scheme '%s' (use redis, rediss, valkey or valkeys)", scheme);
}

/* Empty user or password parts leave the field as it was ("redis://:pass@h" sets no user). */
static int url_credential(struct parse *p, enum key_id id, char *text)
{
    if (!percent_decode(text))
        return FAIL(p, "bad percent-encoding in the URL's %s", keys[id].name);
    return text[0] == '\0' ? 0 : set_text(p, &keys[id], text);
}

static int url_userinfo(struct parse *p, char *info)
{
    char *colon = strchr(info, ':');
    if (colon != NULL)
        *colon = '\0';
    int rc = url_credential(p, KEY_USER, info);
    if (rc == 0 && colon != NULL)
        rc = url_credential(p, KEY_PASSWORD, colon + 1);
    return rc;
}

/* The last '@' ends the user info, so an unencoded '@' in a password still works. */
static int url_authority(struct parse *p, char *auth)
{
    char *at = strrchr(auth, '@');
    char *hostport = auth;
    if (at != NULL) {
        *at = '\0';
        hostport = at + 1;
        int rc = url_userinfo(p, auth);
        if (rc != 0)
            return rc;
    }
    if (hostport[0] == '\0')
        return FAIL(p, "no host in URL");
    return parse_endpoint(p, hostport);
}

static int url_path(struct parse *p, const char *path)
{
    if (path == NULL || path[0] == '\0')
        return 0;
    uint64_t db;
    if (parse_u64(path, strlen(path), &db) != NUM_OK || db > INT_MAX)
        return FAIL(p, "bad database '%s' in URL (expected /0../%d)", path, INT_MAX);
    return store_int(p->cfg, &keys[KEY_DEFAULT_DATABASE], (int)db);
}

static int url_query_pair(struct parse *p, char *pair)
{
    if (pair[0] == '\0')
        return 0;
    char *eq = strchr(pair, '=');
    if (eq == NULL)
        return FAIL(p, "URL query parameter '%s' is not key=value", pair);
    *eq = '\0';
    if (!percent_decode(pair) || !percent_decode(eq + 1))
        return FAIL(p, "bad percent-encoding in URL query parameter '%s'", pair);
    return set_key(p, pair, eq + 1);
}

static int url_query(struct parse *p, char *query)
{
    char *next;
    for (char *pair = query; pair != NULL; pair = next) {
        next = strchr(pair, '&');
        if (next != NULL)
            *next++ = '\0';
        int rc = url_query_pair(p, pair);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* The query is cut first: its values may hold '/' (sslCaFile=/etc/ca.pem). */
static int apply_url(struct parse *p, char *url, size_t scheme_len)
{
    url[scheme_len] = '\0';
    int rc = url_scheme(p, url);
    char *rest = url + scheme_len + 3;
    char *query = strchr(rest, '?');
    if (query != NULL)
        *query++ = '\0';
    char *path = strchr(rest, '/');
    if (path != NULL)
        *path++ = '\0';
    if (rc == 0)
        rc = url_authority(p, rest);
    if (rc == 0)
        rc = url_path(p, path);
    if (rc == 0 && query != NULL)
        rc = url_query(p, query);
    return rc;
}

/* Parses text into p->cfg. The copy may hold a password, so it is wiped afterwards. */
static int apply_text(struct parse *p, const char *text)
{
    size_t n = strlen(text);
    char *copy = malloc(n + 1);
    if (copy == NULL)
        return VMUX_ERR_NOMEM;
    memcpy(copy, text, n + 1);
    char *s = trim(copy);
    size_t scheme_len = url_scheme_len(s);
    int rc = scheme_len > 0 ? apply_url(p, s, scheme_len) : apply_string(p, s);
    if (rc == 0 && p->cfg->nendpoints == 0)
        rc = FAIL(p, "no endpoint: give at least one host[:port]");
    if (rc == VMUX_ERR_NOMEM)
        vmux_errbuf_set(p->errbuf, p->errlen, "out of memory");
    explicit_bzero(copy, n);
    free(copy);
    return rc;
}

/* ---- lifetime ---- */

int vmux_config_new(vmux_config **out)
{
    if (out == NULL)
        return VMUX_ERR_INVALID_ARG;
    *out = malloc(sizeof **out);
    if (*out == NULL)
        return VMUX_ERR_NOMEM;
    **out = defaults;
    return 0;
}

void vmux_config_clear_endpoints(vmux_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->nendpoints; i++)
        free(cfg->endpoints[i].host);
    free(cfg->endpoints);
    cfg->endpoints = NULL;
    cfg->nendpoints = 0;
}

void vmux_config_free(vmux_config *cfg)
{
    if (cfg == NULL)
        return;
    vmux_config_clear_endpoints(cfg);
    for (size_t i = 0; i < KEY_COUNT; i++) {
        if (is_string_key(&keys[i]))
            free_wiped(*(char **)field(cfg, &keys[i]));
    }
    free(cfg);
}

/* Clears every string of to first, so a failure halfway leaves it safe to free. */
static bool dup_strings(vmux_config *to, const vmux_config *from)
{
    for (size_t i = 0; i < KEY_COUNT; i++) {
        if (is_string_key(&keys[i]))
            *(char **)field(to, &keys[i]) = NULL;
    }
    for (size_t i = 0; i < KEY_COUNT; i++) {
        if (is_string_key(&keys[i]) &&
            store_text(to, &keys[i], *(char *const *)cfield(from, &keys[i])) != 0)
            return false;
    }
    return true;
}

vmux_config *vmux_config_dup(const vmux_config *cfg)
{
    if (cfg == NULL)
        return NULL;
    vmux_config *c = malloc(sizeof *c);
    if (c == NULL)
        return NULL;
    *c = *cfg;
    c->endpoints = NULL;
    c->nendpoints = 0;
    bool ok = dup_strings(c, cfg);
    for (size_t i = 0; ok && i < cfg->nendpoints; i++) {
        const struct vmux_endpoint *e = &cfg->endpoints[i];
        ok = endpoint_push(c, e->host, strlen(e->host), e->port) == 0;
    }
    if (!ok) {
        vmux_config_free(c);
        return NULL;
    }
    return c;
}

static void swap_configs(vmux_config *a, vmux_config *b)
{
    vmux_config t = *a;
    *a = *b;
    *b = t;
}

/* ---- parse, apply, set ---- */

int vmux_config_parse(const char *text, vmux_config **out, char *errbuf, size_t errlen)
{
    if (out != NULL)
        *out = NULL;
    if (text == NULL || out == NULL) {
        vmux_errbuf_set(errbuf, errlen, "vmux_config_parse: text and out must not be NULL");
        return VMUX_ERR_INVALID_ARG;
    }
    struct parse p = {NULL, errbuf, errlen};
    int rc = vmux_config_new(&p.cfg);
    if (rc == 0)
        rc = apply_text(&p, text);
    else
        vmux_errbuf_set(errbuf, errlen, "out of memory");
    if (rc != 0) {
        vmux_config_free(p.cfg);
        return rc;
    }
    *out = p.cfg;
    return 0;
}

int vmux_config_apply(vmux_config *cfg, const char *text, char *errbuf, size_t errlen)
{
    if (cfg == NULL || text == NULL) {
        vmux_errbuf_set(errbuf, errlen, "vmux_config_apply: cfg and text must not be NULL");
        return VMUX_ERR_INVALID_ARG;
    }
    struct parse p = {vmux_config_dup(cfg), errbuf, errlen};
    if (p.cfg == NULL) {
        vmux_errbuf_set(errbuf, errlen, "out of memory");
        return VMUX_ERR_NOMEM;
    }
    int rc = apply_text(&p, text);
    if (rc == 0)
        swap_configs(cfg, p.cfg);
    vmux_config_free(p.cfg);
    return rc;
}

int vmux_config_set(vmux_config *cfg, const char *key, const char *value, char *errbuf,
                    size_t errlen)
{
    if (cfg == NULL || key == NULL || value == NULL) {
        vmux_errbuf_set(errbuf, errlen, "vmux_config_set: cfg, key and value must not be NULL");
        return VMUX_ERR_INVALID_ARG;
    }
    struct parse p = {cfg, errbuf, errlen};
    int rc = set_key(&p, key, value);
    if (rc == VMUX_ERR_NOMEM)
        vmux_errbuf_set(errbuf, errlen, "out of memory");
    return rc;
}

/* ---- to_string ---- */

/* An snprintf-like appender: counts every byte, writes what fits. */
struct out {
    char *buf;
    size_t len;
    size_t total;
    size_t items;
};

static void out_put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *at = o->total < o->len ? o->buf + o->total : NULL;
    int n = vsnprintf(at, at != NULL ? o->len - o->total : 0, fmt, ap);
    va_end(ap);
    o->total += n > 0 ? (size_t)n : 0;
}

static const char *out_sep(struct out *o)
{
    return o->items++ > 0 ? "," : "";
}

static bool is_default(const vmux_config *cfg, const struct key_def *k)
{
    switch (k->kind) {
    case KIND_BOOL:
        return *(const bool *)cfield(cfg, k) == *(const bool *)cfield(&defaults, k);
    case KIND_TEXT:
    case KIND_SECRET:
        return *(char *const *)cfield(cfg, k) == NULL;
    case KIND_INT:
        return *(const int *)cfield(cfg, k) == *(const int *)cfield(&defaults, k);
    case KIND_U64:
        return *(const uint64_t *)cfield(cfg, k) == *(const uint64_t *)cfield(&defaults, k);
    default:
        return cfg->backlog_policy == defaults.backlog_policy;
    }
}

static void out_key(struct out *o, const vmux_config *cfg, const struct key_def *k)
{
    const char *sep = out_sep(o);
    switch (k->kind) {
    case KIND_BOOL:
        out_put(o, "%s%s=%s", sep, k->name, *(const bool *)cfield(cfg, k) ? "true" : "false");
        break;
    case KIND_TEXT:
        out_put(o, "%s%s=%s", sep, k->name, *(char *const *)cfield(cfg, k));
        break;
    case KIND_SECRET:
        out_put(o, "%s%s=*****", sep, k->name);
        break;
    case KIND_INT:
        out_put(o, "%s%s=%d", sep, k->name, *(const int *)cfield(cfg, k));
        break;
    case KIND_U64:
        out_put(o, "%s%s=%" PRIu64, sep, k->name, *(const uint64_t *)cfield(cfg, k));
        break;
    default:
        out_put(o, "%s%s=%s", sep, k->name,
                cfg->backlog_policy == VMUX_BACKLOG_FAIL_FAST ? "failFast" : "queue");
    }
}

int vmux_config_to_string(const vmux_config *cfg, char *buf, size_t len)
{
    if (cfg == NULL || (buf == NULL && len > 0))
        return VMUX_ERR_INVALID_ARG;
    struct out o = {buf, len, 0, 0};
    if (len > 0)
        buf[0] = '\0';
    for (size_t i = 0; i < cfg->nendpoints; i++) {
        const struct vmux_endpoint *e = &cfg->endpoints[i];
        const char *fmt = strchr(e->host, ':') != NULL ? "%s[%s]:%d" : "%s%s:%d";
        out_put(&o, fmt, out_sep(&o), e->host, e->port);
    }
    for (size_t i = 0; i < KEY_COUNT; i++) {
        if (!is_default(cfg, &keys[i]))
            out_key(&o, cfg, &keys[i]);
    }
    /* Not reachable with real hosts and paths, but an int cannot carry more. */
    return o.total > INT_MAX ? VMUX_ERR_INVALID_ARG : (int)o.total;
}

/* ---- endpoints ---- */

int vmux_config_add_endpoint(vmux_config *cfg, const char *host, int port)
{
    if (cfg == NULL || host == NULL || !host_ok(host, strlen(host)) || port < 0 || port > 65535)
        return VMUX_ERR_INVALID_ARG;
    return endpoint_push(cfg, host, strlen(host), port == 0 ? VMUX_DEFAULT_PORT : port);
}

size_t vmux_config_endpoint_count(const vmux_config *cfg)
{
    return cfg != NULL ? cfg->nendpoints : 0;
}

int vmux_config_endpoint(const vmux_config *cfg, size_t i, const char **host, int *port)
{
    if (cfg == NULL || host == NULL || port == NULL || i >= cfg->nendpoints)
        return VMUX_ERR_INVALID_ARG;
    *host = cfg->endpoints[i].host;
    *port = cfg->endpoints[i].port;
    return 0;
}

/* ---- typed setters ---- */

int vmux_config_set_ssl(vmux_config *cfg, bool on)
{
    return store_bool(cfg, &keys[KEY_SSL], on);
}

int vmux_config_set_ssl_host(vmux_config *cfg, const char *host)
{
    return store_text(cfg, &keys[KEY_SSL_HOST], host);
}

int vmux_config_set_ssl_ca_file(vmux_config *cfg, const char *path)
{
    return store_text(cfg, &keys[KEY_SSL_CA_FILE], path);
}

int vmux_config_set_ssl_ca_path(vmux_config *cfg, const char *path)
{
    return store_text(cfg, &keys[KEY_SSL_CA_PATH], path);
}

int vmux_config_set_ssl_cert(vmux_config *cfg, const char *path)
{
    return store_text(cfg, &keys[KEY_SSL_CERT], path);
}

int vmux_config_set_ssl_key(vmux_config *cfg, const char *path)
{
    return store_text(cfg, &keys[KEY_SSL_KEY], path);
}

int vmux_config_set_ssl_verify(vmux_config *cfg, bool on)
{
    return store_bool(cfg, &keys[KEY_SSL_VERIFY], on);
}

int vmux_config_set_user(vmux_config *cfg, const char *user)
{
    return store_text(cfg, &keys[KEY_USER], user);
}

int vmux_config_set_password(vmux_config *cfg, const char *password)
{
    return store_text(cfg, &keys[KEY_PASSWORD], password);
}

int vmux_config_set_name(vmux_config *cfg, const char *name)
{
    return store_text(cfg, &keys[KEY_NAME], name);
}

int vmux_config_set_default_database(vmux_config *cfg, int db)
{
    return store_int(cfg, &keys[KEY_DEFAULT_DATABASE], db);
}

int vmux_config_set_abort_connect(vmux_config *cfg, bool on)
{
    return store_bool(cfg, &keys[KEY_ABORT_CONNECT], on);
}

int vmux_config_set_connect_retry(vmux_config *cfg, int attempts)
{
    return store_int(cfg, &keys[KEY_CONNECT_RETRY], attempts);
}

int vmux_config_set_connect_timeout(vmux_config *cfg, int ms)
{
    return store_int(cfg, &keys[KEY_CONNECT_TIMEOUT], ms);
}

int vmux_config_set_sync_timeout(vmux_config *cfg, int ms)
{
    return store_int(cfg, &keys[KEY_SYNC_TIMEOUT], ms);
}

int vmux_config_set_async_timeout(vmux_config *cfg, int ms)
{
    return store_int(cfg, &keys[KEY_ASYNC_TIMEOUT], ms);
}

int vmux_config_set_keep_alive(vmux_config *cfg, int seconds)
{
    return store_int(cfg, &keys[KEY_KEEP_ALIVE], seconds);
}

int vmux_config_set_backlog_size(vmux_config *cfg, int commands)
{
    return store_int(cfg, &keys[KEY_BACKLOG_SIZE], commands);
}

int vmux_config_set_backlog_policy(vmux_config *cfg, vmux_backlog_policy policy)
{
    return store_policy(cfg, policy);
}

int vmux_config_set_reconnect_min(vmux_config *cfg, int ms)
{
    return store_int(cfg, &keys[KEY_RECONNECT_MIN], ms);
}

int vmux_config_set_reconnect_max(vmux_config *cfg, int ms)
{
    return store_int(cfg, &keys[KEY_RECONNECT_MAX], ms);
}

int vmux_config_set_blocking_pool_size(vmux_config *cfg, int connections)
{
    return store_int(cfg, &keys[KEY_BLOCKING_POOL_SIZE], connections);
}

int vmux_config_set_max_bulk_length(vmux_config *cfg, uint64_t bytes)
{
    return store_u64(cfg, &keys[KEY_MAX_BULK_LENGTH], bytes);
}

int vmux_config_set_max_reply_elements(vmux_config *cfg, uint64_t elements)
{
    return store_u64(cfg, &keys[KEY_MAX_REPLY_ELEMENTS], elements);
}

int vmux_config_set_max_reply_buffer(vmux_config *cfg, uint64_t bytes)
{
    return store_u64(cfg, &keys[KEY_MAX_REPLY_BUFFER], bytes);
}

int vmux_config_set_max_pending(vmux_config *cfg, int commands)
{
    return store_int(cfg, &keys[KEY_MAX_PENDING], commands);
}

int vmux_config_set_max_pending_bytes(vmux_config *cfg, uint64_t bytes)
{
    return store_u64(cfg, &keys[KEY_MAX_PENDING_BYTES], bytes);
}

/* ---- typed getters ---- */

bool vmux_config_ssl(const vmux_config *cfg)
{
    return or_defaults(cfg)->ssl;
}

const char *vmux_config_ssl_host(const vmux_config *cfg)
{
    return or_defaults(cfg)->ssl_host;
}

const char *vmux_config_ssl_ca_file(const vmux_config *cfg)
{
    return or_defaults(cfg)->ssl_ca_file;
}

const char *vmux_config_ssl_ca_path(const vmux_config *cfg)
{
    return or_defaults(cfg)->ssl_ca_path;
}

const char *vmux_config_ssl_cert(const vmux_config *cfg)
{
    return or_defaults(cfg)->ssl_cert;
}

const char *vmux_config_ssl_key(const vmux_config *cfg)
{
    return or_defaults(cfg)->ssl_key;
}

bool vmux_config_ssl_verify(const vmux_config *cfg)
{
    return or_defaults(cfg)->ssl_verify;
}

const char *vmux_config_user(const vmux_config *cfg)
{
    return or_defaults(cfg)->user;
}

bool vmux_config_has_password(const vmux_config *cfg)
{
    return or_defaults(cfg)->password != NULL;
}

const char *vmux_config_name(const vmux_config *cfg)
{
    return or_defaults(cfg)->name;
}

int vmux_config_default_database(const vmux_config *cfg)
{
    return or_defaults(cfg)->default_database;
}

bool vmux_config_abort_connect(const vmux_config *cfg)
{
    return or_defaults(cfg)->abort_connect;
}

int vmux_config_connect_retry(const vmux_config *cfg)
{
    return or_defaults(cfg)->connect_retry;
}

int vmux_config_connect_timeout(const vmux_config *cfg)
{
    return or_defaults(cfg)->connect_timeout_ms;
}

int vmux_config_sync_timeout(const vmux_config *cfg)
{
    return or_defaults(cfg)->sync_timeout_ms;
}

int vmux_config_async_timeout(const vmux_config *cfg)
{
    const vmux_config *c = or_defaults(cfg);
    return c->async_timeout_ms == -1 ? c->sync_timeout_ms : c->async_timeout_ms;
}

int vmux_config_keep_alive(const vmux_config *cfg)
{
    return or_defaults(cfg)->keep_alive_s;
}

int vmux_config_backlog_size(const vmux_config *cfg)
{
    return or_defaults(cfg)->backlog_size;
}

vmux_backlog_policy vmux_config_backlog_policy(const vmux_config *cfg)
{
    return or_defaults(cfg)->backlog_policy;
}

int vmux_config_reconnect_min(const vmux_config *cfg)
{
    return or_defaults(cfg)->reconnect_min_ms;
}

int vmux_config_reconnect_max(const vmux_config *cfg)
{
    return or_defaults(cfg)->reconnect_max_ms;
}

int vmux_config_blocking_pool_size(const vmux_config *cfg)
{
    return or_defaults(cfg)->blocking_pool_size;
}

uint64_t vmux_config_max_bulk_length(const vmux_config *cfg)
{
    return or_defaults(cfg)->max_bulk_length;
}

uint64_t vmux_config_max_reply_elements(const vmux_config *cfg)
{
    return or_defaults(cfg)->max_reply_elements;
}

uint64_t vmux_config_max_reply_buffer(const vmux_config *cfg)
{
    return or_defaults(cfg)->max_reply_buffer;
}

int vmux_config_max_pending(const vmux_config *cfg)
{
    return or_defaults(cfg)->max_pending;
}

uint64_t vmux_config_max_pending_bytes(const vmux_config *cfg)
{
    return or_defaults(cfg)->max_pending_bytes;
}
