// The public headers from C++ (probe32: VMUX_INIT failed g++'s -Wextra, &VMUX_INIT(...) did not
// compile at all, VMUX_STR warned under -Wpedantic): this file must compile with
// -std=c++11, -std=c++17 and -std=c++20 -Wall -Wextra -Wpedantic -Werror
// (tests/abi/CMakeLists.txt), every macro of the headers used as docs/api-conventions.md shows for
// C++.
#include <vmux/vmux.h>

#include <cstdint>

static int uses_every_macro(vmux *m)
{
    vmux_callopts o = VMUX_INIT(vmux_callopts);
    o.flags = VMUX_CALL_RETRY_SAFE;
    o.timeout_ms = 250;
    vmux_stats st = VMUX_INIT(vmux_stats);
    vmux_bytes value = {NULL, 0};
    uint64_t n = 3;
    int rc = vmux_get(m, &o, VMUX_STR("key"), &value);
    rc += vmux_set(m, &o, VMUX_STRN("key", n), VMUX_STR("v"), VMUX_EXPIRE_IN_SECONDS(n),
                   VMUX_COND_ALWAYS, NULL);
    rc += vmux_set(m, NULL, VMUX_STR("key"), VMUX_STR("v"), VMUX_NO_EXPIRY, VMUX_COND_ALWAYS, NULL);
    rc += vmux_set(m, NULL, VMUX_STR("key"), VMUX_STR("v"), VMUX_KEEP_TTL, VMUX_COND_ALWAYS, NULL);
    rc += vmux_set(m, NULL, VMUX_STR("key"), VMUX_STR("v"), VMUX_EXPIRE_IN_MS(n), VMUX_COND_ALWAYS,
                   NULL);
    vmux_zbound bounds[] = {VMUX_ZBOUND_INDEX(n),
                            VMUX_ZBOUND_SCORE(1),
                            VMUX_ZBOUND_SCORE_EXCL(2),
                            VMUX_ZBOUND_NEG_INF,
                            VMUX_ZBOUND_POS_INF,
                            VMUX_ZBOUND_LEX(VMUX_STR("a")),
                            VMUX_ZBOUND_LEX_EXCL(VMUX_STR("b")),
                            VMUX_ZBOUND_LEX_MIN,
                            VMUX_ZBOUND_LEX_MAX};
    vmux_str id = VMUX_XID_DEFAULT;
    vmux_geo_center centers[] = {VMUX_GEO_CENTER_LONLAT(n, -VMUX_GEO_LATITUDE_MAX),
                                 VMUX_GEO_CENTER_MEMBER(VMUX_STR("m"))};
    vmux_geo_shape shapes[] = {VMUX_GEO_SHAPE_RADIUS(n, VMUX_GEO_UNIT_KM),
                               VMUX_GEO_SHAPE_BOX(VMUX_GEO_LONGITUDE_MAX, n, VMUX_GEO_UNIT_FT)};
    rc += vmux_read_stats(m, &st);
    vmux_bytes_free(&value);
    return rc + (int)sizeof bounds + (int)id.len + (int)sizeof centers + (int)sizeof shapes;
}

#if __cplusplus >= 202002L
// With fields, VMUX_INIT is C++20's designated initializer, as it always was (naming every field
// after size keeps g++'s -Wextra quiet).
static vmux_expiry with_fields()
{
    vmux_lock_opts o =
        VMUX_INIT(vmux_lock_opts, .ttl_ms = 1000, .fence_key = NULL, .timeout_ms = 0,
                  .resolve_timeout_ms = 0, .retry_min_ms = 0, .retry_max_ms = 0,
                  .auto_renew = false, .renew_fraction = 0, .on_lost = NULL, .userdata = NULL);
    return VMUX_EXPIRE_IN_MS(o.ttl_ms);
}
#endif

int main()
{
    vmux_stats st = VMUX_INIT(vmux_stats);
    vmux_lock_opts lo = VMUX_INIT(vmux_lock_opts);
    // the size is set and every other field is zero
    bool ok = st.size == sizeof st && st.submitted == 0 && lo.size == sizeof lo && lo.ttl_ms == 0;
#if __cplusplus >= 202002L
    ok = ok && with_fields().value == 1000;
#endif
    return ok && uses_every_macro(NULL) != 0 ? 0 : 1;
}
