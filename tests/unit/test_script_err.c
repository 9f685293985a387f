/*
 * A script's own error told from the server's refusal (core/script_err.h): for each command that
 * runs a script or function, each text the server sends before running anything (Valkey's
 * cluster.c and server.c) is the server's, and the same class in other words is the script's; a
 * MOVED or ASK is the server's only for the op's own slot; other commands' errors are never the
 * script's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/encode.h"
#include "core/errclass.h"
#include "core/op.h"
#include "core/script_err.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Whether msg answering "<name> x 1 k" (routed by slot) is the script's own error. */
static bool own(const char *name, int32_t slot, const char *msg)
{
    const char *argv[] = {name, "x", "1", "k"};
    struct vmux_op *op;
    assert_int_equal(vmux__encode_op(4, argv, NULL, &op), 0);
    op->slot = slot;
    bool yes = vmux__script_own_error(op, msg, strlen(msg), vmux__errclass(msg, strlen(msg)));
    vmux__op_free(op);
    return yes;
}

static const char *const scripts[] = {"EVAL",  "EVALSHA",  "EVAL_RO", "EVALSHA_RO",
                                      "FCALL", "FCALL_RO", "eval",    "fcall_ro"};

/* What the server says before running a command: never the script's. */
static const char *const server[] = {
    "TRYAGAIN Multiple keys request during rehashing of slot",
    "CLUSTERDOWN The cluster is down",
    "CLUSTERDOWN The cluster is down and only accepts read commands",
    "CLUSTERDOWN Hash slot not served",
    "LOADING Valkey is loading the dataset in memory",
    "LOADING Redis is loading the dataset in memory",
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
    "MASTERDOWN Link with MASTER is down, replica-serve-stale-data is set to 'no' and "
    "'allow-stale' flag is not set on the script.",
    "MOVED 100 127.0.0.1:7001",
    "ASK 100 127.0.0.1:7001",
    "MOVED 100 :7001",
};

/* The same classes in a script's words (redis.error_reply): the script's. */
static const char *const scripted[] = {
    "TRYAGAIN",
    "TRYAGAIN raised by the script",
    "TRYAGAIN Multiple keys request during rehashing of slot!",
    "CLUSTERDOWN",
    "CLUSTERDOWN The cluster is down, says the script",
    "LOADING",
    "LOADING my own data is loading the dataset in memory",
    "MASTERDOWN no",
    "MOVED 101 127.0.0.1:7001",
    "ASK 99 127.0.0.1:7001",
    "MOVED 1000 127.0.0.1:7001",
    "MOVED x 127.0.0.1:7001",
    "UNBLOCKED force unblock from blocking operation, instance state changed (master -> "
    "replica?)",
};

static void test_server_texts_are_the_servers(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(scripts); i++)
        for (size_t j = 0; j < N(server); j++)
            if (own(scripts[i], 100, server[j]))
                fail_msg("%s answered '%s' taken for the script's", scripts[i], server[j]);
}

static void test_other_texts_are_the_scripts(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(scripts); i++)
        for (size_t j = 0; j < N(scripted); j++)
            if (!own(scripts[i], 100, scripted[j]))
                fail_msg("%s answered '%s' taken for the server's", scripts[i], scripted[j]);
}

static void test_redirect_of_a_keyless_or_unrouted_op(void **state)
{
    (void)state;
    /* the server redirects no keyless command: a MOVED to a keyless EVAL is the script's */
    assert_true(own("EVAL", -1, "MOVED 100 127.0.0.1:7001"));
    /* not routed by slot yet (sent before the cluster map came): a MOVED in form is taken */
    assert_false(own("EVAL", VMUX_OP_SLOT_UNSET, "MOVED 100 127.0.0.1:7001"));
    assert_false(own("EVAL", VMUX_OP_SLOT_ASK, "ASK 100 127.0.0.1:7001"));
}

/*
 * READONLY: the replica's refusal of a script with flags or a function that may write, before it
 * runs, is the server's; a write inside a script that runs fails with " script: ..." after the
 * text (after whatever the script did first), and a script may return READONLY itself: both
 * the script's, never sent again (review helper-257: an EVAL returning its own READONLY ran 4
 * times).
 */
static void test_readonly(void **state)
{
    (void)state;
    static const char refusal[] = "READONLY You can't write against a read only replica.";
    assert_false(own("EVAL", 100, refusal));
    assert_false(own("FCALL", -1, refusal));
    assert_true(own("EVAL", 100,
                    "READONLY You can't write against a read only replica. script: "
                    "2b7e3b7c, on @user_script:1."));
    assert_true(own("FCALL", 100, "READONLY my own error"));
    assert_false(own("INCR", 100, "READONLY my own error")); /* not a script: the server's */
}

static void test_other_commands_never(void **state)
{
    (void)state;
    static const char *const others[] = {"INCR", "EVALX", "EVA", "SCRIPT", "FUNCTION", "GET"};
    for (size_t i = 0; i < N(others); i++) {
        assert_false(own(others[i], 100, "TRYAGAIN raised by someone"));
        assert_false(own(others[i], 100, "MOVED 101 127.0.0.1:7001"));
    }
    /* classes the link does not resend are not looked at */
    assert_false(own("EVAL", 100, "ERR something"));
    assert_false(own("EVAL", 100, "BUSY Valkey is busy running a script."));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_texts_are_the_servers),
        cmocka_unit_test(test_other_texts_are_the_scripts),
        cmocka_unit_test(test_redirect_of_a_keyless_or_unrouted_op),
        cmocka_unit_test(test_readonly),
        cmocka_unit_test(test_other_commands_never),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
