/*
 * libFuzzer target for the command path before any socket: the encoder (lib/core/encode.c),
 * the classifier (lib/core/shareable.c) and the key positions and slot of a command
 * (lib/route/keyspec.c, keyslot.c, slot.c). The input is an argument vector, its arguments
 * separated by line feeds (any other byte, \r and \0 included, belongs to an argument). It checks
 * what the rest of the library relies on:
 *
 * - the encoding is byte for byte hiredis's, and our reply reader reads it back as the same
 *   array of bulk strings; the op made from those bytes (vmux_command()'s path) is classified as
 *   the one made from the vector;
 * - every key range lies inside the vector, past the command's name; a malformed vector says
 *   why; the fast path for one-key commands agrees with the table; the command's name is
 *   matched without regard to case;
 * - the slot is the slot of every key, or a cross-slot pair of keys in two slots, whose message
 *   fits any buffer and is NUL-terminated.
 */
#include <ctype.h>
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/encode.h"
#include "core/reader.h"
#include "core/shareable.h"
#include "route/keyslot.h"
#include "route/keyspec.h"
#include "route/slot.h"
#include "vmux/error.h"
#include "vmux/reply.h"
#include "fuzz.h"

enum { MAX_ARGS = 256 };

/* The op's bytes read back: one array whose elements are argv, in order. */
static void check_reads_back(const struct vmux_op *op, int argc, const char *const *argv,
                             const size_t *lens)
{
    static const struct vmux_reader_limits limits = {1 << 20, MAX_ARGS, 1 << 22};
    vmux_reader *rd = vmux__reader_new(&limits);
    CHECK(rd != NULL);
    CHECK(vmux__reader_feed(rd, op->cmd, op->len) == 0);
    vmux_reply *r = NULL;
    CHECK(vmux__reader_next(rd, &r) == 1);
    CHECK(vmux_reply_get_kind(r) == VMUX_REPLY_ARRAY && vmux_reply_len(r) == (size_t)argc);
    for (int i = 0; i < argc; i++) {
        size_t n;
        const char *s = vmux_reply_str(vmux_reply_element(r, (size_t)i), &n);
        CHECK(n == lens[i] && (n == 0 || memcmp(s, argv[i], n) == 0));
    }
    vmux_reply_free(r);
    CHECK(vmux__reader_idle(rd));
    vmux__reader_free(rd);
}

static void check_encoding(int argc, const char *const *argv, const size_t *lens)
{
    struct vmux_op *op = NULL;
    CHECK(vmux__encode_op(argc, argv, lens, &op) == 0);
    char *want = NULL;
    int n = redisFormatCommandArgv(&want, argc, (const char **)argv, lens);
    CHECK(n > 0 && op->len == (size_t)n && memcmp(op->cmd, want, (size_t)n) == 0);
    redisFreeCommand(want);
    check_reads_back(op, argc, argv, lens);

    struct vmux_op *raw = NULL;
    CHECK(vmux__encode_op_raw(op->cmd, op->len, &raw) == 0);
    CHECK(raw->flags == op->flags);
    uint32_t flags = 0, rflags = 0;
    CHECK(vmux__classify(argc, argv, lens, &flags) ==
          vmux__classify_resp(op->cmd, op->len, &rflags));
    CHECK(flags == rflags);
    vmux__op_free(raw);
    vmux__op_free(op);
}

static void check_ranges(int argc, const struct vmux_keys *k, enum vmux_keys_kind kind)
{
    CHECK(kind == k->kind && kind >= VMUX_KEYS_FOUND && kind <= VMUX_KEYS_MALFORMED);
    CHECK((kind == VMUX_KEYS_MALFORMED) == (k->why != NULL));
    if (kind != VMUX_KEYS_FOUND) {
        CHECK(k->nranges == 0 && vmux__keys_count(k) == 0);
        return;
    }
    CHECK(k->nranges >= 1 && k->nranges <= VMUX_KEYS_MAX_RANGES);
    for (int i = 0; i < k->nranges; i++) {
        const struct vmux_keyrange *r = &k->range[i];
        CHECK(r->first >= 1 && r->first <= r->last && r->last < argc && r->step >= 1);
    }
    size_t count = vmux__keys_count(k);
    CHECK(count >= 1);
    for (size_t i = 0; i < count; i++) {
        int arg = vmux__keys_arg(k, i);
        CHECK(arg >= 1 && arg < argc);
    }
}

/* The same vector with the command's name in the other case finds the same keys. */
static void check_case(int argc, const char *const *argv, const size_t *lens,
                       const struct vmux_keys *k)
{
    char name[64];
    if (lens[0] >= sizeof name)
        return;
    for (size_t i = 0; i < lens[0]; i++) {
        unsigned char c = (unsigned char)argv[0][i];
        name[i] = (char)(isupper(c) ? tolower(c) : toupper(c));
    }
    const char *other[MAX_ARGS];
    memcpy(other, argv, (size_t)argc * sizeof *argv);
    other[0] = name;
    struct vmux_keys k2;
    CHECK(vmux__keys_find(argc, other, lens, &k2) == k->kind);
    CHECK(k2.nranges == k->nranges && k2.readonly == k->readonly);
    CHECK(memcmp(k2.range, k->range, (size_t)k->nranges * sizeof k->range[0]) == 0);
}

static void check_slot(const struct vmux_keys *k, const char *const *argv, const size_t *lens)
{
    int slot = -99;
    struct vmux_crossslot cross;
    int rc = vmux__keys_slot(k, argv, lens, &slot, &cross);
    if (k->kind != VMUX_KEYS_FOUND) {
        CHECK(rc == 0 && slot == VMUX_SLOT_ANY);
        return;
    }
    size_t count = vmux__keys_count(k);
    unsigned first = vmux__slot_of(argv[vmux__keys_arg(k, 0)], lens[vmux__keys_arg(k, 0)]);
    CHECK(slot == (int)first);
    if (rc == 0) {
        for (size_t i = 0; i < count; i++) {
            int a = vmux__keys_arg(k, i);
            CHECK(vmux__slot_of(argv[a], lens[a]) == first);
        }
        return;
    }
    CHECK(rc == VMUX_ERR_CROSSSLOT);
    CHECK(cross.arg_a == vmux__keys_arg(k, 0) && cross.slot_a == first);
    CHECK(cross.slot_b != first &&
          cross.slot_b == vmux__slot_of(argv[cross.arg_b], lens[cross.arg_b]));
    char small[17], big[512];
    memset(small, 'x', sizeof small);
    vmux__crossslot_message(small, sizeof small, &cross, argv, lens);
    vmux__crossslot_message(big, sizeof big, &cross, argv, lens);
    CHECK(strlen(small) < sizeof small && strlen(big) < sizeof big);
    CHECK(strncmp(small, big, strlen(small)) == 0);
}

static void check_keys(int argc, const char *const *argv, const size_t *lens)
{
    struct vmux_keys k;
    enum vmux_keys_kind kind = vmux__keys_find(argc, argv, lens, &k);
    check_ranges(argc, &k, kind);
    bool ro = false;
    int single = vmux__keys_single(argc, argv, lens, &ro);
    CHECK(single >= 0 && single < argc);
    if (single > 0) {
        CHECK(kind == VMUX_KEYS_FOUND && k.nranges == 1 && ro == k.readonly);
        CHECK(k.range[0].first == single && k.range[0].last == single);
    }
    check_case(argc, argv, lens, &k);
    check_slot(&k, argv, lens);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *argv[MAX_ARGS];
    size_t lens[MAX_ARGS];
    int argc = 0;
    const char *p = (const char *)data, *end = p + size;
    while (argc < MAX_ARGS) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        argv[argc] = p;
        lens[argc++] = (size_t)((nl != NULL ? nl : end) - p);
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    check_encoding(argc, argv, lens);
    check_keys(argc, argv, lens);
    return 0;
}
