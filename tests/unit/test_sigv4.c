/*
 * The SigV4 signer (core/sigv4.c) against AWS's published SigV4 test suite, in its query-string
 * (presigned) form: for each case, the request line, the canonical request, the string to sign
 * and the signature below are copied verbatim from the suite as awslabs/aws-c-auth carries it
 * (tests/aws-signing-test-suite/v4/<case>/request.txt, query-canonical-request.txt,
 * query-string-to-sign.txt, query-signature.txt; commit
 * 495329c2433034bd8fd53fc6ba9e0202d3fac876; Apache License 2.0). Every case shares its
 * context.json: credentials AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, region
 * us-east-1, service "service", timestamp 2015-08-30T12:36:00Z, expiration_in_seconds 3600,
 * Host example.amazonaws.com; get-vanilla-with-session-token adds the token given here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/sigv4.h"
#include "vmux/error.h"

#define SUITE_TIME 1440938160 /* 2015-08-30T12:36:00Z */
#define MAX_PARAMS 8

struct vector {
    const char *name;
    const char *request_line; /* request.txt's first line */
    const char *session_token;
    const char *canonical_request;
    const char *string_to_sign;
    const char *signature;
};

/* What every case shares (context.json), written once; each vector below adds its own parts. */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SESSION_TOKEN "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"

/* The X-Amz-* parameters of the canonical query (all but the signature); token is "" or
 * "X-Amz-Security-Token=<token>&", which sorts between X-Amz-Expires and X-Amz-SignedHeaders. */
#define AMZ_PARAMS(token)                                                                          \
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2F"      \
    "service%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=3600&" token                 \
    "X-Amz-SignedHeaders=host"

/* The canonical request: method, URI, canonical query, the one signed header (host), the
 * signed headers' list and the hash of the empty payload. */
#define CANONICAL(method, query)                                                                   \
    method "\n/\n" query "\nhost:example.amazonaws.com\n\nhost\n" EMPTY_SHA256

/* The string to sign: algorithm, time, credential scope, the canonical request's hash. */
#define TO_SIGN(hash)                                                                              \
    "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n" hash

static const struct vector vectors[] = {
    {"get-vanilla", "GET / HTTP/1.1", NULL, CANONICAL("GET", AMZ_PARAMS("")),
     TO_SIGN("bb7705b4aa3cb8e8f5e1e0b3d4c0b64030797a313c8ceee43e33117cc43eadc5"),
     "e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d"},
    {"get-vanilla-query-order-key-case", "GET /?Param2=value2&Param1=value1 HTTP/1.1", NULL,
     CANONICAL("GET", "Param1=value1&Param2=value2&" AMZ_PARAMS("")),
     TO_SIGN("b82878ecb2ab7ad194b9fe79b2946c2a36ee1627a219408089b2d774c1a0cedb"),
     "86012e2c9ad4d77369f5d81c11f75158aae4f895a085212cc6d3f923d300bed5"},
    {"get-vanilla-query-order-encoded",
     "GET /?Param-3=Value3&Param=Value2&%E1%88%B4=Value1 HTTP/1.1", NULL,
     CANONICAL("GET", "%E1%88%B4=Value1&Param=Value2&Param-3=Value3&" AMZ_PARAMS("")),
     TO_SIGN("9808d6cdc8245c74e705c68350fc6a62b91778cdd613890e5d177998c02c6f53"),
     "c5f1848ceec943ac2ca68ee720460c23aaae30a2300586597ada94c4a65e4787"},
    {"get-vanilla-query-unreserved",
     "GET "
     "/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~"
     "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz HTTP/1.1",
     NULL,
     CANONICAL("GET",
               "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~"
               "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz&" AMZ_PARAMS("")),
     TO_SIGN("c77f27ef2b499fbfee3f0b3c88bba7057b2b31ee9b62047078a5e0d6be91fd58"),
     "8e76a88a7433637b12778d5592799b29ad21ecd6cf6325051c21d86f0acda2bf"},
    {"get-vanilla-utf8-query",
     "GET /?\xe1"
     "\x88"
     "\xb4"
     "=bar HTTP/1.1",
     NULL, CANONICAL("GET", "%E1%88%B4=bar&" AMZ_PARAMS("")),
     TO_SIGN("b2e8ae8e48ec880defebc6f6dc1d9fbc9f1856b33146f2943060ca71a50a7a77"),
     "0bdd809b1519ac4f0c1dc3540e2cc46bd0c7f778eda408b2ebf3b913d21ff600"},
    {"get-vanilla-with-session-token", "GET / HTTP/1.1", SESSION_TOKEN,
     CANONICAL("GET", AMZ_PARAMS("X-Amz-Security-Token=" SESSION_TOKEN "&")),
     TO_SIGN("cb30434103085aa9e73780fc60dc9a9df818fd2a7b1de12a9f6f4d791f898761"),
     "7ff2b50b376cb4d151970630573d6291dc128cc5c2a12ffb237f73cc53f67b6c"},
    {"post-vanilla", "POST / HTTP/1.1", NULL, CANONICAL("POST", AMZ_PARAMS("")),
     TO_SIGN("d27fc6fe1afc1d88b248c5ae9194ec0943a693dd6d81d8d815c88a369eb0471e"),
     "2ce6e6d2e0cf2f9d1b55fafec88cd20574c31dc2e7631979f71ba2310083e95b"},
};

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c - 'a' + 10;
}

/* Decodes %XX in place: the signer takes raw names and values and encodes them itself. */
static void percent_decode(char *s)
{
    char *w = s;
    for (char *r = s; *r != '\0'; r++, w++) {
        if (r[0] == '%' && r[1] != '\0' && r[2] != '\0') {
            *w = (char)(hexval(r[1]) * 16 + hexval(r[2]));
            r += 2;
        } else {
            *w = *r;
        }
    }
    *w = '\0';
}

/* Splits "METHOD /path?query HTTP/1.1" (in line, modified) into the request's parts. */
static void parse_request_line(char *line, struct vmux__sigv4_request *r,
                               struct vmux__sigv4_param *params)
{
    char *sp = strchr(line, ' ');
    assert_non_null(sp);
    *sp = '\0';
    r->method = line;
    char *target = sp + 1, *end = strstr(target, " HTTP/1.1");
    assert_non_null(end);
    *end = '\0';
    char *q = strchr(target, '?');
    r->path = target;
    r->nparams = 0;
    if (q == NULL)
        return;
    *q = '\0';
    for (char *tok = strtok(q + 1, "&"); tok != NULL; tok = strtok(NULL, "&")) {
        assert_true(r->nparams < MAX_PARAMS);
        char *eq = strchr(tok, '=');
        if (eq != NULL)
            *eq = '\0';
        percent_decode(tok);
        if (eq != NULL)
            percent_decode(eq + 1);
        params[r->nparams++] = (struct vmux__sigv4_param){tok, eq != NULL ? eq + 1 : ""};
    }
}

static void check_vector(const struct vector *v)
{
    char line[256];
    struct vmux__sigv4_param params[MAX_PARAMS];
    struct vmux__sigv4_request r = {
        .host = "example.amazonaws.com",
        .params = params,
        .region = "us-east-1",
        .service = "service",
        .access_key_id = "AKIDEXAMPLE",
        .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        .session_token = v->session_token,
        .time = SUITE_TIME,
        .expires = 3600,
    };
    snprintf(line, sizeof line, "%s", v->request_line);
    parse_request_line(line, &r, params);
    struct vmux__sigv4_presigned out;
    print_message("%s\n", v->name);
    assert_int_equal(vmux__sigv4_presign(&r, &out), 0);
    assert_string_equal(out.canonical_request, v->canonical_request);
    assert_string_equal(out.string_to_sign, v->string_to_sign);
    assert_string_equal(out.signature, v->signature);
    /* The presigned query is the canonical one, signed. */
    const char *nl = strchr(v->canonical_request, '\n');
    nl = strchr(nl + 1, '\n') + 1;
    size_t qlen = (size_t)(strchr(nl, '\n') - nl);
    assert_memory_equal(out.query, nl, qlen);
    char tail[128];
    snprintf(tail, sizeof tail, "&X-Amz-Signature=%s", v->signature);
    assert_string_equal(out.query + qlen, tail);
    vmux__sigv4_presigned_free(&out);
}

static void test_aws_suite(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++)
        check_vector(&vectors[i]);
}

/* Unreserved bytes stay; everything else, '/', '+', '=', space and UTF-8 included, is %XX. */
static void test_encode(void **state)
{
    (void)state;
    struct vmux_buf b = {0};
    assert_int_equal(vmux__sigv4_encode(&b, "aZ09-._~ /+=&%\xc3\xa9"), 0);
    assert_int_equal(vmux__buf_append(&b, "", 1), 0);
    assert_string_equal(b.data, "aZ09-._~%20%2F%2B%3D%26%25%C3%A9");
    vmux__buf_free(&b);
}

/* Bad requests are refused, and nothing is left to free. */
static void test_invalid(void **state)
{
    (void)state;
    const struct vmux__sigv4_request good = {
        .method = "GET",
        .host = "h",
        .path = "/",
        .region = "r",
        .service = "s",
        .access_key_id = "a",
        .secret_access_key = "k",
        .time = SUITE_TIME,
        .expires = 1,
    };
    struct vmux__sigv4_presigned out;
    assert_int_equal(vmux__sigv4_presign(&good, &out), 0);
    vmux__sigv4_presigned_free(&out);
    assert_int_equal(vmux__sigv4_presign(NULL, &out), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux__sigv4_presign(&good, NULL), VMUX_ERR_INVALID_ARG);
    struct vmux__sigv4_request r = good;
    r.secret_access_key = NULL;
    assert_int_equal(vmux__sigv4_presign(&r, &out), VMUX_ERR_INVALID_ARG);
    r = good;
    r.expires = 0;
    assert_int_equal(vmux__sigv4_presign(&r, &out), VMUX_ERR_INVALID_ARG);
    r = good;
    r.time = -1;
    assert_int_equal(vmux__sigv4_presign(&r, &out), VMUX_ERR_INVALID_ARG);
    r = good;
    r.nparams = 1; /* and no params */
    assert_int_equal(vmux__sigv4_presign(&r, &out), VMUX_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_suite),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
