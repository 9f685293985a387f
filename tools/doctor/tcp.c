/*
 * The tcp step: a TCP connection to every address of the endpoint, each timed, within
 * connectTimeout. A refused connection and a connection that times out mean different things:
 * nothing listens there, or something on the way drops the packets.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "doctor.h"

static long now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000L + t.tv_nsec / 1000;
}

/* Waits for a non-blocking connect to finish; returns 0 or an errno value. */
static int wait_connected(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int n;
    do {
        n = poll(&p, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n == 0)
        return ETIMEDOUT;
    if (n < 0)
        return errno;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return errno;
    return err;
}

/* Makes fd blocking again, with send and receive timeouts, for the steps that follow. */
static void set_blocking(int fd, int timeout_ms)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int doc_tcp_connect(const doc_addr *addr, int timeout_ms, long *elapsed_us)
{
    long t0 = now_us();
    int fd = socket(addr->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int err = 0;
    if (connect(fd, (const struct sockaddr *)&addr->sa, addr->len) != 0)
        err = errno == EINPROGRESS ? wait_connected(fd, timeout_ms) : errno;
    *elapsed_us = now_us() - t0;
    if (err != 0) {
        close(fd);
        errno = err;
        return -1;
    }
    set_blocking(fd, timeout_ms);
    return fd;
}

/* The hint for a failed connect, by its errno. */
static void connect_hint(doc_step *s, int err, int timeout_ms)
{
    if (err == ECONNREFUSED)
        doc_step_hint(s, "the host answered, but nothing listens on this port: check the port "
                         "number, that the server runs, and its bind/port settings (a TLS-only "
                         "server listens on its tls-port)");
    else if (err == ETIMEDOUT)
        doc_step_hint(s,
                      "no answer within connectTimeout (%d ms): something on the way drops the "
                      "packets. Check security groups / firewall rules for this port, that this "
                      "machine is in the server's network (VPC, peering, VPN), and the address",
                      timeout_ms);
    else if (err == ENETUNREACH || err == EHOSTUNREACH)
        doc_step_hint(s, "no route to this address from here: check the network (VPC, subnet, "
                         "routing tables, VPN) or use an address this machine can reach");
}

/* Tries one address; returns whether it connected. */
static bool try_addr(doc_step *s, const doc_addr *a, int timeout_ms, char *out, size_t outlen)
{
    long us = 0;
    int fd = doc_tcp_connect(a, timeout_ms, &us);
    int err = errno;
    if (fd >= 0) {
        close(fd);
        snprintf(out, outlen, "%s in %.2f ms", a->text, us / 1000.0);
        doc_step_fact(s, a->text, "connected in %.3f ms", us / 1000.0);
        return true;
    }
    snprintf(out, outlen, "%s: %s after %.0f ms", a->text,
             err == ETIMEDOUT ? "timed out" : strerror(err), us / 1000.0);
    doc_step_fact(s, a->text, "%s", strerror(err));
    connect_hint(s, err, timeout_ms);
    return false;
}

bool doc_tcp(doc_ctx *ctx, doc_endpoint *ep)
{
    doc_step *s = doc_step_begin(&ctx->report, "tcp", ep->label);
    int timeout_ms = (int)vmux_config_connect_timeout(ctx->cfg);
    char ok[512] = "", bad[512] = "", one[160];
    int nok = 0;
    ep->usable = -1;
    for (int i = 0; i < ep->naddrs; i++) {
        bool good = try_addr(s, &ep->addrs[i], timeout_ms, one, sizeof(one));
        char *list = good ? ok : bad;
        snprintf(list + strlen(list), 512 - strlen(list), "%s%s", list[0] ? "; " : "", one);
        if (good && nok++ == 0)
            ep->usable = i;
    }
    if (nok == ep->naddrs) {
        doc_step_set(s, DOC_OK, "connected to %s", ok);
        s->hint[0] = '\0';
    } else if (nok > 0) {
        doc_step_set(s, DOC_WARN, "connected to %s; but not to %s", ok, bad);
    } else {
        doc_step_set(s, DOC_FAIL, "could not connect: %s", bad);
    }
    doc_step_end(&ctx->report, s);
    return nok > 0;
}
