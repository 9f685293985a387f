/*
 * hello: the smallest complete vmux program. It opens a handle from a configuration string
 * (argv[1], else the VMUX_CONFIG environment variable, else "127.0.0.1:6379"), which it shows as
 * vmux_config_to_string() writes it (a password as "*****", never in clear), stores a key
 * with SET, reads it back with GET, stores it again with a 60-second expiry (SET ... EX 60),
 * asks the server for the time left with TTL, counts its run with an INCR whose reply nobody
 * waits for (vmux_call_forget()), and before closing waits until everything sent has completed
 * (vmux_drain()), so that closing does not drop the INCR. Completed is not succeeded: a forgotten
 * command's failure is dropped with its reply, and only the handle's counters (vmux_read_stats())
 * show it, so the program reads them and says whether the count may be lost. It prints each
 * step. Every failure is reported with vmux_strerror() and the words the library wrote into the
 * error buffer (of vmux_open(), or of each command's options); the program then exits with
 * status 1. Everything it allocates is freed.
 *
 *   hello [CONFIG]        e.g. hello "127.0.0.1:6379,syncTimeout=2000"
 *                               hello "valkey://user:pass@localhost:6380/0"
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmux/vmux.h>

#define HELLO_KEY "vmux:example:hello"

static void usage(FILE *to, const char *prog)
{
    fprintf(to,
            "usage: %s [CONFIG]\n"
            "Sets, reads and expires a key on a Valkey server.\n"
            "CONFIG is a vmux configuration string or URL, such as\n"
            "  127.0.0.1:6379,syncTimeout=2000   or   valkey://user:pass@host:6380/0\n"
            "Without CONFIG, $VMUX_CONFIG is used, else 127.0.0.1:6379.\n",
            prog);
}

/* Sends argv and prints the reply; returns 0 and hands the reply over in *out, or -1. */
static int run(vmux *m, int argc, const char *const *argv, vmux_reply **out)
{
    printf(">");
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\n");

    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    vmux_reply *r = NULL;
    int rc = vmux_call(m, &o, argc, argv, NULL, &r);
    if (rc == VMUX_ERR_SERVER) {
        fprintf(stderr, "hello: %s: the server said: %s\n", argv[0], vmux_reply_str(r, NULL));
        vmux_reply_free(r);
        return -1;
    }
    if (rc != 0) { /* why: what happened to the command ("written to ... and not answered") */
        fprintf(stderr, "hello: %s failed: %s (%s)%s%s\n", argv[0], vmux_strerror(rc),
                vmux_err_name(rc), why[0] ? ": " : "", why);
        vmux_reply_free(r); /* VMUX_ERR_REDIRECT_LOOP hands over a reply too (call.h) */
        return -1;
    }
    switch (vmux_reply_get_kind(r)) {
    case VMUX_REPLY_STRING:
        printf("  \"%s\"\n", vmux_reply_str(r, NULL));
        break;
    case VMUX_REPLY_STATUS:
        printf("  %s\n", vmux_reply_str(r, NULL));
        break;
    case VMUX_REPLY_INTEGER:
        printf("  (integer) %lld\n", (long long)vmux_reply_integer(r));
        break;
    default:
        printf("  (%s)\n", vmux_reply_kind_name(vmux_reply_get_kind(r)));
        break;
    }
    *out = r;
    return 0;
}

/* Checks that a reply is the expected string, so the program fails loudly on a surprise. */
static int expect_string(const vmux_reply *r, const char *want)
{
    size_t len = 0;
    const char *s = vmux_reply_str(r, &len);
    if (vmux_reply_get_kind(r) != VMUX_REPLY_STRING || len != strlen(want) ||
        memcmp(s, want, len) != 0) {
        fprintf(stderr, "hello: expected \"%s\", got a %s reply\n", want,
                vmux_reply_kind_name(vmux_reply_get_kind(r)));
        return -1;
    }
    return 0;
}

static int hello(vmux *m)
{
    const char *set[] = {"SET", HELLO_KEY, "Hello, Valkey!"};
    const char *get[] = {"GET", HELLO_KEY};
    const char *setex[] = {"SET", HELLO_KEY, "Goodbye soon", "EX", "60"};
    const char *ttl[] = {"TTL", HELLO_KEY};
    vmux_reply *r = NULL;

    if (run(m, 3, set, &r) != 0)
        return -1;
    vmux_reply_free(r);
    if (run(m, 2, get, &r) != 0)
        return -1;
    int rc = expect_string(r, "Hello, Valkey!");
    vmux_reply_free(r);
    if (rc != 0 || run(m, 5, setex, &r) != 0)
        return -1;
    vmux_reply_free(r);
    if (run(m, 2, ttl, &r) != 0)
        return -1;
    long long left = vmux_reply_integer(r);
    rc = vmux_reply_get_kind(r) == VMUX_REPLY_INTEGER && left > 0 && left <= 60 ? 0 : -1;
    vmux_reply_free(r);
    if (rc != 0)
        fprintf(stderr, "hello: TTL should be between 1 and 60 seconds, got %lld\n", left);
    return rc;
}

/* Counts the run with a command nobody waits for, then drains so that closing does not drop it. */
static int count_run(vmux *m)
{
    const char *count[] = {"INCR", HELLO_KEY ":runs"};
    printf("> INCR %s:runs (not waited for; drained before closing)\n", HELLO_KEY);
    vmux_stats st = VMUX_INIT(vmux_stats);
    int rc = vmux_call_forget(m, NULL, 2, count, NULL);
    if (rc == 0)
        rc = vmux_drain(m, 5000); /* 0: the INCR completed, which may mean it failed */
    if (rc == 0)
        rc = vmux_read_stats(m, &st);
    if (rc != 0) {
        fprintf(stderr, "hello: counting the run: %s (%s)\n", vmux_strerror(rc), vmux_err_name(rc));
        return -1;
    }
    /* Every command before it succeeded, so a failure counted now is the INCR's. */
    uint64_t failed =
        st.error_replies + st.timed_out + st.connection_lost + st.closed + st.failed_other;
    if (failed != 0) {
        fprintf(stderr, "hello: the INCR failed, so this run may not be counted (its error was "
                        "dropped with its reply: vmux_read_stats() counted it)\n");
        return -1;
    }
    return 0;
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

    char err[256] = "", shown[512] = "";
    vmux_config *cfg = NULL;
    vmux *m = NULL;
    int rc = vmux_config_parse(config, &cfg, err, sizeof err);
    if (rc == 0) {
        /* Not config itself, which may hold a password: vmux_config_to_string() masks it. */
        vmux_config_to_string(cfg, shown, sizeof shown);
        printf("vmux %s, connecting with \"%s\"\n", vmux_version(), shown);
        rc = vmux_open(cfg, &m, err, sizeof err);
    }
    vmux_config_free(cfg);
    if (rc != 0) {
        fprintf(stderr, "hello: cannot open: %s (%s)%s%s\n", vmux_strerror(rc), vmux_err_name(rc),
                err[0] ? ": " : "", err);
        return 1;
    }
    rc = hello(m);
    if (rc == 0)
        rc = count_run(m);
    vmux_close(m);
    if (rc == 0)
        printf("done\n");
    return rc == 0 ? 0 : 1;
}
