// llama.cc — the only C++ in prism: a shim over Debian's libsentencepiece (0.1.97) that loads the
// staged Llama tokenizer.model and exposes encode/decode through the extern "C" API of llama.h.
// It exists because re-implementing SentencePiece's BPE + normalizer + byte fallback in C would be
// a second implementation to keep in step with the reference oracle (spm_encode), while the
// library is that oracle. Exceptions (std::bad_alloc, anything thrown inside the library) are
// caught here and turned into error returns; nothing throws across the C boundary.
#include "llama.h"

#include <sentencepiece_processor.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

struct prism_llama {
  sentencepiece::SentencePieceProcessor sp;
};

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errcap, const char *fmt, ...) {
  if (!err || !errcap) return;
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(err, errcap, fmt, ap);
  va_end(ap);
}

// One loader for both entry points: `load` fills t->sp from wherever the model comes from.
template <typename Load>
static prism_llama *load_with(const char *what, Load load, char *err, size_t errcap) {
  prism_llama *t = nullptr;
  try {
    t = new prism_llama();
    const auto st = load(t->sp);
    if (!st.ok()) {
      std::string msg = st.ToString();
      set_err(err, errcap, "cannot load SentencePiece model %s: %s", what, msg.c_str());
      delete t;
      return nullptr;
    }
    return t;
  } catch (const std::exception &e) {
    set_err(err, errcap, "cannot load SentencePiece model %s: %s", what, e.what());
  } catch (...) {
    set_err(err, errcap, "cannot load SentencePiece model %s: unknown C++ exception", what);
  }
  delete t;
  return nullptr;
}

extern "C" prism_llama *prism_llama_load(const char *model_path, char *err, size_t errcap) {
  return load_with(model_path, [&](sentencepiece::SentencePieceProcessor &sp) { return sp.Load(model_path); }, err,
                   errcap);
}

extern "C" prism_llama *prism_llama_load_bytes(const char *name, const void *bytes, size_t n, char *err, size_t errcap) {
  return load_with(
      name,
      [&](sentencepiece::SentencePieceProcessor &sp) {
        return sp.LoadFromSerializedProto(absl::string_view(static_cast<const char *>(bytes), n));
      },
      err, errcap);
}

extern "C" int64_t prism_llama_vocab_size(const prism_llama *t) { return t ? t->sp.GetPieceSize() : 0; }

extern "C" int prism_llama_encode(const prism_llama *t, const char *text, size_t len, int64_t **ids, size_t *n,
                                  size_t *cap, char *err, size_t errcap) {
  try {
    std::vector<int> out;
    const auto st = t->sp.Encode(std::string_view(text ? text : "", text ? len : 0), &out);
    if (!st.ok()) {
      std::string msg = st.ToString();
      set_err(err, errcap, "llama encode failed: %s", msg.c_str());
      return -1;
    }
    if (out.size() > *cap - *n || !*ids) {
      size_t want = *n + out.size();
      size_t ncap = *cap ? *cap : 256;
      while (ncap < want) ncap *= 2;
      void *p = std::realloc(*ids, ncap * sizeof **ids);
      if (!p) {
        set_err(err, errcap, "llama encode: out of memory for %zu ids", want);
        return -1;
      }
      *ids = static_cast<int64_t *>(p);
      *cap = ncap;
    }
    for (int id : out) (*ids)[(*n)++] = id;
    return 0;
  } catch (const std::exception &e) {
    set_err(err, errcap, "llama encode failed: %s", e.what());
  } catch (...) {
    set_err(err, errcap, "llama encode failed: unknown C++ exception");
  }
  return -1;
}

extern "C" int prism_llama_decode(const prism_llama *t, const int64_t *ids, size_t n, char **out, size_t *out_len,
                                  char *err, size_t errcap) {
  *out = nullptr;
  *out_len = 0;
  try {
    const int64_t vocab = t->sp.GetPieceSize();
    std::vector<int> v;
    v.reserve(n);
    for (size_t i = 0; i < n; i++) {
      if (ids[i] < 0 || ids[i] >= vocab) {
        set_err(err, errcap, "llama decode: id %lld at position %zu is outside [0, %lld)", (long long)ids[i], i,
                (long long)vocab);
        return -1;
      }
      v.push_back(static_cast<int>(ids[i]));
    }
    std::string s;
    const auto st = t->sp.Decode(v, &s);
    if (!st.ok()) {
      std::string msg = st.ToString();
      set_err(err, errcap, "llama decode failed: %s", msg.c_str());
      return -1;
    }
    char *buf = static_cast<char *>(std::malloc(s.size() + 1));
    if (!buf) {
      set_err(err, errcap, "llama decode: out of memory");
      return -1;
    }
    std::memcpy(buf, s.data(), s.size());
    buf[s.size()] = '\0';
    *out = buf;
    *out_len = s.size();
    return 0;
  } catch (const std::exception &e) {
    set_err(err, errcap, "llama decode failed: %s", e.what());
  } catch (...) {
    set_err(err, errcap, "llama decode failed: unknown C++ exception");
  }
  return -1;
}

extern "C" void prism_llama_free(prism_llama *t) { delete t; }
