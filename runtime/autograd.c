/* autograd.c — the tape: node lifetime, grad mode, and the backward pass (see autograd.h).
 *
 * Nodes are released iteratively (an explicit worklist, never recursion), so a submission that
 * chains a million ops cannot overflow the C stack when its graph is freed. */
#include "autograd.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ops.h"

static bool grad_enabled = true;
static uint64_t next_seq, epoch;
static size_t live_nodes;

bool prism_grad_enabled(void) { return grad_enabled; }

bool prism_grad_set_enabled(bool enabled) {
  bool prev = grad_enabled;
  grad_enabled = enabled;
  return prev;
}

size_t prism_autograd_live_nodes(void) { return live_nodes; }

bool prism_autograd_needed(prism_tensor *const *inputs, int n) {
  if (!grad_enabled) return false;
  for (int i = 0; i < n; i++)
    if (inputs[i] && inputs[i]->requires_grad) return true;
  return false;
}

prism_node *prism_node_new(const char *name, prism_backward_fn backward, prism_tensor *const *inputs, int n) {
  prism_node *node = calloc(1, sizeof *node);
  prism_edge *edges = calloc(n > 0 ? (size_t)n : 1, sizeof *edges);
  if (!node || !edges) {
    free(node);
    free(edges);
    return prism_fail(PRISM_ERR_OOM, "%s: out of memory recording the autograd tape", name);
  }
  node->refcount = 1;
  node->seq = ++next_seq;
  node->name = name;
  node->backward = backward;
  node->n_inputs = n;
  node->edges = edges;
  for (int i = 0; i < n; i++) {
    prism_tensor *t = inputs[i];
    if (!t) continue;
    if (i < 4) {
      node->input_ndim[i] = t->ndim;
      memcpy(node->input_shape[i], t->shape, sizeof(int64_t) * (size_t)t->ndim);
    }
    if (!t->requires_grad) continue;
    if (t->grad_fn) {
      edges[i].node = t->grad_fn;
      t->grad_fn->refcount++;
    } else {
      edges[i].leaf = prism_tensor_retain(t);
    }
  }
  live_nodes++;
  return node;
}

bool prism_node_needs_grad(const prism_node *node, int input) {
  return input >= 0 && input < node->n_inputs && (node->edges[input].leaf || node->edges[input].node);
}

int prism_node_save(prism_node *node, const prism_tensor *t) {
  if (node->n_saved >= PRISM_NODE_MAX_SAVED)
    return prism_fail_int(PRISM_ERR_INTERNAL, "%s: too many saved tensors", node->name);
  prism_tensor *alias = prism_tensor_alias(t);
  if (!alias) return -1;
  node->saved[node->n_saved] = alias;
  node->saved_version[node->n_saved] = t->storage->version;
  return node->n_saved++;
}

prism_tensor *prism_node_saved(prism_node *node, int i) {
  if (i < 0 || i >= node->n_saved || !node->saved[i])
    return prism_fail(PRISM_ERR_INTERNAL, "%s: saved tensor %d is missing", node->name, i);
  prism_tensor *t = node->saved[i];
  if (t->storage->version != node->saved_version[i])
    return prism_fail(PRISM_ERR_AUTOGRAD,
                      "%s: a tensor needed for its gradient was modified in place after it was used "
                      "(version %u, expected %u); use an out-of-place operation instead",
                      node->name, t->storage->version, node->saved_version[i]);
  return t;
}

void prism_tensor_set_grad_fn(prism_tensor *out, prism_node *node) {
  prism_node_release(out->grad_fn);
  out->grad_fn = node;
  out->requires_grad = true;
}

/* Drops what a node holds (saved tensors, gradient, edges); child nodes whose count reaches
 * zero are appended to the worklist instead of being freed recursively. */
typedef struct {
  prism_node **items;
  size_t len, cap;
} node_list;

static bool list_push(node_list *l, prism_node *n) {
  if (l->len == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    prism_node **items = realloc(l->items, cap * sizeof *items);
    if (!items) return false;
    l->items = items;
    l->cap = cap;
  }
  l->items[l->len++] = n;
  return true;
}

static void node_clear(prism_node *node, node_list *orphans) {
  for (int i = 0; i < node->n_saved; i++) {
    prism_tensor_release(node->saved[i]);
    node->saved[i] = NULL;
  }
  prism_tensor_release(node->grad);
  node->grad = NULL;
  for (int i = 0; i < node->n_inputs; i++) {
    prism_tensor_release(node->edges[i].leaf);
    prism_node *child = node->edges[i].node;
    node->edges[i].leaf = NULL;
    node->edges[i].node = NULL;
    if (child && --child->refcount == 0 && !list_push(orphans, child)) {
      child->refcount = 1; /* cannot queue it: leak it rather than free it recursively */
    }
  }
}

static void free_orphans(node_list *orphans) {
  while (orphans->len > 0) {
    prism_node *n = orphans->items[--orphans->len];
    node_clear(n, orphans);
    free(n->edges);
    free(n);
    live_nodes--;
  }
}

void prism_node_release(prism_node *node) {
  if (!node || --node->refcount > 0) return;
  node_list orphans = {0};
  node_clear(node, &orphans);
  free(node->edges);
  free(node);
  live_nodes--;
  free_orphans(&orphans);
  free(orphans.items);
}

/* ------------------------------------------------------------------ backward */

/* Adds g into *slot. A leaf's .grad must be exclusively owned (optimizers and clipping update it
 * in place), so a shared g is copied there. A node's gradient is internal and only read by its
 * backward, so it may share g's storage; accumulating into a shared one is done out of place. */
static int accumulate(prism_tensor **slot, prism_tensor *g, bool leaf) {
  bool exclusive = g->refcount == 1 && g->storage->refcount == 1 && prism_tensor_is_contiguous(g);
  if (!*slot) {
    if (exclusive || !leaf) {
      *slot = prism_tensor_retain(g);
      return 0;
    }
    prism_tensor *c = prism_tensor_empty_like(g);
    if (!c || prism_tensor_copy_(c, g) < 0) {
      prism_tensor_release(c);
      return -1;
    }
    *slot = c;
    return 0;
  }
  prism_tensor *cur = *slot;
  /* .grad accumulates in place, like PyTorch: a reference the user holds sees the sum */
  if (leaf || (cur->refcount == 1 && cur->storage->refcount == 1)) return prism_op_add_(cur, g);
  prism_tensor *sum = prism_op_add(cur, g);
  if (!sum) return -1;
  prism_tensor_release(cur);
  *slot = sum;
  return 0;
}

static int cmp_seq_desc(const void *a, const void *b) {
  uint64_t sa = (*(prism_node *const *)a)->seq, sb = (*(prism_node *const *)b)->seq;
  return sa < sb ? 1 : sa > sb ? -1 : 0;
}

/* Collects every node reachable from root (retaining each), in descending sequence order. */
static int collect(prism_node *root, node_list *out) {
  node_list stack = {0};
  epoch++;
  int rc = 0;
  if (!list_push(&stack, root)) rc = -1;
  root->visit_epoch = epoch;
  while (rc == 0 && stack.len > 0) {
    prism_node *n = stack.items[--stack.len];
    if (n->consumed) {
      rc = prism_fail_int(PRISM_ERR_AUTOGRAD,
                          "backward: the graph through '%s' was already used by an earlier backward() "
                          "(gradients are computed once per forward; run the forward again)", n->name);
      break;
    }
    if (!list_push(out, n)) {
      rc = -1;
      break;
    }
    n->refcount++;
    for (int i = 0; i < n->n_inputs; i++) {
      prism_node *c = n->edges[i].node;
      if (c && c->visit_epoch != epoch) {
        c->visit_epoch = epoch;
        if (!list_push(&stack, c)) rc = -1;
      }
    }
  }
  free(stack.items);
  if (rc < 0 && prism_error_kind_last() == PRISM_OK) prism_fail(PRISM_ERR_OOM, "backward: out of memory");
  if (out->len > 1) qsort(out->items, out->len, sizeof *out->items, cmp_seq_desc);
  return rc;
}

static int run_node(prism_node *n) {
  prism_tensor *gin_stack[8], **gin = gin_stack;
  if (n->n_inputs > 8) {
    gin = calloc((size_t)n->n_inputs, sizeof *gin);
    if (!gin) return prism_fail_int(PRISM_ERR_OOM, "backward: out of memory");
  } else {
    memset(gin_stack, 0, sizeof gin_stack);
  }
  prism_tensor *gout = prism_tensor_contiguous_raw(n->grad);
  int rc = gout ? n->backward(n, gout, gin) : -1;
  prism_tensor_release(gout);
  for (int i = 0; i < n->n_inputs; i++) {
    prism_tensor *g = gin[i];
    if (!g) continue;
    if (rc == 0 && i < 4 && !(g->ndim == n->input_ndim[i] &&
                              memcmp(g->shape, n->input_shape[i], sizeof(int64_t) * (size_t)g->ndim) == 0))
      rc = prism_fail_int(PRISM_ERR_INTERNAL, "%s: backward produced a gradient of the wrong shape for input %d", n->name, i + 1);
    if (rc == 0 && n->edges[i].leaf) rc = accumulate(&n->edges[i].leaf->grad, g, true);
    else if (rc == 0 && n->edges[i].node) rc = accumulate(&n->edges[i].node->grad, g, false);
    prism_tensor_release(g);
  }
  if (gin != gin_stack) free(gin);
  return rc;
}

int prism_backward(prism_tensor *root, const prism_tensor *grad) {
  char b1[128], b2[128];
  if (!root->requires_grad)
    return prism_fail_int(PRISM_ERR_AUTOGRAD,
                          "backward: the tensor does not require grad (no input required grad, or it was computed under no_grad)");
  prism_tensor *seed;
  if (grad) {
    if (!prism_shape_equal(root, grad))
      return prism_fail_int(PRISM_ERR_ARG, "backward: gradient shape %s does not match the tensor's shape %s",
                            prism_shape_str(grad->ndim, grad->shape, b1, sizeof b1),
                            prism_shape_str(root->ndim, root->shape, b2, sizeof b2));
    seed = prism_tensor_empty_like(root);
    if (seed && prism_tensor_copy_(seed, grad) < 0) prism_tensor_release(seed), seed = NULL;
  } else {
    if (prism_tensor_numel(root) != 1)
      return prism_fail_int(PRISM_ERR_AUTOGRAD, "backward: the tensor has shape %s; backward() without a gradient needs a single element (e.g. a loss)",
                            prism_shape_str(root->ndim, root->shape, b1, sizeof b1));
    seed = prism_tensor_full(root->dtype, root->storage->device, root->ndim, root->shape, 1.0);
  }
  if (!seed) return -1;
  if (!root->grad_fn) { /* a leaf: its gradient is the seed */
    int rc = accumulate(&root->grad, seed, true);
    prism_tensor_release(seed);
    return rc;
  }
  node_list nodes = {0};
  int rc = collect(root->grad_fn, &nodes);
  bool prev = prism_grad_set_enabled(false);
  if (rc == 0) {
    prism_tensor_release(root->grad_fn->grad);
    root->grad_fn->grad = seed;
    seed = NULL;
  }
  node_list orphans = {0};
  for (size_t i = 0; rc == 0 && i < nodes.len; i++) {
    prism_node *n = nodes.items[i];
    if (n->grad) rc = run_node(n);
    n->consumed = true;
    node_clear(n, &orphans); /* frees saved activations as soon as they are no longer needed */
  }
  prism_grad_set_enabled(prev);
  prism_tensor_release(seed);
  for (size_t i = 0; i < nodes.len; i++) {
    prism_node *n = nodes.items[i];
    if (rc < 0) { /* leave no half-accumulated gradient behind on a node */
      prism_tensor_release(n->grad);
      n->grad = NULL;
    }
    prism_node_release(n);
  }
  free_orphans(&orphans);
  free(orphans.items);
  free(nodes.items);
  return rc;
}

/* ------------------------------------------------------------------ broadcast reduction */

prism_tensor *prism_grad_sum_to(const prism_tensor *g, int ndim, const int64_t *shape) {
  if (g->ndim == ndim && memcmp(g->shape, shape, sizeof(int64_t) * (size_t)ndim) == 0)
    return prism_tensor_retain((prism_tensor *)g);
  char b1[128], b2[128];
  int lead = g->ndim - ndim;
  if (lead < 0)
    return prism_fail(PRISM_ERR_INTERNAL, "sum_to: cannot reduce %s to %s", prism_shape_str(g->ndim, g->shape, b1, sizeof b1),
                      prism_shape_str(ndim, shape, b2, sizeof b2));
  prism_tensor *cur = prism_tensor_retain((prism_tensor *)g);
  /* Fast path first: the leading dims collapse into one row dimension reduced in one pass. */
  if (lead > 0) {
    int64_t rows = 1, vshape[2];
    for (int i = 0; i < lead; i++) rows *= g->shape[i];
    vshape[0] = rows;
    vshape[1] = prism_tensor_numel(g) / (rows ? rows : 1);
    prism_tensor *c = prism_tensor_contiguous_raw(cur);
    prism_tensor *v = c ? prism_tensor_view_raw(c, 2, vshape) : NULL;
    prism_tensor *s = v ? prism_op_sum(v, 0, false, false) : NULL;
    prism_tensor *r = s ? prism_tensor_view_raw(s, g->ndim - lead, g->shape + lead) : NULL;
    prism_tensor_release(c);
    prism_tensor_release(v);
    prism_tensor_release(s);
    prism_tensor_release(cur);
    if (!r) return NULL;
    cur = r;
  }
  for (int i = 0; i < ndim; i++) {
    if (shape[i] == 1 && cur->shape[i] != 1) {
      prism_tensor *s = prism_op_sum(cur, i, true, false);
      prism_tensor_release(cur);
      if (!s) return NULL;
      cur = s;
    }
  }
  if (!(cur->ndim == ndim && memcmp(cur->shape, shape, sizeof(int64_t) * (size_t)ndim) == 0)) {
    prism_tensor_release(cur);
    return prism_fail(PRISM_ERR_INTERNAL, "sum_to: cannot reduce %s to %s", prism_shape_str(g->ndim, g->shape, b1, sizeof b1),
                      prism_shape_str(ndim, shape, b2, sizeof b2));
  }
  return cur;
}
