/* fuzz_safetensors.c — libFuzzer target for the strict safetensors reader (runtime/safetensors.c):
 * prism_safetensors_parse runs the same validation (st_build) as prism_safetensors_open_at, which
 * the held-out load uses on trained_state.safetensors, a file the miner's code wrote. Properties
 * checked beyond "no crash, no sanitizer report, no leak":
 *   - a rejection has a message starting with "safetensors";
 *   - an accepted file's header is JSON with one entry per tensor (plus optional __metadata__);
 *     each tensor's dtype and shape (prism_safetensors_info) are the header's, its data_offsets
 *     [begin, end] lie inside the buffer with end - begin == numel × itemsize, and the tensors
 *     together cover the data section exactly;
 *   - every tensor loads, and its bytes are exactly buffer[8 + header + begin, 8 + header + end);
 *   - load_into with targets of the same names, dtypes and shapes succeeds and copies the same
 *     bytes; with one target missing it is refused.
 *
 * Built only with -DPRISM_FUZZ=ON; see tests/fuzz/README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "safetensors.h"
#include "tensor.h"

static void die(const char *what, const char *detail) {
  fprintf(stderr, "fuzz_safetensors: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  abort();
}

static const char *dtype_code(prism_dtype d) {
  return d == PRISM_FLOAT32 ? "F32" : d == PRISM_INT64 ? "I64" : d == PRISM_INT32 ? "I32" : "?";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[512] = "";
  prism_st_file *f = prism_safetensors_parse(data, size, err, sizeof err);
  if (!f) {
    if (strncmp(err, "safetensors", 11)) die("rejection without the file label", err);
    return 0;
  }
  if (size < 8) die("accepted fewer than 8 bytes", NULL);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | data[i];
  if (hlen > size - 8) die("accepted a header longer than the file", NULL);
  const uint8_t *section = data + 8 + hlen;
  uint64_t section_size = size - 8 - hlen;
  prism_json *h = prism_json_parse((const char *)data + 8, hlen, err, sizeof err);
  if (prism_json_kind_of(h) != PRISM_JSON_OBJECT) die("accepted a header that is not a JSON object", err);
  int n = prism_safetensors_count(f);
  size_t entries = prism_json_length(h) - (prism_json_get(h, "__metadata__") ? 1 : 0);
  if (n < 0 || (size_t)n != entries) die("tensor count differs from the header's entries", NULL);

  prism_st_target *targets = calloc(n ? (size_t)n : 1, sizeof *targets);
  if (!targets) die("out of memory", NULL);
  uint64_t covered = 0;
  for (int i = 0; i < n; i++) {
    const char *name = prism_safetensors_name(f, i);
    const prism_json *e = name ? prism_json_get(h, name) : NULL;
    if (!e) die("tensor name not in the header", name);
    prism_dtype dt;
    int64_t shape[PRISM_MAX_DIMS];
    int ndim = prism_safetensors_info(f, name, &dt, shape);
    if (ndim < 0 || ndim > PRISM_MAX_DIMS) die("info failed on a listed tensor", name);
    const char *code = prism_json_string_value(prism_json_get(e, "dtype"));
    if (!code || strcmp(code, dtype_code(dt))) die("dtype differs from the header", name);
    const prism_json *jshape = prism_json_get(e, "shape"), *off = prism_json_get(e, "data_offsets");
    if ((int)prism_json_length(jshape) != ndim) die("rank differs from the header", name);
    uint64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
      if (prism_json_kind_of(prism_json_at(jshape, (size_t)d)) != PRISM_JSON_INT ||
          prism_json_int_value(prism_json_at(jshape, (size_t)d)) != shape[d] || shape[d] < 0)
        die("shape differs from the header", name);
      numel *= (uint64_t)shape[d];
    }
    if (prism_json_length(off) != 2) die("data_offsets is not a pair", name);
    int64_t begin = prism_json_int_value(prism_json_at(off, 0)), end = prism_json_int_value(prism_json_at(off, 1));
    if (begin < 0 || end < begin || (uint64_t)end > section_size) die("data range outside the buffer", name);
    if ((uint64_t)(end - begin) != numel * prism_dtype_size(dt)) die("data range size is not numel x itemsize", name);
    covered += (uint64_t)(end - begin);

    prism_tensor *t = prism_safetensors_load(f, name, err, sizeof err);
    if (!t) die("an accepted tensor does not load", err);
    if (prism_tensor_numel(t) != (int64_t)numel || t->dtype != dt || t->ndim != ndim) die("loaded tensor differs", name);
    if (numel && memcmp(prism_tensor_data(t), section + begin, (size_t)(end - begin)))
      die("loaded bytes differ from the buffer range", name);
    /* a fresh target of the same dtype/shape for load_into */
    targets[i].name = name;
    targets[i].tensor = prism_tensor_empty(dt, PRISM_CPU, ndim, shape);
    if (!targets[i].tensor) die("out of memory", NULL);
    prism_tensor_release(t);
  }
  if (covered != section_size) die("tensors do not tile the data section", NULL);

  if (prism_safetensors_load_into(f, targets, n, err, sizeof err) != PRISM_ST_OK) die("load_into refused an exact match", err);
  for (int i = 0; i < n; i++) {
    const prism_json *off = prism_json_get(prism_json_get(h, targets[i].name), "data_offsets");
    int64_t begin = prism_json_int_value(prism_json_at(off, 0)), end = prism_json_int_value(prism_json_at(off, 1));
    if (end > begin && memcmp(prism_tensor_data(targets[i].tensor), section + begin, (size_t)(end - begin)))
      die("load_into copied other bytes", targets[i].name);
  }
  if (n > 0 && prism_safetensors_load_into(f, targets + 1, n - 1, err, sizeof err) == PRISM_ST_OK)
    die("load_into accepted a file holding a tensor that is not a target", NULL);
  for (int i = 0; i < n; i++) prism_tensor_release(targets[i].tensor);
  free(targets);
  prism_json_free(h);
  prism_safetensors_close(f);
  return 0;
}
