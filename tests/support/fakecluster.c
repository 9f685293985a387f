/* Scripted fake cluster nodes; see fakecluster.h. */
#include "fakecluster.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <hiredis/hiredis.h>

#include "testutil.h"

#define FC_MAX_CONNS 128
#define FC_MAX_NAMES 48
#define FC_SEND_TIMEOUT_S 5

struct fc_rule {
    char *key; /* NULL: any key */
    int times; /* -1: until cleared */
    unsigned flags;
    char *resp;
    long window_ms;    /* > 0: answers until this long after its first answer */
    uint64_t first_ns; /* when it first answered (monotonic); 0 before */
    struct fc_rule *next;
};

struct fc_entry {
    char *key, *value;
    size_t klen, vlen;
    struct fc_entry *next;
};

struct fc_count {
    char name[40];
    unsigned n;
};

struct fc_node {
    int fd;
    int port;
    char host[64];
    /* guarded by the cluster's mutex */
    char *slots; /* NULL: the default reply */
    char *myid;  /* CLUSTER MYID's answer; NULL: an error */
    char *nodes; /* CLUSTER NODES's answer (a bulk string); NULL: an error */
    char *role;  /* ROLE's answer (raw RESP); NULL: ROLE is a data command (the rules) */
    struct fc_rule *rules;
    struct fc_entry *store;
    struct fc_count counts[FC_MAX_NAMES];
    unsigned accepted;
    bool drop;      /* vt_fcluster_drop_conns() asked to close its connections */
    bool gate_open; /* vt_fcluster_open_gate() was called: VT_FC_GATED rules answer */
    unsigned gated; /* commands waiting at its gate */
    char last[256]; /* its last data command's arguments (vt_fcluster_last_command()) */
};

struct fc_conn {
    int fd;
    size_t node;
    redisReader *reader;
    bool asking;
    bool first;      /* the node's first accepted connection */
    char *held;      /* a VT_FC_GATED rule's answer, sent once the node's gate opens; NULL: none */
    uint64_t due_ns; /* a VT_FC_AT_BLOCK_END rule's held answer goes then (mono_ns()); 0: gate */
    bool hung;       /* a VT_FC_SILENT rule matched: nothing more is read until it closes */
};

struct vt_fcluster {
    size_t n;
    struct fc_node nodes[VT_FC_MAX_NODES];
    int wake[2];
    pthread_t thread;
    pthread_mutex_t mu;
    bool stopping;
    /* the thread's own */
    struct fc_conn conns[FC_MAX_CONNS];
    size_t nconns;
};

/* ---- small helpers ---- */

static bool send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool send_str(int fd, const char *s)
{
    return send_all(fd, s, strlen(s));
}

static bool send_bulk(int fd, const char *p, size_t len)
{
    char head[32];
    snprintf(head, sizeof head, "$%zu\r\n", len);
    return send_str(fd, head) && send_all(fd, p, len) && send_str(fd, "\r\n");
}

static char *dup_bytes(const char *p, size_t len)
{
    char *s = malloc(len + 1);
    if (s != NULL) {
        memcpy(s, p, len);
        s[len] = '\0';
    }
    return s;
}

/* ---- building replies ---- */

/* Appends printf output to *buf (malloc'd, *len used); false when out of memory. */
static bool append(char **buf, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool append(char **buf, size_t *len, const char *fmt, ...)
{
    char piece[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(piece, sizeof piece, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof piece)
        return false;
    char *grown = realloc(*buf, *len + (size_t)n + 1);
    if (grown == NULL)
        return false;
    memcpy(grown + *len, piece, (size_t)n + 1);
    *buf = grown;
    *len += (size_t)n;
    return true;
}

char *vt_fcluster_slots_resp(const struct vt_fc_range *ranges, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    bool ok = append(&buf, &len, "*%zu\r\n", n);
    for (size_t i = 0; ok && i < n; i++) {
        const struct vt_fc_range *r = &ranges[i];
        ok = append(&buf, &len, "*3\r\n:%d\r\n:%d\r\n*2\r\n$%zu\r\n%s\r\n:%d\r\n", r->lo, r->hi,
                    strlen(r->host), r->host, r->port);
    }
    if (!ok) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* The default CLUSTER SLOTS: the slots split evenly, node i serving the i-th part. */
static char *default_slots(const vt_fcluster *c)
{
    struct vt_fc_range r[VT_FC_MAX_NODES];
    for (size_t i = 0; i < c->n; i++)
        r[i] = (struct vt_fc_range){(int)(i * 16384 / c->n), (int)((i + 1) * 16384 / c->n) - 1,
                                    c->nodes[i].host, c->nodes[i].port};
    return vt_fcluster_slots_resp(r, c->n);
}

/* ---- counting ---- */

static void count_name(struct fc_node *node, const char *name)
{
    for (size_t i = 0; i < FC_MAX_NAMES; i++) {
        struct fc_count *k = &node->counts[i];
        if (k->name[0] == '\0')
            snprintf(k->name, sizeof k->name, "%s", name);
        if (strcmp(k->name, name) == 0) {
            k->n++;
            return;
        }
    }
}

/* The command's name as counted: upper case, CLUSTER with its subcommand. */
static void command_name(const redisReply *cmd, char *out, size_t outlen)
{
    const redisReply *a = cmd->element[0];
    const redisReply *b = cmd->elements > 1 ? cmd->element[1] : NULL;
    bool sub = strcasecmp(a->str, "CLUSTER") == 0 && b != NULL && b->type == REDIS_REPLY_STRING;
    snprintf(out, outlen, "%.20s%s%.16s", a->str, sub ? " " : "", sub ? b->str : "");
    for (char *p = out; *p != '\0'; p++)
        *p = (char)toupper((unsigned char)*p);
}

/* ---- the store ---- */

static struct fc_entry *store_find(struct fc_node *node, const char *key, size_t klen)
{
    for (struct fc_entry *e = node->store; e != NULL; e = e->next)
        if (e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    return NULL;
}

/* SET and GET on the node's own store; others +OK. Under the mutex. */
static bool store_answer(struct fc_node *node, int fd, const redisReply *cmd)
{
    const char *name = cmd->element[0]->str;
    const redisReply *k = cmd->elements > 1 ? cmd->element[1] : NULL;
    if (strcasecmp(name, "GET") == 0 && k != NULL) {
        struct fc_entry *e = store_find(node, k->str, k->len);
        return e != NULL ? send_bulk(fd, e->value, e->vlen) : send_str(fd, "$-1\r\n");
    }
    if (strcasecmp(name, "SET") == 0 && k != NULL && cmd->elements > 2) {
        const redisReply *v = cmd->element[2];
        struct fc_entry *e = store_find(node, k->str, k->len);
        char *value = dup_bytes(v->str, v->len);
        if (e == NULL && value != NULL && (e = calloc(1, sizeof *e)) != NULL) {
            e->key = dup_bytes(k->str, k->len);
            e->klen = k->len;
            e->next = node->store;
            node->store = e;
        }
        if (e == NULL || e->key == NULL || value == NULL) {
            free(value);
            return send_str(fd, "-ERR fakecluster: out of memory\r\n");
        }
        free(e->value);
        e->value = value;
        e->vlen = v->len;
    }
    return send_str(fd, "+OK\r\n");
}

/* ---- rules ---- */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A rule made by vt_fcluster_rule_for() whose time is over. */
static bool rule_expired(const struct fc_rule *r)
{
    return r->window_ms > 0 && r->first_ns != 0 &&
           mono_ns() - r->first_ns >= (uint64_t)r->window_ms * 1000000u;
}

static bool rule_matches(const struct fc_rule *r, const redisReply *cmd, const struct fc_conn *conn)
{
    if (r->times == 0 || ((r->flags & VT_FC_AFTER_ASKING) && !conn->asking) ||
        ((r->flags & VT_FC_FIRST_CONN) && !conn->first) || rule_expired(r))
        return false;
    if (r->key == NULL)
        return true;
    const redisReply *k = cmd->elements > 1 ? cmd->element[1] : NULL;
    return k != NULL && k->len == strlen(r->key) && memcmp(k->str, r->key, k->len) == 0;
}

/* Notes cmd as node's last data command. */
static void note_last(struct fc_node *node, const redisReply *cmd)
{
    size_t used = 0;
    node->last[0] = '\0';
    for (size_t i = 0; i < cmd->elements && used < sizeof node->last; i++)
        used += (size_t)snprintf(node->last + used, sizeof node->last - used, "%s%.*s",
                                 i > 0 ? " " : "", (int)cmd->element[i]->len, cmd->element[i]->str);
}

/* When a command blocked for its last argument's seconds, read now, ends (mono_ns()). */
static uint64_t block_end(const redisReply *cmd)
{
    double s = strtod(cmd->element[cmd->elements - 1]->str, NULL);
    return mono_ns() + (uint64_t)(s > 0 ? s * 1e9 : 0);
}

/* A data command: the first matching rule, else the store. Under the mutex. */
static bool data_answer(struct fc_node *node, struct fc_conn *conn, const redisReply *cmd)
{
    note_last(node, cmd);
    for (struct fc_rule *r = node->rules; r != NULL; r = r->next) {
        if (!rule_matches(r, cmd, conn))
            continue;
        if (r->times > 0)
            r->times--;
        if (r->window_ms > 0 && r->first_ns == 0)
            r->first_ns = mono_ns();
        if ((r->flags & VT_FC_GATED) && !node->gate_open) {
            node->gated++;
            return (conn->held = strdup(r->resp)) != NULL;
        }
        if (r->flags & VT_FC_SILENT)
            return (conn->hung = true);
        if (r->flags & VT_FC_AT_BLOCK_END) {
            conn->due_ns = block_end(cmd);
            return (conn->held = strdup(r->resp)) != NULL;
        }
        return send_str(conn->fd, r->resp);
    }
    return store_answer(node, conn->fd, cmd);
}

/* ---- serving ---- */

static bool is_setup(const char *name)
{
    static const char *const setup[] = {"CLIENT", "AUTH", "SELECT", "HELLO", "READONLY"};
    for (size_t i = 0; i < sizeof setup / sizeof setup[0]; i++)
        if (strcasecmp(name, setup[i]) == 0)
            return true;
    return false;
}

static bool cluster_answer(vt_fcluster *c, struct fc_node *node, int fd, const char *counted)
{
    if (strcmp(counted, "CLUSTER MYID") == 0 && node->myid != NULL)
        return send_bulk(fd, node->myid, strlen(node->myid));
    if (strcmp(counted, "CLUSTER NODES") == 0 && node->nodes != NULL)
        return send_bulk(fd, node->nodes, strlen(node->nodes));
    if (strcmp(counted, "CLUSTER SLOTS") != 0)
        return send_str(fd, "-ERR fakecluster: only CLUSTER SLOTS is scripted\r\n");
    if (node->slots != NULL)
        return send_str(fd, node->slots);
    char *slots = default_slots(c);
    bool ok = slots != NULL ? send_str(fd, slots) : send_str(fd, "-ERR out of memory\r\n");
    free(slots);
    return ok;
}

/* Answers one command; false when the connection must close. */
static bool serve(vt_fcluster *c, struct fc_conn *conn, const redisReply *cmd)
{
    if (cmd->type != REDIS_REPLY_ARRAY || cmd->elements == 0)
        return send_str(conn->fd, "-ERR fakecluster: not a command\r\n");
    for (size_t i = 0; i < cmd->elements; i++)
        if (cmd->element[i]->type != REDIS_REPLY_STRING)
            return send_str(conn->fd, "-ERR fakecluster: not a command\r\n");
    char counted[40];
    command_name(cmd, counted, sizeof counted);
    struct fc_node *node = &c->nodes[conn->node];
    bool asking = conn->asking;
    conn->asking = strcmp(counted, "ASKING") == 0;
    pthread_mutex_lock(&c->mu);
    count_name(node, counted);
    bool ok;
    const char *name = cmd->element[0]->str;
    if (strcmp(counted, "PING") == 0)
        ok = send_str(conn->fd, "+PONG\r\n");
    else if (is_setup(name) || conn->asking)
        ok = send_str(conn->fd, "+OK\r\n");
    else if (strcmp(counted, "INFO") == 0)
        ok = send_bulk(conn->fd, "# Cluster\r\ncluster_enabled:1\r\n", 31);
    else if (strcasecmp(name, "CLUSTER") == 0)
        ok = cluster_answer(c, node, conn->fd, counted);
    else if (strcmp(counted, "ROLE") == 0 && node->role != NULL)
        ok = send_str(conn->fd, node->role);
    else {
        conn->asking = asking; /* rule_matches() reads it */
        ok = data_answer(node, conn, cmd);
        conn->asking = false;
    }
    pthread_mutex_unlock(&c->mu);
    return ok;
}

static void conn_free(struct fc_conn *conn)
{
    free(conn->held);
    conn->held = NULL;
    close(conn->fd);
    redisReaderFree(conn->reader);
    conn->fd = -1;
    conn->reader = NULL;
}

/* Answers the commands conn's reader holds, up to one that waits at a gate; false when the
 * connection must close. */
static bool serve_read(vt_fcluster *c, struct fc_conn *conn)
{
    while (conn->held == NULL && !conn->hung) {
        void *cmd = NULL;
        if (redisReaderGetReply(conn->reader, &cmd) != REDIS_OK)
            return false;
        if (cmd == NULL)
            return true;
        bool ok = serve(c, conn, cmd);
        freeReplyObject(cmd);
        if (!ok)
            return false;
    }
    return true;
}

/* Reads what conn sent and answers it; false when it is over. */
static bool conn_readable(vt_fcluster *c, struct fc_conn *conn)
{
    char buf[16384];
    ssize_t n = recv(conn->fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return true;
    if (n <= 0 || redisReaderFeed(conn->reader, buf, (size_t)n) != REDIS_OK)
        return false;
    return serve_read(c, conn);
}

/* Sends the answers held at the gates that opened, then what their connections sent since. */
static void open_gates(vt_fcluster *c)
{
    for (size_t i = 0; i < c->nconns; i++) {
        struct fc_conn *conn = &c->conns[i];
        pthread_mutex_lock(&c->mu);
        bool due = conn->due_ns != 0 && mono_ns() >= conn->due_ns;
        bool open = conn->fd >= 0 && conn->held != NULL &&
                    (conn->due_ns == 0 ? c->nodes[conn->node].gate_open : due);
        if (open && conn->due_ns == 0)
            c->nodes[conn->node].gated--;
        if (open)
            conn->due_ns = 0;
        pthread_mutex_unlock(&c->mu);
        if (!open)
            continue;
        bool ok = send_str(conn->fd, conn->held);
        free(conn->held);
        conn->held = NULL;
        if (!ok || !serve_read(c, conn))
            conn_free(conn);
    }
}

static void accept_on(vt_fcluster *c, size_t node)
{
    int fd = accept(c->nodes[node].fd, NULL, NULL);
    if (fd < 0)
        return;
    pthread_mutex_lock(&c->mu);
    bool first = c->nodes[node].accepted++ == 0;
    pthread_mutex_unlock(&c->mu);
    redisReader *r = c->nconns < FC_MAX_CONNS ? redisReaderCreate() : NULL;
    if (r == NULL) {
        close(fd);
        return;
    }
    int one = 1;
    struct timeval tv = {FC_SEND_TIMEOUT_S, 0};
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    c->conns[c->nconns++] = (struct fc_conn){fd, node, r, false, first, NULL, 0, false};
}

static bool stopping(vt_fcluster *c)
{
    pthread_mutex_lock(&c->mu);
    bool s = c->stopping;
    pthread_mutex_unlock(&c->mu);
    return s;
}

static void compact(vt_fcluster *c)
{
    size_t j = 0;
    for (size_t i = 0; i < c->nconns; i++)
        if (c->conns[i].fd >= 0)
            c->conns[j++] = c->conns[i];
    c->nconns = j;
}

/* Closes the connections of the nodes vt_fcluster_drop_conns() named; drains the wake pipe. */
static void drop_asked(vt_fcluster *c)
{
    char buf[64];
    while (read(c->wake[0], buf, sizeof buf) < 0 && errno == EINTR) {
    }
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nconns; i++)
        if (c->conns[i].fd >= 0 && c->nodes[c->conns[i].node].drop)
            conn_free(&c->conns[i]);
    for (size_t i = 0; i < c->n; i++)
        c->nodes[i].drop = false;
    pthread_mutex_unlock(&c->mu);
}

/* poll()'s timeout: the ms until the first held VT_FC_AT_BLOCK_END answer is due; -1: none. */
static int next_due_ms(const vt_fcluster *c)
{
    uint64_t first = UINT64_MAX, now = mono_ns();
    for (size_t i = 0; i < c->nconns; i++)
        if (c->conns[i].fd >= 0 && c->conns[i].held != NULL && c->conns[i].due_ns != 0 &&
            c->conns[i].due_ns < first)
            first = c->conns[i].due_ns;
    if (first == UINT64_MAX)
        return -1;
    return first <= now ? 0 : (int)((first - now + 999999u) / 1000000u);
}

/* Whether conn is not read: its node holds a command of it at a gate, or hangs on one. */
static bool fc_waits(const struct fc_conn *conn)
{
    return conn->held != NULL || conn->hung;
}

static void *fc_main(void *arg)
{
    vt_fcluster *c = arg;
    struct pollfd pfd[1 + VT_FC_MAX_NODES + FC_MAX_CONNS];
    while (!stopping(c)) {
        size_t np = 0, nconns = c->nconns;
        pfd[np++] = (struct pollfd){.fd = c->wake[0], .events = POLLIN};
        for (size_t i = 0; i < c->n; i++)
            pfd[np++] = (struct pollfd){.fd = c->nodes[i].fd, .events = POLLIN};
        for (size_t i = 0; i < nconns; i++) /* one that waits is not read, only watched */
            pfd[np++] = (struct pollfd){.fd = c->conns[i].fd,
                                        .events = fc_waits(&c->conns[i]) ? 0 : POLLIN};
        int n = poll(pfd, np, next_due_ms(c));
        if (n < 0 && errno != EINTR)
            break;
        if (n == 0 || next_due_ms(c) == 0) { /* a held answer's block ended */
            open_gates(c);
            compact(c);
            continue;
        }
        if (pfd[0].revents & POLLIN) {
            drop_asked(c);
            open_gates(c);
            compact(c);
            continue; /* the dropped ones' revents are void */
        }
        for (size_t i = 0; i < nconns; i++)
            if (pfd[1 + c->n + i].revents != 0 &&
                (!fc_waits(&c->conns[i]) || (pfd[1 + c->n + i].revents & (POLLHUP | POLLERR))) &&
                !conn_readable(c, &c->conns[i]))
                conn_free(&c->conns[i]);
        for (size_t i = 0; i < c->n; i++)
            if (pfd[1 + i].revents & POLLIN)
                accept_on(c, i);
        compact(c);
    }
    for (size_t i = 0; i < c->nconns; i++)
        conn_free(&c->conns[i]);
    c->nconns = 0;
    return NULL;
}

/* ---- life ---- */

static int listen_on(struct fc_node *node, const char *host)
{
    bool v6 = strchr(host, ':') != NULL;
    struct sockaddr_storage ss = {0};
    socklen_t len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (v6) {
        struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&ss;
        sa->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, host, &sa->sin6_addr) != 1)
            return -1;
    } else {
        struct sockaddr_in *sa = (struct sockaddr_in *)&ss;
        sa->sin_family = AF_INET;
        if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
            return -1;
    }
    node->fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (node->fd < 0 || (v6 && setsockopt(node->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one)) ||
        bind(node->fd, (struct sockaddr *)&ss, len) != 0 || listen(node->fd, 16) != 0 ||
        getsockname(node->fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    node->port =
        ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    snprintf(node->host, sizeof node->host, "%s", host);
    return 0;
}

bool vt_fcluster_ipv6_loopback(void)
{
    struct fc_node probe = {.fd = -1};
    bool ok = listen_on(&probe, "::1") == 0;
    if (probe.fd >= 0)
        close(probe.fd);
    return ok;
}

static void close_listeners(vt_fcluster *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->nodes[i].fd >= 0)
            close(c->nodes[i].fd);
}

vt_fcluster *vt_fcluster_start(size_t n, const char *const *hosts)
{
    if (n == 0 || n > VT_FC_MAX_NODES)
        return NULL;
    vt_fcluster *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->n = n;
    c->wake[0] = c->wake[1] = -1;
    for (size_t i = 0; i < n; i++)
        c->nodes[i].fd = -1;
    pthread_mutex_init(&c->mu, NULL);
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++)
        ok = listen_on(&c->nodes[i], hosts != NULL ? hosts[i] : "127.0.0.1") == 0;
    if (!ok || pipe2(c->wake, O_CLOEXEC) != 0 ||
        pthread_create(&c->thread, NULL, fc_main, c) != 0) {
        fprintf(stderr, "fakecluster: cannot start: %s\n", strerror(errno));
        close_listeners(c);
        if (c->wake[0] >= 0) {
            close(c->wake[0]);
            close(c->wake[1]);
        }
        pthread_mutex_destroy(&c->mu);
        free(c);
        return NULL;
    }
    return c;
}

int vt_fcluster_port(const vt_fcluster *c, size_t node)
{
    return c->nodes[node].port;
}

const char *vt_fcluster_host(const vt_fcluster *c, size_t node)
{
    return c->nodes[node].host;
}

void vt_fcluster_set_slots(vt_fcluster *c, int node, const char *resp)
{
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n; i++) {
        if (node >= 0 && (size_t)node != i)
            continue;
        free(c->nodes[i].slots);
        c->nodes[i].slots = resp != NULL ? strdup(resp) : NULL;
    }
    pthread_mutex_unlock(&c->mu);
}

void vt_fcluster_set_myid(vt_fcluster *c, size_t node, const char *id)
{
    pthread_mutex_lock(&c->mu);
    free(c->nodes[node].myid);
    c->nodes[node].myid = id != NULL ? strdup(id) : NULL;
    pthread_mutex_unlock(&c->mu);
}

void vt_fcluster_set_role(vt_fcluster *c, size_t node, const char *resp)
{
    pthread_mutex_lock(&c->mu);
    free(c->nodes[node].role);
    c->nodes[node].role = resp != NULL ? strdup(resp) : NULL;
    pthread_mutex_unlock(&c->mu);
}

void vt_fcluster_set_nodes(vt_fcluster *c, size_t node, const char *text)
{
    pthread_mutex_lock(&c->mu);
    free(c->nodes[node].nodes);
    c->nodes[node].nodes = text != NULL ? strdup(text) : NULL;
    pthread_mutex_unlock(&c->mu);
}

/* Appends a rule to node; -1 when out of memory. */
static int add_rule(vt_fcluster *c, size_t node, const char *key, int times, long window_ms,
                    unsigned flags, const char *resp)
{
    struct fc_rule *r = calloc(1, sizeof *r);
    if (r == NULL || (r->resp = strdup(resp)) == NULL ||
        (key != NULL && (r->key = strdup(key)) == NULL)) {
        if (r != NULL) {
            free(r->resp);
            free(r);
        }
        return -1;
    }
    r->times = times;
    r->window_ms = window_ms;
    r->flags = flags;
    pthread_mutex_lock(&c->mu);
    struct fc_rule **tail = &c->nodes[node].rules;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = r;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

int vt_fcluster_rule(vt_fcluster *c, size_t node, const char *key, int times, unsigned flags,
                     const char *resp)
{
    return add_rule(c, node, key, times, 0, flags, resp);
}

int vt_fcluster_rule_for(vt_fcluster *c, size_t node, const char *key, long ms, unsigned flags,
                         const char *resp)
{
    return add_rule(c, node, key, -1, ms > 0 ? ms : 1, flags, resp);
}

static void free_rules(struct fc_rule *r)
{
    while (r != NULL) {
        struct fc_rule *next = r->next;
        free(r->key);
        free(r->resp);
        free(r);
        r = next;
    }
}

void vt_fcluster_clear_rules(vt_fcluster *c, int node)
{
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n; i++) {
        if (node >= 0 && (size_t)node != i)
            continue;
        free_rules(c->nodes[i].rules);
        c->nodes[i].rules = NULL;
    }
    pthread_mutex_unlock(&c->mu);
}

static unsigned count_of(const struct fc_node *node, const char *name)
{
    for (size_t i = 0; i < FC_MAX_NAMES && node->counts[i].name[0] != '\0'; i++)
        if (strcmp(node->counts[i].name, name) == 0)
            return node->counts[i].n;
    return 0;
}

unsigned vt_fcluster_count(vt_fcluster *c, size_t node, const char *name)
{
    pthread_mutex_lock(&c->mu);
    unsigned n = count_of(&c->nodes[node], name);
    pthread_mutex_unlock(&c->mu);
    return n;
}

unsigned vt_fcluster_count_all(vt_fcluster *c, const char *name)
{
    unsigned n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += vt_fcluster_count(c, i, name);
    return n;
}

struct count_wait {
    vt_fcluster *c;
    size_t node;
    const char *name;
    unsigned want;
};

static bool count_reached(void *arg)
{
    const struct count_wait *w = arg;
    return vt_fcluster_count(w->c, w->node, w->name) >= w->want;
}

bool vt_fcluster_wait_count(vt_fcluster *c, size_t node, const char *name, unsigned want,
                            int timeout_ms)
{
    struct count_wait w = {c, node, name, want};
    return vt_wait_until(count_reached, &w, timeout_ms);
}

unsigned vt_fcluster_topology_queries(vt_fcluster *c)
{
    return vt_fcluster_count_all(c, "CLUSTER SLOTS") + vt_fcluster_count_all(c, "CLUSTER SHARDS") +
           vt_fcluster_count_all(c, "CLUSTER NODES");
}

void vt_fcluster_drop_conns(vt_fcluster *c, size_t node)
{
    pthread_mutex_lock(&c->mu);
    c->nodes[node].drop = true;
    pthread_mutex_unlock(&c->mu);
    while (write(c->wake[1], "x", 1) < 0 && errno == EINTR) {
    }
}

void vt_fcluster_last_command(vt_fcluster *c, size_t node, char *buf, size_t len)
{
    pthread_mutex_lock(&c->mu);
    snprintf(buf, len, "%s", c->nodes[node].last);
    pthread_mutex_unlock(&c->mu);
}

unsigned vt_fcluster_gated(vt_fcluster *c, size_t node)
{
    pthread_mutex_lock(&c->mu);
    unsigned n = c->nodes[node].gated;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void vt_fcluster_open_gate(vt_fcluster *c, size_t node)
{
    pthread_mutex_lock(&c->mu);
    c->nodes[node].gate_open = true;
    pthread_mutex_unlock(&c->mu);
    while (write(c->wake[1], "x", 1) < 0 && errno == EINTR) {
    }
}

unsigned vt_fcluster_accepted(vt_fcluster *c, size_t node)
{
    pthread_mutex_lock(&c->mu);
    unsigned n = c->nodes[node].accepted;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void vt_fcluster_stop(vt_fcluster *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_mutex_unlock(&c->mu);
    while (write(c->wake[1], "x", 1) < 0 && errno == EINTR) {
    }
    pthread_join(c->thread, NULL);
    close_listeners(c);
    close(c->wake[0]);
    close(c->wake[1]);
    for (size_t i = 0; i < c->n; i++) {
        struct fc_node *node = &c->nodes[i];
        free(node->slots);
        free(node->myid);
        free(node->nodes);
        free(node->role);
        free_rules(node->rules);
        while (node->store != NULL) {
            struct fc_entry *next = node->store->next;
            free(node->store->key);
            free(node->store->value);
            free(node->store);
            node->store = next;
        }
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}
