/*
 * AWS Signature Version 4, query-string form (a presigned request): the canonical request, the
 * string to sign and the signature, from an injected clock, so the ElastiCache IAM token
 * (core/iam.c) can be checked against AWS's published test vectors. Pure: no environment, no
 * clock, no I/O; any thread.
 */
#ifndef VMUX_SIGV4_H
#define VMUX_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* A query parameter as the caller means it: name and value raw, encoded by the signer. */
struct vmux__sigv4_param {
    const char *name;
    const char *value;
};

/*
 * What to presign. The only signed header is host; the payload is empty (its hash is
 * SHA-256 of ""), as for a presigned GET. path is used as it is: it must already be a
 * canonical URI ("/" for ElastiCache).
 */
struct vmux__sigv4_request {
    const char *method; /* "GET" */
    const char *host;   /* the Host header's value */
    const char *path;   /* the canonical URI */
    const struct vmux__sigv4_param *params;
    size_t nparams;
    const char *region;            /* "us-east-1" */
    const char *service;           /* "elasticache" */
    const char *access_key_id;     /* AWS_ACCESS_KEY_ID */
    const char *secret_access_key; /* AWS_SECRET_ACCESS_KEY */
    const char *session_token;     /* AWS_SESSION_TOKEN, or NULL: X-Amz-Security-Token */
    int64_t time;                  /* when it is signed: Unix seconds, UTC (X-Amz-Date) */
    int64_t expires;               /* X-Amz-Expires, seconds */
};

/*
 * The result; every string is the caller's, freed (wiped) with vmux__sigv4_presigned_free().
 * query is the canonical query string followed by &X-Amz-Signature=<signature>: what goes
 * after the '?' of the presigned URL.
 */
struct vmux__sigv4_presigned {
    char *canonical_request;
    char *string_to_sign;
    char *query;
    char signature[65]; /* lower-case hex */
};

/*
 * Presigns r into *out. Returns 0, VMUX_ERR_INVALID_ARG (a NULL field other than session_token,
 * a time before 1970 or after 9999, expires below 1) or VMUX_ERR_NOMEM (out holds nothing).
 */
int vmux__sigv4_presign(const struct vmux__sigv4_request *r, struct vmux__sigv4_presigned *out);

/* Wipes and frees what vmux__sigv4_presign() filled in; a zeroed *p is allowed. */
void vmux__sigv4_presigned_free(struct vmux__sigv4_presigned *p);

/* Appends s to b encoded as SigV4 wants: RFC 3986 unreserved bytes as they are, every other
 * byte as %XX (upper case). Returns 0 or VMUX_ERR_NOMEM. */
int vmux__sigv4_encode(struct vmux_buf *b, const char *s);

#endif
