/* test_handshake.c - the 'N' handshake state machine and its digest. */
#include "phc_test.h"

#include "dist/handshake.h"

#define FLAGS (PHC__DFLAGS_OURS | PHC_DFLAG_PUBLISHED)

static void hex16(const uint8_t d[16], char out[33]) {
  for (int i = 0; i < 16; i++)
    sprintf(out + 2 * i, "%02x", d[i]);
}

/* Vectors from erl: erlang:md5(Cookie ++ integer_to_list(Challenge)). */
static void test_digest(void **s) {
  (void)s;
  uint8_t d[16];
  char h[33];
  phc__hs_digest("c", 4294967295u, d);
  hex16(d, h);
  assert_string_equal(h, "b6b9428ef079fc89ea04bb26bbf1a0da");
  phc__hs_digest("secretcookie", 123456, d);
  hex16(d, h);
  assert_string_equal(h, "41845b141b5fb137f5ac683345d5d4c7");
}

/* Move what `from` queued into `to`, one byte per feed (partial reads). */
static int pump(phc__hs_t *from, phc__hs_t *to) {
  int rc = PHC__HS_CONTINUE;
  size_t n = from->out_len, used;
  uint8_t *b = malloc(n ? n : 1);
  memcpy(b, from->out, n);
  from->out_len = 0;
  for (size_t i = 0; i < n; i++) {
    rc = phc__hs_feed(to, b + i, 1, &used);
    if (rc != PHC__HS_CONTINUE) {
      assert_int_equal(i, n - 1); /* nothing after a decisive packet here */
      break;
    }
  }
  free(b);
  return rc;
}

/* The 8 bytes of flags as they go on the wire (big-endian). */
static void be64(uint64_t v, uint8_t out[8]) {
  for (int i = 0; i < 8; i++)
    out[i] = (uint8_t)(v >> (56 - 8 * i));
}

static void setup_pair(phc__hs_t *a, phc__hs_t *b, const char *ck_a,
                       const char *ck_b, uint64_t flags_a) {
  phc__hs_init(a, 1, "a@127.0.0.1", ck_a, flags_a, 11, 1000, "b@127.0.0.1");
  phc__hs_init(b, 0, "b@127.0.0.1", ck_b, FLAGS, 22, 4294967295u, NULL);
}

static void test_full_handshake(void **s) {
  (void)s;
  phc__hs_t a, b;
  setup_pair(&a, &b, "c", "c", FLAGS);
  /* send_name: 'N' Flags(8) Creation(4) Nlen(2) Name */
  assert_int_equal(a.out_len, 2 + 15 + 11);
  uint8_t want[2 + 15 + 11] = {0, 26, 'N'};
  be64(FLAGS, want + 3);
  memcpy(want + 11, "\0\0\0\13\0\13a@127.0.0.1", 4 + 2 + 11);
  assert_memory_equal(a.out, want, sizeof want);
  assert_int_equal(pump(&a, &b), PHC__HS_NEED_STATUS);
  assert_string_equal(b.peer_name, "a@127.0.0.1");
  assert_int_equal(b.peer_creation, 11);
  assert_true(b.peer_flags & PHC_DFLAG_PUBLISHED);
  assert_int_equal(phc__hs_set_status(&b, PHC__HS_ST_OK), 0);
  /* status "sok" then the challenge */
  assert_memory_equal(b.out, "\0\3sok", 5);
  assert_int_equal(b.out[5 + 2], 'N');
  assert_int_equal(pump(&b, &a), PHC__HS_CONTINUE);
  assert_int_equal(a.peer_challenge, 4294967295u);
  assert_int_equal(a.peer_creation, 22);
  /* challenge reply: 'r' our challenge (1000) md5("c" ++ "4294967295") */
  uint8_t digest[16];
  phc__hs_digest("c", 4294967295u, digest);
  assert_int_equal(a.out_len, 2 + 21);
  assert_memory_equal(a.out, "\0\25r\0\0\3\350", 7);
  assert_memory_equal(a.out + 7, digest, 16);
  assert_int_equal(pump(&a, &b), PHC__HS_DONE);
  assert_int_equal(b.peer_challenge, 1000);
  /* ack: 'a' md5("c" ++ "1000") */
  phc__hs_digest("c", 1000, digest);
  assert_int_equal(b.out_len, 2 + 17);
  assert_memory_equal(b.out, "\0\21a", 3);
  assert_memory_equal(b.out + 3, digest, 16);
  assert_int_equal(pump(&b, &a), PHC__HS_DONE);
  phc__hs_free(&a);
  phc__hs_free(&b);
}

static void test_bad_cookie(void **s) {
  (void)s;
  phc__hs_t a, b;
  setup_pair(&a, &b, "c", "other", FLAGS);
  assert_int_equal(pump(&a, &b), PHC__HS_NEED_STATUS);
  assert_int_equal(phc__hs_set_status(&b, PHC__HS_ST_OK), 0);
  assert_int_equal(pump(&b, &a), PHC__HS_CONTINUE);
  assert_int_equal(pump(&a, &b), PHC_EAUTH);
  assert_non_null(strstr(b.err, "cookie mismatch"));
  assert_non_null(strstr(b.err, "a@127.0.0.1"));
  assert_int_equal(b.out_len, 0); /* no ack */
  assert_non_null(strstr(phc__hs_eof_reason(&a), "cookie"));
  phc__hs_free(&a);
  phc__hs_free(&b);
}

static void test_bad_ack(void **s) {
  (void)s;
  phc__hs_t a, b;
  setup_pair(&a, &b, "c", "c", FLAGS);
  pump(&a, &b);
  phc__hs_set_status(&b, PHC__HS_ST_OK);
  pump(&b, &a);
  assert_int_equal(pump(&a, &b), PHC__HS_DONE);
  b.out[2 + 1] ^= 1; /* corrupt the ack digest */
  assert_int_equal(pump(&b, &a), PHC_EAUTH);
  assert_non_null(strstr(a.err, "cookie mismatch"));
  phc__hs_free(&a);
  phc__hs_free(&b);
}

static void test_nok_and_alive(void **s) {
  (void)s;
  phc__hs_t a, b;
  setup_pair(&a, &b, "c", "c", FLAGS);
  pump(&a, &b);
  assert_int_equal(phc__hs_set_status(&b, PHC__HS_ST_NOK), PHC_ESTATE);
  assert_int_equal(pump(&b, &a), PHC__HS_NOK);
  phc__hs_free(&a);
  phc__hs_free(&b);

  setup_pair(&a, &b, "c", "c", FLAGS);
  pump(&a, &b);
  assert_int_equal(phc__hs_set_status(&b, PHC__HS_ST_ALIVE), 0);
  assert_int_equal(pump(&b, &a), PHC__HS_CONTINUE);
  assert_memory_equal(a.out, "\0\5strue", 7); /* we are connecting: yes */
  assert_int_equal(pump(&a, &b), PHC__HS_CONTINUE);
  assert_true(b.alive_confirmed);
  pump(&b, &a);
  assert_int_equal(pump(&a, &b), PHC__HS_DONE);
  assert_int_equal(pump(&b, &a), PHC__HS_DONE);
  phc__hs_free(&a);
  phc__hs_free(&b);

  setup_pair(&a, &b, "c", "c", FLAGS);
  pump(&a, &b);
  assert_int_equal(phc__hs_set_status(&b, PHC__HS_ST_NOT_ALLOWED), PHC_ESTATE);
  assert_int_equal(pump(&b, &a), PHC_EAUTH);
  phc__hs_free(&a);
  phc__hs_free(&b);
}

static void test_missing_flags(void **s) {
  (void)s;
  phc__hs_t a, b;
  setup_pair(&a, &b, "c", "c",
             PHC_DFLAG_PUBLISHED | PHC_DFLAG_EXTENDED_REFERENCES);
  assert_int_equal(pump(&a, &b), PHC_EIO);
  assert_non_null(strstr(b.err, "mandatory"));
  phc__hs_free(&a);
  phc__hs_free(&b);
  /* MANDATORY_25_DIGEST alone stands for the whole mandatory set */
  setup_pair(&a, &b, "c", "c", PHC_DFLAG_MANDATORY_25_DIGEST);
  assert_int_equal(pump(&a, &b), PHC__HS_NEED_STATUS);
  assert_true((b.peer_flags & PHC__DFLAGS_MANDATORY) == PHC__DFLAGS_MANDATORY);
  assert_false(b.peer_flags & PHC_DFLAG_PUBLISHED); /* a hidden peer */
  phc__hs_free(&a);
  phc__hs_free(&b);
}

/* Hand-written bytes, as an OTP 25 node sends them. */
static void test_wire_bytes(void **s) {
  (void)s;
  phc__hs_t b;
  phc__hs_init(&b, 0, "phc@127.0.0.1", "c", FLAGS, 7, 0x01020304, NULL);
  /* send_name from 'x@h' with flags 0xd07df7fbd, creation 0x11223344 */
  const uint8_t name[] = {0,    18,   'N',  0,    0,    0,    0xd,
                          0x07, 0xdf, 0x7f, 0xbd, 0x11, 0x22, 0x33,
                          0x44, 0,    3,    'x',  '@',  'h'};
  size_t used;
  assert_int_equal(phc__hs_feed(&b, name, sizeof name, &used),
                   PHC__HS_NEED_STATUS);
  assert_true(b.peer_flags == 0xd07df7fbdULL);
  assert_int_equal(b.peer_creation, 0x11223344);
  assert_int_equal(phc__hs_set_status(&b, PHC__HS_ST_OK_SIMULTANEOUS), 0);
  assert_memory_equal(b.out, "\0\20sok_simultaneous", 18);
  /* challenge: 'N' flags(8) challenge(4) creation(4) nlen(2) name */
  const uint8_t *ch = b.out + 18;
  assert_int_equal((ch[0] << 8) | ch[1], 19 + 13);
  assert_int_equal(ch[2], 'N');
  uint8_t flags[8];
  be64(FLAGS, flags);
  assert_memory_equal(ch + 3, flags, 8);
  assert_memory_equal(ch + 2 + 9, "\1\2\3\4\0\0\0\7\0\15phc@127.0.0.1",
                      4 + 4 + 2 + 13);
  /* an old 'n' name is refused */
  phc__hs_t c;
  phc__hs_init(&c, 0, "phc@127.0.0.1", "c", FLAGS, 7, 1, NULL);
  const uint8_t old[] = {0, 3, 'n', 0, 5};
  assert_int_equal(phc__hs_feed(&c, old, sizeof old, &used), PHC_EIO);
  /* a dynamic-name request (no '@') is refused */
  phc__hs_t e;
  phc__hs_init(&e, 0, "phc@127.0.0.1", "c", FLAGS, 7, 1, NULL);
  const uint8_t dyn[] = {0,    16,   'N', 0, 0, 0, 0xd, 0x07, 0xdf,
                         0x7f, 0xbd, 0,   0, 0, 0, 0,   1,    'h'};
  assert_int_equal(phc__hs_feed(&e, dyn, sizeof dyn, &used), PHC_EIO);
  phc__hs_free(&b);
  phc__hs_free(&c);
  phc__hs_free(&e);
}

/* The ack and the first tick arrive in one read: the tick is left over. */
static void test_leftover_after_ack(void **s) {
  (void)s;
  phc__hs_t a, b;
  setup_pair(&a, &b, "c", "c", FLAGS);
  pump(&a, &b);
  phc__hs_set_status(&b, PHC__HS_ST_OK);
  pump(&b, &a);
  assert_int_equal(pump(&a, &b), PHC__HS_DONE);
  uint8_t buf[64];
  memcpy(buf, b.out, b.out_len);
  size_t n = b.out_len;
  memcpy(buf + n, "\0\0\0\0\0\0\0\1p", 9);
  size_t used;
  assert_int_equal(phc__hs_feed(&a, buf, n + 9, &used), PHC__HS_DONE);
  assert_int_equal(used, n);
  assert_int_equal(a.in_len, 9);
  assert_memory_equal(a.in, "\0\0\0\0\0\0\0\1p", 9);
  phc__hs_free(&a);
  phc__hs_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_digest),
      cmocka_unit_test(test_full_handshake),
      cmocka_unit_test(test_bad_cookie),
      cmocka_unit_test(test_bad_ack),
      cmocka_unit_test(test_nok_and_alive),
      cmocka_unit_test(test_missing_flags),
      cmocka_unit_test(test_wire_bytes),
      cmocka_unit_test(test_leftover_after_ack),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
