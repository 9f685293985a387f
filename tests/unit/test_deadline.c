/* The deadline index: the earliest deadline across timeout classes expires first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/deadline.h"
#include "core/until.h"
#include "failalloc.h"

static struct vmux_op *op_at(uint32_t timeout_ms, uint64_t deadline_ns)
{
    struct vmux_op *op = vmux__op_new(0);
    op->timeout_ms = timeout_ms;
    op->deadline_ns = deadline_ns;
    return op;
}

/* vmux__until_ms(): a wait's end, now plus ms, saturated (probe34: INT64_MAX ms wrapped). */
static void test_until_never_wraps(void **state)
{
    (void)state;
    uint64_t before = uv_hrtime();
    uint64_t soon = vmux__until_ms(1000), now = vmux__until_ms(0), past = vmux__until_ms(-5);
    uint64_t after = uv_hrtime();
    assert_true(soon >= before + 1000000000u && soon <= after + 1000000000u);
    assert_true(now >= before && now <= after && past >= before && past <= after);
    assert_true(vmux__until_ms(INT64_MAX) == UINT64_MAX);
    assert_true(vmux__until_ms((int64_t)(UINT64_MAX / 1000000u)) ==
                UINT64_MAX);                       /* now + ms wraps */
    assert_true(vmux__until_ms(86400000) > after); /* a day: still added */
}

static void test_expiry_order_across_classes(void **state)
{
    (void)state;
    struct vmux_deadlines d = {0};
    struct vmux_op *a = op_at(100, 100), *b = op_at(50, 60), *c = op_at(100, 150),
                   *e = op_at(50, 70);
    assert_int_equal(vmux__deadlines_next(&d), UINT64_MAX);
    vmux__deadlines_add(&d, a);
    vmux__deadlines_add(&d, b);
    vmux__deadlines_add(&d, c);
    vmux__deadlines_add(&d, e);
    assert_int_equal(d.nclasses, 2);
    assert_int_equal(vmux__deadlines_next(&d), 60);
    assert_null(vmux__deadlines_expired(&d, 59));
    assert_ptr_equal(vmux__deadlines_expired(&d, 65), b);
    vmux__deadline_remove(b);
    assert_null(vmux__deadlines_expired(&d, 65));
    assert_int_equal(vmux__deadlines_next(&d), 70);
    /* removing from the middle and the tail keeps the lists intact */
    vmux__deadline_remove(c);
    vmux__deadline_remove(c); /* not indexed any more: nothing happens */
    assert_ptr_equal(vmux__deadlines_expired(&d, 1000), e);
    vmux__deadline_remove(e);
    assert_ptr_equal(vmux__deadlines_expired(&d, 1000), a);
    vmux__deadline_remove(a);
    assert_null(vmux__deadlines_expired(&d, UINT64_MAX));
    assert_int_equal(vmux__deadlines_next(&d), UINT64_MAX);
    vmux__deadlines_free(&d);
    vmux__op_free(a);
    vmux__op_free(b);
    vmux__op_free(c);
    vmux__op_free(e);
}

/* Out of memory for a new class, ops still get indexed (the spare class), in deadline order
 * whatever their timeouts, and expire among the others'. */
static void test_spare_class_when_memory_runs_out(void **state)
{
    (void)state;
    struct vmux_deadlines d = {0};
    struct vmux_op *a = op_at(100, 100), *b = op_at(50, 60), *e = op_at(70, 200),
                   *f = op_at(70, 80);
    vmux__deadlines_add(&d, a);
    vt_failalloc_arm(1, -1, VT_FA_ARMER); /* every allocation of this thread fails */
    vmux__deadlines_add(&d, b);
    vmux__deadlines_add(&d, e);
    vmux__deadlines_add(&d, f);
    long failed = vt_failalloc_failed();
    vt_failalloc_disarm();
    assert_true(failed >= 2); /* the classes of 50 and 70 could not be made */
    assert_int_equal(d.nclasses, 1);
    assert_int_equal(vmux__deadlines_next(&d), 60);
    const struct vmux_op *order[] = {b, f, a, e};
    for (size_t i = 0; i < 4; i++) {
        struct vmux_op *op = vmux__deadlines_expired(&d, UINT64_MAX);
        assert_ptr_equal(op, order[i]);
        vmux__deadline_remove(op);
    }
    assert_int_equal(vmux__deadlines_next(&d), UINT64_MAX);
    vmux__deadlines_free(&d);
    vmux__op_free(a);
    vmux__op_free(b);
    vmux__op_free(e);
    vmux__op_free(f);
}

/* Thousands of timeouts, each used once: the classes that empty are freed, past a handful. */
static void test_empty_classes_do_not_pile_up(void **state)
{
    (void)state;
    struct vmux_deadlines d = {0};
    struct vmux_op *kept = op_at(5000, 5000);
    vmux__deadlines_add(&d, kept);
    for (uint32_t t = 1; t <= 3000; t++) {
        struct vmux_op *op = op_at(t, t);
        vmux__deadlines_add(&d, op);
        assert_true(d.nclasses <= VMUX_DEADLINE_CLASSES_KEPT + 1);
        vmux__deadline_remove(op);
        vmux__op_free(op);
    }
    assert_int_equal(vmux__deadlines_next(&d), 5000); /* the one still indexed is there */
    assert_ptr_equal(vmux__deadlines_expired(&d, 5000), kept);
    vmux__deadline_remove(kept);
    vmux__deadlines_free(&d);
    vmux__op_free(kept);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_until_never_wraps),
        cmocka_unit_test(test_expiry_order_across_classes),
        cmocka_unit_test(test_empty_classes_do_not_pile_up),
        cmocka_unit_test(test_spare_class_when_memory_runs_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
