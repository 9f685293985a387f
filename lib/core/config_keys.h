/*
 * The configuration's key table, shared by the files that implement vmux_config: config.c (the
 * table, storing values, lifetime, endpoints), config_parse.c (strings and URLs),
 * config_print.c (vmux_config_to_string()), config_access.c (typed setters and getters) and
 * config_tls_off.c (the TLS keys set while ssl is off). Private to those files.
 */
#ifndef VMUX_CONFIG_KEYS_H
#define VMUX_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config_internal.h"

enum key_kind {
    KIND_BOOL,
    KIND_TEXT,   /* a string that to_string prints and must re-parse to itself */
    KIND_SECRET, /* the password: any bytes, never printed, wiped when freed */
    KIND_INT,
    KIND_U64,
    KIND_POLICY,
    KIND_CLUSTER,      /* auto, yes or no */
    KIND_READ_FROM,    /* vmux_read_from by name */
    KIND_NEAR_MODE,    /* optin or bcast */
    KIND_TLS_VERSIONS, /* vmux_tls_version bits: "tls12|tls13" */
};

enum key_id {
    KEY_SSL,
    KEY_SSL_HOST,
    KEY_SSL_CA_FILE,
    KEY_SSL_CA_PATH,
    KEY_SSL_CERT,
    KEY_SSL_KEY,
    KEY_SSL_VERIFY,
    KEY_SSL_PROTOCOLS,
    KEY_USER,
    KEY_PASSWORD,
    KEY_NAME,
    KEY_SET_LIB,
    KEY_DEFAULT_DATABASE,
    KEY_ABORT_CONNECT,
    KEY_CONNECT_RETRY,
    KEY_CONNECT_TIMEOUT,
    KEY_SYNC_TIMEOUT,
    KEY_ASYNC_TIMEOUT,
    KEY_KEEP_ALIVE,
    KEY_REAUTH_INTERVAL,
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
    KEY_CLUSTER,
    KEY_CLUSTER_REFRESH_MIN,
    KEY_READ_FROM,
    KEY_CLIENT_AZ,
    KEY_REPLICA_MAX_LAG,
    KEY_SERVICE_NAME,
    KEY_SENTINEL_USER,
    KEY_SENTINEL_PASSWORD,
    KEY_SENTINEL_TLS,
    KEY_IAM_USER,
    KEY_IAM_CACHE,
    KEY_IAM_REGION,
    KEY_IAM_SERVERLESS,
    KEY_NEAR_CACHE,
    KEY_NEAR_CACHE_MAX_ENTRIES,
    KEY_NEAR_CACHE_MAX_BYTES,
    KEY_NEAR_CACHE_TTL,
    KEY_NEAR_CACHE_MODE,
    KEY_NEAR_CACHE_PREFIXES,
    KEY_IGNORE_UNKNOWN,
    KEY_COUNT
};

struct key_def {
    const char *name;
    enum key_kind kind;
    size_t off;
    uint64_t min, max; /* numeric kinds only */
    const char *unit;  /* numeric kinds only; NULL for a bare number */
};

/* Every key, in the order to_string prints them. */
extern const struct key_def vmux__config_keys[KEY_COUNT];

/* What a new config holds (and what the getters read from a NULL one). */
extern const struct vmux_config vmux__config_defaults;

/*
 * Whether cfg holds k's default (a text key: unset), so that vmux_config_to_string() leaves k out
 * and vmux_open() knows which TLS keys were set (config_tls_off.c). Any thread.
 */
bool vmux__config_key_is_default(const vmux_config *cfg, const struct key_def *k);

static inline void *field(vmux_config *cfg, const struct key_def *k)
{
    return (char *)cfg + k->off;
}

static inline const void *cfield(const vmux_config *cfg, const struct key_def *k)
{
    return (const char *)cfg + k->off;
}

static inline bool is_string_key(const struct key_def *k)
{
    return k->kind == KIND_TEXT || k->kind == KIND_SECRET;
}

static inline bool in_range(const struct key_def *k, uint64_t v)
{
    return v >= k->min && v <= k->max;
}

bool vmux__config_is_space(char c);

/* true/false, 1/0, yes/no, on/off in any case, as StackExchange.Redis reads a bool. */
bool vmux__config_parse_bool(const char *s, bool *out);

/*
 * Whether endpoint pos's (1-based) host of n bytes is too long: over DNS's limit
 * (vmux__host_over_dns()), or an IPv6 literal whose zone id is over VMUX_ZONE_MAX
 * (vmux__host_zone_len()). If so, writes into buf (len bytes) why: its length, its first bytes and
 * the rule. For the parser's errbuf and vmux_config_add_endpoint()'s words alike.
 */
bool vmux__config_host_too_long(char *buf, size_t len, size_t pos, const char *host, size_t n);

/* Characters of host names and IP literals (':' for IPv6, '%' for zone ids), 1 to VMUX_HOST_MAX
 * of them, or one more for an absolute name's trailing dot (vmux__host_over_dns()). The zone id's
 * length is vmux__config_host_too_long()'s to check. */
bool vmux__config_host_ok(const char *h, size_t n);

/*
 * Why a printable string value would not survive a round trip through to_string (NULL if it
 * would). Client names are also limited to what CLIENT SETNAME accepts.
 */
const char *vmux__config_text_problem(const struct key_def *k, const char *v);

/*
 * Storing values, shared by the typed setters and the text parser: each checks the key's range
 * (VMUX_ERR_INVALID_ARG, also for a NULL cfg) and returns 0 or VMUX_ERR_NOMEM. An empty or NULL
 * text clears the value.
 */
int vmux__config_store_bool(vmux_config *cfg, const struct key_def *k, bool v);
int vmux__config_store_int(vmux_config *cfg, const struct key_def *k, int64_t v);
int vmux__config_store_u64(vmux_config *cfg, const struct key_def *k, uint64_t v);
int vmux__config_store_text(vmux_config *cfg, const struct key_def *k, const char *v);
int vmux__config_store_policy(vmux_config *cfg, vmux_backlog_policy v);
int vmux__config_store_cluster(vmux_config *cfg, vmux_cluster_mode v);

int vmux__config_store_read_from(vmux_config *cfg, vmux_read_from v);

/* The readFrom key's value as text ("primary", "preferReplica"...); NULL for no policy. */
const char *vmux__config_read_from_name(vmux_read_from v);

/* Stores the sslProtocols set: VMUX_ERR_INVALID_ARG when empty or with unknown bits. */
int vmux__config_store_tls_versions(vmux_config *cfg, unsigned v);

/* The sslProtocols value as text: "tls12", "tls13" or "tls12|tls13". */
const char *vmux__config_tls_versions_name(unsigned v);

/*
 * Reads an sslProtocols value, StackExchange.Redis's SslProtocols names ('|' between them, any
 * case): *out gets the versions vmux speaks among them. Returns NULL, or why the value is refused.
 */
const char *vmux__config_tls_versions_parse(const char *text, unsigned *out);

/*
 * StackExchange.Redis's keys that vmux accepts and ignores or refuses (config_compat.c), for a
 * key that is not in vmux__config_keys[]: COMPAT_NONE when key is not one of them either (an
 * unknown key), COMPAT_IGNORED when value is valid and means nothing to vmux (cfg records the key
 * for vmux_open()'s log), COMPAT_REFUSED with why (a sentence naming the key) when value is not
 * valid or would make vmux behave differently from what the key asks.
 */
enum compat_result { COMPAT_NONE, COMPAT_IGNORED, COMPAT_REFUSED };
enum compat_result vmux__config_compat(vmux_config *cfg, const char *key, const char *value,
                                       char *why, size_t whylen);

/* Records key among cfg's unknown keys ignored under ignoreUnknown (cut when they do not fit). */
void vmux__config_note_unknown(vmux_config *cfg, const char *key);

int vmux__config_store_near_mode(vmux_config *cfg, vmux_near_mode v);

/* The nearCacheMode key's value as text: "optin" or "bcast" (NULL for another value). */
const char *vmux__config_near_mode_name(vmux_near_mode v);

/* The cluster key's value as text: "auto", "yes" or "no". */
const char *vmux__config_cluster_name(vmux_cluster_mode v);

/* Appends the endpoint host[0..hlen):port. Returns 0 or VMUX_ERR_NOMEM. */
int vmux__config_endpoint_push(vmux_config *cfg, const char *host, size_t hlen, int port);

/*
 * Appends the endpoint host[0..hlen) with its port left out: 6379, or Sentinel's 26379 while
 * serviceName is set, following serviceName as it is set or cleared later. Returns 0 or
 * VMUX_ERR_NOMEM.
 */
int vmux__config_endpoint_push_left_out(vmux_config *cfg, const char *host, size_t hlen);

#endif
