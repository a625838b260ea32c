/* ctx.h — the ctx userdata a submission receives (SPEC §3.1) and the job record behind it.
 *
 * One prism_job per child process: the evaluation config, which child this is (what ctx may do
 * there), the report pipe, the artifacts directory, the train stream (run child only) and the
 * first fatal failure runtime code recorded. A fatal failure (parameter cap, artifacts quota,
 * a data error) ends the job with its own rule id even if the submission catches the Lua error
 * it raised: the child reports job->fatal before anything the Lua side says. */
#ifndef PRISM_LUA_CTX_H
#define PRISM_LUA_CTX_H

#include <stdbool.h>
#include <stdint.h>

#include <lua.h>

#include "child.h"
#include "data.h"
#include "failure.h"

typedef enum {
  PRISM_CTX_RUN,     /* train(ctx): everything */
  PRISM_CTX_STATIC,  /* build_model(ctx) in the static gate: no data, no writes */
  PRISM_CTX_HELDOUT, /* build_model(ctx) in the held-out child: same */
} prism_ctx_kind;

typedef struct prism_job {
  const prism_eval_config *cfg;
  prism_ctx_kind kind;
  int report_fd;
  int artifacts_fd;         /* O_DIRECTORY fd of cfg->artifacts_dir, -1 when none */
  prism_doc_stream *stream; /* the train stream (run child), NULL elsewhere */
  prism_failure fatal;      /* rule_id "" = none */
} prism_job;

/* Records f as the job's fatal failure unless one is recorded already. */
void prism_job_set_fatal(prism_job *job, const prism_failure *f);

/* Registers the job in the state (the instrument and ctx find it there) and pushes a new ctx
 * userdata for it. The job must outlive the state. */
void prism_ctx_push(lua_State *L, prism_job *job);
/* The job registered in this state (NULL before prism_ctx_push). */
prism_job *prism_ctx_job(lua_State *L);

/* The reference tokenizer at idx: "bytes", "gpt2" or "llama", or NULL when the value is not one
 * made by ctx:reference_tokenizer. */
const char *prism_ctx_tokenizer_name(lua_State *L, int idx);
/* The tokenizer behind that value (owned by the Lua object), or NULL. */
struct prism_tokenizer *prism_ctx_tokenizer(lua_State *L, int idx);

#endif
