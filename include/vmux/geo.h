/** @file
 * Geospatial commands, typed: GEOADD (with a condition and CH), GEODIST, GEOPOS, GEOHASH,
 * GEOSEARCH (from a member or a position, in a radius or a box, sorted, counted, with
 * coordinates, distances and hashes) and GEOSEARCHSTORE (the same search, stored, with
 * STOREDIST). A geo set is a sorted set whose scores are the members' positions as 52-bit
 * geohashes: the sorted-set commands (zsets.h) work on it too (vmux_zrem() removes a member), and
 * a position comes back as the centre of its geohash cell, within a metre or so of the one given.
 * The older GEORADIUS family is reached through vmux_call() (call.h).
 *
 * Every function here is synchronous, may be called from any thread but the I/O thread, and
 * returns 0, VMUX_ERR_SERVER (the server refused, such as WRONGTYPE, or a search from a member
 * that is not in the set; the message goes to opts->errbuf when given), VMUX_ERR_INVALID_ARG for
 * bad input (nothing is sent: a NULL array with n > 0, n == 0, a position that is not valid, a
 * radius, width or height that is NaN, infinite or negative, an enum value outside its enum, an
 * options struct not made with VMUX_INIT, contradictory options, a vmux_str {NULL, len > 0};
 * opts->errbuf, when given, says which argument broke which rule: "invalid argument: unit is 9:
 * none of vmux_geo_unit"), or a transport error as vmux_call() (call.h). opts may be NULL.
 * Out-parameters are filled only on success and zeroed otherwise; a NULL out-parameter drops that
 * result. Keys and members are binary-safe (types.h). A missing key is an empty geo set.
 *
 * Positions: a longitude from -VMUX_GEO_LONGITUDE_MAX to VMUX_GEO_LONGITUDE_MAX and a latitude from
 * -VMUX_GEO_LATITUDE_MAX to VMUX_GEO_LATITUDE_MAX (both ends included), in degrees: the server's
 * own limits (EPSG:3857). vmux checks them before sending, so a NaN, an infinity or a position
 * out of range is VMUX_ERR_INVALID_ARG and nothing is sent (the server would refuse the whole
 * GEOADD with "invalid longitude,latitude pair").
 *
 * Retry-safety (call.h, VMUX_CALL_RETRY_SAFE): GEOADD with VMUX_COND_ALWAYS (CH allowed),
 * GEODIST, GEOPOS, GEOHASH and GEOSEARCH are idempotent and marked so; GEOADD with a condition
 * (its count reports the condition) is never sent twice, as ZADD's. GEOSEARCHSTORE replaces dst
 * with what a search of src finds, the same set and count on a second run, and is marked unless
 * dst is src: a second run would then search what the first one stored (with STOREDIST, scores
 * that are distances, not positions), as the sorted-set stores (zsets.h).
 *
 * Cluster: GEOSEARCHSTORE uses dst and src together, so they must be in one slot (give them a
 * common {hash tag}); keys in two slots are VMUX_ERR_CROSSSLOT, nothing sent.
 */
#ifndef VMUX_GEO_H
#define VMUX_GEO_H

#include <stdbool.h>
#include <stdint.h>

#include "vmux/call.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @{ */
/** The largest longitude and latitude (degrees) of a position; their negatives are the least. */
#define VMUX_GEO_LONGITUDE_MAX 180.0
#define VMUX_GEO_LATITUDE_MAX 85.05112878
/** @} */

/** A member at a position, going in (GEOADD). The member is borrowed, as any vmux_str. */
typedef struct vmux_geo_member {
    double longitude, latitude;
    vmux_str member;
} vmux_geo_member;

/** A position, coming out (GEOPOS, GEOSEARCH with withcoord). */
typedef struct vmux_geo_point {
    double longitude, latitude;
} vmux_geo_point;

/** The unit of a distance (GEODIST, GEOSEARCH). */
typedef enum vmux_geo_unit {
    VMUX_GEO_UNIT_M = 0,  /**< metres (m) */
    VMUX_GEO_UNIT_KM = 1, /**< kilometres (km) */
    VMUX_GEO_UNIT_MI = 2, /**< miles (mi) */
    VMUX_GEO_UNIT_FT = 3, /**< feet (ft) */
} vmux_geo_unit;

/**
 * GEOADD key [cond] [CH] longitude latitude member ...: adds the n members of items (n >= 1) at
 * their positions, or moves members already there, when cond holds: VMUX_COND_ALWAYS,
 * VMUX_COND_NX (only add new members, never move one) or VMUX_COND_XX (only move existing
 * members, never add); any other is VMUX_ERR_INVALID_ARG. *count is the number added, or with
 * count_changed (CH) the number added or moved. Every position is checked before anything is
 * sent.
 */
VMUX_EXPORT int vmux_geoadd(vmux *m, const vmux_callopts *opts, vmux_str key,
                            const vmux_geo_member *items, size_t n, vmux_cond cond,
                            bool count_changed, int64_t *count);

/**
 * GEODIST key member1 member2 unit: *distance is the distance between the two members in unit,
 * and *found true; when either is not a member (or the key is missing: the server's nil),
 * *distance is 0 and *found false, and the call returns 0.
 */
VMUX_EXPORT int vmux_geodist(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str member1,
                             vmux_str member2, vmux_geo_unit unit, double *distance, bool *found);

/**
 * GEOPOS key members...: points[i] is the position of members[i] and found[i] true, or {0, 0}
 * and false when it is not a member (or the key is missing). points and found are the caller's
 * arrays of n elements (nothing to free); either may be NULL. n >= 1.
 */
VMUX_EXPORT int vmux_geopos(vmux *m, const vmux_callopts *opts, vmux_str key,
                            const vmux_str *members, size_t n, vmux_geo_point *points, bool *found);

/**
 * GEOHASH key members...: hashes->items[i] is the 11-character geohash of members[i]'s position
 * (as geohash.org reads it, "sqc8b49rny0"), or a nil item (ptr NULL) when it is not a member (or
 * the key is missing). The caller frees *hashes with vmux_bytes_array_free(). n >= 1.
 */
VMUX_EXPORT int vmux_geohash(vmux *m, const vmux_callopts *opts, vmux_str key,
                             const vmux_str *members, size_t n, vmux_bytes_array *hashes);

/** Where a search starts from: a position, or a member's. Make them with the macros below. */
typedef enum vmux_geo_center_kind {
    VMUX_GEO_CENTER_KIND_LONLAT = 0, /**< a position: FROMLONLAT longitude latitude */
    VMUX_GEO_CENTER_KIND_MEMBER = 1, /**< a member of the set: FROMMEMBER member */
} vmux_geo_center_kind;

/** The centre of a GEOSEARCH: its kind and the fields that kind reads. */
typedef struct vmux_geo_center {
    vmux_geo_center_kind kind;
    double longitude, latitude; /**< VMUX_GEO_CENTER_KIND_LONLAT */
    vmux_str member;            /**< VMUX_GEO_CENTER_KIND_MEMBER (borrowed) */
} vmux_geo_center;

/** @{ */
/** A vmux_geo_center of each kind; the member is a vmux_str (VMUX_STR("m")), not a C string. */
#define VMUX_GEO_CENTER_LONLAT(lon, lat)                                                           \
    VMUX_LITERAL(vmux_geo_center, VMUX_GEO_CENTER_KIND_LONLAT, VMUX_AS(double, lon),               \
                 VMUX_AS(double, lat), {NULL, 0})
#define VMUX_GEO_CENTER_MEMBER(m)                                                                  \
    VMUX_LITERAL(vmux_geo_center, VMUX_GEO_CENTER_KIND_MEMBER, 0.0, 0.0, (m))
/** @} */

/** The area of a search: a circle or a box. Make them with the macros below. */
typedef enum vmux_geo_shape_kind {
    VMUX_GEO_SHAPE_KIND_RADIUS = 0, /**< a circle: BYRADIUS radius unit */
    VMUX_GEO_SHAPE_KIND_BOX = 1,    /**< a box centred on the centre: BYBOX width height unit */
} vmux_geo_shape_kind;

/**
 * The area of a GEOSEARCH: its kind, the sizes that kind reads (each >= 0 and finite) and their
 * unit, which is also the unit of the distances the search returns.
 */
typedef struct vmux_geo_shape {
    vmux_geo_shape_kind kind;
    double radius;        /**< VMUX_GEO_SHAPE_KIND_RADIUS */
    double width, height; /**< VMUX_GEO_SHAPE_KIND_BOX: east-west and north-south */
    vmux_geo_unit unit;
} vmux_geo_shape;

/** @{ */
/** A vmux_geo_shape of each kind, with its unit (a vmux_geo_unit). */
#define VMUX_GEO_SHAPE_RADIUS(r, unit)                                                             \
    VMUX_LITERAL(vmux_geo_shape, VMUX_GEO_SHAPE_KIND_RADIUS, VMUX_AS(double, r), 0.0, 0.0,         \
                 VMUX_AS(vmux_geo_unit, unit))
#define VMUX_GEO_SHAPE_BOX(w, h, unit)                                                             \
    VMUX_LITERAL(vmux_geo_shape, VMUX_GEO_SHAPE_KIND_BOX, 0.0, VMUX_AS(double, w),                 \
                 VMUX_AS(double, h), VMUX_AS(vmux_geo_unit, unit))
/** @} */

/** The order of a search's results. */
typedef enum vmux_geo_order {
    VMUX_GEO_UNSORTED = 0, /**< the server's order, which is no order */
    VMUX_GEO_ASC = 1,      /**< nearest first (ASC) */
    VMUX_GEO_DESC = 2,     /**< farthest first (DESC) */
} vmux_geo_order;

/**
 * What GEOSEARCH returns, beyond the centre and the area; NULL means every default: every
 * member in the area, unsorted, without coordinates, distances or hashes.
 *
 * order:     VMUX_GEO_UNSORTED (0), VMUX_GEO_ASC or VMUX_GEO_DESC.
 * count:     > 0: at most count members (COUNT count); 0: every one; < 0 is
 *            VMUX_ERR_INVALID_ARG. Without any, the server finds every member in the area
 *            first, sorts them (by order, nearest first when unsorted) and keeps count.
 * any:       with count only (VMUX_ERR_INVALID_ARG without): stop as soon as count members
 *            are found (ANY), which is faster in a large area but gives any count of them,
 *            not the nearest.
 * withcoord, withdist, withhash: fill the results' point, distance (in the shape's unit) and
 *            hash (WITHCOORD, WITHDIST, WITHHASH).
 */
typedef struct vmux_geosearch_opts {
    size_t size; /**< sized struct: make it with VMUX_INIT(vmux_geosearch_opts, ...) (abi.h) */
    vmux_geo_order order;
    int64_t count;
    bool any;
    bool withcoord, withdist, withhash;
} vmux_geosearch_opts;

/** One member a search found, and what the search asked for about it. */
typedef struct vmux_geo_result {
    vmux_bytes member;
    double distance;      /**< withdist: from the centre, in the shape's unit; else 0 */
    int64_t hash;         /**< withhash: the member's 52-bit geohash (its score); else 0 */
    vmux_geo_point point; /**< withcoord: its position; else {0, 0} */
} vmux_geo_result;

/** Owned array of search results. */
typedef struct vmux_geo_result_array {
    vmux_geo_result *items;
    size_t count;
} vmux_geo_result_array;

/** Frees every member and the array, and zeroes it. NULL is allowed. */
VMUX_EXPORT void vmux_geo_result_array_free(vmux_geo_result_array *a);

/**
 * GEOSEARCH key FROMMEMBER|FROMLONLAT ... BYRADIUS|BYBOX ... [ASC|DESC] [COUNT count [ANY]]
 * [WITHCOORD] [WITHDIST] [WITHHASH]: the members of the geo set at key inside shape around
 * center, in *results (the caller frees it with vmux_geo_result_array_free()). search NULL
 * means every default (vmux_geosearch_opts). A missing key gives no result, from a member too;
 * a centre member that is not in an existing set is the server's error (VMUX_ERR_SERVER, "could
 * not decode requested zset member").
 */
VMUX_EXPORT int vmux_geosearch(vmux *m, const vmux_callopts *opts, vmux_str key,
                               vmux_geo_center center, vmux_geo_shape shape,
                               const vmux_geosearch_opts *search, vmux_geo_result_array *results);

/**
 * GEOSEARCHSTORE dst src FROMMEMBER|FROMLONLAT ... BYRADIUS|BYBOX ... [ASC|DESC] [COUNT count
 * [ANY]] [STOREDIST]: stores at dst the members that vmux_geosearch() of src with the same
 * center, shape and search would find, replacing whatever dst held; *count is how many. Without
 * storedist dst is a geo set (the members keep their positions); with it, a sorted set whose
 * scores are the members' distances from the centre in the shape's unit. An empty result deletes
 * dst. search's withcoord, withdist and withhash do not go with a store: VMUX_ERR_INVALID_ARG,
 * nothing sent. On a cluster dst and src must share a slot. Retry-safe unless dst is src (above).
 */
VMUX_EXPORT int vmux_geosearchstore(vmux *m, const vmux_callopts *opts, vmux_str dst, vmux_str src,
                                    vmux_geo_center center, vmux_geo_shape shape,
                                    const vmux_geosearch_opts *search, bool storedist,
                                    int64_t *count);

#ifdef __cplusplus
}
#endif

#endif
