/*
 * Configuration text: StackExchange.Redis-style strings ("host:port,key=value,...") and URLs
 * (redis://, rediss://, valkey://, valkeys://, and each +sentinel), and vmux_config_parse(),
 * vmux_config_apply() and vmux_config_set(). Text is parsed into a private copy that is cut in
 * place; apply works on a duplicate of the config and swaps it in only on success, so a failed
 * apply leaves the caller's config untouched.
 */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config_keys.h"
#include "core/errbuf.h"
#include "core/near_prefix.h"
#include "vmux/error.h"

/*
 * Where a parse writes: the config being built and the caller's error buffer. A text's unknown
 * keys are judged at its end, by the ignoreUnknown it leaves (a later ignoreUnknown=true covers an
 * earlier unknown key, as in StackExchange.Redis, where it applies to the whole string).
 */
struct parse {
    vmux_config *cfg;
    char *errbuf;
    size_t errlen;
    bool whole_text;     /* a string or URL: unknown keys wait for its end */
    const char *unknown; /* the text's first unknown key (in the parse's copy) */
    /* Set where the URL's text may hold pieces of a password: an error met after it says this
     * instead of quoting the text (hide_unknown: what the first unknown key's error says). */
    const char *hide, *hide_unknown;
};

/* A '?' in a URL's password begins the query, leaving the rest of the password and the host in
 * it; a '&' in a query's password begins another parameter. */
#define HIDE_CUT_USERINFO                                                                          \
    "bad URL (not quoted: it may hold a password): an '@' after the '?' suggests a password with " \
    "an unencoded '?', to be written %3F"
#define HIDE_AFTER_SECRET                                                                          \
    "bad URL query parameter after a password (not quoted: it may be part of it); a '&' in a "     \
    "password is written %26"

#define FAIL(p, ...) (vmux__errbuf_set((p)->errbuf, (p)->errlen, __VA_ARGS__), VMUX_ERR_CONFIG)

/* ---- low-level text helpers ---- */

/* Trims s in place: returns the first non-space character and cuts trailing spaces. */
static char *trim(char *s)
{
    while (vmux__config_is_space(*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && vmux__config_is_space(s[n - 1]))
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

bool vmux__config_parse_bool(const char *s, bool *out)
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

/* ---- endpoints ---- */

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

/* A port left out stays so: it follows serviceName (vmux__config_endpoint_push_left_out()). */
static int parse_endpoint(struct parse *p, const char *s)
{
    const char *host, *port_text;
    size_t hlen;
    const char *at = strrchr(s, '@');
    if (at != NULL) /* credentials before '@': never quoted back */
        return FAIL(p,
                    "endpoint '*****@%s' holds credentials: give them as user= and password=, "
                    "or use a URL (valkey://user:password@host:port)",
                    at + 1);
    const char *why = split_hostport(s, &host, &hlen, &port_text);
    if (why != NULL)
        return FAIL(p, "bad endpoint '%s': %s", s, why);
    if (hlen == 0)
        return FAIL(p, "empty host in endpoint '%s'", s);
    if (vmux__config_host_too_long(p->errbuf, p->errlen, p->cfg->nendpoints + 1, host, hlen))
        return VMUX_ERR_CONFIG;
    if (!vmux__config_host_ok(host, hlen))
        return FAIL(p, "bad host '%.*s' in endpoint '%s'", (int)hlen, host, s);
    if (port_text == NULL)
        return vmux__config_endpoint_push_left_out(p->cfg, host, hlen);
    int port;
    if (!parse_port(port_text, strlen(port_text), &port))
        return FAIL(p, "bad port '%s' in endpoint '%s' (1..65535)", port_text, s);
    return vmux__config_endpoint_push(p->cfg, host, hlen, port);
}

/* ---- keys from text ---- */

static const struct key_def *find_key(const char *name)
{
    for (size_t i = 0; i < KEY_COUNT; i++) {
        if (strcasecmp(vmux__config_keys[i].name, name) == 0)
            return &vmux__config_keys[i];
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
    return k->kind == KIND_INT ? vmux__config_store_int(p->cfg, k, (int64_t)n)
                               : vmux__config_store_u64(p->cfg, k, n);
}

static int set_bool(struct parse *p, const struct key_def *k, const char *v)
{
    bool b;
    if (!vmux__config_parse_bool(v, &b))
        return FAIL(p, "%s: '%s' is not a boolean (true or false)", k->name, v);
    return vmux__config_store_bool(p->cfg, k, b);
}

static int set_policy(struct parse *p, const struct key_def *k, const char *v)
{
    if (strcasecmp(v, "queue") == 0)
        return vmux__config_store_policy(p->cfg, VMUX_BACKLOG_QUEUE);
    if (strcasecmp(v, "failFast") == 0)
        return vmux__config_store_policy(p->cfg, VMUX_BACKLOG_FAIL_FAST);
    return FAIL(p, "%s: '%s' is not queue or failFast", k->name, v);
}

static int set_cluster(struct parse *p, const struct key_def *k, const char *v)
{
    static const vmux_cluster_mode modes[] = {VMUX_CLUSTER_AUTO, VMUX_CLUSTER_YES, VMUX_CLUSTER_NO};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (strcasecmp(v, vmux__config_cluster_name(modes[i])) == 0)
            return vmux__config_store_cluster(p->cfg, modes[i]);
    return FAIL(p, "%s: '%s' is not auto, yes or no", k->name, v);
}

static int set_read_from(struct parse *p, const struct key_def *k, const char *v)
{
    for (vmux_read_from r = VMUX_READ_PRIMARY; vmux__config_read_from_name(r) != NULL; r++)
        if (strcasecmp(v, vmux__config_read_from_name(r)) == 0)
            return vmux__config_store_read_from(p->cfg, r);
    return FAIL(p,
                "%s: '%s' is not primary, preferReplica, replica, azAffinity or "
                "azAffinityReplicasAndPrimary",
                k->name, v);
}

static int set_near_mode(struct parse *p, const struct key_def *k, const char *v)
{
    for (vmux_near_mode m = VMUX_NEAR_OPTIN; vmux__config_near_mode_name(m) != NULL; m++)
        if (strcasecmp(v, vmux__config_near_mode_name(m)) == 0)
            return vmux__config_store_near_mode(p->cfg, m);
    return FAIL(p, "%s: '%s' is not optin or bcast", k->name, v);
}

static int set_tls_versions(struct parse *p, const struct key_def *k, const char *v)
{
    unsigned versions;
    const char *why = vmux__config_tls_versions_parse(v, &versions);
    if (why != NULL)
        return FAIL(p, "%s: '%s' %s", k->name, v, why);
    return vmux__config_store_tls_versions(p->cfg, versions);
}

static int set_text(struct parse *p, const struct key_def *k, const char *v)
{
    char list_why[256];
    if (k == &vmux__config_keys[KEY_NEAR_CACHE_PREFIXES] &&
        !vmux__near_prefixes_ok(v, list_why, sizeof list_why))
        return FAIL(p, "%s: '%s' %s", k->name, v, list_why);
    const char *why = k->kind == KIND_TEXT ? vmux__config_text_problem(k, v) : NULL;
    if (why != NULL)
        return FAIL(p, "%s: '%s' %s", k->name, v, why);
    return vmux__config_store_text(p->cfg, k, v);
}

#define UNKNOWN_KEY "unknown key '%s' (ignoreUnknown=true ignores unknown keys)"

/* A key not in the table: one of StackExchange.Redis's (config_compat.c), or unknown. */
static int set_other_key(struct parse *p, const char *key, const char *value)
{
    char why[256];
    if (key[0] == '\0')
        return FAIL(p, "empty key before '='");
    switch (vmux__config_compat(p->cfg, key, value, why, sizeof why)) {
    case COMPAT_IGNORED:
        return 0;
    case COMPAT_REFUSED:
        return FAIL(p, "%s", why);
    default:
        break;
    }
    if (!p->whole_text && !p->cfg->ignore_unknown)
        return FAIL(p, UNKNOWN_KEY, key);
    if (p->unknown == NULL) {
        p->unknown = key;
        p->hide_unknown = p->hide;
    }
    vmux__config_note_unknown(p->cfg, key);
    return 0;
}

static int set_key(struct parse *p, const char *key, const char *value)
{
    const struct key_def *k = find_key(key);
    if (k == NULL)
        return set_other_key(p, key, value);
    switch (k->kind) {
    case KIND_BOOL:
        return set_bool(p, k, value);
    case KIND_TEXT:
    case KIND_SECRET:
        return set_text(p, k, value);
    case KIND_POLICY:
        return set_policy(p, k, value);
    case KIND_CLUSTER:
        return set_cluster(p, k, value);
    case KIND_READ_FROM:
        return set_read_from(p, k, value);
    case KIND_NEAR_MODE:
        return set_near_mode(p, k, value);
    case KIND_TLS_VERSIONS:
        return set_tls_versions(p, k, value);
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

/* Cuts s at each sep and applies fn to every piece in turn; stops at the first error. */
static int for_each_piece(struct parse *p, char *s, char sep, int (*fn)(struct parse *, char *))
{
    char *next;
    for (char *piece = s; piece != NULL; piece = next) {
        next = strchr(piece, sep);
        if (next != NULL)
            *next++ = '\0';
        int rc = fn(p, piece);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int apply_string(struct parse *p, char *s)
{
    return for_each_piece(p, s, ',', apply_token);
}

/*
 * ---- URLs: scheme://[user[:password]@]host[:port][/db][?key=value&...], and for Sentinel
 * scheme+sentinel://[user[:password]@]host[:port][,host[:port]...]/service[/db][?...] ----
 */

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

/* "<scheme>+sentinel" (cut in place to "<scheme>") sets *sentinel: the hosts are sentinels. */
static int url_scheme(struct parse *p, char *scheme, bool *sentinel)
{
    static const char *const plain[] = {"redis", "valkey"}, *const tls[] = {"rediss", "valkeys"};
    char *plus = strchr(scheme, '+');
    *sentinel = plus != NULL && strcasecmp(plus, "+sentinel") == 0;
    if (*sentinel)
        *plus = '\0';
    for (size_t i = 0; i < 2; i++) {
        if (strcasecmp(scheme, plain[i]) == 0)
            return 0;
        if (strcasecmp(scheme, tls[i]) == 0) {
            int rc = vmux__config_store_bool(p->cfg, &vmux__config_keys[KEY_SSL], true);
            if (rc == 0 && *sentinel)
                rc = vmux__config_store_bool(p->cfg, &vmux__config_keys[KEY_SENTINEL_TLS], true);
            return rc;
        }
    }
    if (*sentinel)
        *plus = '+';
    return FAIL(p,
                "unsupported scheme '%s' (use redis, rediss, valkey or valkeys, or for Sentinel "
                "the same followed by +sentinel)",
                scheme);
}

/* Empty user or password parts leave the field as it was ("redis://:pass@h" sets no user). */
static int url_credential(struct parse *p, enum key_id id, char *text)
{
    if (!percent_decode(text))
        return FAIL(p, "bad percent-encoding in the URL's %s", vmux__config_keys[id].name);
    return text[0] == '\0' ? 0 : set_text(p, &vmux__config_keys[id], text);
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

/*
 * One of a Sentinel URL's hosts: "host[:port]". A port left out is Sentinel's 26379 once the
 * path has set serviceName.
 */
/*
 * RFC 6874: in a URL, the '%' before an IPv6 literal's zone id is written "%25"
 * ("[fe80::1%25eth0]"), decoded here; a zone after a bare '%' is taken as it is, as in a string.
 */
static void url_zone_decode(char *hostport)
{
    char *close = hostport[0] == '[' ? strchr(hostport, ']') : NULL;
    char *pct = close != NULL ? strstr(hostport, "%25") : NULL;
    if (pct != NULL && pct + 3 < close)
        memmove(pct + 1, pct + 3, strlen(pct + 3) + 1);
}

static int url_endpoint(struct parse *p, char *hostport)
{
    url_zone_decode(hostport);
    return parse_endpoint(p, hostport);
}

static int url_sentinel(struct parse *p, char *hostport)
{
    if (hostport[0] == '\0')
        return FAIL(p, "empty sentinel address in URL");
    return url_endpoint(p, hostport);
}

/*
 * The last '@' ends the user info, so an unencoded '@' in a password still works. A Sentinel
 * URL lists its sentinels, separated by commas.
 */
static int url_authority(struct parse *p, char *auth, bool sentinel)
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
    return sentinel ? for_each_piece(p, hostport, ',', url_sentinel) : url_endpoint(p, hostport);
}

static int url_path(struct parse *p, const char *path)
{
    if (path == NULL || path[0] == '\0')
        return 0;
    uint64_t db;
    if (parse_u64(path, strlen(path), &db) != NUM_OK || db > INT_MAX)
        return FAIL(p, "bad database '%s' in URL (expected /0../%d)", path, INT_MAX);
    return vmux__config_store_int(p->cfg, &vmux__config_keys[KEY_DEFAULT_DATABASE], (int)db);
}

/* A Sentinel URL's path: "<service>[/db]". */
static int url_service_path(struct parse *p, char *path)
{
    char *db = path != NULL ? strchr(path, '/') : NULL;
    if (db != NULL)
        *db++ = '\0';
    if (path == NULL || path[0] == '\0')
        return FAIL(p, "a Sentinel URL names its service: "
                       "valkey+sentinel://host:port[,host:port...]/<service>[/db]");
    if (!percent_decode(path))
        return FAIL(p, "bad percent-encoding in the URL's service name");
    int rc = set_text(p, &vmux__config_keys[KEY_SERVICE_NAME], path);
    return rc == 0 ? url_path(p, db) : rc;
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
    const struct key_def *k = find_key(pair);
    int rc = set_key(p, pair, eq + 1);
    if (rc == 0 && k != NULL && k->kind == KIND_SECRET && p->hide == NULL)
        p->hide = HIDE_AFTER_SECRET;
    return rc;
}

static int url_query(struct parse *p, char *query)
{
    return for_each_piece(p, query, '&', url_query_pair);
}

/* The query is cut first: its values may hold '/' (sslCaFile=/etc/ca.pem). */
static int apply_url(struct parse *p, char *url, size_t scheme_len)
{
    url[scheme_len] = '\0';
    bool sentinel;
    int rc = url_scheme(p, url, &sentinel);
    char *rest = url + scheme_len + 3;
    char *query = strchr(rest, '?');
    if (query != NULL)
        *query++ = '\0';
    /* the path begins after the user info, which may hold a '/' of its own (a password) */
    char *at = strrchr(rest, '@');
    if (at == NULL && query != NULL && strchr(query, '@') != NULL)
        p->hide = HIDE_CUT_USERINFO;
    char *path = strchr(at != NULL ? at : rest, '/');
    if (path != NULL)
        *path++ = '\0';
    if (rc == 0)
        rc = url_authority(p, rest, sentinel);
    if (rc == 0)
        rc = sentinel ? url_service_path(p, path) : url_path(p, path);
    if (rc == 0 && query != NULL)
        rc = url_query(p, query);
    return rc == VMUX_ERR_CONFIG && p->hide != NULL ? FAIL(p, "%s", p->hide) : rc;
}

/* Parses text into p->cfg. The copy may hold a password, so it is wiped afterwards. */
static int apply_text(struct parse *p, const char *text)
{
    size_t n = strlen(text);
    char *copy = malloc(n + 1);
    if (copy == NULL) {
        vmux__errbuf_set(p->errbuf, p->errlen, "out of memory");
        return VMUX_ERR_NOMEM;
    }
    memcpy(copy, text, n + 1);
    char *s = trim(copy);
    size_t scheme_len = url_scheme_len(s);
    p->whole_text = true;
    int rc = scheme_len > 0 ? apply_url(p, s, scheme_len) : apply_string(p, s);
    if (rc == 0 && p->unknown != NULL && !p->cfg->ignore_unknown)
        rc = p->hide_unknown != NULL ? FAIL(p, "%s", p->hide_unknown)
                                     : FAIL(p, UNKNOWN_KEY, p->unknown);
    if (rc == 0 && p->cfg->nendpoints == 0)
        rc = FAIL(p, "no endpoint: give at least one host[:port]");
    if (rc == 0 && vmux__config_near_problem(p->cfg) != NULL)
        rc = FAIL(p, "%s", vmux__config_near_problem(p->cfg));
    if (rc == VMUX_ERR_NOMEM)
        vmux__errbuf_set(p->errbuf, p->errlen, "out of memory");
    explicit_bzero(copy, n);
    free(copy);
    return rc;
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
        vmux__errbuf_set(errbuf, errlen, "invalid argument: vmux_config_parse(): %s is NULL",
                         text == NULL ? "text" : "out");
        return VMUX_ERR_INVALID_ARG;
    }
    struct parse p = {NULL, errbuf, errlen, false, NULL, NULL, NULL};
    int rc = vmux_config_new(&p.cfg);
    if (rc == 0)
        rc = apply_text(&p, text);
    else
        vmux__errbuf_set(errbuf, errlen, "out of memory");
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
        vmux__errbuf_set(errbuf, errlen, "invalid argument: vmux_config_apply(): %s is NULL",
                         cfg == NULL ? "cfg" : "text");
        return VMUX_ERR_INVALID_ARG;
    }
    struct parse p = {vmux_config_dup(cfg), errbuf, errlen, false, NULL, NULL, NULL};
    if (p.cfg == NULL) {
        vmux__errbuf_set(errbuf, errlen, "out of memory");
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
        vmux__errbuf_set(errbuf, errlen, "invalid argument: vmux_config_set(): %s is NULL",
                         cfg == NULL   ? "cfg"
                         : key == NULL ? "key"
                                       : "value");
        return VMUX_ERR_INVALID_ARG;
    }
    struct parse p = {cfg, errbuf, errlen, false, NULL, NULL, NULL};
    int rc = set_key(&p, key, value);
    if (rc == VMUX_ERR_NOMEM)
        vmux__errbuf_set(errbuf, errlen, "out of memory");
    return rc;
}
