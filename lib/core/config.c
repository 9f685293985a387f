/*
 * Configuration: the key table and the defaults, storing values, a config's lifetime
 * and its endpoints. Parsing strings and URLs is in config_parse.c, printing in config_print.c, the
 * typed setters and getters in config_access.c.
 *
 * Every key lives in one table (vmux__config_keys[]): its name, kind, field offset and range.
 * The string parser, URL queries, vmux_config_set(), the typed setters, to_string, dup and free
 * all go through it, so a key is added in one place.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/config_keys.h"
#include "core/errbuf.h"
#include "core/near_prefix.h"
#include "core/why.h"
#include "vmux/error.h"
#include "vmux/iam.h"

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

/* The order here is the order to_string prints keys in; the table of keys in
 * docs/configuration.md follows it. */
const struct key_def vmux__config_keys[KEY_COUNT] = {
    [KEY_SSL] = FLAG("ssl", ssl),
    [KEY_SSL_HOST] = TEXT("sslHost", ssl_host),
    [KEY_SSL_CA_FILE] = TEXT("sslCaFile", ssl_ca_file),
    [KEY_SSL_CA_PATH] = TEXT("sslCaPath", ssl_ca_path),
    [KEY_SSL_CERT] = TEXT("sslCert", ssl_cert),
    [KEY_SSL_KEY] = TEXT("sslKey", ssl_key),
    [KEY_SSL_VERIFY] = FLAG("sslVerify", ssl_verify),
    [KEY_SSL_PROTOCOLS] = {"sslProtocols", KIND_TLS_VERSIONS, FIELD_OFF(ssl_protocols), 0, 0, NULL},
    [KEY_USER] = TEXT("user", user),
    [KEY_PASSWORD] = {"password", KIND_SECRET, FIELD_OFF(password), 0, 0, NULL},
    [KEY_NAME] = TEXT("name", name),
    [KEY_SET_LIB] = FLAG("setlib", client_library),
    [KEY_DEFAULT_DATABASE] = INTK("defaultDatabase", default_database, 0, NULL),
    [KEY_ABORT_CONNECT] = FLAG("abortConnect", abort_connect),
    [KEY_CONNECT_RETRY] = INTK("connectRetry", connect_retry, 1, "attempts"),
    [KEY_CONNECT_TIMEOUT] = INTK("connectTimeout", connect_timeout_ms, 1, "milliseconds"),
    [KEY_SYNC_TIMEOUT] = INTK("syncTimeout", sync_timeout_ms, 1, "milliseconds"),
    [KEY_ASYNC_TIMEOUT] = INTK("asyncTimeout", async_timeout_ms, 1, "milliseconds"),
    [KEY_KEEP_ALIVE] = INTK("keepAlive", keep_alive_s, 0, "seconds"),
    [KEY_REAUTH_INTERVAL] = INTK("reauthInterval", reauth_interval_s, 0, "seconds"),
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
    [KEY_CLUSTER] = {"cluster", KIND_CLUSTER, FIELD_OFF(cluster), 0, 0, NULL},
    [KEY_CLUSTER_REFRESH_MIN] =
        INTK("clusterRefreshMinInterval", cluster_refresh_min_ms, 1, "milliseconds"),
    [KEY_READ_FROM] = {"readFrom", KIND_READ_FROM, FIELD_OFF(read_from), 0, 0, NULL},
    [KEY_CLIENT_AZ] = TEXT("clientAz", client_az),
    [KEY_REPLICA_MAX_LAG] = INTK("replicaMaxLag", replica_max_lag_ms, 0, "milliseconds"),
    [KEY_SERVICE_NAME] = TEXT("serviceName", service_name),
    [KEY_SENTINEL_USER] = TEXT("sentinelUser", sentinel_user),
    [KEY_SENTINEL_PASSWORD] = {"sentinelPassword", KIND_SECRET, FIELD_OFF(sentinel_password), 0, 0,
                               NULL},
    [KEY_SENTINEL_TLS] = FLAG("sentinelTls", sentinel_tls),
    [KEY_IAM_USER] = TEXT("iamUser", iam_user),
    [KEY_IAM_CACHE] = TEXT("iamCache", iam_cache),
    [KEY_IAM_REGION] = TEXT("iamRegion", iam_region),
    [KEY_IAM_SERVERLESS] = FLAG("iamServerless", iam_serverless),
    [KEY_NEAR_CACHE] = FLAG("nearCache", near_cache),
    [KEY_NEAR_CACHE_MAX_ENTRIES] = U64K("nearCacheMaxEntries", near_cache_max_entries, "entries"),
    [KEY_NEAR_CACHE_MAX_BYTES] = U64K("nearCacheMaxBytes", near_cache_max_bytes, "bytes"),
    [KEY_NEAR_CACHE_TTL] = INTK("nearCacheTtl", near_cache_ttl_ms, 0, "milliseconds"),
    [KEY_NEAR_CACHE_MODE] = {"nearCacheMode", KIND_NEAR_MODE, FIELD_OFF(near_cache_mode), 0, 0,
                             NULL},
    [KEY_NEAR_CACHE_PREFIXES] = TEXT("nearCachePrefixes", near_cache_prefixes),
    [KEY_IGNORE_UNKNOWN] = FLAG("ignoreUnknown", ignore_unknown),
};

const struct vmux_config vmux__config_defaults = {
    .ssl_verify = true,
    .ssl_protocols = VMUX_TLS_1_2 | VMUX_TLS_1_3,
    .client_library = true,
    .abort_connect = true,
    .connect_retry = VMUX_DEFAULT_CONNECT_RETRY,
    .connect_timeout_ms = VMUX_DEFAULT_CONNECT_TIMEOUT_MS,
    .sync_timeout_ms = VMUX_DEFAULT_SYNC_TIMEOUT_MS,
    .async_timeout_ms = -1,
    .keep_alive_s = VMUX_DEFAULT_KEEP_ALIVE_S,
    .reauth_interval_s = VMUX_DEFAULT_REAUTH_INTERVAL_S,
    .backlog_size = VMUX_DEFAULT_BACKLOG_SIZE,
    .backlog_policy = VMUX_BACKLOG_QUEUE,
    .cluster = VMUX_CLUSTER_AUTO,
    .cluster_refresh_min_ms = VMUX_DEFAULT_CLUSTER_REFRESH_MIN_MS,
    .reconnect_min_ms = VMUX_DEFAULT_RECONNECT_MIN_MS,
    .reconnect_max_ms = VMUX_DEFAULT_RECONNECT_MAX_MS,
    .blocking_pool_size = VMUX_DEFAULT_BLOCKING_POOL_SIZE,
    .max_bulk_length = VMUX_DEFAULT_MAX_BULK_LENGTH,
    .max_reply_elements = VMUX_DEFAULT_MAX_REPLY_ELEMENTS,
    .max_reply_buffer = VMUX_DEFAULT_MAX_REPLY_BUFFER,
    .max_pending = VMUX_DEFAULT_MAX_PENDING,
    .max_pending_bytes = VMUX_DEFAULT_MAX_PENDING_BYTES,
    .near_cache_max_entries = VMUX_DEFAULT_NEAR_CACHE_MAX_ENTRIES,
    .near_cache_max_bytes = VMUX_DEFAULT_NEAR_CACHE_MAX_BYTES,
};

/* Passwords should not linger in freed heap memory. */
static void free_wiped(char *s)
{
    if (s != NULL)
        explicit_bzero(s, strlen(s));
    free(s);
}

bool vmux__config_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool vmux__host_over_dns(const char *h, size_t n)
{
    return (n > 0 && h[n - 1] == '.' ? n - 1 : n) > VMUX_HOST_MAX;
}

_Static_assert(VMUX_ZONE_MAX == IF_NAMESIZE - 1, "a zone id is an interface name");

size_t vmux__host_zone_len(const char *h, size_t n)
{
    const char *zone = memchr(h, '%', n);
    char addr[INET6_ADDRSTRLEN];
    struct in6_addr a;
    size_t at = zone != NULL ? (size_t)(zone - h) : 0;
    if (zone == NULL || at >= sizeof addr)
        return 0;
    memcpy(addr, h, at);
    addr[at] = '\0';
    return inet_pton(AF_INET6, addr, &a) == 1 ? n - at - 1 : 0;
}

bool vmux__config_host_too_long(char *buf, size_t len, size_t pos, const char *host, size_t n)
{
    size_t zone = vmux__host_zone_len(host, n);
    if (zone > VMUX_ZONE_MAX) /* quoted in part, as below */
        vmux__errbuf_set(buf, len,
                         "endpoint %zu: its IPv6 address '%.*s' has a zone id of %zu bytes "
                         "('%.*s%s'), over %d, the longest name of a network interface",
                         pos, (int)(n - zone - 1), host, zone, (int)(zone < 20 ? zone : 20),
                         host + n - zone, zone > 20 ? "..." : "", VMUX_ZONE_MAX);
    else if (vmux__host_over_dns(host, n)) /* quoted in part: the whole would push out the rest */
        vmux__errbuf_set(buf, len,
                         "endpoint %zu: its host of %zu bytes ('%.20s...') is over %d, the most "
                         "DNS allows (an absolute name's trailing dot not counted)",
                         pos, n, host, VMUX_HOST_MAX);
    else
        return false;
    return true;
}

bool vmux__config_host_ok(const char *h, size_t n)
{
    if (n == 0 || vmux__host_over_dns(h, n))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        if (!isalnum(c) && c != '.' && c != '-' && c != '_' && c != ':' && c != '%')
            return false;
    }
    return true;
}

const char *vmux__config_text_problem(const struct key_def *k, const char *v)
{
    size_t n = strlen(v);
    if (n > 0 && (vmux__config_is_space(v[0]) || vmux__config_is_space(v[n - 1])))
        return "may not begin or end with a space";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c == 0x7f || c == ',')
            return "may not contain ',' or control characters";
        if (k == &vmux__config_keys[KEY_NAME] && (c < '!' || c > '~'))
            return "may hold only printable ASCII without spaces (CLIENT SETNAME refuses others)";
        if (k == &vmux__config_keys[KEY_SERVICE_NAME] && (c < '!' || c > '~'))
            return "may hold only printable ASCII without spaces (as Sentinel's service names)";
    }
    if (k == &vmux__config_keys[KEY_NEAR_CACHE_PREFIXES] && !vmux__near_prefixes_ok(v, NULL, 0))
        return "is not a valid prefix list (';' between prefixes: none empty, none the start of "
               "another, at most 64)";
    return NULL;
}

/* ---- storing values: shared by the typed setters and the text parser ---- */

int vmux__config_store_bool(vmux_config *cfg, const struct key_def *k, bool v)
{
    if (cfg == NULL)
        return VMUX_ERR_INVALID_ARG;
    *(bool *)field(cfg, k) = v;
    return 0;
}

int vmux__config_store_int(vmux_config *cfg, const struct key_def *k, int64_t v)
{
    if (cfg == NULL || v < 0 || !in_range(k, (uint64_t)v)) /* every INT key's max is INT_MAX */
        return VMUX_ERR_INVALID_ARG;
    *(int *)field(cfg, k) = (int)v;
    return 0;
}

int vmux__config_store_u64(vmux_config *cfg, const struct key_def *k, uint64_t v)
{
    if (cfg == NULL || !in_range(k, v))
        return VMUX_ERR_INVALID_ARG;
    *(uint64_t *)field(cfg, k) = v;
    return 0;
}

static void follow_service_name(vmux_config *cfg);

/*
 * An empty string clears the value, like NULL, so "name=" and to_string agree. Every way of
 * setting serviceName ends here, so the ports left out follow it here.
 */
int vmux__config_store_text(vmux_config *cfg, const struct key_def *k, const char *v)
{
    if (cfg == NULL ||
        (v != NULL && k->kind == KIND_TEXT && vmux__config_text_problem(k, v) != NULL))
        return VMUX_ERR_INVALID_ARG;
    char *copy = NULL;
    if (v != NULL && v[0] != '\0' && (copy = strdup(v)) == NULL)
        return VMUX_ERR_NOMEM;
    char **slot = field(cfg, k);
    free_wiped(*slot);
    *slot = copy;
    if (k == &vmux__config_keys[KEY_SERVICE_NAME])
        follow_service_name(cfg);
    return 0;
}

int vmux__config_store_policy(vmux_config *cfg, vmux_backlog_policy v)
{
    if (cfg == NULL || (v != VMUX_BACKLOG_QUEUE && v != VMUX_BACKLOG_FAIL_FAST))
        return VMUX_ERR_INVALID_ARG;
    cfg->backlog_policy = v;
    return 0;
}

int vmux__config_store_cluster(vmux_config *cfg, vmux_cluster_mode v)
{
    if (cfg == NULL || (v != VMUX_CLUSTER_AUTO && v != VMUX_CLUSTER_YES && v != VMUX_CLUSTER_NO))
        return VMUX_ERR_INVALID_ARG;
    cfg->cluster = v;
    return 0;
}

static const char *const read_from_names[] = {
    [VMUX_READ_PRIMARY] = "primary",
    [VMUX_READ_PREFER_REPLICA] = "preferReplica",
    [VMUX_READ_REPLICA] = "replica",
    [VMUX_READ_AZ_AFFINITY] = "azAffinity",
    [VMUX_READ_AZ_AFFINITY_REPLICAS_AND_PRIMARY] = "azAffinityReplicasAndPrimary",
};

const char *vmux__config_read_from_name(vmux_read_from v)
{
    return (unsigned)v < sizeof read_from_names / sizeof read_from_names[0] ? read_from_names[v]
                                                                            : NULL;
}

int vmux__config_store_read_from(vmux_config *cfg, vmux_read_from v)
{
    if (cfg == NULL || vmux__config_read_from_name(v) == NULL)
        return VMUX_ERR_INVALID_ARG;
    cfg->read_from = v;
    return 0;
}

int vmux__config_store_tls_versions(vmux_config *cfg, unsigned v)
{
    if (cfg == NULL || v == 0 || (v & ~(unsigned)(VMUX_TLS_1_2 | VMUX_TLS_1_3)) != 0)
        return VMUX_ERR_INVALID_ARG;
    cfg->ssl_protocols = v;
    return 0;
}

int vmux__config_store_near_mode(vmux_config *cfg, vmux_near_mode v)
{
    if (cfg == NULL || vmux__config_near_mode_name(v) == NULL)
        return VMUX_ERR_INVALID_ARG;
    cfg->near_cache_mode = v;
    return 0;
}

const char *vmux__config_near_mode_name(vmux_near_mode v)
{
    return v == VMUX_NEAR_OPTIN ? "optin" : v == VMUX_NEAR_BCAST ? "bcast" : NULL;
}

const char *vmux__config_near_problem(const vmux_config *cfg)
{
    if (cfg->near_cache_prefixes != NULL && cfg->near_cache_mode != VMUX_NEAR_BCAST)
        return "nearCachePrefixes is set, but nearCacheMode is not bcast (OPTIN mode tracks the "
               "keys read, not prefixes: add nearCacheMode=bcast)";
    return NULL;
}

const char *vmux__config_cluster_name(vmux_cluster_mode v)
{
    return v == VMUX_CLUSTER_YES ? "yes" : v == VMUX_CLUSTER_NO ? "no" : "auto";
}

/* ---- endpoints ---- */

int vmux__config_endpoint_push(vmux_config *cfg, const char *host, size_t hlen, int port)
{
    char *h = strndup(host, hlen);
    if (h == NULL)
        return VMUX_ERR_NOMEM;
    struct vmux_endpoint *e = realloc(cfg->endpoints, (cfg->nendpoints + 1) * sizeof *e);
    if (e == NULL) {
        free(h);
        return VMUX_ERR_NOMEM;
    }
    e[cfg->nendpoints++] = (struct vmux_endpoint){h, port, false};
    cfg->endpoints = e;
    return 0;
}

/* What a port left out stands for: under serviceName the endpoints are sentinels. */
static int left_out_port(const vmux_config *cfg)
{
    return cfg->service_name != NULL ? VMUX_DEFAULT_SENTINEL_PORT : VMUX_DEFAULT_PORT;
}

int vmux__config_endpoint_push_left_out(vmux_config *cfg, const char *host, size_t hlen)
{
    int rc = vmux__config_endpoint_push(cfg, host, hlen, left_out_port(cfg));
    if (rc == 0)
        cfg->endpoints[cfg->nendpoints - 1].port_defaulted = true;
    return rc;
}

/* Run whenever serviceName is stored: set, changed or cleared, by any of its setters. */
static void follow_service_name(vmux_config *cfg)
{
    for (size_t i = 0; i < cfg->nendpoints; i++) {
        if (cfg->endpoints[i].port_defaulted)
            cfg->endpoints[i].port = left_out_port(cfg);
    }
}

void vmux__config_pin_ports(vmux_config *cfg)
{
    for (size_t i = 0; i < cfg->nendpoints; i++)
        cfg->endpoints[i].port_defaulted = false;
}

/* ---- lifetime ---- */

int vmux_config_new(vmux_config **out)
{
    if (out == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "out is NULL");
    *out = malloc(sizeof **out);
    if (*out == NULL)
        return VMUX_ERR_NOMEM;
    **out = vmux__config_defaults;
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
        if (is_string_key(&vmux__config_keys[i]))
            free_wiped(*(char **)field(cfg, &vmux__config_keys[i]));
    }
    vmux_iam_provider_free(cfg->iam_owned);
    free(cfg);
}

/* Clears every string of to first, so a failure halfway leaves it safe to free. */
static bool dup_strings(vmux_config *to, const vmux_config *from)
{
    for (size_t i = 0; i < KEY_COUNT; i++) {
        if (is_string_key(&vmux__config_keys[i]))
            *(char **)field(to, &vmux__config_keys[i]) = NULL;
    }
    for (size_t i = 0; i < KEY_COUNT; i++) {
        if (is_string_key(&vmux__config_keys[i]) &&
            vmux__config_store_text(to, &vmux__config_keys[i],
                                    *(char *const *)cfield(from, &vmux__config_keys[i])) != 0)
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
    c->iam_owned = NULL; /* a copy shares the provider (credentials_userdata), never owns it */
    bool ok = dup_strings(c, cfg);
    for (size_t i = 0; ok && i < cfg->nendpoints; i++) {
        const struct vmux_endpoint *e = &cfg->endpoints[i];
        ok = vmux__config_endpoint_push(c, e->host, strlen(e->host), e->port) == 0;
        if (ok)
            c->endpoints[i].port_defaulted = e->port_defaulted;
    }
    if (!ok) {
        vmux_config_free(c);
        return NULL;
    }
    return c;
}

/* ---- endpoints ---- */

size_t vmux_config_endpoint_count(const vmux_config *cfg)
{
    return cfg != NULL ? cfg->nendpoints : 0;
}

int vmux_config_endpoint(const vmux_config *cfg, size_t i, const char **host, int *port)
{
    if (cfg == NULL || host == NULL || port == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "%s is NULL",
                             cfg == NULL    ? "cfg"
                             : host == NULL ? "host"
                                            : "port");
    if (i >= cfg->nendpoints)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "i is %zu: the config has %zu endpoints", i,
                             cfg->nendpoints);
    const struct vmux_endpoint *e = &cfg->endpoints[i];
    VMUX_ASSERT(!e->port_defaulted || e->port == left_out_port(cfg)); /* follow_service_name */
    *host = e->host;
    *port = e->port;
    return 0;
}
