/*
 * TLS for a connection, with OpenSSL over memory BIOs: the connection moves ciphertext between
 * the socket and the BIOs, and plaintext between the BIOs and its buffers, so libuv keeps
 * owning the socket and one code path serves TCP and TLS alike. Only the I/O thread uses these.
 */
#ifndef VMUX_TLS_H
#define VMUX_TLS_H

#include <stddef.h>

#include "core/config_internal.h"

/* The longest name a session can check and send as SNI (TLS's server_name, RFC 6066). */
#define VMUX_TLS_NAME_MAX 255

typedef struct ssl_ctx_st vmux_tls_ctx; /* OpenSSL's SSL_CTX, one per handle */
struct vmux_tls;                        /* one per connection */
struct vmux_buf;

/*
 * Builds the handle's TLS context from cfg: verification on unless sslVerify=false, trust from
 * sslCaFile/sslCaPath or the system store, TLS 1.2 at least, the client certificate and key if
 * given. Returns 0 with *out set, or VMUX_ERR_TLS with the reason in errbuf (a file that cannot
 * be read, a key that does not match its certificate), VMUX_ERR_CONFIG (an sslHost longer than
 * VMUX_TLS_NAME_MAX), or VMUX_ERR_NOMEM.
 */
int vmux__tls_ctx_new(const struct vmux_config *cfg, vmux_tls_ctx **out, char *errbuf,
                      size_t errlen);

/* Frees a context. NULL is allowed. */
void vmux__tls_ctx_free(vmux_tls_ctx *ctx);

/*
 * Starts the client side of a session to host (the endpoint's host; cfg's sslHost overrides the
 * name checked and sent as SNI). An IP literal is checked against the certificate's IP entries
 * and sends no SNI (RFC 6066); an IPv6 literal's zone id ("fe80::1%eth0") is left out of the
 * check, as it names a local interface, not the server. A host name is sent as SNI and matched
 * against the certificate's DNS names. Sets *out and returns 0; else *out is NULL and the
 * return is VMUX_ERR_NOMEM, or VMUX_ERR_TLS when the name cannot be checked (a name longer than
 * VMUX_TLS_NAME_MAX, one OpenSSL refuses), with the reason, naming it, in reason.
 */
int vmux__tls_new(vmux_tls_ctx *ctx, const struct vmux_config *cfg, const char *host,
                  struct vmux_tls **out, char *reason, size_t len);

/* Frees a session (its BIOs with it). NULL is allowed. */
void vmux__tls_free(struct vmux_tls *t);

/*
 * Advances the handshake. Returns 1 when it is complete, 0 when it waits for the server, or
 * VMUX_ERR_TLS with the reason in reason (certificate verification failure with OpenSSL's
 * words, an alert from the server, a protocol mismatch).
 */
int vmux__tls_handshake(struct vmux_tls *t, char *reason, size_t len);

/* Hands ciphertext read from the socket to the session. Returns 0 or VMUX_ERR_NOMEM. */
int vmux__tls_feed(struct vmux_tls *t, const char *data, size_t len);

/*
 * Decrypts into buf. Returns the number of plaintext bytes (> 0), 0 when it needs more
 * ciphertext, VMUX_ERR_IO when the server closed the session (close_notify), or VMUX_ERR_TLS
 * with the reason in reason.
 */
int vmux__tls_read(struct vmux_tls *t, char *buf, size_t cap, char *reason, size_t len);

/* Encrypts len bytes. Returns 0, or VMUX_ERR_TLS with the reason in reason. */
int vmux__tls_write(struct vmux_tls *t, const char *data, size_t len, char *reason, size_t rlen);

/* Moves the ciphertext waiting to be sent into out. Returns 0 or VMUX_ERR_NOMEM. */
int vmux__tls_take_output(struct vmux_tls *t, struct vmux_buf *out);

#endif
