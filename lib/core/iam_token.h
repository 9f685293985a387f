/*
 * The ElastiCache IAM auth token from given credentials and a given time: what the provider
 * (core/iam.c) signs, apart from the environment and the clock, so tests can check a token
 * made at a fixed time part by part.
 */
#ifndef VMUX_IAM_TOKEN_H
#define VMUX_IAM_TOKEN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/sigv4.h"

#define VMUX_IAM_TOKEN_EXPIRES 900 /* seconds: ElastiCache's tokens live 15 minutes */

/* Credentials as the environment holds them; session_token may be NULL. */
struct vmux__aws_creds {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;
};

/* What a token is for: the user, the cache (already in lower case), region, serverless. */
struct vmux__iam_target {
    const char *user;
    const char *cache;
    const char *region;
    bool serverless;
};

/*
 * Presigns the connect request for t at time now (Unix seconds) into *sig (canonical request,
 * string to sign, signature, query; the caller frees it with vmux__sigv4_presigned_free()).
 * The token is "<cache>/?" followed by sig->query. Returns 0, VMUX_ERR_INVALID_ARG or
 * VMUX_ERR_NOMEM (as vmux__sigv4_presign()).
 */
int vmux__iam_presign(const struct vmux__iam_target *t, const struct vmux__aws_creds *c,
                      int64_t now, struct vmux__sigv4_presigned *sig);

/* The token itself, a new string the caller wipes and frees; NULL when out of memory. */
char *vmux__iam_token_make(const struct vmux__iam_target *t, const struct vmux__aws_creds *c,
                           int64_t now);

#endif
