/*
 * The throwaway valkey-server: started on a free loopback port, awaited with a deadline,
 * prefilled, and killed by its pid at the end, on SIGINT/SIGTERM, and (through
 * PR_SET_PDEATHSIG) when the bench itself dies.
 */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t g_server_pid;

static void on_fatal_signal(int sig)
{
    if (g_server_pid > 0)
        kill((pid_t)g_server_pid, SIGKILL);
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

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Asks the kernel for a free loopback port. Another process could take it before the server
 * binds it; server_start() then sees the server exit and tries another port. */
static int free_port(void)
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

static void exec_server(int port, pid_t parent)
{
    /* Die with the bench even if it is killed by a signal no handler sees. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0)
        dup2(devnull, STDOUT_FILENO);
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    execlp("valkey-server", "valkey-server", "--bind", "127.0.0.1", "--port", portstr, "--save", "",
           "--appendonly", "no", (char *)NULL);
    fprintf(stderr, "vmux-bench: cannot run valkey-server: %s\n", strerror(errno));
    _exit(127);
}

static int spawn_server(int port)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        exec_server(port, parent);
    if (pid > 0)
        g_server_pid = pid;
    return (int)pid;
}

int server_start(bench_server *s)
{
    s->pid = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        int port = free_port();
        if (port <= 0) {
            fprintf(stderr, "vmux-bench: no free loopback port: %s\n", strerror(errno));
            return -1;
        }
        int pid = spawn_server(port);
        if (pid < 0) {
            fprintf(stderr, "vmux-bench: fork: %s\n", strerror(errno));
            return -1;
        }
        s->pid = pid;
        s->port = port;
        int rc = server_wait_ping("127.0.0.1", port, pid, 10.0);
        if (rc == 0)
            return 0;
        if (rc == -2) {
            s->pid = 0; /* already reaped: its pid may belong to someone else now */
            g_server_pid = 0;
        }
        server_stop(s);
    }
    fprintf(stderr, "vmux-bench: valkey-server did not come up (is it installed?)\n");
    return -1;
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
    g_server_pid = 0;
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

static int ping_once(const char *host, int port)
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
    if (c)
        redisFree(c);
    return ok;
}

int server_wait_ping(const char *host, int port, int pid, double timeout_s)
{
    uint64_t deadline = now_ns() + (uint64_t)(timeout_s * 1e9);
    for (;;) {
        if (pid > 0 && reaped(pid)) {
            fprintf(stderr, "vmux-bench: valkey-server on port %d exited at start\n", port);
            return -2;
        }
        if (ping_once(host, port))
            return 0;
        if (now_ns() > deadline) {
            fprintf(stderr, "vmux-bench: %s:%d did not answer PING within %.0f s\n", host, port,
                    timeout_s);
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

int server_prefill(const char *host, int port)
{
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
