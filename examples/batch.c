/*
 * batch: several commands sent as one unit and answered together (batch.h), what
 * StackExchange.Redis calls IBatch and rueidis DoMulti. It opens a handle from a configuration
 * string (argv[1], else the VMUX_CONFIG environment variable, else "127.0.0.1:6379"), builds a
 * batch that stores three fields of a small profile, bumps a visit counter, makes one mistake on
 * purpose (LPUSH on a string: WRONGTYPE) and reads everything back, runs it with
 * vmux_batch_exec(), and prints every command's own outcome: the mistake fails alone, the others
 * run. Then, however that batch went (a failed one may still have written some keys), it deletes
 * its keys with a batch of DELs run by vmux_batch_exec_async() and waits for its one callback; a
 * cleanup that fails is reported too, below the first batch's own failure. A batch is a
 * pipeline, not a transaction: nothing is atomic (see transaction.h for that). On a cluster each
 * command goes to its own key's node. Exits 1 on any surprise; everything it allocates is freed.
 *
 *   batch [CONFIG]        e.g. batch "127.0.0.1:6379"
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmux/vmux.h>

#define K_NAME "vmux:example:batch:name"
#define K_CITY "vmux:example:batch:city"
#define K_LANG "vmux:example:batch:lang"
#define K_VISITS "vmux:example:batch:visits"

static void usage(FILE *to, const char *prog)
{
    fprintf(to,
            "usage: %s [CONFIG]\n"
            "Runs a batch of commands on a Valkey server and prints each command's outcome.\n"
            "Without CONFIG, $VMUX_CONFIG is used, else 127.0.0.1:6379.\n",
            prog);
}

static void show(size_t i, int status, const vmux_reply *r)
{
    printf("  [%zu] ", i);
    if (status != 0 && status != VMUX_ERR_SERVER) {
        printf("failed: %s (%s)\n", vmux_strerror(status), vmux_err_name(status));
        return;
    }
    switch (vmux_reply_get_kind(r)) {
    case VMUX_REPLY_STRING:
        printf("\"%s\"\n", vmux_reply_str(r, NULL));
        break;
    case VMUX_REPLY_STATUS:
        printf("%s\n", vmux_reply_str(r, NULL));
        break;
    case VMUX_REPLY_ERROR:
        printf("(error) %s\n", vmux_reply_str(r, NULL));
        break;
    case VMUX_REPLY_INTEGER:
        printf("(integer) %lld\n", (long long)vmux_reply_integer(r));
        break;
    default:
        printf("(%s)\n", vmux_reply_kind_name(vmux_reply_get_kind(r)));
        break;
    }
}

/* The synchronous form: eight commands, one of them a mistake. */
static int profile(vmux *m)
{
    const char *const cmds[][4] = {
        {"SET", K_NAME, "Ada"}, {"SET", K_CITY, "London"}, {"SET", K_LANG, "C"},
        {"INCR", K_VISITS},     {"LPUSH", K_NAME, "x"}, /* WRONGTYPE: fails alone */
        {"GET", K_NAME},        {"GET", K_CITY},           {"GET", K_VISITS},
    };
    enum { N = sizeof cmds / sizeof cmds[0] };
    vmux_batch *b = NULL;
    int rc = vmux_batch_new(&b);
    for (size_t i = 0; i < N && rc == 0; i++) {
        int argc = 0;
        while (argc < 4 && cmds[i][argc] != NULL)
            argc++;
        rc = vmux_batch_add(b, argc, cmds[i], NULL);
    }
    int statuses[N];
    vmux_reply *replies[N] = {NULL};
    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    bool ran = rc == 0; /* then every status and reply is written, refused or not */
    if (ran) {
        printf("> a batch of %zu commands\n", vmux_batch_count(b));
        rc = vmux_batch_exec(m, &o, b, statuses, replies);
        for (size_t i = 0; i < N; i++)
            show(i, statuses[i], replies[i]);
        printf("  returned %s: %s\n", vmux_err_name(rc), rc != 0 ? why : "every command succeeded");
    }
    /* As planned: only the mistake failed, with the server's error, and the GET read back what
     * the SET wrote (a refused SET would leave a previous run's value to read). */
    const char *name = ran && statuses[5] == 0 ? vmux_reply_str(replies[5], NULL) : NULL;
    bool ok = rc == VMUX_ERR_SERVER && statuses[4] == VMUX_ERR_SERVER && name != NULL &&
              strcmp(name, "Ada") == 0;
    for (size_t i = 0; i < N; i++) {
        ok = ok && (i == 4 || statuses[i] == 0);
        vmux_reply_free(replies[i]); /* ours; NULL ones are fine */
    }
    vmux_batch_free(b);
    if (!ok) /* why: the first failed command's words, "command 0: NOPERM ..." */
        fprintf(stderr, "batch: the batch did not go as planned: %s\n",
                rc == 0  ? "the LPUSH succeeded"
                : why[0] ? why
                         : vmux_strerror(rc));
    return ok ? 0 : -1;
}

/* The asynchronous form: one callback for the whole batch, on the handle's I/O thread. */
struct done {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int deleted, failed;
    char why[256]; /* the first failure's words */
};

static void on_batch(size_t n, const int *statuses, vmux_reply **replies, void *userdata)
{
    struct done *d = userdata;
    int deleted = 0, failed = 0;
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < n; i++) {
        if (statuses[i] == 0)
            deleted += (int)vmux_reply_integer(replies[i]);
        else if (failed++ == 0) /* a failure's words come as an error reply: the server's, or
                                   vmux's (never sent, lost...); NULL only without memory */
            snprintf(d->why, sizeof d->why, "command %zu: %s (%s)", i,
                     replies[i] != NULL ? vmux_reply_str(replies[i], NULL)
                                        : vmux_strerror(statuses[i]),
                     vmux_err_name(statuses[i]));
        vmux_reply_free(replies[i]); /* the callback owns every reply */
    }
    d->deleted = deleted;
    d->failed = failed;
    d->done = true;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

/* Deletes the keys; all_written: the first batch went as planned, so each of them exists. */
static int clean_up(vmux *m, bool all_written)
{
    const char *const keys[] = {K_NAME, K_CITY, K_LANG, K_VISITS};
    vmux_batch *b = NULL;
    int rc = vmux_batch_new(&b);
    for (size_t i = 0; i < 4 && rc == 0; i++) /* one DEL each: on a cluster, four slots */
        rc = vmux_batch_add(b, 2, (const char *const[]){"DEL", keys[i]}, NULL);
    struct done d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, 0, ""};
    if (rc == 0) {
        printf("> a batch of %zu DELs, asynchronously\n", vmux_batch_count(b));
        rc = vmux_batch_exec_async(m, NULL, b, on_batch, &d);
    }
    vmux_batch_free(b); /* the run copied what it needs */
    if (rc != 0) {
        fprintf(stderr, "batch: cannot queue the DELs: %s (%s)\n", vmux_strerror(rc),
                vmux_err_name(rc));
        return -1;
    }
    pthread_mutex_lock(&d.mu);
    while (!d.done)
        pthread_cond_wait(&d.cv, &d.mu);
    pthread_mutex_unlock(&d.mu);
    printf("  deleted %d keys, %d commands failed\n", d.deleted, d.failed);
    if (d.failed != 0)
        fprintf(stderr, "batch: the DELs failed: %s\n", d.why);
    else if (all_written && d.deleted != 4)
        fprintf(stderr, "batch: expected to delete the 4 keys the first batch wrote\n");
    return d.failed == 0 && (!all_written || d.deleted == 4) ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout, argv[0]);
        return 0;
    }
    if (argc > 2) {
        usage(stderr, argv[0]);
        return 2;
    }
    const char *config = argc > 1 ? argv[1] : getenv("VMUX_CONFIG");
    if (config == NULL || config[0] == '\0')
        config = "127.0.0.1:6379";
    char err[256] = "";
    vmux *m = NULL;
    int rc = vmux_open_str(config, &m, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "batch: cannot open: %s (%s)%s%s\n", vmux_strerror(rc), vmux_err_name(rc),
                err[0] ? ": " : "", err);
        return 1;
    }
    rc = profile(m);
    if (clean_up(m, rc == 0) != 0) /* even after a failure: it may have written some keys */
        rc = -1;
    vmux_close(m);
    if (rc == 0)
        printf("done\n");
    return rc == 0 ? 0 : 1;
}
