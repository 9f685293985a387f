/** @file
 * ElastiCache IAM authentication (`docs/elasticache.md`, IAM authentication): a credentials
 * provider (config.h, vmux_config_set_credentials_provider()) whose password is the
 * short-lived IAM auth token ElastiCache accepts from a user created with
 * --authentication-mode Type=iam.
 *
 * The token is a SigV4-presigned request (service "elasticache", X-Amz-Expires=900) for
 *     `GET http://<cache>/?Action=connect&User=<user>[&ResourceType=ServerlessCache]`
 * signed with the credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and,
 * for temporary credentials such as a Lambda function's, AWS_SESSION_TOKEN), written without
 * its "http://". A token lives 15 minutes; ElastiCache checks it only when a connection
 * authenticates. The provider keeps one token and makes a new one when the kept one is
 * refresh_s old (10 minutes by default), so every connection attempt (the handle calls the
 * provider at each one) gets a token with at least 15 minutes less refresh_s to live: 5 minutes
 * by default, 1 minute at the largest refresh_s (840).
 *
 * Threading: a provider may be shared by any number of handles and threads; its token is kept
 * under a mutex. Errors come back with the call that failed, in its error buffer.
 */
#ifndef VMUX_IAM_H
#define VMUX_IAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmux/abi.h"
#include "vmux/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A token provider (opaque): vmux_iam_provider_new(), vmux_iam_provider_free(). */
typedef struct vmux_iam_provider vmux_iam_provider;

/** The clock a provider signs with: the current time in Unix seconds (UTC). */
typedef int64_t (*vmux_iam_clock_fn)(void *userdata);

/**
 * What the token is for. Make it with VMUX_INIT(vmux_iam_opts, ...) (abi.h); every zero means
 * the default. The strings are copied.
 */
typedef struct vmux_iam_opts {
    /** Sized struct (abi.h). */
    size_t size;
    /** The ElastiCache user's id (IAM users must have user id = user name). Required. */
    const char *user;
    /** The replication group id, or the serverless cache's name (not an endpoint). Required.
     * Written in lower case, as ElastiCache stores those names. */
    const char *cache;
    /** The region, such as "us-east-1". NULL: AWS_REGION from the environment (Lambda sets
     * it), else AWS_DEFAULT_REGION. */
    const char *region;
    /** true for a serverless cache (the token then carries ResourceType=ServerlessCache). */
    bool serverless;
    /** A kept token is replaced once it is this old, seconds, 1..840. Default 600. */
    int64_t refresh_s;
    /** The clock (NULL: the system's real-time clock), and what it is given. For tests. */
    vmux_iam_clock_fn clock;
    void *clock_userdata;
} vmux_iam_opts;

/**
 * Creates a provider and makes its first token, so that a missing variable or a bad option is
 * reported here rather than as a failed connection. On success *out owns the provider, freed
 * with vmux_iam_provider_free() after every handle using it is closed. Any thread.
 * Errors (errbuf says which, a refusal after "invalid argument: "): VMUX_ERR_INVALID_ARG (opts or
 * out NULL, a size below
 * sizeof(size_t), user or cache missing or empty, refresh_s out of range), VMUX_ERR_CONFIG
 * (AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY not set, or no region given nor in the
 * environment), VMUX_ERR_NOMEM.
 */
VMUX_EXPORT int vmux_iam_provider_new(const vmux_iam_opts *opts, vmux_iam_provider **out,
                                      char *errbuf, size_t errlen);

/** Frees a provider (wiping its token). NULL is allowed. No handle may still use it. */
VMUX_EXPORT void vmux_iam_provider_free(vmux_iam_provider *p);

/**
 * Writes the current token (NUL-terminated) into buf: the kept one while it is younger than
 * refresh_s, else a new one signed now with the environment's credentials, read again at each
 * new token (so rotated credentials are picked up). Any thread.
 * Errors: VMUX_ERR_INVALID_ARG (p or buf NULL, or len too small for the token: errbuf gives the
 * length needed), VMUX_ERR_CONFIG (a variable of the environment is missing: errbuf names it),
 * VMUX_ERR_NOMEM.
 */
VMUX_EXPORT int vmux_iam_token(vmux_iam_provider *p, char *buf, size_t len, char *errbuf,
                               size_t errlen);

/**
 * The credentials provider itself (a vmux_credentials_fn): pass it with the provider as
 * userdata,
 *     vmux_config_set_credentials_provider(cfg, vmux_iam_credentials, provider);
 * It writes the options' user and the current token (vmux_iam_token()) and returns 0, or a
 * VMUX_ERR_* code (the connection attempt then fails with VMUX_ERR_AUTH and is retried with
 * backoff). A failure leaves its words in the calling thread's vmux_last_error() (error.h),
 * what vmux_iam_token() would write in errbuf ("invalid argument: IAM token: 17003 bytes needed,
 * the buffer has 16384"), and the handle's failure gives them ("the credentials provider failed:
 * invalid argument: IAM token: ..."); a success leaves "". A token carrying a session token of 4096
 * bytes (AWS gives them no fixed size) fits the handle's 16384-byte buffer (config.h). It runs on
 * the I/O thread of each handle that uses it.
 */
VMUX_EXPORT int vmux_iam_credentials(char *user, size_t user_size, char *password,
                                     size_t password_size, void *provider);

#ifdef __cplusplus
}
#endif

#endif
