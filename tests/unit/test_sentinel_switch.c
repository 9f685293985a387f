/*
 * Reading Sentinel's +switch-master message (lib/net/sentinel_watch.c):
 * "<name> <old-ip> <old-port> <new-ip> <new-port>". A host is an IP, or a hostname under
 * announce-hostnames, of up to 255 bytes; one over 127 bytes was not read before, and the
 * switch was ignored without a word.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "net/sentinel_internal.h"

static void test_ip(void **state)
{
    (void)state;
    struct vmux__sentinel_switch m;
    assert_true(vmux__sentinel_parse_switch("mymaster 10.0.0.1 6379 10.0.0.2 6380", &m));
    assert_string_equal(m.name, "mymaster");
    assert_string_equal(m.old_host, "10.0.0.1");
    assert_int_equal(m.old_port, 6379);
    assert_string_equal(m.new_host, "10.0.0.2");
    assert_int_equal(m.new_port, 6380);
}

/* "mymaster <old> 6379 <new> 6380" with hostnames of len bytes ('a'..., 'b'...). */
static bool parse_hosts(size_t len, struct vmux__sentinel_switch *m)
{
    char old_host[400], new_host[400], payload[1000];
    memset(old_host, 'a', len);
    memset(new_host, 'b', len);
    old_host[len] = new_host[len] = '\0';
    snprintf(payload, sizeof payload, "mymaster %s 6379 %s 6380", old_host, new_host);
    return vmux__sentinel_parse_switch(payload, m);
}

/* Hostnames of 128 and 255 bytes, the longest Sentinel sends, are read whole. */
static void test_long_hostnames(void **state)
{
    (void)state;
    struct vmux__sentinel_switch m;
    const size_t lens[] = {128, 200, VMUX_SENTINEL_FIELD_MAX};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        assert_true(parse_hosts(lens[i], &m));
        assert_int_equal(strlen(m.old_host), lens[i]);
        assert_int_equal(strlen(m.new_host), lens[i]);
        assert_int_equal(m.old_port, 6379);
        assert_int_equal(m.new_port, 6380);
    }
}

/* Longer than Sentinel's limit, or not the message's shape: refused, never cut short. */
static void test_refused(void **state)
{
    (void)state;
    struct vmux__sentinel_switch m;
    assert_false(parse_hosts(VMUX_SENTINEL_FIELD_MAX + 1, &m));
    assert_false(parse_hosts(300, &m));
    assert_false(vmux__sentinel_parse_switch("mymaster 10.0.0.1 6379 10.0.0.2", &m));
    assert_false(vmux__sentinel_parse_switch("mymaster 10.0.0.1 6379 10.0.0.2 0", &m));
    assert_false(vmux__sentinel_parse_switch("mymaster 10.0.0.1 6379 10.0.0.2 65536", &m));
    assert_false(vmux__sentinel_parse_switch("", &m));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ip),
        cmocka_unit_test(test_long_hostnames),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
