/* epmd.c - EPMD message encoding and decoding (see epmd.h). */
#include "dist/epmd.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"

static void put16(uint8_t *p, unsigned v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static unsigned get16(const uint8_t *p) { return ((unsigned)p[0] << 8) | p[1]; }

static uint32_t get32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3];
}

unsigned short phc__epmd_port(void) {
  const char *s = getenv("ERL_EPMD_PORT");
  if (s && *s) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*end == 0 && v > 0 && v < 65536) return (unsigned short)v;
  }
  return PHC__EPMD_PORT;
}

int phc__epmd_enc_alive2_req(uint8_t *buf, size_t cap, unsigned short port,
                             const char *alive) {
  size_t nlen = strlen(alive);
  size_t body = 1 + 2 + 1 + 1 + 2 + 2 + 2 + nlen + 2;
  if (nlen == 0 || nlen > 255 || cap < body + 2) return PHC_EINVAL;
  uint8_t *p = buf;
  put16(p, (unsigned)body);
  p += 2;
  *p++ = PHC__EPMD_ALIVE2_REQ;
  put16(p, port);
  p += 2;
  *p++ = 77; /* normal node */
  *p++ = 0;  /* tcp/ipv4 */
  put16(p, 6); /* highest version */
  p += 2;
  put16(p, 5); /* lowest version */
  p += 2;
  put16(p, (unsigned)nlen);
  p += 2;
  memcpy(p, alive, nlen);
  p += nlen;
  put16(p, 0); /* no extra */
  p += 2;
  return (int)(p - buf);
}

int phc__epmd_dec_alive2_resp(const uint8_t *buf, size_t len,
                              uint32_t *creation) {
  if (len < 2) return 0;
  if (buf[0] == PHC__EPMD_ALIVE2_X_RESP) {
    if (buf[1] != 0) return PHC_EEXIST;
    if (len < 6) return 0;
    *creation = get32(buf + 2);
    return 6;
  }
  if (buf[0] == PHC__EPMD_ALIVE2_RESP) {
    if (buf[1] != 0) return PHC_EEXIST;
    if (len < 4) return 0;
    *creation = get16(buf + 2);
    return 4;
  }
  return PHC_EIO;
}

int phc__epmd_enc_port_please2(uint8_t *buf, size_t cap, const char *alive) {
  size_t nlen = strlen(alive);
  if (nlen == 0 || nlen > 255 || cap < nlen + 3) return PHC_EINVAL;
  put16(buf, (unsigned)(nlen + 1));
  buf[2] = PHC__EPMD_PORT_PLEASE2_REQ;
  memcpy(buf + 3, alive, nlen);
  return (int)(nlen + 3);
}

int phc__epmd_dec_port2_resp(const uint8_t *buf, size_t len,
                             unsigned short *port, int *highest,
                             int *lowest) {
  if (len < 2) return 0;
  if (buf[0] != PHC__EPMD_PORT2_RESP) return PHC_EIO;
  if (buf[1] != 0) return PHC_ENOTCONN;
  /* PortNo(2) NodeType(1) Protocol(1) Highest(2) Lowest(2) Nlen(2) Name
   * Elen(2) Extra */
  if (len < 12) return 0;
  size_t nlen = get16(buf + 10);
  if (len < 12 + nlen + 2) return 0;
  size_t elen = get16(buf + 12 + nlen);
  size_t total = 12 + nlen + 2 + elen;
  if (len < total) return 0;
  *port = (unsigned short)get16(buf + 2);
  *highest = (int)get16(buf + 6);
  *lowest = (int)get16(buf + 8);
  return (int)total;
}
