/*
 * metrics: serves a handle's counters to Prometheus. It opens a handle from a configuration
 * string (argv[1], else the VMUX_CONFIG environment variable, else "127.0.0.1:6379"), runs a
 * few commands so the counters have something to show, and answers HTTP GET /metrics on a
 * loopback port with vmux_format_metrics()'s text, one request at a time, in the program's
 * one thread. By default it listens on a free port, fetches its own /metrics once, prints the
 * whole response and exits (0 when the response was a 200 with the counters in it). With
 * --serve PORT it keeps serving 127.0.0.1:PORT until it is killed, for Prometheus or curl:
 *
 *   metrics [CONFIG]                    e.g. metrics "127.0.0.1:6379"
 *   metrics CONFIG --serve 9121         then: curl http://127.0.0.1:9121/metrics
 *
 * A real exporter would answer from a thread of its own (or its web framework's); the handle
 * may be read from any thread, so nothing else changes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <vmux/vmux.h>

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static void usage(FILE *to, const char *prog)
{
    fprintf(to,
            "usage: %s [CONFIG] [--serve PORT]\n"
            "Serves the handle's counters as Prometheus text on http://127.0.0.1:PORT/metrics.\n"
            "Without --serve it fetches them once from a free port, prints them and exits.\n"
            "CONFIG is a vmux configuration string or URL; without it, $VMUX_CONFIG is used,\n"
            "else 127.0.0.1:6379.\n",
            prog);
}

/* A few commands, so the counters are not all zero. */
static int warm_up(vmux *m)
{
    const char *set[] = {"SET", "vmux:example:metrics", "0", "EX", "60"};
    const char *incr[] = {"INCR", "vmux:example:metrics"};
    for (int i = 0; i < 10; i++) {
        char err[256] = ""; /* the server's message, or what else went wrong (call.h) */
        vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
        vmux_reply *r = NULL;
        int rc = i == 0 ? vmux_call(m, &o, 5, set, NULL, &r) : vmux_call(m, &o, 2, incr, NULL, &r);
        vmux_reply_free(r);
        if (rc != 0) {
            fprintf(stderr, "metrics: %s failed: %s (%s)\n", i == 0 ? "SET" : "INCR",
                    err[0] ? err : vmux_strerror(rc), vmux_err_name(rc));
            return -1;
        }
    }
    return 0;
}

/* The metrics text in a malloc'ed buffer, however much the counters grow while it is made. */
static char *metrics_text(vmux *m)
{
    size_t cap = 8192;
    for (;;) {
        char *buf = malloc(cap);
        if (buf == NULL)
            return NULL;
        int n = vmux_format_metrics(m, buf, cap);
        if (n >= 0 && (size_t)n < cap)
            return buf;
        free(buf);
        if (n < 0)
            return NULL;
        cap = (size_t)n + 1024;
    }
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads the request head (up to its blank line) into buf; -1 on error or a head too large. */
static int read_head(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL || strstr(buf, "\n\n") != NULL)
            return 0;
    }
    return -1;
}

static void respond(int fd, const char *status, const char *type, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, type, strlen(body));
    if (write_all(fd, head, (size_t)n) == 0)
        (void)write_all(fd, body, strlen(body));
}

/* Answers one connection: GET /metrics gets the text, anything else a 404 or 405. */
static void serve_one(vmux *m, int fd)
{
    struct timeval tv = {.tv_sec = 5}; /* a client that sends nothing must not hold us */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char req[4096];
    if (read_head(fd, req, sizeof req) != 0)
        return;
    if (strncmp(req, "GET ", 4) != 0) {
        respond(fd, "405 Method Not Allowed", "text/plain", "only GET\n");
        return;
    }
    if (strncmp(req + 4, "/metrics ", 9) != 0 && strncmp(req + 4, "/metrics?", 9) != 0) {
        respond(fd, "404 Not Found", "text/plain", "try /metrics\n");
        return;
    }
    char *text = metrics_text(m);
    if (text == NULL)
        respond(fd, "500 Internal Server Error", "text/plain", "out of memory\n");
    else
        respond(fd, "200 OK", CONTENT_TYPE, text);
    free(text);
}

/* A listening socket on 127.0.0.1:port (0: a free one, written to *port). */
static int listen_on(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        perror("metrics: listen");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static int serve_forever(vmux *m, int port)
{
    int lfd = listen_on(&port);
    if (lfd < 0)
        return -1;
    printf("serving http://127.0.0.1:%d/metrics\n", port);
    fflush(stdout);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0 && errno == EINTR)
            continue;
        if (fd < 0) {
            perror("metrics: accept");
            close(lfd);
            return -1;
        }
        serve_one(m, fd);
        close(fd);
    }
}

/* Reads the whole response (the server closes after it) into a malloc'ed string. */
static char *read_response(int fd)
{
    size_t len = 0, cap = 16384;
    char *buf = malloc(cap);
    for (ssize_t n; buf != NULL; len += (size_t)n) {
        if (len + 1 == cap) {
            char *grown = realloc(buf, cap *= 2);
            if (grown == NULL)
                break;
            buf = grown;
        }
        n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n < 0 && errno == EINTR)
            n = 0;
        else if (n <= 0) {
            buf[len] = '\0';
            return buf;
        }
    }
    free(buf);
    return NULL;
}

/*
 * One thread plays both parts: the request fits in the socket's buffer, and the kernel
 * completes a loopback connect before accept(), so it can send first and serve after.
 */
static int fetch_once(vmux *m)
{
    int port = 0, lfd = listen_on(&port), cfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char req[128];
    int n = snprintf(req, sizeof req, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n\r\n", port);
    int sfd = -1;
    if (lfd < 0 || cfd < 0 || connect(cfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        write_all(cfd, req, (size_t)n) != 0 || (sfd = accept(lfd, NULL, NULL)) < 0) {
        perror("metrics: fetching /metrics");
        if (lfd >= 0)
            close(lfd);
        if (cfd >= 0)
            close(cfd);
        return -1;
    }
    printf("> GET http://127.0.0.1:%d/metrics\n", port);
    serve_one(m, sfd);
    close(sfd);
    close(lfd);
    char *resp = read_response(cfd);
    close(cfd);
    if (resp == NULL)
        return -1;
    fputs(resp, stdout);
    int ok = strncmp(resp, "HTTP/1.0 200 ", 13) == 0 &&
             strstr(resp, "\nvmux_commands_submitted_total ") != NULL;
    free(resp);
    if (!ok)
        fprintf(stderr, "metrics: the response is not a 200 with the counters\n");
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    int serve_port = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout, argv[0]);
            return 0;
        } else if (strcmp(argv[i], "--serve") == 0 && i + 1 < argc) {
            char *end;
            long p = strtol(argv[++i], &end, 10);
            if (*end != '\0' || p < 1 || p > 65535) {
                fprintf(stderr, "metrics: --serve wants a port from 1 to 65535\n");
                return 2;
            }
            serve_port = (int)p;
        } else if (config == NULL && argv[i][0] != '-') {
            config = argv[i];
        } else {
            usage(stderr, argv[0]);
            return 2;
        }
    }
    if (config == NULL && ((config = getenv("VMUX_CONFIG")) == NULL || config[0] == '\0'))
        config = "127.0.0.1:6379";

    char err[256] = "";
    vmux *m = NULL;
    int rc = vmux_open_str(config, &m, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "metrics: cannot open: %s%s%s\n", vmux_strerror(rc), err[0] ? ": " : "",
                err);
        return 1;
    }
    rc = warm_up(m);
    if (rc == 0)
        rc = serve_port > 0 ? serve_forever(m, serve_port) : fetch_once(m);
    vmux_close(m);
    return rc == 0 ? 0 : 1;
}
