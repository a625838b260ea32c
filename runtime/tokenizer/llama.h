/* llama.h — the C face of the Llama SentencePiece tokenizer (llama.cc, a thin C++ shim over
 * Debian's libsentencepiece). It owns loading a staged tokenizer.model, encoding without BOS/EOS
 * (byte fallback comes from the model itself) and decoding; the checksum pin and where the model
 * lives are tokenizer.c's job. No C++ exception ever crosses this boundary: every failure is a
 * return value with a message in err. */
#ifndef PRISM_TOKENIZER_LLAMA_H
#define PRISM_TOKENIZER_LLAMA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PRISM_LLAMA_N_VOCAB 32000

typedef struct prism_llama prism_llama;

/* Loads a SentencePiece model file; NULL with a message in err on failure. */
prism_llama *prism_llama_load(const char *model_path, char *err, size_t errcap);
/* The same from the model's bytes already in memory (what tokenizer.c hashed); `name` only
 * labels messages. */
prism_llama *prism_llama_load_bytes(const char *name, const void *bytes, size_t n, char *err, size_t errcap);
/* Number of pieces in the model (32000 for the pinned model). */
int64_t prism_llama_vocab_size(const prism_llama *t);
/* Appends the ids of text[0..len) to *ids (count *n, capacity *cap, grown with realloc; *ids may
 * start NULL). No BOS/EOS. 0, or -1 with err set. */
int prism_llama_encode(const prism_llama *t, const char *text, size_t len, int64_t **ids, size_t *n,
                       size_t *cap, char *err, size_t errcap);
/* Decodes ids into a fresh malloc'd NUL-terminated buffer (*out_len bytes without the NUL). Ids
 * outside [0, vocab) → -1 with err set. */
int prism_llama_decode(const prism_llama *t, const int64_t *ids, size_t n, char **out, size_t *out_len,
                       char *err, size_t errcap);
void prism_llama_free(prism_llama *t);

#ifdef __cplusplus
}
#endif

#endif
