/*
 * The ElastiCache IAM auth token: a SigV4-presigned GET of
 * http://<cache>/?Action=connect&User=<user>[&ResourceType=ServerlessCache] for the service
 * "elasticache", valid 900 seconds, written without its "http://", as AWS's own token
 * generators write it.
 */
#include "core/iam_token.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmux/error.h"

int vmux__iam_presign(const struct vmux__iam_target *t, const struct vmux__aws_creds *c,
                      int64_t now, struct vmux__sigv4_presigned *sig)
{
    if (t == NULL || c == NULL || t->user == NULL)
        return VMUX_ERR_INVALID_ARG;
    const struct vmux__sigv4_param params[] = {
        {"Action", "connect"},
        {"User", t->user},
        {"ResourceType", "ServerlessCache"},
    };
    const struct vmux__sigv4_request r = {
        .method = "GET",
        .host = t->cache,
        .path = "/",
        .params = params,
        .nparams = t->serverless ? 3 : 2,
        .region = t->region,
        .service = "elasticache",
        .access_key_id = c->access_key_id,
        .secret_access_key = c->secret_access_key,
        .session_token = c->session_token,
        .time = now,
        .expires = VMUX_IAM_TOKEN_EXPIRES,
    };
    return vmux__sigv4_presign(&r, sig);
}

char *vmux__iam_token_make(const struct vmux__iam_target *t, const struct vmux__aws_creds *c,
                           int64_t now)
{
    struct vmux__sigv4_presigned sig;
    if (vmux__iam_presign(t, c, now, &sig) != 0)
        return NULL;
    size_t n = strlen(t->cache) + 2 + strlen(sig.query) + 1;
    char *token = malloc(n);
    if (token != NULL)
        snprintf(token, n, "%s/?%s", t->cache, sig.query);
    vmux__sigv4_presigned_free(&sig);
    return token;
}
