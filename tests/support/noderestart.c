/* Restarting a fixture's valkey-server with its data and identity; see noderestart.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* posix_spawn_file_actions_addclosefrom_np */
#endif
#include "noderestart.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <hiredis/hiredis.h>

#include "node.h"
#include "testutil.h"

enum { STOP_DEADLINE_MS = 10000, START_DEADLINE_MS = 15000, POLL_MS = 10, MAX_ARGS = 64 };

extern char **environ;

/* What the server was started with: everything valkey-fixture.sh's start and start_cluster
 * pass. */
static const char *const params[] = {
    "dir",
    "dbfilename",
    "pidfile",
    "logfile",
    "bind",
    "port",
    "cluster-enabled",
    "cluster-config-file",
    "cluster-node-timeout",
    "cluster-require-full-coverage",
    "repl-diskless-sync-delay",
    "repl-ping-replica-period",
    "save",
    "appendonly",
};
enum { NPARAMS = sizeof params / sizeof params[0] };

/* A restart in progress: the settings read and the argument vector built from them. */
struct restart {
    int port;
    long pid;
    char *values[NPARAMS];
    char options[NPARAMS][48]; /* "--dir"... */
    const char *argv[MAX_ARGS];
    int argc;
};

static redisContext *connect_node(int port, int timeout_ms)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c != NULL && c->err == 0 && redisSetTimeout(c, tv) == REDIS_OK)
        return c;
    redisFree(c);
    return NULL;
}

/* The value of one configuration parameter (malloc'ed), or NULL with the reason on stderr. */
static char *config_get(redisContext *c, int port, const char *name)
{
    redisReply *r = redisCommand(c, "CONFIG GET %s", name);
    char *value = NULL;
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[1]->type == REDIS_REPLY_STRING)
        value = strdup(r->element[1]->str);
    else
        fprintf(stderr, "vt_node_restart: 127.0.0.1:%d: CONFIG GET %s: %s\n", port, name,
                r == NULL                      ? c->errstr
                : r->type == REDIS_REPLY_ERROR ? r->str
                                               : "no value");
    freeReplyObject(r);
    return value;
}

/* The process id in INFO server, or -1. */
static long server_pid(redisContext *c)
{
    redisReply *r = redisCommand(c, "INFO server");
    long pid =
        r != NULL && r->type == REDIS_REPLY_STRING ? (long)vt_info_field(r->str, "process_id") : -1;
    freeReplyObject(r);
    return pid;
}

/* The log file's path, for messages. */
static const char *logfile(const struct restart *r)
{
    for (int i = 0; i < NPARAMS; i++)
        if (strcmp(params[i], "logfile") == 0 && r->values[i] != NULL)
            return r->values[i];
    return "the server's log";
}

/* Reads the settings and the process id of the server at r->port. Returns 0 or -1. */
static int read_settings(struct restart *r)
{
    redisContext *c = connect_node(r->port, 5000);
    if (c == NULL) {
        fprintf(stderr, "vt_node_restart: cannot connect to 127.0.0.1:%d\n", r->port);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < NPARAMS && rc == 0; i++)
        if ((r->values[i] = config_get(c, r->port, params[i])) == NULL)
            rc = -1;
    if (rc == 0 && (r->pid = server_pid(c)) <= 1) {
        fprintf(stderr, "vt_node_restart: 127.0.0.1:%d: no process_id in INFO server\n", r->port);
        rc = -1;
    }
    redisFree(c);
    return rc;
}

/*
 * Appends "--<param i>" and its value. valkey-server quotes each command-line value as one word,
 * so a list (bind "127.0.0.1 ::1", save "3600 1 300 100") goes as separate arguments, cut in
 * place, and an empty one (save "") as one empty argument.
 */
static int add_param(struct restart *r, int i)
{
    snprintf(r->options[i], sizeof r->options[i], "--%s", params[i]);
    if (r->argc + 2 >= MAX_ARGS)
        return -1;
    r->argv[r->argc++] = r->options[i];
    bool list = strcmp(params[i], "bind") == 0 || strcmp(params[i], "save") == 0;
    if (!list) {
        r->argv[r->argc++] = r->values[i];
        return 0;
    }
    char *save = NULL, *word = strtok_r(r->values[i], " ", &save);
    if (word == NULL)
        r->argv[r->argc++] = "";
    for (; word != NULL; word = strtok_r(NULL, " ", &save)) {
        if (r->argc + 2 >= MAX_ARGS)
            return -1;
        r->argv[r->argc++] = word;
    }
    return 0;
}

/* Builds the argument vector: valkey-server, every setting, --daemonize yes. */
static int build_argv(struct restart *r)
{
    r->argc = 0;
    r->argv[r->argc++] = "valkey-server";
    for (int i = 0; i < NPARAMS; i++)
        if (add_param(r, i) != 0) {
            fprintf(stderr, "vt_node_restart: too many arguments\n");
            return -1;
        }
    r->argv[r->argc++] = "--daemonize";
    r->argv[r->argc++] = "yes";
    r->argv[r->argc] = NULL;
    return 0;
}

/* Whether pid is gone (a zombie counts as gone: it serves nothing). */
static bool process_gone(long pid)
{
    if (kill((pid_t)pid, 0) != 0)
        return errno == ESRCH;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *end = strrchr(buf, ')'); /* the state follows the command name */
    return end != NULL && end[1] == ' ' && end[2] == 'Z';
}

/* process_gone() of the restart's old process: a condition for vt_poll_until(). */
static bool old_gone(void *arg)
{
    return process_gone(((const struct restart *)arg)->pid);
}

/* SHUTDOWN SAVE, then waits until the old process has exited. Returns 0 or -1. */
static int shutdown_save(const struct restart *r)
{
    redisContext *c = connect_node(r->port, 10000);
    if (c == NULL) {
        fprintf(stderr, "vt_node_restart: cannot connect to 127.0.0.1:%d\n", r->port);
        return -1;
    }
    redisReply *reply = redisCommand(c, "SHUTDOWN SAVE"); /* success: the connection drops */
    if (reply != NULL)
        fprintf(stderr, "vt_node_restart: 127.0.0.1:%d: SHUTDOWN SAVE answered: %s\n", r->port,
                reply->type == REDIS_REPLY_ERROR ? reply->str : "(a reply)");
    int rc = reply == NULL ? 0 : -1;
    freeReplyObject(reply);
    redisFree(c);
    if (rc != 0)
        return -1;
    if (!vt_poll_until(old_gone, (void *)r, STOP_DEADLINE_MS, POLL_MS)) {
        fprintf(stderr,
                "vt_node_restart: 127.0.0.1:%d: pid %ld still runs %d ms after SHUTDOWN SAVE\n",
                r->port, r->pid, STOP_DEADLINE_MS);
        return -1;
    }
    return 0;
}

/* Runs valkey-server with r->argv and waits for its launcher (it daemonizes) to exit 0. */
static int spawn_server(const struct restart *r)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3); /* no socket of the test's in the server */
    pid_t pid;
    int err = posix_spawnp(&pid, "valkey-server", &fa, NULL, (char *const *)r->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err != 0) {
        fprintf(stderr, "vt_node_restart: cannot run valkey-server: %s\n", strerror(err));
        return -1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "vt_node_restart: waitpid: %s\n", strerror(errno));
            return -1;
        }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "vt_node_restart: valkey-server for port %d failed (status %d); see %s\n",
                r->port, status, logfile(r));
        return -1;
    }
    return 0;
}

/* Whether a process other than the old one (the struct restart at arg) answers PING on the port
 * and has loaded its data: a condition for vt_poll_until(). */
static bool new_server_ready(void *arg)
{
    const struct restart *r = arg;
    redisContext *c = connect_node(r->port, 1000);
    if (c == NULL)
        return false;
    redisReply *ping = redisCommand(c, "PING");
    bool ready = ping != NULL && ping->type == REDIS_REPLY_STATUS && strcmp(ping->str, "PONG") == 0;
    freeReplyObject(ping);
    if (ready) {
        long pid = server_pid(c);
        redisReply *info = redisCommand(c, "INFO persistence");
        ready = pid > 1 && pid != r->pid && info != NULL && info->type == REDIS_REPLY_STRING &&
                vt_info_field(info->str, "loading") == 0;
        freeReplyObject(info);
    }
    redisFree(c);
    return ready;
}

static int wait_ready(const struct restart *r)
{
    if (!vt_poll_until(new_server_ready, (void *)r, START_DEADLINE_MS, POLL_MS)) {
        fprintf(stderr, "vt_node_restart: 127.0.0.1:%d did not serve within %d ms; see %s\n",
                r->port, START_DEADLINE_MS, logfile(r));
        return -1;
    }
    return 0;
}

int vt_node_restart(int port)
{
    struct restart r = {.port = port};
    int rc = read_settings(&r) == 0 && build_argv(&r) == 0 && shutdown_save(&r) == 0 &&
                     spawn_server(&r) == 0 && wait_ready(&r) == 0
                 ? 0
                 : -1;
    for (int i = 0; i < NPARAMS; i++)
        free(r.values[i]);
    return rc;
}
