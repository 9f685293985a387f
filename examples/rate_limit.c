/*
 * rate_limit: an API's per-client rate limit with vmux's GCRA limiter (token-bucket semantics):
 * 5 requests per 5 seconds (one a second, on average) with a burst of 5. It opens a handle from a
 * configuration string (argv[1], else the VMUX_CONFIG environment variable, else "127.0.0.1:6379"),
 * then client "alice" sends 8 requests at once: the first 5 (the burst) pass and 3 are refused,
 * each with its Retry-After. The program waits for the first refusal's retry-after and sends again,
 * which passes, as the server's clock now allows one more. Client "bob" has his own allowance
 * throughout, and a bulk export costing 3 units is refused for alice but passes for bob. For
 * every request it prints the decision and the HTTP headers a server would send
 * (RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After). Every check is one
 * atomic script on the server. The program deletes its keys when done, frees everything, and
 * exits with status 1 on any failure or surprise.
 *
 *   rate_limit [CONFIG]      e.g. rate_limit "127.0.0.1:6379,syncTimeout=2000"
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmux/vmux.h>

#define PREFIX "vmux:example:ratelimit:"
#define RATE 5
#define PERIOD_MS 5000
#define BURST 5

static void usage(FILE *to, const char *prog)
{
    fprintf(to,
            "usage: %s [CONFIG]\n"
            "Shows a GCRA rate limit (5 requests per 5 s, burst 5) refusing requests,\n"
            "with their Retry-After, and allowing them again once it has passed.\n"
            "CONFIG is a vmux configuration string or URL, such as\n"
            "  127.0.0.1:6379,syncTimeout=2000   or   valkey://user:pass@host:6380/0\n"
            "Without CONFIG, $VMUX_CONFIG is used, else 127.0.0.1:6379.\n",
            prog);
}

/* Milliseconds to whole seconds, rounding up, as the HTTP headers count. */
static int64_t secs(int64_t ms)
{
    return (ms + 999) / 1000;
}

/* Sends one request of `cost` units for client `who`; prints the outcome and its headers. A
 * failed check is not a refusal: it says nothing of the client, so it is reported as an error. */
static int request(vmux_ratelimit *rl, const char *who, const char *what, int64_t cost,
                   vmux_ratelimit_result *out)
{
    int rc = vmux_ratelimit_check(rl, VMUX_STR(who), cost, out);
    if (rc != 0) {
        fprintf(stderr, "rate_limit: the check of %s for %s failed: %s: %s\n", what, who,
                vmux_err_name(rc), vmux_last_error());
        return -1;
    }
    printf("%-6s %-14s cost %" PRId64 ": %-8s RateLimit-Limit: %" PRId64
           ", RateLimit-Remaining: %" PRId64 ", RateLimit-Reset: %" PRId64,
           who, what, cost, out->allowed ? "allowed" : "REFUSED", out->limit, out->remaining,
           secs(out->reset_after_ms));
    if (!out->allowed)
        printf(", Retry-After: %" PRId64 " (%" PRId64 " ms)", secs(out->retry_after_ms),
               out->retry_after_ms);
    printf("\n");
    return 0;
}

/* A request whose decision is known in advance: -1 if it fails or is decided otherwise. */
static int expect(vmux_ratelimit *rl, const char *who, const char *what, int64_t cost, bool allowed,
                  vmux_ratelimit_result *out)
{
    if (request(rl, who, what, cost, out) != 0)
        return -1;
    if (out->allowed != allowed) {
        fprintf(stderr, "rate_limit: %s for %s should have been %s\n", what, who,
                allowed ? "allowed" : "refused");
        return -1;
    }
    return 0;
}

/* Deletes the limiter's state for a client (its key). */
static int reset(vmux_ratelimit *rl, const char *who)
{
    int rc = vmux_ratelimit_reset(rl, VMUX_STR(who));
    if (rc != 0)
        fprintf(stderr, "rate_limit: resetting %s failed: %s: %s\n", who, vmux_err_name(rc),
                vmux_last_error());
    return rc;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Alice's burst: 8 requests at once; the first BURST pass. Returns the first refusal's wait. */
static int burst(vmux_ratelimit *rl, int64_t *first_retry)
{
    *first_retry = -1;
    for (int i = 1; i <= 8; i++) {
        char what[32];
        snprintf(what, sizeof what, "GET /items/%d", i);
        vmux_ratelimit_result r = VMUX_INIT(vmux_ratelimit_result);
        if (expect(rl, "alice", what, 1, i <= BURST, &r) != 0)
            return -1;
        if (!r.allowed && *first_retry < 0)
            *first_retry = r.retry_after_ms;
    }
    return 0;
}

static int demo(vmux_ratelimit *rl)
{
    int64_t wait = 0;
    printf("-- alice sends 8 requests at once (rate %d per %d ms, burst %d)\n", RATE, PERIOD_MS,
           BURST);
    if (burst(rl, &wait) != 0)
        return -1;
    vmux_ratelimit_result r = VMUX_INIT(vmux_ratelimit_result);
    printf("-- bob has his own allowance\n");
    if (expect(rl, "bob", "GET /items/1", 1, true, &r) != 0)
        return -1;
    printf("-- a bulk export costs 3 units: too much for alice now, fine for bob\n");
    if (expect(rl, "alice", "POST /export", 3, false, &r) != 0 ||
        expect(rl, "bob", "POST /export", 3, true, &r) != 0)
        return -1;
    printf("-- alice waits %" PRId64 " ms, the first refusal's retry-after, and tries again\n",
           wait);
    sleep_ms(wait);
    return expect(rl, "alice", "GET /items/6", 1, true, &r);
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
        fprintf(stderr, "rate_limit: cannot connect: %s (%s)\n", vmux_err_name(rc), err);
        return 1;
    }
    vmux_ratelimit_opts o =
        VMUX_INIT(vmux_ratelimit_opts, .algorithm = VMUX_RATELIMIT_GCRA, .limit = RATE,
                  .period_ms = PERIOD_MS, .burst = BURST, .prefix = PREFIX);
    vmux_ratelimit *rl = NULL;
    rc = vmux_ratelimit_new(m, &o, &rl);
    if (rc != 0) {
        fprintf(stderr, "rate_limit: vmux_ratelimit_new failed: %s: %s\n", vmux_err_name(rc),
                vmux_last_error());
        vmux_close(m);
        return 1;
    }
    /* start clean if an earlier run was interrupted */
    int status = reset(rl, "alice") == 0 && reset(rl, "bob") == 0 && demo(rl) == 0 ? 0 : 1;
    if (reset(rl, "alice") != 0 || reset(rl, "bob") != 0) /* delete the keys when done */
        status = 1;
    vmux_ratelimit_free(rl);
    vmux_close(m);
    printf("rate_limit: %s\n", status == 0 ? "done" : "FAILED");
    return status;
}
