/* frame.c - length framing, message splitting and fragment reassembly
 * (see frame.h). */
#include "dist/frame.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "term/term.h"

#define MAX_FRAG_SEQS 64

static uint32_t frame_get32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3];
}
static uint64_t frame_get64(const uint8_t *p) {
  return ((uint64_t)frame_get32(p) << 32) | frame_get32(p + 4);
}

void phc__frame_put_len(uint8_t out[4], uint32_t len) {
  out[0] = (uint8_t)(len >> 24);
  out[1] = (uint8_t)(len >> 16);
  out[2] = (uint8_t)(len >> 8);
  out[3] = (uint8_t)len;
}

size_t phc__frame_enc_len(int ctrl_len, int payload_len) {
  size_t n = 4 + 3 + (size_t)ctrl_len - 1;
  if (payload_len > 0) n += (size_t)payload_len - 1;
  return n;
}

void phc__frame_enc(char *out, const char *ctrl, int ctrl_len,
                    const char *payload, int payload_len) {
  size_t clen = (size_t)ctrl_len - 1;
  size_t plen = payload && payload_len > 0 ? (size_t)payload_len - 1 : 0;
  phc__frame_put_len((uint8_t *)out, (uint32_t)(3 + clen + plen));
  out[4] = (char)131;
  out[5] = 68;
  out[6] = 0;
  memcpy(out + 7, ctrl + 1, clen);
  if (plen) memcpy(out + 7 + clen, payload + 1, plen);
}

/* ---- reader ------------------------------------------------------------ */

void phc__frame_rd_init(phc__frame_rd_t *rd) { memset(rd, 0, sizeof *rd); }

void phc__frame_rd_free(phc__frame_rd_t *rd) {
  free(rd->buf);
  memset(rd, 0, sizeof *rd);
}

void phc__frame_rd_push(phc__frame_rd_t *rd, const uint8_t *data, size_t len) {
  if (rd->pos > 0) {
    memmove(rd->buf, rd->buf + rd->pos, rd->len - rd->pos);
    rd->len -= rd->pos;
    rd->pos = 0;
  }
  if (rd->len + len > rd->cap) {
    rd->cap = (rd->len + len) * 2;
    rd->buf = phc__xrealloc(rd->buf, rd->cap);
  }
  if (len) memcpy(rd->buf + rd->len, data, len);
  rd->len += len;
}

int phc__frame_rd_next(phc__frame_rd_t *rd, const uint8_t **pkt, size_t *len) {
  size_t avail = rd->len - rd->pos;
  if (avail < 4) return 0;
  uint32_t n = frame_get32(rd->buf + rd->pos);
  if (n > (rd->max ? rd->max : PHC__FRAME_MAX)) {
    rd->announced = n;
    return PHC_ELIMIT;
  }
  if (avail < 4 + (size_t)n) return 0;
  *pkt = rd->buf + rd->pos + 4;
  *len = n;
  rd->pos += 4 + (size_t)n;
  return 1;
}

/* ---- term skipping ----------------------------------------------------- */

/* term.h's bounded walker over a size_t buffer. */
static int frame_skip(const char *buf, size_t len, size_t *idx) {
  int i = (int)*idx;
  if (len > INT_MAX || phc__term_skip(buf, (int)len, &i) < 0)
    return PHC_EDECODE;
  *idx = (size_t)i;
  return 0;
}

/* ---- splitting and reassembly ------------------------------------------ */

/* data holds "131 ctrl [131 payload]" */
static int split_versioned(const char *data, size_t len,
                           phc__frame_msg_t *msg) {
  size_t i = 1;
  if (len < 2 || (uint8_t)data[0] != 131) return PHC_EDECODE;
  if (frame_skip(data, len, &i) < 0) return PHC_EDECODE;
  msg->ctrl = data;
  msg->ctrl_len = (int)i;
  if (i == len) return 1;
  size_t p = i + 1;
  if ((uint8_t)data[i] != 131 || frame_skip(data, len, &p) < 0 || p != len)
    return PHC_EDECODE;
  msg->payload = data + i;
  msg->payload_len = (int)(len - i);
  return 1;
}

/* data holds "ctrl [payload]" without version bytes: add them. */
static int split_bare(const char *data, size_t len, phc__frame_msg_t *msg) {
  size_t i = 0;
  if (frame_skip(data, len, &i) < 0) return PHC_EDECODE;
  char *b = phc__xmalloc(len + 2);
  b[0] = (char)131;
  memcpy(b + 1, data, i);
  size_t out = 1 + i;
  if (i < len) {
    size_t p = i;
    if (frame_skip(data, len, &p) < 0 || p != len) {
      free(b);
      return PHC_EDECODE;
    }
    b[out++] = (char)131;
    memcpy(b + out, data + i, len - i);
    out += len - i;
  }
  msg->owned = b;
  return split_versioned(b, out, msg) == 1
             ? 1
             : (free(b), msg->owned = NULL, PHC_EDECODE);
}

static int split_any(const char *data, size_t len, phc__frame_msg_t *msg) {
  if (len > 0 && (uint8_t)data[0] == 131)
    return split_versioned(data, len, msg);
  return split_bare(data, len, msg);
}

void phc__reasm_init(phc__reasm_t *r) {
  TAILQ_INIT(&r->frags);
  r->count = 0;
  r->held = 0;
  r->max = 0;
}

static void frag_drop(phc__reasm_t *r, phc__frag_t *f) {
  TAILQ_REMOVE(&r->frags, f, link);
  r->count--;
  r->held -= f->len;
  free(f->buf);
  free(f);
}

void phc__reasm_free(phc__reasm_t *r) {
  while (!TAILQ_EMPTY(&r->frags))
    frag_drop(r, TAILQ_FIRST(&r->frags));
}

static phc__frag_t *frag_find(phc__reasm_t *r, uint64_t seq) {
  phc__frag_t *f;
  TAILQ_FOREACH(f, &r->frags, link) if (f->seq == seq) return f;
  return NULL;
}

/* An empty fragment appends nothing: f->buf may still be NULL then, and
 * neither pointer arithmetic nor memcpy may be done on it. */
static int frag_append(phc__reasm_t *r, phc__frag_t *f, const uint8_t *data,
                       size_t len) {
  if (len > (r->max ? r->max : PHC__FRAME_MAX) - r->held) return PHC_ELIMIT;
  if (len == 0) return 0;
  if (f->len + len > f->cap) {
    f->cap = (f->len + len) * 2;
    f->buf = phc__xrealloc(f->buf, f->cap);
  }
  memcpy(f->buf + f->len, data, len);
  f->len += len;
  r->held += len;
  return 0;
}

/* The message of a finished sequence: ownership moves to msg. */
static int frag_finish(phc__reasm_t *r, phc__frag_t *f, phc__frame_msg_t *msg) {
  char *buf = f->buf;
  size_t len = f->len;
  f->buf = NULL;
  frag_drop(r, f); /* held drops by f->len */
  int rc = split_any(buf, len, msg);
  if (rc != 1) {
    free(buf);
    return PHC_EDECODE;
  }
  if (msg->owned)
    free(buf); /* split_bare made its own copy */
  else
    msg->owned = buf;
  return 1;
}

/* Fragment id's data: PHC_ELIMIT over the limit, the message when id 1. */
static int frag_more(phc__reasm_t *r, phc__frag_t *f, uint64_t id,
                     const uint8_t *data, size_t len, phc__frame_msg_t *msg) {
  int rc = frag_append(r, f, data, len);
  if (rc < 0) return rc;
  return id == 1 ? frag_finish(r, f, msg) : 0;
}

static int on_frag_header(phc__reasm_t *r, const uint8_t *p, size_t len,
                          phc__frame_msg_t *msg) {
  /* 131 69 Seq(8) FragId(8) NumberOfAtomCacheRefs(1) ... */
  if (len < 19 || p[18] != 0) return PHC_EDECODE; /* no atom cache here */
  uint64_t seq = frame_get64(p + 2), id = frame_get64(p + 10);
  if (id == 0 || frag_find(r, seq) || r->count >= MAX_FRAG_SEQS)
    return PHC_EDECODE;
  phc__frag_t *f = phc__xcalloc(1, sizeof *f);
  f->seq = seq;
  f->next_id = id - 1;
  TAILQ_INSERT_TAIL(&r->frags, f, link);
  r->count++;
  return frag_more(r, f, id, p + 19, len - 19, msg);
}

static int on_frag_cont(phc__reasm_t *r, const uint8_t *p, size_t len,
                        phc__frame_msg_t *msg) {
  /* 131 70 Seq(8) FragId(8) data */
  if (len < 18) return PHC_EDECODE;
  uint64_t seq = frame_get64(p + 2), id = frame_get64(p + 10);
  phc__frag_t *f = frag_find(r, seq);
  if (!f || id == 0 || id != f->next_id) return PHC_EDECODE;
  f->next_id = id - 1;
  return frag_more(r, f, id, p + 18, len - 18, msg);
}

int phc__frame_parse(phc__reasm_t *r, const uint8_t *pkt, size_t len,
                     phc__frame_msg_t *msg) {
  memset(msg, 0, sizeof *msg);
  if (len < 2) return PHC_EDECODE;
  if (pkt[0] == 'p')
    return split_versioned((const char *)pkt + 1, len - 1, msg);
  if (pkt[0] == 131 && pkt[1] == 69) return on_frag_header(r, pkt, len, msg);
  if (pkt[0] == 131 && pkt[1] == 70) return on_frag_cont(r, pkt, len, msg);
  if (pkt[0] == 131 && pkt[1] == 68 && len >= 3 && pkt[2] == 0)
    return split_any((const char *)pkt + 3, len - 3, msg);
  return PHC_EDECODE;
}
