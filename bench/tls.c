/*
 * What the -tls rows need beyond the plain ones: certificates made at run time by the tests'
 * own generator (tests/support/gen-certs.sh, so the bench and the tests trust the same kind of
 * chain and nothing is committed), and PING and prefill over TLS, done through vmux because
 * Debian's hiredis 0.14 has no TLS.
 */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vmux/vmux.h>

#define MAX_CERT_PATHS 64
#define MAX_DEPTH 4

/*
 * What certs_generate() made, as fixed paths listed children before their directory, so that
 * certs_remove() can delete them with unlink() and rmdir() alone, which a signal handler may
 * call.
 */
static char g_tmp_dir[BENCH_PATH_CAP];
static char g_certs_dir[BENCH_PATH_CAP];
static char g_paths[MAX_CERT_PATHS][BENCH_PATH_CAP];
static volatile sig_atomic_t g_npaths;

void certs_remove(void)
{
    for (int i = 0; i < g_npaths; i++)
        if (unlink(g_paths[i]) != 0)
            rmdir(g_paths[i]);
    g_npaths = 0;
    if (g_certs_dir[0])
        rmdir(g_certs_dir);
    if (g_tmp_dir[0])
        rmdir(g_tmp_dir);
    g_certs_dir[0] = '\0';
    g_tmp_dir[0] = '\0';
}

/* Records what lies under dir (the script may make subdirectories), deepest first. */
static void note_paths(const char *dir, int depth)
{
    DIR *d = depth < MAX_DEPTH ? opendir(dir) : NULL;
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && g_npaths < MAX_CERT_PATHS) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[BENCH_PATH_CAP];
        int len = snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (len < 0 || len >= BENCH_PATH_CAP)
            continue;
        if (e->d_type == DT_DIR)
            note_paths(path, depth + 1);
        if (g_npaths < MAX_CERT_PATHS)
            memcpy(g_paths[g_npaths++], path, (size_t)len + 1);
    }
    closedir(d);
}

/* Runs "bash script dir" with its chatter on stdout silenced; returns its exit status or -1. */
static int run_script(const char *script, const char *dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, STDOUT_FILENO);
        execlp("bash", "bash", script, dir, (char *)NULL);
        fprintf(stderr, "vmux-bench: cannot run bash: %s\n", strerror(errno));
        _exit(127);
    }
    if (pid < 0)
        return -1;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int certs_generate(const char *script, char *certs_dir, size_t cap, char *err, size_t errlen)
{
    if (access(script, R_OK) != 0) {
        snprintf(err, errlen, "no certificate script %s (give --certs-script)", script);
        return -1;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(g_tmp_dir, sizeof(g_tmp_dir), "%s/vmux-bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_tmp_dir)) {
        snprintf(err, errlen, "mkdtemp %s: %s", g_tmp_dir, strerror(errno));
        g_tmp_dir[0] = '\0';
        return -1;
    }
    int len = snprintf(g_certs_dir, sizeof(g_certs_dir), "%s/certs", g_tmp_dir);
    if (len < 0 || (size_t)len >= sizeof(g_certs_dir))
        g_certs_dir[0] = '\0';
    int rc = g_certs_dir[0] ? run_script(script, g_certs_dir) : -1;
    note_paths(g_certs_dir, 0);
    if (rc != 0) {
        snprintf(err, errlen, "%s failed (exit status %d; is openssl installed?)", script, rc);
        certs_remove();
        return -1;
    }
    snprintf(certs_dir, cap, "%s", g_certs_dir);
    return 0;
}

int tls_ping_once(const bench_opts *o, char *err, size_t errlen)
{
    vmux *m = NULL;
    /* One short attempt per call: server_wait_ping() owns the retries and the deadline. */
    if (bench_vmux_open(o, "connectTimeout=500,connectRetry=1", &m, err, errlen) != 0)
        return 0;
    const char *ping[] = {"PING"};
    vmux_reply *r = NULL;
    int rc = vmux_call(m, NULL, 1, ping, NULL, &r);
    int ok = rc == 0 && vmux_reply_get_kind(r) == VMUX_REPLY_STATUS &&
             strcmp(vmux_reply_str(r, NULL), "PONG") == 0;
    if (!ok)
        snprintf(err, errlen, "PING: %s", rc != 0 ? vmux_strerror(rc) : "no PONG");
    vmux_reply_free(r);
    vmux_close(m);
    return ok;
}

typedef struct prefill_run {
    pthread_mutex_t mu;
    pthread_cond_t done;
    int left;
    int first_error;
} prefill_run;

static void on_set(int status, vmux_reply *reply, void *userdata)
{
    prefill_run *p = userdata;
    vmux_reply_free(reply);
    pthread_mutex_lock(&p->mu);
    if (status != 0 && p->first_error == 0)
        p->first_error = status;
    if (--p->left == 0)
        pthread_cond_signal(&p->done);
    pthread_mutex_unlock(&p->mu);
}

/* Submits one SET per key; each completion counts down p->left. Returns 0 or a VMUX_ERR_*. */
static int submit_sets(vmux *m, prefill_run *p)
{
    for (int i = 0; i < BENCH_KEYSPACE; i++) {
        char key[BENCH_KEY_CAP];
        snprintf(key, sizeof(key), "key:%05d", i);
        const char *argv[] = {"SET", key, bench_value};
        int rc = vmux_call_async(m, NULL, 3, argv, NULL, on_set, p);
        if (rc != 0) {
            pthread_mutex_lock(&p->mu);
            p->left -= BENCH_KEYSPACE - i; /* these never complete */
            pthread_mutex_unlock(&p->mu);
            return rc;
        }
    }
    return 0;
}

/* The commands' own deadlines (asyncTimeout) bound the wait: each completes by then. */
static int prefill_wait(prefill_run *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->left > 0)
        pthread_cond_wait(&p->done, &p->mu);
    int rc = p->first_error;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int tls_prefill(const bench_opts *o)
{
    char err[256] = "";
    vmux *m = NULL;
    int rc = bench_vmux_open(o, "asyncTimeout=10000", &m, err, sizeof(err));
    if (rc == 0) {
        prefill_run p = {.left = BENCH_KEYSPACE};
        pthread_mutex_init(&p.mu, NULL);
        pthread_cond_init(&p.done, NULL);
        int src = submit_sets(m, &p);
        int wrc = prefill_wait(&p);
        rc = src != 0 ? src : wrc;
        snprintf(err, sizeof(err), "%s", rc != 0 ? vmux_strerror(rc) : "");
        vmux_close(m);
        pthread_cond_destroy(&p.done);
        pthread_mutex_destroy(&p.mu);
    }
    if (rc != 0)
        fprintf(stderr, "vmux-bench: prefill of %s:%d%s failed: %s\n", o->host, o->port,
                o->cluster ? " (cluster)" : " over TLS", err);
    return rc != 0 ? -1 : 0;
}
