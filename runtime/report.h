/* report.h — what a jailed child tells the parent, and nothing else.
 *
 * Children (static gate, run, held-out) write line records to a pipe the parent created; the
 * verdict and the manifest are built by the parent from these records only, never from anything
 * the child printed on stdout/stderr. Records are written as they happen, so a run the watchdog
 * kills still leaves every batch it recorded. Doubles travel as C99 hex floats (%a): exact.
 *
 *   capture <batch_size> <seq_len> <tokenizer> <basis> <shard_count> <available_bytes>
 *   batch <loss> <predicted_tokens> <nbytes> <nan_inf 0|1>        (one per emitted batch)
 *   params <count>                                               (scored model's parameters)
 *   summary <documents> <offsets> <distinct_offsets> <tokens> <skipped_lines> <stopped_reason|->
 *   done <wall_clock_seconds> <peak_rss_bytes> <peak_tensor_bytes> <trained_state 0|1>
 *   heldout <val_random_init> <val_trained> <val_covered_bytes> <train_converged|-> <val_basis>
 *   heldout-skip <reason>
 *   fail <rule_id> <line> <file> <message>        (strings percent-escaped: no spaces/newlines)
 */
#ifndef PRISM_REPORT_H
#define PRISM_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "failure.h"

typedef struct prism_run_record {
  /* capture (the instrument) */
  bool capture_started;
  int batch_size, seq_len;
  char tokenizer[32];       /* "bytes" | "gpt2" | "llama" | "custom" */
  char train_bpb_basis[16]; /* "bytes" | "tokenizer" */
  int shard_count;
  int64_t available_bytes;
  /* per batch, in order */
  size_t n_batches, cap_batches;
  double *online_loss;               /* sanitized mean nats */
  double *covered_bytes_cumulative;  /* running sum of byte weights */
  /* accumulated by the parent from the batch records, in batch order */
  double sum_nll_nats;               /* Σ loss × predicted */
  double covered_bytes;              /* Σ byte weights (unrounded) */
  int64_t predicted_tokens;
  int64_t nan_inf_batches;
  /* summary */
  bool have_summary;
  int64_t consumed_documents, consumed_offsets, distinct_offsets, consumed_tokens, skipped_lines;
  char stopped_reason[32];  /* "" = null */
  int64_t model_params;     /* -1 = unknown */
  /* done */
  bool finished;
  double wall_clock_seconds;
  int64_t peak_rss_bytes, peak_tensor_bytes;
  bool trained_state_saved;
  /* held-out */
  bool have_heldout;
  double val_bpb_random_init, val_bpb_trained, train_bpb_converged; /* converged: NAN = absent */
  int64_t val_covered_bytes;
  char val_bpb_basis[16];
  char heldout_skip[256];   /* "" unless skipped */
  /* the first failure a child reported ("" rule_id = none) */
  prism_failure failure;
} prism_run_record;

/* ---- child side: each writes one complete line with a single write(2); -1 on I/O error ---- */
int prism_report_capture(int fd, int batch_size, int seq_len, const char *tokenizer, const char *basis,
                         int shard_count, int64_t available_bytes);
int prism_report_batch(int fd, double loss, int64_t predicted, double nbytes, bool nan_inf);
int prism_report_params(int fd, int64_t count);
int prism_report_summary(int fd, int64_t documents, int64_t offsets, int64_t distinct_offsets, int64_t tokens,
                         int64_t skipped_lines, const char *stopped_reason);
int prism_report_done(int fd, double wall_clock_seconds, int64_t peak_rss_bytes, int64_t peak_tensor_bytes,
                      bool trained_state_saved);
int prism_report_heldout(int fd, double val_random_init, double val_trained, int64_t val_covered_bytes,
                         double train_converged, const char *val_basis);
int prism_report_heldout_skip(int fd, const char *reason);
int prism_report_fail(int fd, const prism_failure *f);

/* ---- parent side ---- */
void prism_run_record_init(prism_run_record *r);
void prism_run_record_free(prism_run_record *r);
/* Applies every complete line of buf to r. A malformed line is an internal error: returns -1 and
 * describes it in r->failure (prism:internal) unless a failure is already recorded. */
int prism_report_parse(prism_run_record *r, const char *buf, size_t len);

#endif
