/* gpt2_pretok.c — the GPT-2 pre-tokenizer: a hand-written matcher with the exact semantics of
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * over UTF-8 code points, and the Unicode class queries behind it (tables generated into
 * unicode_tables.c by scripts/gen-unicode-tables from Debian unicode-data).
 *
 * Owned here because the tokenizer must not depend on a regex library, and the alternation
 * order, greediness and the look-ahead backtracking of `\s+(?!\S)` (a whitespace run followed
 * by a non-space gives back its last code point to the next word) are what decide GPT-2 ids.
 * Definitions: \p{L} = general categories Lu Ll Lt Lm Lo, \p{N} = Nd Nl No, \s = the Unicode
 * White_Space property (what GPT-2's Python `regex` and tiktoken use; JavaScript's \s differs
 * only on U+0085, which it excludes, and U+FEFF, which it includes).
 * Invalid UTF-8 (stray continuation bytes, overlongs, surrogates, > U+10FFFF, truncated
 * sequences): each offending byte is one code point outside L, N and \s — the class a JS
 * string would give its U+FFFD replacement — so it joins ` ?[^\s\p{L}\p{N}]+` runs.  The BPE
 * stage works on the raw bytes, so every byte string still round-trips exactly. */
#include "tokenizer/gpt2.h"

typedef struct { uint32_t lo, hi; } prism_urange;
extern const prism_urange prism_unicode_letter[], prism_unicode_number[], prism_unicode_space[];
extern const size_t prism_unicode_letter_n, prism_unicode_number_n, prism_unicode_space_n;

static int in_ranges(const prism_urange *r, size_t n, uint32_t cp) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (cp < r[mid].lo) hi = mid;
    else if (cp > r[mid].hi) lo = mid + 1;
    else return 1;
  }
  return 0;
}

int prism_unicode_is_letter(uint32_t cp) { return in_ranges(prism_unicode_letter, prism_unicode_letter_n, cp); }
int prism_unicode_is_number(uint32_t cp) { return in_ranges(prism_unicode_number, prism_unicode_number_n, cp); }
int prism_unicode_is_space(uint32_t cp) { return in_ranges(prism_unicode_space, prism_unicode_space_n, cp); }

enum { C_OTHER = 0, C_LETTER = 1, C_NUMBER = 2, C_SPACE = 3 };
#define CP_INVALID 0xFFFFFFFFu

/* Class of every ASCII byte, built once from the same tables (so ASCII stays data-driven). */
static unsigned char ascii_class[128];
static int ascii_ready;

static int classify(uint32_t cp) {
  if (cp == CP_INVALID) return C_OTHER;
  if (prism_unicode_is_letter(cp)) return C_LETTER;
  if (prism_unicode_is_number(cp)) return C_NUMBER;
  if (prism_unicode_is_space(cp)) return C_SPACE;
  return C_OTHER;
}

static void init_ascii(void) {
  for (uint32_t c = 0; c < 128; c++) ascii_class[c] = (unsigned char)classify(c);
  ascii_ready = 1;
}

/* Strict UTF-8 decode of one code point at s[pos]; *cl receives its class; returns its length
 * (1 for an invalid byte). */
static size_t next_cp(const unsigned char *s, size_t len, size_t pos, int *cl, uint32_t *out) {
  unsigned c = s[pos];
  if (c < 0x80) { *cl = ascii_class[c]; *out = c; return 1; }
  uint32_t cp = CP_INVALID;
  size_t n = 1;
  if (c >= 0xC2 && c <= 0xDF) {
    if (pos + 1 < len && (s[pos + 1] & 0xC0) == 0x80) { cp = ((c & 0x1Fu) << 6) | (s[pos + 1] & 0x3Fu); n = 2; }
  } else if (c >= 0xE0 && c <= 0xEF) {
    if (pos + 2 < len && (s[pos + 1] & 0xC0) == 0x80 && (s[pos + 2] & 0xC0) == 0x80) {
      uint32_t v = ((c & 0x0Fu) << 12) | ((s[pos + 1] & 0x3Fu) << 6) | (s[pos + 2] & 0x3Fu);
      if (v >= 0x800 && (v < 0xD800 || v > 0xDFFF)) { cp = v; n = 3; }
    }
  } else if (c >= 0xF0 && c <= 0xF4) {
    if (pos + 3 < len && (s[pos + 1] & 0xC0) == 0x80 && (s[pos + 2] & 0xC0) == 0x80 && (s[pos + 3] & 0xC0) == 0x80) {
      uint32_t v = ((c & 0x07u) << 18) | ((s[pos + 1] & 0x3Fu) << 12) | ((s[pos + 2] & 0x3Fu) << 6) | (s[pos + 3] & 0x3Fu);
      if (v >= 0x10000 && v <= 0x10FFFF) { cp = v; n = 4; }
    }
  }
  *cl = classify(cp);
  *out = cp;
  return n;
}

/* End of the maximal run of class cl starting at pos (pos itself is not checked). */
static size_t run_end(const unsigned char *s, size_t len, size_t pos, int cl) {
  while (pos < len) {
    int c2;
    uint32_t cp;
    size_t n = next_cp(s, len, pos, &c2, &cp);
    if (c2 != cl) break;
    pos += n;
  }
  return pos;
}

size_t prism_gpt2_pretok_next(const char *text, size_t len, size_t pos) {
  const unsigned char *s = (const unsigned char *)text;
  if (!ascii_ready) init_ascii();
  if (pos >= len) return 0;
  /* 's|'t|'re|'ve|'m|'ll|'d */
  if (s[pos] == '\'' && pos + 1 < len) {
    unsigned char a = s[pos + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (pos + 2 < len) {
      unsigned char b = s[pos + 2];
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    }
  }
  int cl;
  uint32_t cp;
  size_t n = next_cp(s, len, pos, &cl, &cp);
  /* ` ?X+` for X in L, N, [^\s\p{L}\p{N}]: an optional U+0020 then a non-empty run. */
  size_t start = pos;
  if (cp == ' ' && pos + 1 < len) {
    int cl2;
    uint32_t cp2;
    size_t n2 = next_cp(s, len, pos + 1, &cl2, &cp2);
    if (cl2 != C_SPACE) return run_end(s, len, pos + 1 + n2, cl2) - start;
  }
  if (cl != C_SPACE) return run_end(s, len, pos + n, cl) - start;
  /* \s+(?!\S): the whole whitespace run if it ends the input; otherwise give back the last
   * code point (which is then followed by whitespace), provided the run has two or more. */
  size_t last = pos, end = pos + n;
  while (end < len) {
    int c2;
    uint32_t cp2;
    size_t m = next_cp(s, len, end, &c2, &cp2);
    if (c2 != C_SPACE) break;
    last = end;
    end += m;
  }
  if (end == len) return end - start;
  if (last > start) return last - start;
  /* \s+ with a single whitespace code point followed by a non-space. */
  return n;
}
