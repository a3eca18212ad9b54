/* add.c: graph ops add (a + b, same shapes; its gradient flows to both unchanged), copy and fill
 * (used by autodiff for parameter gradients). */
#include <stdio.h>

#include "graph.h"

static int same_shape(const difu_gtensor *a, const difu_gtensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

static int add_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg, size_t len)
{
    if (difu_check_tensor(g, n->src[0], "a", DIFU_F32, -1, msg, len) ||
        difu_check_tensor(g, n->src[1], "b", DIFU_F32, -1, msg, len))
        return 1;
    const difu_gtensor *a = &g->tensors[n->src[0]], *b = &g->tensors[n->src[1]];
    if (!same_shape(a, b)) {
        char sa[64], sb[64];
        snprintf(msg, len, "shapes differ: '%s' %s, '%s' %s", a->name, difu_shape_str(a, sa, sizeof sa),
                 b->name, difu_shape_str(b, sb, sizeof sb));
        return 1;
    }
    difu_tshape_like(&out[0], a);
    return 0;
}

static void add_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    int64_t b, e;
    difu_split16(difu_gtensor_numel(difu_x_t(x, n->dst[0])), ith, nth, &b, &e);
    const float *pa = difu_x_f32(x, n->src[0]), *pb = difu_x_f32(x, n->src[1]);
    float *y = difu_x_f32(x, n->dst[0]);
    for (int64_t i = b; i < e; i++)
        y[i] = pa[i] + pb[i];
}

static difu_status add_grad(difu_autodiff *ad, const difu_node *n)
{
    int dy = difu_ad_grad(ad, n->dst[0]);
    for (int i = 0; i < 2; i++)
        if (difu_ad_needs(ad, n->src[i]))
            difu_ad_accumulate(ad, n->src[i], dy);
    return difu_graph_status(ad->g);
}

static int none_missing(const difu_kernels *k) { return 0; }

const difu_op_def difu_op_add = {"add", 2, 1, add_infer, add_run, add_grad, none_missing};

/* ---------------------------------------------------------------- copy */

static int copy_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg,
                      size_t len)
{
    if (difu_check_tensor(g, n->src[0], "input", DIFU_F32, -1, msg, len))
        return 1;
    difu_tshape_like(&out[0], &g->tensors[n->src[0]]);
    return 0;
}

static void copy_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    int64_t b, e;
    difu_split16(difu_gtensor_numel(difu_x_t(x, n->dst[0])), ith, nth, &b, &e);
    const float *src = difu_x_f32(x, n->src[0]);
    float *y = difu_x_f32(x, n->dst[0]);
    for (int64_t i = b; i < e; i++)
        y[i] = src[i];
}

const difu_op_def difu_op_copy = {"copy", 1, 1, copy_infer, copy_run, NULL, none_missing};

/* ---------------------------------------------------------------- fill: ip = {ndim, dims...} */

static int fill_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg,
                      size_t len)
{
    int ndim = n->ip[0];
    if (ndim < 1 || ndim > DIFU_MAX_DIMS) {
        snprintf(msg, len, "%d dims", ndim);
        return 1;
    }
    int64_t shape[DIFU_MAX_DIMS];
    for (int i = 0; i < ndim; i++)
        shape[i] = n->ip[1 + i];
    difu_tshape_set(&out[0], DIFU_F32, ndim, shape);
    return 0;
}

static void fill_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    int64_t b, e;
    difu_split16(difu_gtensor_numel(difu_x_t(x, n->dst[0])), ith, nth, &b, &e);
    float *y = difu_x_f32(x, n->dst[0]);
    for (int64_t i = b; i < e; i++)
        y[i] = n->fp[0];
}

const difu_op_def difu_op_fill = {"fill", 0, 1, fill_infer, fill_run, NULL, none_missing};
