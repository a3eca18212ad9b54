/* graph.c: building a static graph: tensors, nodes, shape inference through each op's infer, and
 * the first error kept on the graph with the node it happened at. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"

static const difu_op_def *const op_defs[DIFU_OP_COUNT] = {
    [DIFU_OP_CONV2D] = &difu_op_conv2d,
    [DIFU_OP_GROUPNORM] = &difu_op_groupnorm,
    [DIFU_OP_SILU] = &difu_op_silu,
    [DIFU_OP_LINEAR] = &difu_op_linear,
    [DIFU_OP_ADD] = &difu_op_add,
    [DIFU_OP_ADD_CHANNEL] = &difu_op_add_channel,
    [DIFU_OP_CONCAT] = &difu_op_concat,
    [DIFU_OP_UPSAMPLE2X] = &difu_op_upsample2x,
    [DIFU_OP_ATTENTION] = &difu_op_attention,
    [DIFU_OP_EMBEDDING] = &difu_op_embedding,
    [DIFU_OP_TIMESTEP_EMB] = &difu_op_timestep_emb,
    [DIFU_OP_MSE_LOSS] = &difu_op_mse_loss,
    [DIFU_OP_DROPOUT] = &difu_op_dropout,
    [DIFU_OP_CONV2D_BWD_DATA] = &difu_op_conv2d_bwd_data,
    [DIFU_OP_CONV2D_BWD_WEIGHTS] = &difu_op_conv2d_bwd_weights,
    [DIFU_OP_GROUPNORM_BWD] = &difu_op_groupnorm_bwd,
    [DIFU_OP_SILU_BWD] = &difu_op_silu_bwd,
    [DIFU_OP_LINEAR_BWD_DATA] = &difu_op_linear_bwd_data,
    [DIFU_OP_LINEAR_BWD_WEIGHTS] = &difu_op_linear_bwd_weights,
    [DIFU_OP_CHANNEL_SUM] = &difu_op_channel_sum,
    [DIFU_OP_CONCAT_SLICE] = &difu_op_concat_slice,
    [DIFU_OP_UPSAMPLE2X_BWD] = &difu_op_upsample2x_bwd,
    [DIFU_OP_ATTENTION_BWD] = &difu_op_attention_bwd,
    [DIFU_OP_EMBEDDING_BWD] = &difu_op_embedding_bwd,
    [DIFU_OP_MSE_LOSS_BWD] = &difu_op_mse_loss_bwd,
    [DIFU_OP_DROPOUT_BWD] = &difu_op_dropout_bwd,
    [DIFU_OP_COPY] = &difu_op_copy,
    [DIFU_OP_FILL] = &difu_op_fill,
};

const difu_op_def *difu_op_get(difu_op op)
{
    return (op >= 0 && op < DIFU_OP_COUNT) ? op_defs[op] : NULL;
}

const char *difu_op_name(difu_op op)
{
    const difu_op_def *d = difu_op_get(op);
    return d ? d->name : "unknown op";
}

const char *difu_tkind_name(difu_tkind k)
{
    static const char *const names[DIFU_TKIND_COUNT] = {"input", "parameter", "activation",
                                                        "gradient"};
    return (k >= 0 && k < DIFU_TKIND_COUNT) ? names[k] : "unknown kind";
}

size_t difu_dtype_size(difu_dtype d)
{
    return d == DIFU_F32 ? 4 : 8;
}

const char *difu_dtype_name(difu_dtype d)
{
    static const char *const names[DIFU_DTYPE_COUNT] = {"f32", "i64", "f64"};
    return (d >= 0 && d < DIFU_DTYPE_COUNT) ? names[d] : "?";
}

difu_graph *difu_graph_new(void)
{
    difu_graph *g = calloc(1, sizeof *g);
    return g;
}

void difu_graph_free(difu_graph *g)
{
    if (!g)
        return;
    free(g->tensors);
    free(g->nodes);
    free(g);
}

difu_status difu_graph_status(const difu_graph *g) { return g->status; }
const char *difu_graph_error(const difu_graph *g) { return g->error; }

int difu_graph_fail(difu_graph *g, difu_status s, const char *fmt, ...)
{
    if (g->status != DIFU_OK)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->error, sizeof g->error, fmt, ap);
    va_end(ap);
    g->status = s;
    return -1;
}

int64_t difu_gtensor_numel(const difu_gtensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

size_t difu_gtensor_bytes(const difu_gtensor *t)
{
    return (size_t)difu_gtensor_numel(t) * difu_dtype_size(t->dtype);
}

double difu_node_flops(const difu_graph *g, const difu_node *n)
{
    const difu_gtensor *t = g->tensors;
    switch (n->op) {
    case DIFU_OP_CONV2D: /* y [N,Co,OH,OW] x w [Co,Ci,k,k] */
        return 2.0 * (double)difu_gtensor_numel(&t[n->dst[0]]) *
               (double)(t[n->src[1]].shape[1] * t[n->src[1]].shape[2] * t[n->src[1]].shape[3]);
    case DIFU_OP_CONV2D_BWD_DATA: /* dy [N,Co,OH,OW] x w [Co,Ci,k,k] */
        return 2.0 * (double)difu_gtensor_numel(&t[n->src[0]]) *
               (double)(t[n->src[1]].shape[1] * t[n->src[1]].shape[2] * t[n->src[1]].shape[3]);
    case DIFU_OP_CONV2D_BWD_WEIGHTS: /* dy [N,Co,OH,OW] x Ci*k*k taps of x (src 2: the weight) */
        return 2.0 * (double)difu_gtensor_numel(&t[n->src[1]]) *
               (double)(t[n->src[2]].shape[1] * t[n->src[2]].shape[2] * t[n->src[2]].shape[3]);
    case DIFU_OP_LINEAR: /* y [N,out] x w [out,in] */
        return 2.0 * (double)difu_gtensor_numel(&t[n->dst[0]]) * (double)t[n->src[1]].shape[1];
    case DIFU_OP_LINEAR_BWD_DATA:    /* dy [N,out] x w [out,in] */
    case DIFU_OP_LINEAR_BWD_WEIGHTS: /* x [N,in] x dy [N,out] */
        return 2.0 * (double)difu_gtensor_numel(&t[n->src[0]]) * (double)t[n->src[1]].shape[1];
    case DIFU_OP_ATTENTION: /* QK^T and PV: 2 x 2 x N x C x HW^2 */
    case DIFU_OP_ATTENTION_BWD: /* twice the forward's products */
    {
        const difu_gtensor *h = &t[n->op == DIFU_OP_ATTENTION ? n->dst[0] : n->src[2]];
        double hw = (double)(h->shape[2] * h->shape[3]);
        return (n->op == DIFU_OP_ATTENTION ? 4.0 : 8.0) * (double)h->shape[0] *
               (double)h->shape[1] * hw * hw;
    }
    default:
        return 0;
    }
}

const char *difu_shape_str(const difu_gtensor *t, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < t->ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? ", " : "",
                                 (long long)t->shape[i]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}

int difu_graph_find(const difu_graph *g, const char *name)
{
    for (int i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0)
            return i;
    return -1;
}

static int new_tensor(difu_graph *g, const char *name, difu_dtype dtype, int ndim,
                      const int64_t *shape, difu_tkind kind)
{
    if (g->status != DIFU_OK)
        return -1;
    if (ndim < 0 || ndim > DIFU_MAX_DIMS)
        return difu_graph_fail(g, DIFU_ERR_INVALID_ARG, "tensor '%s': %d dims (at most %d)", name,
                               ndim, DIFU_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] <= 0)
            return difu_graph_fail(g, DIFU_ERR_INVALID_ARG, "tensor '%s': dim %d is %lld", name, i,
                                   (long long)shape[i]);
    if (g->n_tensors == g->cap_tensors) {
        int cap = g->cap_tensors ? 2 * g->cap_tensors : 256;
        difu_gtensor *t = realloc(g->tensors, (size_t)cap * sizeof *t);
        if (!t)
            return difu_graph_fail(g, DIFU_ERR_NO_MEMORY, "graph: out of memory for tensors");
        g->tensors = t;
        g->cap_tensors = cap;
    }
    difu_gtensor *t = &g->tensors[g->n_tensors];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->dtype = dtype;
    t->kind = kind;
    t->producer = -1;
    t->grad_of = -1;
    t->grad_for = -1;
    t->input_slot = -1;
    return g->n_tensors++;
}

int difu_g_input(difu_graph *g, const char *name, difu_dtype dtype, int ndim, const int64_t *shape)
{
    int id = new_tensor(g, name, dtype, ndim, shape, DIFU_T_INPUT);
    if (id >= 0)
        g->tensors[id].input_slot = g->n_inputs++;
    return id;
}

int difu_g_param(difu_graph *g, const char *name, int ndim, const int64_t *shape)
{
    int id = new_tensor(g, name, DIFU_F32, ndim, shape, DIFU_T_PARAM);
    if (id < 0)
        return -1;
    difu_gtensor *t = &g->tensors[id];
    t->offset = g->param_bytes;
    t->requires_grad = 1;
    g->param_bytes += (difu_gtensor_bytes(t) + DIFU_GRAPH_ALIGN - 1) & ~(size_t)(DIFU_GRAPH_ALIGN - 1);
    return id;
}

void difu_g_keep(difu_graph *g, int t)
{
    if (t >= 0 && t < g->n_tensors)
        g->tensors[t].keep = 1;
}

int difu_g_node(difu_graph *g, difu_op op, const char *name, const int *src, int nsrc,
                const int *ip, int nip, const float *fp, int nfp)
{
    if (g->status != DIFU_OK)
        return -1;
    const difu_op_def *def = difu_op_get(op);
    int index = g->n_nodes;
    if (!def)
        return difu_graph_fail(g, DIFU_ERR_INVALID_ARG, "node %d '%s': op %d is not a difu_op",
                               index, name, (int)op);
    if (nsrc > DIFU_NODE_MAX_SRC || nip > DIFU_NODE_MAX_IP || nfp > 2)
        return difu_graph_fail(g, DIFU_ERR_INTERNAL, "node %d '%s' %s: too many arguments", index,
                               name, def->name);
    difu_node n;
    memset(&n, 0, sizeof n);
    n.op = op;
    snprintf(n.name, sizeof n.name, "%s", name);
    for (int i = 0; i < DIFU_NODE_MAX_SRC; i++)
        n.src[i] = i < nsrc ? src[i] : -1;
    for (int i = 0; i < DIFU_NODE_MAX_DST; i++)
        n.dst[i] = -1;
    for (int i = 0; i < nip; i++)
        n.ip[i] = ip[i];
    for (int i = 0; i < nfp; i++)
        n.fp[i] = fp[i];
    for (int i = 0; i < nsrc; i++)
        if (src[i] < -1 || src[i] >= g->n_tensors)
            return difu_graph_fail(g, DIFU_ERR_INVALID_ARG,
                                   "node %d '%s' %s: source %d is tensor %d, the graph has %d",
                                   index, name, def->name, i, src[i], g->n_tensors);

    difu_tshape out[DIFU_NODE_MAX_DST];
    memset(out, 0, sizeof out);
    char msg[DIFU_ERROR_LEN];
    msg[0] = 0;
    if (def->infer(g, &n, out, msg, sizeof msg) != 0)
        return difu_graph_fail(g, DIFU_ERR_INVALID_ARG, "node %d '%s' %s: %s", index, name,
                               def->name, msg);

    int requires_grad = 0;
    for (int i = 0; i < nsrc; i++)
        if (src[i] >= 0 && g->tensors[src[i]].requires_grad)
            requires_grad = 1;
    static const char *const suffix[DIFU_NODE_MAX_DST] = {"", "#1", "#2"};
    for (int i = 0; i < def->n_dst; i++) {
        char tname[DIFU_NAME_LEN + 8];
        snprintf(tname, sizeof tname, "%s%s", name, suffix[i]);
        int id = new_tensor(g, tname, out[i].dtype, out[i].ndim, out[i].shape, DIFU_T_ACT);
        if (id < 0)
            return -1;
        g->tensors[id].producer = index;
        g->tensors[id].requires_grad = requires_grad && op < DIFU_OP_CONV2D_BWD_DATA;
        n.dst[i] = id;
    }
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 256;
        difu_node *p = realloc(g->nodes, (size_t)cap * sizeof *p);
        if (!p)
            return difu_graph_fail(g, DIFU_ERR_NO_MEMORY, "graph: out of memory for nodes");
        g->nodes = p;
        g->cap_nodes = cap;
    }
    g->nodes[g->n_nodes++] = n;
    return n.dst[0];
}

/* ---------------------------------------------------------------- typed builders */

int difu_g_conv2d(difu_graph *g, const char *name, int x, int w, int b, int stride)
{
    return difu_g_conv2d_add(g, name, x, w, b, stride, -1, -1);
}

int difu_g_conv2d_add(difu_graph *g, const char *name, int x, int w, int b, int stride, int v,
                      int r)
{
    int src[5] = {x, w, b, v, r}, ip[1] = {stride};
    return difu_g_node(g, DIFU_OP_CONV2D, name, src, 5, ip, 1, NULL, 0);
}

int difu_g_groupnorm(difu_graph *g, const char *name, int x, int gamma, int beta, int groups,
                     float eps, int fuse_silu)
{
    int src[3] = {x, gamma, beta}, ip[2] = {groups, fuse_silu};
    float fp[1] = {eps};
    return difu_g_node(g, DIFU_OP_GROUPNORM, name, src, 3, ip, 2, fp, 1);
}

int difu_g_silu(difu_graph *g, const char *name, int x)
{
    return difu_g_node(g, DIFU_OP_SILU, name, &x, 1, NULL, 0, NULL, 0);
}

int difu_g_linear(difu_graph *g, const char *name, int x, int w, int b)
{
    int src[3] = {x, w, b};
    return difu_g_node(g, DIFU_OP_LINEAR, name, src, 3, NULL, 0, NULL, 0);
}

int difu_g_add(difu_graph *g, const char *name, int a, int b)
{
    int src[2] = {a, b};
    return difu_g_node(g, DIFU_OP_ADD, name, src, 2, NULL, 0, NULL, 0);
}

int difu_g_add_channel(difu_graph *g, const char *name, int x, int v)
{
    int src[2] = {x, v};
    return difu_g_node(g, DIFU_OP_ADD_CHANNEL, name, src, 2, NULL, 0, NULL, 0);
}

int difu_g_concat(difu_graph *g, const char *name, int a, int b)
{
    int src[2] = {a, b};
    return difu_g_node(g, DIFU_OP_CONCAT, name, src, 2, NULL, 0, NULL, 0);
}

int difu_g_upsample2x(difu_graph *g, const char *name, int x)
{
    return difu_g_node(g, DIFU_OP_UPSAMPLE2X, name, &x, 1, NULL, 0, NULL, 0);
}

int difu_g_attention(difu_graph *g, const char *name, int qkv)
{
    return difu_g_node(g, DIFU_OP_ATTENTION, name, &qkv, 1, NULL, 0, NULL, 0);
}

int difu_g_embedding(difu_graph *g, const char *name, int table, int labels)
{
    int src[2] = {table, labels};
    return difu_g_node(g, DIFU_OP_EMBEDDING, name, src, 2, NULL, 0, NULL, 0);
}

int difu_g_timestep_embedding(difu_graph *g, const char *name, int t, int dim)
{
    return difu_g_node(g, DIFU_OP_TIMESTEP_EMB, name, &t, 1, &dim, 1, NULL, 0);
}

int difu_g_mse_loss(difu_graph *g, const char *name, int pred, int target)
{
    int src[2] = {pred, target};
    return difu_g_node(g, DIFU_OP_MSE_LOSS, name, src, 2, NULL, 0, NULL, 0);
}

int difu_g_dropout(difu_graph *g, const char *name, int x, int key, float p, int site)
{
    int src[2] = {x, key};
    return difu_g_node(g, DIFU_OP_DROPOUT, name, src, 2, &site, 1, &p, 1);
}

/* ---------------------------------------------------------------- helpers for infer */

int difu_check_tensor(const difu_graph *g, int id, const char *what, difu_dtype dtype, int ndim,
                      char *msg, size_t len)
{
    if (id < 0 || id >= g->n_tensors) {
        snprintf(msg, len, "%s is missing", what);
        return 1;
    }
    const difu_gtensor *t = &g->tensors[id];
    char buf[64];
    if (t->dtype != dtype) {
        snprintf(msg, len, "%s '%s' is %s, expected %s", what, t->name, difu_dtype_name(t->dtype),
                 difu_dtype_name(dtype));
        return 1;
    }
    if (ndim >= 0 && t->ndim != ndim) {
        snprintf(msg, len, "%s '%s' has shape %s, expected %d dims", what, t->name,
                 difu_shape_str(t, buf, sizeof buf), ndim);
        return 1;
    }
    return 0;
}

void difu_tshape_set(difu_tshape *s, difu_dtype dtype, int ndim, const int64_t *shape)
{
    s->dtype = dtype;
    s->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        s->shape[i] = shape[i];
}

void difu_tshape_like(difu_tshape *s, const difu_gtensor *t)
{
    difu_tshape_set(s, t->dtype, t->ndim, t->shape);
}
