/*
 * AWS Signature Version 4 in its query-string form (a presigned request), as AWS documents it
 * ("Create a signed AWS API request", "Authenticating Requests: Using Query Parameters"):
 * canonical request, string to sign, the signing key derived from the secret by four HMACs,
 * the signature. OpenSSL does the HMAC-SHA256 and SHA-256.
 */
#include "core/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "vmux/error.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define SHA256_LEN 32
/* SHA-256 of the empty payload: a presigned request signs no body. */
#define EMPTY_PAYLOAD_HASH "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MAX_EXTRA 6 /* the X-Amz-* parameters the signer adds */

/* One query parameter, encoded, for sorting. */
struct qparam {
    char *name;
    char *value;
};

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int vmux__sigv4_encode(struct vmux_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        int rc = unreserved(*p) ? vmux__buf_append(b, (const char *)p, 1)
                                : vmux__buf_append(b, esc, sizeof esc);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int append_str(struct vmux_buf *b, const char *s)
{
    size_t n = strlen(s);
    return n > 0 ? vmux__buf_append(b, s, n) : 0; /* an empty buffer has no data to copy to */
}

/* Appends the strings of a NULL-terminated list. */
static int append_all(struct vmux_buf *b, const char *const *parts)
{
    int rc = 0;
    for (; *parts != NULL && rc == 0; parts++)
        rc = append_str(b, *parts);
    return rc;
}

/* Ends b with a NUL and hands its memory over as a string (b is left empty). */
static char *take_string(struct vmux_buf *b)
{
    if (vmux__buf_append(b, "", 1) != 0)
        return NULL;
    char *s = b->data;
    *b = (struct vmux_buf){0};
    return s;
}

/* s encoded, as a new string (NULL when out of memory). */
static char *encoded(const char *s)
{
    struct vmux_buf b = {0};
    if (vmux__sigv4_encode(&b, s) != 0) {
        vmux__buf_free(&b);
        return NULL;
    }
    char *out = take_string(&b);
    vmux__buf_free(&b);
    return out;
}

static void hex_of(const unsigned char *md, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static bool sha256_hex(const char *s, char out[2 * SHA256_LEN + 1])
{
    unsigned char md[SHA256_LEN];
    unsigned int len = 0;
    if (EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL) != 1 || len != SHA256_LEN)
        return false;
    hex_of(md, SHA256_LEN, out);
    return true;
}

static bool hmac(const unsigned char *key, size_t keylen, const char *data,
                 unsigned char out[SHA256_LEN])
{
    unsigned int len = 0;
    return HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, strlen(data), out,
                &len) != NULL &&
           len == SHA256_LEN;
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request") */
static bool signing_key(const struct vmux__sigv4_request *r, const char *date,
                        unsigned char key[SHA256_LEN])
{
    size_t n = strlen(r->secret_access_key) + 5;
    char *k0 = malloc(n);
    if (k0 == NULL)
        return false;
    snprintf(k0, n, "AWS4%s", r->secret_access_key);
    bool ok = hmac((unsigned char *)k0, n - 1, date, key) &&
              hmac(key, SHA256_LEN, r->region, key) && hmac(key, SHA256_LEN, r->service, key) &&
              hmac(key, SHA256_LEN, "aws4_request", key);
    OPENSSL_cleanse(k0, n);
    free(k0);
    return ok;
}

static int cmp_param(const void *a, const void *b)
{
    const struct qparam *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : strcmp(x->value, y->value);
}

static void free_params(struct qparam *q, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(q[i].name);
        if (q[i].value != NULL)
            OPENSSL_cleanse(q[i].value, strlen(q[i].value));
        free(q[i].value);
    }
    free(q);
}

/* The X-Amz-* parameters the signer adds to the caller's. */
static size_t extra_params(const struct vmux__sigv4_request *r, const char *credential,
                           const char *amz_date, const char *expires,
                           struct vmux__sigv4_param extra[MAX_EXTRA])
{
    size_t n = 0;
    extra[n++] = (struct vmux__sigv4_param){"X-Amz-Algorithm", ALGORITHM};
    extra[n++] = (struct vmux__sigv4_param){"X-Amz-Credential", credential};
    extra[n++] = (struct vmux__sigv4_param){"X-Amz-Date", amz_date};
    extra[n++] = (struct vmux__sigv4_param){"X-Amz-Expires", expires};
    if (r->session_token != NULL)
        extra[n++] = (struct vmux__sigv4_param){"X-Amz-Security-Token", r->session_token};
    extra[n++] = (struct vmux__sigv4_param){"X-Amz-SignedHeaders", "host"};
    return n;
}

/* The canonical query string: every parameter encoded, sorted by name, then value. */
static char *canonical_query(const struct vmux__sigv4_param *in, size_t n)
{
    struct qparam *q = calloc(n, sizeof *q);
    struct vmux_buf b = {.secret = true};
    char *out = NULL;
    bool ok = q != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        q[i].name = encoded(in[i].name);
        q[i].value = encoded(in[i].value);
        ok = q[i].name != NULL && q[i].value != NULL;
    }
    if (ok)
        qsort(q, n, sizeof *q, cmp_param);
    for (size_t i = 0; ok && i < n; i++)
        ok = append_all(&b, (const char *[]){i > 0 ? "&" : "", q[i].name, "=", q[i].value, NULL}) ==
             0;
    if (ok)
        out = take_string(&b);
    vmux__buf_free(&b);
    if (q != NULL)
        free_params(q, n);
    return out;
}

/* The caller's parameters and the signer's in one array, then the canonical query. */
static char *query_of(const struct vmux__sigv4_request *r, const char *credential,
                      const char *amz_date, const char *expires)
{
    struct vmux__sigv4_param extra[MAX_EXTRA];
    size_t nextra = extra_params(r, credential, amz_date, expires, extra);
    struct vmux__sigv4_param *all = calloc(r->nparams + nextra, sizeof *all);
    if (all == NULL)
        return NULL;
    if (r->nparams > 0)
        memcpy(all, r->params, r->nparams * sizeof *all);
    memcpy(all + r->nparams, extra, nextra * sizeof *all);
    char *q = canonical_query(all, r->nparams + nextra);
    free(all);
    return q;
}

static char *canonical_request(const struct vmux__sigv4_request *r, const char *query)
{
    struct vmux_buf b = {.secret = true};
    char *out = NULL;
    if (append_all(&b, (const char *[]){r->method, "\n", r->path, "\n", query, "\nhost:", r->host,
                                        "\n\nhost\n", EMPTY_PAYLOAD_HASH, NULL}) == 0)
        out = take_string(&b);
    vmux__buf_free(&b);
    return out;
}

static char *string_to_sign(const char *amz_date, const char *scope, const char *creq)
{
    char hash[2 * SHA256_LEN + 1];
    struct vmux_buf b = {0};
    char *out = NULL;
    if (sha256_hex(creq, hash) && append_all(&b, (const char *[]){ALGORITHM "\n", amz_date, "\n",
                                                                  scope, "\n", hash, NULL}) == 0)
        out = take_string(&b);
    vmux__buf_free(&b);
    return out;
}

static bool valid(const struct vmux__sigv4_request *r)
{
    /* 253402300799 is 9999-12-31T23:59:59Z: X-Amz-Date has four digits of year. */
    return r != NULL && r->method != NULL && r->host != NULL && r->path != NULL &&
           (r->params != NULL || r->nparams == 0) && r->region != NULL && r->service != NULL &&
           r->access_key_id != NULL && r->secret_access_key != NULL && r->time >= 0 &&
           r->time <= 253402300799 && r->expires >= 1;
}

/* The signature (hex) of sts, and the presigned query: query&X-Amz-Signature=... */
static int sign(const struct vmux__sigv4_request *r, const char *date, const char *query,
                struct vmux__sigv4_presigned *out)
{
    unsigned char key[SHA256_LEN], md[SHA256_LEN];
    bool ok = signing_key(r, date, key) && hmac(key, SHA256_LEN, out->string_to_sign, md);
    OPENSSL_cleanse(key, sizeof key);
    if (!ok)
        return VMUX_ERR_NOMEM;
    hex_of(md, SHA256_LEN, out->signature);
    struct vmux_buf b = {.secret = true};
    if (append_all(&b, (const char *[]){query, "&X-Amz-Signature=", out->signature, NULL}) == 0)
        out->query = take_string(&b);
    vmux__buf_free(&b);
    return out->query != NULL ? 0 : VMUX_ERR_NOMEM;
}

int vmux__sigv4_presign(const struct vmux__sigv4_request *r, struct vmux__sigv4_presigned *out)
{
    if (out == NULL || !valid(r))
        return VMUX_ERR_INVALID_ARG;
    *out = (struct vmux__sigv4_presigned){0};
    time_t t = (time_t)r->time;
    struct tm tm;
    char amz_date[17], date[9], expires[24];
    gmtime_r(&t, &tm);
    strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", &tm);
    strftime(date, sizeof date, "%Y%m%d", &tm);
    snprintf(expires, sizeof expires, "%lld", (long long)r->expires);
    size_t slen = strlen(date) + strlen(r->region) + strlen(r->service) + 16;
    size_t clen = strlen(r->access_key_id) + 1 + slen;
    char *scope = malloc(slen), *credential = malloc(clen), *query = NULL;
    int rc = VMUX_ERR_NOMEM;
    if (scope != NULL && credential != NULL) {
        snprintf(scope, slen, "%s/%s/%s/aws4_request", date, r->region, r->service);
        snprintf(credential, clen, "%s/%s", r->access_key_id, scope);
        if ((query = query_of(r, credential, amz_date, expires)) != NULL &&
            (out->canonical_request = canonical_request(r, query)) != NULL &&
            (out->string_to_sign = string_to_sign(amz_date, scope, out->canonical_request)) != NULL)
            rc = sign(r, date, query, out);
    }
    if (query != NULL)
        OPENSSL_cleanse(query, strlen(query));
    free(query);
    free(scope);
    free(credential);
    if (rc != 0)
        vmux__sigv4_presigned_free(out);
    return rc;
}

static void wipe_free(char **s)
{
    if (*s != NULL) {
        OPENSSL_cleanse(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

void vmux__sigv4_presigned_free(struct vmux__sigv4_presigned *p)
{
    if (p == NULL)
        return;
    wipe_free(&p->canonical_request);
    wipe_free(&p->string_to_sign);
    wipe_free(&p->query);
    OPENSSL_cleanse(p->signature, sizeof p->signature);
}
