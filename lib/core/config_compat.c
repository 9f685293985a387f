/*
 * StackExchange.Redis's configuration keys that are not vmux's own (docs/configuration.md,
 * "Coming from StackExchange.Redis"): each value is checked as StackExchange.Redis checks it,
 * then accepted and ignored where the key means nothing to vmux, or refused where ignoring it
 * would change what the program does behind its back. Also the sslProtocols value (the names of
 * .NET's SslProtocols) and vmux_open()'s log of what was ignored.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/config_keys.h"
#include "core/errbuf.h"
#include "core/log.h"

/* What a value says: ignored, or refused with why (a phrase after "key: 'value' "). */
struct verdict {
    enum compat_result result;
    const char *why;
};

static const struct verdict IGNORED = {COMPAT_IGNORED, NULL};

static struct verdict refused(const char *why)
{
    return (struct verdict){COMPAT_REFUSED, why};
}

/* .NET's int.TryParse: an optional sign, decimal digits, within 32 bits. */
static bool is_int32(const char *v)
{
    const char *d = v + (v[0] == '-' || v[0] == '+');
    int64_t n = 0;
    if (*d == '\0')
        return false;
    for (; *d != '\0'; d++) {
        if (*d < '0' || *d > '9')
            return false;
        n = n * 10 + (*d - '0');
        if (n > (int64_t)INT32_MAX + 1)
            return false;
    }
    return v[0] == '-' || n <= INT32_MAX;
}

/* .NET's Version.TryParse (2 to 4 parts), or StackExchange.Redis's major-only form. */
static bool is_version(const char *v)
{
    int parts = 0;
    for (const char *p = v;; p++) {
        int64_t n = 0;
        const char *start = p;
        for (; *p >= '0' && *p <= '9' && n <= INT32_MAX; p++)
            n = n * 10 + (*p - '0');
        if (p == start || n > INT32_MAX || ++parts > 4 || (*p != '.' && *p != '\0'))
            return false;
        if (*p == '\0')
            return true;
    }
}

static struct verdict any_value(const char *v)
{
    (void)v;
    return IGNORED;
}

static struct verdict a_bool(const char *v)
{
    bool b;
    return vmux__config_parse_bool(v, &b) ? IGNORED : refused("is not a boolean (true or false)");
}

/* A bool whose true asks for what vmux does not do: false (vmux's way) is accepted. */
static struct verdict false_only(const char *v, const char *why_not_true)
{
    bool b;
    if (!vmux__config_parse_bool(v, &b))
        return refused("is not a boolean (true or false)");
    return b ? refused(why_not_true) : IGNORED;
}

static struct verdict an_int(const char *v)
{
    return is_int32(v) ? IGNORED : refused("is not a whole number (32 bits)");
}

static struct verdict a_version(const char *v)
{
    return is_version(v) ? IGNORED : refused("is not a version (such as 8.0 or 7.2.4)");
}

static struct verdict revocation(const char *v)
{
    return false_only(v, "is refused: vmux does not check certificate revocation (no CRL, no "
                         "OCSP); write checkCertificateRevocation=false, or leave the key out, to "
                         "connect without that check");
}

static struct verdict high_integrity(const char *v)
{
    return false_only(v, "is refused: vmux does not send StackExchange.Redis's sequence check "
                         "after each command; write highIntegrity=false or leave the key out");
}

static struct verdict protocol(const char *v)
{
    if (strcmp(v, "2") == 0 || strcasecmp(v, "resp2") == 0)
        return IGNORED;
    if (strcmp(v, "3") == 0 || strcasecmp(v, "resp3") == 0)
        return refused("is refused: vmux speaks RESP2 only (it sends no HELLO 3, and pub/sub "
                       "uses connections of its own); write protocol=resp2 or leave the key out");
    return refused("is not resp2 or resp3 (nor 2 or 3)");
}

static struct verdict proxy(const char *v)
{
    if (strcasecmp(v, "none") == 0)
        return IGNORED;
    if (strcasecmp(v, "twemproxy") == 0 || strcasecmp(v, "envoyproxy") == 0)
        return refused("is refused: vmux has no proxy mode (it does not keep to the commands a "
                       "proxy relays, and sends ROLE, INFO, CLIENT and SELECT of its own)");
    return refused("is not None, Twemproxy or Envoyproxy");
}

static struct verdict tunnel(const char *v)
{
    return v[0] == '\0' ? IGNORED
                        : refused("is refused: vmux cannot connect through an HTTP proxy, and "
                                  "ignoring the key would connect directly");
}

static struct verdict channel_prefix(const char *v)
{
    return v[0] == '\0'
               ? IGNORED
               : refused("is refused: vmux does not prefix channel names, so every channel would "
                         "differ from the one other clients with this prefix use; put the prefix "
                         "in the channel names you pass");
}

/*
 * Every StackExchange.Redis key that is not one of vmux's own (config.c has the others), with
 * its check. A bit of compat_ignored per entry, so at most 32.
 */
static const struct compat_key {
    const char *name;
    struct verdict (*judge)(const char *value);
} compat_keys[] = {
    {"allowAdmin", a_bool},
    {"channelPrefix", channel_prefix},
    {"checkCertificateRevocation", revocation},
    {"configChannel", any_value},
    {"configCheckSeconds", an_int},
    {"highIntegrity", high_integrity},
    {"highPriorityThreads", any_value}, /* obsolete: SE.Redis reads no value */
    {"preserveAsyncOrder", any_value},  /* obsolete */
    {"protocol", protocol},
    {"proxy", proxy},
    {"resolveDns", a_bool},
    {"responseTimeout", any_value}, /* obsolete */
    {"tcpKeepAlive", a_bool},
    {"tiebreaker", any_value},
    {"tunnel", tunnel},
    {"version", a_version},
    {"writeBuffer", any_value}, /* obsolete */
};

#define NCOMPAT (sizeof compat_keys / sizeof compat_keys[0])
_Static_assert(NCOMPAT <= 32, "compat_ignored has a bit per key");

enum compat_result vmux__config_compat(vmux_config *cfg, const char *key, const char *value,
                                       char *why, size_t whylen)
{
    if (key[0] == '$') {
        vmux__errbuf_set(why, whylen,
                         "%s: command maps are refused: vmux sends every command by its own name "
                         "and cannot rename or disable one",
                         key);
        return COMPAT_REFUSED;
    }
    for (size_t i = 0; i < NCOMPAT; i++) {
        if (strcasecmp(key, compat_keys[i].name) != 0)
            continue;
        struct verdict v = compat_keys[i].judge(value);
        if (v.result == COMPAT_REFUSED)
            vmux__errbuf_set(why, whylen, "%s: '%s' %s", compat_keys[i].name, value, v.why);
        else
            cfg->compat_ignored |= UINT32_C(1) << i;
        return v.result;
    }
    return COMPAT_NONE;
}

void vmux__config_note_unknown(vmux_config *cfg, const char *key)
{
    char *list = cfg->unknown_keys;
    size_t used = strlen(list), cap = sizeof cfg->unknown_keys;
    if (used >= 3 && strcmp(list + used - 3, "...") == 0)
        return; /* already cut */
    int n = snprintf(list + used, cap - used, "%s%s", used > 0 ? ", " : "", key);
    if (n < 0 || (size_t)n >= cap - used)
        memcpy(list + cap - 4, "...", 4);
}

/* The key, of vmux's or of StackExchange.Redis's, whose name name is (any case); NULL if none. */
static const char *key_named(const char *name)
{
    for (size_t i = 0; i < KEY_COUNT; i++)
        if (strcasecmp(vmux__config_keys[i].name, name) == 0)
            return vmux__config_keys[i].name;
    for (size_t i = 0; i < NCOMPAT; i++)
        if (strcasecmp(compat_keys[i].name, name) == 0)
            return compat_keys[i].name;
    return NULL;
}

/*
 * A key written without "=value" ("h:6380,ssl") is an endpoint, as in StackExchange.Redis, which
 * a host of that name may need: it stays one, but a typo that turns TLS off does not go silent.
 */
static void log_key_endpoints(const vmux_config *cfg)
{
    for (size_t i = 0; i < cfg->nendpoints; i++) {
        const struct vmux_endpoint *e = &cfg->endpoints[i];
        const char *key = e->port_defaulted ? key_named(e->host) : NULL;
        if (key != NULL)
            vmux__log(cfg, VMUX_LOG_WARN,
                      "endpoint %s:%d has no '=' and the name of the key %s: it is dialled as a "
                      "host; if the setting was meant, write %s=<value>",
                      e->host, e->port, key, key);
    }
}

void vmux__config_log_compat(const vmux_config *cfg)
{
    log_key_endpoints(cfg);
    char names[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < NCOMPAT && used < sizeof names; i++) {
        if (cfg->compat_ignored & (UINT32_C(1) << i))
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                                     used > 0 ? ", " : "", compat_keys[i].name);
    }
    if (names[0] != '\0')
        vmux__log(cfg, VMUX_LOG_INFO,
                  "StackExchange.Redis keys accepted and ignored (they mean nothing to vmux: "
                  "docs/configuration.md, Coming from StackExchange.Redis): %s",
                  names);
    if (cfg->unknown_keys[0] != '\0')
        vmux__log(cfg, VMUX_LOG_WARN, "ignoreUnknown=true: unknown keys ignored: %s",
                  cfg->unknown_keys);
}

/* ---- sslProtocols: .NET's SslProtocols names, '|' between them ---- */

static const struct {
    const char *name;
    unsigned versions; /* those of vmux: 0 for the versions older than TLS 1.2 */
} tls_names[] = {
    {"None", 0}, /* .NET: the system's choice, when alone (it is 0) */
    {"Ssl2", 0},
    {"Ssl3", 0},
    {"Tls", 0},
    {"Tls11", 0},
    {"Default", 0}, /* .NET's Ssl3 | Tls */
    {"Tls12", VMUX_TLS_1_2},
    {"Tls13", VMUX_TLS_1_3},
};

/* The versions of one name (spaces around it allowed, as .NET does); false if no name. */
static bool tls_name(const char *s, size_t n, unsigned *versions, bool *none)
{
    while (n > 0 && vmux__config_is_space(*s))
        s++, n--;
    while (n > 0 && vmux__config_is_space(s[n - 1]))
        n--;
    for (size_t i = 0; i < sizeof tls_names / sizeof tls_names[0]; i++) {
        if (strlen(tls_names[i].name) == n && strncasecmp(s, tls_names[i].name, n) == 0) {
            *versions = tls_names[i].versions;
            *none = i == 0;
            return true;
        }
    }
    return false;
}

const char *vmux__config_tls_versions_parse(const char *text, unsigned *out)
{
    unsigned all = 0;
    bool only_none = true;
    for (const char *s = text;; s++) {
        const char *bar = strchr(s, '|');
        size_t n = bar != NULL ? (size_t)(bar - s) : strlen(s);
        unsigned v;
        bool none;
        if (!tls_name(s, n, &v, &none))
            return "is not a list of Tls12, Tls13 (or None, Tls11, Tls, Ssl3, Ssl2, Default), '|' "
                   "between them";
        all |= v;
        only_none = only_none && none;
        if (bar == NULL)
            break;
        s = bar;
    }
    if (only_none)
        all = VMUX_TLS_1_2 | VMUX_TLS_1_3;
    if (all == 0)
        return "names no version vmux speaks: vmux speaks TLS 1.2 and 1.3 (Tls12, Tls13) only";
    *out = all;
    return NULL;
}

const char *vmux__config_tls_versions_name(unsigned v)
{
    return v == VMUX_TLS_1_2 ? "tls12" : v == VMUX_TLS_1_3 ? "tls13" : "tls12|tls13";
}
