/*
 * The network of the netlat rows: a network namespace "vmux-bench-PID" joined to the bench's
 * own by a veth pair on a /30 of 198.18.0.0/15 (RFC 2544's range for benchmarks), with netem
 * delay on both ends where the kernel has netem.
 *
 * A janitor process removes all of it (the processes inside the namespace, the veth pair, the
 * namespace) when the bench closes its end of a pipe: at the end of the rows, and also when the
 * bench exits or is killed in any way, since the kernel closes the pipe then too. It has its
 * own session, so a Ctrl-C aimed at the bench does not reach it.
 */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NETNS_PREFIX "vmux-bench-"
#define NETNS_RUN_DIR "/run/netns"

/*
 * Runs argv (argv[0] looked up on PATH) and waits for it. Its stdout and stderr land in out
 * (NUL-terminated, cut to cap; NULL to discard them). Returns its exit status, or -1.
 */
static int run_cmd(const char *const *argv, char *out, size_t cap)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        dup2(p[1], STDERR_FILENO);
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "cannot run %s: %s", argv[0], strerror(errno));
        _exit(127);
    }
    close(p[1]);
    size_t len = 0;
    char sink[256];
    for (;;) {
        char *dst = out && len + 1 < cap ? out + len : sink;
        size_t room = out && len + 1 < cap ? cap - 1 - len : sizeof(sink);
        ssize_t n = read(p[0], dst, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (dst != sink)
            len += (size_t)n;
    }
    close(p[0]);
    if (out && cap)
        out[len] = '\0';
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs argv; on failure writes "CMD: OUTPUT" to why. Returns 0 or -1. */
static int run_or_say(const char *const *argv, char *why, size_t whylen)
{
    char out[512];
    int rc = run_cmd(argv, out, sizeof(out));
    if (rc == 0)
        return 0;
    size_t len = strlen(out);
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' '))
        out[--len] = '\0';
    int w = snprintf(why, whylen, "'");
    for (int i = 0; argv[i] && w >= 0 && (size_t)w < whylen; i++)
        w += snprintf(why + w, whylen - (size_t)w, "%s%s", i ? " " : "", argv[i]);
    if (w >= 0 && (size_t)w < whylen)
        snprintf(why + w, whylen - (size_t)w, "' failed: %s", rc < 0 ? "cannot run it" : out);
    return -1;
}

/* SIGKILLs every process inside namespace name (ip netns pids lists them). */
static void kill_inside(const char *name)
{
    char out[4096];
    const char *argv[] = {"ip", "netns", "pids", name, NULL};
    if (run_cmd(argv, out, sizeof(out)) != 0)
        return;
    char *save = NULL;
    for (char *tok = strtok_r(out, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
        long pid = strtol(tok, NULL, 10);
        if (pid > 1)
            kill((pid_t)pid, SIGKILL);
    }
}

/* Removes namespace name and veth host_if, whatever is left of them; quietly. */
static void remove_all(const char *name, const char *host_if)
{
    kill_inside(name);
    const char *link[] = {"ip", "link", "del", host_if, NULL};
    run_cmd(link, NULL, 0);
    const char *ns[] = {"ip", "netns", "del", name, NULL};
    run_cmd(ns, NULL, 0);
}

static void names_for(long pid, char *name, size_t namecap, char *host_if, char *ns_if)
{
    snprintf(name, namecap, NETNS_PREFIX "%ld", pid);
    snprintf(host_if, 16, "vmb%ldh", pid % 100000000);
    if (ns_if)
        snprintf(ns_if, 16, "vmb%ldn", pid % 100000000);
}

/* Removes what earlier runs left behind: namespaces of ours whose bench is gone. */
static void sweep_stale(void)
{
    DIR *d = opendir(NETNS_RUN_DIR);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, NETNS_PREFIX, strlen(NETNS_PREFIX)) != 0)
            continue;
        char *end = NULL;
        long pid = strtol(e->d_name + strlen(NETNS_PREFIX), &end, 10);
        if (*end != '\0' || pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* its bench (or a process with its pid) still runs */
        char name[32], host_if[16];
        names_for(pid, name, sizeof(name), host_if, NULL);
        remove_all(name, host_if);
    }
    closedir(d);
}

/* The janitor: waits for EOF on fd, then removes n's namespace and veth. Never returns. */
static void janitor_main(int fd, const bench_netns *n)
{
    setsid();
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGTERM, &sa, NULL);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0)
        dup2(devnull, STDOUT_FILENO);
    char c;
    ssize_t r;
    while ((r = read(fd, &c, 1)) > 0 || (r < 0 && errno == EINTR)) {
    }
    remove_all(n->name, n->host_if);
    _exit(0);
}

/* Forks the janitor for n; 0, or -1 with the reason in why. */
static int start_janitor(bench_netns *n, char *why, size_t whylen)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        snprintf(why, whylen, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(p[1]);
        janitor_main(p[0], n);
    }
    close(p[0]);
    if (pid < 0) {
        close(p[1]);
        snprintf(why, whylen, "fork: %s", strerror(errno));
        return -1;
    }
    n->janitor_pid = (int)pid;
    n->janitor_fd = p[1];
    return 0;
}

/* The /30 of this pid: 198.18.B.(4k+1) on the bench's side, 198.18.B.(4k+2) inside. */
static void addresses_for(long pid, bench_netns *n)
{
    unsigned block = (unsigned)(pid % 16384);
    unsigned third = block / 64, fourth = (block % 64) * 4;
    snprintf(n->host_addr, sizeof(n->host_addr), "198.18.%u.%u", third, fourth + 1);
    snprintf(n->ns_addr, sizeof(n->ns_addr), "198.18.%u.%u", third, fourth + 2);
}

static int build(const bench_netns *n, char *why, size_t whylen)
{
    char host_cidr[40], ns_cidr[40];
    snprintf(host_cidr, sizeof(host_cidr), "%s/30", n->host_addr);
    snprintf(ns_cidr, sizeof(ns_cidr), "%s/30", n->ns_addr);
    const char *steps[][12] = {
        {"ip", "netns", "add", n->name},
        {"ip", "link", "add", n->host_if, "type", "veth", "peer", "name", n->ns_if, "netns",
         n->name},
        {"ip", "addr", "add", host_cidr, "dev", n->host_if},
        {"ip", "link", "set", n->host_if, "up"},
        {"ip", "-n", n->name, "addr", "add", ns_cidr, "dev", n->ns_if},
        {"ip", "-n", n->name, "link", "set", n->ns_if, "up"},
        {"ip", "-n", n->name, "link", "set", "lo", "up"},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (run_or_say(steps[i], why, whylen) != 0)
            return -1;
    return 0;
}

int netns_create(bench_netns *n, char *why, size_t whylen)
{
    long pid = (long)getpid();
    memset(n, 0, sizeof(*n));
    n->janitor_fd = -1;
    names_for(pid, n->name, sizeof(n->name), n->host_if, n->ns_if);
    addresses_for(pid, n);
    sweep_stale();
    if (start_janitor(n, why, whylen) != 0)
        return -1;
    if (build(n, why, whylen) != 0) {
        netns_destroy(n);
        return -1;
    }
    return 0;
}

int netns_set_netem(bench_netns *n, int delay_us, char *why, size_t whylen)
{
    char delay[24];
    snprintf(delay, sizeof(delay), "%dus", delay_us);
    /* limit: netem's default queue of 1000 packets could drop at full pipelined speed. */
    const char *host[] = {"tc",    "qdisc", "replace", "dev",   n->host_if, "root",
                          "netem", "limit", "100000",  "delay", delay,      NULL};
    const char *inside[] = {"ip",      "netns", "exec",   n->name, "tc",    "qdisc",
                            "replace", "dev",   n->ns_if, "root",  "netem", "limit",
                            "100000",  "delay", delay,    NULL};
    if (run_or_say(host, why, whylen) != 0)
        return -1;
    if (run_or_say(inside, why, whylen) != 0) {
        const char *undo[] = {"tc", "qdisc", "del", "dev", n->host_if, "root", NULL};
        run_cmd(undo, NULL, 0); /* no netem on one end only */
        return -1;
    }
    n->netem = true;
    return 0;
}

void netns_destroy(bench_netns *n)
{
    if (n->janitor_fd < 0)
        return;
    close(n->janitor_fd); /* the janitor sees EOF and removes everything */
    n->janitor_fd = -1;
    while (waitpid((pid_t)n->janitor_pid, NULL, 0) < 0 && errno == EINTR) {
    }
    n->janitor_pid = 0;
}

void netns_forget_in_child(bench_netns *n)
{
    if (n->janitor_fd >= 0)
        close(n->janitor_fd);
    n->janitor_fd = -1;
}
