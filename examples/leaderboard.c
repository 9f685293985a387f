/*
 * leaderboard: a game's high-score table (vmux/leaderboard.h). It opens a handle from a
 * configuration string (argv[1], else the VMUX_CONFIG environment variable, else
 * "127.0.0.1:6379"), fills a leaderboard with 20 players whose scores follow a fixed formula,
 * and prints the top 5 with ranks (rank 1 is the highest score), one player's rank and score,
 * the 5 players around that player, and the 5 around the last player (the window shifts at the
 * end of the board). Two players then score points (atomic increments) and move up the board,
 * their new ranks printed; two players on the same score show the tie order (equal scores: members
 * in descending byte order, highest first). A "best lap" board, lowest time first, keeps each
 * driver's best. Every step is printed; any failure is reported in the library's words (the
 * server's message for a refused command: opts.errbuf, call.h) and the program exits with status 1.
 * Everything it allocates is freed and its keys are deleted at the end.
 *
 *   leaderboard [CONFIG]        e.g. leaderboard "127.0.0.1:6379,syncTimeout=2000"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmux/vmux.h>

#define SCORES_KEY "vmux:example:leaderboard"
#define LAPS_KEY "vmux:example:laps"
#define PLAYERS 20

static void usage(FILE *to, const char *prog)
{
    fprintf(to,
            "usage: %s [CONFIG]\n"
            "Fills a leaderboard and prints its top, ranks, neighbours and ties.\n"
            "CONFIG is a vmux configuration string or URL, such as\n"
            "  127.0.0.1:6379,syncTimeout=2000   or   valkey://user:pass@host:6380/0\n"
            "Without CONFIG, $VMUX_CONFIG is used, else 127.0.0.1:6379.\n",
            prog);
}

/* Per-call options whose errbuf gets the library's words for a failure (call.h). */
struct call {
    char err[256];
    vmux_callopts opts;
};

static const vmux_callopts *with_err(struct call *c)
{
    c->err[0] = '\0';
    c->opts = VMUX_INIT(vmux_callopts, .errbuf = c->err, .errlen = sizeof c->err);
    return &c->opts;
}

/* Reports a failure in the library's words (c NULL: a call without options); returns -1. */
static int fail(const char *what, int rc, const struct call *c)
{
    fprintf(stderr, "leaderboard: %s failed: %s (%s)\n", what,
            c != NULL && c->err[0] ? c->err : vmux_strerror(rc), vmux_err_name(rc));
    return -1;
}

static void print_entries(const char *title, const vmux_leaderboard_entries *e)
{
    printf("%s\n", title);
    for (size_t i = 0; i < e->count; i++)
        printf("  #%-3lld %-10s %8.0f\n", (long long)e->items[i].rank, e->items[i].member.ptr,
               e->items[i].score);
}

static int fill(vmux_leaderboard *lb)
{
    for (int i = 0; i < PLAYERS; i++) {
        char name[16];
        snprintf(name, sizeof name, "player%02d", i);
        struct call c;
        int rc =
            vmux_leaderboard_set(lb, with_err(&c), VMUX_STR(name), (double)((i * 37) % 101) * 10);
        if (rc != 0)
            return fail("vmux_leaderboard_set", rc, &c);
    }
    printf("%d players added\n", PLAYERS);
    return 0;
}

static int show_top(vmux_leaderboard *lb, const char *title)
{
    struct call c;
    vmux_leaderboard_entries top;
    int rc = vmux_leaderboard_top(lb, with_err(&c), 5, &top);
    if (rc != 0)
        return fail("vmux_leaderboard_top", rc, &c);
    print_entries(title, &top);
    vmux_leaderboard_entries_free(&top);
    return 0;
}

static int show_player(vmux_leaderboard *lb, const char *name)
{
    int64_t rank = 0;
    double score = 0;
    bool found = false;
    struct call c;
    int rc = vmux_leaderboard_get(lb, with_err(&c), VMUX_STR(name), &rank, &score, &found);
    if (rc != 0)
        return fail("vmux_leaderboard_get", rc, &c);
    if (!found) {
        fprintf(stderr, "leaderboard: %s is not on the board\n", name);
        return -1;
    }
    printf("%s: rank %lld, score %.0f\n", name, (long long)rank, score);
    return 0;
}

static int show_around(vmux_leaderboard *lb, const char *name)
{
    vmux_leaderboard_entries near;
    bool found = false;
    struct call c;
    int rc = vmux_leaderboard_around(lb, with_err(&c), VMUX_STR(name), 5, &near, &found);
    if (rc != 0)
        return fail("vmux_leaderboard_around", rc, &c);
    char title[64];
    snprintf(title, sizeof title, "the 5 around %s:", name);
    print_entries(title, &near);
    vmux_leaderboard_entries_free(&near);
    if (!found)
        fprintf(stderr, "leaderboard: %s is not on the board\n", name);
    return found ? 0 : -1;
}

static int score_points(vmux_leaderboard *lb)
{
    static const struct {
        const char *name;
        double points;
    } plays[] = {{"player03", 250}, {"player07", 40}};
    for (size_t i = 0; i < sizeof plays / sizeof plays[0]; i++) {
        double now = 0;
        struct call c;
        int rc =
            vmux_leaderboard_incr(lb, with_err(&c), VMUX_STR(plays[i].name), plays[i].points, &now);
        if (rc != 0)
            return fail("vmux_leaderboard_incr", rc, &c);
        printf("%s scores %.0f points: now %.0f\n", plays[i].name, plays[i].points, now);
        if (show_player(lb, plays[i].name) != 0)
            return -1;
    }
    return 0;
}

static int show_tie(vmux_leaderboard *lb)
{
    struct call c;
    int rc = vmux_leaderboard_set(lb, with_err(&c), VMUX_STR("ann"), 2000);
    if (rc == 0)
        rc = vmux_leaderboard_set(lb, with_err(&c), VMUX_STR("zoe"), 2000);
    if (rc != 0)
        return fail("vmux_leaderboard_set", rc, &c);
    printf("ann and zoe both score 2000:\n");
    return show_top(lb, "top 5 (equal scores: zoe before ann):");
}

static int best_laps(vmux *m)
{
    vmux_leaderboard_opts o = VMUX_INIT(vmux_leaderboard_opts, .lowest_first = true);
    vmux_leaderboard *laps = NULL;
    int rc = vmux_leaderboard_new(m, VMUX_STR(LAPS_KEY), &o, &laps);
    if (rc != 0)
        return fail("vmux_leaderboard_new", rc, NULL);
    struct call c;
    static const struct {
        const char *driver;
        double seconds;
    } times[] = {{"max", 92.4}, {"lewis", 91.8}, {"max", 91.2}, {"lewis", 93.0}};
    for (size_t i = 0; i < sizeof times / sizeof times[0] && rc == 0; i++) {
        bool improved = false;
        rc = vmux_leaderboard_set_best(laps, with_err(&c), VMUX_STR(times[i].driver),
                                       times[i].seconds, &improved);
        if (rc == 0)
            printf("%s laps in %.1f s%s\n", times[i].driver, times[i].seconds,
                   improved ? ": a personal best" : "");
    }
    vmux_leaderboard_entries top = {0};
    if (rc == 0)
        rc = vmux_leaderboard_top(laps, with_err(&c), 2, &top);
    if (rc == 0)
        for (size_t i = 0; i < top.count; i++)
            printf("  #%lld %-6s %.1f s\n", (long long)top.items[i].rank, top.items[i].member.ptr,
                   top.items[i].score);
    vmux_leaderboard_entries_free(&top);
    vmux_leaderboard_free(laps);
    return rc != 0 ? fail("best laps", rc, &c) : 0;
}

static int run(vmux *m)
{
    vmux_str keys[] = {VMUX_STR(SCORES_KEY), VMUX_STR(LAPS_KEY)};
    vmux_leaderboard *lb = NULL;
    struct call c;
    int rc = vmux_del(m, with_err(&c), keys, 2, NULL);
    if (rc != 0)
        return fail("DEL", rc, &c);
    rc = vmux_leaderboard_new(m, VMUX_STR(SCORES_KEY), NULL, &lb);
    if (rc != 0)
        return fail("vmux_leaderboard_new", rc, NULL);
    rc = fill(lb);
    if (rc == 0)
        rc = show_top(lb, "top 5:");
    if (rc == 0)
        rc = show_player(lb, "player07");
    if (rc == 0)
        rc = show_around(lb, "player07");
    if (rc == 0)
        rc = show_around(lb, "player00");
    if (rc == 0)
        rc = score_points(lb);
    if (rc == 0)
        rc = show_tie(lb);
    if (rc == 0)
        rc = best_laps(m);
    vmux_leaderboard_free(lb);
    int cleanup = vmux_del(m, with_err(&c), keys, 2, NULL);
    if (rc == 0 && cleanup != 0)
        return fail("cleaning up", cleanup, &c);
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

    char err[256] = "";
    vmux *m = NULL;
    int rc = vmux_open_str(config, &m, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "leaderboard: cannot open: %s (%s)%s%s\n", vmux_strerror(rc),
                vmux_err_name(rc), err[0] ? ": " : "", err);
        return 1;
    }
    rc = run(m);
    vmux_close(m);
    if (rc == 0)
        printf("done\n");
    return rc == 0 ? 0 : 1;
}
