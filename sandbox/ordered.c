/* ordered.c — pairs, next and table.foreach in a fixed key order (issue 5: a score must not
 * depend on the process).
 *
 * Why: Debian's LuaJIT seeds its string hash per process, so the raw order of lua_next differs
 * between two runs of the same program. A submission that builds its layers in `pairs` order
 * would initialize them in a different order each run and get a different score. The restricted
 * states therefore get these replacements instead of the stock functions, in both environments
 * (the stdlib's option tables go through pairs too).
 *
 * The order: numbers ascending (so 1..n come in array order), then strings bytewise (memcmp,
 * then the shorter first), then false before true, then tensors by their creation serial (a
 * deterministic program creates its tensors in a deterministic order). Every other key type —
 * table, function, thread, other userdata, light userdata — is hashed by address, which ASLR and
 * allocation history change: iterating a table holding one raises an error saying so, instead
 * of silently picking an order.
 *
 * pairs is the fast path: it snapshots the keys once, sorts them with qsort and returns a C
 * iterator that walks the snapshot, skipping keys whose value has become nil (deleting during a
 * traversal stays legal; keys added during it are not visited). next(t, k) gets no iterator state,
 * so next keeps the snapshot of the traversal it started last and continues it when called with
 * the key it returned last; any other next(t, k) scans the whole table for the successor of k
 * (O(n) per call). */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "bridge.h"
#include "ordered.h"

enum { ORD_NUMBER, ORD_STRING, ORD_BOOLEAN, ORD_TENSOR };

/* One key's sort position, computed once so the comparator never touches the Lua state. */
typedef struct {
  int cls;
  int idx;       /* 1-based slot of the key in the snapshot's key table */
  double num;    /* ORD_NUMBER: the value; ORD_BOOLEAN: 0 or 1 */
  uint64_t word; /* ORD_STRING: the first 8 bytes, big-endian, zero-padded (most comparisons end
                    here without a memcmp); ORD_TENSOR: the creation serial */
  const char *s; /* ORD_STRING: anchored by the snapshot's key table (or a stack slot) */
  size_t len;
} ord_key;

/* The sorted snapshot behind one pairs() iterator (a userdata: the Lua heap cap counts it). */
typedef struct {
  size_t n, pos;
  ord_key k[];
} ord_snap;

/* False for a key type with no reproducible order. */
static bool classify(lua_State *L, int idx, ord_key *k) {
  memset(k, 0, sizeof *k);
  switch (lua_type(L, idx)) {
  case LUA_TNUMBER:
    k->cls = ORD_NUMBER;
    k->num = lua_tonumber(L, idx);
    return true;
  case LUA_TSTRING:
    k->cls = ORD_STRING;
    k->s = lua_tolstring(L, idx, &k->len);
    for (size_t i = 0; i < 8; i++) k->word = k->word << 8 | (i < k->len ? (unsigned char)k->s[i] : 0);
    return true;
  case LUA_TBOOLEAN:
    k->cls = ORD_BOOLEAN;
    k->num = lua_toboolean(L, idx);
    return true;
  case LUA_TUSERDATA: {
    prism_tensor *t = bridge_to_tensor(L, idx);
    if (!t) return false;
    k->cls = ORD_TENSOR;
    k->word = t->serial;
    return true;
  }
  default:
    return false;
  }
}

static int unorderable(lua_State *L, const char *fn, int idx) {
  /* luaL_error prefixes the position of the Lua code that called fn: the miner's file:line. */
  return luaL_error(L,
                    "%s: a table key of type '%s' has no reproducible iteration order (LuaJIT orders it by "
                    "address); keep such objects in an array and use ipairs",
                    fn, luaL_typename(L, idx));
}

static int ord_cmp(const ord_key *a, const ord_key *b) {
  if (a->cls != b->cls) return a->cls < b->cls ? -1 : 1;
  switch (a->cls) {
  case ORD_STRING: {
    /* Equal words: equal first 8 bytes, or a shorter string's zero padding met a real NUL. */
    if (a->word != b->word) return a->word < b->word ? -1 : 1;
    int c = memcmp(a->s, b->s, a->len < b->len ? a->len : b->len);
    if (c) return c < 0 ? -1 : 1;
    return a->len < b->len ? -1 : a->len > b->len;
  }
  case ORD_TENSOR:
    return a->word < b->word ? -1 : a->word > b->word;
  default: /* numbers (never NaN: a NaN cannot be a key) and booleans */
    return a->num < b->num ? -1 : a->num > b->num;
  }
}

static int ord_qsort_cmp(const void *a, const void *b) { return ord_cmp((const ord_key *)a, (const ord_key *)b); }

/* Pushes the snapshot of the table at t: its keys in raw order (a table, which keeps the key
 * strings and tensors alive) and above it the sorted ord_snap. Raises for an unorderable key. */
static ord_snap *push_snapshot(lua_State *L, int t, const char *fn) {
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    n++;
    lua_pop(L, 1);
  }
  if (n > (size_t)INT_MAX || n > (SIZE_MAX - sizeof(ord_snap)) / sizeof(ord_key))
    luaL_error(L, "%s: table too large to iterate", fn);
  lua_createtable(L, (int)n, 0);
  int keys = lua_gettop(L);
  ord_snap *s = (ord_snap *)lua_newuserdata(L, sizeof(ord_snap) + n * sizeof(ord_key));
  s->n = 0;
  s->pos = 0;
  bool sorted = true; /* an array's keys come out of lua_next in order already */
  lua_pushnil(L);
  while (s->n < n && lua_next(L, t)) {
    lua_pop(L, 1);
    ord_key *k = &s->k[s->n];
    if (!classify(L, -1, k)) unorderable(L, fn, -1);
    k->idx = (int)s->n + 1;
    if (s->n > 0 && sorted) sorted = ord_cmp(k - 1, k) < 0;
    lua_pushvalue(L, -1);
    lua_rawseti(L, keys, k->idx);
    s->n++;
  }
  lua_settop(L, keys + 1);
  if (!sorted) qsort(s->k, s->n, sizeof *s->k, ord_qsort_cmp);
  return s;
}

/* Pushes the next live (key, value) of the snapshot and returns true, or pushes nothing and
 * returns false at the end. t and keys are stack or upvalue indices. */
static bool snapshot_step(lua_State *L, int t, int keys, ord_snap *s) {
  while (s->pos < s->n) {
    lua_rawgeti(L, keys, s->k[s->pos++].idx);
    lua_pushvalue(L, -1);
    lua_rawget(L, t);
    if (!lua_isnil(L, -1)) return true;
    lua_pop(L, 2);
  }
  return false;
}

/* The pairs iterator: upvalues are the table, the key table and the snapshot. */
static int ordered_iter(lua_State *L) {
  ord_snap *s = (ord_snap *)lua_touserdata(L, lua_upvalueindex(3));
  if (snapshot_step(L, lua_upvalueindex(1), lua_upvalueindex(2), s)) return 2;
  lua_pushnil(L);
  return 1;
}

static int ordered_pairs(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_pushvalue(L, 1);
  push_snapshot(L, 1, "pairs");
  lua_pushcclosure(L, ordered_iter, 3);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

/* next(t, k) without a snapshot: the smallest live key after k, by one scan of t. */
static int next_scan(lua_State *L) {
  ord_key from, best, k;
  bool have_from = !lua_isnil(L, 2), have_best = false;
  if (have_from) {
    /* The stock check, with the stock error ("invalid key to 'next'") for a key t never held;
     * a key deleted during the traversal is still accepted, as with the stock next. */
    lua_pushvalue(L, 2);
    if (lua_next(L, 1)) lua_pop(L, 2);
    if (!classify(L, 2, &from)) unorderable(L, "next", 2);
  }
  lua_pushnil(L); /* slot 3: the best candidate so far (anchors its string) */
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    if (!classify(L, -1, &k)) unorderable(L, "next", -1);
    if ((!have_from || ord_cmp(&k, &from) > 0) && (!have_best || ord_cmp(&k, &best) < 0)) {
      best = k;
      have_best = true;
      lua_pushvalue(L, -1);
      lua_replace(L, 3);
    }
  }
  if (!have_best) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 3);
  lua_rawget(L, 1);
  return 2;
}

/* Drops the cached traversal (it holds its table alive) and pushes the end of a traversal. */
static int next_end(lua_State *L) {
  lua_pushnil(L);
  lua_replace(L, lua_upvalueindex(1));
  lua_pushnil(L);
  lua_replace(L, lua_upvalueindex(2));
  lua_pushnil(L);
  lua_replace(L, lua_upvalueindex(3));
  lua_pushnil(L);
  return 1;
}

/* next keeps the snapshot of the last traversal it started (upvalues: the table, its key table
 * and the snapshot), so a whole `for k, v in next, t` costs what pairs costs: next(t) takes a
 * new snapshot, and next(t, k) continues it when k is the key it returned last for t. Any other
 * call (another key, another table, nested traversals) falls back to the scan. Both paths give
 * the same answer unless keys were added to t since next(t): a traversal does not visit keys
 * added during it, as with pairs (the stock next leaves that case undefined). */
static int ordered_next(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  if (lua_isnil(L, 2)) {
    lua_pushvalue(L, 1);
    push_snapshot(L, 1, "next"); /* 3: t, 4: keys, 5: snapshot */
    lua_replace(L, lua_upvalueindex(3));
    lua_replace(L, lua_upvalueindex(2));
    lua_replace(L, lua_upvalueindex(1));
  } else {
    ord_snap *s = (ord_snap *)lua_touserdata(L, lua_upvalueindex(3));
    bool cont = s && s->pos > 0 && lua_rawequal(L, 1, lua_upvalueindex(1));
    if (cont) {
      lua_rawgeti(L, lua_upvalueindex(2), s->k[s->pos - 1].idx);
      cont = lua_rawequal(L, -1, 2);
      lua_pop(L, 1);
    }
    if (!cont) return next_scan(L);
  }
  ord_snap *s = (ord_snap *)lua_touserdata(L, lua_upvalueindex(3));
  if (snapshot_step(L, lua_upvalueindex(1), lua_upvalueindex(2), s)) return 2;
  return next_end(L);
}

/* table.foreach(t, f): f(k, v) for each pair in the same order as pairs; the first non-nil
 * result ends the walk and is returned (Lua 5.0/5.1 semantics; LuaJIT's own walks raw order). */
static int ordered_foreach(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 2);
  ord_snap *s = push_snapshot(L, 1, "table.foreach"); /* 3: keys, 4: snapshot */
  while (snapshot_step(L, 1, 3, s)) {
    lua_pushvalue(L, 2);
    lua_insert(L, -3);
    lua_call(L, 2, 1);
    if (!lua_isnil(L, -1)) return 1;
    lua_pop(L, 1);
  }
  return 0;
}

void sandbox_ordered_install(lua_State *L, int env_idx) {
  env_idx = env_idx < 0 ? lua_gettop(L) + env_idx + 1 : env_idx;
  lua_pushcfunction(L, ordered_pairs);
  lua_setfield(L, env_idx, "pairs");
  lua_pushnil(L);
  lua_pushnil(L);
  lua_pushnil(L);
  lua_pushcclosure(L, ordered_next, 3);
  lua_setfield(L, env_idx, "next");
  lua_getfield(L, env_idx, "table");
  lua_pushcfunction(L, ordered_foreach);
  lua_setfield(L, -2, "foreach");
  lua_pop(L, 1);
}
