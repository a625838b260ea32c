/* gpt2.h — public API of prism's GPT-2 byte-level BPE tokenizer.
 *
 * Owns: loading the tiktoken-format GPT-2 ranks file (`base64(token) rank\n`,
 * 50,256 lines, js-tiktoken@1.0.21 gpt2 == OpenAI r50k_base.tiktoken, sha256
 * 306cd27f…dd930; staged by scripts/stage-tokenizers as DIR/gpt2/gpt2.tiktoken),
 * encoding UTF-8 (or arbitrary) bytes into ids with the exact GPT-2 pre-tokenizer
 * and rank-ordered merges, and decoding ids back to bytes.  <|endoftext|> = 50256
 * is added by the loader; the text "<|endoftext|>" inside input is encoded as
 * ordinary text.  decode(encode(x)) == x for every byte string x.
 * Checksum verification of the staged file is the staging layer's job.
 * A prism_gpt2 holds a word cache and scratch buffers, so encode on one instance is not
 * thread-safe (use one instance per thread); decode is read-only. */
#ifndef PRISM_TOKENIZER_GPT2_H
#define PRISM_TOKENIZER_GPT2_H

#include <stddef.h>
#include <stdint.h>

#define PRISM_GPT2_N_VOCAB 50257
#define PRISM_GPT2_EOT 50256
#define PRISM_GPT2_TIKTOKEN_RELPATH "gpt2/gpt2.tiktoken"

typedef struct prism_gpt2 prism_gpt2;

/* Loads the ranks file; NULL on failure with a message (rule id prefixed) in err. */
prism_gpt2 *prism_gpt2_load(const char *tiktoken_path, char *err, size_t errcap);
/* The same from the file's bytes already in memory (what tokenizer.c hashed): buf[size] must be
 * '\0'; `name` only labels messages. */
prism_gpt2 *prism_gpt2_parse(const char *name, const char *buf, size_t size, char *err, size_t errcap);

/* Appends the ids of text[0..len) to *ids (count *n, capacity *cap; grown with
 * realloc; *ids may start NULL).  Returns 0, or -1 with err set (allocation). */
int prism_gpt2_encode(prism_gpt2 *t, const char *text, size_t len, int64_t **ids,
                      size_t *n, size_t *cap, char *err, size_t errcap);

/* Decodes ids into a fresh malloc'd buffer *out (NUL-terminated, *out_len bytes
 * excluding the NUL).  Ids outside [0, 50257) give -1 with err set. */
int prism_gpt2_decode(const prism_gpt2 *t, const int64_t *ids, size_t n, char **out,
                      size_t *out_len, char *err, size_t errcap);

void prism_gpt2_free(prism_gpt2 *t);

/* Pre-tokenizer (no ranks needed), exposed for tests and fuzzing: returns the
 * length in bytes of the GPT-2 regex match starting at text[pos] (pos < len,
 * always >= 1).  Invalid UTF-8 bytes are treated as single code points in none
 * of the classes L, N or \s (i.e. like punctuation), so they join runs of
 * ` ?[^\s\p{L}\p{N}]+`. */
size_t prism_gpt2_pretok_next(const char *text, size_t len, size_t pos);

/* Testing hook: words longer than n bytes use the heap merge loop instead of the linear one
 * (default 128); both give identical ids, which the unit test checks. */
void prism_gpt2_set_linear_max(prism_gpt2 *t, size_t n);

/* Unicode class queries from the generated tables (unicode_tables.c). */
int prism_unicode_is_letter(uint32_t cp);
int prism_unicode_is_number(uint32_t cp);
int prism_unicode_is_space(uint32_t cp);

#endif
