/*
 * net/repl.c: a replica's lag in time, from INFO replication answers of it and of its primary
 * (replicaMaxLag, docs/replicas.md). The answers are made here; the links are bare structs, as
 * only their replication state and config are looked at.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/reply_internal.h"
#include "net/link_internal.h"

#define REPLID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define REPLID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static struct vmux_config cfg;
static struct vmux_link primary, replica;

static int setup(void **state)
{
    (void)state;
    memset(&cfg, 0, sizeof cfg);
    memset(&primary, 0, sizeof primary);
    memset(&replica, 0, sizeof replica);
    primary.cfg = replica.cfg = &cfg;
    return 0;
}

static void take(struct vmux_link *link, const char *text, uint64_t now_ms)
{
    vmux_reply *r = vmux__reply_new_str(VMUX_REPLY_STRING, text, strlen(text));
    assert_non_null(r);
    vmux__repl_take(link, r, now_ms);
    vmux_reply_free(r);
}

/* A primary's INFO replication at offset off. */
static void primary_at(long long off, uint64_t now_ms, const char *replid)
{
    char text[256];
    snprintf(text, sizeof text,
             "# Replication\r\nrole:master\r\nconnected_slaves:1\r\nmaster_replid:%s\r\n"
             "master_repl_offset:%lld\r\nsecond_repl_offset:-1\r\n",
             replid, off);
    take(&primary, text, now_ms);
}

/* A replica's, its link to the primary up or not. */
static void replica_at(long long off, uint64_t now_ms, const char *replid, bool up)
{
    char text[320];
    snprintf(text, sizeof text,
             "# Replication\r\nrole:slave\r\nmaster_link_status:%s\r\n"
             "slave_read_repl_offset:%lld\r\nslave_repl_offset:%lld\r\nmaster_replid:%s\r\n"
             "master_repl_offset:%lld\r\n",
             up ? "up" : "down", off, off, replid, off);
    take(&replica, text, now_ms);
}

static void test_lag_in_time(void **state)
{
    (void)state;
    cfg.replica_max_lag_ms = 500;
    primary_at(100, 1000, REPLID_A);
    primary_at(200, 2000, REPLID_A);
    primary_at(300, 3000, REPLID_A);
    /* it has 150: it lacks what the primary had at 2000 (200), so 1 s behind at least */
    replica_at(150, 3000, REPLID_A, true);
    assert_int_equal(vmux__link_judge_lag(&replica, &primary, 500), 1000);
    assert_true(vmux__link_lagging(&replica));
    assert_int_equal(vmux__link_judge_lag(&replica, &primary, 2000), 1000);
    assert_false(vmux__link_lagging(&replica)); /* within that limit */
    /* exactly at an offset the primary had: behind only from the next one on */
    replica_at(200, 3000, REPLID_A, true);
    assert_int_equal(vmux__link_judge_lag(&replica, &primary, 500), 0);
    assert_false(vmux__link_lagging(&replica));
    /* caught up, and past what this link has seen of the primary */
    replica_at(350, 3100, REPLID_A, true);
    assert_int_equal(vmux__link_judge_lag(&replica, &primary, 500), 0);
    /* below every sample: behind since the oldest, at least */
    replica_at(50, 4000, REPLID_A, true);
    assert_int_equal(vmux__link_judge_lag(&replica, &primary, 500), 3000);
    assert_true(vmux__link_lagging(&replica));
    /* 0: never behind, whatever the lag */
    assert_int_equal(vmux__link_judge_lag(&replica, &primary, 0), 3000);
    assert_false(vmux__link_lagging(&replica));
}

static void test_not_judged(void **state)
{
    (void)state;
    primary_at(100, 1000, REPLID_A);
    primary_at(200, 2000, REPLID_A);
    /* another history: offsets of different streams are not compared (but see test_foreign) */
    replica_at(10, 5000, REPLID_B, true);
    assert_int_equal(vmux__link_judge_lag(&replica, &primary, 500), 0);
    /* a "replica" that answers as a primary */
    primary_at(300, 3000, REPLID_A);
    take(&replica, "role:master\r\nmaster_replid:" REPLID_A "\r\nmaster_repl_offset:1\r\n", 5000);
    assert_int_equal(vmux__link_judge_lag(&replica, &primary, 500), 0);
    /* a primary not yet heard from */
    struct vmux_link fresh = {.cfg = &cfg};
    replica_at(10, 5000, REPLID_A, true);
    assert_int_equal(vmux__link_judge_lag(&replica, &fresh, 500), 0);
    assert_int_equal(vmux__link_judge_lag(&replica, NULL, 500), 0);
    /* cut off from its primary: lagging for that, whatever its offset */
    replica_at(300, 5000, REPLID_A, false);
    assert_true(vmux__link_lagging(&replica));
    replica_at(300, 5100, REPLID_A, true);
    assert_false(vmux__link_lagging(&replica));
    /* an answer without offsets judges nothing */
    take(&replica, "role:slave\r\nmaster_link_status:up\r\nmaster_replid:" REPLID_A "\r\n", 6000);
    assert_int_equal(vmux__link_judge_lag(&replica, &primary, 500), 0);
}

/*
 * Not the primary's replica at all: one that answers as a primary, or one linked to a stream of
 * another history, is skipped whatever its lag and replicaMaxLag (0 included); it is judged
 * only once both have answered, and comes back once it follows the primary again.
 */
static void test_foreign(void **state)
{
    (void)state;
    primary_at(100, 1000, REPLID_A);
    take(&replica, "role:master\r\nmaster_replid:" REPLID_B "\r\nmaster_repl_offset:7\r\n", 1000);
    assert_int_equal(vmux__link_judge_lag(&replica, &primary, 0), 0);
    assert_true(vmux__link_lagging(&replica));
    replica_at(100, 2000, REPLID_B, true); /* a replica, of another primary */
    (void)vmux__link_judge_lag(&replica, &primary, 0);
    assert_true(vmux__link_lagging(&replica));
    replica_at(100, 3000, REPLID_B, false); /* syncing: cut off, judged by its link alone */
    (void)vmux__link_judge_lag(&replica, &primary, 0);
    assert_true(vmux__link_lagging(&replica));
    replica_at(100, 4000, REPLID_A, true); /* follows the primary again */
    (void)vmux__link_judge_lag(&replica, &primary, 0);
    assert_false(vmux__link_lagging(&replica));
    /* not judged against a primary not yet heard from, nor against itself */
    struct vmux_link fresh = {.cfg = &cfg};
    take(&replica, "role:master\r\nmaster_replid:" REPLID_B "\r\nmaster_repl_offset:7\r\n", 5000);
    (void)vmux__link_judge_lag(&replica, &fresh, 0);
    assert_false(vmux__link_lagging(&replica));
    (void)vmux__link_judge_lag(&replica, &replica, 0);
    assert_false(vmux__link_lagging(&replica));
}

/* A failover: the primary's new history voids the samples of the old one. */
static void test_new_history(void **state)
{
    (void)state;
    primary_at(1000, 1000, REPLID_A);
    primary_at(2000, 2000, REPLID_A);
    primary_at(1500, 3000, REPLID_B); /* the promoted replica had 1500 */
    replica_at(1500, 3000, REPLID_B, true);
    assert_int_equal(vmux__link_judge_lag(&replica, &primary, 500), 0);
    primary_at(1600, 4000, REPLID_B);
    replica_at(1500, 6000, REPLID_B, true);
    assert_int_equal(vmux__link_judge_lag(&replica, &primary, 500), 2000);
}

/* Samples are kept replicaMaxLag/32 apart at least, 64 of them: the oldest go first. */
static void test_history_bounds(void **state)
{
    (void)state;
    cfg.replica_max_lag_ms = 32000; /* samples 1 s apart at least */
    primary_at(100, 1000, REPLID_A);
    primary_at(150, 1500, REPLID_A); /* too soon: not kept */
    primary_at(200, 2000, REPLID_A);
    replica_at(120, 3000, REPLID_A, true);
    /* the primary had more than 120 first at 2000 as far as is known (1500 was not kept) */
    assert_int_equal(vmux__link_judge_lag(&replica, &primary, 500), 1000);
    for (int i = 0; i < 100; i++) /* one a second, more than the history holds */
        primary_at(300 + i, 3000 + 1000 * (uint64_t)i, REPLID_A);
    replica_at(0, 103000, REPLID_A, true);
    /* the oldest kept is the 64th from the end: offset 336, seen at 39000 */
    assert_int_equal(vmux__link_judge_lag(&replica, &primary, 500), 103000 - 39000);
}

/* A new connection forgets the offsets, but not whether the replica was to be skipped. */
static void test_reset(void **state)
{
    (void)state;
    primary_at(100, 1000, REPLID_A);
    primary_at(200, 2000, REPLID_A);
    replica_at(50, 5000, REPLID_A, true);
    assert_int_equal(vmux__link_judge_lag(&replica, &primary, 500), 4000);
    vmux__repl_reset(&replica.repl);
    assert_true(vmux__link_lagging(&replica));                          /* until judged again */
    assert_int_equal(vmux__link_judge_lag(&replica, &primary, 500), 0); /* nothing read yet */
    assert_false(vmux__link_lagging(&replica));
    vmux__repl_reset(&primary.repl);
    replica_at(50, 6000, REPLID_A, true);
    assert_int_equal(vmux__link_judge_lag(&replica, &primary, 500), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_lag_in_time, setup),
        cmocka_unit_test_setup(test_not_judged, setup),
        cmocka_unit_test_setup(test_foreign, setup),
        cmocka_unit_test_setup(test_new_history, setup),
        cmocka_unit_test_setup(test_history_bounds, setup),
        cmocka_unit_test_setup(test_reset, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
