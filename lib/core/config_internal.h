/* The config's fields, shared by the parser (config.c) and the code that reads them. */
#ifndef VMUX_CONFIG_INTERNAL_H
#define VMUX_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmux/config.h"
#include "vmux/iam.h"

#define VMUX_DEFAULT_PORT 6379
#define VMUX_DEFAULT_SENTINEL_PORT 26379 /* a port left out while serviceName is set */
#define VMUX_DEFAULT_CONNECT_RETRY 3
#define VMUX_DEFAULT_CONNECT_TIMEOUT_MS 5000
#define VMUX_DEFAULT_SYNC_TIMEOUT_MS 5000
#define VMUX_DEFAULT_KEEP_ALIVE_S 60
#define VMUX_DEFAULT_REAUTH_INTERVAL_S 3600
#define VMUX_DEFAULT_BACKLOG_SIZE 100000
#define VMUX_DEFAULT_RECONNECT_MIN_MS 100
#define VMUX_DEFAULT_RECONNECT_MAX_MS 5000
#define VMUX_DEFAULT_CLUSTER_REFRESH_MIN_MS 1000
#define VMUX_DEFAULT_BLOCKING_POOL_SIZE 8
#define VMUX_DEFAULT_MAX_BULK_LENGTH (512ull * 1024 * 1024)
#define VMUX_DEFAULT_MAX_REPLY_ELEMENTS (16ull * 1024 * 1024)
#define VMUX_DEFAULT_MAX_REPLY_BUFFER (VMUX_DEFAULT_MAX_BULK_LENGTH + 1024ull * 1024)
#define VMUX_DEFAULT_MAX_PENDING 200000
#define VMUX_DEFAULT_MAX_PENDING_BYTES (256ull * 1024 * 1024)
#define VMUX_DEFAULT_NEAR_CACHE_MAX_ENTRIES 100000
#define VMUX_DEFAULT_NEAR_CACHE_MAX_BYTES (64ull * 1024 * 1024)

/* The longest host name DNS allows (RFC 1035: 255 bytes on the wire); IP literals are shorter.
 * A configured endpoint's host is at most this long, not counting the trailing dot of an
 * absolute name ("db1.example.com."); a learned one (a cluster map, a MOVED, a sentinel's answer)
 * may not be, and its connection then fails unresolved (net/conn.c). */
#define VMUX_HOST_MAX 253

/*
 * Whether the n bytes of host h are more than DNS allows: over VMUX_HOST_MAX once one trailing
 * dot is left out (an absolute name of 253 bytes and its dot, 254, is valid). The configuration
 * (config_parse.c, config_endpoint.c) refuses such a host; a connection to a learned one fails
 * unresolved (net/conn.c). Any thread; touches nothing.
 */
bool vmux__host_over_dns(const char *h, size_t n);

/* The longest zone id of an IPv6 literal ("fe80::1%eth0"): it names a network interface, whose
 * name has at most IF_NAMESIZE - 1 bytes (config.c checks it). An IP literal with its zone is
 * then at most 61 bytes, well within VMUX_HOST_MAX. */
#define VMUX_ZONE_MAX 15

/*
 * The bytes of host h's zone id (n bytes, not NUL-terminated) when h is an IPv6 literal with one
 * ("fe80::1%eth0": 4; "fe80::1", "db%1": 0). One over VMUX_ZONE_MAX names no interface: the
 * configuration refuses such a host (vmux__config_host_too_long()), and a connection to a learned
 * one fails undialled (net/conn.c). Any thread; touches nothing.
 */
size_t vmux__host_zone_len(const char *h, size_t n);

struct vmux_endpoint {
    char *host;          /* never NULL or empty; from the configuration, at most VMUX_HOST_MAX */
    int port;            /* 1..65535: the one dialled, also when port_defaulted */
    bool port_defaulted; /* no port was given: port is 6379, or 26379 while serviceName is set */
};

struct vmux_config {
    struct vmux_endpoint *endpoints;
    size_t nendpoints;

    bool ssl;
    bool ssl_verify;
    char *ssl_host;
    char *ssl_ca_file;
    char *ssl_ca_path;
    char *ssl_cert;
    char *ssl_key;
    unsigned ssl_protocols; /* vmux_tls_version bits, never 0 */

    char *user;
    char *password;
    char *name;
    bool client_library; /* setlib: CLIENT SETINFO LIB-NAME, LIB-VER at setup */
    int default_database;

    bool abort_connect;
    int connect_retry;
    int connect_timeout_ms;
    int sync_timeout_ms;
    int async_timeout_ms; /* -1: follows sync_timeout_ms */
    int keep_alive_s;
    int reauth_interval_s; /* re-AUTH a live connection this often (a credentials provider's) */
    int backlog_size;
    vmux_backlog_policy backlog_policy;
    vmux_cluster_mode cluster;
    int cluster_refresh_min_ms; /* reactive slot map refreshes at most once per this */
    vmux_read_from read_from;
    char *client_az;
    int replica_max_lag_ms; /* 0: a replica is never skipped for its lag (repl.c) */
    bool cluster_node; /* not a key: a router's node link (READONLY at setup: docs/replicas.md) */
    int reconnect_min_ms;
    int reconnect_max_ms;
    int blocking_pool_size;

    /* Sentinel (net/sentinel.c): with service_name set, the endpoints are the sentinels. */
    char *service_name;
    char *sentinel_user;
    char *sentinel_password;
    bool sentinel_tls;
    bool sentinel_conn; /* internal, never parsed: a connection to a sentinel (no ROLE check) */

    vmux_log_fn log_fn;
    vmux_log_level log_level;
    void *log_userdata;
    vmux_event_fn event_fn;
    void *event_userdata;
    vmux_credentials_fn credentials_fn;
    void *credentials_userdata;

    /* ElastiCache IAM (the iam* keys; core/iam.c): what vmux_open() makes a provider of. */
    char *iam_user;
    char *iam_cache;
    char *iam_region;
    bool iam_serverless;
    vmux_iam_provider
        *iam_owned; /* the handle's own copy only: the provider it made, freed with it */

    uint64_t max_bulk_length;
    uint64_t max_reply_elements;
    uint64_t max_reply_buffer;
    int max_pending;            /* commands accepted and not yet freed, handle-wide */
    uint64_t max_pending_bytes; /* their encoded bytes */

    /* The near cache (mux/near.c, docs/patterns/near-cache.md). */
    bool near_cache;
    uint64_t near_cache_max_entries;
    uint64_t near_cache_max_bytes;
    int near_cache_ttl_ms; /* 0: entries live until invalidated or their server TTL */
    vmux_near_mode near_cache_mode;
    char *near_cache_prefixes; /* BCAST's prefixes, ';' between them (core/near_prefix.h) */

    /* StackExchange.Redis's keys (core/config_compat.c): what vmux_open() logs of them. */
    bool ignore_unknown;
    uint32_t compat_ignored; /* the accepted and ignored ones, a bit per compat table entry */
    char unknown_keys[256];  /* the unknown keys ignoreUnknown ignored, ", " between, cut */
};

/*
 * Makes cfg's ports as they are now its own, as if each had been given: clearing serviceName
 * afterwards no longer turns a port left out from 26379 to 6379. For a copy whose endpoints are
 * the sentinels and that drops serviceName (net/sentinel.c).
 */
void vmux__config_pin_ports(vmux_config *cfg);

/*
 * The iam* keys (docs/elasticache.md#iam-authentication): when iamUser is set, makes an IAM
 * provider of iamUser, iamCache, iamRegion and iamServerless, and installs it as cfg's
 * credentials provider, owned by cfg (freed with it). Run by vmux_open() on the handle's own
 * copy. Returns 0 (also when no iam key is set), or VMUX_ERR_CONFIG (iamUser without iamCache or
 * the reverse, a credentials provider already set, a variable of the environment missing:
 * errbuf says which), VMUX_ERR_INVALID_ARG or VMUX_ERR_NOMEM, as vmux_iam_provider_new().
 */
int vmux__config_iam_install(vmux_config *cfg, char *errbuf, size_t errlen);

/*
 * Logs, once as a handle opens, the StackExchange.Redis keys accepted and ignored (INFO), the
 * unknown keys ignoreUnknown ignored (WARN), and each endpoint without a port named as a key
 * ("h,ssl": WARN), through cfg's log. Nothing when there are none.
 */
void vmux__config_log_compat(const vmux_config *cfg);

/*
 * Logs, once as a handle opens, one WARN naming the TLS keys set (sslHost, sslCaFile, sslCaPath,
 * sslCert, sslKey, sslVerify, sslProtocols: any not at its default) while neither ssl nor
 * sentinelTls is on: nothing loads or uses them, and every connection is in plaintext. A warning,
 * not an error: one configuration string shared by environments may turn ssl on and off. Nothing
 * when TLS is on or no such key is set. Through cfg's log, on any thread (the I/O thread's start).
 */
void vmux__config_log_tls_off(const vmux_config *cfg);

/*
 * A mismatch of keys that each parse alone (nearCachePrefixes without nearCacheMode=bcast):
 * returns NULL, or what is wrong. Checked at the end of a configuration string and by
 * vmux_open().
 */
const char *vmux__config_near_problem(const vmux_config *cfg);

#endif
