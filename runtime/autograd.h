/* autograd.h — the tape.
 *
 * Every differentiable op that runs with grad enabled and has an input requiring grad records a
 * node: its backward function, edges to where each input's gradient goes (a leaf tensor, or the
 * node that produced the input), the tensors it saved, and a sequence number. The sequence
 * number is the tape position: backward() collects the nodes reachable from the root and runs
 * them in descending sequence order, which is a topological order (a node's inputs were made
 * before it) and is the same on every run, so gradient accumulation order is fixed.
 *
 * Ownership keeps the tape from growing: a tensor owns its grad_fn, a node owns the nodes and
 * leaves its edges point to, and saved tensors are detached aliases (no grad_fn), so no cycles.
 * backward() releases every node it ran (saved tensors freed, edges dropped, outputs detached),
 * like PyTorch without retain_graph. A graph that is never backpropagated is freed when its
 * output tensors are. */
#ifndef PRISM_AUTOGRAD_H
#define PRISM_AUTOGRAD_H

#include "tensor.h"

typedef struct prism_node prism_node;

/* Computes the gradient of each input from grad_out (contiguous, shape of the output).
 * grad_in[i] is NULL on entry; set it (new reference, shape of input i) for every i where
 * prism_node_needs_grad(node, i); leaving it NULL means "zero". Returns 0, or -1 after prism_fail. */
typedef int (*prism_backward_fn)(prism_node *node, const prism_tensor *grad_out, prism_tensor **grad_in);

#define PRISM_NODE_MAX_SAVED 6
#define PRISM_NODE_MAX_ARGS 16

typedef struct prism_edge {
  prism_tensor *leaf; /* leaf that requires grad (owned ref), or NULL */
  prism_node *node;   /* producer of the input (owned ref), or NULL */
} prism_edge;

struct prism_node {
  int refcount;
  uint64_t seq;
  const char *name;          /* op name, for error messages ("exp", "matmul", ...) */
  prism_backward_fn backward;
  int n_inputs;
  prism_edge *edges;         /* n_inputs entries; both NULL = input needs no grad */
  int64_t input_shape[4][PRISM_MAX_DIMS]; /* shapes of the first 4 inputs (for broadcast reduction) */
  int input_ndim[4];
  int n_saved;
  prism_tensor *saved[PRISM_NODE_MAX_SAVED];
  uint32_t saved_version[PRISM_NODE_MAX_SAVED];
  /* op arguments the backward needs (dims, sizes, scalars); meaning is per op */
  int64_t iarg[PRISM_NODE_MAX_ARGS];
  double farg[4];
  prism_tensor *grad;        /* gradient accumulated for the output during backward */
  uint64_t visit_epoch;      /* backward's traversal mark */
  bool consumed;             /* backward already ran this node (its saved tensors are gone) */
};

/* ---- grad mode ---- */
bool prism_grad_enabled(void);
/* Sets grad mode, returns the previous mode (no-grad scope: prev = set(false); ...; set(prev)). */
bool prism_grad_set_enabled(bool enabled);

/* True when grad mode is on and any of the n inputs requires grad (then the op records a node). */
bool prism_autograd_needed(prism_tensor *const *inputs, int n);

/* Creates a node for an op with n inputs; edges are filled from the inputs. NULL on OOM. */
prism_node *prism_node_new(const char *name, prism_backward_fn backward, prism_tensor *const *inputs, int n);
bool prism_node_needs_grad(const prism_node *node, int input);
/* Saves a detached alias of t and its storage version. Returns the slot index or -1. */
int prism_node_save(prism_node *node, const prism_tensor *t);
/* Returns saved tensor i (borrowed), or NULL after prism_fail(PRISM_ERR_AUTOGRAD) if it was
 * modified in place since it was saved. */
prism_tensor *prism_node_saved(prism_node *node, int i);
/* Attaches node as out's grad_fn (takes the caller's node reference) and marks out requires_grad. */
void prism_tensor_set_grad_fn(prism_tensor *out, prism_node *node);
void prism_node_release(prism_node *node);

/* Backpropagates from root. grad == NULL requires root to be a one-element tensor (seed 1).
 * Leaf gradients accumulate into leaf->grad. Releases the graph it ran. 0 or -1. */
int prism_backward(prism_tensor *root, const prism_tensor *grad);

/* Reduces a gradient of broadcast shape down to (ndim, shape) by summing broadcast dims.
 * Returns a new reference (g itself retained if shapes already match). */
prism_tensor *prism_grad_sum_to(const prism_tensor *g, int ndim, const int64_t *shape);

/* Number of live nodes (tests assert the tape does not grow across steps). */
size_t prism_autograd_live_nodes(void);

#endif
