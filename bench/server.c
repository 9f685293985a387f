/*
 * The throwaway valkey-servers (a plain one, a TLS-only one for the -tls rows, one inside the
 * network namespace of the netlat rows, and the nodes of the -cluster rows' cluster): started on a
 * free port, awaited with a deadline, prefilled, and killed by their pids at the end, on
 * SIGINT/SIGTERM, and (through PR_SET_PDEATHSIG) when the bench itself dies. With --pin they run
 * on every CPU but the bench's (server_pin()).
 */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_SERVERS (3 + BENCH_CLUSTER_NODES)

/* The pids the signal handler kills: one slot per running server, 0 when free. */
static volatile sig_atomic_t g_server_pids[MAX_SERVERS];

static void on_fatal_signal(int sig)
{
    for (int i = 0; i < MAX_SERVERS; i++)
        if (g_server_pids[i] > 0)
            kill((pid_t)g_server_pids[i], SIGKILL);
    certs_remove();
    cluster_files_remove();
    _exit(128 + sig);
}

void server_install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN; /* a dead server must fail a write, not kill the bench */
    sigaction(SIGPIPE, &sa, NULL);
}

static void track_pid(int pid, int old)
{
    for (int i = 0; i < MAX_SERVERS; i++)
        if (g_server_pids[i] == old) {
            g_server_pids[i] = pid;
            return;
        }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Asks the kernel for a free loopback port. Another process could take it before the server
 * binds it; server_start() then sees the server exit and tries another port. */
int server_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* The listening options of the TLS-only server, in args (which must hold 12). */
static void tls_listen_args(const char *certs, const char *port, char paths[3][BENCH_PATH_CAP],
                            const char **args)
{
    snprintf(paths[0], BENCH_PATH_CAP, "%s/server.crt", certs);
    snprintf(paths[1], BENCH_PATH_CAP, "%s/server.key", certs);
    snprintf(paths[2], BENCH_PATH_CAP, "%s/ca.crt", certs);
    const char *a[] = {
        "--port",         "0",      "--tls-port",         port,     "--tls-cert-file",    paths[0],
        "--tls-key-file", paths[1], "--tls-ca-cert-file", paths[2], "--tls-auth-clients", "no"};
    memcpy(args, a, sizeof(a));
}

/* Where and how a server listens. */
typedef struct listen_spec {
    int port;
    const char *certs; /* TLS-only with these certificates; NULL for plain */
    const char *netns; /* run inside this network namespace (ip netns exec); NULL for ours */
    const char *bind;
    const char *const *extra; /* more valkey-server arguments, NULL-terminated; NULL for none */
} listen_spec;

/* --pin: the CPUs the servers run on (every one but CPU 0); empty when not pinning. */
static cpu_set_t g_server_cpus;
static int g_pinned;

int server_pin(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 2 || n > CPU_SETSIZE) {
        fprintf(stderr, "vmux-bench: --pin needs 2 CPUs or more (%ld online)\n", n);
        return -1;
    }
    cpu_set_t client;
    CPU_ZERO(&client);
    CPU_SET(0, &client);
    CPU_ZERO(&g_server_cpus);
    for (long i = 1; i < n; i++)
        CPU_SET((int)i, &g_server_cpus);
    if (sched_setaffinity(0, sizeof(client), &client) != 0) {
        fprintf(stderr, "vmux-bench: --pin: sched_setaffinity: %s\n", strerror(errno));
        return -1;
    }
    g_pinned = 1;
    return 0;
}

static void exec_server(const listen_spec *ls, pid_t parent)
{
    if (g_pinned && sched_setaffinity(0, sizeof(g_server_cpus), &g_server_cpus) != 0)
        _exit(127);
    /* Die with the bench even if it is killed by a signal no handler sees. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0)
        dup2(devnull, STDOUT_FILENO);
    char portstr[16], paths[3][BENCH_PATH_CAP];
    snprintf(portstr, sizeof(portstr), "%d", ls->port);
    /* ip netns exec execs the server in its own place: the pid stays the one we track. */
    const char *argv[40] = {"ip", "netns", "exec", ls->netns};
    const char **a = ls->netns ? argv + 4 : argv;
    const char *common[] = {"valkey-server", "--bind", ls->bind, "--save", "",
                            "--appendonly",  "no"};
    memcpy(a, common, sizeof(common));
    const char **listen = a + 7;
    if (ls->certs) {
        tls_listen_args(ls->certs, portstr, paths, listen);
    } else {
        listen[0] = "--port";
        listen[1] = portstr;
    }
    if (ls->netns) {
        /* Not loopback, so protected mode would refuse the bench; the namespace's only link is
         * the veth pair to this host. */
        listen[2] = "--protected-mode";
        listen[3] = "no";
    }
    const char **end = listen;
    while (*end)
        end++;
    for (int i = 0; ls->extra && ls->extra[i] && end < argv + 39; i++)
        *end++ = ls->extra[i];
    execvp(argv[0], (char *const *)argv);
    fprintf(stderr, "vmux-bench: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static int spawn_server(const listen_spec *ls)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        exec_server(ls, parent);
    if (pid > 0)
        track_pid(pid, 0);
    return (int)pid;
}

int server_start(bench_server *s, const bench_opts *o, const char *certs_dir)
{
    return server_start_args(s, o, certs_dir, NULL, NULL);
}

int server_start_args(bench_server *s, const bench_opts *o, const char *certs_dir,
                      server_args_fn args, void *arg)
{
    bench_opts probe = *o;
    snprintf(probe.host, sizeof(probe.host), "127.0.0.1");
    s->pid = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        int port = server_free_port();
        if (port <= 0) {
            fprintf(stderr, "vmux-bench: no free loopback port: %s\n", strerror(errno));
            return -1;
        }
        listen_spec ls = {.port = port, .certs = certs_dir, .bind = "127.0.0.1"};
        if (args && (ls.extra = args(port, arg)) == NULL)
            return -1;
        int pid = spawn_server(&ls);
        if (pid < 0) {
            fprintf(stderr, "vmux-bench: fork: %s\n", strerror(errno));
            return -1;
        }
        s->pid = pid;
        s->port = port;
        probe.port = port;
        int rc = server_wait_ping(&probe, pid, 10.0);
        if (rc == 0)
            return 0;
        if (rc == -2) {
            s->pid = 0; /* already reaped: its pid may belong to someone else now */
            track_pid(0, pid);
        }
        server_stop(s);
    }
    fprintf(stderr, "vmux-bench: valkey-server%s did not come up (is it installed%s?)\n",
            certs_dir ? " (TLS)" : "", certs_dir ? ", with TLS support" : "");
    return -1;
}

int server_start_netns(bench_server *s, const bench_opts *o, const char *netns)
{
    listen_spec ls = {.port = o->port, .netns = netns, .bind = o->host};
    s->pid = spawn_server(&ls);
    if (s->pid < 0) {
        fprintf(stderr, "vmux-bench: fork: %s\n", strerror(errno));
        s->pid = 0;
        return -1;
    }
    s->port = o->port;
    int rc = server_wait_ping(o, s->pid, 10.0);
    if (rc == -2) {
        track_pid(0, s->pid);
        s->pid = 0;
    }
    if (rc != 0) {
        server_stop(s);
        fprintf(stderr, "vmux-bench: valkey-server in namespace %s did not come up\n", netns);
    }
    return rc == 0 ? 0 : -1;
}

/* Returns 1 when the child has exited (and reaps it), 0 while it runs. */
static int reaped(int pid)
{
    int status;
    pid_t r = waitpid((pid_t)pid, &status, WNOHANG);
    return r == (pid_t)pid || (r < 0 && errno == ECHILD);
}

void server_stop(bench_server *s)
{
    if (s->pid <= 0)
        return;
    /* From here on PR_SET_PDEATHSIG, not the signal handler, covers an interrupted stop. */
    track_pid(0, s->pid);
    kill((pid_t)s->pid, SIGTERM);
    uint64_t deadline = now_ns() + 5000000000u;
    while (!reaped(s->pid)) {
        if (now_ns() > deadline) {
            kill((pid_t)s->pid, SIGKILL);
            waitpid((pid_t)s->pid, NULL, 0);
            break;
        }
        sleep_ms(10);
    }
    s->pid = 0;
}

static int plain_ping_once(const char *host, int port, char *err, size_t errlen)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    int ok = 0;
    if (c && !c->err && redisSetTimeout(c, tv) == REDIS_OK) {
        redisReply *r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
        if (r)
            freeReplyObject(r);
    }
    if (!ok)
        snprintf(err, errlen, "%s", c && c->err ? c->errstr : "no PONG");
    if (c)
        redisFree(c);
    return ok;
}

int server_wait_ping(const bench_opts *o, int pid, double timeout_s)
{
    uint64_t deadline = now_ns() + (uint64_t)(timeout_s * 1e9);
    char err[256] = "";
    for (;;) {
        if (pid > 0 && reaped(pid)) {
            fprintf(stderr, "vmux-bench: valkey-server on port %d exited at start\n", o->port);
            return -2;
        }
        if (o->tls ? tls_ping_once(o, err, sizeof(err))
                   : plain_ping_once(o->host, o->port, err, sizeof(err)))
            return 0;
        if (now_ns() > deadline) {
            fprintf(stderr, "vmux-bench: %s:%d did not answer PING%s within %.0f s: %s\n", o->host,
                    o->port, o->tls ? " over TLS" : "", timeout_s, err);
            return -1;
        }
        sleep_ms(20);
    }
}

static int prefill_batch(redisContext *c, int from, int to)
{
    for (int i = from; i < to; i++)
        redisAppendCommand(c, "SET key:%05d %b", i, bench_value, (size_t)BENCH_VALUE_LEN);
    for (int i = from; i < to; i++) {
        void *reply = NULL;
        if (redisGetReply(c, &reply) != REDIS_OK)
            return -1;
        int bad = ((redisReply *)reply)->type == REDIS_REPLY_ERROR;
        freeReplyObject(reply);
        if (bad)
            return -1;
    }
    return 0;
}

int server_prefill(const bench_opts *o)
{
    if (o->tls || o->cluster)
        return tls_prefill(o); /* through vmux, which routes each key to its node */
    const char *host = o->host;
    int port = o->port;
    redisContext *c = redisConnect(host, port);
    int rc = c && !c->err ? 0 : -1;
    for (int i = 0; rc == 0 && i < BENCH_KEYSPACE; i += 1000)
        rc = prefill_batch(c, i, i + 1000 < BENCH_KEYSPACE ? i + 1000 : BENCH_KEYSPACE);
    if (rc != 0)
        fprintf(stderr, "vmux-bench: prefill of %s:%d failed: %s\n", host, port,
                c && c->err ? c->errstr : "error reply");
    if (c)
        redisFree(c);
    return rc;
}
