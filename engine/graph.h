/* graph.h: the static compute graph (internal): tensors, op nodes, the per-op definitions
 * (engine/nodes/<op>.c), reverse-mode autodiff, the memory planner and the executor.
 *
 * A graph is plain records, built once per batch shape:
 * - tensors: shape (up to 4 dims), dtype, kind (input, parameter, activation, parameter
 *   gradient), name, planned byte offset;
 * - nodes: an op, up to DIFU_NODE_MAX_SRC source tensor ids, up to DIFU_NODE_MAX_DST output
 *   tensor ids (dst[0] is the result; the others are what the backward keeps, e.g. GroupNorm's
 *   mean/rstd or attention's softmax matrix, or per-node scratch), integer and float op params.
 * Every tensor is written by exactly one node (static single assignment), so the planner can
 * place activations by liveness and the executor needs no locks.
 *
 * Builders return the new tensor id, or -1 once the graph has failed: the first error is kept on
 * the graph (difu_graph_status / difu_graph_error) and names the node, e.g.
 * "node 12 'down.1.0.conv1' conv2d: input has 96 channels, weight expects 64".
 */
#ifndef DIFU_GRAPH_H
#define DIFU_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "conv_choice.h"
#include "engine_internal.h"

#define DIFU_NODE_MAX_SRC 6
#define DIFU_NODE_MAX_DST 3
#define DIFU_NODE_MAX_IP 6
#define DIFU_NAME_LEN 64
#define DIFU_GRAPH_ALIGN 64 /* bytes: every planned tensor and parameter starts on this */

typedef enum difu_op {
    /* forward ops (differentiable) */
    DIFU_OP_CONV2D = 0,       /* x [N,Ci,H,W], w [Co,Ci,k,k], b [Co] or -1 -> [N,Co,OH,OW]; ip stride */
    DIFU_OP_GROUPNORM,        /* x [N,C,H,W], gamma, beta [C] -> y, mean, rstd [N,G]; ip groups, fuse_silu; fp eps */
    DIFU_OP_SILU,             /* x -> y, any shape */
    DIFU_OP_LINEAR,           /* x [N,in], w [out,in], b [out] or -1 -> [N,out] */
    DIFU_OP_ADD,              /* a + b, same shapes */
    DIFU_OP_ADD_CHANNEL,      /* x [N,C,H,W] + v [N,C] broadcast over H,W */
    DIFU_OP_CONCAT,           /* a [N,Ca,H,W], b [N,Cb,H,W] -> [N,Ca+Cb,H,W] (a first) */
    DIFU_OP_UPSAMPLE2X,       /* nearest: [N,C,H,W] -> [N,C,2H,2W] */
    DIFU_OP_ATTENTION,        /* qkv [N,3C,H,W] -> h [N,C,H,W], softmax matrix [N,HW,HW] */
    DIFU_OP_EMBEDDING,        /* table [R,D], labels I64 [N] -> [N,D] */
    DIFU_OP_TIMESTEP_EMB,     /* t I64 [N] -> [N,dim] sinusoidal; ip dim */
    DIFU_OP_MSE_LOSS,         /* pred, target same shape -> [1] mean of squares; scratch [N] doubles */
    DIFU_OP_DROPOUT,          /* x, key I64 [2] (seed, step) -> y; ip site; fp p */
    /* backward ops (made by autodiff rules; not differentiable themselves) */
    DIFU_OP_CONV2D_BWD_DATA,     /* dy, w -> dx; ip stride, Ci, H, W */
    DIFU_OP_CONV2D_BWD_WEIGHTS,  /* x, dy -> dw, db (db may be absent); ip stride, has_bias */
    DIFU_OP_GROUPNORM_BWD,       /* x, gamma, beta, mean, rstd, dy -> dx, dgamma, dbeta */
    DIFU_OP_SILU_BWD,            /* x, dy -> dx */
    DIFU_OP_LINEAR_BWD_DATA,     /* dy [N,out], w [out,in] -> dx [N,in] */
    DIFU_OP_LINEAR_BWD_WEIGHTS,  /* x [N,in], dy [N,out] -> dw [out,in], db [out] (may be absent) */
    DIFU_OP_CHANNEL_SUM,         /* dy [N,C,H,W] -> [N,C] sum over H,W */
    DIFU_OP_CONCAT_SLICE,        /* dy [N,C,H,W] -> channels [ip0, ip0+ip1) */
    DIFU_OP_UPSAMPLE2X_BWD,      /* dy [N,C,2H,2W] -> [N,C,H,W] sum of each 2x2 */
    DIFU_OP_ATTENTION_BWD,       /* qkv, softmax matrix, dh -> dqkv, scratch [N,HW,HW] x 2 */
    DIFU_OP_EMBEDDING_BWD,       /* labels, dy [N,D] -> dtable [R,D]; ip R */
    DIFU_OP_MSE_LOSS_BWD,        /* pred, target, dloss (or absent: 1) -> dpred */
    DIFU_OP_DROPOUT_BWD,         /* dy, key -> dx (the same mask) */
    DIFU_OP_COPY,                /* x -> y */
    DIFU_OP_FILL,                /* -> y of shape ip (ndim ip0, dims ip1..4) filled with fp0 */
    DIFU_OP_COUNT
} difu_op;

const char *difu_op_name(difu_op op);

typedef enum difu_tkind {
    DIFU_T_INPUT = 0, /* bound by pointer at run time (x, t, y, target) */
    DIFU_T_PARAM,     /* in the parameter block at `offset` */
    DIFU_T_ACT,       /* in the planned arena (activations, activation gradients, scratch) */
    DIFU_T_GRAD,      /* in the gradient block, at the offset of parameter `grad_of` */
    DIFU_TKIND_COUNT
} difu_tkind;

const char *difu_tkind_name(difu_tkind k);

typedef enum difu_dtype { DIFU_F32 = 0, DIFU_I64, DIFU_F64, DIFU_DTYPE_COUNT } difu_dtype;

size_t difu_dtype_size(difu_dtype d);
const char *difu_dtype_name(difu_dtype d);

typedef struct difu_gtensor {
    char name[DIFU_NAME_LEN];
    int ndim;
    int64_t shape[DIFU_MAX_DIMS];
    difu_dtype dtype;
    difu_tkind kind;
    int producer;      /* node that writes it, -1 for inputs and parameters */
    int keep;          /* a graph output: live until the end of the run */
    int requires_grad; /* depends on a parameter (set as nodes are added) */
    int grad_of;       /* DIFU_T_GRAD: the parameter; else -1 */
    int grad_for;      /* made by autodiff: the tensor whose gradient (or a contribution to it)
                          this is; else -1. For reports (difu_anomaly_describe) */
    int input_slot;    /* DIFU_T_INPUT: index in the bindings; else -1 */
    size_t offset;     /* bytes into the parameter block (PARAM) or arena (ACT, set by the plan) */
} difu_gtensor;

typedef struct difu_node {
    difu_op op;
    int src[DIFU_NODE_MAX_SRC]; /* -1 where unused */
    int dst[DIFU_NODE_MAX_DST]; /* -1 where unused */
    int ip[DIFU_NODE_MAX_IP];
    float fp[2];
    char name[DIFU_NAME_LEN];   /* the module, e.g. "down.1.0.conv1" */
} difu_node;

typedef struct difu_graph {
    difu_gtensor *tensors;
    int n_tensors, cap_tensors;
    difu_node *nodes;
    int n_nodes, cap_nodes;
    int n_forward;     /* nodes [0, n_forward) were added before autodiff */
    int n_inputs;      /* input slots */
    size_t param_bytes; /* size of the parameter (and gradient) block */
    difu_status status;
    char error[DIFU_ERROR_LEN];
} difu_graph;

/* ---------------------------------------------------------------- building */

difu_graph *difu_graph_new(void); /* NULL when out of memory */
void difu_graph_free(difu_graph *g);
difu_status difu_graph_status(const difu_graph *g);
const char *difu_graph_error(const difu_graph *g);
/* Records the first error (printf-style) and returns -1. */
int difu_graph_fail(difu_graph *g, difu_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int difu_g_input(difu_graph *g, const char *name, difu_dtype dtype, int ndim, const int64_t *shape);
/* Parameters are laid out in creation order, each at a DIFU_GRAPH_ALIGN-aligned offset. */
int difu_g_param(difu_graph *g, const char *name, int ndim, const int64_t *shape);

/* Adds a node: checks and infers shapes (the op's infer), creates its outputs, returns dst[0]. */
int difu_g_node(difu_graph *g, difu_op op, const char *name, const int *src, int nsrc,
                const int *ip, int nip, const float *fp, int nfp);

int difu_g_conv2d(difu_graph *g, const char *name, int x, int w, int b, int stride);
/* conv2d plus what follows it in a ResBlock, fused (kernels.h, difu_conv_epilogue): channel v
 * [N, Cout] (the time embedding) and residual r [N, Cout, OH, OW] (the skip path) are added to the
 * output; -1 for either means none. */
int difu_g_conv2d_add(difu_graph *g, const char *name, int x, int w, int b, int stride, int v,
                      int r);
int difu_g_groupnorm(difu_graph *g, const char *name, int x, int gamma, int beta, int groups,
                     float eps, int fuse_silu);
int difu_g_silu(difu_graph *g, const char *name, int x);
int difu_g_linear(difu_graph *g, const char *name, int x, int w, int b);
int difu_g_add(difu_graph *g, const char *name, int a, int b);
int difu_g_add_channel(difu_graph *g, const char *name, int x, int v);
int difu_g_concat(difu_graph *g, const char *name, int a, int b);
int difu_g_upsample2x(difu_graph *g, const char *name, int x);
int difu_g_attention(difu_graph *g, const char *name, int qkv);
int difu_g_embedding(difu_graph *g, const char *name, int table, int labels);
int difu_g_timestep_embedding(difu_graph *g, const char *name, int t, int dim);
int difu_g_mse_loss(difu_graph *g, const char *name, int pred, int target);
/* Dropout with probability p at dropout site `site` (its Philox stream), key an I64 [2] input. */
int difu_g_dropout(difu_graph *g, const char *name, int x, int key, float p, int site);

/* Marks a tensor as a graph output (kept live to the end of the run). */
void difu_g_keep(difu_graph *g, int t);

int64_t difu_gtensor_numel(const difu_gtensor *t);
size_t difu_gtensor_bytes(const difu_gtensor *t);
/* 2 x the multiply-adds of node n, for the FLOP-heavy ops (convolution, linear, attention) in
 * either direction; 0 for the rest. */
double difu_node_flops(const difu_graph *g, const difu_node *n);
/* "[2, 3, 4]" into buf; returns buf. */
const char *difu_shape_str(const difu_gtensor *t, char *buf, size_t len);
/* Tensor id by name, or -1. */
int difu_graph_find(const difu_graph *g, const char *name);

/* ---------------------------------------------------------------- op definitions */

/* Output shapes an op's infer fills in. */
typedef struct difu_tshape {
    int ndim;
    int64_t shape[DIFU_MAX_DIMS];
    difu_dtype dtype;
} difu_tshape;

typedef struct difu_exec difu_exec;
typedef struct difu_autodiff difu_autodiff;

typedef struct difu_op_def {
    const char *name;
    int n_src;  /* sources the op reads (trailing optional ones may be -1) */
    int n_dst;  /* outputs it writes */
    /* Checks the sources and fills out[0..n_dst). On error writes msg and returns nonzero. */
    int (*infer)(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg, size_t len);
    /* Runs thread ith's share of the node (called by all nth threads of the team). */
    void (*run)(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth);
    /* Appends the backward nodes of forward node n (NULL for backward ops). */
    difu_status (*grad)(difu_autodiff *ad, const difu_node *n);
    /* Nonzero when the kernels this op calls are missing from the table. */
    int (*missing)(const difu_kernels *k);
} difu_op_def;

const difu_op_def *difu_op_get(difu_op op);

/* For infer: checks that tensor id exists, has dtype and (ndim >= 0) ndim dims; else writes msg
 * naming `what` and returns 1. */
int difu_check_tensor(const difu_graph *g, int id, const char *what, difu_dtype dtype, int ndim,
                      char *msg, size_t len);
void difu_tshape_set(difu_tshape *s, difu_dtype dtype, int ndim, const int64_t *shape);
void difu_tshape_like(difu_tshape *s, const difu_gtensor *t);

/* Defined by engine/nodes/<op>.c. */
extern const difu_op_def difu_op_conv2d, difu_op_conv2d_bwd_data, difu_op_conv2d_bwd_weights;
extern const difu_op_def difu_op_groupnorm, difu_op_groupnorm_bwd;
extern const difu_op_def difu_op_silu, difu_op_silu_bwd;
extern const difu_op_def difu_op_linear, difu_op_linear_bwd_data, difu_op_linear_bwd_weights;
extern const difu_op_def difu_op_add, difu_op_copy, difu_op_fill;
extern const difu_op_def difu_op_add_channel, difu_op_channel_sum;
extern const difu_op_def difu_op_concat, difu_op_concat_slice;
extern const difu_op_def difu_op_upsample2x, difu_op_upsample2x_bwd;
extern const difu_op_def difu_op_attention, difu_op_attention_bwd;
extern const difu_op_def difu_op_embedding, difu_op_embedding_bwd;
extern const difu_op_def difu_op_timestep_emb;
extern const difu_op_def difu_op_mse_loss, difu_op_mse_loss_bwd;
extern const difu_op_def difu_op_dropout, difu_op_dropout_bwd;

/* ---------------------------------------------------------------- autodiff */

/* Appends the backward pass of the scalar `loss` (made by mse_loss) to g. Every parameter's final
 * gradient becomes a DIFU_T_GRAD tensor (written to the gradient block, overwritten each run;
 * parameters that do not reach the loss get a zero fill). Gradients of tensors used more than
 * once accumulate in a fixed order (first contribution, then adds). */
difu_status difu_autodiff_build(difu_graph *g, int loss);

/* For the rules in engine/nodes/. */
struct difu_autodiff {
    difu_graph *g;
    int *grad; /* per tensor: its gradient tensor, -1 none yet, DIFU_GRAD_ONE for the loss seed */
};
#define DIFU_GRAD_ONE (-2)
/* The gradient flowing into output t of the node being differentiated. */
int difu_ad_grad(const difu_autodiff *ad, int t);
/* Whether tensor t needs a gradient (it is a parameter or depends on one). */
int difu_ad_needs(const difu_autodiff *ad, int t);
/* Adds contribution c to the gradient of t (the first contribution is taken as is). */
void difu_ad_accumulate(difu_autodiff *ad, int t, int c);
/* "<node name>/<suffix>" into buf. */
const char *difu_ad_name(const difu_node *n, const char *suffix, char *buf, size_t len);

/* ---------------------------------------------------------------- planner */

typedef struct difu_plan {
    const difu_graph *g;
    int *first, *last;   /* per tensor: node interval it is live in (-1 when no node writes it) */
    size_t *offset;      /* per ACT tensor: byte offset in the arena */
    size_t arena_bytes;  /* peak: what the arena must hold */
    size_t sum_bytes;    /* the sum of all ACT tensor sizes (what no reuse would need) */
    difu_arena arena;
    void **ptr;          /* per tensor data pointer (after difu_plan_bind) */
    unsigned char *barrier; /* per node: 1 when a barrier must follow it */
    unsigned char *onednn;  /* per node: 1 when the conv node runs on oneDNN (engine/plan_conv.c) */
    const float **wino_u;   /* per tensor or NULL: a weight's Winograd form (engine/wino_cache.c) */
} difu_plan;

/* Places every ACT tensor by liveness (best fit, DIFU_GRAPH_ALIGN aligned) and, with allocate,
 * allocates and touches the arena. Fails with a message when a node's kernel is missing from the
 * engine's table. With allocate, chooses each conv node's implementation by the engine's
 * conv_backend (difu_plan_choose_convs): under DIFU_CONV_AUTO this times the problems the engine
 * has not decided yet. */
difu_status difu_plan_create(difu_engine *e, const difu_graph *g, int allocate, difu_plan **out);
void difu_plan_free(difu_plan *p);
/* Puts a barrier after every node (for measuring what the skipped ones save). */
void difu_plan_all_barriers(difu_plan *p);
/* Sets p->onednn for every conv node: all of them under DIFU_CONV_ONEDNN; under DIFU_CONV_AUTO the
 * engine's cached decision, timing the problems it lacks (native against oneDNN, on the plan's
 * arena, so the arena must be allocated; *timed tells whether anything ran there). Native for
 * everything when the build has no oneDNN. */
difu_status difu_plan_choose_convs(difu_engine *e, difu_plan *p, int *timed);
/* Points parameter and gradient tensors into the blocks (grads may be NULL for forward graphs)
 * and inputs at inputs[slot]. */
void difu_plan_bind(difu_plan *p, float *params, float *grads, void *const *inputs);

/* ---------------------------------------------------------------- executor */

struct difu_exec {
    const difu_graph *g;
    const difu_kernels *k;
    void *const *ptr;
    const float *const *wino_u; /* the plan's wino_u (may be NULL) */
};

/* Runs every node in order: each run of native nodes inside one OpenMP region of e->threads
 * threads, the oneDNN nodes (p->onednn) between those regions, from the calling thread (oneDNN
 * opens its own). No allocation beyond oneDNN's first call for a problem. */
difu_status difu_graph_run(difu_engine *e, difu_plan *p);
/* Runs `count` independent plans (the parts of a split batch) at once, plan i on thread i alone,
 * when count is the engine's thread count and every node is native; else one after another with
 * difu_graph_run. Each plan gives the bits difu_graph_run gives it (kernels run with nth = 1 on
 * their thread's scratch). */
difu_status difu_graph_run_parts(difu_engine *e, difu_plan *const *plans, int count);
/* Runs the graph node by node, adding each node's wall time (seconds) to seconds[node]. For
 * profiling: slower than difu_graph_run. */
difu_status difu_graph_profile(difu_engine *e, difu_plan *p, double *seconds);

/* Where a checked run met its first non-finite value. */
typedef struct difu_anomaly {
    int node;      /* -1: every output was finite */
    int dst;       /* which output of the node (its index in dst[]) */
    int64_t index; /* the first non-finite element of that output */
    double value;  /* that element: NaN, inf or -inf */
} difu_anomaly;

/* As difu_graph_run, plus a check right after each node, in the same threads: behind a barrier
 * each thread scans its share of the node's outputs (the result, what later nodes read, and
 * parameter gradients; not unread scratch) for NaN and infinity. At the first node with one the
 * run stops (later nodes do not run) and *found says where: the lowest output index, then the
 * lowest element, so the report does not depend on the thread count. Results are the bits
 * difu_graph_run gives. For debugging: two barriers and a pass over every output per node. */
difu_status difu_graph_run_checked(difu_engine *e, difu_plan *p, difu_anomaly *found);
/* Thread ith of nth's share of the check (engine/anomaly.c): whether output d of node i is
 * checked, and the first non-finite element of its share ([begin, end) on 16-element
 * boundaries), or -1, with its value in *value. */
int difu_anomaly_checked(const difu_plan *p, int node, int d);
int64_t difu_anomaly_scan(const difu_plan *p, int tensor, int ith, int nth, double *value);
/* "node 57 'down.0.0.conv1' (conv2d, forward): nan at element 0 of [8, 16, 8, 8]"; a backward
 * node says whose gradient it made, e.g. "(conv2d_bwd_data, backward: gradient of
 * 'down.0.0.norm1')" or "(conv2d_bwd_weights, backward: gradient of parameter
 * 'conv_out.weight')". Returns buf. */
const char *difu_anomaly_describe(const difu_graph *g, const difu_anomaly *a, char *buf,
                                  size_t len);

/* Conv nodes (engine/nodes/conv2d.c). The problem conv node n solves (direction, shape, bias);
 * returns 0 when n is not a conv2d, conv2d_bwd_data or conv2d_bwd_weights node. */
int difu_conv_node_problem(const difu_engine *e, const difu_graph *g, const difu_node *n,
                           difu_conv_problem *out);
/* Runs conv node n on oneDNN (call it outside any parallel region). */
difu_status difu_conv_node_onednn(difu_engine *e, const difu_exec *x, const difu_node *n);

/* Helpers for the run functions. */
static inline float *difu_x_f32(const difu_exec *x, int t) { return (float *)x->ptr[t]; }
static inline const difu_gtensor *difu_x_t(const difu_exec *x, int t) { return &x->g->tensors[t]; }
/* [begin, end) share of `total` items for thread ith of nth (contiguous, fixed by ith/nth). */
static inline void difu_split(int64_t total, int ith, int nth, int64_t *begin, int64_t *end)
{
    int64_t per = total / nth, rem = total % nth;
    *begin = ith * per + (ith < rem ? ith : rem);
    *end = *begin + per + (ith < rem ? 1 : 0);
}

/* Thread ith's share of n elements, split on 16-element (64-byte) boundaries. */
static inline void difu_split16(int64_t n, int ith, int nth, int64_t *begin, int64_t *end)
{
    difu_split((n + 15) / 16, ith, nth, begin, end);
    *begin *= 16;
    *end = *end * 16 < n ? *end * 16 : n;
}

#endif /* DIFU_GRAPH_H */
