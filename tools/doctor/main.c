/*
 * vmux-doctor: checks a configuration string or URL step by step and says what works and what
 * does not (docs/doctor.md).
 *
 *   vmux-doctor [--json] [--verbose] [--pings N] CONFIG
 *
 * Exit status: 0 when no step failed (warnings allowed), 1 when a step failed, 2 for bad usage
 * or a configuration that does not parse.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "doctor.h"
#include "run.h"

#define EXIT_USAGE 2

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: vmux-doctor [--json] [--verbose] [--pings N] CONFIG\n"
        "\n"
        "Checks, step by step, whether vmux can use the servers of CONFIG (a configuration\n"
        "string such as \"cache:6379,ssl=true\" or a URL such as rediss://user:pw@cache:6380):\n"
        "name resolution, TCP, TLS, AUTH, the server's version and role, cluster health,\n"
        "availability zone and round-trip latency, with hints for what fails.\n"
        "\n"
        "  --json      print one JSON document (for scripts) instead of text\n"
        "  --verbose   text: print every step's facts (the JSON always has them)\n"
        "  --pings N   PINGs for the latency step (1..100000, default 100)\n"
        "  --help      print this help\n"
        "\n"
        "Exit status: 0 nothing failed, 1 a step failed, 2 bad usage or configuration.\n");
}

/* Reads --pings' value; false when it is not a number in range. */
static bool parse_pings(const char *text, int *out)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || v < 1 || v > 100000)
        return false;
    *out = (int)v;
    return true;
}

/* Parses argv; returns the configuration text, or NULL after printing why (exit 2). */
static const char *parse_args(int argc, char **argv, doc_ctx *ctx, bool *help)
{
    const char *config = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            ctx->json = true;
        } else if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
            ctx->report.verbose = true;
        } else if (strcmp(argv[i], "--pings") == 0 && i + 1 < argc) {
            if (!parse_pings(argv[++i], &ctx->pings)) {
                fprintf(stderr,
                        "vmux-doctor: --pings wants a number from 1 to 100000, not "
                        "\"%s\"\n",
                        argv[i]);
                return NULL;
            }
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *help = true;
            return NULL;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "vmux-doctor: unknown option \"%s\"\n", argv[i]);
            return NULL;
        } else if (config != NULL) {
            fprintf(stderr, "vmux-doctor: one configuration only (quote it if it has spaces)\n");
            return NULL;
        } else {
            config = argv[i];
        }
    }
    if (config == NULL)
        fprintf(stderr, "vmux-doctor: no configuration given\n");
    return config;
}

int main(int argc, char **argv)
{
    doc_ctx ctx = {.pings = 100};
    /* The probes write to servers that may have closed on them: EPIPE, not death. */
    signal(SIGPIPE, SIG_IGN);
    bool help = false;
    const char *text = parse_args(argc, argv, &ctx, &help);
    if (text == NULL) {
        usage(help ? stdout : stderr);
        return help ? 0 : EXIT_USAGE;
    }
    char err[512];
    int rc = vmux_config_parse(text, &ctx.cfg, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "vmux-doctor: bad configuration: %s (%s)\n", err, vmux_err_name(rc));
        return EXIT_USAGE;
    }
    vmux_config_to_string(ctx.cfg, ctx.report.target, sizeof(ctx.report.target));
    ctx.report.text = !ctx.json;
    if (!ctx.json)
        printf("vmux-doctor %s: checking %s\n\n", vmux_version(), ctx.report.target);
    doc_run(&ctx);
    if (ctx.json)
        doc_report_json(&ctx.report, stdout);
    else
        doc_report_summary(&ctx.report, stdout);
    int status = doc_report_status(&ctx.report);
    doc_report_free(&ctx.report);
    vmux_config_free(ctx.cfg);
    return status;
}
