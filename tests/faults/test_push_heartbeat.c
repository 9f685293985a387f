/*
 * The heartbeat of a subscriber link whose connection is not in subscribed mode, against two
 * scripted fake sentinels (fakeserver.h): the first also plays the primary they name. Both
 * refuse SUBSCRIBE (-NOPERM, a sentinel user without +subscribe), so the Sentinel watcher's
 * connections stay unsubscribed, and answer its idle PING (keepAlive=2) with +PONG, not a
 * subscribed connection's ["pong", ""]. That answer must keep the link alive: the second fake
 * sees nothing but its watcher, whose one connection answers several heartbeats and is never
 * replaced. +PONG went to the watcher's push callback before and was dropped, and the link was
 * judged dead ("no answer to PING ... dead link") and reconnected every keepAlive + 2 x
 * syncTimeout (about 4 s here), for good.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
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

#define PINGS 3       /* heartbeats the watcher's connection must see answered */
#define WAIT_MS 60000 /* for them: about 2 s each here; a deadline, not an expectation */
#define NOPERM_SUBSCRIBE "-NOPERM User nosub has no permissions to run the 'subscribe' command\r\n"
#define ROLE_PRIMARY "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"

/* The log lines a handle wrote, from its I/O thread. */
static vt_logtext seen = VT_LOGTEXT_INIT;

/* A fake sentinel that names the fake primary at primary_port, and refuses SUBSCRIBE. */
static void play_sentinel(vt_fake *f, int primary_port)
{
    char port[16], answer[64];
    snprintf(port, sizeof port, "%d", primary_port);
    snprintf(answer, sizeof answer, "*2\r\n$9\r\n127.0.0.1\r\n$%zu\r\n%s\r\n", strlen(port), port);
    assert_int_equal(vt_fake_answer(f, "SENTINEL", answer, 0), 0);
    assert_int_equal(vt_fake_answer(f, "SUBSCRIBE", NOPERM_SUBSCRIBE, 0), 0);
}

/* Whether the fake at arg has read PINGS heartbeats (a condition). */
static bool pinged_enough(void *arg)
{
    return vt_fake_count(arg, "PING") >= PINGS;
}

/* Whether the fake at arg has read a SUBSCRIBE (a condition). */
static bool subscribe_refused(void *arg)
{
    return vt_fake_count(arg, "SUBSCRIBE") >= 1;
}

/*
 * The watcher on the second sentinel: refused, then answered +PONG PINGS times on its first
 * connection, with no second connection, no second SUBSCRIBE and no dead link logged.
 */
static void test_refused_subscribe_link_lives(void **state)
{
    (void)state;
    vt_fake *one = vt_fake_start(), *two = vt_fake_start();
    assert_non_null(one);
    assert_non_null(two);
    play_sentinel(one, vt_fake_port(one));
    play_sentinel(two, vt_fake_port(one));
    assert_int_equal(vt_fake_answer(one, "ROLE", ROLE_PRIMARY, 0), 0); /* the primary's part */
    char conf[256];
    snprintf(conf, sizeof conf,
             "127.0.0.1:%d,127.0.0.1:%d,serviceName=mymaster,cluster=no,keepAlive=2,"
             "syncTimeout=1000",
             vt_fake_port(one), vt_fake_port(two));
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_log(cfg, vt_logtext_line, VMUX_LOG_INFO, &seen), 0);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    assert_true(vt_wait_until(subscribe_refused, two, WAIT_MS));
    unsigned accepted = vt_fake_accepted(two);
    if (!vt_wait_until(pinged_enough, two, WAIT_MS))
        fail_msg("%u PINGs in %d ms", vt_fake_count(two, "PING"), WAIT_MS);
    unsigned now_accepted = vt_fake_accepted(two), subscribes = vt_fake_count(two, "SUBSCRIBE");
    vmux_close(m); /* the log is whole */
    if (now_accepted != accepted || subscribes != 1) {
        fprintf(stderr, "the handle's log:\n%s", seen.text);
        fail_msg("the watcher reconnected: %u connections, %u SUBSCRIBEs for %u PINGs",
                 now_accepted, subscribes, vt_fake_count(two, "PING"));
    }
    assert_false(vt_logtext_has(&seen, "dead link"));
    assert_true(vt_logtext_has(&seen, "SUBSCRIBE to the failover events refused"));
    vt_fake_stop(one);
    vt_fake_stop(two);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_subscribe_link_lives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
