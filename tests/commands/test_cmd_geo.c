/*
 * The geospatial commands (geo.h) against a real server: GEOADD with each condition and CH and
 * at the ends of the valid range, GEODIST in each unit and for missing members, GEOPOS with
 * found and missing members, GEOSEARCH from a position and from a member, in a radius and a box,
 * in each order, with COUNT and COUNT ANY, with each of WITHCOORD, WITHDIST and WITHHASH and
 * none; GEOHASH against the server's documented hashes; GEOSEARCHSTORE with and without
 * STOREDIST, into its own source, emptying dst, and in two slots; binary keys and members with
 * NUL bytes, missing keys, WRONGTYPE, every argument refused
 * with nothing sent (NaN, infinite and out-of-range positions, sizes, enums, options), and
 * results zeroed on every error. Positions and hashes are checked against GEOPOS and ZSCORE
 * read back through the generic API.
 */
#include <math.h>
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

#include "testutil.h"
#include "vmux/vmux.h"

#include "cmd_common.h"

const char cmd_family[] = "geo";

#define NUL_MEMBER VMUX_STRN("p\0q", 3)
#define SEARCH(...) VMUX_INIT(vmux_geosearch_opts, __VA_ARGS__)
#define NO_SEARCH VMUX_INIT(vmux_geosearch_opts)

/* Sicily, and a binary member at 15, 37 (the searches' centre). */
static const vmux_geo_member SICILY[] = {
    {13.361389, 38.115556, {"Palermo", 7}},
    {15.087269, 37.502669, {"Catania", 7}},
    {13.583333, 37.316667, {"Agrigento", 9}},
    {15, 37, {"p\0q", 3}},
};

/* A position comes back as its geohash cell's centre: within 1e-5 degrees (about a metre). */
static void expect_near(double got, double want, double eps)
{
    if (!(fabs(got - want) <= eps))
        fail_msg("got %.17g, want %.17g (+- %g)", got, want, eps);
}

static vmux_str sicily(const char *name)
{
    vmux_str k = binkey(name);
    DO(S("DEL"), k);
    int64_t added = -1;
    assert_int_equal(vmux_geoadd(M, NULL, k, SICILY, 4, VMUX_COND_ALWAYS, false, &added), 0);
    assert_int_equal(added, 4);
    return k;
}

/* A member's position through the generic API's GEOPOS; false when it is not a member. */
static bool raw_pos(vmux_str k, vmux_str member, vmux_geo_point *p)
{
    vmux_reply *r = RAW(S("GEOPOS"), k, member);
    const vmux_reply *e = vmux_reply_element(r, 0);
    bool found = vmux_reply_get_kind(e) == VMUX_REPLY_ARRAY;
    if (found) {
        assert_int_equal(vmux_reply_to_double(vmux_reply_element(e, 0), &p->longitude), 0);
        assert_int_equal(vmux_reply_to_double(vmux_reply_element(e, 1), &p->latitude), 0);
    }
    vmux_reply_free(r);
    return found;
}

static void expect_pos(vmux_str k, vmux_str member, double lon, double lat)
{
    vmux_geo_point p;
    assert_true(raw_pos(k, member, &p));
    expect_near(p.longitude, lon, 1e-5);
    expect_near(p.latitude, lat, 1e-5);
}

static int64_t geoadd_one(vmux_str k, double lon, double lat, vmux_str member, vmux_cond cond,
                          bool ch)
{
    vmux_geo_member item = {lon, lat, member};
    int64_t n = -1;
    assert_int_equal(vmux_geoadd(M, NULL, k, &item, 1, cond, ch, &n), 0);
    return n;
}

static void test_geoadd(void **state)
{
    (void)state;
    vmux_str k = sicily("add");
    expect_pos(k, S("Palermo"), 13.361389, 38.115556);
    expect_pos(k, NUL_MEMBER, 15, 37);
    /* moved: counted only with CH */
    assert_int_equal(geoadd_one(k, 13.4, 38.1, S("Palermo"), VMUX_COND_ALWAYS, false), 0);
    assert_int_equal(geoadd_one(k, 13.5, 38.1, S("Palermo"), VMUX_COND_ALWAYS, true), 1);
    expect_pos(k, S("Palermo"), 13.5, 38.1);
    assert_int_equal(geoadd_one(k, 13.5, 38.1, S("Palermo"), VMUX_COND_ALWAYS, true), 0);
    /* NX adds, never moves; XX moves, never adds */
    vmux_geo_member nx[] = {{1, 1, S("Palermo")}, {2, 2, S("new")}};
    int64_t n = -1;
    assert_int_equal(vmux_geoadd(M, NULL, k, nx, 2, VMUX_COND_NX, true, &n), 0);
    assert_int_equal(n, 1);
    expect_pos(k, S("Palermo"), 13.5, 38.1);
    expect_pos(k, S("new"), 2, 2);
    vmux_geo_member xx[] = {{3, 3, S("new")}, {4, 4, S("newer")}};
    assert_int_equal(vmux_geoadd(M, NULL, k, xx, 2, VMUX_COND_XX, true, &n), 0);
    assert_int_equal(n, 1);
    expect_pos(k, S("new"), 3, 3);
    vmux_geo_point p;
    assert_false(raw_pos(k, S("newer"), &p));
    assert_int_equal(vmux_geoadd(M, NULL, k, xx, 2, VMUX_COND_XX, false, NULL), 0);

    /* the ends of the valid range, both included, as the server takes them */
    vmux_geo_member ends[] = {{VMUX_GEO_LONGITUDE_MAX, VMUX_GEO_LATITUDE_MAX, S("ne")},
                              {-VMUX_GEO_LONGITUDE_MAX, -VMUX_GEO_LATITUDE_MAX, S("sw")}};
    assert_int_equal(vmux_geoadd(M, NULL, k, ends, 2, VMUX_COND_ALWAYS, false, &n), 0);
    assert_int_equal(n, 2);
    expect_pos(k, S("ne"), 180, 85.05112878);
    expect_pos(k, S("sw"), -180, -85.05112878);
    /* a geo set is a sorted set */
    assert_int_equal(raw_int(RAW(S("ZCARD"), k)), 7);
}

/* GEOADD's refusals: nothing is sent, the key is not created, the buffer not written. */
static void test_geoadd_bad_arguments(void **state)
{
    (void)state;
    vmux_str k = key("add-bad");
    DO(S("DEL"), k);
    strcpy(errbuf, "untouched");
    vmux_geo_member ok = {15, 37, S("m")};
    int64_t n = 7;
    assert_int_equal(vmux_geoadd(M, &EO, k, NULL, 1, VMUX_COND_ALWAYS, false, &n),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 7;
    assert_int_equal(vmux_geoadd(M, &EO, k, &ok, 0, VMUX_COND_ALWAYS, false, &n),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    const vmux_cond conds[] = {VMUX_COND_GT,    VMUX_COND_LT,  VMUX_COND_XX_GT,
                               VMUX_COND_XX_LT, (vmux_cond)-1, (vmux_cond)99};
    for (size_t i = 0; i < sizeof conds / sizeof conds[0]; i++) {
        n = 7;
        assert_int_equal(vmux_geoadd(M, &EO, k, &ok, 1, conds[i], false, &n), VMUX_ERR_INVALID_ARG);
        assert_int_equal(n, 0);
    }
    const double lon_over = nextafter(180, 200), lat_over = nextafter(VMUX_GEO_LATITUDE_MAX, 90);
    const vmux_geo_member bad[] = {
        {NAN, 37, S("m")},       {15, NAN, S("m")},       {INFINITY, 37, S("m")},
        {15, -INFINITY, S("m")}, {lon_over, 37, S("m")},  {-lon_over, 37, S("m")},
        {15, lat_over, S("m")},  {15, -lat_over, S("m")}, {15, 37, VMUX_STRN(NULL, 1)},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        /* the bad one last in a batch: the good ones before it are not sent either */
        vmux_geo_member batch[] = {ok, bad[i]};
        n = 7;
        assert_int_equal(vmux_geoadd(M, &EO, k, batch, 2, VMUX_COND_ALWAYS, false, &n),
                         VMUX_ERR_INVALID_ARG);
        assert_int_equal(n, 0);
    }
    assert_int_equal(vmux_geoadd(M, &EO, VMUX_STRN(NULL, 2), &ok, 1, VMUX_COND_ALWAYS, false, NULL),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(raw_int(RAW(S("EXISTS"), k)), 0);
    assert_refused_words(errbuf);

    /* the server draws the line where vmux does: just past it, it refuses too */
    char text[40];
    snprintf(text, sizeof text, "%.17g", lat_over);
    vmux_reply *r = RAW(S("GEOADD"), k, S("15"), S(text), S("m"));
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_ERROR);
    assert_non_null(strstr(vmux_reply_str(r, NULL), "invalid longitude,latitude pair"));
    vmux_reply_free(r);
    snprintf(text, sizeof text, "%.17g", lon_over);
    r = RAW(S("GEOADD"), k, S(text), S("37"), S("m"));
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_ERROR);
    vmux_reply_free(r);
}

static void test_geodist(void **state)
{
    (void)state;
    vmux_str k = sicily("dist");
    const double want[] = {166274.1516, 166.2742, 103.3182, 545518.8700}; /* m, km, mi, ft */
    for (int u = VMUX_GEO_UNIT_M; u <= VMUX_GEO_UNIT_FT; u++) {
        double d = -1;
        bool found = false;
        assert_int_equal(
            vmux_geodist(M, NULL, k, S("Palermo"), S("Catania"), (vmux_geo_unit)u, &d, &found), 0);
        assert_true(found);
        expect_near(d, want[u], 1e-4);
    }
    double d = -1;
    bool found = false;
    assert_int_equal(
        vmux_geodist(M, NULL, k, NUL_MEMBER, S("Catania"), VMUX_GEO_UNIT_KM, &d, &found), 0);
    assert_true(found);
    expect_near(d, 56.4413, 1e-4);
    assert_int_equal(vmux_geodist(M, NULL, k, NUL_MEMBER, NUL_MEMBER, VMUX_GEO_UNIT_M, &d, &found),
                     0);
    assert_true(found);
    expect_near(d, 0, 0);
    assert_int_equal(
        vmux_geodist(M, NULL, k, S("Palermo"), S("Catania"), VMUX_GEO_UNIT_M, NULL, NULL), 0);

    /* a missing member, or key: not found, and no error */
    d = -1, found = true;
    assert_int_equal(
        vmux_geodist(M, NULL, k, S("Palermo"), VMUX_STRN("p", 1), VMUX_GEO_UNIT_M, &d, &found), 0);
    assert_false(found);
    assert_true(d == 0);
    vmux_str missing = key("dist-missing");
    DO(S("DEL"), missing);
    d = -1, found = true;
    assert_int_equal(vmux_geodist(M, NULL, missing, S("a"), S("b"), VMUX_GEO_UNIT_M, &d, &found),
                     0);
    assert_false(found);
    assert_true(d == 0);

    strcpy(errbuf, "untouched");
    d = -1, found = true;
    assert_int_equal(
        vmux_geodist(M, &EO, k, S("Palermo"), S("Catania"), (vmux_geo_unit)4, &d, &found),
        VMUX_ERR_INVALID_ARG);
    assert_false(found);
    assert_true(d == 0);
    assert_int_equal(
        vmux_geodist(M, &EO, k, VMUX_STRN(NULL, 1), S("Catania"), VMUX_GEO_UNIT_M, &d, &found),
        VMUX_ERR_INVALID_ARG);
    assert_refused_words(errbuf);
}

static void test_geopos(void **state)
{
    (void)state;
    vmux_str k = sicily("pos");
    vmux_str members[] = {S("Palermo"), S("nobody"), NUL_MEMBER, VMUX_STRN("p", 1)};
    vmux_geo_point points[4];
    bool found[4];
    memset(points, 0x7f, sizeof points);
    memset(found, 1, sizeof found);
    assert_int_equal(vmux_geopos(M, NULL, k, members, 4, points, found), 0);
    const bool want[] = {true, false, true, false};
    for (int i = 0; i < 4; i++)
        assert_int_equal(found[i], want[i]);
    expect_near(points[0].longitude, 13.361389, 1e-5);
    expect_near(points[0].latitude, 38.115556, 1e-5);
    assert_true(points[1].longitude == 0 && points[1].latitude == 0);
    expect_near(points[2].longitude, 15, 1e-5);
    expect_near(points[2].latitude, 37, 1e-5);
    assert_true(points[3].longitude == 0 && points[3].latitude == 0);
    memset(found, 0, sizeof found);
    assert_int_equal(vmux_geopos(M, NULL, k, members, 4, NULL, found), 0);
    assert_true(found[2]);
    assert_int_equal(vmux_geopos(M, NULL, k, members, 4, points, NULL), 0);
    expect_near(points[2].latitude, 37, 1e-5);

    vmux_str missing = key("pos-missing");
    DO(S("DEL"), missing);
    memset(found, 1, sizeof found);
    assert_int_equal(vmux_geopos(M, NULL, missing, members, 2, points, found), 0);
    assert_false(found[0]);
    assert_false(found[1]);

    memset(found, 1, sizeof found);
    assert_int_equal(vmux_geopos(M, NULL, k, NULL, 2, points, found), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_geopos(M, NULL, k, members, 0, points, found), VMUX_ERR_INVALID_ARG);
    vmux_str with_null[] = {S("Palermo"), VMUX_STRN(NULL, 1)};
    assert_int_equal(vmux_geopos(M, NULL, k, with_null, 2, points, found), VMUX_ERR_INVALID_ARG);
    assert_false(found[0]);
    assert_true(points[0].longitude == 0 && points[0].latitude == 0);
}

static vmux_geo_result_array search(vmux_str k, vmux_geo_center c, vmux_geo_shape s,
                                    const vmux_geosearch_opts *o)
{
    vmux_geo_result_array got;
    memset(&got, 0xab, sizeof got);
    assert_int_equal(vmux_geosearch(M, NULL, k, c, s, o, &got), 0);
    return got;
}

#define FROM_CENTRE VMUX_GEO_CENTER_LONLAT(15, 37)
#define R200KM VMUX_GEO_SHAPE_RADIUS(200, VMUX_GEO_UNIT_KM)

/* SICILY's members by distance from FROM_CENTRE, and each one's distance from it in km. */
static const size_t BY_DISTANCE[] = {3, 1, 2, 0};
static const double KM[] = {190.4424, 56.4413, 130.4235, 0.0001};

/* A member's geohash: its score, read through the generic API. */
static int64_t raw_hash(vmux_str k, vmux_str member)
{
    vmux_reply *r = RAW(S("ZSCORE"), k, member);
    double score;
    assert_int_equal(vmux_reply_to_double(r, &score), 0);
    vmux_reply_free(r);
    return (int64_t)score; /* 52 bits: exact in a double */
}

/* got holds SICILY's members at the positions of order, with what opts asked for, and only. */
static void expect_found(vmux_str k, const vmux_geo_result_array *got, const size_t *order,
                         size_t n, bool coord, bool dist, bool hash)
{
    assert_int_equal(got->count, n);
    for (size_t i = 0; i < n; i++) {
        const vmux_geo_result *r = &got->items[i];
        const vmux_geo_member *want = &SICILY[order[i]];
        assert_bytes(&r->member, want->member);
        expect_near(r->distance, dist ? KM[order[i]] : 0, dist ? 1e-4 : 0);
        assert_int_equal(r->hash, hash ? raw_hash(k, want->member) : 0);
        expect_near(r->point.longitude, coord ? want->longitude : 0, coord ? 1e-5 : 0);
        expect_near(r->point.latitude, coord ? want->latitude : 0, coord ? 1e-5 : 0);
    }
}
static void test_geosearch_from_position(void **state)
{
    (void)state;
    vmux_str k = sicily("search");
    vmux_geo_result_array got = search(
        k, FROM_CENTRE, R200KM,
        &SEARCH(.order = VMUX_GEO_ASC, .withcoord = true, .withdist = true, .withhash = true));
    expect_found(k, &got, BY_DISTANCE, 4, true, true, true);
    vmux_geo_result_array_free(&got);
    assert_null(got.items);
    vmux_geo_result_array_free(&got); /* freeing twice is allowed */

    const size_t farthest[] = {0, 2, 1, 3};
    got = search(k, FROM_CENTRE, R200KM, &SEARCH(.order = VMUX_GEO_DESC, .withdist = true));
    expect_found(k, &got, farthest, 4, false, true, false);
    vmux_geo_result_array_free(&got);

    /* no options: every member in the area, in no order, nothing but the member */
    got = search(k, FROM_CENTRE, R200KM, NULL);
    assert_int_equal(got.count, 4);
    for (size_t i = 0; i < 4; i++) {
        size_t hits = 0;
        for (size_t j = 0; j < 4; j++)
            hits +=
                got.items[j].member.len == SICILY[i].member.len &&
                memcmp(got.items[j].member.ptr, SICILY[i].member.ptr, SICILY[i].member.len) == 0;
        assert_int_equal(hits, 1);
        assert_true(got.items[i].distance == 0 && got.items[i].hash == 0);
        assert_true(got.items[i].point.longitude == 0 && got.items[i].point.latitude == 0);
    }
    vmux_geo_result_array_free(&got);

    /* COUNT without an order: the nearest, nearest first */
    got = search(k, FROM_CENTRE, R200KM, &SEARCH(.count = 2, .withcoord = true));
    expect_found(k, &got, BY_DISTANCE, 2, true, false, false);
    vmux_geo_result_array_free(&got);
    got = search(k, FROM_CENTRE, R200KM, &SEARCH(.count = 10, .withhash = true));
    expect_found(k, &got, BY_DISTANCE, 4, false, false, true);
    vmux_geo_result_array_free(&got);
    /* COUNT ANY: as many, any of them */
    got = search(k, FROM_CENTRE, R200KM, &SEARCH(.count = 1, .any = true));
    assert_int_equal(got.count, 1);
    vmux_str first = {got.items[0].member.ptr, got.items[0].member.len};
    vmux_geo_point p;
    assert_true(raw_pos(k, first, &p));
    vmux_geo_result_array_free(&got);

    /* a smaller radius, in metres: distances in the shape's unit */
    got = search(k, FROM_CENTRE, VMUX_GEO_SHAPE_RADIUS(60000, VMUX_GEO_UNIT_M),
                 &SEARCH(.order = VMUX_GEO_ASC, .withdist = true));
    assert_int_equal(got.count, 2);
    assert_bytes(&got.items[0].member, NUL_MEMBER);
    assert_bytes(&got.items[1].member, S("Catania"));
    expect_near(got.items[1].distance, 56441.3, 0.1);
    vmux_geo_result_array_free(&got);

    /* boxes: 400 km (250 miles) square holds all four, 20 km square the centre's only */
    got = search(k, FROM_CENTRE, VMUX_GEO_SHAPE_BOX(400, 400, VMUX_GEO_UNIT_KM),
                 &SEARCH(.order = VMUX_GEO_ASC));
    expect_found(k, &got, BY_DISTANCE, 4, false, false, false);
    vmux_geo_result_array_free(&got);
    got = search(k, FROM_CENTRE, VMUX_GEO_SHAPE_BOX(250, 250, VMUX_GEO_UNIT_MI),
                 &SEARCH(.order = VMUX_GEO_DESC, .withcoord = true));
    expect_found(k, &got, farthest, 4, true, false, false);
    vmux_geo_result_array_free(&got);
    got = search(k, FROM_CENTRE, VMUX_GEO_SHAPE_BOX(20, 20, VMUX_GEO_UNIT_KM), NULL);
    expect_found(k, &got, BY_DISTANCE, 1, false, false, false);
    vmux_geo_result_array_free(&got);
    /* a box 30 km wide, 300 km tall (in feet) west of Catania: a circle that held Palermo and
     * Agrigento would hold Catania too (144 km away) */
    got =
        search(k, VMUX_GEO_CENTER_LONLAT(13.47, 37.7),
               VMUX_GEO_SHAPE_BOX(98425, 984252, VMUX_GEO_UNIT_FT), &SEARCH(.order = VMUX_GEO_ASC));
    const size_t west[] = {2, 0}; /* Agrigento (44 km), then Palermo (47 km) */
    expect_found(k, &got, west, 2, false, false, false);
    vmux_geo_result_array_free(&got);
    got = search(k, VMUX_GEO_CENTER_LONLAT(13.47, 37.7),
                 VMUX_GEO_SHAPE_RADIUS(150, VMUX_GEO_UNIT_KM), NULL);
    assert_int_equal(got.count, 3);
    vmux_geo_result_array_free(&got);

    assert_int_equal(vmux_geosearch(M, NULL, k, FROM_CENTRE, R200KM, NULL, NULL), 0);
}

static void test_geosearch_from_member(void **state)
{
    (void)state;
    vmux_str k = sicily("from");
    vmux_geo_result_array got = search(k, VMUX_GEO_CENTER_MEMBER(S("Palermo")),
                                       VMUX_GEO_SHAPE_RADIUS(120, VMUX_GEO_UNIT_KM),
                                       &SEARCH(.order = VMUX_GEO_ASC, .withdist = true));
    assert_int_equal(got.count, 2);
    assert_bytes(&got.items[0].member, S("Palermo"));
    expect_near(got.items[0].distance, 0, 1e-4);
    assert_bytes(&got.items[1].member, S("Agrigento"));
    expect_near(got.items[1].distance, 90.9778, 1e-4);
    vmux_geo_result_array_free(&got);
    got = search(k, VMUX_GEO_CENTER_MEMBER(NUL_MEMBER), VMUX_GEO_SHAPE_RADIUS(60, VMUX_GEO_UNIT_KM),
                 &SEARCH(.order = VMUX_GEO_ASC, .withdist = true, .withcoord = true));
    expect_found(k, &got, BY_DISTANCE, 2, true, true, false);
    vmux_geo_result_array_free(&got);

    /* a missing key: nothing found, from a member too; a missing member: the server's error */
    vmux_str missing = key("from-missing");
    DO(S("DEL"), missing);
    got = search(missing, FROM_CENTRE, R200KM, NULL);
    assert_int_equal(got.count, 0);
    vmux_geo_result_array_free(&got);
    got = search(missing, VMUX_GEO_CENTER_MEMBER(S("Palermo")), R200KM, NULL);
    assert_int_equal(got.count, 0);
    vmux_geo_result_array_free(&got);
    memset(&got, 0xab, sizeof got);
    errbuf[0] = '\0';
    assert_int_equal(
        vmux_geosearch(M, &EO, k, VMUX_GEO_CENTER_MEMBER(VMUX_STRN("p", 1)), R200KM, NULL, &got),
        VMUX_ERR_SERVER);
    assert_non_null(strstr(errbuf, "could not decode requested zset member"));
    assert_null(got.items);
    assert_int_equal(got.count, 0);
}

static void test_geohash(void **state)
{
    (void)state;
    vmux_str k = sicily("hash");
    const vmux_str members[] = {S("Palermo"), S("Rome"), S("Catania")};
    vmux_bytes_array got = JUNK_ARRAY;
    assert_int_equal(vmux_geohash(M, NULL, k, members, 3, &got), 0);
    assert_int_equal(got.count, 3);
    assert_bytes(&got.items[0], S("sqc8b49rny0")); /* the server's own example */
    assert_null(got.items[1].ptr);                 /* not a member: nil */
    assert_bytes(&got.items[2], S("sqdtr74hyu0"));
    vmux_bytes_array_free(&got);
    vmux_str missing = key("hash-missing");
    DO(S("DEL"), missing);
    assert_int_equal(vmux_geohash(M, NULL, missing, members, 1, &got), 0);
    assert_int_equal(got.count, 1);
    assert_null(got.items[0].ptr);
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_geohash(M, NULL, k, members, 1, NULL), 0);

    strcpy(errbuf, "untouched");
    got = JUNK_ARRAY;
    assert_int_equal(vmux_geohash(M, &EO, k, NULL, 1, &got), VMUX_ERR_INVALID_ARG);
    assert_zero_array(&got);
    got = JUNK_ARRAY;
    assert_int_equal(vmux_geohash(M, &EO, k, members, 0, &got), VMUX_ERR_INVALID_ARG);
    assert_zero_array(&got);
    const vmux_str nul = VMUX_STRN(NULL, 2);
    assert_int_equal(vmux_geohash(M, &EO, k, &nul, 1, &got), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_geohash(M, &EO, nul, members, 1, &got), VMUX_ERR_INVALID_ARG);
    assert_refused_words(errbuf);
}

/* A store's count, and dst's members (a sorted set's, by score) through the generic API. */
static void expect_stored(vmux_str dst, int64_t count, const char *const *members)
{
    vmux_reply *r = RAW(S("ZRANGE"), dst, S("0"), S("-1"));
    assert_int_equal(vmux_reply_len(r), (size_t)count);
    for (size_t i = 0; i < (size_t)count; i++) {
        vmux_bytes b = {0};
        assert_int_equal(vmux_reply_to_bytes(vmux_reply_element(r, i), &b), 0);
        assert_bytes(&b, S(members[i]));
        vmux_bytes_free(&b);
    }
    vmux_reply_free(r);
}

static void test_geosearchstore(void **state)
{
    (void)state;
    vmux_str src = sicily("store-src"), dst = key("store-dst");
    DO(S("DEL"), dst);
    int64_t n = -1;
    const vmux_geo_center palermo = VMUX_GEO_CENTER_MEMBER(S("Palermo"));
    const vmux_geo_shape r120 = VMUX_GEO_SHAPE_RADIUS(120, VMUX_GEO_UNIT_KM);
    assert_int_equal(vmux_geosearchstore(M, NULL, dst, src, palermo, r120, NULL, false, &n), 0);
    assert_int_equal(n, 2);
    const char *const near_palermo[] = {"Agrigento", "Palermo"}; /* by geohash: any order */
    expect_stored(dst, 2, near_palermo);
    expect_pos(dst, S("Palermo"), 13.361389, 38.115556); /* a geo set: positions kept */
    /* STOREDIST: the distances, in the shape's unit, as scores; COUNT keeps the nearest */
    vmux_geosearch_opts nearest = SEARCH(.count = 3, .order = VMUX_GEO_ASC);
    assert_int_equal(
        vmux_geosearchstore(M, NULL, dst, src, FROM_CENTRE, R200KM, &nearest, true, &n), 0);
    assert_int_equal(n, 3);
    vmux_reply *r = RAW(S("ZRANGE"), dst, S("0"), S("-1"), S("WITHSCORES"));
    assert_int_equal(vmux_reply_len(r), 6);
    vmux_bytes b = {0};
    assert_int_equal(vmux_reply_to_bytes(vmux_reply_element(r, 0), &b), 0);
    assert_bytes(&b, NUL_MEMBER);
    vmux_bytes_free(&b);
    double d = -1;
    assert_int_equal(vmux_reply_to_double(vmux_reply_element(r, 3), &d), 0);
    expect_near(d, 56.4413, 1e-3); /* Catania, in km */
    vmux_reply_free(r);
    /* into its own source: the search's result replaces it */
    vmux_str own = sicily("store-own");
    assert_int_equal(vmux_geosearchstore(M, NULL, own, own, palermo, r120, NULL, false, &n), 0);
    assert_int_equal(n, 2);
    expect_stored(own, 2, near_palermo);
    /* nothing found, or a missing source: dst is deleted */
    assert_int_equal(vmux_geosearchstore(M, NULL, dst, src, VMUX_GEO_CENTER_LONLAT(0, 0), R200KM,
                                         NULL, false, &n),
                     0);
    assert_int_equal(n, 0);
    assert_int_equal(raw_int(RAW(S("EXISTS"), dst)), 0);
    assert_int_equal(vmux_geosearchstore(M, NULL, dst, src, palermo, r120, NULL, true, NULL), 0);
    assert_int_equal(raw_int(RAW(S("EXISTS"), dst)), 1);
    vmux_str missing = key("store-missing");
    DO(S("DEL"), missing);
    assert_int_equal(
        vmux_geosearchstore(M, NULL, dst, missing, FROM_CENTRE, R200KM, NULL, false, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(raw_int(RAW(S("EXISTS"), dst)), 0);
    /* a centre member that is not in the set: the server's error */
    n = 7;
    errbuf[0] = '\0';
    assert_int_equal(vmux_geosearchstore(M, &EO, dst, src, VMUX_GEO_CENTER_MEMBER(S("Rome")),
                                         R200KM, NULL, false, &n),
                     VMUX_ERR_SERVER);
    assert_int_equal(n, 0);
    assert_non_null(strstr(errbuf, "could not decode requested zset member"));
}

/* Keys in two slots ({a} is slot 15495, {b} slot 3300): refused on a cluster, run otherwise. */
static void test_geosearchstore_two_slots(void **state)
{
    (void)state;
    vmux_str src = slot_key("b", "src"), dst = slot_key("a", "dst");
    DO(S("DEL"), src);
    DO(S("DEL"), dst);
    assert_int_equal(vmux_geoadd(M, NULL, src, SICILY, 4, VMUX_COND_ALWAYS, false, NULL), 0);
    int64_t n = 7;
    errbuf[0] = '\0';
    int rc = vmux_geosearchstore(M, &EO, dst, src, FROM_CENTRE, R200KM, NULL, false, &n);
    if (!refused_crossslot(rc, n))
        assert_int_equal(n, 4);
    else
        assert_int_equal(raw_int(RAW(S("EXISTS"), dst)), 0);
}

static void test_geosearch_bad_arguments(void **state)
{
    (void)state;
    vmux_str k = sicily("search-bad"), dst = key("search-bad-dst");
    DO(S("DEL"), dst);
    vmux_geo_center c = FROM_CENTRE;
    vmux_geo_shape s = R200KM;
    const double lat_over = nextafter(VMUX_GEO_LATITUDE_MAX, 90);
    struct {
        vmux_geo_center center;
        vmux_geo_shape shape;
        vmux_geosearch_opts search;
    } bad[] = {
        {VMUX_GEO_CENTER_LONLAT(NAN, 37), s, NO_SEARCH},
        {VMUX_GEO_CENTER_LONLAT(15, INFINITY), s, NO_SEARCH},
        {VMUX_GEO_CENTER_LONLAT(15, lat_over), s, NO_SEARCH},
        {VMUX_GEO_CENTER_LONLAT(-180.5, 37), s, NO_SEARCH},
        {VMUX_GEO_CENTER_MEMBER(VMUX_STRN(NULL, 1)), s, NO_SEARCH},
        {{(vmux_geo_center_kind)2, 15, 37, {NULL, 0}}, s, NO_SEARCH},
        {c, VMUX_GEO_SHAPE_RADIUS(NAN, VMUX_GEO_UNIT_KM), NO_SEARCH},
        {c, VMUX_GEO_SHAPE_RADIUS(-1, VMUX_GEO_UNIT_KM), NO_SEARCH},
        {c, VMUX_GEO_SHAPE_RADIUS(INFINITY, VMUX_GEO_UNIT_KM), NO_SEARCH},
        {c, VMUX_GEO_SHAPE_BOX(-1, 10, VMUX_GEO_UNIT_KM), NO_SEARCH},
        {c, VMUX_GEO_SHAPE_BOX(10, NAN, VMUX_GEO_UNIT_KM), NO_SEARCH},
        {c, VMUX_GEO_SHAPE_RADIUS(10, (vmux_geo_unit)4), NO_SEARCH},
        {c, {(vmux_geo_shape_kind)2, 10, 10, 10, VMUX_GEO_UNIT_KM}, NO_SEARCH},
        {c, s, SEARCH(.order = (vmux_geo_order)3)},
        {c, s, SEARCH(.count = -1)},
        {c, s, SEARCH(.any = true)},
        {c, s, {0}}, /* not made with VMUX_INIT */
    };
    strcpy(errbuf, "untouched");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vmux_geo_result_array got;
        memset(&got, 0xab, sizeof got);
        int rc = vmux_geosearch(M, &EO, k, bad[i].center, bad[i].shape, &bad[i].search, &got);
        if (rc != VMUX_ERR_INVALID_ARG)
            fail_msg("case %zu: %s", i, vmux_err_name(rc));
        assert_null(got.items);
        assert_int_equal(got.count, 0);
        int64_t n = 7;
        rc = vmux_geosearchstore(M, &EO, dst, k, bad[i].center, bad[i].shape, &bad[i].search, true,
                                 &n);
        if (rc != VMUX_ERR_INVALID_ARG)
            fail_msg("store, case %zu: %s", i, vmux_err_name(rc));
        assert_int_equal(n, 0);
    }
    /* what only a search's reply carries does not go with a store */
    const vmux_geosearch_opts with[] = {SEARCH(.withcoord = true), SEARCH(.withdist = true),
                                        SEARCH(.withhash = true)};
    for (size_t i = 0; i < 3; i++) {
        int64_t n = 7;
        assert_int_equal(vmux_geosearchstore(M, &EO, dst, k, c, s, &with[i], false, &n),
                         VMUX_ERR_INVALID_ARG);
        assert_int_equal(n, 0);
    }
    assert_int_equal(vmux_geosearchstore(M, &EO, VMUX_STRN(NULL, 1), k, c, s, NULL, false, NULL),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_geosearchstore(M, &EO, dst, VMUX_STRN(NULL, 1), c, s, NULL, false, NULL),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(raw_int(RAW(S("EXISTS"), dst)), 0);
    assert_int_equal(vmux_geosearch(M, &EO, VMUX_STRN(NULL, 1), c, s, NULL, NULL),
                     VMUX_ERR_INVALID_ARG);
    assert_refused_words(errbuf);
}

static void test_wrongtype(void **state)
{
    (void)state;
    vmux_str k = key("wrongtype");
    DO(S("SET"), k, S("text"));
    vmux_geo_member item = {15, 37, S("m")};
    int64_t n = 7;
    assert_wrongtype(vmux_geoadd(M, &EO, k, &item, 1, VMUX_COND_ALWAYS, true, &n));
    assert_int_equal(n, 0);
    double d = 7;
    bool found = true;
    assert_wrongtype(vmux_geodist(M, &EO, k, S("a"), S("b"), VMUX_GEO_UNIT_KM, &d, &found));
    assert_true(d == 0);
    assert_false(found);
    vmux_geo_point p = {1, 1};
    found = true;
    vmux_str m = S("m");
    assert_wrongtype(vmux_geopos(M, &EO, k, &m, 1, &p, &found));
    assert_true(p.longitude == 0 && p.latitude == 0);
    assert_false(found);
    vmux_geo_result_array got;
    memset(&got, 0xab, sizeof got);
    assert_wrongtype(vmux_geosearch(M, &EO, k, FROM_CENTRE, R200KM, NULL, &got));
    assert_null(got.items);
    assert_int_equal(got.count, 0);
    vmux_bytes_array hashes = JUNK_ARRAY;
    assert_wrongtype(vmux_geohash(M, &EO, k, &m, 1, &hashes));
    assert_zero_array(&hashes);
    vmux_str dst = key("wrongtype-dst");
    n = 7;
    assert_wrongtype(vmux_geosearchstore(M, &EO, dst, k, FROM_CENTRE, R200KM, NULL, false, &n));
    assert_int_equal(n, 0);
    assert_raw_str(RAW(S("GET"), k), S("text"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geoadd),
        cmocka_unit_test(test_geoadd_bad_arguments),
        cmocka_unit_test(test_geodist),
        cmocka_unit_test(test_geopos),
        cmocka_unit_test(test_geosearch_from_position),
        cmocka_unit_test(test_geosearch_from_member),
        cmocka_unit_test(test_geohash),
        cmocka_unit_test(test_geosearchstore),
        cmocka_unit_test(test_geosearchstore_two_slots),
        cmocka_unit_test(test_geosearch_bad_arguments),
        cmocka_unit_test(test_wrongtype),
    };
    return cmocka_run_group_tests(tests, cmd_setup, cmd_teardown);
}
