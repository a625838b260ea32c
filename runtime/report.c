/* report.c — the child → parent record stream (see report.h). */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ child side */

static int emit(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int emit(int fd, const char *fmt, ...) {
  char line[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return -1;
  if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  size_t off = 0;
  while (off < (size_t)n) { /* one line is well under PIPE_BUF, so this is one atomic write */
    ssize_t w = write(fd, line + off, (size_t)n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    off += (size_t)w;
  }
  return 0;
}

/* Percent-escapes everything that is not printable ASCII other than space and '%'. */
static void escape(const char *s, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  if (!s || !*s) s = "-";
  for (; *s && o + 4 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c > 32 && c < 127 && c != '%') {
      out[o++] = (char)c;
    } else {
      out[o++] = '%';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    }
  }
  out[o] = '\0';
}

static void unescape(const char *s, char *out, size_t cap) {
  size_t o = 0;
  if (strcmp(s, "-") == 0) s = "";
  for (; *s && o + 1 < cap; s++) {
    if (*s == '%' && s[1] && s[2]) {
      char h[3] = {s[1], s[2], 0};
      out[o++] = (char)strtol(h, NULL, 16);
      s += 2;
    } else {
      out[o++] = *s;
    }
  }
  out[o] = '\0';
}

int prism_report_capture(int fd, int batch_size, int seq_len, const char *tokenizer, const char *basis,
                         int shard_count, int64_t available_bytes) {
  char t[96], b[64];
  escape(tokenizer, t, sizeof t);
  escape(basis, b, sizeof b);
  return emit(fd, "capture %d %d %s %s %d %lld", batch_size, seq_len, t, b, shard_count, (long long)available_bytes);
}

int prism_report_batch(int fd, double loss, int64_t predicted, double nbytes, bool nan_inf) {
  return emit(fd, "batch %a %lld %a %d", loss, (long long)predicted, nbytes, nan_inf ? 1 : 0);
}

int prism_report_params(int fd, int64_t count) { return emit(fd, "params %lld", (long long)count); }

int prism_report_summary(int fd, int64_t documents, int64_t offsets, int64_t distinct_offsets, int64_t tokens,
                         int64_t skipped_lines, const char *stopped_reason) {
  char r[64];
  escape(stopped_reason, r, sizeof r);
  return emit(fd, "summary %lld %lld %lld %lld %lld %s", (long long)documents, (long long)offsets,
              (long long)distinct_offsets, (long long)tokens, (long long)skipped_lines, r);
}

int prism_report_done(int fd, double wall, int64_t peak_rss, int64_t peak_tensor, bool trained_state_saved) {
  return emit(fd, "done %a %lld %lld %d", wall, (long long)peak_rss, (long long)peak_tensor, trained_state_saved ? 1 : 0);
}

int prism_report_heldout(int fd, double val_random_init, double val_trained, int64_t val_covered_bytes,
                         double train_converged, const char *val_basis) {
  char conv[64], b[64];
  if (isnan(train_converged)) snprintf(conv, sizeof conv, "-");
  else snprintf(conv, sizeof conv, "%a", train_converged);
  escape(val_basis, b, sizeof b);
  return emit(fd, "heldout %a %a %lld %s %s", val_random_init, val_trained, (long long)val_covered_bytes, conv, b);
}

int prism_report_heldout_skip(int fd, const char *reason) {
  char r[1024];
  escape(reason, r, sizeof r);
  return emit(fd, "heldout-skip %s", r);
}

int prism_report_fail(int fd, const prism_failure *f) {
  char rule[128], file[768], msg[3100];
  escape(f->rule_id, rule, sizeof rule);
  escape(f->file, file, sizeof file);
  escape(f->message, msg, sizeof msg);
  return emit(fd, "fail %s %d %s %s", rule, f->line, file, msg);
}

/* ------------------------------------------------------------------ parent side */

void prism_run_record_init(prism_run_record *r) {
  memset(r, 0, sizeof *r);
  r->model_params = -1;
  r->train_bpb_basis[0] = '\0';
  r->train_bpb_converged = NAN;
  r->val_bpb_random_init = NAN;
  r->val_bpb_trained = NAN;
}

void prism_run_record_free(prism_run_record *r) {
  free(r->online_loss);
  free(r->covered_bytes_cumulative);
  r->online_loss = r->covered_bytes_cumulative = NULL;
  r->n_batches = r->cap_batches = 0;
}

static int push_batch(prism_run_record *r, double loss, int64_t predicted, double nbytes, int nan_inf) {
  if (r->n_batches == r->cap_batches) {
    size_t cap = r->cap_batches ? r->cap_batches * 2 : 256;
    double *l = realloc(r->online_loss, cap * sizeof *l);
    if (!l) return -1;
    r->online_loss = l;
    double *c = realloc(r->covered_bytes_cumulative, cap * sizeof *c);
    if (!c) return -1;
    r->covered_bytes_cumulative = c;
    r->cap_batches = cap;
  }
  /* Accumulated here, in batch order, exactly as the reference runner does (§1.8.4 step 8). */
  r->sum_nll_nats += loss * (double)predicted;
  r->predicted_tokens += predicted;
  r->covered_bytes += nbytes;
  if (nan_inf) r->nan_inf_batches++;
  r->online_loss[r->n_batches] = loss;
  r->covered_bytes_cumulative[r->n_batches] = r->covered_bytes;
  r->n_batches++;
  return 0;
}

static int parse_line(prism_run_record *r, char *line) {
  char tag[32], a[1024], b[1024], c[1024], d[4096];
  long long i1, i2, i3, i4, i5;
  int n1, n2;
  if (sscanf(line, "%31s", tag) != 1) return -1;
  const char *rest = line + strlen(tag);
  if (strcmp(tag, "capture") == 0) {
    if (sscanf(rest, "%d %d %1023s %1023s %d %lld", &n1, &n2, a, b, &r->shard_count, &i1) != 6) return -1;
    r->capture_started = true;
    r->batch_size = n1;
    r->seq_len = n2;
    unescape(a, r->tokenizer, sizeof r->tokenizer);
    unescape(b, r->train_bpb_basis, sizeof r->train_bpb_basis);
    r->available_bytes = i1;
    return 0;
  }
  if (strcmp(tag, "batch") == 0) {
    double loss, nbytes;
    if (sscanf(rest, "%la %lld %la %d", &loss, &i1, &nbytes, &n1) != 4) return -1;
    return push_batch(r, loss, i1, nbytes, n1);
  }
  if (strcmp(tag, "params") == 0) return sscanf(rest, "%lld", &i1) == 1 ? (r->model_params = i1, 0) : -1;
  if (strcmp(tag, "summary") == 0) {
    if (sscanf(rest, "%lld %lld %lld %lld %lld %1023s", &i1, &i2, &i3, &i4, &i5, a) != 6) return -1;
    r->have_summary = true;
    r->consumed_documents = i1, r->consumed_offsets = i2, r->distinct_offsets = i3;
    r->consumed_tokens = i4, r->skipped_lines = i5;
    unescape(a, r->stopped_reason, sizeof r->stopped_reason);
    return 0;
  }
  if (strcmp(tag, "done") == 0) {
    if (sscanf(rest, "%la %lld %lld %d", &r->wall_clock_seconds, &i1, &i2, &n1) != 4) return -1;
    r->finished = true;
    r->peak_rss_bytes = i1, r->peak_tensor_bytes = i2, r->trained_state_saved = n1 != 0;
    return 0;
  }
  if (strcmp(tag, "heldout") == 0) {
    if (sscanf(rest, "%la %la %lld %1023s %1023s", &r->val_bpb_random_init, &r->val_bpb_trained, &i1, a, b) != 5) return -1;
    r->have_heldout = true;
    r->val_covered_bytes = i1;
    r->train_bpb_converged = strcmp(a, "-") == 0 ? NAN : strtod(a, NULL);
    unescape(b, r->val_bpb_basis, sizeof r->val_bpb_basis);
    return 0;
  }
  if (strcmp(tag, "heldout-skip") == 0) {
    if (sscanf(rest, "%1023s", a) != 1) return -1;
    unescape(a, r->heldout_skip, sizeof r->heldout_skip);
    return 0;
  }
  if (strcmp(tag, "fail") == 0) {
    if (sscanf(rest, "%1023s %d %1023s %4095s", a, &n1, c, d) != 4) return -1;
    if (r->failure.rule_id[0]) return 0; /* the first failure wins */
    unescape(a, r->failure.rule_id, sizeof r->failure.rule_id);
    unescape(c, r->failure.file, sizeof r->failure.file);
    unescape(d, r->failure.message, sizeof r->failure.message);
    r->failure.line = n1;
    return 0;
  }
  (void)b;
  return -1;
}

int prism_report_parse(prism_run_record *r, const char *buf, size_t len) {
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    if (buf[i] != '\n') continue;
    size_t n = i - start;
    char *line = malloc(n + 1);
    if (!line) return -1;
    memcpy(line, buf + start, n);
    line[n] = '\0';
    int rc = parse_line(r, line);
    if (rc < 0 && !r->failure.rule_id[0])
      prism_failure_set(&r->failure, "prism:internal", NULL, 0, "malformed child report line: %.200s", line);
    free(line);
    if (rc < 0) return -1;
    start = i + 1;
  }
  return 0;
}
