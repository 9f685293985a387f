/*
 * hello: the smallest complete vmux program. It opens a handle from a configuration string
 * (argv[1], else the VMUX_CONFIG environment variable, else "127.0.0.1:6379"), which it shows as
 * vmux_config_to_string() writes it (a password as "*****", never in clear), stores a key
 * with SET, reads it back with GET, stores it again with a 60-second expiry (SET ... EX 60),
 * asks the server for the time left with TTL, counts its run with an INCR whose reply nobody
 * waits for (vmux_call_forget()), and before closing waits until the server has answered
 * everything sent (vmux_drain()), so the count is never lost. It prints each step. Every failure is
 * reported with vmux_strerror() and, when opening, the reason the library wrote into the error
 * buffer; the program then exits with status 1. Everything it allocates is freed.
 *
 *   hello [CONFIG]        e.g. hello "127.0.0.1:6379,syncTimeout=2000"
 *                               hello "valkey://user:pass@localhost:6380/0"
 */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

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

    vmux_reply *r = NULL;
    int rc = vmux_call(m, NULL, argc, argv, NULL, &r);
    if (rc == VMUX_ERR_SERVER) {
        fprintf(stderr, "hello: %s: the server said: %s\n", argv[0], vmux_reply_str(r, NULL));
        vmux_reply_free(r);
        return -1;
    }
    if (rc != 0) {
        fprintf(stderr, "hello: %s failed: %s (%s)\n", argv[0], vmux_strerror(rc),
                vmux_err_name(rc));
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
    const char *count[] = {"INCR", HELLO_KEY ":runs"};
    if (rc == 0 && (rc = vmux_call_forget(m, NULL, 2, count, NULL)) == 0)
        rc = vmux_drain(m, 5000); /* the INCR has run once this returns 0 */
    if (rc == 0)
        printf("> INCR %s:runs (not waited for; drained before closing)\n", HELLO_KEY);
    else if (rc != -1)
        fprintf(stderr, "hello: counting the run: %s\n", vmux_strerror(rc));
    vmux_close(m);
    if (rc == 0)
        printf("done\n");
    return rc == 0 ? 0 : 1;
}
