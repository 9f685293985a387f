/*
 * vmux_config_add_endpoint(): an endpoint given as host and port, refused in words naming the
 * endpoint and the rule it breaks (vmux_last_error(), error.h), as the parser words a bad one in
 * its errbuf (config_parse.c).
 */
#include <string.h>

#include "core/config_keys.h"
#include "core/why.h"
#include "vmux/error.h"

/* 0, or VMUX_ERR_INVALID_ARG with words naming endpoint i (1-based) and what is wrong with it. */
static int endpoint_problem(size_t i, const char *host, int port)
{
    size_t n = strlen(host);
    if (n == 0)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "endpoint %zu: host is empty", i);
    char words[200];
    if (vmux__config_host_too_long(words, sizeof words, i, host, n))
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "%s", words);
    if (!vmux__config_host_ok(host, n))
        return vmux__why_set(VMUX_ERR_INVALID_ARG,
                             "endpoint %zu: bad host '%s' (letters, digits, '.', '-', '_', and ':' "
                             "and '%%' of an IP literal, written without brackets)",
                             i, host);
    if (port < 0 || port > 65535)
        return vmux__why_set(VMUX_ERR_INVALID_ARG,
                             "endpoint %zu ('%s'): port %d out of range 0 .. 65535 (0: the "
                             "default)",
                             i, host, port);
    return 0;
}

int vmux_config_add_endpoint(vmux_config *cfg, const char *host, int port)
{
    vmux__why_begin();
    if (cfg == NULL || host == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "%s is NULL", cfg == NULL ? "cfg" : "host");
    int rc = endpoint_problem(cfg->nendpoints + 1, host, port);
    if (rc == 0)
        rc = port == 0 ? vmux__config_endpoint_push_left_out(cfg, host, strlen(host))
                       : vmux__config_endpoint_push(cfg, host, strlen(host), port);
    return vmux__why_end(rc);
}
