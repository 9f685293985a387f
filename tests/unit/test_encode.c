/* Command encoding: our encoder must produce exactly what hiredis's formatter does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "core/encode.h"
#include "vmux/error.h"

static void check_same_as_hiredis(int argc, const char **argv, const size_t *argvlen)
{
    struct vmux_op *op;
    assert_int_equal(vmux__encode_op(argc, argv, argvlen, &op), 0);
    char *want;
    int n = redisFormatCommandArgv(&want, argc, argv, argvlen);
    assert_true(n > 0);
    assert_int_equal(op->len, (size_t)n);
    assert_memory_equal(op->cmd, want, (size_t)n);
    redisFreeCommand(want);
    vmux__op_free(op);
}

static void test_strings(void **state)
{
    (void)state;
    const char *argv[] = {"SET", "key", "value"};
    check_same_as_hiredis(3, argv, NULL);
}

static void test_binary_and_empty(void **state)
{
    (void)state;
    const char *argv[] = {"SET", "k\0\r\n", ""};
    size_t lens[] = {3, 4, 0};
    check_same_as_hiredis(3, argv, lens);
}

static void test_long_and_many_arguments(void **state)
{
    (void)state;
    enum { N = 1234 };
    const char *argv[N];
    size_t lens[N];
    char *big = malloc(100000);
    memset(big, 'x', 100000);
    for (int i = 0; i < N; i++) {
        argv[i] = big;
        lens[i] = (size_t)(i * 81) % 100000;
    }
    check_same_as_hiredis(N, argv, lens);
    free(big);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct vmux_op *op = NULL;
    const char *argv[] = {"GET", NULL};
    assert_int_equal(vmux__encode_op(0, argv, NULL, &op), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux__encode_op(1, NULL, NULL, &op), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux__encode_op(2, argv, NULL, &op), VMUX_ERR_INVALID_ARG);
    size_t lens[] = {3, 0};
    assert_int_equal(vmux__encode_op(2, argv, lens, &op), 0); /* NULL with length 0: empty */
    assert_memory_equal(op->cmd, "*2\r\n$3\r\nGET\r\n$0\r\n\r\n", op->len);
    vmux__op_free(op);
    assert_int_equal(vmux__encode_op_raw(NULL, 3, &op), VMUX_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_binary_and_empty),
        cmocka_unit_test(test_long_and_many_arguments),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
