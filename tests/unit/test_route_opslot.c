/*
 * An op's slot (vmux__router_slot(), route/router.h): one command, and blocks of several
 * (MULTI ... EXEC) whose keys must all share one slot.
 */
#include <setjmp.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_command),
        cmocka_unit_test(test_transaction_takes_its_keys_slot),
        cmocka_unit_test(test_transaction_across_slots_is_refused),
        cmocka_unit_test(test_unknown_command_asks_the_server),
        cmocka_unit_test(test_garbage_after_a_command_stops_the_reading),
        cmocka_unit_test(test_standalone_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
