/* bundle_zips.h — the zip cases of test_bundle.c: bundles written with libzip in memory (and one
 * streamed archive written by hand), each with the rule id intake must answer. A table, so the
 * unit test and `test_bundle --emit-zips` (the end-to-end corpus) use the same cases. Included
 * once, by test_bundle.c. */
#ifndef PRISM_TEST_BUNDLE_ZIPS_H
#define PRISM_TEST_BUNDLE_ZIPS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "../../runtime/bundle.h"

/* Valid enough for `prism check`'s gates too: the emitted "ok" zips must pass end to end. */
static const char *ARCH = "local nn = require(\"prism.nn\")\nlocal M = {}\n"
                          "function M.build_model(ctx) return nn.Embedding(ctx.vocab_size, 8) end\nreturn M\n";
static const char *TRAIN = "local M = {}\nfunction M.train(ctx) end\nreturn M\n";

/* ---- zips in memory ---- */

typedef struct zb {
  zip_source_t *src;
  zip_t *za;
} zb;

static void zb_open(zb *z) {
  zip_error_t ze;
  zip_error_init(&ze);
  z->src = zip_source_buffer_create(NULL, 0, 0, &ze);
  zip_source_keep(z->src);
  z->za = zip_open_from_source(z->src, ZIP_TRUNCATE, &ze);
  if (!z->za) { fprintf(stderr, "zip_open_from_source: %s\n", zip_error_strerror(&ze)); exit(2); }
  zip_error_fini(&ze);
}

static zip_int64_t zb_add_n(zb *z, const char *name, const void *data, size_t n) {
  void *copy = n ? malloc(n) : NULL; /* libzip does not take ownership of a zero-length buffer */
  if (n) memcpy(copy, data, n);
  zip_source_t *s = zip_source_buffer(z->za, copy, n, n ? 1 : 0);
  zip_int64_t idx = zip_file_add(z->za, name, s, ZIP_FL_ENC_GUESS | ZIP_FL_OVERWRITE);
  if (idx < 0) { fprintf(stderr, "zip_file_add %s: %s\n", name, zip_strerror(z->za)); zip_source_free(s); exit(2); }
  return idx;
}

static zip_int64_t zb_add(zb *z, const char *name, const char *text) { return zb_add_n(z, name, text, strlen(text)); }

static void zb_pair(zb *z) {
  zb_add(z, "architecture.lua", ARCH);
  zb_add(z, "training.lua", TRAIN);
}

static unsigned char *zb_close(zb *z, size_t *size) {
  if (zip_close(z->za) != 0) { fprintf(stderr, "zip_close: %s\n", zip_strerror(z->za)); exit(2); }
  zip_stat_t st;
  zip_source_stat(z->src, &st);
  *size = (size_t)st.size;
  unsigned char *out = malloc(*size ? *size : 1);
  zip_source_open(z->src);
  zip_source_read(z->src, out, *size);
  zip_source_close(z->src);
  zip_source_free(z->src);
  return out;
}

/* A streamed archive written by hand: stored entries whose local headers carry no sizes (flag
 * bit 3) and a data descriptor after each body, as macOS Archive Utility, Java and `zip -`
 * write them. libzip cannot write this form itself. */
static uint32_t crc32_of(const unsigned char *p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

static unsigned char *put_le(unsigned char *p, uint32_t v, int n) {
  for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
  return p + n;
}

static unsigned char *streamed_zip(const char *const *names, const char *const *texts, int n, size_t *size) {
  unsigned char *out = malloc(65536), *p = out, *cd = malloc(65536), *q = cd;
  for (int i = 0; i < n; i++) {
    uint32_t nl = (uint32_t)strlen(names[i]), len = (uint32_t)strlen(texts[i]);
    uint32_t crc = crc32_of((const unsigned char *)texts[i], len), off = (uint32_t)(p - out);
    p = put_le(p, 0x04034b50u, 4); p = put_le(p, 20, 2); p = put_le(p, 8, 2); p = put_le(p, 0, 2);
    /* Like `zip -`: crc and compressed size 0, the uncompressed size filled in anyway. */
    p = put_le(p, 0, 4); p = put_le(p, 0, 4); p = put_le(p, 0, 4); p = put_le(p, len, 4);
    p = put_le(p, nl, 2); p = put_le(p, 0, 2);
    memcpy(p, names[i], nl); p += nl;
    memcpy(p, texts[i], len); p += len;
    p = put_le(p, 0x08074b50u, 4); p = put_le(p, crc, 4); p = put_le(p, len, 4); p = put_le(p, len, 4);
    q = put_le(q, 0x02014b50u, 4); q = put_le(q, 0x031e, 2); q = put_le(q, 20, 2); q = put_le(q, 8, 2);
    q = put_le(q, 0, 2); q = put_le(q, 0, 4); q = put_le(q, crc, 4); q = put_le(q, len, 4); q = put_le(q, len, 4);
    q = put_le(q, nl, 2); q = put_le(q, 0, 2); q = put_le(q, 0, 2); q = put_le(q, 0, 2); q = put_le(q, 0, 2);
    q = put_le(q, 0100644u << 16, 4); q = put_le(q, off, 4);
    memcpy(q, names[i], nl); q += nl;
  }
  uint32_t cd_off = (uint32_t)(p - out), cd_size = (uint32_t)(q - cd);
  memcpy(p, cd, cd_size); p += cd_size;
  p = put_le(p, 0x06054b50u, 4); p = put_le(p, 0, 2); p = put_le(p, 0, 2); p = put_le(p, (uint32_t)n, 2);
  p = put_le(p, (uint32_t)n, 2); p = put_le(p, cd_size, 4); p = put_le(p, cd_off, 4); p = put_le(p, 0, 2);
  free(cd);
  *size = (size_t)(p - out);
  return out;
}

/* ---- the zip cases (also emitted for end-to-end tests) ---- */

static void z_ok_nested(zb *z) {
  zip_dir_add(z->za, "proj/", ZIP_FL_ENC_UTF_8);
  zb_add(z, "proj/architecture.lua", ARCH);
  zb_add(z, "proj/training.lua", TRAIN);
  zb_add(z, "proj/lib/util.lua", "return {}\n");
  zb_add(z, "proj/prism.yaml", "name: Nested zip\n");
}
static void z_ok_exact_bytes(zb *z) { /* exactly 2,000,000 bytes and 200 files: both limits inclusive */
  zb_pair(z);
  size_t used = strlen(ARCH) + strlen(TRAIN), per = (PRISM_BUNDLE_MAX_BYTES - used) / 198;
  char *buf = malloc(per + 200);
  memset(buf, 'a', per + 200);
  for (int i = 0; i < 198; i++) {
    char name[32];
    snprintf(name, sizeof name, "data/f%03d.txt", i);
    size_t n = i == 197 ? PRISM_BUNDLE_MAX_BYTES - used - per * 197 : per;
    zb_add_n(z, name, buf, n);
  }
  free(buf);
}
static void z_bomb_one(zb *z) { /* 3 MB of zeros, a few KB compressed */
  zb_pair(z);
  char *zeros = calloc(3000000, 1);
  zb_add_n(z, "zeros.txt", zeros, 3000000);
  free(zeros);
}
static void z_bomb_many(zb *z) { /* 150 × 20 KB of zeros: each entry small, the sum over the limit */
  zb_pair(z);
  char *zeros = calloc(20000, 1);
  for (int i = 0; i < 150; i++) {
    char name[32];
    snprintf(name, sizeof name, "z%03d.txt", i);
    zb_add_n(z, name, zeros, 20000);
  }
  free(zeros);
}
static void z_over_bytes(zb *z) {
  zb_pair(z);
  size_t n = PRISM_BUNDLE_MAX_BYTES - strlen(ARCH) - strlen(TRAIN) + 1;
  char *buf = malloc(n);
  for (size_t i = 0; i < n; i++) buf[i] = (char)('a' + (i * 7919 % 26));
  zb_add_n(z, "big.txt", buf, n);
  free(buf);
}
static void z_201_files(zb *z) {
  zb_pair(z);
  for (int i = 0; i < 199; i++) {
    char name[32];
    snprintf(name, sizeof name, "f%03d.txt", i);
    zb_add(z, name, "x");
  }
}
static void z_dotdot(zb *z) { zb_pair(z); zb_add(z, "../x.lua", "return 1\n"); }
static void z_abs(zb *z) { zb_pair(z); zb_add(z, "/abs.lua", "return 1\n"); }
static void z_dotdot_deep(zb *z) { zb_pair(z); zb_add(z, "a/../../x.lua", "return 1\n"); }
static void z_backslash_dotdot(zb *z) { zb_pair(z); zb_add(z, "..\\x.lua", "return 1\n"); }
static void z_drive(zb *z) { zb_pair(z); zb_add(z, "C:\\x.lua", "return 1\n"); }
static void z_inner_dotdot(zb *z) { zb_pair(z); zb_add(z, "a/../x.lua", "return 1\n"); }
static void z_dup_dot(zb *z) { zb_pair(z); zb_add(z, "a.lua", "return 1\n"); zb_add(z, "./a.lua", "return 2\n"); }
static void z_dup_backslash(zb *z) { zb_pair(z); zb_add(z, "sub/a.lua", "1"); zb_add(z, "sub\\a.lua", "2"); }
static void z_file_folder(zb *z) { zb_pair(z); zb_add(z, "x.lua", "1"); zb_add(z, "x.lua/y.lua", "2"); }
static void z_control(zb *z) { zb_pair(z); zb_add(z, "a\x01.lua", "1"); }
static void z_dot_only(zb *z) { zb_pair(z); zb_add(z, "./.", "1"); }
static void z_empty_name(zb *z) { zb_pair(z); zb_add(z, "", "1"); }
static void z_latin1_name(zb *z) { zb_pair(z); zb_add(z, "caf\xe9.lua", "1"); }
static void z_suffix(zb *z) { zb_pair(z); zb_add(z, "evil.exe", "MZ"); }
static void z_no_suffix(zb *z) { zb_pair(z); zb_add(z, "Makefile", "all:\n"); }
static void z_dotfile(zb *z) { zb_pair(z); zb_add(z, ".lua", "return 1\n"); }
static void z_upper_suffix(zb *z) { zb_pair(z); zb_add(z, "NOTES.MD", "# hi\n"); }
static void z_symlink(zb *z) {
  zb_pair(z);
  zip_int64_t i = zb_add(z, "link.lua", "/etc/passwd");
  zip_file_set_external_attributes(z->za, (zip_uint64_t)i, 0, ZIP_OPSYS_UNIX, (0120777u) << 16);
}
static void z_fifo(zb *z) {
  zb_pair(z);
  zip_int64_t i = zb_add(z, "pipe.txt", "");
  zip_file_set_external_attributes(z->za, (zip_uint64_t)i, 0, ZIP_OPSYS_UNIX, (0010644u) << 16);
}
static void z_encrypted(zb *z) {
  zb_pair(z);
  zip_int64_t i = zb_add(z, "secret.txt", "hidden text");
  zip_uint16_t m = zip_encryption_method_supported(ZIP_EM_AES_256, 1) ? ZIP_EM_AES_256 : ZIP_EM_TRAD_PKWARE;
  if (zip_file_set_encryption(z->za, (zip_uint64_t)i, m, "password") != 0) {
    fprintf(stderr, "zip_file_set_encryption: %s\n", zip_strerror(z->za));
    exit(2);
  }
}
static void z_encrypted_trad(zb *z) {
  zb_pair(z);
  zip_int64_t i = zb_add(z, "secret.txt", "hidden text");
  if (zip_file_set_encryption(z->za, (zip_uint64_t)i, ZIP_EM_TRAD_PKWARE, "password") != 0) {
    fprintf(stderr, "zip_file_set_encryption: %s\n", zip_strerror(z->za));
    exit(2);
  }
}
static void z_bzip2(zb *z) {
  zb_pair(z);
  zip_int64_t i = zb_add(z, "notes.txt", "compressed with bzip2, which intake does not read\n");
  zip_set_file_compression(z->za, (zip_uint64_t)i, ZIP_CM_BZIP2, 0);
}
static void z_missing_training(zb *z) { zb_add(z, "architecture.lua", ARCH); }
static void z_yaml_alias(zb *z) {
  zb_pair(z);
  zb_add(z, "prism.yaml", "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                          "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n");
}

/* Nested bombs: intake never unpacks an archive inside the bundle. A .zip member is refused by its
 * suffix; the same bytes under an allowed suffix are only their compressed size, never expanded. */
static unsigned char *build_zip(void (*build)(zb *), size_t *size);
static void z_nested_zip(zb *z) {
  zb_pair(z);
  size_t n;
  unsigned char *inner = build_zip(z_bomb_one, &n);
  zb_add_n(z, "inner.zip", inner, n);
  free(inner);
}
static void z_nested_zip_as_txt(zb *z) {
  zb_pair(z);
  size_t n;
  unsigned char *inner = build_zip(z_bomb_one, &n);
  zb_add_n(z, "inner.txt", inner, n);
  free(inner);
}

typedef struct zcase {
  const char *name, *expect;
  void (*build)(zb *);
} zcase;

static const zcase zcases[] = {
    {"ok-nested-folder", "ok", z_ok_nested},
    {"ok-exactly-at-limits", "ok", z_ok_exact_bytes},
    {"ok-inner-dotdot", "ok", z_inner_dotdot},
    {"ok-uppercase-suffix", "ok", z_upper_suffix},
    {"bomb-one-entry", "prism:bundle-size", z_bomb_one},
    {"bomb-many-entries", "prism:bundle-size", z_bomb_many},
    {"over-2000000-bytes", "prism:bundle-size", z_over_bytes},
    {"201-files", "prism:bundle-files", z_201_files},
    {"traversal-dotdot", "prism:bundle-path", z_dotdot},
    {"traversal-absolute", "prism:bundle-path", z_abs},
    {"traversal-nested-dotdot", "prism:bundle-path", z_dotdot_deep},
    {"traversal-backslash", "prism:bundle-path", z_backslash_dotdot},
    {"traversal-drive-letter", "prism:bundle-path", z_drive},
    {"duplicate-dot-slash", "prism:bundle-path", z_dup_dot},
    {"duplicate-backslash", "prism:bundle-path", z_dup_backslash},
    {"file-and-folder", "prism:bundle-path", z_file_folder},
    {"control-character-name", "prism:bundle-path", z_control},
    {"name-normalizes-to-nothing", "prism:bundle-path", z_dot_only},
    {"empty-name", "prism:bundle-path", z_empty_name},
    {"latin1-name", "prism:bundle-path", z_latin1_name},
    {"suffix-exe", "prism:bundle-suffix", z_suffix},
    {"suffix-none", "prism:bundle-suffix", z_no_suffix},
    {"suffix-dotfile", "prism:bundle-suffix", z_dotfile},
    {"symlink-entry", "prism:bundle-symlink", z_symlink},
    {"fifo-entry", "prism:bundle-symlink", z_fifo},
    {"encrypted-entry", "prism:bundle-zip", z_encrypted},
    {"encrypted-entry-pkware", "prism:bundle-zip", z_encrypted_trad},
    {"bzip2-entry", "prism:bundle-zip", z_bzip2},
    {"missing-training", "prism:contract", z_missing_training},
    {"yaml-billion-laughs", "prism:bundle-yaml", z_yaml_alias},
    {"nested-zip-bomb", "prism:bundle-suffix", z_nested_zip},
    {"ok-nested-zip-bomb-as-txt", "ok", z_nested_zip_as_txt},
};
#define N_ZCASES ((int)(sizeof zcases / sizeof *zcases))

static unsigned char *build_zip(void (*build)(zb *), size_t *size) {
  zb z;
  zb_open(&z);
  build(&z);
  return zb_close(&z, size);
}

#endif
