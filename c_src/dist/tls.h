/* tls.h - a TLS session over bytes in and bytes out, for OTP's inet_tls
 * distribution (-proto_dist inet_tls).
 *
 * Under inet_tls, TLS wraps a distribution connection from its first byte:
 * the handshake and every packet after it travel inside one TLS stream,
 * framed exactly as over TCP; epmd sees nothing different. This module
 * knows nothing of sockets or of the distribution: a session (phc__tls_t)
 * is an OpenSSL SSL object between two memory BIOs. The owner feeds it the
 * bytes the socket read (phc__tls_in), takes out the plaintext
 * (phc__tls_read), hands it plaintext to send (phc__tls_write; held until
 * the TLS handshake is done) and writes out whatever ciphertext it produced
 * (phc__tls_out), after each of those calls. Nothing blocks and nothing
 * runs on another thread, so a session lives on the libuv loop as is.
 *
 * The settings come from an ssl_dist_optfile in the format BEAM reads
 * (ssl_dist_sup:consult/1): one list term,
 *   [{server, [{certfile, F}, {keyfile, F}, {cacertfile, F},
 *              {verify, verify_peer}, {fail_if_no_peer_cert, true}]},
 *    {client, [...]}].
 * phc__tls_opts_load (tls_opts.c) reads it; an option phc does not know or
 * cannot honour is named in err. A context (phc__tls_ctx_t) holds the two
 * OpenSSL contexts built from it (certificates and keys loaded, so a bad
 * file is found at start). A client session checks the server's certificate
 * against the host of its node name (as OTP's server_name_indication does)
 * when it verifies the peer.
 */
#ifndef PHC_DIST_TLS_H
#define PHC_DIST_TLS_H

#include "common.h"

#define PHC__TLS_PATH_MAX 1024

#define PHC__TLS_V12 1
#define PHC__TLS_V13 2

/* One side's options (server: incoming connections; client: outgoing). */
typedef struct phc__tls_side_s {
  char certfile[PHC__TLS_PATH_MAX];
  char keyfile[PHC__TLS_PATH_MAX]; /* "": the key is in certfile */
  char cacertfile[PHC__TLS_PATH_MAX];
  char password[256];       /* the key's passphrase */
  int verify;               /* 1: verify_peer, 0: verify_none (default) */
  int fail_if_no_peer_cert; /* server: refuse a client without one */
  int depth;                /* chain depth; -1: OpenSSL's default */
  int versions;             /* PHC__TLS_V12|PHC__TLS_V13; 0: both */
  int sni_disable;          /* client: {server_name_indication, disable} */
  char sni[256];            /* client: the name to check, "": the peer's host */
} phc__tls_side_t;

typedef struct phc__tls_opts_s {
  phc__tls_side_t server, client;
} phc__tls_opts_t;

/* Read an ssl_dist_optfile. 0, or PHC_EIO (unreadable) / PHC_EINVAL (bad
 * syntax, an unknown or unsupported option or value) with one line in err
 * naming the file and the option. */
int phc__tls_opts_load(phc__tls_opts_t *o, const char *path, char *err,
                       size_t errlen);
/* The same from the file's text (tests). */
int phc__tls_opts_parse(phc__tls_opts_t *o, const char *text, size_t len,
                        char *err, size_t errlen);

typedef struct phc__tls_ctx_s phc__tls_ctx_t;

/* Both sides' contexts with their certificates, keys and CAs loaded. 0, or
 * PHC_EINVAL with err naming the file or setting OpenSSL refused. */
int phc__tls_ctx_new(phc__tls_ctx_t **out, const phc__tls_opts_t *o, char *err,
                     size_t errlen);
void phc__tls_ctx_free(phc__tls_ctx_t *ctx);

typedef struct phc__tls_s phc__tls_t;

/* A session: server 1 for an accepted connection; peer_host (client only)
 * is the host part of the peer's node name. */
int phc__tls_new(phc__tls_t **out, phc__tls_ctx_t *ctx, int server,
                 const char *peer_host);
void phc__tls_free(phc__tls_t *s);
/* Ciphertext from the peer. 0, or PHC_EIO when the session failed
 * (phc__tls_error says why; phc__tls_out may still hold an alert). */
int phc__tls_in(phc__tls_t *s, const void *data, size_t len);
/* Plaintext from the peer: bytes copied (>0), 0 when none is ready,
 * PHC_EIO when the session failed or the peer closed it. */
long phc__tls_read(phc__tls_t *s, void *buf, size_t cap);
/* Plaintext to send (kept until the handshake is done). 0 or PHC_EIO. */
int phc__tls_write(phc__tls_t *s, const void *data, size_t len);
/* Ciphertext to send: bytes copied into buf (0: none). */
size_t phc__tls_out(phc__tls_t *s, void *buf, size_t cap);
/* 1 once the TLS handshake is done. */
int phc__tls_up(const phc__tls_t *s);
/* Why the session failed ("" while it has not). */
const char *phc__tls_error(const phc__tls_t *s);

#endif /* PHC_DIST_TLS_H */
