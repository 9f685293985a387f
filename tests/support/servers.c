/*
 * Servers a test starts, kills and restarts itself; see servers.h.
 *
 * Each server is a valkey-server child on 127.0.0.1 with no persistence, its output going to
 * <dir>/valkey.log. Every live child is also listed in a registry that an atexit handler
 * empties with SIGKILL, so a test that fails (cmocka longjmps out of it, skipping its cleanup)
 * leaves no server behind; a child started from the main thread also dies with the test
 * process (PR_SET_PDEATHSIG), even when CTest kills the test on its timeout.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "servers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <hiredis/hiredis.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "testutil.h"

/*
 * Even ports in 22000..31998: below Linux's default ephemeral range (32768..60999), from which
 * connect() takes source ports, so no client connection of another test can hold the port of a
 * server killed to be restarted on it (a full run saw "port 49910 stays taken" when these ports
 * were in 45000..60000), and a client reconnecting to it cannot connect to itself. A cluster
 * node also listens on port + 10000 (its bus): those come from 22000..22766, buses 32000..32766.
 * The fixtures' servers (valkey-fixture.sh) take 10000..21999.
 */
#define PORT_MIN 22000
#define PORT_SPAN 5000
#define PORT_BUS_SPAN 384
#define PORT_TRIES 20
#define START_DEADLINE_MS 10000
#define STOP_DEADLINE_MS 10000
#define MAX_ARGS 64
#define MAX_LIVE 64

/* ---- registry of live children, for the atexit handler ---- */

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static pid_t reg_pids[MAX_LIVE];
static char reg_dirs[MAX_LIVE][256];

static void remove_dir(const char *dir);

static void reg_kill_all(void)
{
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < MAX_LIVE; i++) {
        if (reg_pids[i] > 0) {
            kill(reg_pids[i], SIGKILL);
            while (waitpid(reg_pids[i], NULL, 0) < 0 && errno == EINTR) {
            }
            reg_pids[i] = 0;
        }
    }
    for (int i = 0; i < MAX_LIVE; i++) {
        if (reg_dirs[i][0] != '\0')
            remove_dir(reg_dirs[i]);
        reg_dirs[i][0] = '\0';
    }
    pthread_mutex_unlock(&reg_lock);
}

static void reg_init(void)
{
    atexit(reg_kill_all);
}

static void reg_add(pid_t pid)
{
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < MAX_LIVE; i++) {
        if (reg_pids[i] == 0) {
            reg_pids[i] = pid;
            break;
        }
    }
    pthread_mutex_unlock(&reg_lock);
}

static void reg_remove(pid_t pid)
{
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < MAX_LIVE; i++)
        if (reg_pids[i] == pid)
            reg_pids[i] = 0;
    pthread_mutex_unlock(&reg_lock);
}

/* Directories are listed from creation to vt_server_stop(), across kills and restarts. */
static void reg_dir(const char *dir, bool add)
{
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < MAX_LIVE; i++) {
        if (add && reg_dirs[i][0] == '\0') {
            snprintf(reg_dirs[i], sizeof(reg_dirs[i]), "%s", dir);
            break;
        }
        if (!add && strcmp(reg_dirs[i], dir) == 0)
            reg_dirs[i][0] = '\0';
    }
    pthread_mutex_unlock(&reg_lock);
}

/* ---- small helpers ---- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Reaps pid if it has exited; returns true when it is gone. */
static bool reaped(pid_t pid)
{
    int st;
    pid_t r;
    while ((r = waitpid(pid, &st, WNOHANG)) < 0 && errno == EINTR) {
    }
    return r == pid || (r < 0 && errno == ECHILD);
}

static void reap_blocking(pid_t pid)
{
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

/* ---- the child ---- */

/*
 * Fills argv (strings owned by s or static, plus the port text in portbuf) for exec. Returns
 * false when there are too many arguments.
 */
static bool build_argv(const vt_server *s, char *portbuf, size_t portlen, const char **argv,
                       const char *conf)
{
    static const char *const fixed[] = {"--bind",       "127.0.0.1", "--save",      "",
                                        "--appendonly", "no",        "--daemonize", "no"};
    int n = 0;
    snprintf(portbuf, portlen, "%d", s->port);
    argv[n++] = "valkey-server";
    if (s->sentinel) {
        argv[n++] = conf;
        argv[n++] = "--sentinel";
    }
    argv[n++] = "--port";
    argv[n++] = portbuf;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        argv[n++] = fixed[i];
    argv[n++] = "--dir";
    argv[n++] = s->dir;
    for (int i = 0; s->extra[i] != NULL; i++) {
        if (n >= MAX_ARGS - 1)
            return false;
        argv[n++] = s->extra[i];
    }
    argv[n] = NULL;
    return true;
}

/* Closes every descriptor above stderr, so the server holds none of the test's sockets. */
static void close_inherited(int maxfd)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0)
        return;
#endif
    for (int fd = 3; fd < maxfd; fd++)
        close(fd);
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void child_exec(const char *exe, const char *const *argv, const char *logpath, pid_t parent,
                       bool pdeath, int maxfd)
{
    if (pdeath) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
    }
    int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0)
        dup2(nul, 0);
    close_inherited(maxfd);
    execv(exe, (char *const *)argv);
    _exit(127);
}

/* Finds valkey-server on PATH (before fork: the child may not allocate). */
static bool find_server(char *out, size_t len)
{
    const char *path = getenv("PATH");
    if (path == NULL || *path == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path != '\0') {
        size_t n = strcspn(path, ":");
        snprintf(out, len, "%.*s/valkey-server", (int)n, path);
        if (n > 0 && access(out, X_OK) == 0)
            return true;
        path += n + (path[n] == ':');
    }
    fprintf(stderr, "vt_server: valkey-server not found on PATH\n");
    return false;
}

/* Forks and execs the server on s->port; sets s->pid. Returns 0 or -1. */
static int spawn(vt_server *s)
{
    const char *argv[MAX_ARGS];
    char portbuf[16], logpath[300], exe[512], conf[300];
    if (!find_server(exe, sizeof(exe)))
        return -1;
    snprintf(conf, sizeof(conf), "%s/sentinel.conf", s->dir);
    if (s->sentinel && access(conf, F_OK) != 0) {
        FILE *f = fopen(conf, "w"); /* Sentinel wants a file it can rewrite */
        if (f == NULL) {
            fprintf(stderr, "vt_server: cannot create %s: %s\n", conf, strerror(errno));
            return -1;
        }
        fclose(f);
    }
    if (!build_argv(s, portbuf, sizeof(portbuf), argv, conf)) {
        fprintf(stderr, "vt_server: too many arguments\n");
        return -1;
    }
    snprintf(logpath, sizeof(logpath), "%s/valkey.log", s->dir);
    struct rlimit rl;
    int maxfd =
        getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
    pid_t parent = getpid();
    /* The death signal follows the thread that forked: only the main thread lives as long as
     * the process, so only its children can use it. */
    bool pdeath = (pid_t)syscall(SYS_gettid) == parent;
    pthread_once(&reg_once, reg_init);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "vt_server: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0)
        child_exec(exe, argv, logpath, parent, pdeath, maxfd);
    s->pid = pid;
    reg_add(pid);
    return 0;
}

/* Whether the server on port answers PING and is the process pid (INFO's process_id). */
static bool answers(int port, pid_t pid)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    bool ok = false;
    if (c != NULL && c->err == 0 && redisSetTimeout(c, tv) == REDIS_OK) {
        redisReply *r = redisCommand(c, "PING");
        bool pong = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
        freeReplyObject(r);
        r = pong ? redisCommand(c, "INFO server") : NULL;
        if (r != NULL && r->type == REDIS_REPLY_STRING) {
            char want[48];
            snprintf(want, sizeof(want), "process_id:%d\r", (int)pid);
            ok = strstr(r->str, want) != NULL;
        }
        freeReplyObject(r);
    }
    redisFree(c);
    return ok;
}

/*
 * Waits until the child answers on its port. Returns 0; 1 when the child exited (the port was
 * taken, most likely); -1 on the deadline (the child is killed).
 */
static int wait_up(vt_server *s)
{
    uint64_t deadline = now_ms() + START_DEADLINE_MS;
    while (now_ms() < deadline) {
        if (reaped(s->pid)) {
            reg_remove(s->pid);
            s->pid = 0;
            return 1;
        }
        if (answers(s->port, s->pid))
            return 0;
        pause_ms(10);
    }
    fprintf(stderr, "vt_server: no PONG from port %d within %d ms (see %s/valkey.log)\n", s->port,
            START_DEADLINE_MS, s->dir);
    vt_server_kill(s);
    return -1;
}

/* Whether a listener could bind the port now (as valkey-server does, with SO_REUSEADDR). */
static bool port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

static void free_extra(vt_server *s)
{
    for (int i = 0; i < 32 && s->extra[i] != NULL; i++) {
        free(s->extra[i]);
        s->extra[i] = NULL;
    }
}

static int copy_extra(vt_server *s, const char *const *extra)
{
    int n = 0;
    for (; extra != NULL && extra[n] != NULL; n++) {
        if (n >= 31 || (s->extra[n] = strdup(extra[n])) == NULL) {
            fprintf(stderr, "vt_server: too many extra arguments, or out of memory\n");
            free_extra(s);
            return -1;
        }
    }
    s->extra[n] = NULL;
    return 0;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char path[600];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Whether dir names a server directory whose test process is gone (killed, so no atexit). */
static bool abandoned(const char *dir)
{
    char path[640], buf[32] = ""; /* dir is at most 600 bytes */
    snprintf(path, sizeof(path), "%s/owner", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    bool got = fgets(buf, sizeof(buf), f) != NULL;
    fclose(f);
    long pid = got ? strtol(buf, NULL, 10) : 0;
    return pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Removes the directories that tests killed before their cleanup left in base. */
static void sweep(const char *base)
{
    DIR *d = opendir(base);
    if (d == NULL)
        return;
    struct dirent *e;
    char path[600];
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "vmux-server-", 12) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
        if (abandoned(path))
            remove_dir(path);
    }
    closedir(d);
}

static int make_dir(vt_server *s)
{
    const char *tmp = getenv("TMPDIR");
    const char *base = tmp != NULL && *tmp != '\0' && strlen(tmp) < 200 ? tmp : "/tmp";
    sweep(base);
    snprintf(s->dir, sizeof(s->dir), "%s/vmux-server-XXXXXX", base);
    if (mkdtemp(s->dir) == NULL) {
        fprintf(stderr, "vt_server: mkdtemp %s: %s\n", s->dir, strerror(errno));
        s->dir[0] = '\0';
        return -1;
    }
    char path[300];
    snprintf(path, sizeof(path), "%s/owner", s->dir);
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fprintf(f, "%d\n", (int)getpid());
        fclose(f);
    }
    pthread_once(&reg_once, reg_init);
    reg_dir(s->dir, true);
    return 0;
}

/* Spawns on s->port and waits; retries while the port stays taken, until the deadline. */
static int start_on_port(vt_server *s, int deadline_ms)
{
    uint64_t deadline = now_ms() + (uint64_t)deadline_ms;
    for (;;) {
        if (spawn(s) != 0)
            return -1;
        int rc = wait_up(s);
        if (rc <= 0)
            return rc;
        if (now_ms() >= deadline) {
            fprintf(stderr, "vt_server: port %d stays taken (see %s/valkey.log)\n", s->port,
                    s->dir);
            return -1;
        }
        pause_ms(50);
    }
}

/* Picks random ports until a server comes up on one. */
/* Shows the end of the server's log (why a child exited at start). */
static void print_log_tail(const vt_server *s)
{
    char path[300], line[512], last[8][512];
    snprintf(path, sizeof path, "%s/valkey.log", s->dir);
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        snprintf(last[n++ % 8], sizeof last[0], "%s", line);
    for (int i = n > 8 ? n - 8 : 0; i < n; i++)
        fprintf(stderr, "  %s", last[i % 8]);
    if (f != NULL)
        fclose(f);
}

/* Whether the server runs as a cluster node: it then also listens on port + 10000 (its bus). */
static bool cluster_node(const vt_server *s)
{
    for (int i = 0; s->extra[i] != NULL; i++)
        if (strcmp(s->extra[i], "--cluster-enabled") == 0)
            return true;
    return false;
}

static int start_on_free_port(vt_server *s)
{
    unsigned seed = (unsigned)now_ms() ^ ((unsigned)getpid() << 16) ^ (unsigned)(uintptr_t)s;
    bool bus = cluster_node(s);
    for (int i = 0; i < PORT_TRIES; i++) {
        s->port = PORT_MIN + 2 * (int)(rand_r(&seed) % (bus ? PORT_BUS_SPAN : PORT_SPAN));
        if (!port_free(s->port) || (bus && !port_free(s->port + 10000)))
            continue;
        if (spawn(s) != 0)
            return -1;
        int rc = wait_up(s);
        if (rc <= 0)
            return rc;
    }
    fprintf(stderr, "vt_server: no free port found in %d tries; the last attempt's log:\n",
            PORT_TRIES);
    print_log_tail(s);
    return -1;
}

static int server_start(vt_server *s, int port, const char *const *extra, bool sentinel)
{
    memset(s, 0, sizeof(*s));
    s->sentinel = sentinel;
    if (port < 0 || port > 65535 || copy_extra(s, extra) != 0)
        return -1;
    if (make_dir(s) != 0) {
        free_extra(s);
        return -1;
    }
    s->port = port;
    int rc = port != 0 ? start_on_port(s, START_DEADLINE_MS) : start_on_free_port(s);
    if (rc != 0) {
        reg_dir(s->dir, false);
        remove_dir(s->dir);
        free_extra(s);
        s->port = 0;
        return -1;
    }
    return 0;
}

int vt_server_start(vt_server *s, int port, const char *const *extra)
{
    return server_start(s, port, extra, false);
}

vt_server *vt_server_new(const char *const *extra)
{
    vt_server *s = calloc(1, sizeof(*s));
    if (s == NULL || vt_server_start(s, 0, extra) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

int vt_sentinel_start(vt_server *s, int port, const char *const *extra)
{
    return server_start(s, port, extra, true);
}

void vt_server_kill(vt_server *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    reap_blocking(s->pid);
    reg_remove(s->pid);
    s->pid = 0;
    /* The listener closes with the process; a client's connect in progress may hold the port
     * as its source for a moment, so wait (bounded) until a listener could bind it again. */
    uint64_t deadline = now_ms() + STOP_DEADLINE_MS;
    while (!port_free(s->port) && now_ms() < deadline)
        pause_ms(5);
}

int vt_server_restart(vt_server *s)
{
    if (s->pid > 0)
        vt_server_kill(s);
    return start_on_port(s, START_DEADLINE_MS);
}

void vt_server_stop(vt_server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        uint64_t deadline = now_ms() + STOP_DEADLINE_MS;
        while (!reaped(s->pid) && now_ms() < deadline)
            pause_ms(5);
        if (!reaped(s->pid)) {
            kill(s->pid, SIGKILL);
            reap_blocking(s->pid);
        }
        reg_remove(s->pid);
        s->pid = 0;
    }
    if (s->dir[0] != '\0') {
        reg_dir(s->dir, false);
        remove_dir(s->dir);
    }
    s->dir[0] = '\0';
    free_extra(s);
}

char *vt_server_conf(const vt_server *s, const char *extra)
{
    bool more = extra != NULL && *extra != '\0';
    size_t n = 32 + (more ? strlen(extra) : 0);
    char *out = malloc(n);
    if (out != NULL)
        snprintf(out, n, "127.0.0.1:%d%s%s", s->port, more ? "," : "", more ? extra : "");
    return out;
}

struct vmux *vt_server_open(const vt_server *s, const char *extra)
{
    char *conf = vt_server_conf(s, extra);
    assert_non_null(conf);
    struct vmux *m = vt_open_conf(conf);
    free(conf);
    return m;
}

int vt_refusing_port(int *fd)
{
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (*fd >= 0 && bind(*fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(*fd, (struct sockaddr *)&a, &len) == 0)
        return ntohs(a.sin_port);
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
    return -1;
}

int vt_free_port(void)
{
    int fd, port = vt_refusing_port(&fd);
    if (fd >= 0)
        close(fd);
    return port;
}
