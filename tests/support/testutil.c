/* Helpers shared by the integration tests; see testutil.h. */
#include "testutil.h"
#include "node.h"

#include "vmux/vmux.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>

#include <hiredis/hiredis.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* vt_admin's connections must never hang a test, whatever the server does. */
#define VT_ADMIN_TIMEOUT_S 10

static char *vt_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *vt_strdup_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* Returns the port from a port file's text, or -1 when it is not a port number. */
static int vt_parse_port(const char *text)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || v < 1 || v > 65535)
        return -1;
    while (*end == '\n' || *end == '\r' || *end == ' ')
        end++;
    return *end == '\0' ? (int)v : -1;
}

bool vt_tls_mode(void)
{
    const char *v = getenv("VMUX_TEST_TLS");
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

const char *vt_cluster_mode(void)
{
    const char *v = getenv("VMUX_TEST_CLUSTER");
    return v != NULL && v[0] != '\0' ? v : NULL;
}

bool vt_cluster_skip(const char *test, const char *reason)
{
    if (vt_cluster_mode() == NULL)
        return false;
    printf("[  SKIPPED ] %s: %s (cluster mode)\n", test, reason);
    fflush(stdout);
    return true;
}

void vt_filter_tests(void)
{
    cmocka_set_test_filter(getenv("VT_ONLY"));
    cmocka_set_skip_filter(getenv("VT_SKIP"));
}

static const char *vt_state_dir(void)
{
    const char *dir = getenv("VMUX_TEST_STATE_DIR");
    if (dir == NULL || dir[0] == '\0')
        fail_msg("VMUX_TEST_STATE_DIR is not set (run the test through ctest)");
    return dir;
}

static char vt_certs[4096];
static pthread_once_t vt_certs_once = PTHREAD_ONCE_INIT;

static void vt_certs_init(void)
{
    const char *dir = getenv("VMUX_TEST_CERTS_DIR");
    if (dir != NULL && dir[0] != '\0') {
        snprintf(vt_certs, sizeof vt_certs, "%s", dir);
        return;
    }
    dir = getenv("VMUX_TEST_STATE_DIR");
    if (dir != NULL && dir[0] != '\0')
        snprintf(vt_certs, sizeof vt_certs, "%s/certs", dir);
}

const char *vt_certs_dir(void)
{
    pthread_once(&vt_certs_once, vt_certs_init);
    if (vt_certs[0] == '\0')
        fail_msg("neither VMUX_TEST_CERTS_DIR nor VMUX_TEST_STATE_DIR is set (run through ctest)");
    return vt_certs;
}

static bool vt_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int vt_server_port(const char *name)
{
    const char *dir = vt_state_dir();
    if (vt_cluster_mode() != NULL)
        name = vt_cluster_mode();
    const char *twin = vt_tls_mode() && !vt_ends_with(name, "-tls") ? "-tls" : "";
    char path[4096];
    snprintf(path, sizeof path, "%s/%s%s.port", dir, name, twin);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("no port file %s (%s): is the fixture server '%s%s' running?", path,
                 strerror(errno), name, twin);
    char buf[32] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    int port = vt_parse_port(buf);
    if (port < 0)
        fail_msg("bad port file %s: '%s'", path, buf);
    return port;
}

/* A cluster fixture's nodes, as its ports file lists them. */
struct vt_cluster {
    int n, primaries;
    int port[64];
};

static void vt_cluster_read(const char *name, struct vt_cluster *c)
{
    char path[4096], role[16];
    snprintf(path, sizeof path, "%s/%s.ports", vt_state_dir(), name);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("no ports file %s (%s): is the cluster fixture '%s' running?", path,
                 strerror(errno), name);
    memset(c, 0, sizeof(*c));
    int port;
    while (c->n < 64 && fscanf(f, "%d %15s", &port, role) == 2) {
        if (port < 1 || port > 65535 ||
            (strcmp(role, "primary") != 0 && strcmp(role, "replica") != 0))
            break;
        if (strcmp(role, "primary") == 0 && c->primaries != c->n)
            break; /* primaries come first */
        c->primaries += strcmp(role, "primary") == 0;
        c->port[c->n++] = port;
    }
    bool complete = feof(f) || fgetc(f) == EOF;
    fclose(f);
    if (!complete || c->n == 0 || c->primaries == 0)
        fail_msg("bad ports file %s", path);
}

int vt_cluster_size(const char *name)
{
    struct vt_cluster c;
    vt_cluster_read(name, &c);
    return c.n;
}

int vt_cluster_primaries(const char *name)
{
    struct vt_cluster c;
    vt_cluster_read(name, &c);
    return c.primaries;
}

int vt_cluster_port(const char *name, int i)
{
    struct vt_cluster c;
    vt_cluster_read(name, &c);
    if (i < 0 || i >= c.n)
        fail_msg("cluster %s has %d nodes, no node %d", name, c.n, i);
    return c.port[i];
}

char *vt_server_config(const char *name, const char *extra)
{
    return vt_node_config(vt_server_port(name), extra);
}

char *vt_node_config(int port, const char *extra)
{
    char *tls = NULL;
    if (vt_tls_mode()) {
        const char *d = vt_certs_dir();
        tls = vt_strdup_printf(",ssl=true,sslCaFile=%s/ca.crt,sslCert=%s/client.crt,"
                               "sslKey=%s/client.key",
                               d, d, d);
    }
    bool more = extra != NULL && extra[0] != '\0';
    char *conf = vt_strdup_printf("127.0.0.1:%d%s%s%s", port, tls ? tls : "", more ? "," : "",
                                  more ? extra : "");
    free(tls);
    return conf;
}

/* Percent-encodes everything but RFC 3986's unreserved characters and '/'. */
static char *vt_url_encode(const char *s)
{
    char *out = malloc(strlen(s) * 3 + 1);
    if (out == NULL)
        return NULL;
    char *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~/", *p) != NULL)
            *o++ = (char)*p;
        else
            o += sprintf(o, "%%%02X", *p);
    }
    *o = '\0';
    return out;
}

char *vt_server_url(const char *name, const char *userinfo, const char *path)
{
    int port = vt_server_port(name);
    bool user = userinfo != NULL && userinfo[0] != '\0';
    char *query = NULL;
    if (vt_tls_mode()) {
        char *d = vt_url_encode(vt_certs_dir());
        if (d == NULL)
            return NULL;
        query = vt_strdup_printf("?sslCaFile=%s/ca.crt&sslCert=%s/client.crt&sslKey=%s/client.key",
                                 d, d, d);
        free(d);
    }
    char *url = vt_strdup_printf("%s://%s%s127.0.0.1:%d%s%s", vt_tls_mode() ? "rediss" : "redis",
                                 user ? userinfo : "", user ? "@" : "", port, path ? path : "",
                                 query ? query : "");
    free(query);
    return url;
}

uint64_t vt_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int vt_try_set(struct vmux *m, const char *key, const char *value, int timeout_ms)
{
    const char *argv[] = {"SET", key, value};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = timeout_ms);
    vmux_reply *r = NULL;
    int rc = vmux_call(m, &o, 3, argv, NULL, &r);
    vmux_reply_free(r);
    return rc;
}

char *vt_call_text(struct vmux *m, int argc, const char *const *argv)
{
    vmux_reply *r = NULL;
    int rc = vmux_call(m, NULL, argc, argv, NULL, &r);
    if (rc != 0)
        fail_msg("%s: %s", argv[0], vmux_err_name(rc));
    const char *text = vmux_reply_str(r, NULL);
    if (text == NULL)
        fail_msg("%s: no text in the reply", argv[0]);
    char *copy = strdup(text);
    vmux_reply_free(r);
    assert_non_null(copy);
    return copy;
}

long long vt_exists(struct vmux *m, const char *key)
{
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 2, (const char *[]){"EXISTS", key}, NULL, &r), 0);
    long long n = vmux_reply_integer(r);
    vmux_reply_free(r);
    return n;
}

void vt_get_value(struct vmux *m, const char *key, const char *want)
{
    vmux_reply *r = NULL;
    const char *argv[] = {"GET", key};
    char err[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    int rc = vmux_call(m, &o, 2, argv, NULL, &r);
    if (rc != 0)
        fail_msg("GET %s: %s (%s)", key, vmux_err_name(rc), err);
    assert_string_equal(vmux_reply_str(r, NULL), want);
    vmux_reply_free(r);
}

uint64_t vt_now_ms(void)
{
    return vt_now_ns() / 1000000u;
}

void vt_stand_still(uint64_t ms)
{
    uint64_t until = vt_now_ms() + ms;
    while (vt_now_ms() < until) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void vt_on_async(int status, struct vmux_reply *reply, void *userdata)
{
    struct vt_async *a = userdata;
    a->status = status;
    a->reply = reply;
    snprintf(a->words, sizeof a->words, "%s", vmux_last_error());
    atomic_store(&a->done, true);
}

bool vt_async_done(void *arg)
{
    return atomic_load(&((struct vt_async *)arg)->done);
}

char vt_thread_state(int tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the name in parentheses may hold anything */
    return p != NULL && p[1] == ' ' ? p[2] : '?';
}

/* Whether thread tid's name (its comm, with the kernel's newline) is name. */
static bool thread_named(const char *tid, const char *name)
{
    char path[300], comm[32] = "";
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", tid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false; /* ended since the listing */
    bool read = fgets(comm, sizeof comm, f) != NULL;
    fclose(f);
    comm[strcspn(comm, "\n")] = '\0';
    return read && strcmp(comm, name) == 0;
}

int vt_threads_named(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.' && thread_named(e->d_name, name);
    closedir(d);
    return n;
}

bool vt_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
    return vt_poll_until(cond, arg, timeout_ms, 1);
}

bool vt_poll_until(bool (*cond)(void *arg), void *arg, int timeout_ms, int interval_ms)
{
    uint64_t deadline = vt_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    struct timespec pause = {interval_ms / 1000, (long)(interval_ms % 1000) * 1000000L};
    for (;;) {
        if (cond(arg))
            return true;
        if (vt_now_ms() >= deadline)
            return cond(arg);
        nanosleep(&pause, NULL);
    }
}

static char *vt_reply_text(const redisReply *r);

/* Arrays come back as their elements' text, one per line. */
static char *vt_array_text(const redisReply *r)
{
    char *out = strdup("");
    for (size_t i = 0; out != NULL && i < r->elements; i++) {
        char *e = vt_reply_text(r->element[i]);
        char *joined = e ? vt_strdup_printf("%s%s%s", out, i ? "\n" : "", e) : NULL;
        free(e);
        free(out);
        out = joined;
    }
    return out;
}

static char *vt_reply_text(const redisReply *r)
{
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR: {
        char *s = malloc(r->len + 1);
        if (s != NULL) {
            memcpy(s, r->str, r->len);
            s[r->len] = '\0';
        }
        return s;
    }
    case REDIS_REPLY_INTEGER:
        return vt_strdup_printf("%lld", r->integer);
    case REDIS_REPLY_NIL:
        return strdup("(nil)");
    case REDIS_REPLY_ARRAY:
        return vt_array_text(r);
    default:
        return vt_strdup_printf("(reply type %d)", r->type);
    }
}

/* vt_admin's connection: a blocking socket, with TLS on top in TLS mode. */
struct vt_conn {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
};

static void vt_conn_close(struct vt_conn *c)
{
    if (c->ssl != NULL)
        SSL_shutdown(c->ssl); /* best effort close_notify, so the server logs no error */
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
}

/* Connects to 127.0.0.1:port; every later read and write gives up after the admin timeout. */
static int vt_tcp_connect(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {VT_ADMIN_TIMEOUT_S, 0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0 ||
        connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The admin client verifies the twin like any careful client: test CA, IP 127.0.0.1. */
static SSL_CTX *vt_tls_ctx(void)
{
    const char *d = vt_certs_dir();
    char *ca = vt_strdup_printf("%s/ca.crt", d);
    char *cert = vt_strdup_printf("%s/client.crt", d);
    char *key = vt_strdup_printf("%s/client.key", d);
    SSL_CTX *ctx = ca && cert && key ? SSL_CTX_new(TLS_client_method()) : NULL;
    if (ctx != NULL && (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
                        SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
                        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)) {
        SSL_CTX_free(ctx);
        ctx = NULL;
    }
    free(ca);
    free(cert);
    free(key);
    if (ctx != NULL)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

static bool vt_tls_handshake(struct vt_conn *c)
{
    c->ctx = vt_tls_ctx();
    c->ssl = c->ctx ? SSL_new(c->ctx) : NULL;
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), "127.0.0.1") != 1)
        return false;
    if (SSL_connect(c->ssl) == 1)
        return true;
    SSL_free(c->ssl); /* a failed handshake has nothing to shut down */
    c->ssl = NULL;
    return false;
}

static bool vt_conn_open(struct vt_conn *c, int port, bool tls)
{
    *c = (struct vt_conn){.fd = vt_tcp_connect(port)};
    if (c->fd < 0)
        return false;
    return !tls || vt_tls_handshake(c);
}

static bool vt_conn_write(struct vt_conn *c, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n;
        if (c->ssl != NULL) {
            size_t done = 0;
            n = SSL_write_ex(c->ssl, buf, len, &done) == 1 ? (ssize_t)done : -1;
        } else {
            n = send(c->fd, buf, len, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
        }
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* Reads some bytes; returns how many, or -1 at end of stream, error or timeout. */
static ssize_t vt_conn_read(struct vt_conn *c, char *buf, size_t len)
{
    if (c->ssl != NULL) {
        size_t done = 0;
        return SSL_read_ex(c->ssl, buf, len, &done) == 1 ? (ssize_t)done : -1;
    }
    for (;;) {
        ssize_t n = recv(c->fd, buf, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        return n > 0 ? n : -1;
    }
}

/* Reads until the reader holds one whole reply; NULL on a broken stream or bad protocol. */
static redisReply *vt_read_reply(struct vt_conn *c)
{
    redisReader *rd = redisReaderCreate();
    void *reply = NULL;
    char buf[16384];
    while (rd != NULL && reply == NULL) {
        ssize_t n = vt_conn_read(c, buf, sizeof buf);
        if (n < 0 || redisReaderFeed(rd, buf, (size_t)n) != REDIS_OK ||
            redisReaderGetReply(rd, &reply) != REDIS_OK)
            break;
    }
    redisReaderFree(rd);
    return reply;
}

/* One command on one node; NULL on a connection failure or no reply. */
static redisReply *vt_admin_once(int port, bool tls, const char *cmd, size_t len)
{
    struct vt_conn c;
    redisReply *r = NULL;
    if (vt_conn_open(&c, port, tls) && vt_conn_write(&c, cmd, len))
        r = vt_read_reply(&c);
    vt_conn_close(&c);
    ERR_clear_error(); /* leave no OpenSSL error behind on this thread */
    return r;
}

/* The port a "MOVED <slot> <host>:<port>" error names, or -1 when r is no such error. */
static int vt_moved_port(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ERROR || strncmp(r->str, "MOVED ", 6) != 0)
        return -1;
    const char *colon = strrchr(r->str, ':');
    return colon != NULL ? vt_parse_port(colon + 1) : -1;
}

/* Sends cmd to port; in cluster mode follows up to 5 MOVED replies. Returns the reply text. */
static char *vt_admin_at(int port, const char *cmd, size_t len)
{
    redisReply *r = vt_admin_once(port, vt_tls_mode(), cmd, len);
    for (int hops = 0; r != NULL && vt_cluster_mode() != NULL && hops < 5; hops++) {
        int next = vt_moved_port(r);
        if (next < 0)
            break;
        freeReplyObject(r);
        r = vt_admin_once(next, vt_tls_mode(), cmd, len);
    }
    char *text = r ? vt_reply_text(r) : NULL;
    freeReplyObject(r);
    return text;
}

char *vt_admin(const char *name, const char *format, ...)
{
    int port = vt_server_port(name);
    char *cmd = NULL;
    va_list ap;
    va_start(ap, format);
    int len = redisvFormatCommand(&cmd, format, ap);
    va_end(ap);
    if (len < 0)
        return NULL;
    char *text = vt_admin_at(port, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return text;
}

/* Whether vt_admin(name, ...) of the command said OK; frees its reply. */
static bool vt_admin_said_ok(char *reply)
{
    bool ok = reply != NULL && strcmp(reply, "OK") == 0;
    free(reply);
    return ok;
}

bool vt_pause_writes(const char *name, int hold_ms)
{
    return vt_admin_said_ok(vt_admin(name, "CLIENT PAUSE %d WRITE", hold_ms));
}

bool vt_unpause(const char *name)
{
    return vt_admin_said_ok(vt_admin(name, "CLIENT UNPAUSE"));
}

/* A command formatted from format and ap, sent once to the node at port. */
static redisReply *node_vcommand(int port, bool tls, const char *format, va_list ap)
{
    char *cmd = NULL;
    int len = redisvFormatCommand(&cmd, format, ap);
    if (len < 0)
        return NULL;
    redisReply *r = vt_admin_once(port, tls, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return r;
}

char *vt_node_admin(int port, bool tls, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    redisReply *r = node_vcommand(port, tls, format, ap);
    va_end(ap);
    char *text = r ? vt_reply_text(r) : NULL;
    freeReplyObject(r);
    return text;
}

long vt_node_pid(int port)
{
    char *info = vt_node_admin(port, false, "INFO server");
    long pid = (long)vt_info_field(info, "process_id");
    free(info);
    if (pid <= 1)
        fail_msg("127.0.0.1:%d: no process_id in INFO server", port);
    return pid;
}

bool vt_node_is_primary(int port)
{
    char *info = vt_node_admin(port, false, "INFO replication");
    bool yes = info != NULL && strstr(info, "role:master") != NULL;
    free(info);
    return yes;
}

bool vt_port_is_primary(void *arg)
{
    return vt_node_is_primary(*(const int *)arg);
}

int vt_cluster_replica_of(const char *cluster, int port)
{
    for (int i = 0; i < vt_cluster_size(cluster); i++) {
        int p = vt_cluster_port(cluster, i);
        if (p == port)
            continue;
        char *info = vt_node_admin(p, false, "INFO replication");
        bool yes = info != NULL && strstr(info, "role:slave") != NULL &&
                   vt_info_field(info, "master_port") == port;
        free(info);
        if (yes)
            return p;
    }
    fail_msg("no replica of 127.0.0.1:%d in %s", port, cluster);
    return -1;
}

redisReply *vt_node_command(int port, bool tls, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    redisReply *r = node_vcommand(port, tls, format, ap);
    va_end(ap);
    return r;
}

/* The port of the primary that a CLUSTER SLOTS reply names for slot, or -1. */
static int vt_slots_primary(const redisReply *r, int slot)
{
    for (size_t i = 0; r != NULL && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *range = r->element[i];
        if (range->element[0]->integer <= slot && slot <= range->element[1]->integer)
            return (int)range->element[2]->element[1]->integer;
    }
    return -1;
}

int vt_slot_primary(int port, bool tls, int slot)
{
    static const char cmd[] = "*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n";
    struct vt_conn c;
    bool up = vt_conn_open(&c, port, tls);
    redisReply *r = up && vt_conn_write(&c, cmd, sizeof cmd - 1) ? vt_read_reply(&c) : NULL;
    vt_conn_close(&c);
    ERR_clear_error();
    if (!up)
        fail_msg("CLUSTER SLOTS: cannot connect to 127.0.0.1:%d%s", port, tls ? " over TLS" : "");
    int primary = vt_slots_primary(r, slot);
    freeReplyObject(r);
    return primary;
}

/* The cluster fixture cluster mode means, with its TLS twin's name in TLS mode. */
static void vt_cluster_name(char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", vt_cluster_mode(), vt_tls_mode() ? "-tls" : "");
}

char *vt_admin_all(const char *name, const char *format, ...)
{
    char *cmd = NULL;
    va_list ap;
    va_start(ap, format);
    int len = redisvFormatCommand(&cmd, format, ap);
    va_end(ap);
    if (len < 0)
        return NULL;
    if (vt_cluster_mode() == NULL) {
        char *text = vt_admin_at(vt_server_port(name), cmd, (size_t)len);
        redisFreeCommand(cmd);
        return text;
    }
    char cluster[256];
    vt_cluster_name(cluster, sizeof cluster);
    int primaries = vt_cluster_primaries(cluster);
    char *all = strdup("");
    for (int i = 0; all != NULL && i < primaries; i++) {
        char *text = vt_admin_at(vt_cluster_port(cluster, i), cmd, (size_t)len);
        char *joined = text ? vt_strdup_printf("%s%s%s", all, i ? "\n" : "", text) : NULL;
        free(text);
        free(all);
        all = joined;
    }
    redisFreeCommand(cmd);
    return all;
}

struct vmux *vt_open(const char *name, const char *extra)
{
    char *conf = vt_server_config(name, extra);
    assert_non_null(conf);
    vmux *m = vt_open_conf(conf);
    free(conf);
    return m;
}

struct vmux_config *vt_config(const char *conf)
{
    char err[512] = "";
    vmux_config *cfg = NULL;
    int rc = vmux_config_parse(conf, &cfg, err, sizeof err);
    if (rc != 0)
        fail_msg("vmux_config_parse(%s): %s (%s)", conf, vmux_err_name(rc), err);
    return cfg;
}

struct vmux *vt_open_config(const struct vmux_config *cfg, const char *what)
{
    char err[512] = "";
    vmux *m = NULL;
    int rc = vmux_open(cfg, &m, err, sizeof err);
    if (rc != 0)
        fail_msg("vmux_open(%s): %s (%s)", what, vmux_err_name(rc), err);
    assert_non_null(m);
    return m;
}

struct vmux *vt_open_conf(const char *conf)
{
    vmux_config *cfg = vt_config(conf);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    return m;
}

redisContext *vt_node_connect(int port)
{
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c == NULL || c->err)
        fail_msg("connect to 127.0.0.1:%d: %s", port, c ? c->errstr : "out of memory");
    redisSetTimeout(c, tv);
    return c;
}

int vt_lines_equal(const char *text, const char *line)
{
    int n = 0;
    size_t len = strlen(line);
    for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
        n += strncmp(p, line, len) == 0 && (p[len] == '\n' || p[len] == '\0');
    return n;
}
