/* test_safetensors.c — the strict safetensors reader/writer (runtime/safetensors.c): round trips
 * from views, 0-d and zero-size tensors; byte-exact files against what the Python `safetensors`
 * library writes; the library's own test vectors read back; every malformed-file rejection with
 * the message a miner sees; strict load_into; the writer's symlink refusal, quota and atomicity;
 * and a mutation/truncation sweep that must never crash (run it under ASan/UBSan).
 *
 * Expected bytes: python3-safetensors is not in Debian 12 and torch 1.13 has no safetensors, so
 * the expected files are derived by hand from the library's serializer (safetensors/src/tensor.rs,
 * `prepare` + `Metadata::serialize`): 8-byte LE header length; serde_json compact JSON with
 * "__metadata__" first, then the tensors as {"dtype","shape","data_offsets"}; header padded with
 * spaces to a multiple of 8; raw LE data. The library sorts tensors by dtype (descending
 * alignment: I64 > F32 > I32) then by name; the cases below are given in that order, so the Python
 * writer and ours must agree byte for byte. The two no-metadata files are copied verbatim from the
 * library's unit tests (test_serialization, test_serialization_forced_alignement). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "safetensors.h"
#include "tensor.h"

#include "check.h"

static char dir_path[64];
static int dir_fd = -1;

static unsigned char *read_whole(const char *name, size_t *size) {
  int fd = openat(dir_fd, name, O_RDONLY);
  if (fd < 0) return NULL;
  struct stat st;
  fstat(fd, &st);
  unsigned char *buf = malloc((size_t)st.st_size + 1);
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);
    if (k <= 0) break;
    got += (size_t)k;
  }
  close(fd);
  *size = got;
  return buf;
}

static void write_whole(const char *name, const void *data, size_t n) {
  int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  if (write(fd, data, n) != (ssize_t)n) perror("write");
  close(fd);
}

static int count_dir_entries(void) {
  DIR *d = opendir(dir_path);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  if (d) closedir(d);
  return n;
}

static prism_tensor *from_f32(int ndim, const int64_t *shape, const float *v) {
  return prism_tensor_from_host(PRISM_FLOAT32, PRISM_CPU, ndim, shape, v);
}

/* Element-wise equality in logical order, through doubles (exact for our F32/I32 and the I64s
 * used here, all below 2^53). */
static int same_values(const prism_tensor *a, const prism_tensor *b) {
  if (!a || !b || a->dtype != b->dtype || !prism_shape_equal(a, b)) return 0;
  int64_t n = prism_tensor_numel(a);
  double *x = malloc((size_t)(n ? n : 1) * sizeof *x), *y = malloc((size_t)(n ? n : 1) * sizeof *y);
  int ok = prism_tensor_to_host_f64(a, x) == 0 && prism_tensor_to_host_f64(b, y) == 0;
  for (int64_t i = 0; ok && i < n; i++) ok = x[i] == y[i];
  free(x);
  free(y);
  return ok;
}

/* ------------------------------------------------------------------ round trip */

static void test_round_trip(void) {
  char err[512] = "", name[128];
  float v12[12];
  for (int i = 0; i < 12; i++) v12[i] = (float)i * 0.25f - 1.0f;
  int64_t s34[] = {3, 4}, s14[] = {1, 4}, s10[] = {10}, s05[] = {0, 5};
  prism_tensor *base = from_f32(2, s34, v12);
  prism_tensor *tr = prism_tensor_transpose_raw(base, 0, 1); /* [4,3], non-contiguous */
  int64_t i64v[10] = {-5, 0, 1, 2, 3, (int64_t)1 << 40, 6, 7, 8, -((int64_t)1 << 50)};
  prism_tensor *ibase = prism_tensor_from_host(PRISM_INT64, PRISM_CPU, 1, s10, i64v);
  prism_tensor *nar = prism_tensor_narrow_raw(ibase, 0, 3, 6); /* offset view */
  int32_t i32v = -123456;
  prism_tensor *scalar = prism_tensor_from_host(PRISM_INT32, PRISM_CPU, 0, NULL, &i32v);
  prism_tensor *empty = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 2, s05);
  prism_tensor *row = from_f32(2, s14, v12);
  prism_tensor *exp = prism_tensor_expand_raw(row, 2, s34); /* stride-0 view */
  prism_st_entry e[] = {{"w.transposed", tr}, {"idx.narrow", nar}, {"scalar", scalar}, {"empty", empty},
                        {"expanded", exp}};
  int64_t wrote = -1;
  int rc = prism_safetensors_write_at(dir_fd, "rt.safetensors", e, 5, -1, &wrote, err, sizeof err);
  check(rc == PRISM_ST_OK, "round trip: write from views", err);
  size_t sz = 0;
  unsigned char *raw = read_whole("rt.safetensors", &sz);
  snprintf(name, sizeof name, "wrote %lld, file %zu", (long long)wrote, sz);
  check(raw && (int64_t)sz == wrote, "round trip: bytes_written is the file size", name);
  uint64_t hlen = 0;
  for (int i = 0; raw && i < 8; i++) hlen |= (uint64_t)raw[i] << (8 * i);
  check(hlen % 8 == 0, "round trip: header padded to 8 bytes", "");
  /* header keys in the given order, offsets increasing in that order */
  const char *order[] = {"\"w.transposed\"", "\"idx.narrow\"", "\"scalar\"", "\"empty\"", "\"expanded\""};
  const char *prev = NULL;
  int ordered = raw != NULL;
  char *hdr = raw ? strndup((char *)raw + 8, hlen) : NULL;
  for (int i = 0; hdr && i < 5; i++) {
    const char *p = strstr(hdr, order[i]);
    ordered = ordered && p && (!prev || p > prev);
    prev = p;
  }
  check(ordered, "round trip: header keys in the given order", "");
  check(hdr && strstr(hdr, "\"w.transposed\":{\"dtype\":\"F32\",\"shape\":[4,3],\"data_offsets\":[0,48]}") &&
            strstr(hdr, "\"idx.narrow\":{\"dtype\":\"I64\",\"shape\":[6],\"data_offsets\":[48,96]}") &&
            strstr(hdr, "\"scalar\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[96,100]}") &&
            strstr(hdr, "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[100,100]}") &&
            strstr(hdr, "\"expanded\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[100,148]}"),
        "round trip: shapes and increasing offsets in the header", hdr ? hdr : "");
  free(hdr);
  free(raw);

  prism_st_file *f = prism_safetensors_open_at(dir_fd, "rt.safetensors", err, sizeof err);
  check(f != NULL, "round trip: open", err);
  if (!f) goto out;
  check(prism_safetensors_count(f) == 5, "round trip: count", "");
  int names_ok = 1;
  for (int i = 0; i < 5; i++) names_ok = names_ok && !strcmp(prism_safetensors_name(f, i), e[i].name);
  check(names_ok && prism_safetensors_name(f, 5) == NULL && prism_safetensors_name(f, -1) == NULL,
        "round trip: names in header order", "");
  prism_dtype dt;
  int64_t shp[PRISM_MAX_DIMS];
  check(prism_safetensors_info(f, "scalar", &dt, shp) == 0 && dt == PRISM_INT32 &&
            prism_safetensors_info(f, "empty", &dt, shp) == 2 && shp[0] == 0 && shp[1] == 5 &&
            prism_safetensors_info(f, "nope", NULL, NULL) == -1,
        "round trip: info", "");
  for (int i = 0; i < 5; i++) {
    prism_tensor *t = prism_safetensors_load(f, e[i].name, err, sizeof err);
    snprintf(name, sizeof name, "round trip: '%s' values, dtype and shape", e[i].name);
    check(t && same_values(t, e[i].tensor) && prism_tensor_is_contiguous(t) && t->storage->device == PRISM_CPU, name,
          t ? "" : err);
    prism_tensor_release(t);
  }
  prism_tensor *none = prism_safetensors_load(f, "missing", err, sizeof err);
  check(!none && strstr(err, "no tensor named 'missing'"), "load of an absent name fails clearly", err);
  prism_safetensors_close(f);
out:
  prism_tensor_release(base);
  prism_tensor_release(tr);
  prism_tensor_release(ibase);
  prism_tensor_release(nar);
  prism_tensor_release(scalar);
  prism_tensor_release(empty);
  prism_tensor_release(row);
  prism_tensor_release(exp);
}

/* ------------------------------------------------------------------ exact bytes */

static size_t build_file(unsigned char *out, const char *hdr, const void *data, size_t dlen) {
  size_t h = strlen(hdr);
  for (int i = 0; i < 8; i++) out[i] = (unsigned char)((uint64_t)h >> (8 * i));
  memcpy(out + 8, hdr, h);
  if (dlen) memcpy(out + 8 + h, data, dlen);
  return 8 + h + dlen;
}

static void check_file_bytes(const char *file, const unsigned char *want, size_t wlen, const char *what) {
  size_t sz = 0;
  unsigned char *got = read_whole(file, &sz);
  char detail[160] = "";
  size_t first = 0;
  while (got && first < sz && first < wlen && got[first] == want[first]) first++;
  if (!got || sz != wlen || first != wlen)
    snprintf(detail, sizeof detail, "size %zu vs %zu, first difference at byte %zu", sz, wlen, first);
  check(got && sz == wlen && memcmp(got, want, wlen) == 0, what, detail);
  free(got);
}

static void test_exact_bytes(void) {
  char err[512] = "";
  unsigned char want[512];
  /* 1. The library's test_serialization tensor, with {"format":"pt"} metadata: 95 header bytes,
   * one space of padding. */
  static const char hdr1[] = "{\"__metadata__\":{\"format\":\"pt\"},\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],"
                             "\"data_offsets\":[0,24]}} ";
  float d1[6] = {0, 1, 2, 3, 4, 5};
  size_t w1 = build_file(want, hdr1, d1, sizeof d1);
  check(strlen(hdr1) == 96 && want[0] == 96, "exact bytes: hand-derived header is 96 bytes", "");
  int64_t s123[] = {1, 2, 3};
  prism_tensor *t1 = from_f32(3, s123, d1);
  prism_st_entry e1[] = {{"attn.0", t1}};
  int rc = prism_safetensors_write_at(dir_fd, "exact1.safetensors", e1, 1, -1, NULL, err, sizeof err);
  check(rc == 0, "exact bytes: write attn.0", err);
  check_file_bytes("exact1.safetensors", want, w1, "exact bytes: attn.0 F32 [1,2,3] as Python writes it");

  /* 2. Mixed dtypes, a 0-d and a zero-size tensor, in the library's own order (I64, F32, I32). */
  static const char hdr2[] = "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"I64\",\"shape\":[2],"
                             "\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[16,20]},"
                             "\"c\":{\"dtype\":\"I32\",\"shape\":[0,2],\"data_offsets\":[20,20]}}   ";
  unsigned char d2[20];
  int64_t av[2] = {-1, (int64_t)1 << 40};
  float bv = 1.5f;
  memcpy(d2, av, 16);
  memcpy(d2 + 16, &bv, 4);
  size_t w2 = build_file(want, hdr2, d2, sizeof d2);
  int64_t s2[] = {2}, s02[] = {0, 2};
  prism_tensor *a = prism_tensor_from_host(PRISM_INT64, PRISM_CPU, 1, s2, av);
  prism_tensor *b = from_f32(0, NULL, &bv);
  prism_tensor *c = prism_tensor_zeros(PRISM_INT32, PRISM_CPU, 2, s02);
  prism_st_entry e2[] = {{"a", a}, {"b", b}, {"c", c}};
  rc = prism_safetensors_write_at(dir_fd, "exact2.safetensors", e2, 3, -1, NULL, err, sizeof err);
  check(rc == 0 && strlen(hdr2) == 200, "exact bytes: write I64/F32 0-d/I32 zero-size", err);
  check_file_bytes("exact2.safetensors", want, w2, "exact bytes: mixed dtypes as Python writes them");

  /* 3. Names escaped as serde_json does: \" \\ \n verbatim UTF-8, \u0001 lowercase. */
  const char *odd = "q\"\\\n\xc3\xa9\x01";
  static const char hdr3[] = "{\"__metadata__\":{\"format\":\"pt\"},\"q\\\"\\\\\\n\xc3\xa9\\u0001\":{\"dtype\":\"F32\","
                             "\"shape\":[],\"data_offsets\":[0,4]}}      ";
  size_t w3 = build_file(want, hdr3, &bv, 4);
  prism_st_entry e3[] = {{odd, b}};
  rc = prism_safetensors_write_at(dir_fd, "exact3.safetensors", e3, 1, -1, NULL, err, sizeof err);
  check(rc == 0 && strlen(hdr3) == 104, "exact bytes: write an escaped name (98 + 6 spaces)", err);
  check_file_bytes("exact3.safetensors", want, w3, "exact bytes: name escaping matches serde_json");
  prism_st_file *f = prism_safetensors_open_at(dir_fd, "exact3.safetensors", err, sizeof err);
  check(f && !strcmp(prism_safetensors_name(f, 0), odd), "exact bytes: escaped name reads back", err);
  prism_safetensors_close(f);

  /* 4. The library's own vectors (no metadata; the second padded with 7 spaces) read back. */
  static const unsigned char lib1[] = {
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34,
      70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97,
      95, 111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63, 0,
      0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64};
  static const unsigned char lib2[] = {
      72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34,
      70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97,
      116, 97, 95, 111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
      32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64};
  static const unsigned char lib_empty[] = {8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32};
  prism_st_file *g1 = prism_safetensors_parse(lib1, sizeof lib1, err, sizeof err);
  prism_tensor *l1 = g1 ? prism_safetensors_load(g1, "attn.0", err, sizeof err) : NULL;
  check(l1 && same_values(l1, t1), "library vector test_serialization reads back", err);
  prism_st_file *g2 = prism_safetensors_parse(lib2, sizeof lib2, err, sizeof err);
  prism_tensor *l2 = g2 ? prism_safetensors_load(g2, "attn0", err, sizeof err) : NULL;
  check(l2 && l2->ndim == 4 && l2->shape[0] == 1 && l2->shape[3] == 3, "library vector forced_alignement reads back",
        err);
  prism_st_file *g3 = prism_safetensors_parse(lib_empty, sizeof lib_empty, err, sizeof err);
  check(g3 && prism_safetensors_count(g3) == 0, "library vector test_empty reads back", err);
  prism_safetensors_close(g1);
  prism_safetensors_close(g2);
  prism_safetensors_close(g3);
  prism_tensor_release(l1);
  prism_tensor_release(l2);
  prism_tensor_release(t1);
  prism_tensor_release(a);
  prism_tensor_release(b);
  prism_tensor_release(c);
}

/* ------------------------------------------------------------------ malformed files */

static unsigned char filebuf[1 << 16];

/* A file with the given header (its real length unless hlen_override != UINT64_MAX) and dlen data
 * bytes (0x11 each). */
static size_t mk(const char *hdr, size_t dlen, uint64_t hlen_override) {
  size_t h = strlen(hdr);
  uint64_t n = hlen_override == UINT64_MAX ? h : hlen_override;
  for (int i = 0; i < 8; i++) filebuf[i] = (unsigned char)(n >> (8 * i));
  memcpy(filebuf + 8, hdr, h);
  memset(filebuf + 8 + h, 0x11, dlen);
  return 8 + h + dlen;
}

static void expect_reject(const char *what, const char *hdr, size_t dlen, uint64_t hlen, const char *needle) {
  char err[512] = "", name[128];
  size_t n = mk(hdr, dlen, hlen);
  prism_st_file *f = prism_safetensors_parse(filebuf, n, err, sizeof err);
  snprintf(name, sizeof name, "reject: %s", what);
  check(f == NULL && strstr(err, needle) != NULL, name, err);
  prism_safetensors_close(f);
}

static void expect_accept(const char *what, const char *hdr, size_t dlen) {
  char err[512] = "", name[128];
  size_t n = mk(hdr, dlen, UINT64_MAX);
  prism_st_file *f = prism_safetensors_parse(filebuf, n, err, sizeof err);
  snprintf(name, sizeof name, "accept: %s", what);
  check(f != NULL, name, err);
  prism_safetensors_close(f);
}

#define T(name, dt, shape, b, e) "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" b "," e "]}"

static void test_rejections(void) {
  const uint64_t R = UINT64_MAX;
  char err[256];
  check(prism_safetensors_parse("\x02\0\0", 3, err, sizeof err) == NULL && strstr(err, "shorter than the 8-byte"),
        "reject: file shorter than 8 bytes", err);
  expect_reject("header length past EOF", "{}", 0, 3, "runs past the end of the file");
  expect_reject("huge header length (2^63)", "{}", 0, (uint64_t)1 << 63, "exceeds the 100000000-byte limit");
  expect_reject("header length just over the cap", "{}", 0, 100000001, "exceeds the 100000000-byte limit");
  expect_reject("header not JSON", "{\"a\":", 0, R, "header is not valid JSON");
  expect_reject("header with trailing garbage", "{} x", 0, R, "header is not valid JSON");
  expect_reject("header not starting with '{'", " {}", 0, R, "does not start with '{'");
  expect_reject("header an array", "[]", 0, R, "does not start with '{'");
  expect_reject("wrong dtype string F16", "{" T("w", "F16", "[2]", "0", "4") "}", 4, R,
                "tensor 'w': dtype \"F16\" is not supported");
  expect_reject("lowercase dtype", "{" T("w", "f32", "[1]", "0", "4") "}", 4, R, "dtype \"f32\" is not supported");
  expect_reject("shape/offset mismatch", "{" T("w", "F32", "[2,3]", "0", "20") "}", 20, R,
                "span 20 bytes, but F32 [2, 3] needs 24");
  expect_reject("overlapping offsets",
                "{" T("a", "F32", "[2]", "0", "8") "," T("b", "F32", "[2]", "4", "12") "}", 12, R,
                "tensors 'a' and 'b' overlap");
  expect_reject("gap between tensors",
                "{" T("a", "F32", "[1]", "0", "4") "," T("b", "F32", "[1]", "8", "12") "}", 12, R,
                "gap of 4 bytes in the data section before tensor 'b'");
  expect_reject("gap at the start", "{" T("a", "F32", "[1]", "4", "8") "}", 8, R, "gap of 4 bytes");
  expect_reject("trailing bytes", "{" T("a", "F32", "[1]", "0", "4") "}", 5, R, "1 trailing bytes after the last tensor");
  expect_reject("data but no tensors", "{}", 3, R, "3 trailing bytes");
  expect_reject("offsets past the data section", "{" T("a", "F32", "[2]", "0", "8") "}", 4, R,
                "run past the data section (4 bytes)");
  expect_reject("duplicate names", "{" T("a", "F32", "[1]", "0", "4") "," T("a", "F32", "[1]", "4", "8") "}", 8, R,
                "duplicate");
  expect_reject("negative dimension", "{" T("a", "F32", "[-1]", "0", "0") "}", 0, R,
                "shape entry 1 is not a non-negative integer");
  expect_reject("non-integer dimension", "{" T("a", "F32", "[2.0]", "0", "8") "}", 8, R,
                "shape entry 1 is not a non-negative integer");
  expect_reject("overflowing shape", "{" T("a", "F32", "[4294967296,4294967296,0]", "0", "0") "}", 0, R,
                "shape overflows");
  expect_reject("shape overflowing in bytes", "{" T("a", "I64", "[2305843009213693952]", "0", "0") "}", 0, R,
                "shape overflows (byte size");
  expect_reject("dimension beyond int64", "{" T("a", "F32", "[18446744073709551616]", "0", "0") "}", 0, R,
                "not a non-negative integer");
  expect_reject("too many dimensions", "{" T("a", "F32", "[1,1,1,1,1,1,1,1,1]", "0", "4") "}", 4, R,
                "9 dimensions, at most 8");
  expect_reject("negative offset", "{" T("a", "F32", "[0]", "-4", "-4") "}", 0, R,
                "data_offsets entry 1 is not a non-negative integer");
  expect_reject("offsets reversed", "{" T("a", "F32", "[0]", "8", "4") "}", 8, R, "end before they begin");
  expect_reject("offsets not a pair",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4, R, "not a [begin, end] pair");
  expect_reject("missing field", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, R, "missing field \"data_offsets\"");
  expect_reject("unknown field",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"offsets\":[0,4]}}", 4, R,
                "unknown field \"offsets\"");
  expect_reject("tensor entry not an object", "{\"a\":[1]}", 0, R, "tensor 'a': entry is not an object");
  expect_reject("empty tensor name", "{" T("", "F32", "[1]", "0", "4") "}", 4, R, "empty name");
  expect_reject("escaped NUL in a name", "{" T("a\\u0000b", "F32", "[1]", "0", "4") "}", 4, R, "escaped NUL");
  expect_reject("metadata value not a string", "{\"__metadata__\":{\"format\":1}}", 0, R,
                "value for \"format\" is not a string");
  expect_reject("metadata not an object", "{\"__metadata__\":\"pt\"}", 0, R, "\"__metadata__\" is not an object");
  expect_reject("invalid UTF-8 in the header", "{\"\xff\":{}}", 0, R, "header is not valid JSON");

  expect_accept("escaped backslash before u0000 is not a NUL", "{" T("a\\\\u0000", "F32", "[1]", "0", "4") "}", 4);
  expect_accept("entries listed out of offset order",
                "{" T("b", "F32", "[1]", "4", "8") "," T("a", "I32", "[1]", "0", "4") "}", 8);
  expect_accept("several zero-size tensors at one offset",
                "{" T("a", "F32", "[0]", "0", "0") "," T("b", "I64", "[3,0]", "0", "0") "," T("c", "F32", "[1]", "0", "4")
                "}",
                4);
  expect_accept("empty header object", "{}", 0);
}

/* ------------------------------------------------------------------ load_into */

static void test_load_into(void) {
  char err[512] = "";
  float wv[6] = {1, 2, 3, 4, 5, 6}, bv[3] = {7, 8, 9};
  int64_t s23[] = {2, 3}, s3[] = {3}, s32[] = {3, 2};
  prism_tensor *w = from_f32(2, s23, wv), *b = from_f32(1, s3, bv);
  prism_st_entry e[] = {{"layer.w", w}, {"layer.b", b}};
  int rc = prism_safetensors_write_at(dir_fd, "state.safetensors", e, 2, -1, NULL, err, sizeof err);
  prism_st_file *f = prism_safetensors_open_at(dir_fd, "state.safetensors", err, sizeof err);
  check(rc == 0 && f, "load_into: fixture written and opened", err);
  if (!f) return;

  prism_tensor *pw = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 2, s23);
  prism_tensor *pb_store = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 2, s23);
  prism_tensor *pb = prism_tensor_narrow_raw(pb_store, 0, 1, 1); /* [1,3] view, offset 3 */
  int64_t s3v[] = {3};
  prism_tensor *pb3 = prism_tensor_view_raw(pb, 1, s3v);
  prism_tensor *pw_t_store = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 2, s32);
  prism_tensor *pw_t = prism_tensor_transpose_raw(pw_t_store, 0, 1); /* [2,3], non-contiguous */
  uint32_t v0 = pw->storage->version;

  prism_st_target ok[] = {{"layer.b", pb3}, {"layer.w", pw}};
  rc = prism_safetensors_load_into(f, ok, 2, err, sizeof err);
  check(rc == 0 && same_values(pw, w) && same_values(pb3, b), "load_into: values copied (order-free, into a view)", err);
  double row0[3];
  prism_tensor *r0 = prism_tensor_narrow_raw(pb_store, 0, 0, 1);
  prism_tensor_to_host_f64(r0, row0);
  check(row0[0] == 0 && row0[1] == 0 && row0[2] == 0, "load_into: bytes outside the view untouched", "");
  check(pw->storage->version != v0, "load_into: version bumped", "");
  prism_st_target tt[] = {{"layer.w", pw_t}, {"layer.b", pb3}};
  rc = prism_safetensors_load_into(f, tt, 2, err, sizeof err);
  check(rc == 0 && same_values(pw_t, w), "load_into: into a non-contiguous target", err);

  prism_tensor *fresh = prism_tensor_full(PRISM_FLOAT32, PRISM_CPU, 2, s23, 42.0);
  prism_tensor *fresh_b = prism_tensor_full(PRISM_FLOAT32, PRISM_CPU, 1, s3, 42.0);
  prism_tensor *wrong_shape = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 2, s32);
  prism_tensor *wrong_dtype = prism_tensor_zeros(PRISM_INT32, PRISM_CPU, 1, s3);
  prism_tensor *extra = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 1, s3);
  struct {
    const char *what;
    prism_st_target t[3];
    int n;
    const char *needle;
  } bad[] = {
      {"missing key", {{"layer.w", fresh}, {"layer.b", fresh_b}, {"layer.gain", extra}}, 3,
       "the model's tensor 'layer.gain' (F32 [3]) is missing from the file (1 missing in all)"},
      {"extra key in the file", {{"layer.w", fresh}}, 1,
       "the file holds tensor 'layer.b' that the model does not have (1 unexpected in all)"},
      {"shape mismatch", {{"layer.w", wrong_shape}, {"layer.b", fresh_b}}, 2,
       "tensor 'layer.w' has shape [2, 3] in the file but [3, 2] in the model"},
      {"dtype mismatch", {{"layer.w", fresh}, {"layer.b", wrong_dtype}}, 2,
       "tensor 'layer.b' is F32 in the file but I32 in the model"},
      {"duplicate target names", {{"layer.w", fresh}, {"layer.w", fresh}}, 2, "names two parameters 'layer.w'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char name[128];
    err[0] = '\0';
    rc = prism_safetensors_load_into(f, bad[i].t, bad[i].n, err, sizeof err);
    double fv[6];
    prism_tensor_to_host_f64(fresh, fv);
    snprintf(name, sizeof name, "load_into rejects: %s (targets untouched)", bad[i].what);
    check(rc == PRISM_ST_ERR && strstr(err, bad[i].needle) && strstr(err, "state.safetensors: ") == err &&
              fv[0] == 42.0,
          name, err);
  }
  prism_safetensors_close(f);
  prism_tensor *all[] = {w, b, pw, pb_store, pb, pb3, pw_t_store, pw_t, r0, fresh, fresh_b, wrong_shape,
                         wrong_dtype, extra};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) prism_tensor_release(all[i]);
}

/* ------------------------------------------------------------------ writer safety */

static void test_writer_safety(void) {
  char err[512] = "";
  float v[4] = {1, 2, 3, 4};
  int64_t s4[] = {4};
  prism_tensor *t = from_f32(1, s4, v);
  prism_st_entry e[] = {{"t", t}};
  /* size of this file: 8 + padded header + 16 */
  int64_t size = -1;
  int rc = prism_safetensors_write_at(dir_fd, "probe.safetensors", e, 1, -1, &size, err, sizeof err);
  check(rc == 0 && size > 24, "writer: probe size", err);

  write_whole("victim", "precious", 8);
  if (symlinkat("victim", dir_fd, "link.safetensors") != 0) perror("symlinkat");
  int before = count_dir_entries();
  err[0] = '\0';
  rc = prism_safetensors_write_at(dir_fd, "link.safetensors", e, 1, -1, NULL, err, sizeof err);
  size_t vs = 0;
  unsigned char *vb = read_whole("victim", &vs);
  struct stat st;
  int still_link = fstatat(dir_fd, "link.safetensors", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
  check(rc == PRISM_ST_ERR && strstr(err, "refusing to replace a symlink") && vb && vs == 8 &&
            !memcmp(vb, "precious", 8) && still_link && count_dir_entries() == before,
        "writer: refuses a symlink at the target name, target untouched", err);
  free(vb);
  prism_st_file *lf = prism_safetensors_open_at(dir_fd, "link.safetensors", err, sizeof err);
  check(!lf && strstr(err, "symlink"), "reader: refuses to open a symlink", err);
  if (mkdirat(dir_fd, "adir.safetensors", 0755) != 0) perror("mkdirat");
  err[0] = '\0';
  rc = prism_safetensors_write_at(dir_fd, "adir.safetensors", e, 1, -1, NULL, err, sizeof err);
  check(rc == PRISM_ST_ERR && strstr(err, "non-regular file"), "writer: refuses a directory at the target name", err);

  /* quota: exactly the size passes, one byte less fails before creating anything */
  before = count_dir_entries();
  err[0] = '\0';
  rc = prism_safetensors_write_at(dir_fd, "quota.safetensors", e, 1, size - 1, NULL, err, sizeof err);
  check(rc == PRISM_ST_QUOTA && strstr(err, "over the") && count_dir_entries() == before,
        "writer: max_bytes one short fails, nothing left behind", err);
  write_whole("quota.safetensors", "old", 3);
  err[0] = '\0';
  rc = prism_safetensors_write_at(dir_fd, "quota.safetensors", e, 1, 0, NULL, err, sizeof err);
  size_t qs = 0;
  unsigned char *qb = read_whole("quota.safetensors", &qs);
  check(rc == PRISM_ST_QUOTA && qb && qs == 3 && !memcmp(qb, "old", 3), "writer: quota failure keeps the old file", err);
  free(qb);
  int64_t got = -1;
  before = count_dir_entries();
  err[0] = '\0';
  rc = prism_safetensors_write_at(dir_fd, "quota.safetensors", e, 1, size, &got, err, sizeof err);
  check(rc == PRISM_ST_OK && got == size && count_dir_entries() == before,
        "writer: max_bytes == size passes, replaces atomically, no temp left", err);

  prism_st_entry dup[] = {{"t", t}, {"t", t}};
  err[0] = '\0';
  rc = prism_safetensors_write_at(dir_fd, "dup.safetensors", dup, 2, -1, NULL, err, sizeof err);
  check(rc == PRISM_ST_ERR && strstr(err, "'t' appears twice"), "writer: duplicate names refused", err);
  prism_st_entry meta[] = {{"__metadata__", t}};
  err[0] = '\0';
  rc = prism_safetensors_write_at(dir_fd, "meta.safetensors", meta, 1, -1, NULL, err, sizeof err);
  check(rc == PRISM_ST_ERR && strstr(err, "reserved"), "writer: \"__metadata__\" as a name refused", err);
  prism_st_entry empty_name[] = {{"", t}};
  err[0] = '\0';
  rc = prism_safetensors_write_at(dir_fd, "e.safetensors", empty_name, 1, -1, NULL, err, sizeof err);
  check(rc == PRISM_ST_ERR && strstr(err, "empty tensor name"), "writer: empty name refused", err);
  prism_st_entry bad_utf8[] = {{"\xc3(", t}};
  err[0] = '\0';
  rc = prism_safetensors_write_at(dir_fd, "u.safetensors", bad_utf8, 1, -1, NULL, err, sizeof err);
  check(rc == PRISM_ST_ERR && strstr(err, "not valid UTF-8"), "writer: invalid UTF-8 name refused", err);
  err[0] = '\0';
  rc = prism_safetensors_write_at(dir_fd, "../escape.safetensors", e, 1, -1, NULL, err, sizeof err);
  check(rc == PRISM_ST_ERR && strstr(err, "not a bare file name"), "writer: path with '/' refused", err);
  err[0] = '\0';
  rc = prism_safetensors_write_at(dir_fd, "none.safetensors", NULL, 0, -1, &got, err, sizeof err);
  prism_st_file *f0 = rc == 0 ? prism_safetensors_open_at(dir_fd, "none.safetensors", err, sizeof err) : NULL;
  check(f0 && prism_safetensors_count(f0) == 0 && got == 40, "writer: zero tensors gives a valid 40-byte file", err);
  prism_safetensors_close(f0);

  /* the data stays on disk until loaded: a file cut short after open is an error, not garbage */
  prism_st_file *fc = prism_safetensors_open_at(dir_fd, "probe.safetensors", err, sizeof err);
  int tfd = openat(dir_fd, "probe.safetensors", O_WRONLY);
  int cut = tfd >= 0 && ftruncate(tfd, size - 4) == 0;
  if (tfd >= 0) close(tfd);
  err[0] = '\0';
  prism_tensor *lt = fc && cut ? prism_safetensors_load(fc, "t", err, sizeof err) : NULL;
  check(fc && cut && !lt && strstr(err, "tensor 't': file ended early"), "reader: file shrunk after open fails cleanly",
        err);
  prism_tensor_release(lt);
  prism_safetensors_close(fc);
  prism_tensor_release(t);
}

/* ------------------------------------------------------------------ robustness sweep */

static void test_mutations(void) {
  char err[512];
  size_t n = 0;
  unsigned char *good = read_whole("rt.safetensors", &n);
  if (!good) {
    check(0, "mutation sweep: fixture", "rt.safetensors missing");
    return;
  }
  int accepted = 0, cases = 0;
  for (size_t cut = 0; cut < n; cut++, cases++) { /* every truncation is rejected */
    prism_st_file *f = prism_safetensors_parse(good, cut, err, sizeof err);
    if (f) accepted++;
    prism_safetensors_close(f);
  }
  check(accepted == 0, "mutation sweep: every truncation rejected", "");
  unsigned char *m = malloc(n);
  uint64_t s = 0x9e3779b97f4a7c15ULL;
  int loads = 0, listed = 0, survivors = 0;
  for (int it = 0; it < 20000; it++, cases++) {
    memcpy(m, good, n);
    int flips = 1 + (int)(it % 4);
    for (int k = 0; k < flips; k++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      size_t pos = (size_t)(s % (it % 2 ? 200 : n)); /* half the flips aim at the header */
      m[pos] = (unsigned char)(s >> 32);
    }
    prism_st_file *f = prism_safetensors_parse(m, n, err, sizeof err);
    survivors += f != NULL;
    listed += prism_safetensors_count(f);
    for (int i = 0; f && i < prism_safetensors_count(f); i++) {
      prism_tensor *t = prism_safetensors_load(f, prism_safetensors_name(f, i), err, sizeof err);
      loads += t != NULL;
      prism_tensor_release(t);
    }
    prism_safetensors_close(f);
  }
  char detail[96];
  snprintf(detail, sizeof detail, "%d cases, %d survivors, %d of %d listed tensors loaded", cases, survivors, loads,
           listed);
  /* a file that validates must load every tensor it lists (reaching here also means no crash) */
  check(survivors > 0 && loads == listed, "mutation sweep: survivors of mutation load every listed tensor", detail);
  free(m);
  free(good);
}

static void cleanup_dir(void) {
  DIR *d = opendir(dir_path);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (unlinkat(dir_fd, e->d_name, 0) != 0) unlinkat(dir_fd, e->d_name, AT_REMOVEDIR);
  }
  if (d) closedir(d);
  close(dir_fd);
  rmdir(dir_path);
}

int main(void) {
  snprintf(dir_path, sizeof dir_path, "/tmp/prism-st-test-XXXXXX");
  if (!mkdtemp(dir_path) || (dir_fd = open(dir_path, O_RDONLY | O_DIRECTORY)) < 0) {
    perror("mkdtemp");
    return 1;
  }
  size_t tensors0 = prism_mem_live_tensors();
  test_round_trip();
  test_exact_bytes();
  test_rejections();
  test_load_into();
  test_writer_safety();
  test_mutations();
  char detail[64];
  snprintf(detail, sizeof detail, "%zu live, %zu at start", prism_mem_live_tensors(), tensors0);
  check(prism_mem_live_tensors() == tensors0, "no tensor leaked", detail);
  cleanup_dir();
  return check_summary();
}
