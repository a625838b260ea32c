/* test_sha256.c — SHA-256 against the FIPS 180-4 / NIST example vectors ("abc", the empty string,
 * the two-block messages, one million 'a'), NIST CAVP short-message vectors, lengths around the
 * padding boundaries (55/56/64 bytes, values from Python's hashlib), streaming in uneven pieces,
 * and the file helper. */
#include "../../runtime/sha256.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK_NAME_WIDTH 62
#include "check.h"

static void check_hex(const char *name, const void *data, size_t len, const char *want) {
  char got[PRISM_SHA256_HEX];
  prism_sha256_hex(data, len, got);
  check(strcmp(got, want) == 0, name, strcmp(got, want) ? got : "");
}

static void test_nist(void) {
  check_hex("FIPS 180-4 example: \"abc\"", "abc", 3,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  check_hex("empty message", "", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  check_hex("FIPS 180-4 example: 448-bit message", m448, strlen(m448),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
  check_hex("NIST example: 896-bit message", m896, strlen(m896),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  const unsigned char bd[1] = {0xbd}, c98[4] = {0xc9, 0x8c, 0x8e, 0x55};
  check_hex("CAVP SHA256ShortMsg len 8 (0xbd)", bd, 1,
            "68325720aabd7c82f30f554b313d0570c95accbb7dc4b5aae11204c08ffe732b");
  check_hex("CAVP SHA256ShortMsg len 32 (0xc98c8e55)", c98, 4,
            "7abc22c0ae5af26ce93dbb94433a0e0b2e119d014f8e7f65bd56c61ccccd9504");

  /* one million 'a', fed in 1000-byte pieces */
  char chunk[1000];
  memset(chunk, 'a', sizeof chunk);
  prism_sha256 c;
  prism_sha256_init(&c);
  for (int i = 0; i < 1000; i++) prism_sha256_update(&c, chunk, sizeof chunk);
  uint8_t d[32];
  char hex[PRISM_SHA256_HEX];
  prism_sha256_final(&c, d);
  prism_sha256_to_hex(d, hex);
  const char *want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  check(strcmp(hex, want) == 0, "NIST example: one million 'a' (streamed)", strcmp(hex, want) ? hex : "");
}

static void test_boundaries(void) {
  static const struct { size_t n; const char *hex; } v[] = {
    {55, "e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b"},
    {56, "4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27"},
    {57, "35df609437dcfea3279283ab79fd554e2bf78f8f7ae2de532d8ee300b09e8f73"},
    {63, "81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055"},
    {64, "39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241"},
    {65, "aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e"},
    {119, "9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e"},
    {120, "7836b787757e95e58b3ca5aec90b1b004e8deba1e50e9675af9cabf1a13a04b5"},
    {127, "a8d23e75d936f303d248888d9b165ee543f4cbafcad3c9dd2a79bd84faa11d07"},
    {128, "d2742f1f4ac6bb7ca2b239ee18402ba8b3f9f8e652d2a72973c2b9ba11c08cf6"},
  };
  unsigned char buf[128];
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)((i * 7 + 3) & 255);
  for (size_t t = 0; t < sizeof v / sizeof v[0]; t++) {
    char name[64];
    snprintf(name, sizeof name, "padding boundary: %zu bytes (hashlib)", v[t].n);
    check_hex(name, buf, v[t].n, v[t].hex);
    /* the same message streamed one byte at a time, then in pieces of 1..13 bytes */
    prism_sha256 c;
    prism_sha256_init(&c);
    for (size_t i = 0; i < v[t].n; i++) prism_sha256_update(&c, buf + i, 1);
    uint8_t d1[32], d2[32];
    prism_sha256_final(&c, d1);
    prism_sha256_init(&c);
    for (size_t i = 0, step = 1; i < v[t].n; i += step, step = step % 13 + 1)
      prism_sha256_update(&c, buf + i, i + step > v[t].n ? v[t].n - i : step);
    prism_sha256_final(&c, d2);
    char h1[PRISM_SHA256_HEX], h2[PRISM_SHA256_HEX];
    prism_sha256_to_hex(d1, h1);
    prism_sha256_to_hex(d2, h2);
    snprintf(name, sizeof name, "padding boundary: %zu bytes streamed", v[t].n);
    check(!strcmp(h1, v[t].hex) && !strcmp(h2, v[t].hex), name, "");
  }
  check_hex("tokenizer fingerprint sha256(\"bytes:n_vocab=256\")", "bytes:n_vocab=256", 17,
            "cef352e82e9cb1eaa7e70d2b5f8e20b0ba31ac6b35d8ff55b5e79a9bf58a1c22");
}

static void test_file(void) {
  char path[] = "/tmp/prism_test_sha256_XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) {
    check(0, "file helper: temp file", "mkstemp failed");
    return;
  }
  FILE *f = fdopen(fd, "wb");
  /* 200,000 bytes: several read buffers */
  for (int i = 0; i < 200000; i++) fputc('a', f);
  fclose(f);
  char hex[PRISM_SHA256_HEX], want[PRISM_SHA256_HEX];
  int64_t size = -1;
  int rc = prism_sha256_file(path, hex, &size);
  char *mem = malloc(200000);
  memset(mem, 'a', 200000);
  prism_sha256_hex(mem, 200000, want);
  free(mem);
  check(rc == 0 && size == 200000 && !strcmp(hex, want), "file helper: digest and size of a 200,000-byte file", "");
  unlink(path);
  check(prism_sha256_file(path, hex, &size) == -1, "file helper: missing file -> -1", "");
}

int main(void) {
  test_nist();
  test_boundaries();
  test_file();
  return check_summary();
}
