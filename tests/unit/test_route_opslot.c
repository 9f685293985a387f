/*
 * An op's slot (vmux__router_slot(), route/router.h): one command, and blocks of several
 * (MULTI ... EXEC) whose keys must all share one slot; and an op placed by the router's mode
 * (vmux__router_place()), from its bytes or its argument vector.
 */
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/encode.h"
#include "core/op.h"
#include "route/router.h"
#include "route/slot.h"
#include "vmux/error.h"

/* An op whose bytes are the commands given as space-separated words, one string per command. */
static struct vmux_op *block(const char *const *cmds, size_t ncmds)
{
    char text[1024] = "";
    size_t at = 0;
    for (size_t c = 0; c < ncmds; c++) {
        char copy[256];
        strcpy(copy, cmds[c]);
        const char *argv[16];
        int argc = 0;
        for (char *w = strtok(copy, " "); w != NULL; w = strtok(NULL, " "))
            argv[argc++] = w;
        at += (size_t)snprintf(text + at, sizeof text - at, "*%d\r\n", argc);
        for (int i = 0; i < argc; i++)
            at += (size_t)snprintf(text + at, sizeof text - at, "$%zu\r\n%s\r\n", strlen(argv[i]),
                                   argv[i]);
    }
    struct vmux_op *op = NULL;
    assert_int_equal(vmux__encode_op_raw(text, at, &op), 0);
    op->nreplies = (uint32_t)ncmds;
    return op;
}

static int slot_of(const char *key)
{
    return (int)vmux__slot_of(key, strlen(key));
}

static void test_one_command(void **state)
{
    (void)state;
    const char *const get[] = {"GET user:1"};
    struct vmux_op *op = block(get, 1);
    assert_int_equal(vmux__router_slot(op, NULL, 0), 0);
    assert_int_equal(op->slot, slot_of("user:1"));
    vmux__op_free(op);
    const char *const ping[] = {"PING"};
    op = block(ping, 1);
    assert_int_equal(vmux__router_slot(op, NULL, 0), 0);
    assert_int_equal(op->slot, -1);
    vmux__op_free(op);
}

static void test_transaction_takes_its_keys_slot(void **state)
{
    (void)state;
    const char *const tx[] = {"MULTI", "SET {u7}:a 1", "INCR {u7}:b", "PING", "EXEC"};
    struct vmux_op *op = block(tx, 5);
    assert_int_equal(vmux__router_slot(op, NULL, 0), 0);
    assert_int_equal(op->slot, slot_of("u7"));
    vmux__op_free(op);
    const char *const keyless[] = {"MULTI", "PING", "EXEC"};
    op = block(keyless, 3);
    assert_int_equal(vmux__router_slot(op, NULL, 0), 0);
    assert_int_equal(op->slot, -1);
    vmux__op_free(op);
}

static void test_transaction_across_slots_is_refused(void **state)
{
    (void)state;
    assert_int_not_equal(slot_of("a"), slot_of("b"));
    const char *const tx[] = {"MULTI", "SET a 1", "PING", "SET b 2", "EXEC"};
    struct vmux_op *op = block(tx, 5);
    char why[256];
    assert_int_equal(vmux__router_slot(op, why, sizeof why), VMUX_ERR_CROSSSLOT);
    char want[256];
    snprintf(want, sizeof want, "keys 'a' (slot %d) and 'b' (slot %d)", slot_of("a"), slot_of("b"));
    assert_non_null(strstr(why, want));
    vmux__op_free(op);
    /* within one command of the block, too */
    const char *const mset[] = {"MULTI", "MSET a 1 b 2", "EXEC"};
    op = block(mset, 3);
    assert_int_equal(vmux__router_slot(op, why, sizeof why), VMUX_ERR_CROSSSLOT);
    assert_non_null(strstr(why, want));
    vmux__op_free(op);
}

static void test_unknown_command_asks_the_server(void **state)
{
    (void)state;
    const char *const one[] = {"MODULECMD.DO k1 k2"};
    struct vmux_op *op = block(one, 1);
    assert_int_equal(vmux__router_slot(op, NULL, 0), 0);
    assert_int_equal(op->slot, VMUX_OP_SLOT_ASK);
    vmux__op_free(op);
    /* in a block, the known commands' slot decides (the server checks the rest) */
    const char *const tx[] = {"MULTI", "MODULECMD.DO k1", "SET {u}:a 1", "EXEC"};
    op = block(tx, 4);
    assert_int_equal(vmux__router_slot(op, NULL, 0), 0);
    assert_int_equal(op->slot, slot_of("u"));
    vmux__op_free(op);
    const char *const only[] = {"MULTI", "MODULECMD.DO k1", "EXEC"};
    op = block(only, 3);
    assert_int_equal(vmux__router_slot(op, NULL, 0), 0);
    assert_int_equal(op->slot, -1);
    vmux__op_free(op);
}

/* PUBLISH, from its bytes (vmux_command()) as from its argument vector: keyless, but run where
 * the handle's subscriptions are (core/op.h); not inside a block, nor a look-alike. */
static void test_publish_is_marked(void **state)
{
    (void)state;
    const char *const cases[][2] = {{"PUBLISH ch hello", NULL},
                                    {"publish ch hello", NULL},
                                    {"PUBLISHX ch hello", NULL},
                                    {"PUBSUB CHANNELS", NULL},
                                    {"PUBLISH ch 1", "PUBLISH ch 2"}};
    const size_t n[] = {1, 1, 1, 1, 2};
    const int want[] = {VMUX_OP_SLOT_PUBLISH, VMUX_OP_SLOT_PUBLISH, VMUX_OP_SLOT_ASK, -1, -1};
    for (size_t i = 0; i < 5; i++) {
        struct vmux_op *op = block(cases[i], n[i]);
        assert_int_equal(vmux__router_slot(op, NULL, 0), 0);
        assert_int_equal(op->slot, want[i]);
        vmux__op_free(op);
    }
    const char *const argv[] = {"Publish", "ch", "hello"};
    struct vmux_op *op = block(cases[0], 1);
    assert_int_equal(vmux__router_slot_argv(op, 3, argv, NULL, NULL, 0), 0);
    assert_int_equal(op->slot, VMUX_OP_SLOT_PUBLISH);
    vmux__op_free(op);
}

static void test_garbage_after_a_command_stops_the_reading(void **state)
{
    (void)state;
    static const char text[] = "*2\r\n$3\r\nGET\r\n$1\r\na\r\n*9\r\n$3\r\nSET";
    struct vmux_op *op = NULL;
    assert_int_equal(vmux__encode_op_raw(text, sizeof text - 1, &op), 0);
    assert_int_equal(vmux__router_slot(op, NULL, 0), 0);
    assert_int_equal(op->slot, slot_of("a"));
    vmux__op_free(op);
}

/* Standalone readFrom: only ops whose every command reads and names a key; slots may differ. */
static void test_standalone_reads(void **state)
{
    (void)state;
    const char *const reads[][2] = {{"GET a", NULL}, {"MGET a b c d", NULL}, {"GET a", "GET b"}};
    const size_t n[] = {1, 1, 2};
    for (size_t i = 0; i < 3; i++) {
        struct vmux_op *op = block(reads[i], n[i]);
        vmux__router_mark_read(op);
        assert_true(op->flags & VMUX_OP_READONLY);
        assert_int_equal(op->slot, 0);
        vmux__op_free(op);
    }
    const char *const others[][2] = {{"SET a 1", NULL},
                                     {"PING", NULL},
                                     {"GET a", "SET b 1"},
                                     {"EVAL x 1 a", NULL},
                                     {"NOSUCHCOMMAND a", NULL}};
    const size_t m[] = {1, 1, 2, 1, 1};
    for (size_t i = 0; i < 5; i++) {
        struct vmux_op *op = block(others[i], m[i]);
        int32_t before = op->slot;
        vmux__router_mark_read(op);
        assert_false(op->flags & VMUX_OP_READONLY);
        assert_int_equal(op->slot, before);
        vmux__op_free(op);
    }
    struct vmux_op *op = block((const char *const[]){"GET a"}, 1);
    vmux__router_mark_read_argv(op, 3, (const char *const[]){"MGET", "a", "b"}, NULL);
    assert_true(op->flags & VMUX_OP_READONLY);
    vmux__op_free(op);
    op = block((const char *const[]){"SET a 1"}, 1);
    vmux__router_mark_read_argv(op, 3, (const char *const[]){"SET", "a", "1"}, NULL);
    assert_false(op->flags & VMUX_OP_READONLY);
    vmux__op_free(op);
}

/* A router as vmux__router_place() reads it: its mode, replica endpoints, and readFrom in cfg. */
static void router_as(struct vmux_router *r, struct vmux_config *cfg, enum vmux_router_mode mode,
                      vmux_read_from read_from)
{
    *cfg = (struct vmux_config){.read_from = read_from};
    memset(r, 0, sizeof *r);
    atomic_init(&r->mode, (int)mode);
    r->cfg = cfg;
    r->replica_endpoints = true;
}

/* Places the command argv[0..argc) as vmux_call() does (from argv) or as a prepared op (bytes). */
static int place(struct vmux_router *r, uint32_t flags, int argc, const char *const *argv,
                 bool from_argv, struct vmux_op **op, char *why, size_t whylen)
{
    assert_int_equal(vmux__encode_op(argc, argv, NULL, op), 0);
    return vmux__router_place(r, *op, flags, argc, from_argv ? argv : NULL, NULL, why, whylen);
}

/* A cluster computes the slot either way; keys in two slots refuse the op (freed) with words. */
static void test_place_cluster(void **state)
{
    (void)state;
    struct vmux_router r;
    struct vmux_config cfg;
    router_as(&r, &cfg, VMUX_ROUTER_CLUSTER, VMUX_READ_PRIMARY);
    const char *const get[] = {"GET", "user:1"}, *const mset[] = {"MSET", "a", "1", "b", "2"};
    char why[256], want[256];
    snprintf(want, sizeof want, "keys 'a' (slot %d) and 'b' (slot %d)", slot_of("a"), slot_of("b"));
    for (int from_argv = 0; from_argv < 2; from_argv++) {
        struct vmux_op *op;
        assert_int_equal(place(&r, 0, 2, get, from_argv, &op, why, sizeof why), 0);
        assert_int_equal(op->slot, slot_of("user:1"));
        assert_true(op->flags & VMUX_OP_READONLY);
        vmux__op_free(op);
        assert_int_equal(place(&r, 0, 5, mset, from_argv, &op, why, sizeof why),
                         VMUX_ERR_CROSSSLOT);
        assert_non_null(strstr(why, want));
    }
}

/* Standalone: a read is marked only where readFrom, or the op's VMUX_OP_TO_REPLICA, allows. */
static void test_place_standalone(void **state)
{
    (void)state;
    struct vmux_router r;
    struct vmux_config cfg;
    const char *const get[] = {"GET", "a"}, *const set[] = {"SET", "a", "1"};
    struct {
        vmux_read_from read_from;
        bool endpoints;
        uint32_t flags;
        const char *const *argv;
        int argc;
        bool marked;
    } cases[] = {
        {VMUX_READ_PRIMARY, true, 0, get, 2, false},
        {VMUX_READ_PRIMARY, true, VMUX_OP_TO_REPLICA, get, 2, true},
        {VMUX_READ_REPLICA, true, 0, get, 2, true},
        {VMUX_READ_REPLICA, true, 0, set, 3, false},
        {VMUX_READ_REPLICA, false, 0, get, 2, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int from_argv = 0; from_argv < 2; from_argv++) {
            router_as(&r, &cfg, VMUX_ROUTER_STANDALONE, cases[i].read_from);
            r.replica_endpoints = cases[i].endpoints;
            struct vmux_op *op;
            assert_int_equal(
                place(&r, cases[i].flags, cases[i].argc, cases[i].argv, from_argv, &op, NULL, 0),
                0);
            assert_int_equal(!!(op->flags & VMUX_OP_READONLY), cases[i].marked);
            assert_int_equal(op->slot, cases[i].marked ? 0 : VMUX_OP_SLOT_UNSET);
            vmux__op_free(op);
        }
    }
}

/* While the mode is not known (or detection failed), the op is left for the I/O thread. */
static void test_place_detecting(void **state)
{
    (void)state;
    struct vmux_router r;
    struct vmux_config cfg;
    const char *const mset[] = {"MSET", "a", "1", "b", "2"};
    enum vmux_router_mode modes[] = {VMUX_ROUTER_DETECTING, VMUX_ROUTER_FAILED};
    for (size_t i = 0; i < 2; i++) {
        router_as(&r, &cfg, modes[i], VMUX_READ_REPLICA);
        struct vmux_op *op;
        assert_int_equal(place(&r, 0, 5, mset, true, &op, NULL, 0), 0);
        assert_int_equal(op->slot, VMUX_OP_SLOT_UNSET);
        assert_false(op->flags & VMUX_OP_READONLY);
        vmux__op_free(op);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_command),
        cmocka_unit_test(test_transaction_takes_its_keys_slot),
        cmocka_unit_test(test_transaction_across_slots_is_refused),
        cmocka_unit_test(test_unknown_command_asks_the_server),
        cmocka_unit_test(test_publish_is_marked),
        cmocka_unit_test(test_garbage_after_a_command_stops_the_reading),
        cmocka_unit_test(test_standalone_reads),
        cmocka_unit_test(test_place_cluster),
        cmocka_unit_test(test_place_standalone),
        cmocka_unit_test(test_place_detecting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
