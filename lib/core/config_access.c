/* The typed setters and getters of vmux_config (config.h): one line each, through the key table. */
#include "core/config_keys.h"
#include "core/why.h"
#include "vmux/error.h"

static const vmux_config *or_defaults(const vmux_config *cfg)
{
    return cfg != NULL ? cfg : &vmux__config_defaults;
}

/* ---- typed setters ---- */

/*
 * A typed setter that refuses leaves its words in vmux_last_error() (why.h): which argument broke
 * which rule, in the parser's words for the key ("connectTimeout: 0 is out of range (expected
 * 1..2147483647 milliseconds)"), else the code's description. Unlike vmux_config_add_endpoint(),
 * a success leaves the thread's words as they were: the library sets a copied config's values
 * through these setters on the I/O thread (route/tlsname.c, net/sentinel.c), where clearing them
 * would take a running callback's words (call.h).
 */

/* A setter's refusal of a NULL cfg, with words; 0 for any other. */
static int null_cfg(const vmux_config *cfg)
{
    return cfg == NULL ? vmux__why_set(VMUX_ERR_INVALID_ARG, "cfg is NULL") : 0;
}

static int set_bool(vmux_config *cfg, enum key_id key, bool v)
{
    int rc = null_cfg(cfg);
    return rc != 0 ? rc : vmux__config_store_bool(cfg, &vmux__config_keys[key], v);
}

/* The words of a number k refuses (negative: v was below 0). */
static int out_of_range(const struct key_def *k, bool negative, unsigned long long v)
{
    return vmux__why_set(VMUX_ERR_INVALID_ARG, "%s: %s%llu is %s (expected %llu..%llu%s%s)",
                         k->name, negative ? "-" : "", v, negative ? "negative" : "out of range",
                         (unsigned long long)k->min, (unsigned long long)k->max,
                         k->unit != NULL ? " " : "", k->unit != NULL ? k->unit : "");
}

static int set_int(vmux_config *cfg, enum key_id key, int64_t v)
{
    const struct key_def *k = &vmux__config_keys[key];
    int rc = null_cfg(cfg);
    if (rc == 0 && (rc = vmux__config_store_int(cfg, k, v)) == VMUX_ERR_INVALID_ARG)
        rc = out_of_range(k, v < 0, v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v);
    return rc;
}

static int set_u64(vmux_config *cfg, enum key_id key, uint64_t v)
{
    const struct key_def *k = &vmux__config_keys[key];
    int rc = null_cfg(cfg);
    if (rc == 0 && (rc = vmux__config_store_u64(cfg, k, v)) == VMUX_ERR_INVALID_ARG)
        rc = out_of_range(k, false, (unsigned long long)v);
    return rc;
}

static int set_text(vmux_config *cfg, enum key_id key, const char *v)
{
    const struct key_def *k = &vmux__config_keys[key];
    int rc = null_cfg(cfg);
    if (rc == 0 && (rc = vmux__config_store_text(cfg, k, v)) == VMUX_ERR_INVALID_ARG)
        rc = vmux__why_set(rc, "%s: '%s' %s", k->name, v, vmux__config_text_problem(k, v));
    else if (rc == VMUX_ERR_NOMEM)
        rc = vmux__why_set(rc, "%s", vmux_strerror(rc));
    return rc;
}

/* A setter of an enum (name: the type of v), whose store refuses a value none of its. */
static int set_enum(vmux_config *cfg, int rc, const char *what, const char *type, int v)
{
    if (cfg == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "cfg is NULL");
    if (rc == VMUX_ERR_INVALID_ARG)
        return vmux__why_set(rc, "%s is %d: none of %s", what, v, type);
    return rc;
}

int vmux_config_set_ssl(vmux_config *cfg, bool on)
{
    return set_bool(cfg, KEY_SSL, on);
}

int vmux_config_set_ssl_host(vmux_config *cfg, const char *host)
{
    return set_text(cfg, KEY_SSL_HOST, host);
}

int vmux_config_set_ssl_ca_file(vmux_config *cfg, const char *path)
{
    return set_text(cfg, KEY_SSL_CA_FILE, path);
}

int vmux_config_set_ssl_ca_path(vmux_config *cfg, const char *path)
{
    return set_text(cfg, KEY_SSL_CA_PATH, path);
}

int vmux_config_set_ssl_cert(vmux_config *cfg, const char *path)
{
    return set_text(cfg, KEY_SSL_CERT, path);
}

int vmux_config_set_ssl_key(vmux_config *cfg, const char *path)
{
    return set_text(cfg, KEY_SSL_KEY, path);
}

int vmux_config_set_ssl_verify(vmux_config *cfg, bool on)
{
    return set_bool(cfg, KEY_SSL_VERIFY, on);
}

int vmux_config_set_user(vmux_config *cfg, const char *user)
{
    return set_text(cfg, KEY_USER, user);
}

int vmux_config_set_password(vmux_config *cfg, const char *password)
{
    return set_text(cfg, KEY_PASSWORD, password);
}

int vmux_config_set_service_name(vmux_config *cfg, const char *name)
{
    return set_text(cfg, KEY_SERVICE_NAME, name);
}

int vmux_config_set_sentinel_user(vmux_config *cfg, const char *user)
{
    return set_text(cfg, KEY_SENTINEL_USER, user);
}

int vmux_config_set_sentinel_password(vmux_config *cfg, const char *password)
{
    return set_text(cfg, KEY_SENTINEL_PASSWORD, password);
}

int vmux_config_set_ssl_protocols(vmux_config *cfg, unsigned versions)
{
    int rc = vmux__config_store_tls_versions(cfg, versions);
    if (cfg != NULL && rc == VMUX_ERR_INVALID_ARG)
        rc = vmux__why_set(rc, "versions is 0x%x: VMUX_TLS_1_2, VMUX_TLS_1_3 or both", versions);
    return cfg == NULL ? null_cfg(cfg) : rc;
}

int vmux_config_set_client_library(vmux_config *cfg, bool on)
{
    return set_bool(cfg, KEY_SET_LIB, on);
}

int vmux_config_set_ignore_unknown(vmux_config *cfg, bool on)
{
    return set_bool(cfg, KEY_IGNORE_UNKNOWN, on);
}

int vmux_config_set_sentinel_tls(vmux_config *cfg, bool on)
{
    return set_bool(cfg, KEY_SENTINEL_TLS, on);
}

int vmux_config_set_iam_user(vmux_config *cfg, const char *user)
{
    return set_text(cfg, KEY_IAM_USER, user);
}

int vmux_config_set_iam_cache(vmux_config *cfg, const char *cache)
{
    return set_text(cfg, KEY_IAM_CACHE, cache);
}

int vmux_config_set_iam_region(vmux_config *cfg, const char *region)
{
    return set_text(cfg, KEY_IAM_REGION, region);
}

int vmux_config_set_iam_serverless(vmux_config *cfg, bool on)
{
    return set_bool(cfg, KEY_IAM_SERVERLESS, on);
}

int vmux_config_set_name(vmux_config *cfg, const char *name)
{
    return set_text(cfg, KEY_NAME, name);
}

int vmux_config_set_default_database(vmux_config *cfg, int db)
{
    return set_int(cfg, KEY_DEFAULT_DATABASE, db);
}

int vmux_config_set_abort_connect(vmux_config *cfg, bool on)
{
    return set_bool(cfg, KEY_ABORT_CONNECT, on);
}

int vmux_config_set_connect_retry(vmux_config *cfg, int attempts)
{
    return set_int(cfg, KEY_CONNECT_RETRY, attempts);
}

int vmux_config_set_connect_timeout(vmux_config *cfg, int64_t timeout_ms)
{
    return set_int(cfg, KEY_CONNECT_TIMEOUT, timeout_ms);
}

int vmux_config_set_sync_timeout(vmux_config *cfg, int64_t timeout_ms)
{
    return set_int(cfg, KEY_SYNC_TIMEOUT, timeout_ms);
}

int vmux_config_set_async_timeout(vmux_config *cfg, int64_t timeout_ms)
{
    return set_int(cfg, KEY_ASYNC_TIMEOUT, timeout_ms);
}

int vmux_config_set_keep_alive(vmux_config *cfg, int64_t seconds)
{
    return set_int(cfg, KEY_KEEP_ALIVE, seconds);
}

int vmux_config_set_reauth_interval(vmux_config *cfg, int64_t seconds)
{
    return set_int(cfg, KEY_REAUTH_INTERVAL, seconds);
}

int vmux_config_set_backlog_size(vmux_config *cfg, int commands)
{
    return set_int(cfg, KEY_BACKLOG_SIZE, commands);
}

int vmux_config_set_backlog_policy(vmux_config *cfg, vmux_backlog_policy policy)
{
    return set_enum(cfg, vmux__config_store_policy(cfg, policy), "policy", "vmux_backlog_policy",
                    (int)policy);
}

int vmux_config_set_cluster(vmux_config *cfg, vmux_cluster_mode mode)
{
    return set_enum(cfg, vmux__config_store_cluster(cfg, mode), "mode", "vmux_cluster_mode",
                    (int)mode);
}

int vmux_config_set_read_from(vmux_config *cfg, vmux_read_from read_from)
{
    return set_enum(cfg, vmux__config_store_read_from(cfg, read_from), "read_from",
                    "vmux_read_from", (int)read_from);
}

int vmux_config_set_client_az(vmux_config *cfg, const char *az)
{
    return set_text(cfg, KEY_CLIENT_AZ, az);
}

int vmux_config_set_replica_max_lag(vmux_config *cfg, int64_t lag_ms)
{
    return set_int(cfg, KEY_REPLICA_MAX_LAG, lag_ms);
}

int vmux_config_set_cluster_refresh_min_interval(vmux_config *cfg, int64_t interval_ms)
{
    return set_int(cfg, KEY_CLUSTER_REFRESH_MIN, interval_ms);
}

int vmux_config_set_reconnect_min(vmux_config *cfg, int64_t min_ms)
{
    return set_int(cfg, KEY_RECONNECT_MIN, min_ms);
}

int vmux_config_set_reconnect_max(vmux_config *cfg, int64_t max_ms)
{
    return set_int(cfg, KEY_RECONNECT_MAX, max_ms);
}

int vmux_config_set_blocking_pool_size(vmux_config *cfg, int connections)
{
    return set_int(cfg, KEY_BLOCKING_POOL_SIZE, connections);
}

int vmux_config_set_max_bulk_length(vmux_config *cfg, uint64_t bytes)
{
    return set_u64(cfg, KEY_MAX_BULK_LENGTH, bytes);
}

int vmux_config_set_max_reply_elements(vmux_config *cfg, uint64_t elements)
{
    return set_u64(cfg, KEY_MAX_REPLY_ELEMENTS, elements);
}

int vmux_config_set_max_reply_buffer(vmux_config *cfg, uint64_t bytes)
{
    return set_u64(cfg, KEY_MAX_REPLY_BUFFER, bytes);
}

int vmux_config_set_max_pending(vmux_config *cfg, int commands)
{
    return set_int(cfg, KEY_MAX_PENDING, commands);
}

int vmux_config_set_max_pending_bytes(vmux_config *cfg, uint64_t bytes)
{
    return set_u64(cfg, KEY_MAX_PENDING_BYTES, bytes);
}

int vmux_config_set_near_cache(vmux_config *cfg, bool on)
{
    return set_bool(cfg, KEY_NEAR_CACHE, on);
}

int vmux_config_set_near_cache_max_entries(vmux_config *cfg, uint64_t entries)
{
    return set_u64(cfg, KEY_NEAR_CACHE_MAX_ENTRIES, entries);
}

int vmux_config_set_near_cache_max_bytes(vmux_config *cfg, uint64_t bytes)
{
    return set_u64(cfg, KEY_NEAR_CACHE_MAX_BYTES, bytes);
}

int vmux_config_set_near_cache_ttl(vmux_config *cfg, int64_t ttl_ms)
{
    return set_int(cfg, KEY_NEAR_CACHE_TTL, ttl_ms);
}

int vmux_config_set_near_cache_mode(vmux_config *cfg, vmux_near_mode mode)
{
    return set_enum(cfg, vmux__config_store_near_mode(cfg, mode), "mode", "vmux_near_mode",
                    (int)mode);
}

int vmux_config_set_near_cache_prefixes(vmux_config *cfg, const char *prefixes)
{
    return set_text(cfg, KEY_NEAR_CACHE_PREFIXES, prefixes);
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

const char *vmux_config_service_name(const vmux_config *cfg)
{
    return or_defaults(cfg)->service_name;
}

const char *vmux_config_sentinel_user(const vmux_config *cfg)
{
    return or_defaults(cfg)->sentinel_user;
}

bool vmux_config_has_sentinel_password(const vmux_config *cfg)
{
    return or_defaults(cfg)->sentinel_password != NULL;
}

unsigned vmux_config_ssl_protocols(const vmux_config *cfg)
{
    return or_defaults(cfg)->ssl_protocols;
}

bool vmux_config_client_library(const vmux_config *cfg)
{
    return or_defaults(cfg)->client_library;
}

bool vmux_config_ignore_unknown(const vmux_config *cfg)
{
    return or_defaults(cfg)->ignore_unknown;
}

bool vmux_config_sentinel_tls(const vmux_config *cfg)
{
    return or_defaults(cfg)->sentinel_tls;
}

const char *vmux_config_iam_user(const vmux_config *cfg)
{
    return or_defaults(cfg)->iam_user;
}

const char *vmux_config_iam_cache(const vmux_config *cfg)
{
    return or_defaults(cfg)->iam_cache;
}

const char *vmux_config_iam_region(const vmux_config *cfg)
{
    return or_defaults(cfg)->iam_region;
}

bool vmux_config_iam_serverless(const vmux_config *cfg)
{
    return or_defaults(cfg)->iam_serverless;
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

int64_t vmux_config_connect_timeout(const vmux_config *cfg)
{
    return or_defaults(cfg)->connect_timeout_ms;
}

int64_t vmux_config_sync_timeout(const vmux_config *cfg)
{
    return or_defaults(cfg)->sync_timeout_ms;
}

int64_t vmux_config_async_timeout(const vmux_config *cfg)
{
    const vmux_config *c = or_defaults(cfg);
    return c->async_timeout_ms == -1 ? c->sync_timeout_ms : c->async_timeout_ms;
}

int64_t vmux_config_keep_alive(const vmux_config *cfg)
{
    return or_defaults(cfg)->keep_alive_s;
}

int64_t vmux_config_reauth_interval(const vmux_config *cfg)
{
    return or_defaults(cfg)->reauth_interval_s;
}

int vmux_config_backlog_size(const vmux_config *cfg)
{
    return or_defaults(cfg)->backlog_size;
}

vmux_backlog_policy vmux_config_backlog_policy(const vmux_config *cfg)
{
    return or_defaults(cfg)->backlog_policy;
}

vmux_cluster_mode vmux_config_cluster(const vmux_config *cfg)
{
    return or_defaults(cfg)->cluster;
}

vmux_read_from vmux_config_read_from(const vmux_config *cfg)
{
    return or_defaults(cfg)->read_from;
}

const char *vmux_config_client_az(const vmux_config *cfg)
{
    return or_defaults(cfg)->client_az;
}

int64_t vmux_config_replica_max_lag(const vmux_config *cfg)
{
    return or_defaults(cfg)->replica_max_lag_ms;
}

int64_t vmux_config_cluster_refresh_min_interval(const vmux_config *cfg)
{
    return or_defaults(cfg)->cluster_refresh_min_ms;
}

int64_t vmux_config_reconnect_min(const vmux_config *cfg)
{
    return or_defaults(cfg)->reconnect_min_ms;
}

int64_t vmux_config_reconnect_max(const vmux_config *cfg)
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

bool vmux_config_near_cache(const vmux_config *cfg)
{
    return or_defaults(cfg)->near_cache;
}

uint64_t vmux_config_near_cache_max_entries(const vmux_config *cfg)
{
    return or_defaults(cfg)->near_cache_max_entries;
}

uint64_t vmux_config_near_cache_max_bytes(const vmux_config *cfg)
{
    return or_defaults(cfg)->near_cache_max_bytes;
}

int64_t vmux_config_near_cache_ttl(const vmux_config *cfg)
{
    return or_defaults(cfg)->near_cache_ttl_ms;
}

vmux_near_mode vmux_config_near_cache_mode(const vmux_config *cfg)
{
    return or_defaults(cfg)->near_cache_mode;
}

const char *vmux_config_near_cache_prefixes(const vmux_config *cfg)
{
    return or_defaults(cfg)->near_cache_prefixes;
}
