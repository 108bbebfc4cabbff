/* handshake.c - the OTP 23+ 'N' handshake state machine (see handshake.h). */
#include "dist/handshake.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

enum {
  ST_I_STATUS = 1, /* initiator: waiting for 's' */
  ST_I_CHALLENGE,  /* initiator: waiting for 'N' challenge */
  ST_I_ACK,        /* initiator: waiting for 'a' */
  ST_A_NAME,       /* acceptor: waiting for 'N' name */
  ST_A_STATUS,     /* acceptor: waiting for the caller's set_status */
  ST_A_ALIVE,      /* acceptor: sent "alive", waiting for "true"/"false" */
  ST_A_REPLY,      /* acceptor: waiting for 'r' */
  ST_DONE,
  ST_FAILED
};

static void hs_put16(uint8_t *p, unsigned v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static void hs_put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (24 - 8 * i));
}
static void hs_put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (56 - 8 * i));
}
static unsigned hs_get16(const uint8_t *p) {
  return ((unsigned)p[0] << 8) | p[1];
}
static uint32_t hs_get32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3];
}
static uint64_t hs_get64(const uint8_t *p) {
  return ((uint64_t)hs_get32(p) << 32) | hs_get32(p + 4);
}

void phc__hs_digest(const char *cookie, uint32_t challenge, uint8_t out[16]) {
  char buf[300];
  int n = snprintf(buf, sizeof buf, "%s%" PRIu32, cookie, challenge);
  if (n < 0 || (size_t)n >= sizeof buf) n = (int)sizeof buf - 1;
  unsigned int olen = 16;
  EVP_Digest(buf, (size_t)n, out, &olen, EVP_md5(), NULL);
}

/* Queue one 2-byte framed packet. */
static void out_packet(phc__hs_t *hs, const uint8_t *body, size_t len) {
  if (hs->out_len + len + 2 > hs->out_cap) {
    hs->out_cap = (hs->out_len + len + 2) * 2;
    hs->out = phc__xrealloc(hs->out, hs->out_cap);
  }
  hs_put16(hs->out + hs->out_len, (unsigned)len);
  memcpy(hs->out + hs->out_len + 2, body, len);
  hs->out_len += len + 2;
}

static void out_status(phc__hs_t *hs, const char *st) {
  uint8_t b[32];
  size_t n = strlen(st);
  b[0] = 's';
  memcpy(b + 1, st, n);
  out_packet(hs, b, n + 1);
}

static int hs_fail(phc__hs_t *hs, int err, const char *fmt, const char *arg) {
  snprintf(hs->err, sizeof hs->err, fmt, arg);
  hs->state = ST_FAILED;
  return err;
}

void phc__hs_init(phc__hs_t *hs, int initiator, const char *my_name,
                  const char *cookie, uint64_t my_flags, uint32_t creation,
                  uint32_t challenge, const char *peer) {
  memset(hs, 0, sizeof *hs);
  hs->initiator = initiator;
  snprintf(hs->my_name, sizeof hs->my_name, "%s", my_name);
  snprintf(hs->cookie, sizeof hs->cookie, "%s", cookie);
  hs->my_flags = my_flags;
  hs->my_creation = creation;
  hs->my_challenge = challenge;
  if (!initiator) {
    hs->state = ST_A_NAME;
    return;
  }
  snprintf(hs->peer_name, sizeof hs->peer_name, "%s", peer ? peer : "");
  size_t nlen = strlen(hs->my_name);
  uint8_t b[1 + 8 + 4 + 2 + PHC__ATOM_MAX];
  b[0] = 'N';
  hs_put64(b + 1, my_flags);
  hs_put32(b + 9, creation);
  hs_put16(b + 13, (unsigned)nlen);
  memcpy(b + 15, hs->my_name, nlen);
  out_packet(hs, b, 15 + nlen);
  hs->state = ST_I_STATUS;
}

void phc__hs_free(phc__hs_t *hs) {
  free(hs->in);
  free(hs->out);
  hs->in = hs->out = NULL;
  hs->in_len = hs->in_cap = hs->out_len = hs->out_cap = 0;
}

/* Peer flags: expand MANDATORY_25_DIGEST and check the mandatory set. */
static int take_peer_flags(phc__hs_t *hs, uint64_t flags) {
  if (flags & PHC_DFLAG_MANDATORY_25_DIGEST) flags |= PHC__DFLAGS_MANDATORY;
  hs->peer_flags = flags;
  uint64_t missing = PHC__DFLAGS_MANDATORY & ~flags;
  if (missing) {
    char hex[32];
    snprintf(hex, sizeof hex, "0x%" PRIx64, missing);
    return hs_fail(hs, PHC_EIO, "peer lacks mandatory distribution flags %s",
                   hex);
  }
  return 0;
}

static int copy_name(phc__hs_t *hs, const uint8_t *p, size_t avail) {
  if (avail < 2) return hs_fail(hs, PHC_EIO, "%s", "short name field");
  size_t nlen = hs_get16(p);
  if (nlen == 0 || nlen + 2 > avail || nlen >= sizeof hs->peer_name)
    return hs_fail(hs, PHC_EIO, "%s", "bad name length");
  char name[PHC__ATOM_MAX];
  memcpy(name, p + 2, nlen);
  name[nlen] = 0;
  if (!strchr(name, '@'))
    return hs_fail(hs, PHC_EIO, "peer %s asks for a dynamic name (unsupported)",
                   name);
  if (hs->initiator && hs->peer_name[0] && strcmp(name, hs->peer_name) != 0)
    return hs_fail(hs, PHC_EIO, "peer answered with another name (%s)", name);
  memcpy(hs->peer_name, name, nlen + 1);
  return 0;
}

static void out_challenge(phc__hs_t *hs) {
  size_t nlen = strlen(hs->my_name);
  uint8_t b[1 + 8 + 4 + 4 + 2 + PHC__ATOM_MAX];
  b[0] = 'N';
  hs_put64(b + 1, hs->my_flags);
  hs_put32(b + 9, hs->my_challenge);
  hs_put32(b + 13, hs->my_creation);
  hs_put16(b + 17, (unsigned)nlen);
  memcpy(b + 19, hs->my_name, nlen);
  out_packet(hs, b, 19 + nlen);
}

static int on_a_name(phc__hs_t *hs, const uint8_t *p, size_t n) {
  if (n < 1 || p[0] != 'N') {
    if (n >= 1 && p[0] == 'n')
      return hs_fail(hs, PHC_EIO, "%s", "peer uses the pre-OTP-23 handshake");
    return hs_fail(hs, PHC_EIO, "%s", "expected send_name");
  }
  if (n < 15) return hs_fail(hs, PHC_EIO, "%s", "short send_name");
  hs->peer_creation = hs_get32(p + 9);
  if (copy_name(hs, p + 13, n - 13) < 0) return PHC_EIO;
  if (take_peer_flags(hs, hs_get64(p + 1)) < 0) return PHC_EIO;
  hs->state = ST_A_STATUS;
  return PHC__HS_NEED_STATUS;
}

static int on_a_alive(phc__hs_t *hs, const uint8_t *p, size_t n) {
  if (n == 5 && memcmp(p, "strue", 5) == 0) {
    hs->alive_confirmed = 1;
    out_challenge(hs);
    hs->state = ST_A_REPLY;
    return PHC__HS_CONTINUE;
  }
  return hs_fail(hs, PHC_ESTATE, "%s",
                 "peer did not confirm the new connection (alive -> false)");
}

static int on_a_reply(phc__hs_t *hs, const uint8_t *p, size_t n) {
  if (n != 21 || p[0] != 'r')
    return hs_fail(hs, PHC_EIO, "%s", "expected challenge reply");
  hs->peer_challenge = hs_get32(p + 1);
  uint8_t want[16];
  phc__hs_digest(hs->cookie, hs->my_challenge, want);
  if (memcmp(want, p + 5, 16) != 0)
    return hs_fail(hs, PHC_EAUTH,
                   "cookie mismatch: connection from %s refused (bad digest)",
                   hs->peer_name);
  uint8_t b[17];
  b[0] = 'a';
  phc__hs_digest(hs->cookie, hs->peer_challenge, b + 1);
  out_packet(hs, b, 17);
  hs->state = ST_DONE;
  return PHC__HS_DONE;
}

static int on_i_status(phc__hs_t *hs, const uint8_t *p, size_t n) {
  if (n < 1 || p[0] != 's')
    return hs_fail(hs, PHC_EIO, "%s", "expected status");
  char st[32];
  size_t sl = n - 1 < sizeof st - 1 ? n - 1 : sizeof st - 1;
  memcpy(st, p + 1, sl);
  st[sl] = 0;
  if (strcmp(st, "ok") == 0 || strcmp(st, "ok_simultaneous") == 0) {
    hs->state = ST_I_CHALLENGE;
    return PHC__HS_CONTINUE;
  }
  if (strcmp(st, "alive") == 0) {
    /* We are connecting, so this connection is the one we want. */
    out_status(hs, "true");
    hs->state = ST_I_CHALLENGE;
    return PHC__HS_CONTINUE;
  }
  if (strcmp(st, "nok") == 0) {
    hs->state = ST_FAILED;
    snprintf(hs->err, sizeof hs->err, "simultaneous connect: peer wins");
    return PHC__HS_NOK;
  }
  if (strcmp(st, "not_allowed") == 0)
    return hs_fail(hs, PHC_EAUTH, "%s", "peer answered not_allowed");
  return hs_fail(hs, PHC_EIO, "unexpected status %s", st);
}

static int on_i_challenge(phc__hs_t *hs, const uint8_t *p, size_t n) {
  if (n < 19 || p[0] != 'N')
    return hs_fail(hs, PHC_EIO, "%s", "expected challenge");
  hs->peer_challenge = hs_get32(p + 9);
  hs->peer_creation = hs_get32(p + 13);
  if (copy_name(hs, p + 17, n - 17) < 0) return PHC_EIO;
  if (take_peer_flags(hs, hs_get64(p + 1)) < 0) return PHC_EIO;
  uint8_t b[21];
  b[0] = 'r';
  hs_put32(b + 1, hs->my_challenge);
  phc__hs_digest(hs->cookie, hs->peer_challenge, b + 5);
  out_packet(hs, b, 21);
  hs->state = ST_I_ACK;
  return PHC__HS_CONTINUE;
}

static int on_i_ack(phc__hs_t *hs, const uint8_t *p, size_t n) {
  if (n != 17 || p[0] != 'a')
    return hs_fail(hs, PHC_EIO, "%s", "expected challenge ack");
  uint8_t want[16];
  phc__hs_digest(hs->cookie, hs->my_challenge, want);
  if (memcmp(want, p + 1, 16) != 0)
    return hs_fail(hs, PHC_EAUTH,
                   "cookie mismatch: connection to %s refused (bad ack digest)",
                   hs->peer_name);
  hs->state = ST_DONE;
  return PHC__HS_DONE;
}

static int on_packet(phc__hs_t *hs, const uint8_t *p, size_t n) {
  switch (hs->state) {
  case ST_A_NAME: return on_a_name(hs, p, n);
  case ST_A_ALIVE: return on_a_alive(hs, p, n);
  case ST_A_REPLY: return on_a_reply(hs, p, n);
  case ST_I_STATUS: return on_i_status(hs, p, n);
  case ST_I_CHALLENGE: return on_i_challenge(hs, p, n);
  case ST_I_ACK: return on_i_ack(hs, p, n);
  default:
    return hs_fail(hs, PHC_ESTATE, "%s", "data in wrong handshake state");
  }
}

int phc__hs_feed(phc__hs_t *hs, const uint8_t *data, size_t len,
                 size_t *consumed) {
  *consumed = len;
  if (hs->state == ST_FAILED) return PHC_ESTATE;
  if (hs->in_len + len > hs->in_cap) {
    hs->in_cap = (hs->in_len + len) * 2 + 64;
    hs->in = phc__xrealloc(hs->in, hs->in_cap);
  }
  if (len) memcpy(hs->in + hs->in_len, data, len);
  hs->in_len += len;
  size_t off = 0;
  int rc = PHC__HS_CONTINUE;
  while (hs->state != ST_A_STATUS && hs->state != ST_DONE) {
    if (hs->in_len - off < 2) break;
    size_t plen = hs_get16(hs->in + off);
    if (hs->in_len - off < 2 + plen) break;
    rc = on_packet(hs, hs->in + off + 2, plen);
    off += 2 + plen;
    if (rc < 0 || rc == PHC__HS_NOK) return rc;
    if (rc != PHC__HS_CONTINUE) break;
  }
  memmove(hs->in, hs->in + off, hs->in_len - off);
  hs->in_len -= off;
  if (rc == PHC__HS_DONE) {
    /* What is left (hs->in) is the first post-handshake data. */
    size_t left = hs->in_len <= len ? hs->in_len : len;
    *consumed = len - left;
  }
  return rc;
}

int phc__hs_set_status(phc__hs_t *hs, int status) {
  if (hs->state != ST_A_STATUS) return PHC_ESTATE;
  switch (status) {
  case PHC__HS_ST_OK:
  case PHC__HS_ST_OK_SIMULTANEOUS:
    out_status(hs, status == PHC__HS_ST_OK ? "ok" : "ok_simultaneous");
    out_challenge(hs);
    hs->state = ST_A_REPLY;
    return 0;
  case PHC__HS_ST_ALIVE:
    out_status(hs, "alive");
    hs->state = ST_A_ALIVE;
    return 0;
  case PHC__HS_ST_NOK:
    out_status(hs, "nok");
    hs->state = ST_FAILED;
    return PHC_ESTATE;
  default:
    out_status(hs, "not_allowed");
    hs->state = ST_FAILED;
    return PHC_ESTATE;
  }
}

const char *phc__hs_eof_reason(const phc__hs_t *hs) {
  switch (hs->state) {
  case ST_I_ACK:
    return "peer closed after our challenge reply: cookie mismatch?";
  case ST_A_REPLY:
    return "peer closed after our challenge: cookie mismatch on its side?";
  case ST_I_STATUS:
    return "peer closed before answering our name (not allowed?)";
  default: return "peer closed during the handshake";
  }
}
