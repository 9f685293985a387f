/*
 * libFuzzer target for the reply reader (lib/core/reader.c). Each input is fed whole, byte by
 * byte, and split at a point the input itself chooses; the three must agree: the same replies
 * in the same order (compared as printed text), and the same outcome (more bytes needed, or a
 * failure with the same code). Small limits make the bulk, element and buffer checks reachable.
 * The second byte's low bit turns refusals on (vmux__reader_refuse_over_limit()): a reply over a
 * limit is then rendered "R", what was built of it (vmux__reader_refused_part()) and ";", and
 * skipped, and the replies after it must agree too.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/reader.h"
#include "vmux/error.h"
#include "fuzz.h"

static const struct vmux_reader_limits limits = {64, 16, 512};

/* Appends a compact, unambiguous rendering of r to out (cut at cap). */
static void render(const vmux_reply *r, char *out, size_t cap)
{
    size_t len = strlen(out);
    if (len + 64 >= cap)
        return;
    vmux_reply_kind kind = vmux_reply_get_kind(r);
    if (kind == VMUX_REPLY_INTEGER) {
        snprintf(out + len, cap - len, "i%lld;", (long long)vmux_reply_integer(r));
    } else if (kind == VMUX_REPLY_NIL) {
        snprintf(out + len, cap - len, "n;");
    } else if (kind == VMUX_REPLY_ARRAY) {
        snprintf(out + len, cap - len, "[%zu:", vmux_reply_len(r));
        for (size_t i = 0; i < vmux_reply_len(r); i++)
            render(vmux_reply_element(r, i), out, cap);
        len = strlen(out);
        snprintf(out + len, cap - len, "]");
    } else {
        size_t n;
        const char *s = vmux_reply_str(r, &n);
        snprintf(out + len, cap - len, "%d:%zu:", (int)kind, n);
        len = strlen(out);
        for (size_t i = 0; i < n && len + 3 < cap; i++, len += 2)
            snprintf(out + len, cap - len, "%02x", (unsigned char)s[i]);
    }
}

/* Whether a refusal was for an incomplete reply over maxReplyBuffer: checked after each feed,
 * so where it comes depends on the rhythm of the bytes. */
static bool rhythm_refusal;

/* Takes what the reader holds, rendering replies and refusals into out; returns next()'s last. */
static int take(vmux_reader *rd, char *out, size_t cap)
{
    int rc;
    vmux_reply *r;
    while ((rc = vmux__reader_next(rd, &r)) == 1 || rc == VMUX__READER_REFUSED) {
        size_t len = strlen(out);
        if (rc == VMUX__READER_REFUSED) {
            rhythm_refusal |= strstr(vmux__reader_error(rd), "incomplete") != NULL;
            if (len + 3 < cap) /* and what was built of it: the same however the bytes come */
                snprintf(out + len, cap - len, "R");
            if (vmux__reader_refused_part(rd) != NULL)
                render(vmux__reader_refused_part(rd), out, cap);
            vmux__reader_take_refusal(rd);
            len = strlen(out);
            if (len + 2 < cap)
                snprintf(out + len, cap - len, ";");
            continue;
        }
        render(r, out, cap);
        vmux_reply_free(r);
    }
    return rc;
}

/* Feeds data in pieces of at most step bytes (the first piece cut at `cut` when > 0). */
static int run(const uint8_t *data, size_t size, size_t cut, size_t step, bool refusing, char *out,
               size_t cap)
{
    vmux_reader *rd = vmux__reader_new(&limits);
    CHECK(rd != NULL);
    vmux__reader_refuse_over_limit(rd, refusing);
    out[0] = '\0';
    int rc = 0;
    for (size_t pos = 0; pos < size && rc == 0;) {
        size_t n = cut > pos ? cut - pos : step;
        if (n > size - pos)
            n = size - pos;
        rc = vmux__reader_feed(rd, (const char *)data + pos, n);
        pos += n;
        if (rc == 0)
            rc = take(rd, out, cap);
    }
    CHECK(rc == 0 || rc == VMUX_ERR_PROTOCOL || rc == VMUX_ERR_NOMEM);
    CHECK(rc == 0 || strlen(vmux__reader_error(rd)) > 0);
    vmux__reader_free(rd);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char whole[8192], bytewise[8192], split[8192];
    size_t cut = size > 0 ? data[0] % (size + 1) : 0;
    bool refusing = size > 1 && (data[1] & 1);
    rhythm_refusal = false;
    int a = run(data, size, 0, size ? size : 1, refusing, whole, sizeof(whole));
    int b = run(data, size, 0, 1, refusing, bytewise, sizeof(bytewise));
    int c = run(data, size, cut, size ? size : 1, refusing, split, sizeof(split));
    /* The buffer limit is checked after each feed, so a failure (or a refusal) may come at a
     * different reply when the bytes come in another rhythm; a success must be identical. */
    if (a == 0 && b == 0 && c == 0 && !rhythm_refusal) {
        CHECK(strcmp(whole, bytewise) == 0);
        CHECK(strcmp(whole, split) == 0);
    }
    return 0;
}
