/* test_frame.c - length framing, ticks, partial reads, message splitting
 * and fragment reassembly. */
#include "phc_test.h"

#include "dist/frame.h"

/* {6, <pid>, '', net_kernel}-like control and a message, from OTP 25. */
static const unsigned char ctrl[] = {
    131, 104, 4,   97,  6,  88,  100, 0,   16,  118, 101, 99, 103, 101,
    110, 64,  49,  50,  55, 46,  48,  46,  48,  46,  49,  0,  0,   0,
    9,   0,   0,   0,   0,  107, 1,   50,  157, 100, 0,   0,  100, 0,
    10,  110, 101, 116, 95, 107, 101, 114, 110, 101, 108};
static const unsigned char msg[] = {131, 104, 2,   100, 0, 5, 104, 101, 108,
                                    108, 111, 107, 0,   3, 1, 2,   3};

static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static void test_reader_partial_and_ticks(void **s) {
  (void)s;
  size_t n = phc__frame_enc_len(sizeof ctrl, sizeof msg);
  char *pkt = malloc(n);
  phc__frame_enc(pkt, (const char *)ctrl, sizeof ctrl, (const char *)msg,
                 sizeof msg);
  /* stream: tick, message, tick */
  size_t total = 4 + n + 4;
  uint8_t *stream = calloc(1, total);
  memcpy(stream + 4, pkt, n);
  phc__frame_rd_t rd;
  phc__frame_rd_init(&rd);
  const uint8_t *p;
  size_t len;
  int ticks = 0, msgs = 0;
  for (size_t i = 0; i < total; i++) { /* one byte per read */
    phc__frame_rd_push(&rd, stream + i, 1);
    int rc;
    while ((rc = phc__frame_rd_next(&rd, &p, &len)) == 1) {
      if (len == 0) {
        ticks++;
        continue;
      }
      msgs++;
      phc__reasm_t r;
      phc__reasm_init(&r);
      phc__frame_msg_t m;
      assert_int_equal(phc__frame_parse(&r, p, len, &m), 1);
      assert_int_equal(m.ctrl_len, sizeof ctrl);
      assert_memory_equal(m.ctrl, ctrl, sizeof ctrl);
      assert_int_equal(m.payload_len, sizeof msg);
      assert_memory_equal(m.payload, msg, sizeof msg);
      free(m.owned);
      phc__reasm_free(&r);
    }
    assert_int_equal(rc, 0);
  }
  assert_int_equal(ticks, 2);
  assert_int_equal(msgs, 1);
  /* the header form OTP wants: 131 68 0 and no inner version bytes */
  assert_memory_equal(pkt + 4, "\x83\x44\x00\x68\x04", 5);
  assert_int_equal(n, 4 + 3 + sizeof ctrl - 1 + sizeof msg - 1);
  /* an absurd length */
  const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};
  phc__frame_rd_push(&rd, huge, 4);
  assert_int_equal(phc__frame_rd_next(&rd, &p, &len), PHC_ELIMIT);
  phc__frame_rd_free(&rd);
  free(stream);
  free(pkt);
}

static void test_pass_through(void **s) {
  (void)s;
  uint8_t b[1 + sizeof ctrl + sizeof msg];
  b[0] = 'p';
  memcpy(b + 1, ctrl, sizeof ctrl);
  memcpy(b + 1 + sizeof ctrl, msg, sizeof msg);
  phc__reasm_t r;
  phc__reasm_init(&r);
  phc__frame_msg_t m;
  assert_int_equal(phc__frame_parse(&r, b, sizeof b, &m), 1);
  assert_ptr_equal(m.ctrl, (const char *)b + 1);
  assert_int_equal(m.ctrl_len, sizeof ctrl);
  assert_null(m.owned);
  assert_int_equal(m.payload_len, sizeof msg);
  assert_memory_equal(m.payload, msg, sizeof msg);
  /* control only */
  assert_int_equal(phc__frame_parse(&r, b, 1 + sizeof ctrl, &m), 1);
  assert_int_equal(m.ctrl_len, sizeof ctrl);
  assert_memory_equal(m.ctrl, ctrl, sizeof ctrl);
  assert_null(m.payload);
  /* a truncated message term is garbage */
  assert_int_equal(phc__frame_parse(&r, b, sizeof b - 1, &m), PHC_EDECODE);
  /* unknown packet kinds are garbage */
  const uint8_t junk[] = {'x', 1, 2, 3};
  assert_int_equal(phc__frame_parse(&r, junk, sizeof junk, &m), PHC_EDECODE);
  phc__reasm_free(&r);
}

/* Build "131 69 seq id 0 data" or "131 70 seq id data". */
static size_t frag(uint8_t *out, int first, uint64_t seq, uint64_t id,
                   const uint8_t *data, size_t n) {
  out[0] = 131;
  out[1] = first ? 69 : 70;
  put64(out + 2, seq);
  put64(out + 10, id);
  size_t h = 18;
  if (first) out[h++] = 0; /* no atom-cache refs */
  if (n) memcpy(out + h, data, n);
  return h + n;
}

static void test_fragments(void **s) {
  (void)s;
  /* bare ctrl + msg (no version bytes), as OTP sends with FRAGMENTS */
  uint8_t body[sizeof ctrl + sizeof msg];
  size_t bl = 0;
  memcpy(body, ctrl + 1, sizeof ctrl - 1);
  bl += sizeof ctrl - 1;
  memcpy(body + bl, msg + 1, sizeof msg - 1);
  bl += sizeof msg - 1;
  phc__reasm_t r;
  phc__reasm_init(&r);
  phc__frame_msg_t m;
  uint8_t pkt[256];
  /* two sequences interleaved, three fragments each */
  size_t cut1 = 10, cut2 = 40;
  uint64_t seqs[2] = {77, 78};
  for (int k = 0; k < 2; k++)
    assert_int_equal(
        phc__frame_parse(&r, pkt, frag(pkt, 1, seqs[k], 3, body, cut1), &m), 0);
  for (int k = 0; k < 2; k++)
    assert_int_equal(
        phc__frame_parse(
            &r, pkt, frag(pkt, 0, seqs[k], 2, body + cut1, cut2 - cut1), &m),
        0);
  for (int k = 0; k < 2; k++) {
    assert_int_equal(
        phc__frame_parse(&r, pkt,
                         frag(pkt, 0, seqs[k], 1, body + cut2, bl - cut2), &m),
        1);
    assert_int_equal(m.ctrl_len, sizeof ctrl);
    assert_memory_equal(m.ctrl, ctrl, sizeof ctrl);
    assert_int_equal(m.payload_len, sizeof msg);
    assert_memory_equal(m.payload, msg, sizeof msg);
    assert_non_null(m.owned);
    free(m.owned);
  }
  assert_int_equal(r.count, 0);
  /* a single-fragment message with version bytes inside also works */
  uint8_t vbody[sizeof ctrl + sizeof msg];
  memcpy(vbody, ctrl, sizeof ctrl);
  memcpy(vbody + sizeof ctrl, msg, sizeof msg);
  assert_int_equal(
      phc__frame_parse(&r, pkt, frag(pkt, 1, 5, 1, vbody, sizeof vbody), &m),
      1);
  assert_int_equal(m.ctrl_len, sizeof ctrl);
  assert_memory_equal(m.ctrl, ctrl, sizeof ctrl);
  assert_int_equal(m.payload_len, sizeof msg);
  assert_memory_equal(m.payload, msg, sizeof msg);
  free(m.owned);
  /* out of order, unknown sequence, atom-cache refs: garbage */
  assert_int_equal(
      phc__frame_parse(&r, pkt, frag(pkt, 1, 9, 3, body, cut1), &m), 0);
  assert_int_equal(
      phc__frame_parse(&r, pkt, frag(pkt, 0, 9, 1, body + cut1, 5), &m),
      PHC_EDECODE);
  assert_int_equal(
      phc__frame_parse(&r, pkt, frag(pkt, 0, 1234, 1, body, 5), &m),
      PHC_EDECODE);
  size_t n = frag(pkt, 1, 10, 1, body, bl);
  pkt[18] = 1;
  assert_int_equal(phc__frame_parse(&r, pkt, n, &m), PHC_EDECODE);
  /* a complete fragment set whose terms are garbage */
  uint8_t bad[] = {104, 9, 97};
  assert_int_equal(
      phc__frame_parse(&r, pkt, frag(pkt, 1, 11, 1, bad, sizeof bad), &m),
      PHC_EDECODE);
  phc__reasm_free(&r); /* frees the unfinished sequence 9 */
}

/* A fragment may carry no data at all (a header that only opens the
 * sequence): nothing is appended to the still-empty buffer, and the
 * message is whole once the rest arrives. */
static void test_empty_fragment(void **s) {
  (void)s;
  phc__reasm_t r;
  phc__reasm_init(&r);
  phc__frame_msg_t m;
  uint8_t pkt[256];
  assert_int_equal(phc__frame_parse(&r, pkt, frag(pkt, 1, 3, 3, NULL, 0), &m),
                   0);
  assert_int_equal(phc__frame_parse(&r, pkt, frag(pkt, 0, 3, 2, NULL, 0), &m),
                   0);
  assert_int_equal(
      phc__frame_parse(&r, pkt, frag(pkt, 0, 3, 1, ctrl, sizeof ctrl), &m), 1);
  assert_int_equal(m.ctrl_len, sizeof ctrl);
  assert_memory_equal(m.ctrl, ctrl, sizeof ctrl);
  assert_null(m.payload);
  free(m.owned);
  /* a sequence made only of empty fragments is no message */
  assert_int_equal(phc__frame_parse(&r, pkt, frag(pkt, 1, 4, 1, NULL, 0), &m),
                   PHC_EDECODE);
  assert_int_equal(r.count, 0);
  phc__reasm_free(&r);
}

/* Every term passes term.h's walker here (test_term.c covers the walker):
 * what ei and the walker could disagree on never gets past the gate. */
static void test_gate(void **s) {
  (void)s;
  phc__reasm_t r;
  phc__reasm_init(&r);
  phc__frame_msg_t m;
  uint8_t b[1 + sizeof ctrl + sizeof msg];
  b[0] = 'p';
  memcpy(b + 1, ctrl, sizeof ctrl);
  memcpy(b + 1 + sizeof ctrl, msg, sizeof msg);
  assert_int_equal(phc__frame_parse(&r, b, sizeof b, &m), 1);
  assert_memory_equal(m.payload, msg, sizeof msg);
  /* the message's atom 'hello' as an ATOM_CACHE_REF (82, index 0) */
  const uint8_t cached[] = {'p', 131, 104, 1, 97, 6, 131, 104, 2, 82, 0, 106};
  assert_int_equal(phc__frame_parse(&r, cached, sizeof cached, &m),
                   PHC_EDECODE);
  /* the same packet with [] there is fine */
  const uint8_t plain[] = {'p', 131, 104, 1, 97, 6, 131, 104, 2, 106, 106};
  assert_int_equal(phc__frame_parse(&r, plain, sizeof plain, &m), 1);
  assert_int_equal(m.ctrl_len, 5);
  assert_memory_equal(m.ctrl, plain + 1, 5);
  assert_int_equal(m.payload_len, 5);
  assert_memory_equal(m.payload, plain + 6, 5);
  /* header form 131 68 0 with a bare control term holding LOCAL_EXT */
  const uint8_t local[] = {131, 68, 0, 104, 1, 121, 97, 1};
  assert_int_equal(phc__frame_parse(&r, local, sizeof local, &m), PHC_EDECODE);
  phc__reasm_free(&r);
}

/* max_packet and max_fragmented: a packet announcing more than rd.max is
 * refused with its length kept; fragments beyond r.max are PHC_ELIMIT. */
static void test_limits(void **s) {
  (void)s;
  phc__frame_rd_t rd;
  phc__frame_rd_init(&rd);
  rd.max = 100;
  const uint8_t ok[] = {0, 0, 0, 100}, big[] = {0, 0, 0, 101};
  const uint8_t *p;
  size_t len;
  phc__frame_rd_push(&rd, ok, 4);
  assert_int_equal(phc__frame_rd_next(&rd, &p, &len), 0); /* waits */
  phc__frame_rd_free(&rd);
  phc__frame_rd_init(&rd);
  rd.max = 100;
  phc__frame_rd_push(&rd, big, 4);
  assert_int_equal(phc__frame_rd_next(&rd, &p, &len), PHC_ELIMIT);
  assert_int_equal(rd.announced, 101);
  phc__frame_rd_free(&rd);

  phc__reasm_t r;
  phc__reasm_init(&r);
  r.max = 100;
  uint8_t f1[19 + 60] = {131, 69}, f2[18 + 60] = {131, 70};
  f1[9] = 7, f1[17] = 3; /* seq 7, fragment 3 of 3 */
  f2[9] = 7, f2[17] = 2;
  phc__frame_msg_t m;
  assert_int_equal(phc__frame_parse(&r, f1, sizeof f1, &m), 0);
  assert_int_equal(r.held, 60);
  assert_int_equal(phc__frame_parse(&r, f2, sizeof f2, &m), PHC_ELIMIT);
  phc__reasm_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reader_partial_and_ticks),
      cmocka_unit_test(test_pass_through),
      cmocka_unit_test(test_fragments),
      cmocka_unit_test(test_empty_fragment),
      cmocka_unit_test(test_gate),
      cmocka_unit_test(test_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
