/* test_gpt2.c — the GPT-2 tokenizer (runtime/tokenizer/gpt2*.c).
 * Always (no files needed): the pre-tokenizer's splits — contractions (case-sensitive, ASCII '),
 * letters/digits/punctuation runs with the optional leading space, the `\s+(?!\S)` give-back of
 * whitespace runs, Unicode letters/numbers/spaces from the generated tables, invalid UTF-8.
 * With the staged ranks (env PRISM_REFERENCE_TOKENIZER_DIR, else the build default; otherwise
 * those checks print "skipped: ..."): the data-sources.md vectors and decoded ids, the fixture
 * count (41,210 tokens) and round trips (every line, random byte strings), `<|endoftext|>` as
 * ordinary text, heap vs linear merge loops giving identical ids, id range and load errors. */
#include "../../runtime/tokenizer/gpt2.h"
#include "../../runtime/tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_NAME_WIDTH 70
#include "check.h"

/* Splits s with the pre-tokenizer, joining pieces with '|' into out. */
static void split(const char *s, size_t len, char *out, size_t cap) {
  size_t pos = 0, o = 0;
  out[0] = '\0';
  while (pos < len) {
    size_t n = prism_gpt2_pretok_next(s, len, pos);
    if (n == 0 || pos + n > len) { snprintf(out, cap, "BAD LENGTH %zu at %zu", n, pos); return; }
    if (pos && o + 1 < cap) out[o++] = '|';
    for (size_t i = 0; i < n && o + 1 < cap; i++) out[o++] = s[pos + i];
    out[o] = '\0';
    pos += n;
  }
}

static void check_split(const char *name, const char *s, size_t len, const char *want) {
  char got[512], detail[600];
  split(s, len, got, sizeof got);
  int ok = strcmp(got, want) == 0;
  snprintf(detail, sizeof detail, "got [%s]", got);
  check(ok, name, ok ? "" : detail);
}
#define SPLIT(name, s, want) check_split(name, s, sizeof(s) - 1, want)

static void test_pretok(void) {
  SPLIT("pretok: Hello world", "Hello world", "Hello| world");
  SPLIT("pretok: I'm   here\\n\\nok (whitespace give-back)", "I'm   here\n\nok", "I|'m|  | here|\n|\n|ok");
  SPLIT("pretok: contractions 's 't 're 've 'm 'll 'd", "it's don't we're I've I'm we'll he'd",
        "it|'s| don|'t| we|'re| I|'ve| I|'m| we|'ll| he|'d");
  SPLIT("pretok: contractions are case-sensitive", "DON'T", "DON|'|T");
  SPLIT("pretok: chained contractions", "we'll've'", "we|'ll|'ve|'");
  SPLIT("pretok: apostrophe runs are punctuation", "'''s x's", "'''|s| x|'s");
  SPLIT("pretok: right single quote is not a contraction", "don\xe2\x80\x99t", "don|\xe2\x80\x99|t");
  SPLIT("pretok: digits split from letters, space joins digits", "abc123 456 7x", "abc|123| 456| 7|x");
  SPLIT("pretok: punctuation runs", "Hello!!! ... (x)", "Hello|!!!| ...| (|x|)");
  SPLIT("pretok: unicode letters (é, 日本語)", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e!",
        "caf\xc3\xa9| \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e|!");
  SPLIT("pretok: unicode numbers (superscript two, roman numeral)", "x\xc2\xb2 \xe2\x85\xab", "x|\xc2\xb2| \xe2\x85\xab");
  SPLIT("pretok: whitespace run before a word keeps one space", "a  \t b", "a|  \t| b");
  SPLIT("pretok: trailing whitespace stays one piece", "a   ", "a|   ");
  SPLIT("pretok: newline before a word is its own piece", "a\nb", "a|\n|b");
  SPLIT("pretok: space before newline", "a \nb", "a| |\n|b");
  SPLIT("pretok: ideographic space U+3000 is whitespace", "a\xe3\x80\x80" "b", "a|\xe3\x80\x80|b");
  SPLIT("pretok: NBSP U+00A0 is whitespace, not joined like U+0020", "a\xc2\xa0" "b", "a|\xc2\xa0|b");
  SPLIT("pretok: only U+0020 is the optional leading space", "a\tb", "a|\t|b");
  SPLIT("pretok: <|endoftext|> is ordinary text", "x<|endoftext|>y", "x|<||endoftext||>|y");
  SPLIT("pretok: invalid UTF-8 bytes are punctuation-like", "a\xff\xfe" "b", "a|\xff\xfe|b");
  SPLIT("pretok: space + stray continuation byte", " \x80x", " \x80|x");
  SPLIT("pretok: truncated sequence at end", "ab\xe6\x97", "ab|\xe6\x97");
  SPLIT("pretok: surrogate encoding is invalid", "a\xed\xa0\x80" "b", "a|\xed\xa0\x80|b");
  SPLIT("pretok: overlong encoding is invalid", "a\xc0\xaf" "b", "a|\xc0\xaf|b");
  SPLIT("pretok: empty-free on single space", " ", " ");
  SPLIT("pretok: NUL bytes are punctuation", "a\0\0b", "a|\0\0|b");
  check(prism_unicode_is_letter(0xE9) && prism_unicode_is_letter(0x65E5) && prism_unicode_is_letter(0x20000) &&
            !prism_unicode_is_letter('_') && !prism_unicode_is_letter('1'),
        "unicode: letters é, 日, U+20000 (CJK range); not _ or 1", "");
  check(prism_unicode_is_number('7') && prism_unicode_is_number(0x0664) && prism_unicode_is_number(0x216B) &&
            !prism_unicode_is_number('a'),
        "unicode: numbers 7, Arabic-Indic 4, Roman XII; not a", "");
  check(prism_unicode_is_space(0x85) && prism_unicode_is_space(0x2029) && prism_unicode_is_space('\v') &&
            !prism_unicode_is_space(0xFEFF) && !prism_unicode_is_space(0x200B),
        "unicode: White_Space has U+0085, U+2029, \\v; not U+FEFF, U+200B", "");
}

static prism_gpt2 *T;

static int enc(const char *s, size_t len, int64_t **ids, size_t *n) {
  size_t cap = 0;
  char err[256];
  *ids = NULL;
  *n = 0;
  return prism_gpt2_encode(T, s, len, ids, n, &cap, err, sizeof err);
}

static void check_vec(const char *s, const int64_t *want, size_t nwant) {
  int64_t *ids;
  size_t n;
  char name[160], detail[512];
  snprintf(name, sizeof name, "vector: \"%.60s\"", s);
  for (char *p = name; *p; p++) if (*p == '\n') *p = '~';
  int ok = enc(s, strlen(s), &ids, &n) == 0 && n == nwant && memcmp(ids, want, n * sizeof *ids) == 0;
  size_t o = (size_t)snprintf(detail, sizeof detail, "got");
  for (size_t i = 0; i < n && o < 400; i++) o += (size_t)snprintf(detail + o, sizeof detail - o, " %lld", (long long)ids[i]);
  check(ok, name, ok ? "" : detail);
  free(ids);
}
#define VEC(s, ...) do { const int64_t w_[] = {__VA_ARGS__}; check_vec(s, w_, sizeof w_ / sizeof w_[0]); } while (0)

static int roundtrip(const char *s, size_t len) {
  int64_t *ids;
  size_t n, olen = 0;
  char *out = NULL, err[256];
  int ok = enc(s, len, &ids, &n) == 0 && prism_gpt2_decode(T, ids, n, &out, &olen, err, sizeof err) == 0 &&
           olen == len && (len == 0 || memcmp(out, s, len) == 0);
  free(ids);
  free(out);
  return ok;
}

static void check_decode(int64_t id, const char *want) {
  char *out = NULL, err[256], name[100];
  size_t olen = 0;
  snprintf(name, sizeof name, "decode %lld", (long long)id);
  int ok = prism_gpt2_decode(T, &id, 1, &out, &olen, err, sizeof err) == 0 && olen == strlen(want) &&
           memcmp(out, want, olen) == 0;
  check(ok, name, ok ? "" : (out ? out : err));
  free(out);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (uint32_t)(rng >> 11); }

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  rewind(f);
  char *b = malloc((size_t)sz + 1);
  if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) { free(b); b = NULL; }
  fclose(f);
  if (b) { b[sz] = '\0'; *len = (size_t)sz; }
  return b;
}

static void test_ranks(const char *path) {
  VEC("Hello", 15496);
  VEC("Hello world", 15496, 995);
  VEC("The quick brown fox jumps over the lazy dog.", 464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13);
  VEC("I'm   here\n\nok", 40, 1101, 220, 220, 994, 198, 198, 482);
  check_decode(50256, "<|endoftext|>");
  check_decode(15496, "Hello");
  check_decode(995, " world");
  check_decode(262, " the");
  check_decode(198, "\n");
  check_decode(220, " ");
  check_decode(464, "The");
  check_decode(0, "!");
  check_decode(50255, " gazed");

  int64_t *ids;
  size_t n;
  const char *eot = "a<|endoftext|>b";
  int has = 0;
  int ok = enc(eot, strlen(eot), &ids, &n) == 0;
  for (size_t i = 0; ok && i < n; i++) has |= ids[i] == PRISM_GPT2_EOT;
  check(ok && !has && roundtrip(eot, strlen(eot)), "<|endoftext|> in text: ordinary ids, round trip", "");
  free(ids);

  char *out = NULL, err[256];
  size_t olen;
  int64_t bad[2] = {15496, PRISM_GPT2_N_VOCAB};
  check(prism_gpt2_decode(T, bad, 2, &out, &olen, err, sizeof err) != 0 && strstr(err, "prism:tokenizer-id"),
        "decode: id 50257 is refused (prism:tokenizer-id)", err);
  bad[1] = -1;
  check(prism_gpt2_decode(T, bad, 2, &out, &olen, err, sizeof err) != 0, "decode: id -1 is refused", "");
  check(prism_gpt2_decode(T, NULL, 0, &out, &olen, err, sizeof err) == 0 && olen == 0, "decode: no ids → empty", "");
  free(out);

  size_t flen = 0;
  /* the fixture sits beside this source: <root>/tests/unit/../fixtures/sample.txt */
  char fpath[4096];
  const char *slash = strrchr(__FILE__, '/');
  if (slash) snprintf(fpath, sizeof fpath, "%.*s/../fixtures/sample.txt", (int)(slash - __FILE__), __FILE__);
  else snprintf(fpath, sizeof fpath, "tests/fixtures/sample.txt");
  char *fx = read_file(fpath, &flen);
  if (!fx) {
    check(0, "fixture tests/fixtures/sample.txt readable", fpath);
  } else {
    char d[80];
    ok = enc(fx, flen, &ids, &n) == 0;
    snprintf(d, sizeof d, "%zu tokens", n);
    check(ok && n == 41210, "fixture: 193,890 B -> 41,210 tokens (data-sources.md)", d);
    prism_gpt2_set_linear_max(T, 0);
    int64_t *ids2;
    size_t n2;
    int ok2 = enc(fx, flen, &ids2, &n2) == 0 && n2 == n && memcmp(ids, ids2, n * sizeof *ids) == 0;
    check(ok2, "fixture: heap merge loop gives the linear loop's ids", "");
    free(ids2);
    prism_gpt2_set_linear_max(T, 128);
    free(ids);
    size_t lines = 0, good = 0;
    for (char *p = fx, *e = fx + flen; p < e;) {
      char *nl = memchr(p, '\n', (size_t)(e - p));
      size_t l = nl ? (size_t)(nl - p) + 1 : (size_t)(e - p);
      lines++;
      good += (size_t)roundtrip(p, l);
      p += l;
    }
    snprintf(d, sizeof d, "%zu/%zu lines", good, lines);
    check(lines == 112 && good == lines, "fixture: every line round-trips", d);
    free(fx);
  }

  size_t good = 0, total = 2000, same = 0;
  char buf[600];
  for (size_t k = 0; k < total; k++) {
    size_t len = rnd() % sizeof buf;
    int mode = (int)(k % 3);
    for (size_t i = 0; i < len; i++) {
      uint32_t r = rnd();
      buf[i] = mode == 0 ? (char)(r & 0xFF) : mode == 1 ? " a'e\n\t1.\xc3\xa9\x80"[r % 11] : (char)('a' + r % 26);
    }
    good += (size_t)roundtrip(buf, len);
    int64_t *a, *b;
    size_t na, nb;
    enc(buf, len, &a, &na);
    prism_gpt2_set_linear_max(T, 0);
    enc(buf, len, &b, &nb);
    prism_gpt2_set_linear_max(T, 128);
    same += na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
    free(a);
    free(b);
  }
  check(good == total, "random byte strings (2000, 0..599 B): decode(encode(x)) == x", "");
  check(same == total, "random strings: heap and linear merge loops agree", "");

  size_t big = 300000;
  char *w = malloc(big);
  for (size_t i = 0; i < big; i++) w[i] = (char)('a' + rnd() % 26);
  check(roundtrip(w, big), "one 300 KB word of letters round-trips (heap loop, no O(n^2))", "");
  memset(w, 'a', big);
  check(roundtrip(w, big), "300 KB of 'a' round-trips", "");
  free(w);

  prism_gpt2 *t2 = prism_gpt2_load("/nonexistent/gpt2.tiktoken", err, sizeof err);
  check(!t2 && strstr(err, "prism:tokenizer-missing") && strstr(err, "stage-tokenizers"),
        "load: missing file → prism:tokenizer-missing naming the staging command", err);
  size_t rl = 0;
  char *ranks = read_file(path, &rl);
  char tmp[] = "/tmp/test_gpt2_XXXXXX";
  int fd = mkstemp(tmp);
  if (ranks && fd >= 0) {
    FILE *f = fdopen(fd, "wb");
    fwrite(ranks, 1, rl / 2, f); /* truncated mid-file */
    fclose(f);
    t2 = prism_gpt2_load(tmp, err, sizeof err);
    check(!t2 && strstr(err, "prism:tokenizer-format"), "load: truncated ranks file → prism:tokenizer-format", err);
    f = fopen(tmp, "wb");
    fwrite(ranks, 1, rl, f);
    fputs("IQ== 7\n", f); /* rank 7 twice */
    fclose(f);
    t2 = prism_gpt2_load(tmp, err, sizeof err);
    check(!t2 && strstr(err, "prism:tokenizer-format"), "load: duplicated rank → prism:tokenizer-format", err);
    remove(tmp);
  }
  free(ranks);
}

int main(void) {
  test_pretok();
  const char *dir = prism_tokenizer_resolve_dir(NULL);
  char path[4096], err[512];
  snprintf(path, sizeof path, "%s/%s", dir ? dir : "", PRISM_GPT2_TIKTOKEN_RELPATH);
  FILE *f = fopen(path, "rb");
  if (!f) {
    printf("skipped: GPT-2 ranks not staged (run scripts/stage-tokenizers); looked for %s\n", path);
  } else {
    fclose(f);
    T = prism_gpt2_load(path, err, sizeof err);
    check(T != NULL, "load the staged ranks", T ? path : err);
    if (T) test_ranks(path);
    prism_gpt2_free(T);
  }
  return check_summary();
}
