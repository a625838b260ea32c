/* tokenizer.h — the one tokenizer API the runtime uses (ctx:reference_tokenizer, the instrument,
 * `prism tokenize`, `prism tokenizers verify`). It owns the choice of backend ("bytes" built in,
 * "gpt2" over gpt2.h, "llama" over Debian's libsentencepiece through llama.h), where the staged
 * reference files live (explicit dir, else env PRISM_REFERENCE_TOKENIZER_DIR, else the default
 * baked in at build time, the dir scripts/setup stages into) and the sha256 pins every staged
 * file is checked against before it is loaded (SPEC §12, data-sources.md §1–§2). It never
 * touches the network: a missing file is an error naming `scripts/stage-tokenizers DIR`. */
#ifndef PRISM_TOKENIZER_H
#define PRISM_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "failure.h"

typedef struct prism_tokenizer prism_tokenizer;

/* Staged layout (relative to DIR) and pins. */
#define PRISM_TOK_GPT2_RANKS "gpt2/gpt2.tiktoken"
#define PRISM_TOK_GPT2_RANKS_SHA256 "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
#define PRISM_TOK_GPT2_ENCODER_JSON "gpt2/encoder.json"
#define PRISM_TOK_GPT2_ENCODER_JSON_SHA256 "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"
#define PRISM_TOK_GPT2_VOCAB_BPE "gpt2/vocab.bpe"
#define PRISM_TOK_GPT2_VOCAB_BPE_SHA256 "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
#define PRISM_TOK_LLAMA_MODEL "llama/tokenizer.model"
#define PRISM_TOK_LLAMA_MODEL_SHA256 "9e556afd44213b6bd1be2b850ebbbd98f5481437a8021afaf58ee7fb1818d347"
#define PRISM_TOK_MANIFEST "reference_manifest.json"

/* name: "bytes" | "gpt2" | "llama" (case-insensitive). dir: staged dir, or NULL → env
 * PRISM_REFERENCE_TOKENIZER_DIR → prism_tokenizer_default_dir(). "bytes" needs no files.
 * Verifies the staged files' sha256 against the pins before loading. Failures:
 * prism:tokenizer-missing (names the file and `scripts/stage-tokenizers DIR`),
 * prism:tokenizer-checksum, prism:tokenizer-unknown, prism:tokenizer-load. Never touches the
 * network. NULL on failure with err filled. */
prism_tokenizer *prism_tokenizer_open(const char *name, const char *dir, prism_failure *err);
const char *prism_tokenizer_name(const prism_tokenizer *t);      /* "bytes" | "gpt2" | "llama" */
int64_t prism_tokenizer_vocab_size(const prism_tokenizer *t);   /* 256, 50257, 32000 */
/* Appends the ids of text[0..len) to *ids (count *n, capacity *cap, grown with realloc; *ids may
 * start NULL). 0, or -1 with err set. No BOS/EOS. */
int prism_tokenizer_encode(prism_tokenizer *t, const char *text, size_t len, int64_t **ids, size_t *n,
                           size_t *cap, prism_failure *err);
/* Decodes into a fresh malloc'd NUL-terminated buffer (*out_len bytes without the NUL). Ids out
 * of [0, vocab_size) → -1 with prism:tokenizer-id. */
int prism_tokenizer_decode(prism_tokenizer *t, const int64_t *ids, size_t n, char **out, size_t *out_len,
                           prism_failure *err);
void prism_tokenizer_free(prism_tokenizer *t);

/* The build-time default staging dir (CMake define PRISM_REFERENCE_TOKENIZER_DEFAULT_DIR). */
const char *prism_tokenizer_default_dir(void);
/* dir if non-NULL and non-empty, else env PRISM_REFERENCE_TOKENIZER_DIR, else the default. */
const char *prism_tokenizer_resolve_dir(const char *dir);

/* Checks every pinned file under dir (present + sha256), printing one line per file to out
 * (may be NULL): "<relpath>: ok" / "<relpath>: missing" / "<relpath>: sha256 mismatch ...".
 * Returns the number of problems (0 = clean); err names the first one (rule
 * prism:tokenizer-missing or prism:tokenizer-checksum). */
int prism_tokenizers_verify(const char *dir, FILE *out, prism_failure *err);

/* `prism tokenizers verify DIR` (cmd_tokenizers.c). */
int prism_cmd_tokenizers(int argc, char **argv);

#endif
