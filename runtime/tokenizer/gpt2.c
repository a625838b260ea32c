/* gpt2.c — GPT-2 byte-level BPE: loading the tiktoken-format ranks, encoding, decoding.
 *
 * Owns the vocabulary (50,256 byte strings, rank == id, plus <|endoftext|> = 50256 added here),
 * the byte-string → rank hash map, the rank-ordered merge loop and a bounded word cache.
 * The ranks file is the staged `gpt2/gpt2.tiktoken` (js-tiktoken@1.0.21 gpt2 == OpenAI's
 * r50k_base.tiktoken); its checksum is verified by the staging/loader layer, while this file
 * validates its structure (every rank 0..50255 exactly once, every single byte present) so a
 * damaged file is refused instead of giving silently different ids.
 * Working on raw bytes with tiktoken ranks needs no byte↔unicode table: a word is split into
 * single bytes and the adjacent pair whose concatenation has the lowest rank (leftmost on ties)
 * is merged until no pair is a token — tiktoken's algorithm, which gives the same ids as the
 * merges of GPT-2's vocab.bpe.  Short words use a linear scan; long ones a heap, so a huge
 * unbroken word costs O(n log n) rather than O(n²).  Pre-tokenizing is in gpt2_pretok.c. */
#include "tokenizer/gpt2.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_RANKS 50256
#define EOT_TEXT "<|endoftext|>"
#define CACHE_SLOTS 8192      /* bounded word cache: direct-mapped, ~1.3 MB */
#define CACHE_MAX_WORD 24     /* words longer than this are not cached */
#define LINEAR_MAX 128        /* words up to this many bytes use the linear merge loop */

typedef struct { uint32_t off, len; } tok_span;
typedef struct { uint32_t hash; int32_t rank; } hslot; /* rank -1: empty */
typedef struct { uint8_t wlen, nids; uint8_t word[CACHE_MAX_WORD]; int32_t ids[CACHE_MAX_WORD]; } cslot;

struct prism_gpt2 {
  uint8_t *blob;        /* all token bytes, concatenated by rank */
  tok_span tok[N_RANKS];
  hslot *map;           /* open addressing, power-of-two size */
  uint32_t mask;
  cslot *cache;
  size_t linear_max;
  /* scratch for the merge loops (grown on demand) */
  size_t scap;
  uint32_t *start, *nxt, *prv, *pend;
  int32_t *prank;
  uint64_t *heap;
};

static void seterr(char *err, size_t cap, const char *fmt, ...) {
  if (!err || !cap) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, cap, fmt, ap);
  va_end(ap);
}

static uint32_t hash_bytes(const uint8_t *p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h ^ (h >> 15);
}

static int32_t rank_of(const prism_gpt2 *t, const uint8_t *p, size_t n) {
  uint32_t h = hash_bytes(p, n);
  for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask) {
    const hslot *s = &t->map[i];
    if (s->rank < 0) return -1;
    if (s->hash == h) {
      const tok_span *k = &t->tok[s->rank];
      if (k->len == n && memcmp(t->blob + k->off, p, n) == 0) return s->rank;
    }
  }
}

static int b64val(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* Decodes base64 (with '=' padding) of s[0..n) into out; returns the byte count or -1. */
static long b64decode(const char *s, size_t n, uint8_t *out) {
  if (n == 0 || n % 4) return -1;
  long o = 0;
  for (size_t i = 0; i < n; i += 4) {
    int v[4], pad = 0;
    for (int j = 0; j < 4; j++) {
      if (s[i + j] == '=' && i + 4 == n && j >= 2) { v[j] = 0; pad++; continue; }
      if (pad) return -1;
      if ((v[j] = b64val((unsigned char)s[i + j])) < 0) return -1;
    }
    uint32_t w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) | (uint32_t)v[3];
    out[o++] = (uint8_t)(w >> 16);
    if (pad < 2) out[o++] = (uint8_t)(w >> 8);
    if (pad < 1) out[o++] = (uint8_t)w;
  }
  return o;
}

void prism_gpt2_free(prism_gpt2 *t) {
  if (!t) return;
  free(t->blob); free(t->map); free(t->cache);
  free(t->start); free(t->nxt); free(t->prv); free(t->pend); free(t->prank); free(t->heap);
  free(t);
}

#define LOADFAIL(...) do { seterr(err, errcap, __VA_ARGS__); goto fail; } while (0)

prism_gpt2 *prism_gpt2_load(const char *path, char *err, size_t errcap) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    seterr(err, errcap, "prism:tokenizer-missing: cannot open GPT-2 ranks %s: %s (run scripts/stage-tokenizers DIR)",
           path, strerror(errno));
    return NULL;
  }
  char *buf = NULL;
  long sz = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  if (sz <= 0 || sz > (64L << 20)) {
    seterr(err, errcap, "prism:tokenizer-load: %s has an implausible size (%ld bytes)", path, sz);
  } else if (rewind(f), !(buf = malloc((size_t)sz + 1))) {
    seterr(err, errcap, "prism:tokenizer-load: out of memory reading %s", path);
  } else if (fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
    seterr(err, errcap, "prism:tokenizer-load: short read on %s", path);
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (!buf) return NULL;
  buf[sz] = '\0';
  prism_gpt2 *t = prism_gpt2_parse(path, buf, (size_t)sz, err, errcap);
  free(buf);
  return t;
}

prism_gpt2 *prism_gpt2_parse(const char *path, const char *buf, size_t size, char *err, size_t errcap) {
  long sz = (long)size;
  prism_gpt2 *t = calloc(1, sizeof *t);
  if (!t) { seterr(err, errcap, "prism:tokenizer-load: out of memory"); return NULL; }
  if (size == 0 || size > ((size_t)64 << 20))
    LOADFAIL("prism:tokenizer-load: %s has an implausible size (%zu bytes)", path, size);
  if (buf[size] != '\0') LOADFAIL("prism:tokenizer-load: %s: the ranks buffer must end with a NUL byte", path);
  t->blob = malloc(size);
  if (!t->blob) LOADFAIL("prism:tokenizer-load: out of memory reading %s", path);
  for (size_t r = 0; r < N_RANKS; r++) t->tok[r].len = UINT32_MAX;
  size_t pos = 0, lineno = 0, blen = 0, seen = 0;
  while (pos < (size_t)sz) {
    lineno++;
    const char *nl = memchr(buf + pos, '\n', (size_t)sz - pos);
    size_t end = nl ? (size_t)(nl - buf) : (size_t)sz;
    const char *line = buf + pos, *sp = memchr(line, ' ', end - pos);
    if (!sp) LOADFAIL("prism:tokenizer-format: %s:%zu: expected `base64 rank`", path, lineno);
    const char *rest = sp + 1;
    char *q;
    errno = 0;
    long rank = strtol(rest, &q, 10);
    if (errno || q != buf + end || q == rest || rank < 0 || rank >= N_RANKS)
      LOADFAIL("prism:tokenizer-format: %s:%zu: rank must be an integer in [0, %d)", path, lineno, N_RANKS);
    if (t->tok[rank].len != UINT32_MAX) LOADFAIL("prism:tokenizer-format: %s:%zu: rank %ld appears twice", path, lineno, rank);
    long n = b64decode(line, (size_t)(sp - line), t->blob + blen);
    if (n <= 0) LOADFAIL("prism:tokenizer-format: %s:%zu: invalid base64 token", path, lineno);
    t->tok[rank].off = (uint32_t)blen;
    t->tok[rank].len = (uint32_t)n;
    blen += (size_t)n;
    seen++;
    pos = end + 1;
  }
  if (seen != N_RANKS) LOADFAIL("prism:tokenizer-format: %s has %zu ranks, GPT-2 needs %d", path, seen, N_RANKS);
  t->mask = (1u << 17) - 1;
  t->map = malloc(sizeof(hslot) * (t->mask + 1));
  t->cache = calloc(CACHE_SLOTS, sizeof(cslot));
  if (!t->map || !t->cache) LOADFAIL("prism:tokenizer-load: out of memory");
  for (uint32_t i = 0; i <= t->mask; i++) t->map[i].rank = -1;
  for (int32_t r = 0; r < N_RANKS; r++) {
    const uint8_t *p = t->blob + t->tok[r].off;
    if (rank_of(t, p, t->tok[r].len) >= 0) LOADFAIL("prism:tokenizer-format: %s: token of rank %d appears twice", path, r);
    uint32_t h = hash_bytes(p, t->tok[r].len), i = h & t->mask;
    while (t->map[i].rank >= 0) i = (i + 1) & t->mask;
    t->map[i].hash = h;
    t->map[i].rank = r;
  }
  for (int b = 0; b < 256; b++) {
    uint8_t c = (uint8_t)b;
    if (rank_of(t, &c, 1) < 0) LOADFAIL("prism:tokenizer-format: %s lacks the single-byte token 0x%02x", path, b);
  }
  t->linear_max = LINEAR_MAX;
  (void)prism_gpt2_pretok_next(" ", 1, 0); /* builds the pre-tokenizer's ASCII table now */
  return t;
fail:
  prism_gpt2_free(t);
  return NULL;
}

void prism_gpt2_set_linear_max(prism_gpt2 *t, size_t n) { t->linear_max = n; }

static int grow_scratch(prism_gpt2 *t, size_t n) {
  if (n <= t->scap) return 0;
  size_t c = t->scap ? t->scap : 256;
  while (c < n) c *= 2;
  uint32_t *a = realloc(t->start, c * sizeof *a); if (!a) return -1; t->start = a;
  a = realloc(t->nxt, c * sizeof *a); if (!a) return -1; t->nxt = a;
  a = realloc(t->prv, c * sizeof *a); if (!a) return -1; t->prv = a;
  a = realloc(t->pend, c * sizeof *a); if (!a) return -1; t->pend = a;
  int32_t *r = realloc(t->prank, c * sizeof *r); if (!r) return -1; t->prank = r;
  uint64_t *h = realloc(t->heap, 3 * c * sizeof *h); if (!h) return -1; t->heap = h;
  t->scap = c;
  return 0;
}

static int push_id(int64_t **ids, size_t *n, size_t *cap, int64_t v) {
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 256;
    int64_t *p = realloc(*ids, c * sizeof *p);
    if (!p) return -1;
    *ids = p;
    *cap = c;
  }
  (*ids)[(*n)++] = v;
  return 0;
}

/* Linear merge loop (tiktoken's): parts are byte offsets start[0..m]; prank[i] is the rank of
 * parts i and i+1 joined (INT32_MAX: not a token). */
static size_t merge_linear(prism_gpt2 *t, const uint8_t *w, size_t len) {
  uint32_t *st = t->start;
  int32_t *pr = t->prank;
  size_t m = len;
  for (size_t i = 0; i <= len; i++) st[i] = (uint32_t)i;
  for (size_t i = 0; i + 1 < m; i++) {
    int32_t r = rank_of(t, w + st[i], st[i + 2] - st[i]);
    pr[i] = r < 0 ? INT32_MAX : r;
  }
  while (m > 1) {
    size_t best = 0;
    int32_t br = INT32_MAX;
    for (size_t i = 0; i + 1 < m; i++)
      if (pr[i] < br) { br = pr[i]; best = i; }
    if (br == INT32_MAX) break;
    memmove(st + best + 1, st + best + 2, (m - best - 1) * sizeof *st);
    memmove(pr + best, pr + best + 1, (m - best - 2) * sizeof *pr);
    m--;
    if (best + 1 < m) { int32_t r = rank_of(t, w + st[best], st[best + 2] - st[best]); pr[best] = r < 0 ? INT32_MAX : r; }
    if (best > 0) { int32_t r = rank_of(t, w + st[best - 1], st[best + 1] - st[best - 1]); pr[best - 1] = r < 0 ? INT32_MAX : r; }
  }
  return m; /* parts: [st[i], st[i+1]) for i < m */
}

/* Heap entries pack (rank, left start) so the minimum is the lowest rank, leftmost on ties;
 * validity is checked lazily against the current linked list of parts. */
static void heap_push(uint64_t *h, size_t *n, uint64_t v) {
  size_t i = (*n)++;
  while (i > 0) { size_t p = (i - 1) / 2; if (h[p] <= v) break; h[i] = h[p]; i = p; }
  h[i] = v;
}
static uint64_t heap_pop(uint64_t *h, size_t *n) {
  uint64_t top = h[0], v = h[--(*n)];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= *n) break;
    if (c + 1 < *n && h[c + 1] < h[c]) c++;
    if (h[c] >= v) break;
    h[i] = h[c];
    i = c;
  }
  if (*n) h[i] = v;
  return top;
}

static void heap_pair(prism_gpt2 *t, const uint8_t *w, size_t len, uint32_t a, size_t *hn) {
  uint32_t b = t->nxt[a];
  if (b >= len) return;
  int32_t r = rank_of(t, w + a, t->pend[b] - a);
  if (r >= 0) {
    /* the pair stays valid while a is alive, nxt[a] == b and pend[b] is unchanged */
    heap_push(t->heap, hn, ((uint64_t)(uint32_t)r << 40) | ((uint64_t)a << 20) | (uint64_t)t->pend[b]);
  }
}

static size_t merge_heap(prism_gpt2 *t, const uint8_t *w, size_t len) {
  size_t hn = 0;
  for (uint32_t i = 0; i < len; i++) { t->nxt[i] = i + 1; t->prv[i] = i ? i - 1 : UINT32_MAX; t->pend[i] = i + 1; }
  for (uint32_t i = 0; i + 1 < len; i++) heap_pair(t, w, len, i, &hn);
  while (hn) {
    uint64_t e = heap_pop(t->heap, &hn);
    uint32_t a = (uint32_t)((e >> 20) & 0xFFFFF), bend = (uint32_t)(e & 0xFFFFF);
    if (t->pend[a] == UINT32_MAX) continue;                   /* a was absorbed */
    uint32_t b = t->nxt[a];
    if (b >= len || t->pend[b] != bend) continue;            /* stale pair */
    t->pend[a] = bend;                                       /* merge b into a */
    t->nxt[a] = t->nxt[b];
    if (t->nxt[b] < len) t->prv[t->nxt[b]] = a;
    t->pend[b] = UINT32_MAX;
    if (t->prv[a] != UINT32_MAX) heap_pair(t, w, len, t->prv[a], &hn);
    heap_pair(t, w, len, a, &hn);
  }
  size_t m = 0;
  for (uint32_t i = 0; i < len; i = t->nxt[i]) t->start[m++] = i;
  t->start[m] = (uint32_t)len;
  return m;
}

static int encode_word(prism_gpt2 *t, const uint8_t *w, size_t len, int64_t **ids, size_t *n, size_t *cap) {
  if (len == 1) return push_id(ids, n, cap, rank_of(t, w, 1)); /* every byte is a token */
  cslot *cs = NULL;
  if (len <= CACHE_MAX_WORD) {
    cs = &t->cache[hash_bytes(w, len) & (CACHE_SLOTS - 1)];
    if (cs->wlen == len && memcmp(cs->word, w, len) == 0) {
      for (size_t i = 0; i < cs->nids; i++)
        if (push_id(ids, n, cap, cs->ids[i])) return -1;
      return 0;
    }
  }
  if (grow_scratch(t, len + 1)) return -1;
  /* The heap packs offsets in 20 bits; longer words are split into 1 MiB pieces (never hit by
   * real text: the pre-tokenizer breaks words at every class change). */
  size_t m = (len <= t->linear_max) ? merge_linear(t, w, len) : merge_heap(t, w, len);
  size_t n0 = *n;
  for (size_t i = 0; i < m; i++) {
    int32_t r = rank_of(t, w + t->start[i], t->start[i + 1] - t->start[i]);
    if (r < 0 || push_id(ids, n, cap, r)) return -1;
  }
  if (cs) {
    cs->wlen = (uint8_t)len;
    memcpy(cs->word, w, len);
    cs->nids = (uint8_t)m;
    for (size_t i = 0; i < m; i++) cs->ids[i] = (int32_t)(*ids)[n0 + i];
  }
  return 0;
}

int prism_gpt2_encode(prism_gpt2 *t, const char *text, size_t len, int64_t **ids, size_t *n, size_t *cap,
                      char *err, size_t errcap) {
  if (!t || (!text && len)) { seterr(err, errcap, "prism:tokenizer-usage: prism_gpt2_encode needs a tokenizer and text"); return -1; }
  size_t pos = 0;
  while (pos < len) {
    size_t wl = prism_gpt2_pretok_next(text, len, pos);
    const uint8_t *w = (const uint8_t *)text + pos;
    pos += wl;
    while (wl) { /* pieces of at most 1 MiB - 1 (see encode_word) */
      size_t piece = wl < 0xFFFFF ? wl : 0xFFFFF;
      if (encode_word(t, w, piece, ids, n, cap)) {
        seterr(err, errcap, "prism:tokenizer-oom: out of memory encoding %zu bytes", len);
        return -1;
      }
      w += piece;
      wl -= piece;
    }
  }
  return 0;
}

int prism_gpt2_decode(const prism_gpt2 *t, const int64_t *ids, size_t n, char **out, size_t *out_len,
                      char *err, size_t errcap) {
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= PRISM_GPT2_N_VOCAB) {
      seterr(err, errcap, "prism:tokenizer-id: id %lld at position %zu is outside the GPT-2 vocabulary [0, %d)",
             (long long)ids[i], i, PRISM_GPT2_N_VOCAB);
      return -1;
    }
    total += ids[i] == PRISM_GPT2_EOT ? strlen(EOT_TEXT) : t->tok[ids[i]].len;
  }
  char *buf = malloc(total + 1);
  if (!buf) { seterr(err, errcap, "prism:tokenizer-oom: out of memory decoding %zu ids", n); return -1; }
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (ids[i] == PRISM_GPT2_EOT) { memcpy(buf + o, EOT_TEXT, strlen(EOT_TEXT)); o += strlen(EOT_TEXT); continue; }
    memcpy(buf + o, t->blob + t->tok[ids[i]].off, t->tok[ids[i]].len);
    o += t->tok[ids[i]].len;
  }
  buf[o] = '\0';
  *out = buf;
  *out_len = o;
  return 0;
}
