/* ctx.c — the ctx userdata (SPEC §3.1): read-only fields, build_model with the forced init,
 * iter_train_batches (the instrument, runtime/instrument.c), reference tokenizers, ctx:save —
 * the only way a submission writes a file — and rate-limited logging.
 *
 * The metatable is locked and the method table is an upvalue of __index, so a submission can
 * neither replace a method nor write a field. ctx:save opens names relative to the artifacts
 * directory's fd with O_NOFOLLOW, refuses anything that is not a regular file, never touches
 * the runtime's own names (trained_state.safetensors, prism_run_manifest*), and counts every
 * file in the directory against the quota before writing: exceeding it is fatal
 * (prism:artifacts-quota), as the reference's watchdog makes it. */
#include "ctx.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>

#include "bridge.h"
#include "instrument.h"
#include "json.h"
#include "rng.h"
#include "safetensors.h"
#include "state.h"
#include "tokenizer/tokenizer.h"

#define CTX_MT "prism.ctx.mt"
#define CTX_JOB "prism.ctx.job"
#define TOKENIZER_MT "prism.tokenizer.mt"

typedef struct {
  prism_job *job;
} ctx_ud;

void prism_job_set_fatal(prism_job *job, const prism_failure *f) {
  if (job && !job->fatal.rule_id[0]) job->fatal = *f;
}

prism_job *prism_ctx_job(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, CTX_JOB);
  prism_job *job = (prism_job *)lua_touserdata(L, -1);
  lua_pop(L, 1);
  return job;
}

static prism_job *check_ctx(lua_State *L, const char *fn) {
  ctx_ud *u = (ctx_ud *)lua_touserdata(L, 1);
  if (u && lua_getmetatable(L, 1)) {
    lua_getfield(L, LUA_REGISTRYINDEX, CTX_MT);
    bool same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (same) return u->job;
  }
  luaL_error(L, "ctx:%s: call it with ':' on the ctx (ctx:%s(...)), got %s as self", fn, fn, luaL_typename(L, 1));
  return NULL;
}

static void need_run(lua_State *L, prism_job *job, const char *fn) {
  if (job->kind != PRISM_CTX_RUN)
    luaL_error(L, "ctx:%s is not available while the runtime instantiates the model (%s): build_model must only "
                  "build the model",
               fn, job->kind == PRISM_CTX_STATIC ? "static gate" : "held-out evaluation");
}

/* ------------------------------------------------------------------ reference tokenizers */

/* A reference tokenizer object: a locked userdata over runtime/tokenizer/tokenizer.h. Opening
 * one reads and checksums its staged files, so each state opens a name once and hands out the
 * same object afterwards (registry table TOKENIZER_CACHE). */
#define TOKENIZER_CACHE "prism.tokenizer.cache"

typedef struct tok_ud {
  prism_tokenizer *t;
} tok_ud;

static tok_ud *to_tok(lua_State *L, int idx) {
  tok_ud *u = (tok_ud *)lua_touserdata(L, idx);
  if (!u || !lua_getmetatable(L, idx)) return NULL;
  lua_getfield(L, LUA_REGISTRYINDEX, TOKENIZER_MT);
  bool same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same && u->t ? u : NULL;
}

const char *prism_ctx_tokenizer_name(lua_State *L, int idx) {
  tok_ud *u = to_tok(L, idx);
  return u ? prism_tokenizer_name(u->t) : NULL;
}

prism_tokenizer *prism_ctx_tokenizer(lua_State *L, int idx) {
  tok_ud *u = to_tok(L, idx);
  return u ? u->t : NULL;
}

/* encode/decode are closures over their tokenizer, so both tok:encode(text) and
 * tok.encode(text) work. */
static tok_ud *tok_self(lua_State *L, int *arg) {
  tok_ud *u = to_tok(L, lua_upvalueindex(1));
  if (!u) luaL_error(L, "tokenizer: this tokenizer has been released");
  *arg = lua_rawequal(L, 1, lua_upvalueindex(1)) ? 2 : 1;
  return u;
}

/* A malloc'd buffer owned by a Lua userdata until taken, so a Lua error (out of memory while
 * building the result) cannot leak it. */
#define TOKENIZER_BUF_MT "prism.tokenizer.buf"
static int buf_gc(lua_State *L) {
  void **p = (void **)lua_touserdata(L, 1);
  if (p) {
    free(*p);
    *p = NULL;
  }
  return 0;
}
static void **push_buf_guard(lua_State *L) {
  void **p = (void **)lua_newuserdata(L, sizeof(void *));
  *p = NULL;
  if (luaL_newmetatable(L, TOKENIZER_BUF_MT)) {
    lua_pushcfunction(L, buf_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return p;
}

static int tok_encode(lua_State *L) {
  int a;
  tok_ud *u = tok_self(L, &a);
  size_t n;
  const char *s = luaL_checklstring(L, a, &n);
  void **guard = push_buf_guard(L);
  int64_t *ids = NULL;
  size_t count = 0, cap = 0;
  prism_failure err;
  memset(&err, 0, sizeof err);
  int rc = prism_tokenizer_encode(u->t, s, n, &ids, &count, &cap, &err);
  *guard = ids;
  if (rc != 0) return luaL_error(L, "%s: encode: %s", err.rule_id[0] ? err.rule_id : "prism:tokenizer-load", err.message);
  if (count > 0x7ffffffe) return luaL_error(L, "encode: %zu ids do not fit in a Lua array", count);
  lua_createtable(L, (int)count, 0);
  for (size_t i = 0; i < count; i++) {
    lua_pushnumber(L, (lua_Number)ids[i]);
    lua_rawseti(L, -2, (int)(i + 1));
  }
  free(*guard);
  *guard = NULL;
  return 1;
}

static int tok_decode(lua_State *L) {
  int a;
  tok_ud *u = tok_self(L, &a);
  luaL_checktype(L, a, LUA_TTABLE);
  size_t n = lua_objlen(L, a);
  int64_t *ids = (int64_t *)lua_newuserdata(L, (n ? n : 1) * sizeof *ids); /* collected even on error */
  for (size_t i = 1; i <= n; i++) {
    lua_rawgeti(L, a, (int)i);
    double v = lua_tonumber(L, -1);
    if (lua_type(L, -1) != LUA_TNUMBER || v != floor(v) || !(v >= 0) || v > 9007199254740992.0)
      return luaL_error(L, "decode: id %d is %s, not an integer id >= 0", (int)i,
                        lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
    ids[i - 1] = (int64_t)v;
    lua_pop(L, 1);
  }
  void **guard = push_buf_guard(L);
  char *out = NULL;
  size_t len = 0;
  prism_failure err;
  memset(&err, 0, sizeof err);
  int rc = prism_tokenizer_decode(u->t, ids, n, &out, &len, &err);
  *guard = out;
  if (rc != 0) return luaL_error(L, "%s: decode: %s", err.rule_id[0] ? err.rule_id : "prism:tokenizer-id", err.message);
  lua_pushlstring(L, out ? out : "", len);
  free(*guard);
  *guard = NULL;
  return 1;
}

static int tok_index(lua_State *L) {
  tok_ud *u = to_tok(L, 1);
  const char *k = lua_tostring(L, 2);
  if (!u || !k) return 0;
  if (!strcmp(k, "name")) lua_pushstring(L, prism_tokenizer_name(u->t));
  else if (!strcmp(k, "vocab_size")) lua_pushnumber(L, (lua_Number)prism_tokenizer_vocab_size(u->t));
  else if (!strcmp(k, "encode") || !strcmp(k, "decode")) {
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, k[0] == 'e' ? tok_encode : tok_decode, 1);
  }
  else return luaL_error(L, "tokenizer has no field '%s' (fields: name, vocab_size, encode, decode)", k);
  return 1;
}

static int tok_newindex(lua_State *L) { return luaL_error(L, "reference tokenizers are read-only"); }

static int tok_tostring(lua_State *L) {
  const char *name = prism_ctx_tokenizer_name(L, 1);
  lua_pushfstring(L, "tokenizer(%s)", name ? name : "?");
  return 1;
}

static int tok_gc(lua_State *L) {
  tok_ud *u = (tok_ud *)lua_touserdata(L, 1);
  if (u && u->t) prism_tokenizer_free(u->t);
  if (u) u->t = NULL;
  return 0;
}

static int ctx_reference_tokenizer(lua_State *L) {
  prism_job *job = check_ctx(L, "reference_tokenizer");
  const char *given = luaL_checkstring(L, 2);
  const char *name = !strcasecmp(given, "bytes") ? "bytes"
                     : !strcasecmp(given, "gpt2") ? "gpt2"
                     : !strcasecmp(given, "llama") ? "llama"
                                                    : NULL;
  if (!name)
    return luaL_error(L, "ctx:reference_tokenizer: unknown reference tokenizer '%s' (known: bytes, gpt2, llama)", given);
  lua_getfield(L, LUA_REGISTRYINDEX, TOKENIZER_CACHE);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, TOKENIZER_CACHE);
  }
  lua_getfield(L, -1, name);
  if (!lua_isnil(L, -1)) return 1;
  lua_pop(L, 1);
  tok_ud *u = (tok_ud *)lua_newuserdata(L, sizeof *u);
  u->t = NULL;
  if (luaL_newmetatable(L, TOKENIZER_MT)) {
    lua_pushcfunction(L, tok_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, tok_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, tok_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, tok_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
  }
  lua_setmetatable(L, -2);
  prism_failure err;
  memset(&err, 0, sizeof err);
  u->t = prism_tokenizer_open(name, job->cfg ? job->cfg->tokenizers_dir : NULL, &err);
  if (!u->t) {
    const char *rule = err.rule_id[0] ? err.rule_id : "prism:tokenizer-load";
    /* a tampered staged file is the validator's environment, not the submission: it ends the run
     * with its own rule even if the submission catches the error */
    if (!strcmp(rule, "prism:tokenizer-checksum")) prism_job_set_fatal(job, &err);
    return luaL_error(L, "%s: ctx:reference_tokenizer(\"%s\"): %s", rule, name, err.message);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, name);
  return 1;
}

/* ------------------------------------------------------------------ build_model */

static int ctx_build_model(lua_State *L) {
  prism_job *job = check_ctx(L, "build_model");
  need_run(L, job, "build_model");
  prism_sandbox_push_factory(L);
  if (!lua_isfunction(L, -1)) return luaL_error(L, "ctx:build_model: the architecture has no factory loaded");
  lua_insert(L, 1); /* factory, ctx, ... */
  prism_rng_seed((uint64_t)job->cfg->seed);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

static int ctx_iter_train_batches(lua_State *L) {
  prism_job *job = check_ctx(L, "iter_train_batches");
  need_run(L, job, "iter_train_batches");
  return prism_instrument_iter(L);
}

/* ------------------------------------------------------------------ logging */

static void push_tostring(lua_State *L, int idx) {
  prism_sandbox_push_trusted(L, "tostring");
  lua_pushvalue(L, idx);
  lua_call(L, 1, 1);
  if (!lua_isstring(L, -1)) {
    lua_pop(L, 1);
    lua_pushstring(L, luaL_typename(L, idx));
  }
}

static int ctx_log(lua_State *L) {
  check_ctx(L, "log");
  int n = lua_gettop(L);
  if (!prism_sandbox_log_allow()) return 0;
  luaL_checkstack(L, 2 * n + 4, "ctx:log: too many arguments");
  for (int i = 2; i <= n; i++) {
    if (i > 2) lua_pushliteral(L, " ");
    push_tostring(L, i);
  }
  if (n < 2) lua_pushliteral(L, "");
  else lua_concat(L, 2 * (n - 1) - 1);
  fprintf(stderr, "prism(submission): %.2000s\n", lua_tostring(L, -1));
  return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int ctx_report(lua_State *L) {
  check_ctx(L, "report");
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  if (!prism_sandbox_log_allow()) return 0;
  /* Sorted keys: the line reads the same in every run (pairs order is randomized). At most 64
   * keys are shown. */
  const char *keys[64];
  int n = 0;
  lua_pushnil(L);
  while (n < 64 && lua_next(L, 2)) {
    if (lua_type(L, -2) == LUA_TSTRING) keys[n++] = lua_tostring(L, -2);
    lua_pop(L, 1);
  }
  lua_settop(L, 2);
  qsort(keys, (size_t)n, sizeof *keys, cmp_str);
  luaL_checkstack(L, 3 * n + 4, "ctx:report");
  for (int i = 0; i < n; i++) {
    lua_pushfstring(L, "%s%s=", i ? " " : "", keys[i]);
    lua_getfield(L, 2, keys[i]);
    push_tostring(L, lua_gettop(L));
    lua_remove(L, -2);
  }
  if (n == 0) lua_pushliteral(L, "");
  else lua_concat(L, 2 * n);
  fprintf(stderr, "prism(report): %.2000s\n", lua_tostring(L, -1));
  return 0;
}

/* ------------------------------------------------------------------ ctx:save */

enum { SAVE_SAFETENSORS, SAVE_JSON, SAVE_TEXT };

static bool has_suffix(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n > m && strcasecmp(s + n - m, suffix) == 0;
}

/* The kind of file a name may hold, or -1 with the reason in why. */
static int save_kind(const char *name, size_t len, const char **why) {
  *why = NULL;
  if (len == 0 || len > 200 || strlen(name) != len || !strcmp(name, ".") || !strcmp(name, "..") || strchr(name, '/'))
    *why = "must be a bare file name (no '/', at most 200 bytes)";
  else if (name[0] == '.')
    *why = "must not start with '.'";
  else if (!strcasecmp(name, "trained_state.safetensors") || !strncasecmp(name, "prism_run_manifest", 18))
    *why = "is reserved for the runtime's own files";
  if (*why) return -1;
  if (has_suffix(name, ".safetensors")) return SAVE_SAFETENSORS;
  if (has_suffix(name, ".json")) return SAVE_JSON;
  if (has_suffix(name, ".txt") || has_suffix(name, ".md")) return SAVE_TEXT;
  *why = "needs one of the suffixes .safetensors (a table of tensors), .json (a plain table), .txt or .md (a string)";
  return -1;
}

/* Bytes of the regular files in the artifacts directory other than `except`. */
static int64_t artifacts_usage(int dir_fd, const char *except) {
  int fd = dup(dir_fd);
  if (fd < 0) return -1;
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return -1;
  }
  rewinddir(d);
  int64_t total = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, except)) continue;
    struct stat st;
    if (fstatat(dir_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) total += (int64_t)st.st_size;
  }
  closedir(d);
  return total;
}

static int quota_error(lua_State *L, prism_job *job, const char *name, int64_t need, int64_t allowed) {
  prism_failure f;
  prism_failure_set(&f, "prism:artifacts-quota", NULL, 0,
                    "ctx:save(\"%s\"): the artifacts directory would exceed its quota of %lld bytes (%lld more bytes "
                    "needed, %lld left)",
                    name, (long long)job->cfg->artifacts_quota, (long long)need, (long long)(allowed < 0 ? 0 : allowed));
  prism_job_set_fatal(job, &f);
  return luaL_error(L, "prism:artifacts-quota: %s", f.message);
}

static int write_bytes(lua_State *L, prism_job *job, const char *name, const char *data, size_t len, int64_t allowed) {
  if ((int64_t)len > allowed) return quota_error(L, job, name, (int64_t)len, allowed);
  struct stat st;
  if (fstatat(job->artifacts_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode))
    return luaL_error(L, "ctx:save(\"%s\"): a non-regular file (symlink, directory, ...) is in the way", name);
  int fd = openat(job->artifacts_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
  if (fd < 0) return luaL_error(L, "ctx:save(\"%s\"): cannot open it: %s", name, strerror(errno));
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return luaL_error(L, "ctx:save(\"%s\"): not a regular file", name);
  }
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int e = errno;
      close(fd);
      return luaL_error(L, "ctx:save(\"%s\"): write failed: %s", name, strerror(e));
    }
    off += (size_t)w;
  }
  close(fd);
  return 0;
}

static bool valid_utf8(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t k;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) k = 1, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0) k = 2, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0) k = 3, cp = c & 0x07;
    else return false;
    if (n - i <= k) return false;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + j] & 0x3f);
    }
    if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += k + 1;
  }
  return true;
}

/* Lua value at idx -> JSON; NULL with the reason in err (nothing raised: the C tree is freed
 * by the caller's path, never skipped by a longjmp). */
static prism_json *to_json(lua_State *L, int idx, int depth, char *err, size_t cap) {
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  switch (lua_type(L, idx)) {
  case LUA_TBOOLEAN:
    return prism_json_bool(lua_toboolean(L, idx));
  case LUA_TNUMBER: {
    double v = lua_tonumber(L, idx);
    if (!isfinite(v)) {
      snprintf(err, cap, "a non-finite number (JSON has no NaN or Infinity)");
      return NULL;
    }
    if (v == floor(v) && fabs(v) <= 9007199254740992.0) return prism_json_int((int64_t)v);
    return prism_json_double(v);
  }
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    if (!valid_utf8((const unsigned char *)s, n)) {
      snprintf(err, cap, "a string that is not valid UTF-8");
      return NULL;
    }
    return prism_json_stringn(s, n);
  }
  case LUA_TTABLE:
    break;
  default:
    snprintf(err, cap, "a %s value (JSON holds tables, strings, numbers and booleans; tensors go to .safetensors)",
             luaL_typename(L, idx));
    return NULL;
  }
  if (depth >= PRISM_JSON_MAX_DEPTH || !lua_checkstack(L, 4)) {
    snprintf(err, cap, "tables nested deeper than %d levels (or a table that contains itself)", PRISM_JSON_MAX_DEPTH);
    return NULL;
  }
  size_t count = 0, strings = 0, ints = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    count++;
    if (lua_type(L, -2) == LUA_TSTRING) strings++;
    else if (lua_type(L, -2) == LUA_TNUMBER && lua_tonumber(L, -2) >= 1 && lua_tonumber(L, -2) == floor(lua_tonumber(L, -2)))
      ints++;
    lua_pop(L, 1);
  }
  bool array = count > 0 && ints == count && lua_objlen(L, idx) == count;
  if (!array && strings != count) {
    snprintf(err, cap, "a table mixing keys that are not all strings (an object) or all 1..n (an array)");
    return NULL;
  }
  prism_json *out = array ? prism_json_array() : prism_json_object();
  if (!out) {
    snprintf(err, cap, "out of memory");
    return NULL;
  }
  if (array) {
    for (size_t i = 1; i <= count; i++) {
      lua_rawgeti(L, idx, (int)i);
      prism_json *v = to_json(L, -1, depth + 1, err, cap);
      lua_pop(L, 1);
      if (!v || prism_json_append(out, v) != 0) {
        if (v == NULL && !err[0]) snprintf(err, cap, "out of memory");
        prism_json_free(out);
        return NULL;
      }
    }
    return out;
  }
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    const char *k = lua_tostring(L, -2);
    prism_json *v = to_json(L, -1, depth + 1, err, cap);
    lua_pop(L, 1);
    if (!v || prism_json_set(out, k, v) != 0) {
      if (v == NULL && !err[0]) snprintf(err, cap, "out of memory");
      lua_pop(L, 1);
      prism_json_free(out);
      return NULL;
    }
  }
  return out;
}

static int save_json(lua_State *L, prism_job *job, const char *name, int64_t allowed) {
  if (lua_type(L, 3) != LUA_TTABLE || bridge_to_tensor(L, 3))
    return luaL_error(L, "ctx:save(\"%s\", value): a .json file takes a plain table, got %s", name, luaL_typename(L, 3));
  char err[256] = "";
  prism_json *v = to_json(L, 3, 0, err, sizeof err);
  if (!v) return luaL_error(L, "ctx:save(\"%s\"): cannot write %s as JSON", name, err);
  char *text = prism_json_write(v, 2);
  prism_json_free(v);
  if (!text) return luaL_error(L, "ctx:save(\"%s\"): out of memory", name);
  size_t n = strlen(text);
  /* The text is copied into a Lua string so no malloc'd buffer can leak if writing raises. */
  lua_pushlstring(L, text, n);
  free(text);
  lua_pushliteral(L, "\n");
  lua_concat(L, 2);
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  return write_bytes(L, job, name, s, len, allowed);
}

static int save_tensors(lua_State *L, prism_job *job, const char *name, int64_t allowed) {
  if (lua_type(L, 3) != LUA_TTABLE || bridge_to_tensor(L, 3))
    return luaL_error(L, "ctx:save(\"%s\", value): a .safetensors file takes a table of tensors, got %s", name,
                      luaL_typename(L, 3));
  /* Either a map name -> tensor (written in sorted name order) or an array of {name, tensor}
   * pairs such as model:named_parameters() (written in that order). */
  size_t n = lua_objlen(L, 3), count = 0;
  lua_pushnil(L);
  while (lua_next(L, 3)) {
    count++;
    lua_pop(L, 1);
  }
  bool pairs_form = n > 0 && n == count;
  if (count > 100000) return luaL_error(L, "ctx:save(\"%s\"): too many tensors (%d)", name, (int)count);
  /* Names and tensors stay referenced by the table at 3, which stays on the stack. */
  prism_st_entry *entries = (prism_st_entry *)lua_newuserdata(L, (count ? count : 1) * sizeof *entries);
  int ue = lua_gettop(L);
  size_t k = 0;
  if (pairs_form) {
    for (size_t i = 1; i <= n; i++) {
      lua_rawgeti(L, 3, (int)i);
      if (lua_type(L, -1) != LUA_TTABLE) return luaL_error(L, "ctx:save(\"%s\"): element %d is not a {name, tensor} pair", name, (int)i);
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
      prism_tensor *t = bridge_to_tensor(L, -1);
      if (lua_type(L, -2) != LUA_TSTRING || !t)
        return luaL_error(L, "ctx:save(\"%s\"): element %d must be {name (string), tensor}", name, (int)i);
      entries[k].name = lua_tostring(L, -2);
      entries[k].tensor = t;
      k++;
      lua_pop(L, 3);
    }
  } else {
    lua_pushnil(L);
    while (lua_next(L, 3)) {
      prism_tensor *t = bridge_to_tensor(L, -1);
      if (lua_type(L, -2) != LUA_TSTRING || !t)
        return luaL_error(L, "ctx:save(\"%s\"): a .safetensors table maps names (strings) to tensors; found a %s -> %s entry",
                          name, luaL_typename(L, -2), luaL_typename(L, -1));
      entries[k].name = lua_tostring(L, -2);
      entries[k].tensor = t;
      k++;
      lua_pop(L, 1);
    }
    for (size_t i = 1; i < k; i++) /* insertion sort by name: deterministic whatever pairs does */
      for (size_t j = i; j > 0 && strcmp(entries[j - 1].name, entries[j].name) > 0; j--) {
        prism_st_entry tmp = entries[j];
        entries[j] = entries[j - 1];
        entries[j - 1] = tmp;
      }
  }
  char err[512];
  int64_t written = 0;
  int rc = prism_safetensors_write_at(job->artifacts_fd, name, entries, (int)k, allowed, &written, err, sizeof err);
  lua_settop(L, ue - 1);
  if (rc == PRISM_ST_QUOTA) return quota_error(L, job, name, -1, allowed);
  if (rc != PRISM_ST_OK) return luaL_error(L, "ctx:save(\"%s\"): %s", name, err);
  return 0;
}

static int ctx_save(lua_State *L) {
  prism_job *job = check_ctx(L, "save");
  need_run(L, job, "save");
  size_t len;
  const char *name = luaL_checklstring(L, 2, &len);
  if (lua_isnoneornil(L, 3)) return luaL_error(L, "ctx:save(\"%s\", value): value is missing", name);
  const char *why;
  int kind = save_kind(name, len, &why);
  if (kind < 0) return luaL_error(L, "ctx:save: the name '%s' %s", name, why);
  if (job->cfg->rank != 0) return 0; /* one writer: rank 0 */
  if (job->artifacts_fd < 0) return luaL_error(L, "ctx:save: this run has no artifacts directory");
  int64_t used = artifacts_usage(job->artifacts_fd, name);
  if (used < 0) return luaL_error(L, "ctx:save(\"%s\"): cannot read the artifacts directory: %s", name, strerror(errno));
  int64_t allowed = job->cfg->artifacts_quota - used;
  if (allowed < 0) return quota_error(L, job, name, 0, allowed);
  if (kind == SAVE_SAFETENSORS) return save_tensors(L, job, name, allowed);
  if (kind == SAVE_JSON) return save_json(L, job, name, allowed);
  if (lua_type(L, 3) != LUA_TSTRING)
    return luaL_error(L, "ctx:save(\"%s\", value): a .txt/.md file takes a string, got %s", name, luaL_typename(L, 3));
  size_t n;
  const char *s = lua_tolstring(L, 3, &n);
  return write_bytes(L, job, name, s, n, allowed);
}

/* ------------------------------------------------------------------ fields */

static const char FIELD_LIST[] =
    "vocab_size, max_seq_len, sequence_length, max_params, max_parameters, max_layers, seed, device, world_size, "
    "rank, local_rank, distributed_backend, token_budget, step_budget, time_budget, artifacts_dir, data_dir, "
    "is_resume, attempt; methods build_model, iter_train_batches, reference_tokenizer, save, log, report";

static void push_opt_int(lua_State *L, int64_t v) {
  if (v < 0) lua_pushnil(L);
  else lua_pushnumber(L, (lua_Number)v);
}

static int ctx_index(lua_State *L) {
  prism_job *job = check_ctx(L, "index");
  const prism_eval_config *c = job->cfg;
  if (lua_type(L, 2) != LUA_TSTRING) return luaL_error(L, "ctx: fields are named by strings, got %s", luaL_typename(L, 2));
  const char *k = lua_tostring(L, 2);
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  if (!lua_isnil(L, -1)) return 1;
  lua_pop(L, 1);
  bool run = job->kind == PRISM_CTX_RUN;
  if (!strcmp(k, "vocab_size")) lua_pushnumber(L, (lua_Number)c->vocab_size);
  else if (!strcmp(k, "max_seq_len") || !strcmp(k, "sequence_length")) lua_pushnumber(L, (lua_Number)c->seq_len);
  else if (!strcmp(k, "max_params") || !strcmp(k, "max_parameters")) lua_pushnumber(L, (lua_Number)c->max_params);
  else if (!strcmp(k, "max_layers")) lua_pushnumber(L, (lua_Number)c->max_layers);
  else if (!strcmp(k, "seed")) lua_pushnumber(L, (lua_Number)c->seed);
  else if (!strcmp(k, "device")) lua_pushstring(L, c->device && !strcmp(c->device, "cuda") ? "cuda:0" : c->device ? c->device : "cpu");
  else if (!strcmp(k, "world_size")) lua_pushinteger(L, c->world_size > 0 ? c->world_size : 1);
  else if (!strcmp(k, "rank") || !strcmp(k, "local_rank")) lua_pushinteger(L, c->rank);
  else if (!strcmp(k, "distributed_backend")) {
    if (c->world_size > 1) lua_pushstring(L, c->device && !strncmp(c->device, "cuda", 4) ? "nccl" : "gloo");
    else lua_pushnil(L);
  } else if (!strcmp(k, "token_budget")) push_opt_int(L, c->token_budget);
  else if (!strcmp(k, "step_budget")) push_opt_int(L, c->step_budget);
  else if (!strcmp(k, "time_budget")) {
    if (c->time_budget > 0) lua_pushnumber(L, c->time_budget);
    else lua_pushnil(L);
  } else if (!strcmp(k, "artifacts_dir")) {
    if (run && c->artifacts_dir) lua_pushstring(L, c->artifacts_dir);
    else lua_pushnil(L);
  } else if (!strcmp(k, "data_dir")) {
    if (run && c->data_dir) lua_pushstring(L, c->data_dir);
    else lua_pushnil(L);
  } else if (!strcmp(k, "is_resume")) lua_pushboolean(L, 0);
  else if (!strcmp(k, "attempt")) lua_pushinteger(L, 1);
  else return luaL_error(L, "ctx has no field '%s' (fields: %s)", k, FIELD_LIST);
  return 1;
}

static int ctx_newindex(lua_State *L) {
  const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : luaL_typename(L, 2);
  return luaL_error(L, "ctx is read-only: cannot set ctx.%s", k);
}

static int ctx_tostring(lua_State *L) {
  prism_job *job = check_ctx(L, "tostring");
  lua_pushfstring(L, "ctx(rank %d of %d, %s)", job->cfg->rank, job->cfg->world_size > 0 ? job->cfg->world_size : 1,
                  job->cfg->device ? job->cfg->device : "cpu");
  return 1;
}

void prism_ctx_push(lua_State *L, prism_job *job) {
  lua_pushlightuserdata(L, job);
  lua_setfield(L, LUA_REGISTRYINDEX, CTX_JOB);
  ctx_ud *u = (ctx_ud *)lua_newuserdata(L, sizeof *u);
  u->job = job;
  if (luaL_newmetatable(L, CTX_MT)) {
    static const luaL_Reg methods[] = {{"build_model", ctx_build_model},
                                       {"iter_train_batches", ctx_iter_train_batches},
                                       {"reference_tokenizer", ctx_reference_tokenizer},
                                       {"save", ctx_save},
                                       {"log", ctx_log},
                                       {"report", ctx_report},
                                       {NULL, NULL}};
    lua_newtable(L);
    luaL_register(L, NULL, methods);
    lua_pushcclosure(L, ctx_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ctx_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, ctx_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
  }
  lua_setmetatable(L, -2);
}
