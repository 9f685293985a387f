/*
 * A shard channel the server ends by itself while the handle's SUNSUBSCRIBE of it is on its
 * way, against a scripted fake server (fakeserver.h) that sends what a primary demoted by a
 * failover sends: first its own "sunsubscribe" push (the slot left it), then the answer to the
 * SUNSUBSCRIBE it reads after, for a channel no longer subscribed: Valkey 8's NOSUB error, or
 * an older server's second "sunsubscribe". The push is taken for the answer (the two look
 * alike), so the real answer comes with no UNSUBSCRIBE waiting for it:
 *
 * - alone, the NOSUB was logged at ERROR ("subscriber connection: NOSUB 'sunsubscribe' command
 *   executed not in subscribed mode", review helper-205 F2); it is expected, and debug now;
 * - with an SSUBSCRIBE written behind the SUNSUBSCRIBE, the NOSUB was taken for the SSUBSCRIBE's
 *   answer: that subscription was refused (ERROR) and never became live;
 * - with an SSUBSCRIBE of the same channel behind (subscribed again at once), an older server's
 *   second "sunsubscribe" was read as the server ending that new subscription: it was marked
 *   lost ("the server ended shard channel ...") and its own confirmation then made nothing live.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fakeserver.h"
#include "logtext.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define WAIT_MS 30000
#define SSUB_X "*3\r\n$10\r\nssubscribe\r\n$1\r\nx\r\n:1\r\n"
#define SSUB_Y "*3\r\n$10\r\nssubscribe\r\n$1\r\ny\r\n:1\r\n"
#define SUNSUB_X "*3\r\n$12\r\nsunsubscribe\r\n$1\r\nx\r\n:0\r\n"
#define NOSUB "-NOSUB 'sunsubscribe' command executed not in subscribed mode\r\n"

/* The handle's log lines, from its I/O thread (DEBUG and up). */
static vt_logtext seen = VT_LOGTEXT_INIT;

static void on_message(const vmux_message *msg, void *userdata)
{
    (void)msg;
    (void)userdata;
}

/* A handle on f that logs every line into seen. */
static vmux *open_logged(vt_fake *f)
{
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=no", vt_fake_port(f));
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_log(cfg, vt_logtext_line, VMUX_LOG_DEBUG, &seen), 0);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    vt_logtext_clear(&seen);
    return m;
}

static vmux_sub *shard_sub(vmux *m, const char *name)
{
    vmux_sub *s = NULL;
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_SHARD, VMUX_STR(name), on_message, NULL, &s), 0);
    return s;
}

static bool nosub_logged(void *arg)
{
    (void)arg;
    return vt_logtext_has(&seen, "NOSUB");
}

/* Fails the test with the log when it holds an ERROR or WARN line, or words. */
static void assert_log_clean(const char *words)
{
    if (vt_logtext_has(&seen, "[3] ") || vt_logtext_has(&seen, "[2] ") ||
        (words != NULL && vt_logtext_has(&seen, words))) {
        fprintf(stderr, "the handle's log:\n%s", seen.text);
        fail_msg("a line logged that should not be (%s, or ERROR/WARN)",
                 words != NULL ? words : "-");
    }
}

/* x subscribed, then unsubscribed: the push and the NOSUB answer its SUNSUBSCRIBE, and the
 * NOSUB, expected, is logged at DEBUG. */
static void test_nosub_alone(void **state)
{
    (void)state;
    vt_fake *f = vt_fake_start();
    assert_non_null(f);
    assert_int_equal(vt_fake_push_str(f, VT_FAKE_SEND, SSUB_X), 0);         /* SSUBSCRIBE x */
    assert_int_equal(vt_fake_push_str(f, VT_FAKE_SEND, SUNSUB_X NOSUB), 0); /* SUNSUBSCRIBE x */
    vmux *m = open_logged(f);
    vmux_sub *x = shard_sub(m, "x");
    assert_int_equal(vmux_sub_wait_live(x, WAIT_MS), 0);
    assert_int_equal(vmux_unsubscribe(m, x), 0);
    if (!vt_wait_until(nosub_logged, NULL, WAIT_MS))
        fail_msg("no NOSUB logged; the log:\n%s", seen.text);
    vmux_close(m); /* the log is whole */
    assert_log_clean(NULL);
    assert_true(vt_logtext_has(&seen, "[0] subscriber connection"));
    vt_fake_stop(f);
}

/*
 * x subscribed; then x unsubscribed and `again` subscribed, both written before the server
 * answers the first (it holds that answer back) and answers the second with answers: the
 * SSUBSCRIBE of again must get its own confirmation and go live at once, sent once, with no
 * ERROR or WARN logged, nor not_logged.
 */
static void cross(const char *answers, const char *again, const char *not_logged)
{
    vt_fake *f = vt_fake_start();
    assert_non_null(f);
    assert_int_equal(vt_fake_push_str(f, VT_FAKE_SEND, SSUB_X), 0);  /* SSUBSCRIBE x */
    assert_int_equal(vt_fake_push_str(f, VT_FAKE_SEND, ""), 0);      /* SUNSUBSCRIBE x: held */
    assert_int_equal(vt_fake_push_str(f, VT_FAKE_SEND, answers), 0); /* SSUBSCRIBE again */
    vmux *m = open_logged(f);
    vmux_sub *x = shard_sub(m, "x");
    assert_int_equal(vmux_sub_wait_live(x, WAIT_MS), 0);
    assert_int_equal(vmux_unsubscribe(m, x), 0);
    vmux_sub *s = shard_sub(m, again);
    if (vmux_sub_wait_live(s, WAIT_MS) != 0)
        fail_msg("%s never live (%u SSUBSCRIBEs); the log:\n%s", again,
                 vt_fake_count(f, "SSUBSCRIBE"), seen.text);
    unsigned ssubscribes = vt_fake_count(f, "SSUBSCRIBE");
    vmux_close(m);
    assert_int_equal(ssubscribes, 2); /* once: neither refused nor ended, so not sent again */
    assert_log_clean(not_logged);
    vt_fake_stop(f);
}

/* y's SSUBSCRIBE behind: the NOSUB that answers x's SUNSUBSCRIBE is not y's answer. */
static void test_nosub_before_subscribe(void **state)
{
    (void)state;
    cross(SUNSUB_X NOSUB SSUB_Y, "y", "refused");
}

/* x subscribed again behind, on an older server: its push and its second "sunsubscribe" come
 * before the new subscription's confirmation, and neither ends it. */
static void test_late_sunsubscribe_before_resubscribe(void **state)
{
    (void)state;
    cross(SUNSUB_X SUNSUB_X SSUB_X, "x", "the server ended shard channel");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nosub_alone),
        cmocka_unit_test(test_nosub_before_subscribe),
        cmocka_unit_test(test_late_sunsubscribe_before_resubscribe),
    };
    vt_filter_tests();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
