/* Geospatial commands (geo.h). */
#include "vmux/geo.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "api/typed.h"
#include "core/sized.h"
#include "core/value.h"
#include "vmux/error.h"

static const char *const unit_words[] = {"m", "km", "mi", "ft"};

/* Adds a unit's word; one outside the enum is refused (VMUX_ERR_INVALID_ARG when sent). */
static void add_unit(struct vmux_args *a, vmux_geo_unit unit)
{
    if ((unsigned)unit > VMUX_GEO_UNIT_FT)
        vmux__args_refuse_why(a, "unit is %d: none of vmux_geo_unit", (int)unit);
    else
        vmux__args_cstr(a, unit_words[unit]);
}

/* The server's limits, both ends included; a NaN fails every comparison, an infinity the bounds. */
static bool valid_point(double longitude, double latitude)
{
    return longitude >= -VMUX_GEO_LONGITUDE_MAX && longitude <= VMUX_GEO_LONGITUDE_MAX &&
           latitude >= -VMUX_GEO_LATITUDE_MAX && latitude <= VMUX_GEO_LATITUDE_MAX;
}

/* Adds longitude latitude; a position out of the server's limits is refused. */
static void add_point(struct vmux_args *a, double longitude, double latitude)
{
    if (!valid_point(longitude, latitude)) {
        vmux__args_refuse_why(a,
                              "longitude %g, latitude %g: outside the server's limits (+-%g, "
                              "+-%g)",
                              longitude, latitude, VMUX_GEO_LONGITUDE_MAX, VMUX_GEO_LATITUDE_MAX);
        return;
    }
    vmux__args_double(a, longitude);
    vmux__args_double(a, latitude);
}

/* Adds a size of a search's area: NaN, infinite or negative is refused. */
static void add_size(struct vmux_args *a, double v)
{
    if (!isfinite(v) || v < 0)
        vmux__args_refuse_why(a, "a shape's size is %g: must be finite and at least 0", v);
    else
        vmux__args_double(a, v);
}

int vmux_geoadd(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_geo_member *items,
                size_t n, vmux_cond cond, bool count_changed, int64_t *count)
{
    struct vmux_args a;
    if (count != NULL)
        *count = 0;
    if (items == NULL || n == 0)
        return vmux__items_refuse(opts, "items", items, n);
    vmux__args_key_command(&a, "GEOADD", key);
    if (!vmux__args_cond(&a, cond, VMUX_COND_XX))
        vmux__args_refuse_why(&a, "cond is %d: GEOADD takes VMUX_COND_ALWAYS, NX or XX", (int)cond);
    if (count_changed)
        vmux__args_cstr(&a, "CH");
    for (size_t i = 0; i < n && a.error == 0; i++) {
        add_point(&a, items[i].longitude, items[i].latitude);
        vmux__args_str(&a, items[i].member);
    }
    return vmux__run_int(m, opts, &a, cond == VMUX_COND_ALWAYS, count);
}

int vmux_geodist(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str member1,
                 vmux_str member2, vmux_geo_unit unit, double *distance, bool *found)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "GEODIST", key);
    vmux__args_str(&a, member1);
    vmux__args_str(&a, member2);
    add_unit(&a, unit);
    return vmux__run_score(m, opts, &a, true, distance, found);
}

/* A [longitude, latitude] reply into a vmux_geo_point; VMUX_ERR_PROTOCOL for another shape. */
static int conv_point(const vmux_reply *r, void *out)
{
    vmux_geo_point *p = out;
    if (vmux_reply_get_kind(r) != VMUX_REPLY_ARRAY || vmux_reply_len(r) != 2 ||
        vmux_reply_get_kind(vmux_reply_element(r, 0)) != VMUX_REPLY_STRING ||
        vmux_reply_get_kind(vmux_reply_element(r, 1)) != VMUX_REPLY_STRING ||
        vmux_reply_to_double(vmux_reply_element(r, 0), &p->longitude) != 0 ||
        vmux_reply_to_double(vmux_reply_element(r, 1), &p->latitude) != 0)
        return VMUX_ERR_PROTOCOL;
    return 0;
}

int vmux_geopos(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *members, size_t n,
                vmux_geo_point *points, bool *found)
{
    struct vmux_args a;
    struct vmux_each e = {points, sizeof(*points), found, n, conv_point};
    if (!vmux__args_items(&a, "GEOPOS", &key, members, n))
        return vmux__items_refuse(opts, "members", members, n);
    return vmux__run_each(m, opts, &a, true, &e);
}

int vmux_geohash(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *members,
                 size_t n, vmux_bytes_array *hashes)
{
    struct vmux_args a;
    if (hashes != NULL)
        *hashes = (vmux_bytes_array){0};
    if (!vmux__args_items(&a, "GEOHASH", &key, members, n))
        return vmux__items_refuse(opts, "members", members, n);
    return vmux__run_bytes_array(m, opts, &a, true, hashes);
}

void vmux_geo_result_array_free(vmux_geo_result_array *a)
{
    if (a == NULL)
        return;
    vmux__free_items(a->items, a->count, sizeof *a->items, offsetof(vmux_geo_result, member));
    *a = (vmux_geo_result_array){0};
}

/* One of a result's details after its member, told apart by kind: distance, hash, position. */
static int read_detail(const vmux_reply *r, vmux_geo_result *out)
{
    switch (vmux_reply_get_kind(r)) {
    case VMUX_REPLY_STRING:
        return vmux_reply_to_double(r, &out->distance) == 0 ? 0 : VMUX_ERR_PROTOCOL;
    case VMUX_REPLY_INTEGER:
        out->hash = vmux_reply_integer(r);
        return 0;
    case VMUX_REPLY_ARRAY:
        return conv_point(r, &out->point);
    default:
        return VMUX_ERR_PROTOCOL;
    }
}

/* A result: the member alone, or [member, details...] when a detail was asked for. */
static int read_result(const vmux_reply *r, vmux_geo_result *out)
{
    bool nested = vmux_reply_get_kind(r) == VMUX_REPLY_ARRAY;
    const vmux_reply *member = nested ? vmux_reply_element(r, 0) : r;
    if (member == NULL || vmux_reply_get_kind(member) != VMUX_REPLY_STRING)
        return VMUX_ERR_PROTOCOL;
    int rc = 0;
    for (size_t i = 1; nested && i < vmux_reply_len(r) && rc == 0; i++)
        rc = read_detail(vmux_reply_element(r, i), out);
    return rc != 0 ? rc : vmux_reply_to_bytes(member, &out->member);
}

static int conv_results(const vmux_reply *r, void *out)
{
    vmux_geo_result_array *a = out;
    if (vmux_reply_get_kind(r) != VMUX_REPLY_ARRAY)
        return VMUX_ERR_PROTOCOL;
    size_t n = vmux_reply_len(r);
    a->items = calloc(n ? n : 1, sizeof(*a->items));
    if (a->items == NULL)
        return VMUX_ERR_NOMEM;
    a->count = n;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = read_result(vmux_reply_element(r, i), &a->items[i]);
    if (rc != 0)
        vmux_geo_result_array_free(a);
    return rc;
}

static void release_results(void *v)
{
    vmux_geo_result_array_free(v);
}

static void add_center(struct vmux_args *a, const vmux_geo_center *c)
{
    if (c->kind == VMUX_GEO_CENTER_KIND_MEMBER) {
        vmux__args_cstr(a, "FROMMEMBER");
        vmux__args_str(a, c->member);
    } else if (c->kind == VMUX_GEO_CENTER_KIND_LONLAT) {
        vmux__args_cstr(a, "FROMLONLAT");
        add_point(a, c->longitude, c->latitude);
    } else {
        vmux__args_refuse_why(a, "center.kind is %d: none of vmux_geo_center_kind", (int)c->kind);
    }
}

static void add_shape(struct vmux_args *a, const vmux_geo_shape *s)
{
    if (s->kind == VMUX_GEO_SHAPE_KIND_RADIUS) {
        vmux__args_cstr(a, "BYRADIUS");
        add_size(a, s->radius);
    } else if (s->kind == VMUX_GEO_SHAPE_KIND_BOX) {
        vmux__args_cstr(a, "BYBOX");
        add_size(a, s->width);
        add_size(a, s->height);
    } else {
        vmux__args_refuse_why(a, "shape.kind is %d: none of vmux_geo_shape_kind", (int)s->kind);
    }
    add_unit(a, s->unit);
}

/* Adds a search's centre and area: the part GEOSEARCH and GEOSEARCHSTORE share. */
static void add_area(struct vmux_args *a, const vmux_geo_center *center,
                     const vmux_geo_shape *shape)
{
    add_center(a, center);
    add_shape(a, shape);
}

/*
 * Adds the options' words; options that cannot be read or do not go together are refused, and
 * with store (GEOSEARCHSTORE) so are the WITH words, which only a search's reply can carry.
 */
static void add_search(struct vmux_args *a, const vmux_geosearch_opts *search, bool store)
{
    static const char *const order_words[] = {NULL, "ASC", "DESC"};
    vmux_geosearch_opts o = {0};
    if ((search != NULL && vmux__sized_in(&o, sizeof o, search) != 0) ||
        (unsigned)o.order > VMUX_GEO_DESC || o.count < 0 || (o.any && o.count == 0) ||
        (store && (o.withcoord || o.withdist || o.withhash))) {
        vmux__args_refuse_why(a, "search is refused: made without VMUX_INIT, order outside "
                                 "vmux_geo_order, count below 0, any without a count, or (storing) "
                                 "a WITH word, which only a search's reply carries");
        return;
    }
    if (order_words[o.order] != NULL)
        vmux__args_cstr(a, order_words[o.order]);
    if (o.count > 0) {
        vmux__args_cstr(a, "COUNT");
        vmux__args_int(a, o.count);
    }
    if (o.any)
        vmux__args_cstr(a, "ANY");
    if (o.withcoord)
        vmux__args_cstr(a, "WITHCOORD");
    if (o.withdist)
        vmux__args_cstr(a, "WITHDIST");
    if (o.withhash)
        vmux__args_cstr(a, "WITHHASH");
}

int vmux_geosearch(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_geo_center center,
                   vmux_geo_shape shape, const vmux_geosearch_opts *search,
                   vmux_geo_result_array *results)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "GEOSEARCH", key);
    add_area(&a, &center, &shape);
    add_search(&a, search, false);
    return vmux__typed_run_into(m, opts, &a, true, conv_results, results, sizeof(*results),
                                release_results);
}

int vmux_geosearchstore(vmux *m, const vmux_callopts *opts, vmux_str dst, vmux_str src,
                        vmux_geo_center center, vmux_geo_shape shape,
                        const vmux_geosearch_opts *search, bool storedist, int64_t *count)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "GEOSEARCHSTORE", dst);
    vmux__args_str(&a, src);
    add_area(&a, &center, &shape);
    add_search(&a, search, true);
    if (storedist)
        vmux__args_cstr(&a, "STOREDIST");
    /* a second run searches the same src, unless src is where the first one stored */
    return vmux__run_int(m, opts, &a, !vmux__str_among(dst, &src, 1), count);
}
