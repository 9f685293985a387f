/*
 * The fake server of vmux-refusal-bench (fake_server.h): a poll() loop on its own thread over
 * the listening socket, a pipe that stops it and its connections. Each connection reads what
 * came, answers every complete command in it in order, and writes what the socket takes; the
 * rest waits for POLLOUT.
 */
#include "fake_server.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

enum { READ_CHUNK = 64 * 1024, MAX_ARGS = 4, MAX_BULK = 512 * 1024 * 1024 };

struct buf {
    char *data;
    size_t off, len, cap; /* bytes [off, len) are live */
};

struct fake_peer {
    int fd;
    struct buf in, out;
};

/* The first MAX_ARGS arguments of a command (the others are skipped). */
struct command {
    int argc;
    const char *argv[MAX_ARGS];
    size_t len[MAX_ARGS];
};

static const char INFO_BODY[] = "# Server\r\n"
                                "redis_version:7.2.4\r\n"
                                "server_name:valkey\r\n"
                                "valkey_version:8.0.0\r\n"
                                "# Replication\r\n"
                                "role:master\r\n"
                                "connected_slaves:0\r\n"
                                "# Cluster\r\n"
                                "cluster_enabled:0\r\n";

/* Makes room for n more bytes at the end of b, moving its live bytes to the front first. */
static void buf_reserve(struct buf *b, size_t n)
{
    if (b->off > 0) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    if (b->cap - b->len >= n)
        return;
    size_t cap = b->cap > 0 ? b->cap : READ_CHUNK;
    while (cap - b->len < n)
        cap *= 2;
    b->data = realloc(b->data, cap);
    if (b->data == NULL) {
        fprintf(stderr, "fake server: out of memory\n");
        exit(1);
    }
    b->cap = cap;
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->cap - b->len < n)
        buf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

/*
 * Reads the decimal number that ends with CRLF at s[*pos..len). Returns 1 with *pos past the
 * CRLF, 0 when the line is not all there yet, -1 when it is not a number of at most 18 digits.
 */
static int read_number(const char *s, size_t len, size_t *pos, long long *out)
{
    size_t i = *pos;
    long long v = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9' && i - *pos < 18)
        v = v * 10 + (s[i++] - '0');
    if (i == len || (i + 1 == len && s[i] == '\r'))
        return 0;
    if (i == *pos || s[i] != '\r' || s[i + 1] != '\n')
        return -1;
    *pos = i + 2;
    *out = v;
    return 1;
}

/*
 * Parses one command, an array of bulk strings, at the start of s[0..len). Returns 1 with its
 * size in *used, 0 when it is not all there yet, -1 when it is malformed.
 */
static int parse_command(const char *s, size_t len, size_t *used, struct command *c)
{
    size_t pos = 1;
    long long n, blen;
    if (len == 0)
        return 0;
    int rc = s[0] == '*' ? read_number(s, len, &pos, &n) : -1;
    if (rc <= 0)
        return rc;
    if (n < 1)
        return -1;
    c->argc = 0;
    for (long long i = 0; i < n; i++) {
        if (pos == len)
            return 0;
        if (s[pos++] != '$')
            return -1;
        if ((rc = read_number(s, len, &pos, &blen)) <= 0)
            return rc;
        if (blen > MAX_BULK)
            return -1;
        if (len - pos < (size_t)blen + 2)
            return 0;
        if (s[pos + blen] != '\r' || s[pos + blen + 1] != '\n')
            return -1;
        if (c->argc < MAX_ARGS) {
            c->argv[c->argc] = s + pos;
            c->len[c->argc++] = (size_t)blen;
        }
        pos += (size_t)blen + 2;
    }
    *used = pos;
    return 1;
}

static bool named(const struct command *c, const char *name)
{
    return c->len[0] == strlen(name) && strncasecmp(c->argv[0], name, c->len[0]) == 0;
}

/* The reply to one of a handle's own commands, or NULL for any other command. */
static const char *own_reply(const struct command *c)
{
    if (named(c, "PING"))
        return "+PONG\r\n";
    if (named(c, "CLIENT") || named(c, "AUTH") || named(c, "SELECT") || named(c, "READONLY") ||
        named(c, "READWRITE"))
        return "+OK\r\n";
    if (named(c, "HELLO"))
        return "-NOPROTO sorry, this protocol version is not supported\r\n";
    if (named(c, "ROLE"))
        return "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n";
    if (named(c, "CLUSTER"))
        return "-ERR This instance has cluster support disabled\r\n";
    return NULL;
}

/* A standalone primary's INFO, whatever section was asked. */
static void add_info(struct fake_peer *p)
{
    char head[32];
    int n = snprintf(head, sizeof head, "$%zu\r\n", sizeof INFO_BODY - 1);
    buf_add(&p->out, head, (size_t)n);
    buf_add(&p->out, INFO_BODY, sizeof INFO_BODY - 1);
    buf_add(&p->out, "\r\n", 2);
}

static void answer(struct fake_server *s, struct fake_peer *p, const struct command *c)
{
    static const char loading[] = "-" FAKE_LOADING "\r\n", nil[] = "$-1\r\n";
    const char *own = own_reply(c);
    if (own != NULL)
        buf_add(&p->out, own, strlen(own));
    else if (named(c, "INFO"))
        add_info(p);
    else if (s->refuse)
        buf_add(&p->out, loading, sizeof loading - 1);
    else
        buf_add(&p->out, nil, sizeof nil - 1);
    if (own == NULL && s->refuse && !named(c, "INFO"))
        s->refused++;
    else
        s->answered++;
}

/* Answers every complete command read so far. Returns false when one is malformed. */
static bool answer_all(struct fake_server *s, struct fake_peer *p)
{
    struct command c;
    size_t used;
    int rc;
    while ((rc = parse_command(p->in.data + p->in.off, p->in.len - p->in.off, &used, &c)) == 1) {
        answer(s, p, &c);
        p->in.off += used;
    }
    return rc == 0;
}

/* Writes what the socket takes. Returns false when the connection failed. */
static bool peer_write(struct fake_peer *p)
{
    while (p->out.off < p->out.len) {
        ssize_t n = send(p->fd, p->out.data + p->out.off, p->out.len - p->out.off, MSG_NOSIGNAL);
        if (n > 0)
            p->out.off += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else
            return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
    p->out.off = p->out.len = 0;
    return true;
}

/* Reads once, answers, writes. Returns false when the connection is over. */
static bool peer_read(struct fake_server *s, struct fake_peer *p)
{
    buf_reserve(&p->in, READ_CHUNK);
    ssize_t n = recv(p->fd, p->in.data + p->in.len, p->in.cap - p->in.len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return true;
    if (n <= 0)
        return false;
    p->in.len += (size_t)n;
    return answer_all(s, p) && peer_write(p);
}

static void peer_close(struct fake_server *s, int i)
{
    struct fake_peer *p = s->peers[i];
    close(p->fd);
    free(p->in.data);
    free(p->out.data);
    free(p);
    s->peers[i] = NULL;
}

static void accept_peer(struct fake_server *s)
{
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (int i = 0; i < FAKE_MAX_PEERS; i++) {
        if (s->peers[i] == NULL) {
            s->peers[i] = calloc(1, sizeof *s->peers[i]);
            if (s->peers[i] == NULL)
                break;
            s->peers[i]->fd = fd;
            return;
        }
    }
    close(fd); /* more connections than a handle opens here */
}

/* One poll() over the stop pipe, the listening socket and the connections; false: stop. */
static bool serve_once(struct fake_server *s)
{
    struct pollfd pfd[2 + FAKE_MAX_PEERS] = {{s->stop_fd[0], POLLIN, 0}, {s->listen_fd, POLLIN, 0}};
    int who[2 + FAKE_MAX_PEERS], n = 2;
    for (int i = 0; i < FAKE_MAX_PEERS; i++) {
        struct fake_peer *p = s->peers[i];
        if (p == NULL)
            continue;
        short ev = p->out.off < p->out.len ? POLLIN | POLLOUT : POLLIN;
        who[n] = i;
        pfd[n++] = (struct pollfd){p->fd, ev, 0};
    }
    if (poll(pfd, (nfds_t)n, -1) < 0)
        return errno == EINTR;
    if (pfd[0].revents != 0)
        return false;
    if (pfd[1].revents & POLLIN)
        accept_peer(s);
    for (int k = 2; k < n; k++) {
        struct fake_peer *p = s->peers[who[k]];
        bool ok = true;
        if (pfd[k].revents & POLLOUT)
            ok = peer_write(p);
        if (ok && (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
            ok = peer_read(s, p);
        if (!ok)
            peer_close(s, who[k]);
    }
    return true;
}

static void *serve(void *arg)
{
    struct fake_server *s = arg;
    while (serve_once(s)) {
    }
    for (int i = 0; i < FAKE_MAX_PEERS; i++)
        if (s->peers[i] != NULL)
            peer_close(s, i);
    return NULL;
}

/* A listening socket on a free 127.0.0.1 port; -1 on failure. */
static int listen_any(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

int fake_server_start(struct fake_server *s, bool refuse)
{
    *s = (struct fake_server){.refuse = refuse};
    s->listen_fd = listen_any(&s->port);
    if (s->listen_fd < 0 || pipe2(s->stop_fd, O_CLOEXEC) != 0) {
        perror("fake server: listen on 127.0.0.1");
        if (s->listen_fd >= 0)
            close(s->listen_fd);
        return -1;
    }
    int rc = pthread_create(&s->thread, NULL, serve, s);
    if (rc == 0)
        rc = pthread_getcpuclockid(s->thread, &s->cpu_clock);
    if (rc != 0) {
        fprintf(stderr, "fake server: its thread: %s\n", strerror(rc));
        exit(1); /* a thread started and no clock: nothing sensible to measure */
    }
    return 0;
}

double fake_server_cpu(const struct fake_server *s)
{
    struct timespec ts;
    clock_gettime(s->cpu_clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void fake_server_stop(struct fake_server *s)
{
    char c = 0;
    if (write(s->stop_fd[1], &c, 1) != 1)
        perror("fake server: stop");
    pthread_join(s->thread, NULL);
    close(s->stop_fd[0]);
    close(s->stop_fd[1]);
    close(s->listen_fd);
}
