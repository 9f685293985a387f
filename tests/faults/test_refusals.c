/*
 * Refusals: LOADING, MASTERDOWN, TRYAGAIN and CLUSTERDOWN say the command did not run, so every
 * command (retry-safe or not) is sent again after a jittered delay that doubles from 10 ms up to
 * 500 ms while they last, until its deadline; a deadline that finds it waiting to be sent again
 * completes it with VMUX_ERR_SERVER and the last refusal (it did not run), not VMUX_ERR_TIMEOUT
 * (outcome unknown, as for one the deadline finds in flight).
 * A lock's acquire_wait() goes on through them until wait_ms (probe32: a CLUSTERDOWN during a
 * failover came back at once), and through READONLY (probe52: a demoted primary), and its words say
 * when wait_ms, not resolve_timeout_ms, ended the resolution of a lost reply. A scripted fake
 * server gives the refusals (tests/support/fakeserver.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fakefixture.h"
#include "vmux/vmux.h"

static void test_refused_command_runs_once_the_server_takes_it(void **state)
{
    vt_fake_fixture *fx = *state;
    const char *const refusals[] = {"-LOADING loading the dataset\r\n", "-MASTERDOWN no link\r\n",
                                    "-TRYAGAIN multiple keys\r\n", "-CLUSTERDOWN down\r\n"};
    for (size_t i = 0; i < 4; i++)
        vt_fake_script_str(fx->fake, VT_FAKE_SEND, refusals[i]);
    vt_fake_script_str(fx->fake, VT_FAKE_SEND, ":7\r\n");
    fx->m = vt_fake_open(fx->fake, "syncTimeout=10000");
    vmux_reply *r = NULL;
    /* INCR is not retry-safe: it goes again all the same, as none of the four ran it */
    assert_int_equal(vmux_command(fx->m, &r, "INCR counter"), 0);
    assert_int_equal(vmux_reply_integer(r), 7);
    vmux_reply_free(r);
    assert_int_equal(vt_fake_commands(fx->fake), 5);
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(fx->m, &st), 0);
    assert_int_equal(st.retried, 4);
}

/*
 * SET k v with a 600 ms deadline, refused with CLUSTERDOWN each time. The deadline finds it
 * either waiting to be sent again (VMUX_ERR_SERVER and the refusal) or sent again and not
 * answered yet (VMUX_ERR_TIMEOUT, as any command in flight: docs/reliability.md), a round trip's
 * window that a loaded machine (ASan, two cores) meets now and then. Returns whether it was the
 * refusal, checked then; *attempts: how many times it was sent.
 */
static bool refused_at_deadline(vt_fake_fixture *fx, unsigned *attempts)
{
    char err[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts);
    o.timeout_ms = 600;
    o.errbuf = err;
    o.errlen = sizeof err;
    vmux_reply *r = NULL;
    const char *argv[] = {"SET", "k", "v"};
    unsigned before = vt_fake_commands(fx->fake);
    int rc = vmux_call(fx->m, &o, 3, argv, NULL, &r);
    *attempts = vt_fake_commands(fx->fake) - before;
    if (rc == VMUX_ERR_TIMEOUT) {
        vmux_reply_free(r);
        return false;
    }
    assert_int_equal(rc, VMUX_ERR_SERVER);
    assert_non_null(r);
    /* the server's words, then how often and how long, and that it did not run */
    const char *said = vmux_reply_str(r, NULL);
    if (strncmp(said, "CLUSTERDOWN The cluster is down (refused ", 41) != 0 ||
        strstr(said, " ms while the cluster is down; not executed)") == NULL)
        fail_msg("the refusal's words: '%s'", said);
    assert_string_equal(err, said);
    vmux_reply_free(r);
    return true;
}

static void test_deadline_ends_the_retries_with_the_last_refusal(void **state)
{
    vt_fake_fixture *fx = *state;
    for (int i = 0; i < 64; i++) /* enough for 5 calls of at most 8 attempts */
        vt_fake_script_str(fx->fake, VT_FAKE_SEND, "-CLUSTERDOWN The cluster is down\r\n");
    fx->m = vt_fake_open(fx->fake, "syncTimeout=10000");
    unsigned attempts = 0;
    int in_flight = 0;
    while (!refused_at_deadline(fx, &attempts))
        if (++in_flight == 5)
            fail_msg("the deadline found SET k v in flight 5 times in a row");
    /* The delays double: 600 ms hold at most 5+10+20+40+80+160+250 ms of (halved) delays, so
     * no more than 8 attempts; a fixed 10 ms delay would have made about 60. */
    assert_true(attempts >= 2);
    assert_true(attempts <= 8);
}

static vmux_lock *short_lock(vmux *m)
{
    vmux_lock *l = NULL;
    vmux_lock_opts o = VMUX_INIT(vmux_lock_opts, .timeout_ms = 300, .retry_max_ms = 50);
    assert_int_equal(vmux_lock_new(m, VMUX_STR("lk"), &o, &l), 0);
    return l;
}

static void test_lock_waits_out_clusterdown(void **state)
{
    vt_fake_fixture *fx = *state;
    /* each attempt meets several before its 300 ms pass; the 13th EVALSHA takes the lock */
    assert_int_equal(
        vt_fake_answer(fx->fake, "EVALSHA", "-CLUSTERDOWN The cluster is down\r\n", 12), 0);
    /* a reply the deadline finds in flight is resolved: the key is not ours yet */
    assert_int_equal(vt_fake_answer(fx->fake, "MGET", "*2\r\n$-1\r\n$-1\r\n", 0), 0);
    vt_fake_script_str(fx->fake, VT_FAKE_SEND, ":7\r\n");
    fx->m = vt_fake_open(fx->fake, "cluster=no");
    vmux_lock *l = short_lock(fx->m);
    bool acquired = false;
    uint64_t fence = 0;
    assert_int_equal(vmux_lock_acquire_wait(l, 30000, &acquired, &fence), 0);
    assert_true(acquired);
    assert_int_equal(fence, 7);
    vmux_lock_free(l); /* its release finds the script empty: an error, ignored */
}

/* READONLY (a primary demoted under the handle, probe52): the script did not run; tried past. */
static void test_lock_waits_out_readonly(void **state)
{
    vt_fake_fixture *fx = *state;
    assert_int_equal(vt_fake_answer(fx->fake, "EVALSHA",
                                    "-READONLY You can't write against a read only replica.\r\n",
                                    2),
                     0);
    /* the connection after a READONLY asks ROLE (net/lone.c): a primary again, the script kept
     * for the lock's own commands */
    assert_int_equal(vt_fake_answer(fx->fake, "ROLE", "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n", 0), 0);
    vt_fake_script_str(fx->fake, VT_FAKE_SEND, ":7\r\n");
    fx->m = vt_fake_open(fx->fake, "cluster=no,reconnectMin=20");
    vmux_lock *l = short_lock(fx->m);
    bool acquired = false;
    uint64_t fence = 0;
    int rc = vmux_lock_acquire_wait(l, 30000, &acquired, &fence);
    if (rc != 0)
        fail_msg("acquire_wait: %s (%s)", vmux_err_name(rc), vmux_last_error());
    assert_true(acquired);
    assert_int_equal(fence, 7);
    vmux_lock_free(l); /* its release finds the script empty: an error, ignored */
}

static void test_lock_resolution_cut_by_wait(void **state)
{
    vt_fake_fixture *fx = *state;
    for (int i = 0; i < 64; i++) /* every connection's first command, then silence */
        vt_fake_script_str(fx->fake, VT_FAKE_SEND_SILENT, "");
    fx->m = vt_fake_open(fx->fake, "cluster=no");
    vmux_lock *l = short_lock(fx->m);
    bool acquired = true;
    assert_int_equal(vmux_lock_acquire_wait(l, 800, &acquired, NULL), VMUX_ERR_CONNECTION_LOST);
    assert_false(acquired);
    if (strstr(vmux_last_error(), "before wait_ms ran out") == NULL)
        fail_msg("words: %s", vmux_last_error());
    vmux_lock_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        VT_FAKE_TEST(test_refused_command_runs_once_the_server_takes_it),
        VT_FAKE_TEST(test_deadline_ends_the_retries_with_the_last_refusal),
        VT_FAKE_TEST(test_lock_waits_out_clusterdown),
        VT_FAKE_TEST(test_lock_waits_out_readonly),
        VT_FAKE_TEST(test_lock_resolution_cut_by_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
