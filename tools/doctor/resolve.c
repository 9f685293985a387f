/* The resolve step: every address the endpoint's host name resolves to (getaddrinfo). */
#include <netdb.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "doctor.h"

void doc_hostport(char *out, size_t len, const char *host, int port)
{
    bool v6 = strchr(host, ':') != NULL;
    snprintf(out, len, "%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

static void keep_addr(doc_endpoint *ep, const struct addrinfo *ai)
{
    doc_addr *a = &ep->addrs[ep->naddrs++];
    memcpy(&a->sa, ai->ai_addr, ai->ai_addrlen);
    a->len = ai->ai_addrlen;
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, a->text, sizeof(a->text), NULL, 0,
                    NI_NUMERICHOST) != 0)
        snprintf(a->text, sizeof(a->text), "?");
}

/* The hint for a resolver error: what usually causes it. */
static void resolve_hint(doc_step *s, int rc, const char *host)
{
    if (rc == EAI_NONAME || rc == EAI_NODATA)
        doc_step_hint(s,
                      "no DNS record for \"%s\": check the spelling, and that this machine uses "
                      "the resolver that knows the name (a private zone is visible only inside "
                      "its network, such as the VPC of an ElastiCache cluster)",
                      host);
    else if (rc == EAI_AGAIN)
        doc_step_hint(s, "the resolver did not answer in time: check /etc/resolv.conf and that "
                         "this machine can reach its DNS server");
}

static long elapsed_us(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000000L + (t1.tv_nsec - t0->tv_nsec) / 1000;
}

bool doc_resolve(doc_ctx *ctx, doc_endpoint *ep)
{
    doc_step *s = doc_step_begin(&ctx->report, "resolve", ep->label);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%d", ep->port);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = getaddrinfo(ep->host, port, &hints, &res);
    long us = elapsed_us(&t0);
    ep->naddrs = 0;
    for (struct addrinfo *ai = res; rc == 0 && ai && ep->naddrs < DOC_MAX_ADDRS; ai = ai->ai_next)
        keep_addr(ep, ai);
    if (res)
        freeaddrinfo(res);
    if (rc != 0 || ep->naddrs == 0) {
        doc_step_set(s, DOC_FAIL, "\"%s\" does not resolve: %s", ep->host,
                     rc ? gai_strerror(rc) : "no address");
        resolve_hint(s, rc, ep->host);
    } else {
        char list[DOC_MAX_ADDRS * 66] = "";
        for (int i = 0; i < ep->naddrs; i++)
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
                     ep->addrs[i].text);
        doc_step_set(s, DOC_OK, "\"%s\" resolves to %s (%d address%s) in %.1f ms", ep->host, list,
                     ep->naddrs, ep->naddrs == 1 ? "" : "es", us / 1000.0);
        doc_step_fact(s, "addresses", "%s", list);
    }
    doc_step_fact(s, "elapsed_ms", "%.3f", us / 1000.0);
    doc_step_end(&ctx->report, s);
    return ep->naddrs > 0;
}
