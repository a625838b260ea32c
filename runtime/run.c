/* run.c — one evaluation, parent side (see run.h). The parent is trusted and stays simple: it
 * validates the bundle in memory (bundle.c), then everything that executes miner code happens in
 * jailed children (jail.c) that talk back only through report records (report.h). The verdict is
 * decided here from those records and from how each child ended — a watchdog kill, a signal, an
 * exit status — never from anything a child printed. Whatever happens after the output directory
 * exists, a manifest is written (manifest.c), failures included, and the exit code follows
 * SPEC §1. The parent never runs a tensor op: OpenMP's thread pool must not exist before fork. */
#define _GNU_SOURCE
#include "run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "bundle.h"
#include "clock.h"
#include "static_gate.h"
#include "child.h"
#include "data.h"
#include "jail.h"
#include "manifest.h"
#include "seccomp_filter.h"
#include "tokenizer/tokenizer.h"

#define GIB ((uint64_t)1 << 30)

void prism_run_options_defaults(prism_run_options *o) {
  memset(o, 0, sizeof *o);
  o->device = "cpu";
  o->nproc = 1;
  o->seed = 1337;
  o->vocab_size = 4096;
  o->seq_len = 128;
  o->max_params = 150000000;
  o->max_layers = 96;
  o->token_budget = -1;
  o->step_budget = -1;
  o->time_budget = 1200;
  o->grace = 120;
  o->static_timeout = 30;
  o->heldout_timeout = 600;
  o->artifacts_quota = (int64_t)2 << 30;
  o->heldout_bytes = 65536;
}


static const char *format_count(int64_t n, char *buf, size_t cap) {
  char digits[32];
  snprintf(digits, sizeof digits, "%lld", (long long)(n < 0 ? -n : n));
  size_t len = strlen(digits), o = 0;
  if (n < 0 && o + 1 < cap) buf[o++] = '-';
  for (size_t i = 0; i < len && o + 2 < cap; i++) {
    if (i > 0 && (len - i) % 3 == 0) buf[o++] = ',';
    buf[o++] = digits[i];
  }
  buf[o] = '\0';
  return buf;
}

/* ------------------------------------------------------------------ verdicts */

int prism_run_exit_code_for(const prism_failure *f, bool at_gate) {
  if (!f->rule_id[0]) return 0;
  if (!strcmp(f->rule_id, "prism:internal")) return 4;
  return at_gate ? 3 : 1;
}

static void add_violation(prism_run_outcome *out, const prism_failure *f) {
  for (int i = 0; i < out->n_violations; i++) {
    const prism_failure *v = &out->violations[i];
    if (!strcmp(v->rule_id, f->rule_id) && !strcmp(v->file, f->file) && v->line == f->line) return;
  }
  prism_failure *grown = realloc(out->violations, sizeof *grown * (size_t)(out->n_violations + 1));
  if (!grown) return;
  out->violations = grown;
  out->violations[out->n_violations++] = *f;
}

/* ------------------------------------------------------------------ paths and the output dir */

/* An absolute form of path (children run in another working directory): realpath when it
 * exists, else cwd + path. */
static char *absolute_path(const char *path) {
  if (!path) return NULL;
  char *r = realpath(path, NULL);
  if (r) return r;
  if (path[0] == '/') return strdup(path);
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) return strdup(path);
  size_t n = strlen(cwd) + strlen(path) + 2;
  char *s = malloc(n);
  if (s) snprintf(s, n, "%s/%s", cwd, path);
  return s;
}

static int mkdir_p(const char *path) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return -1;
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
  struct stat st;
  return stat(buf, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

/* The names prism owns in OUT: removed before a run, so nothing stale (or planted) survives. */
static void remove_owned_files(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (fnmatch("prism_run_manifest*.json", e->d_name, 0) == 0 || !strcmp(e->d_name, "trained_state.safetensors"))
      unlinkat(dirfd(d), e->d_name, 0);
  }
  closedir(d);
}

/* What the run has written to OUT, for the quota: regular files, symlinks not followed. The
 * trained state the runtime saves after train returns is not the miner's and does not count (the
 * reference saves it after its quota watchdog has stopped). */
static _Thread_local int64_t tree_bytes;
static int add_size(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  if (flag != FTW_F || !S_ISREG(sb->st_mode)) return 0;
  if (ftw->level == 1 && !strcmp(path + ftw->base, "trained_state.safetensors")) return 0;
  tree_bytes += (int64_t)sb->st_size;
  return 0;
}
static int64_t dir_bytes(const char *dir) {
  tree_bytes = 0;
  nftw(dir, add_size, 16, FTW_PHYS);
  return tree_bytes;
}

/* Bundle name for the default OUT when intake failed: the path's last component without .zip. */
static void name_from_path(const char *path, char *buf, size_t cap) {
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s", path);
  size_t n = strlen(tmp);
  while (n > 1 && tmp[n - 1] == '/') tmp[--n] = '\0';
  const char *base = strrchr(tmp, '/');
  base = base ? base + 1 : tmp;
  snprintf(buf, cap, "%s", *base ? base : "bundle");
  n = strlen(buf);
  if (n > 4 && !strcasecmp(buf + n - 4, ".zip")) buf[n - 4] = '\0';
  if (!strcmp(buf, ".") || !strcmp(buf, "..")) snprintf(buf, cap, "bundle");
}

/* ------------------------------------------------------------------ the report stream */

typedef struct line_sink {
  prism_run_record *rec;
  prism_run_outcome *gate_out; /* gate: each fail record is also collected as a violation */
  char *buf;
  size_t len, cap;
  bool broken;                 /* a line over 1 MiB or out of memory: an internal error */
  bool progress;
  size_t shown_batches;
  double last_shown, started;
} line_sink;

static void sink_line(line_sink *s, const char *line, size_t n) {
  if (s->gate_out && n > 5 && !memcmp(line, "fail ", 5)) {
    prism_run_record one;
    prism_run_record_init(&one);
    if (prism_report_parse(&one, line, n + 1) == 0 && one.failure.rule_id[0]) add_violation(s->gate_out, &one.failure);
    prism_run_record_free(&one);
  }
  prism_report_parse(s->rec, line, n + 1); /* n + 1: includes the '\n' that ends it */
}

static void show_progress(line_sink *s, bool final) {
  if (!s->progress || s->rec->n_batches == s->shown_batches) return;
  double now = prism_now();
  if (!final && now - s->last_shown < 0.25) return;
  size_t n = s->rec->n_batches;
  fprintf(stderr, "\rprism: run: batch %zu  online loss %.4f  %.0f bytes  %.1f s   ", n, s->rec->online_loss[n - 1],
          s->rec->covered_bytes, now - s->started);
  if (final) fputc('\n', stderr);
  fflush(stderr);
  s->shown_batches = n;
  s->last_shown = now;
}

static void sink_data(void *arg, const char *buf, size_t n) {
  line_sink *s = arg;
  if (s->broken) return;
  for (size_t i = 0; i < n; i++) {
    if (s->len + 1 >= s->cap) {
      size_t cap = s->cap ? s->cap * 2 : 4096;
      char *grown = cap <= ((size_t)1 << 20) ? realloc(s->buf, cap) : NULL;
      if (!grown) {
        s->broken = true;
        return;
      }
      s->buf = grown;
      s->cap = cap;
    }
    s->buf[s->len++] = buf[i];
    if (buf[i] == '\n') {
      sink_line(s, s->buf, s->len - 1);
      s->len = 0;
    }
  }
  show_progress(s, false);
}

static void sink_finish(line_sink *s) {
  show_progress(s, true);
  if ((s->broken || s->len > 0) && !s->rec->failure.rule_id[0])
    prism_failure_set(&s->rec->failure, "prism:internal", NULL, 0, "a child's report stream ended mid-record");
  free(s->buf);
  s->buf = NULL;
}

/* ------------------------------------------------------------------ children */

typedef struct child_job {
  const prism_eval_config *cfg;
  int fd;
  int kind; /* 0 gate, 1 run, 2 held-out */
} child_job;

static bool has_lua_suffix(const char *path) {
  size_t n = strlen(path);
  return n > 4 && !strcasecmp(path + n - 4, ".lua");
}

/* Every .lua file of the bundle must compile, not only the entrypoints: a miner learns about a
 * broken helper module at check time, not in the middle of a scored run. Text mode only. */
static void report_syntax_errors(const prism_bundle *b, int fd) {
  lua_State *L = luaL_newstate();
  if (!L) return;
  for (int i = 0; i < b->n_files; i++) {
    const prism_bundle_file *f = &b->files[i];
    if (!has_lua_suffix(f->path)) continue;
    char chunk[300];
    snprintf(chunk, sizeof chunk, "@%s", f->path);
    if (luaL_loadbufferx(L, (const char *)f->data, f->size, chunk, "t") != 0) {
      prism_failure e;
      const char *msg = lua_tostring(L, -1);
      prism_failure_from_lua(&e, "prism:syntax", msg);
      if (!e.file[0]) snprintf(e.file, sizeof e.file, "%s", f->path);
      prism_report_fail(fd, &e);
    }
    lua_settop(L, 0);
  }
  lua_close(L);
}

static int child_main(void *arg) {
  child_job *job = arg;
  switch (job->kind) {
  case 0:
    report_syntax_errors(job->cfg->bundle, job->fd);
    return prism_child_static(job->cfg, job->fd);
  case 1: return prism_child_run(job->cfg, job->fd);
  default: return prism_child_heldout(job->cfg, job->fd);
  }
}

typedef struct quota_watch {
  const char *dir;
  int64_t baseline, quota;
} quota_watch;

typedef struct tick_ctx {
  line_sink *sink;
  quota_watch *quota;
} tick_ctx;

static int on_tick(void *arg) {
  tick_ctx *t = arg;
  if (t->sink) show_progress(t->sink, false);
  if (t->quota && t->quota->quota >= 0 && dir_bytes(t->quota->dir) - t->quota->baseline > t->quota->quota) return 1;
  return 0;
}

static void on_data(void *arg, const char *buf, size_t n) { sink_data(((tick_ctx *)arg)->sink, buf, n); }

static uint64_t physical_memory(void) {
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 8 * GIB;
}

static int64_t trained_state_bound(const prism_run_options *o) {
  int64_t need = (o->max_params > 0 && o->max_params < ((int64_t)1 << 40) ? o->max_params * 8 : (int64_t)1 << 43) +
                 ((int64_t)16 << 20);
  return o->artifacts_quota > need ? o->artifacts_quota : need;
}

/* The child's own count hook (sandbox/hook.c) stops submission Lua shortly before the watchdog
 * would kill the child, so the child itself ends the job with prism:budget-exceeded and the
 * file:line of the loop (a SIGKILL says neither where nor why). Margin: half the slack, at most
 * 5 s, where the slack is the grace for the run (so Lua is never stopped before the time budget,
 * which ctx:iter_train_batches enforces gracefully, and the loop's tail keeps most of its grace)
 * and a fifth of the bound for the static and held-out children (30 s: stopped at 27 s). 5 s is
 * ample to unwind, close the state and write the records on a loaded machine. The watchdog stays
 * the bound for what the hook cannot stop: a long C call (string.rep, a huge matmul) or an xpcall
 * message handler, which LuaJIT runs with hooks off. With no grace the two coincide and either
 * may end the run (both say prism:budget-exceeded). */
static void set_lua_deadline(const prism_run_options *o, int kind, double timeout_s, prism_eval_config *c,
                             char *limit, size_t cap) {
  if (!(timeout_s > 0)) return;
  double slack = kind == 1 ? (o->grace > 0 ? o->grace : 0) : timeout_s / 5;
  double margin = slack / 2 < 5 ? slack / 2 : 5;
  c->lua_deadline = prism_now() + timeout_s - margin;
  if (kind == 1)
    snprintf(limit, cap, "the wall-clock limit (time budget %g s + grace %g s, stopped %g s early); keep the loop inside "
             "ctx:iter_train_batches so the budget can end it", o->time_budget, o->grace > 0 ? o->grace : 0, margin);
  else snprintf(limit, cap, "the %s's time bound (%g s)", kind == 0 ? "static check" : "held-out pass", timeout_s - margin);
  c->lua_deadline_limit = limit;
}

/* Runs one job in a jailed child and collects its records into rec. */
static int run_child(const prism_run_options *o, const prism_eval_config *cfg, int kind, double timeout_s,
                     prism_run_record *rec, prism_run_outcome *gate_out, quota_watch *quota, prism_jail_result *res,
                     prism_failure *err) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0)
    return prism_failure_set(err, "prism:internal", NULL, 0, "cannot create the report pipe: %s", strerror(errno));
  int threads = cfg->threads > 0 ? cfg->threads : 1;
  prism_jail_limits lim = {
      /* The reference gives the static check 8 GiB of headroom; training gets the machine. */
      .address_space_headroom = kind == 0 ? 8 * GIB : (physical_memory() > 8 * GIB ? physical_memory() : 8 * GIB),
      /* CPU time is summed over threads; the wall-clock watchdog is the real bound. */
      .cpu_seconds = timeout_s > 0 ? timeout_s * (threads + 1) + 30 : 0,
      /* Per file: the quota, but never below what the trained state of a model at the cap
       * needs (8 bytes a parameter is generous for fp32 weights plus the header). */
      .file_size = trained_state_bound(o),
      .nofile = 64,
      /* The child's own tasks (its main thread, threads - 1 OpenMP workers, OpenBLAS's pthread
       * pool of at most one thread a core) plus 256 for other processes of the same user that
       * start while it runs (a second evaluation, a shell): the limit is counted over the whole
       * uid, and a too-tight one would fail a good run's thread creation. No effect as root. */
      .nproc_headroom = 256 + threads + (int)sysconf(_SC_NPROCESSORS_ONLN),
      .silence_output = o->quiet,
      .seccomp = true, /* every kind runs submission code */
  };
  lim.keep_fds[lim.n_keep_fds++] = p[1];
  /* What each child may open (landlock.h): the gate only the tokenizer files; the run the train
   * split and the artifacts dir (its only writable place); the held-out also the val split (it
   * alone ever opens it) and the trained state, read-only. */
  lim.landlock = true;
  const char *tok_dir = prism_tokenizer_resolve_dir(cfg->tokenizers_dir);
  lim.fs_rules[lim.n_fs_rules++] = (prism_landlock_rule){tok_dir, false};
  if (kind >= 1) lim.fs_rules[lim.n_fs_rules++] = (prism_landlock_rule){cfg->data_dir, false};
  if (kind >= 1) lim.fs_rules[lim.n_fs_rules++] = (prism_landlock_rule){cfg->artifacts_dir, kind == 1};
  if (kind == 2) lim.fs_rules[lim.n_fs_rules++] = (prism_landlock_rule){cfg->val_dir, false};
  prism_eval_config jcfg = *cfg; /* this child's copy: its Lua deadline */
  char limit[256];
  set_lua_deadline(o, kind, timeout_s, &jcfg, limit, sizeof limit);
  child_job job = {.cfg = &jcfg, .fd = p[1], .kind = kind};
  prism_jail jail;
  if (prism_jail_start(&jail, &lim, child_main, &job, err) != 0) {
    close(p[0]);
    close(p[1]);
    return -1;
  }
  close(p[1]);
  line_sink sink = {.rec = rec, .gate_out = gate_out, .progress = kind == 1 && o->progress && !o->quiet,
                    .started = prism_now()};
  tick_ctx tick = {.sink = &sink, .quota = quota};
  prism_jail_watch w = {.read_fd = p[0], .timeout_s = timeout_s, .on_data = on_data, .on_tick = on_tick,
                        .tick_s = 0.5, .arg = &tick};
  int rc = prism_jail_wait(&jail, &w, res, err);
  close(p[0]);
  sink_finish(&sink);
  prism_jail_cleanup(&jail);
  return rc;
}

/* ------------------------------------------------------------------ stages */

static void say(const prism_run_options *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const prism_run_options *o, const char *fmt, ...) {
  if (o->quiet) return;
  va_list ap;
  va_start(ap, fmt);
  fputs("prism: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static void fill_config(const prism_run_options *o, const prism_bundle *b, prism_eval_config *cfg, char **paths) {
  memset(cfg, 0, sizeof *cfg);
  cfg->bundle = b;
  cfg->data_dir = paths[0];
  cfg->val_dir = paths[1];
  cfg->artifacts_dir = paths[2];
  cfg->tokenizers_dir = paths[3];
  cfg->device = o->device ? o->device : "cpu";
  cfg->seed = o->seed;
  cfg->vocab_size = o->vocab_size;
  cfg->seq_len = o->seq_len;
  cfg->max_params = o->max_params;
  cfg->max_layers = o->max_layers;
  cfg->token_budget = o->token_budget;
  cfg->step_budget = o->step_budget;
  cfg->time_budget = o->time_budget;
  cfg->grace = o->grace;
  cfg->artifacts_quota = o->artifacts_quota;
  cfg->heldout_bytes = o->heldout_bytes;
  cfg->threads = o->threads;
  cfg->world_size = 1;
  cfg->rank = 0;
}

/* Intake, kept on out; NULL on rejection (out->failure set). */
static prism_bundle *stage_intake(const prism_run_options *o, prism_run_outcome *out) {
  out->stage = "intake";
  prism_bundle *b = prism_bundle_load(o->bundle_path, &out->failure);
  if (!b) {
    if (!out->failure.rule_id[0])
      prism_failure_set(&out->failure, "prism:internal", NULL, 0, "intake failed without a reason");
    add_violation(out, &out->failure);
    name_from_path(o->bundle_path, out->bundle_name, sizeof out->bundle_name);
    return NULL;
  }
  snprintf(out->bundle_name, sizeof out->bundle_name, "%s", b->name && *b->name ? b->name : "bundle");
  if (b->n_warnings > 0) {
    out->warnings = calloc((size_t)b->n_warnings, sizeof *out->warnings);
    for (int i = 0; out->warnings && i < b->n_warnings; i++) {
      out->warnings[i] = strdup(b->warnings[i]);
      out->n_warnings++;
    }
  }
  char total[32];
  say(o, "intake: %s: %d files, %s bytes; entrypoints %s::%s and %s::%s", o->bundle_path, b->n_files,
      format_count((int64_t)b->total_bytes, total, sizeof total), b->arch_path, b->arch_symbol, b->train_path,
      b->train_symbol);
  return b;
}

/* The bytecode static gate (sandbox/static_gate.h), in this process before any child: every
 * forbidden global and require is a violation, all reported at once. Syntax errors alone are
 * left to the gate child (its report is the reference); with other hits they come along. */
static int stage_static_scan(const prism_run_options *o, const prism_eval_config *cfg, prism_run_outcome *out) {
  prism_failure *hits = NULL;
  int n = prism_static_gate_scan(cfg->bundle, &hits);
  bool any = n < 0;
  for (int i = 0; i < n; i++) any = any || strcmp(hits[i].rule_id, "prism:syntax") != 0;
  if (any && hits)
    for (int i = 0; i < (n < 0 ? 1 : n); i++) add_violation(out, &hits[i]);
  free(hits);
  if (!any) return 0;
  if (out->n_violations == 0)
    prism_failure_set(&out->failure, "prism:internal", NULL, 0, "out of memory in the bytecode static gate");
  else out->failure = out->violations[0];
  return -1;
}

/* The gate child: syntax of every .lua file, forced-seed build_model, parameter count. */
static int stage_gate(const prism_run_options *o, const prism_eval_config *cfg, prism_run_outcome *out) {
  out->stage = "gate";
  if (stage_static_scan(o, cfg, out) != 0) return -1;
  prism_run_record rec;
  prism_run_record_init(&rec);
  prism_jail_result res;
  prism_failure err;
  int rc = run_child(o, cfg, 0, o->static_timeout, &rec, out, NULL, &res, &err);
  char a[32], c[32];
  if (rc != 0) {
    add_violation(out, &err);
  } else if (res.interrupted) {
    prism_failure_set(&err, "prism:internal", NULL, 0, "interrupted");
    add_violation(out, &err);
  } else if (res.timed_out) {
    prism_failure_set(&err, "prism:build-model-resource", cfg->bundle->arch_path, 0,
                      "build_model(ctx) did not finish within %g s (the static check's time bound)", o->static_timeout);
    add_violation(out, &err);
  } else if (res.signal == SIGSYS) {
    prism_failure_set(&err, "prism:sandbox-violation", NULL, 0, "static check: %s", PRISM_SECCOMP_VIOLATION_MESSAGE);
    add_violation(out, &err);
  } else if (res.signal) {
    prism_failure_set(&err, "prism:build-model-resource", cfg->bundle->arch_path, 0,
                      "the static check was killed by %s while building the model (memory or CPU limit)",
                      prism_jail_signal_name(res.signal));
    add_violation(out, &err);
  } else if (out->n_violations == 0 && rec.failure.rule_id[0]) {
    add_violation(out, &rec.failure); /* a malformed stream (prism:internal) */
  } else if (out->n_violations == 0 && res.exit_code != 0) {
    prism_failure_set(&err, res.exit_code == 125 ? "prism:internal" : "prism:build-model-resource",
                      cfg->bundle->arch_path, 0, "the static check exited with status %d without a verdict",
                      res.exit_code);
    add_violation(out, &err);
  } else if (out->n_violations == 0 && rec.model_params < 0) {
    prism_failure_set(&err, "prism:internal", NULL, 0, "the static check reported no parameter count");
    add_violation(out, &err);
  }
  out->static_params = rec.model_params;
  if (out->n_violations == 0 && o->max_params > 0 && rec.model_params > o->max_params) {
    /* The child enforces the cap; the parent re-checks the number it was told. */
    prism_failure_set(&err, "prism:param-cap", cfg->bundle->arch_path, 0,
                      "build_model(ctx) returned a model with %s parameters, exceeding the %s parameter cap",
                      format_count(rec.model_params, a, sizeof a), format_count(o->max_params, c, sizeof c));
    add_violation(out, &err);
  }
  prism_run_record_free(&rec);
  if (out->n_violations > 0) {
    out->failure = out->violations[0];
    return -1;
  }
  say(o, "gate: build_model(ctx) with seed %lld: %s parameters (cap %s)", (long long)o->seed,
      format_count(out->static_params, a, sizeof a), format_count(o->max_params, c, sizeof c));
  return 0;
}

/* The scored run. The verdict's failure goes to out->failure. */
static void stage_run(const prism_run_options *o, const prism_eval_config *cfg, prism_run_outcome *out) {
  out->stage = "run";
  prism_run_record *rec = &out->record;
  double hard = o->time_budget > 0 ? o->time_budget + (o->grace > 0 ? o->grace : 0) : 0;
  if (hard > 0) say(o, "run: train(ctx) with a %g s budget; the watchdog stops it at %g s", o->time_budget, hard);
  else say(o, "run: train(ctx) with no time budget");
  quota_watch quota = {.dir = cfg->artifacts_dir, .baseline = dir_bytes(cfg->artifacts_dir), .quota = o->artifacts_quota};
  prism_jail_result res;
  prism_failure err;
  char a[32];
  if (run_child(o, cfg, 1, hard, rec, NULL, &quota, &res, &err) != 0) {
    out->failure = err;
    return;
  }
  if (!rec->peak_rss_bytes || rec->peak_rss_bytes < res.peak_rss_bytes) rec->peak_rss_bytes = res.peak_rss_bytes;
  if (res.interrupted) {
    prism_failure_set(&out->failure, "prism:internal", NULL, 0, "interrupted");
  } else if (res.timed_out || res.signal == SIGXCPU) {
    snprintf(rec->stopped_reason, sizeof rec->stopped_reason, "wall_clock");
    if (res.timed_out)
      prism_failure_set(&out->failure, "prism:budget-exceeded", NULL, 0,
                        "training exceeded the wall-clock safety cap (%g s = time budget %g s + grace %g s) and "
                        "was killed; keep the loop inside ctx:iter_train_batches so the budget can end it",
                        hard, o->time_budget, o->grace);
    else
      prism_failure_set(&out->failure, "prism:budget-exceeded", NULL, 0,
                        "training exceeded its CPU-time limit and was killed");
  } else if (res.tick_code || res.signal == SIGXFSZ) {
    snprintf(rec->stopped_reason, sizeof rec->stopped_reason, "artifacts_quota");
    prism_failure_set(&out->failure, "prism:artifacts-quota", NULL, 0,
                      "the artifacts directory exceeded its quota of %s bytes; the run was killed",
                      format_count(o->artifacts_quota, a, sizeof a));
  } else if (rec->failure.rule_id[0]) {
    out->failure = rec->failure;
  } else if (res.signal == SIGSYS) {
    prism_failure_set(&out->failure, "prism:sandbox-violation", NULL, 0, "run: %s", PRISM_SECCOMP_VIOLATION_MESSAGE);
  } else if (res.signal == SIGKILL) {
    prism_failure_set(&out->failure, "prism:resource-oom", NULL, 0,
                      "the run process was killed by SIGKILL (out of memory: the kernel's OOM killer or a limit)");
  } else if (res.signal) {
    prism_failure_set(&out->failure, "prism:runtime-error", NULL, 0, "the run process crashed (%s, signal %d)",
                      prism_jail_signal_name(res.signal), res.signal);
  } else if (res.exit_code != 0) {
    prism_failure_set(&out->failure, res.exit_code == 125 ? "prism:internal" : "prism:runtime-error", NULL, 0,
                      "the run process exited with status %d without reporting a failure", res.exit_code);
  } else if (!rec->finished) {
    prism_failure_set(&out->failure, "prism:internal", NULL, 0, "the run process ended without its final report");
  }
  /* zero-forward and unscorable streams are decided by the manifest builder from the same record */
}

/* The basis the held-out scores on (SPEC §6): the run's runtime reference tokenizer when it used
 * gpt2 or llama, else bytes (NULL). A custom Lua tokenizer cannot run outside the run process,
 * so its held-out stays on bytes. */
static const char *heldout_tokenizer(const prism_run_record *rec) {
  static const char *const names[] = {"gpt2", "llama"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (!strcmp(rec->train_bpb_basis, names[i]) || !strcmp(rec->tokenizer, names[i])) return names[i];
  return NULL;
}

/* Held-out: only after a clean run whose trained weights were saved. Its failures only skip it. */
static void stage_heldout(const prism_run_options *o, const prism_eval_config *cfg, prism_run_outcome *out) {
  out->stage = "heldout";
  prism_run_record rec;
  prism_run_record_init(&rec);
  prism_jail_result res;
  prism_failure err;
  say(o, "held-out: random-init twin vs trained weights on the first %lld bytes of %s", (long long)o->heldout_bytes,
      cfg->val_dir);
  if (run_child(o, cfg, 2, o->heldout_timeout, &rec, NULL, NULL, &res, &err) != 0) {
    snprintf(out->heldout_skip, sizeof out->heldout_skip, "%.200s", err.message);
  } else if (res.timed_out) {
    snprintf(out->heldout_skip, sizeof out->heldout_skip, "timed out after %g s", o->heldout_timeout);
  } else if (res.signal == SIGSYS) {
    snprintf(out->heldout_skip, sizeof out->heldout_skip, "prism:sandbox-violation: killed by the system-call filter "
             "(SIGSYS): submission code tried a forbidden system call");
  } else if (res.signal) {
    snprintf(out->heldout_skip, sizeof out->heldout_skip, "killed by %s", prism_jail_signal_name(res.signal));
  } else if (rec.failure.rule_id[0]) {
    snprintf(out->heldout_skip, sizeof out->heldout_skip, "%.40s: %.200s", rec.failure.rule_id, rec.failure.message);
  } else if (rec.heldout_skip[0]) {
    snprintf(out->heldout_skip, sizeof out->heldout_skip, "%s", rec.heldout_skip);
  } else if (!rec.have_heldout) {
    snprintf(out->heldout_skip, sizeof out->heldout_skip, "the held-out process reported nothing (status %d)",
             res.exit_code);
  } else if (!(isfinite(rec.val_bpb_random_init) && rec.val_bpb_random_init > 0 && isfinite(rec.val_bpb_trained) &&
               rec.val_bpb_trained > 0)) {
    snprintf(out->heldout_skip, sizeof out->heldout_skip, "held-out bpb is not a finite positive number");
  } else {
    prism_run_record *r = &out->record;
    r->have_heldout = true;
    r->val_bpb_random_init = rec.val_bpb_random_init;
    r->val_bpb_trained = rec.val_bpb_trained;
    r->val_covered_bytes = rec.val_covered_bytes;
    r->train_bpb_converged = rec.train_bpb_converged;
    snprintf(r->val_bpb_basis, sizeof r->val_bpb_basis, "%s", rec.val_bpb_basis);
    out->heldout_ran = true;
  }
  if (!out->heldout_ran) {
    snprintf(out->record.heldout_skip, sizeof out->record.heldout_skip, "%s", out->heldout_skip);
    say(o, "held-out: skipped: %s", out->heldout_skip);
  }
  prism_run_record_free(&rec);
}

/* ------------------------------------------------------------------ manifest */

static void copy_json_string(const prism_json *v, char *buf, size_t cap) {
  const char *s = prism_json_string_value(v);
  snprintf(buf, cap, "%s", s ? s : "");
}

/* Builds, scores and atomically writes OUT/prism_run_manifest.v2.json from what the parent
 * knows: options, the children's records and the verdict so far. The manifest builder has the
 * last word on the verdict (a stream the scorer refuses is a failed run), so out->failure is
 * read back from the manifest's failure block. */
static void write_manifest(const prism_run_options *o, prism_run_outcome *out) {
  prism_manifest_info info = {
      .submission_id = o->submission_id ? o->submission_id : out->bundle_name,
      .miner = o->miner,
      .accepted_at = o->accepted_at,
      .seed = o->seed,
      .world_size = 1,
      .device = o->device ? o->device : "cpu",
      .data_dir = o->data_dir,
      .vocab_size = o->vocab_size,
      .trained_state = "trained_state.safetensors",
      .failure = &out->failure,
      .backend = "cpu",
  };
  prism_json *m = prism_manifest_build(&out->record, &info);
  if (!m) {
    prism_failure_set(&out->failure, "prism:internal", NULL, 0, "out of memory while building the manifest");
    return;
  }
  const prism_json *f = prism_json_get(m, "failure");
  if (prism_json_kind_of(f) == PRISM_JSON_OBJECT) {
    prism_failure mf;
    memset(&mf, 0, sizeof mf);
    copy_json_string(prism_json_get(f, "rule_id"), mf.rule_id, sizeof mf.rule_id);
    copy_json_string(prism_json_get(f, "message"), mf.message, sizeof mf.message);
    copy_json_string(prism_json_get(f, "file"), mf.file, sizeof mf.file);
    const prism_json *line = prism_json_get(f, "line");
    mf.line = prism_json_is_number(line) ? (int)prism_json_int_value(line) : 0;
    out->failure = mf;
  }
  char err[1024];
  if (prism_manifest_write(out->out_dir, m, err, sizeof err) != 0) {
    prism_failure_set(&out->failure, "prism:internal", NULL, 0, "cannot write the manifest: %s", err);
  } else {
    out->manifest_written = true;
  }
  out->manifest = m;
}

/* ------------------------------------------------------------------ entry points */

static void outcome_init(prism_run_outcome *out) {
  memset(out, 0, sizeof *out);
  out->stage = "intake";
  out->static_params = -1;
  prism_run_record_init(&out->record);
}

void prism_run_outcome_free(prism_run_outcome *out) {
  free(out->violations);
  for (int i = 0; i < out->n_warnings; i++) free(out->warnings[i]);
  free(out->warnings);
  prism_run_record_free(&out->record);
  prism_json_free(out->manifest);
  memset(out, 0, sizeof *out);
}

static void free_paths(char **paths, int n) {
  for (int i = 0; i < n; i++) free(paths[i]);
}

int prism_run_check(const prism_run_options *o, prism_run_outcome *out) {
  outcome_init(out);
  double t0 = prism_now();
  prism_jail_install_interrupt_handlers();
  prism_bundle *b = stage_intake(o, out);
  if (b) {
    char *paths[4] = {NULL, NULL, NULL, absolute_path(o->tokenizers_dir)};
    prism_eval_config cfg;
    fill_config(o, b, &cfg, paths);
    stage_gate(o, &cfg, out);
    free_paths(paths, 4);
    prism_bundle_free(b);
  }
  out->stage = "done";
  out->wall_seconds = prism_now() - t0;
  out->exit_code = prism_jail_interrupted() ? 130 : prism_run_exit_code_for(&out->failure, true);
  return out->exit_code;
}

int prism_run_evaluate(const prism_run_options *o, prism_run_outcome *out) {
  outcome_init(out);
  double t0 = prism_now();
  prism_jail_install_interrupt_handlers();
  prism_bundle *b = stage_intake(o, out);
  bool at_gate = true;

  /* OUT exists before anything can fail further, so every outcome leaves its manifest there. */
  if (o->out_dir) snprintf(out->out_dir, sizeof out->out_dir, "%s", o->out_dir);
  else snprintf(out->out_dir, sizeof out->out_dir, "prism-out/%s", out->bundle_name);
  bool too_long = (size_t)snprintf(out->manifest_path, sizeof out->manifest_path, "%s/%s", out->out_dir,
                                   PRISM_MANIFEST_NAME) >= sizeof out->manifest_path;
  if (too_long || mkdir_p(out->out_dir) != 0) {
    int e = too_long ? ENAMETOOLONG : errno;
    prism_failure_set(&out->failure, "prism:usage", NULL, 0, "cannot create the output directory %s: %s",
                      out->out_dir, strerror(e));
    prism_bundle_free(b);
    out->exit_code = 2;
    return 2;
  }
  remove_owned_files(out->out_dir);
  char *paths[4] = {absolute_path(o->data_dir), absolute_path(o->val_dir), absolute_path(out->out_dir),
                    absolute_path(o->tokenizers_dir)};
  prism_eval_config cfg;
  fill_config(o, b, &cfg, paths);

  if (b && stage_gate(o, &cfg, out) == 0) {
    at_gate = false;
    /* Resolve the train shards before forking: a missing dataset fails here, with no fallback. */
    prism_failure derr;
    prism_doc_stream *ds = prism_data_open_train(cfg.data_dir, &derr);
    if (!ds) {
      out->failure = derr;
      if (!out->failure.rule_id[0])
        prism_failure_set(&out->failure, "prism:data-missing", NULL, 0, "no train data at %s (no random-token fallback)",
                          cfg.data_dir);
    } else {
      prism_doc_stream_close(ds);
      stage_run(o, &cfg, out);
      if (!out->failure.rule_id[0] && cfg.val_dir) {
        cfg.heldout_tokenizer = heldout_tokenizer(&out->record);
        if (out->record.trained_state_saved) stage_heldout(o, &cfg, out);
        else snprintf(out->heldout_skip, sizeof out->heldout_skip, "the run saved no trained state");
      }
    }
  }
  if (prism_jail_interrupted()) {
    /* Ctrl-C is not an outcome of the evaluation: nothing is written, the caller exits 130. */
    prism_failure_set(&out->failure, "prism:interrupted", NULL, 0, "interrupted");
    free_paths(paths, 4);
    prism_bundle_free(b);
    out->exit_code = 130;
    return 130;
  }
  out->stage = "score";
  write_manifest(o, out);
  out->stage = "done";
  out->exit_code = prism_run_exit_code_for(&out->failure, at_gate);
  out->wall_seconds = prism_now() - t0;
  free_paths(paths, 4);
  prism_bundle_free(b);
  return out->exit_code;
}
