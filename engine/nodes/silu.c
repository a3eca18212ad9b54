/* silu.c: graph op SiLU (y = x sigmoid(x), any shape), its backward op and autodiff rule. */
#include "graph.h"

static int silu_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg,
                      size_t len)
{
    if (difu_check_tensor(g, n->src[0], "input", DIFU_F32, -1, msg, len))
        return 1;
    difu_tshape_like(&out[0], &g->tensors[n->src[0]]);
    return 0;
}

static void silu_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    int64_t b, e;
    difu_split16(difu_gtensor_numel(difu_x_t(x, n->src[0])), ith, nth, &b, &e);
    if (e > b)
        x->k->silu_fwd(e - b, difu_x_f32(x, n->src[0]) + b, difu_x_f32(x, n->dst[0]) + b);
}

static difu_status silu_grad(difu_autodiff *ad, const difu_node *n)
{
    char name[DIFU_NAME_LEN];
    int src[2] = {n->src[0], difu_ad_grad(ad, n->dst[0])};
    int dx = difu_g_node(ad->g, DIFU_OP_SILU_BWD, difu_ad_name(n, "bwd", name, sizeof name), src, 2,
                         NULL, 0, NULL, 0);
    difu_ad_accumulate(ad, n->src[0], dx);
    return difu_graph_status(ad->g);
}

static int silu_missing(const difu_kernels *k) { return !k->silu_fwd; }

const difu_op_def difu_op_silu = {"silu", 1, 1, silu_infer, silu_run, silu_grad, silu_missing};

static void silu_bwd_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    int64_t b, e;
    difu_split16(difu_gtensor_numel(difu_x_t(x, n->src[0])), ith, nth, &b, &e);
    if (e > b)
        x->k->silu_bwd(e - b, difu_x_f32(x, n->src[0]) + b, difu_x_f32(x, n->src[1]) + b,
                       difu_x_f32(x, n->dst[0]) + b);
}

static int silu_bwd_missing(const difu_kernels *k) { return !k->silu_bwd; }

const difu_op_def difu_op_silu_bwd = {"silu_bwd", 2, 1, silu_infer, silu_bwd_run, NULL,
                                      silu_bwd_missing};
