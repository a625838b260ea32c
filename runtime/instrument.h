/* instrument.h — the online-loss capture behind ctx:iter_train_batches (SPEC §5, reference
 * §1.8–1.9): single use, lazy start, the parameter cap on the model actually trained, byte
 * weights, [B,T] windows and the [1,n] tail, the budget order, and the model's loss on every
 * batch recorded (report.h `batch`) BEFORE the batch is handed to the submission. */
#ifndef PRISM_INSTRUMENT_H
#define PRISM_INSTRUMENT_H

#include <stdbool.h>
#include <stdint.h>

#include <lua.h>

/* ctx:iter_train_batches(model, opts) with ctx at 1, model at 2, opts at 3: the first call
 * creates the process's one capture (reports `capture`); every call returns an iterator. */
int prism_instrument_iter(lua_State *L);

typedef struct prism_capture_summary {
  bool created;                /* iter_train_batches was called */
  bool started;                /* an iterator asked for its first batch */
  int64_t batches, documents, offsets, distinct_offsets, tokens, skipped_lines;
  const char *stopped_reason;  /* NULL = null (never started, or the loop stopped early) */
  int64_t scored_params;       /* the last parameter-cap count, -1 before any */
} prism_capture_summary;

/* The capture's counters after train returned (all zero / NULL when there was no capture). */
void prism_instrument_summary(lua_State *L, prism_capture_summary *out);
/* Pushes the scored model (the one handed to the iterator that started), or nil. */
void prism_instrument_push_model(lua_State *L);

/* Builds the [rows, cols] int64 tensor of ids (already reduced mod the vocabulary), pushes it,
 * runs the model at model_idx on it with gradients off (the model's __call), and returns the
 * mean cross-entropy in nats of logits[:, 1..cols-1] against tokens[:, 2..cols] mod the logits
 * width — NaN/Inf returned as they are. The output may be a tensor, a table whose [1] is one, or
 * a table with .logits; 2-D logits get a leading batch dimension. The tokens tensor stays on
 * the stack. Raises a Lua error when the forward fails or returns something else. */
double prism_instrument_window_loss(lua_State *L, int model_idx, const int64_t *ids, int64_t rows, int64_t cols);

#endif
