/** @file
 * Configuration: one opaque vmux_config, filled from a StackExchange.Redis-style string
 * ("host1:6379,host2,ssl=true,abortConnect=false"), from a URL ("rediss://user:pass@host:6380/0";
 * also redis://, valkey://, valkeys://), or through the typed setters below. Keys are
 * case-insensitive; docs/configuration.md lists every key with its default.
 *
 * Threading: a vmux_config is a plain value. It may be used by one thread at a time; vmux_open()
 * copies what it needs, so the caller may change or free the config as soon as it returns.
 *
 * Errors: functions return 0 or a negative VMUX_ERR_* code (error.h). Parsing functions take an
 * optional error buffer (errbuf, errlen; either may be NULL/0) that receives a sentence naming
 * the offending token, such as "unknown key 'sslVerfy'".
 */
#ifndef VMUX_CONFIG_H
#define VMUX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmux/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A configuration (opaque): vmux_config_new(), vmux_config_parse(), vmux_config_free(). */
typedef struct vmux_config vmux_config;

/** What happens to a command submitted while no connection is ready. */
typedef enum vmux_backlog_policy {
    VMUX_BACKLOG_QUEUE = 0, /**< wait in the bounded backlog until connected or the deadline */
    /** fail at once (VMUX_ERR_NOT_CONNECTED); but a link the handle opens for a command (a
     * cluster node's, a readFrom replica's) is waited for during its first attempt, and the
     * commands fail only if it fails (docs/reliability.md) */
    VMUX_BACKLOG_FAIL_FAST = 1,
} vmux_backlog_policy;

/** Whether the handle serves a Valkey Cluster (the cluster key; docs/cluster.md). */
typedef enum vmux_cluster_mode {
    VMUX_CLUSTER_AUTO = 0, /**< ask the first server: cluster mode if it is a cluster node */
    VMUX_CLUSTER_YES = 1,  /**< the server must be a cluster node, else the handle fails to open */
    VMUX_CLUSTER_NO = 2,   /**< standalone: never ask, never route by slot */
} vmux_cluster_mode;

/**
 * TLS versions, for the sslProtocols key (vmux_config_set_ssl_protocols()): a set of these,
 * or'ed. vmux speaks no version older than TLS 1.2.
 */
typedef enum vmux_tls_version {
    VMUX_TLS_1_2 = 1, /**< TLS 1.2 ("tls12" in a configuration string) */
    VMUX_TLS_1_3 = 2, /**< TLS 1.3 ("tls13") */
} vmux_tls_version;

/**
 * How the near cache asks the server for invalidations (the nearCacheMode key;
 * docs/patterns/near-cache.md, section BCAST mode).
 */
typedef enum vmux_near_mode {
    VMUX_NEAR_OPTIN = 0, /**< the default: the server tracks each key this handle read through the
                              near cache (CLIENT TRACKING ... OPTIN, CLIENT CACHING YES) */
    VMUX_NEAR_BCAST = 1, /**< the server sends the invalidation of every key under the prefixes of
                              nearCachePrefixes that anyone writes (CLIENT TRACKING ... BCAST);
                              keys under none are read untracked */
} vmux_near_mode;

/**
 * Where read-only commands go (the readFrom key; docs/replicas.md). Only commands the server
 * flags read-only (GET, HGETALL, ZRANGE, EVAL_RO...) and that name a key may go to a replica;
 * writes, scripts not marked read-only and keyless commands always go to the primary.
 */
typedef enum vmux_read_from {
    VMUX_READ_PRIMARY = 0,        /**< every command to the primary (the default) */
    VMUX_READ_PREFER_REPLICA = 1, /**< replicas in turn; the primary while none is connected */
    VMUX_READ_REPLICA = 2,        /**< replicas in turn, waiting for one; the primary only when the
                                     shard has no replica at all */
    VMUX_READ_AZ_AFFINITY = 3,    /**< replicas in the client's zone (clientAz) in turn, then the
                                     other replicas, then the primary */
    VMUX_READ_AZ_AFFINITY_REPLICAS_AND_PRIMARY = 4, /**< the client's zone first, its replicas
                                     then its primary; then other replicas; then the primary */
} vmux_read_from;

/**
 * Creates a config holding every default and no endpoint. On success *out owns a new config
 * that the caller frees with vmux_config_free(). Errors: VMUX_ERR_INVALID_ARG (out is NULL:
 * "invalid argument: out is NULL" in vmux_last_error(), error.h; a success leaves them as they
 * were), VMUX_ERR_NOMEM.
 */
VMUX_EXPORT int vmux_config_new(vmux_config **out);

/**
 * Parses a configuration string or URL into a new config (*out, freed by the caller with
 * vmux_config_free()). On error *out is set to NULL and nothing is allocated.
 * Errors: VMUX_ERR_INVALID_ARG (text or out NULL), VMUX_ERR_CONFIG (unknown key, bad value,
 * bad port, empty endpoint list...; errbuf says which token), VMUX_ERR_NOMEM.
 */
VMUX_EXPORT int vmux_config_parse(const char *text, vmux_config **out, char *errbuf, size_t errlen);

/**
 * Applies a configuration string or URL on top of an existing config: endpoints are added,
 * keys overwrite. On error the config is left unchanged. Errors as vmux_config_parse().
 */
VMUX_EXPORT int vmux_config_apply(vmux_config *cfg, const char *text, char *errbuf, size_t errlen);

/**
 * Sets one key from its text form, exactly as it would be written in a configuration string
 * ("connectTimeout", "2500"). Errors: VMUX_ERR_INVALID_ARG, VMUX_ERR_CONFIG, VMUX_ERR_NOMEM.
 */
VMUX_EXPORT int vmux_config_set(vmux_config *cfg, const char *key, const char *value, char *errbuf,
                                size_t errlen);

/** Returns a new deep copy of cfg, or NULL when cfg is NULL or memory runs out. */
VMUX_EXPORT vmux_config *vmux_config_dup(const vmux_config *cfg);

/** Frees a config. NULL is allowed. */
VMUX_EXPORT void vmux_config_free(vmux_config *cfg);

/**
 * Writes the config as a configuration string (endpoints first, each with the port it dials,
 * then every key that differs from its default) into buf, NUL-terminated. The password is
 * never written: it shows as "password=*****". Returns the length of the whole string (like
 * snprintf: if it is >= len, the output was cut), or VMUX_ERR_INVALID_ARG when cfg is NULL or
 * buf is NULL with len > 0 (its words in vmux_last_error(), error.h: "invalid argument: cfg is
 * NULL"; a success leaves them as they were, as the setters do).
 */
VMUX_EXPORT int vmux_config_to_string(const vmux_config *cfg, char *buf, size_t len);

/* ---- endpoints ---- */

/**
 * Appends an endpoint. host is copied; port 0 leaves the port out: 6379, or Sentinel's 26379
 * while serviceName is set (it follows serviceName as it is set or cleared later).
 * Errors: VMUX_ERR_INVALID_ARG (cfg or host NULL, host empty, over 253 bytes (DNS's limit; an
 * absolute name's trailing dot not counted), an IPv6 literal whose zone id is over 15 bytes (an
 * interface name's limit: "fe80::1%eth0" is taken) or with a character no host name or IP
 * literal has, port outside 0..65535), VMUX_ERR_NOMEM.
 * In words, naming the endpoint by its position and the rule ("invalid argument: endpoint 3
 * ('db1'): port 70000 out of range 0 .. 65535 (0: the default)"): vmux_last_error() (error.h), as
 * the parser's errbuf names a bad endpoint; "" when it succeeds.
 */
VMUX_EXPORT int vmux_config_add_endpoint(vmux_config *cfg, const char *host, int port);
/** Removes every endpoint. */
VMUX_EXPORT void vmux_config_clear_endpoints(vmux_config *cfg);
/** Returns how many endpoints the config has. */
VMUX_EXPORT size_t vmux_config_endpoint_count(const vmux_config *cfg);
/**
 * Reads endpoint i: *host points into the config (valid until the config changes or is freed);
 * *port is the port dialled: for a port left out, 6379, or 26379 while serviceName is set.
 * Errors: VMUX_ERR_INVALID_ARG (i out of range or a NULL argument: "invalid argument: i is 2: the
 * config has 2 endpoints" in vmux_last_error(), error.h; a success leaves them as they were).
 */
VMUX_EXPORT int vmux_config_endpoint(const vmux_config *cfg, size_t i, const char **host,
                                     int *port);

/** @name Typed setters
 * Each returns 0, VMUX_ERR_INVALID_ARG (NULL cfg or a value out of range)
 * or VMUX_ERR_NOMEM; string values are copied, and NULL clears them. Errors: they take no error
 * buffer; a refusal leaves its words in vmux_last_error() (error.h), in the parser's words for the
 * key after "invalid argument: " ("invalid argument: connectTimeout: 0 is out of range (expected
 * 1..2147483647 milliseconds)", "invalid argument: cfg is NULL", "invalid argument: policy is 7:
 * none of vmux_backlog_policy"), else the code's description. A success leaves the
 * thread's words as they were (the library sets copied configs through them on its I/O thread,
 * where clearing them would take a callback's words).
 * @{ */

/** ssl: connect with TLS. */
VMUX_EXPORT int vmux_config_set_ssl(vmux_config *cfg, bool on);
/** sslHost: the name the server certificate must match, also sent as SNI. */
VMUX_EXPORT int vmux_config_set_ssl_host(vmux_config *cfg, const char *host);
/** sslCaFile: a PEM file of CA certificates to verify the server with. */
VMUX_EXPORT int vmux_config_set_ssl_ca_file(vmux_config *cfg, const char *path);
/** sslCaPath: a directory of hashed CA certificates. */
VMUX_EXPORT int vmux_config_set_ssl_ca_path(vmux_config *cfg, const char *path);
/** sslCert: the client certificate (PEM). */
VMUX_EXPORT int vmux_config_set_ssl_cert(vmux_config *cfg, const char *path);
/** sslKey: the private key (PEM) of sslCert. */
VMUX_EXPORT int vmux_config_set_ssl_key(vmux_config *cfg, const char *path);
/** sslVerify: verify the server certificate and host name (insecure when off). */
VMUX_EXPORT int vmux_config_set_ssl_verify(vmux_config *cfg, bool on);
/**
 * sslProtocols: the TLS versions a handshake may use, a non-empty set of vmux_tls_version
 * (default VMUX_TLS_1_2 | VMUX_TLS_1_3). Returns VMUX_ERR_INVALID_ARG for an empty set or
 * unknown bits.
 */
VMUX_EXPORT int vmux_config_set_ssl_protocols(vmux_config *cfg, unsigned versions);
/** user: the ACL user name for AUTH. */
VMUX_EXPORT int vmux_config_set_user(vmux_config *cfg, const char *user);
/** password: the password for AUTH (never printed). */
VMUX_EXPORT int vmux_config_set_password(vmux_config *cfg, const char *password);
/** name: the connection name for CLIENT SETNAME (printable ASCII, no spaces). */
VMUX_EXPORT int vmux_config_set_name(vmux_config *cfg, const char *name);
/**
 * setlib: whether each connection names the library to the server with CLIENT SETINFO LIB-NAME
 * and LIB-VER (default on; StackExchange.Redis's SetClientLibrary).
 */
VMUX_EXPORT int vmux_config_set_client_library(vmux_config *cfg, bool on);
/**
 * ignoreUnknown: whether parsing ignores an unknown key (vmux_open() then names it in a WARN
 * line) instead of failing with VMUX_ERR_CONFIG (default off). Within one string or URL it
 * covers every key, before it or after; vmux_config_set() and vmux_config_apply() look at the
 * config's setting as it stands after the text.
 */
VMUX_EXPORT int vmux_config_set_ignore_unknown(vmux_config *cfg, bool on);
/** 0 .. 2^31-1 */
VMUX_EXPORT int vmux_config_set_default_database(vmux_config *cfg, int db);
/** abortConnect: whether vmux_open() fails when no server is reachable. */
VMUX_EXPORT int vmux_config_set_abort_connect(vmux_config *cfg, bool on);
/**
 * connectRetry, at least 1: the attempts vmux_open() makes, one endpoint each; whatever the
 * value, every listed endpoint gets one (except with serviceName, whose endpoints are sentinels).
 */
VMUX_EXPORT int vmux_config_set_connect_retry(vmux_config *cfg, int attempts);
/**
 * Durations (docs/api-conventions.md): int64_t, in the unit the parameter's name gives, from
 * its least value up to 2^31-1 (about 24.8 days in milliseconds); no timeout here can be turned
 * off, so VMUX_FOREVER and every other value outside the range is VMUX_ERR_INVALID_ARG.
 */
/** milliseconds, at least 1 */
VMUX_EXPORT int vmux_config_set_connect_timeout(vmux_config *cfg, int64_t timeout_ms);
/** syncTimeout: milliseconds, at least 1. */
VMUX_EXPORT int vmux_config_set_sync_timeout(vmux_config *cfg, int64_t timeout_ms);
/** milliseconds, at least 1; until set, the async timeout follows the sync timeout */
VMUX_EXPORT int vmux_config_set_async_timeout(vmux_config *cfg, int64_t timeout_ms);
/** seconds of idle time before TCP keepalive probes (the keepAlive key's unit); 0 turns TCP
 * keepalive and the heartbeat off */
VMUX_EXPORT int vmux_config_set_keep_alive(vmux_config *cfg, int64_t seconds);
/** reauthInterval: seconds between two AUTHs of one live connection with the credentials
 * provider's fresh answer (default 3600; 0: never). Only with a credentials provider
 * (vmux_config_set_credentials_provider(), the IAM keys); docs/configuration.md. */
VMUX_EXPORT int vmux_config_set_reauth_interval(vmux_config *cfg, int64_t seconds);
/** commands that may wait for a connection, at least 1 */
VMUX_EXPORT int vmux_config_set_backlog_size(vmux_config *cfg, int commands);
/** backlogPolicy: VMUX_BACKLOG_QUEUE or VMUX_BACKLOG_FAIL_FAST. */
VMUX_EXPORT int vmux_config_set_backlog_policy(vmux_config *cfg, vmux_backlog_policy policy);
/** VMUX_CLUSTER_AUTO (the default), _YES or _NO; anything else is VMUX_ERR_INVALID_ARG */
VMUX_EXPORT int vmux_config_set_cluster(vmux_config *cfg, vmux_cluster_mode mode);
/** milliseconds, at least 1 (default 1000): the least time between two slot map refreshes that
 * redirects, CLUSTERDOWN or failed connections ask for (docs/cluster.md) */
VMUX_EXPORT int vmux_config_set_cluster_refresh_min_interval(vmux_config *cfg, int64_t interval_ms);
/** one of vmux_read_from (default VMUX_READ_PRIMARY); anything else is VMUX_ERR_INVALID_ARG */
VMUX_EXPORT int vmux_config_set_read_from(vmux_config *cfg, vmux_read_from read_from);
/** the client's availability zone, as the servers' availability-zone setting names zones (for
 * the azAffinity policies); copied; NULL clears it */
VMUX_EXPORT int vmux_config_set_client_az(vmux_config *cfg, const char *az);
/** replicaMaxLag: milliseconds, at least 0 (the default: off). Under a readFrom other than
 * primary, a replica found this far behind its primary (replication offsets, read once a
 * second: docs/replicas.md) serves no read until it catches up. */
VMUX_EXPORT int vmux_config_set_replica_max_lag(vmux_config *cfg, int64_t lag_ms);
/** milliseconds, at least 1; min <= max is checked when the handle opens */
VMUX_EXPORT int vmux_config_set_reconnect_min(vmux_config *cfg, int64_t min_ms);
/** reconnectMax: milliseconds, at least 1 and at least reconnectMin. */
VMUX_EXPORT int vmux_config_set_reconnect_max(vmux_config *cfg, int64_t max_ms);
/** dedicated connections for blocking commands (BLPOP, XREAD BLOCK...), at least 1 */
VMUX_EXPORT int vmux_config_set_blocking_pool_size(vmux_config *cfg, int connections);
/** reply limits (bytes or elements), each at least 1 */
VMUX_EXPORT int vmux_config_set_max_bulk_length(vmux_config *cfg, uint64_t bytes);
/** maxReplyElements: the largest array accepted in a reply. */
VMUX_EXPORT int vmux_config_set_max_reply_elements(vmux_config *cfg, uint64_t elements);
/** maxReplyBuffer: the most memory one reply may take. */
VMUX_EXPORT int vmux_config_set_max_reply_buffer(vmux_config *cfg, uint64_t bytes);
/**
 * The bound on everything the handle holds for its callers: commands accepted and not yet
 * finished with, wherever they wait (the submit queue, a backlog, on the wire, a timed-out
 * command whose late reply is still owed), and their encoded bytes. A call that would pass
 * either is refused at once with VMUX_ERR_BACKLOG_FULL (its callback never runs). One command
 * larger than maxPendingBytes is still accepted while nothing else is pending. Each at least 1;
 * defaults 200000 commands and 256 MiB.
 */
VMUX_EXPORT int vmux_config_set_max_pending(vmux_config *cfg, int commands);
/** maxPendingBytes: the bound on their encoded bytes (above). */
VMUX_EXPORT int vmux_config_set_max_pending_bytes(vmux_config *cfg, uint64_t bytes);
/**
 * Sentinel (docs/sentinel.md): the service whose primary the handle serves (printable ASCII
 * without spaces; with it the endpoints are sentinels, and a port left out is 26379 instead of
 * 6379 until it is cleared), and the sentinels' own AUTH user and password and TLS (the ssl*
 * settings apply to them too), apart from the data nodes' user, password and ssl. The sentinel
 * settings without a service name make vmux_open() fail.
 */
VMUX_EXPORT int vmux_config_set_service_name(vmux_config *cfg, const char *name);
/** sentinelUser: the ACL user for AUTH on the sentinels. */
VMUX_EXPORT int vmux_config_set_sentinel_user(vmux_config *cfg, const char *user);
/** sentinelPassword: the password for AUTH on the sentinels. */
VMUX_EXPORT int vmux_config_set_sentinel_password(vmux_config *cfg, const char *password);
/** sentinelTls: connect to the sentinels with TLS. */
VMUX_EXPORT int vmux_config_set_sentinel_tls(vmux_config *cfg, bool on);
/**
 * ElastiCache IAM authentication (docs/elasticache.md): iamUser, the ElastiCache user whose IAM
 * token vmux_open() has the handle's own IAM provider sign at every connection attempt (it
 * replaces user and password); with it, iamCache (the replication group id or the serverless
 * cache's name), iamRegion (NULL: AWS_REGION, else AWS_DEFAULT_REGION) and iamServerless. Without
 * iamCache, or with the others but no iamUser, vmux_open() fails with VMUX_ERR_CONFIG.
 */
VMUX_EXPORT int vmux_config_set_iam_user(vmux_config *cfg, const char *user);
/** iamCache: the replication group id, or the serverless cache's name (above). */
VMUX_EXPORT int vmux_config_set_iam_cache(vmux_config *cfg, const char *cache);
/** iamRegion: the cache's AWS region (above). */
VMUX_EXPORT int vmux_config_set_iam_region(vmux_config *cfg, const char *region);
/** iamServerless: the cache is a serverless cache (above). */
VMUX_EXPORT int vmux_config_set_iam_serverless(vmux_config *cfg, bool on);
/**
 * The near cache (near.h, docs/patterns/near-cache.md): on (default off), the store's bounds
 * (entries, at least 1, default 100000; bytes, at least 1, default 64 MiB: vmux_open() fails
 * with VMUX_ERR_CONFIG when it cannot hold one small entry per shard), and a cap on how long
 * an entry lives after it was read, ms (0, the default: no cap; the key's server TTL and the
 * server's invalidations still end it).
 */
VMUX_EXPORT int vmux_config_set_near_cache(vmux_config *cfg, bool on);
/** nearCacheMaxEntries: the most entries the near cache holds (above). */
VMUX_EXPORT int vmux_config_set_near_cache_max_entries(vmux_config *cfg, uint64_t entries);
/** nearCacheMaxBytes: the most bytes the near cache holds (above). */
VMUX_EXPORT int vmux_config_set_near_cache_max_bytes(vmux_config *cfg, uint64_t bytes);
/** nearCacheTtl: the cap on an entry's life after it was stored (its reply came), ms (above). */
VMUX_EXPORT int vmux_config_set_near_cache_ttl(vmux_config *cfg, int64_t ttl_ms);
/** nearCacheMode: VMUX_NEAR_OPTIN (the default) or VMUX_NEAR_BCAST; anything else is
 * VMUX_ERR_INVALID_ARG. vmux_open() fails with VMUX_ERR_CONFIG when nearCachePrefixes is set
 * and the mode is not BCAST. */
VMUX_EXPORT int vmux_config_set_near_cache_mode(vmux_config *cfg, vmux_near_mode mode);
/** nearCachePrefixes: BCAST mode's key prefixes, separated by ';' ("user:;session:"); copied;
 * NULL or "" clears them (BCAST then tracks every key). At most 64, none empty, none the start of
 * another (the server refuses overlapping prefixes), no ',' or control characters, no space at
 * either end: anything else is VMUX_ERR_INVALID_ARG. */
VMUX_EXPORT int vmux_config_set_near_cache_prefixes(vmux_config *cfg, const char *prefixes);
/** @} */

/** @name Typed getters
 * A NULL cfg gives the default (strings: NULL).
 * @{ */
/** Returns the setting that the setter of the same name sets. */
VMUX_EXPORT bool vmux_config_ssl(const vmux_config *cfg);
VMUX_EXPORT const char *vmux_config_ssl_host(const vmux_config *cfg);
VMUX_EXPORT const char *vmux_config_ssl_ca_file(const vmux_config *cfg);
VMUX_EXPORT const char *vmux_config_ssl_ca_path(const vmux_config *cfg);
VMUX_EXPORT const char *vmux_config_ssl_cert(const vmux_config *cfg);
VMUX_EXPORT const char *vmux_config_ssl_key(const vmux_config *cfg);
VMUX_EXPORT bool vmux_config_ssl_verify(const vmux_config *cfg);
VMUX_EXPORT unsigned vmux_config_ssl_protocols(const vmux_config *cfg);
VMUX_EXPORT const char *vmux_config_user(const vmux_config *cfg);
/** Whether a password is set; the password itself cannot be read back. */
VMUX_EXPORT bool vmux_config_has_password(const vmux_config *cfg);
VMUX_EXPORT const char *vmux_config_name(const vmux_config *cfg);
VMUX_EXPORT bool vmux_config_client_library(const vmux_config *cfg);
VMUX_EXPORT bool vmux_config_ignore_unknown(const vmux_config *cfg);
VMUX_EXPORT int vmux_config_default_database(const vmux_config *cfg);
VMUX_EXPORT bool vmux_config_abort_connect(const vmux_config *cfg);
VMUX_EXPORT int vmux_config_connect_retry(const vmux_config *cfg);
/** durations: milliseconds, but the keep-alive in seconds */
VMUX_EXPORT int64_t vmux_config_connect_timeout(const vmux_config *cfg);
VMUX_EXPORT int64_t vmux_config_sync_timeout(const vmux_config *cfg);
VMUX_EXPORT int64_t vmux_config_async_timeout(const vmux_config *cfg);
VMUX_EXPORT int64_t vmux_config_keep_alive(const vmux_config *cfg);
VMUX_EXPORT int64_t vmux_config_reauth_interval(const vmux_config *cfg);
VMUX_EXPORT int vmux_config_backlog_size(const vmux_config *cfg);
VMUX_EXPORT vmux_backlog_policy vmux_config_backlog_policy(const vmux_config *cfg);
VMUX_EXPORT vmux_cluster_mode vmux_config_cluster(const vmux_config *cfg);
VMUX_EXPORT int64_t vmux_config_cluster_refresh_min_interval(const vmux_config *cfg);
VMUX_EXPORT vmux_read_from vmux_config_read_from(const vmux_config *cfg);
VMUX_EXPORT const char *vmux_config_client_az(const vmux_config *cfg);
VMUX_EXPORT int64_t vmux_config_replica_max_lag(const vmux_config *cfg);
VMUX_EXPORT int64_t vmux_config_reconnect_min(const vmux_config *cfg);
VMUX_EXPORT int64_t vmux_config_reconnect_max(const vmux_config *cfg);
VMUX_EXPORT int vmux_config_blocking_pool_size(const vmux_config *cfg);
VMUX_EXPORT uint64_t vmux_config_max_bulk_length(const vmux_config *cfg);
VMUX_EXPORT uint64_t vmux_config_max_reply_elements(const vmux_config *cfg);
VMUX_EXPORT uint64_t vmux_config_max_reply_buffer(const vmux_config *cfg);
VMUX_EXPORT int vmux_config_max_pending(const vmux_config *cfg);
VMUX_EXPORT uint64_t vmux_config_max_pending_bytes(const vmux_config *cfg);
VMUX_EXPORT const char *vmux_config_service_name(const vmux_config *cfg);
VMUX_EXPORT const char *vmux_config_sentinel_user(const vmux_config *cfg);
/** Whether a sentinel password is set; it cannot be read back. */
VMUX_EXPORT bool vmux_config_has_sentinel_password(const vmux_config *cfg);
VMUX_EXPORT bool vmux_config_sentinel_tls(const vmux_config *cfg);
VMUX_EXPORT const char *vmux_config_iam_user(const vmux_config *cfg);
VMUX_EXPORT const char *vmux_config_iam_cache(const vmux_config *cfg);
VMUX_EXPORT const char *vmux_config_iam_region(const vmux_config *cfg);
VMUX_EXPORT bool vmux_config_iam_serverless(const vmux_config *cfg);
VMUX_EXPORT bool vmux_config_near_cache(const vmux_config *cfg);
VMUX_EXPORT uint64_t vmux_config_near_cache_max_entries(const vmux_config *cfg);
VMUX_EXPORT uint64_t vmux_config_near_cache_max_bytes(const vmux_config *cfg);
VMUX_EXPORT int64_t vmux_config_near_cache_ttl(const vmux_config *cfg);
VMUX_EXPORT vmux_near_mode vmux_config_near_cache_mode(const vmux_config *cfg);
VMUX_EXPORT const char *vmux_config_near_cache_prefixes(const vmux_config *cfg);
/** @} */

/** @name Callbacks
 * Each runs on the handle's I/O thread, must return quickly, must not block,
 * and must not call vmux_close(). fn NULL removes the callback. Each returns 0, or
 * VMUX_ERR_INVALID_ARG for a NULL cfg or a bad level, its words in vmux_last_error() as the typed
 * setters leave them ("invalid argument: min_level is 9: none of vmux_log_level").
 * @{ */

/** Severity of a diagnostic. */
typedef enum vmux_log_level {
    VMUX_LOG_DEBUG = 0,
    VMUX_LOG_INFO = 1,
    VMUX_LOG_WARN = 2,
    VMUX_LOG_ERROR = 3,
} vmux_log_level;

/** Receives one diagnostic line (no trailing newline); message lives only during the call. */
typedef void (*vmux_log_fn)(vmux_log_level level, const char *message, void *userdata);

/**
 * Sends the library's diagnostics at min_level and above to fn. Without it the library prints
 * nothing. Passwords never appear in messages.
 */
VMUX_EXPORT int vmux_config_set_log(vmux_config *cfg, vmux_log_fn fn, vmux_log_level min_level,
                                    void *userdata);

/** What happened to the handle's connections (and, in cluster mode, to its view of the cluster). */
typedef enum vmux_event_type {
    VMUX_EVENT_CONNECTION_FAILED = 1,   /**< an attempt failed, or a ready connection broke */
    VMUX_EVENT_CONNECTION_RESTORED = 2, /**< a connection is ready (again): commands flow */
    VMUX_EVENT_ERROR = 3,               /**< a problem that did not break the connection */
    /** The subscriber connection broke while a subscription was live (a server closes a
     * subscriber that reads too slowly at its client-output-buffer-limit pubsub): messages
     * published until the subscriptions are live again are lost. Counted in subscriber_lost. */
    VMUX_EVENT_SUBSCRIBER_LOST = 4,
    /** Cluster mode (docs/cluster.md). A MOVED reply gave a slot a new owner: endpoint is the new
     * owner, reason names the slot and the old owner. Counted in cluster_moved. Not for a MOVED
     * that names the owner the map has already, nor for one that sends a command back to a node
     * that redirected it before (a ping-pong: the nodes disagree, a refresh decides). A
     * command's first MOVED is no ping-pong (unless another command of its slot waits one out):
     * while two nodes disagree, each command that meets it anew patches the map, so the events
     * alternate between the two nodes (docs/cluster.md, "A MOVED ping-pong"). */
    VMUX_EVENT_SLOT_MOVED = 5,
    /** A refresh found a slot map that differs from the one in use and replaced it: endpoint is
     * the node asked, reason says what changed (shards, slots served, slots that changed owner,
     * nodes added and removed). */
    VMUX_EVENT_MAP_REFRESHED = 6,
    /** A refresh was asked for sooner than clusterRefreshMinInterval after the last one: it is
     * deferred (reason says for how long). One event per deferral, however many asked; endpoint
     * "" (the handle's refresh, not a node's). */
    VMUX_EVENT_REFRESH_THROTTLED = 7,
    /** The handle's map names a node it did not (endpoint), or no longer names one it did:
     * raised at every change of the map (a refresh, a MOVED patch), once per node (host:port)
     * however many times the map names it, so the nodes added minus those removed are always
     * the nodes the map names (counting from the map found when the handle opened, whose nodes
     * are not announced). A MOVED to a node the map did not know adds it (a new primary that a
     * reshard gives slots); a MOVED that takes a shard's last slot keeps that shard's nodes
     * named until a refresh no longer names them. A node without slots and its replicas are not
     * in CLUSTER SLOTS, and a replica resyncing with its primary may be left out for a while:
     * such a node is added once it serves slots, and a demoted primary may be removed then
     * added back. */
    VMUX_EVENT_NODE_ADDED = 8,
    VMUX_EVENT_NODE_REMOVED = 9,
    /** Cluster pub/sub (docs/pubsub.md): a subscription went to another node by itself (its
     * shard channel's slot moved or failed over; the node carrying the channels and patterns
     * failed or left the map), raised when the new node confirms it. endpoint is the new node,
     * reason names the kind, the name and both nodes. One event per subscription moved, however
     * many redirects the move took. */
    VMUX_EVENT_SUBSCRIPTION_MOVED = 10,
} vmux_event_type;

/** An event; its strings live only during the callback. */
typedef struct vmux_event {
    vmux_event_type type;
    int code;             /**< VMUX_ERR_* for FAILED, SUBSCRIBER_LOST and ERROR; 0 for the others */
    const char *endpoint; /**< "host:port"; "" for REFRESH_THROTTLED, which is the handle's */
    const char *reason;   /**< why, in words ("" for RESTORED) */
} vmux_event;

/** Receives one event (vmux_config_set_event_handler()). */
typedef void (*vmux_event_fn)(const vmux_event *event, void *userdata);

/**
 * Calls fn for every connection event of handles opened from this config, on that handle's I/O
 * thread. fn is not told which handle: handles opened from one config share fn and userdata, so
 * give each handle that must be told apart a config of its own (vmux_config_dup()) with its own
 * userdata.
 */
VMUX_EXPORT int vmux_config_set_event_handler(vmux_config *cfg, vmux_event_fn fn, void *userdata);

/**
 * Supplies the credentials for each connection attempt: writes a NUL-terminated user name
 * (empty for the default user) and password into the buffers (user_size and password_size
 * bytes, at least 256 and 16384: room for an ElastiCache IAM token carrying a 4096-byte STS
 * session token) and returns 0; any other return fails that attempt with VMUX_ERR_AUTH, and
 * it is retried with backoff. The failure's words say what it returned and the buffers' sizes
 * ("the credentials provider failed: it returned -1 (VMUX_ERR_INVALID_ARG) with buffers of 256
 * and 16384 bytes"), or the provider's own reason (vmux_credentials_failed() below;
 * vmux_iam_credentials() gives its own, iam.h). Called on every (re)connect, so rotating
 * tokens (ElastiCache IAM tokens live 15 minutes) are always fresh.
 * Overrides the config's user and password.
 */
typedef int (*vmux_credentials_fn)(char *user, size_t user_size, char *password,
                                   size_t password_size, void *userdata);

/**
 * Says why a credentials provider fails: called by a vmux_credentials_fn on the thread that
 * called it (the handle's I/O thread), it keeps the printf-style words (the first 1023 bytes)
 * as given (whatever rc, with no "invalid argument: ") and returns rc, so that a provider ends
 * with
 *     return vmux_credentials_failed(-1, "vault: %s", reason);
 * The connection's failure (vmux_open()'s errbuf, the CONNECTION_FAILED event, the log) then
 * says "the credentials provider failed: vault: sealed" (the words' first 159 bytes) in place
 * of what the provider returned and the buffers' sizes. rc should not be 0 (a provider that
 * returns 0 succeeded: the words are not used). The words stand in the calling thread's
 * vmux_last_error() (error.h) until its next call that sets them. fmt NULL keeps no words.
 * Any thread.
 */
VMUX_EXPORT int vmux_credentials_failed(int rc, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/** Sets the credentials provider (vmux_credentials_fn); fn NULL removes it. */
VMUX_EXPORT int vmux_config_set_credentials_provider(vmux_config *cfg, vmux_credentials_fn fn,
                                                     void *userdata);
/** @} */

#ifdef __cplusplus
}
#endif

#endif
