/* groupnorm.c: graph op GroupNorm (optionally fused with SiLU), its backward op and autodiff rule.
 * x [N,C,H,W] (or [N,C]), gamma/beta [C] -> y like x, mean/rstd [N,G] kept for the backward
 * (the output itself is not needed by the backward: it is recomputed from x, mean and rstd). */
#include <stdio.h>

#include "graph.h"

static difu_groupnorm_desc desc_of(const difu_gtensor *x, const difu_node *n)
{
    difu_groupnorm_desc d;
    d.n = (int)x->shape[0];
    d.c = (int)x->shape[1];
    d.hw = 1;
    for (int i = 2; i < x->ndim; i++)
        d.hw *= (int)x->shape[i];
    d.groups = n->ip[0];
    d.eps = n->fp[0];
    d.fuse_silu = n->ip[1];
    return d;
}

static int gn_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg, size_t len)
{
    if (difu_check_tensor(g, n->src[0], "input", DIFU_F32, -1, msg, len) ||
        difu_check_tensor(g, n->src[1], "gamma", DIFU_F32, 1, msg, len) ||
        difu_check_tensor(g, n->src[2], "beta", DIFU_F32, 1, msg, len))
        return 1;
    const difu_gtensor *x = &g->tensors[n->src[0]];
    if (x->ndim < 2) {
        snprintf(msg, len, "input '%s' needs at least 2 dims [N, C, ...]", x->name);
        return 1;
    }
    int64_t c = x->shape[1];
    int groups = n->ip[0];
    if (groups <= 0 || c % groups != 0) {
        snprintf(msg, len, "%lld channels do not split into %d groups", (long long)c, groups);
        return 1;
    }
    if (g->tensors[n->src[1]].shape[0] != c || g->tensors[n->src[2]].shape[0] != c) {
        snprintf(msg, len, "input has %lld channels, gamma/beta have %lld/%lld", (long long)c,
                 (long long)g->tensors[n->src[1]].shape[0],
                 (long long)g->tensors[n->src[2]].shape[0]);
        return 1;
    }
    if (!(n->fp[0] > 0)) {
        snprintf(msg, len, "eps must be positive, got %g", (double)n->fp[0]);
        return 1;
    }
    difu_tshape_like(&out[0], x);
    int64_t stats[2] = {x->shape[0], groups};
    difu_tshape_set(&out[1], DIFU_F32, 2, stats);
    difu_tshape_set(&out[2], DIFU_F32, 2, stats);
    return 0;
}

static void gn_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    difu_groupnorm_desc d = desc_of(difu_x_t(x, n->src[0]), n);
    x->k->groupnorm_fwd(&d, difu_x_f32(x, n->src[0]), difu_x_f32(x, n->src[1]),
                        difu_x_f32(x, n->src[2]), difu_x_f32(x, n->dst[0]),
                        difu_x_f32(x, n->dst[1]), difu_x_f32(x, n->dst[2]), ith, nth);
}

static difu_status gn_grad(difu_autodiff *ad, const difu_node *n)
{
    char name[DIFU_NAME_LEN];
    int src[6] = {n->src[0], n->src[1], n->src[2], n->dst[1], n->dst[2],
                  difu_ad_grad(ad, n->dst[0])};
    int dx = difu_g_node(ad->g, DIFU_OP_GROUPNORM_BWD, difu_ad_name(n, "bwd", name, sizeof name), src,
                         6, n->ip, 2, n->fp, 1);
    if (dx < 0)
        return difu_graph_status(ad->g);
    const difu_node *b = &ad->g->nodes[ad->g->n_nodes - 1];
    int dgamma = b->dst[1], dbeta = b->dst[2];
    if (difu_ad_needs(ad, n->src[0]))
        difu_ad_accumulate(ad, n->src[0], dx);
    if (difu_ad_needs(ad, n->src[1]))
        difu_ad_accumulate(ad, n->src[1], dgamma);
    if (difu_ad_needs(ad, n->src[2]))
        difu_ad_accumulate(ad, n->src[2], dbeta);
    return difu_graph_status(ad->g);
}

static int gn_missing(const difu_kernels *k) { return !k->groupnorm_fwd; }

const difu_op_def difu_op_groupnorm = {"groupnorm", 3, 3, gn_infer, gn_run, gn_grad, gn_missing};

/* ---------------------------------------------------------------- backward */

static int gn_bwd_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg,
                        size_t len)
{
    if (difu_check_tensor(g, n->src[0], "input", DIFU_F32, -1, msg, len) ||
        difu_check_tensor(g, n->src[5], "dy", DIFU_F32, g->tensors[n->src[0]].ndim, msg, len))
        return 1;
    difu_tshape_like(&out[0], &g->tensors[n->src[0]]);
    difu_tshape_like(&out[1], &g->tensors[n->src[1]]);
    difu_tshape_like(&out[2], &g->tensors[n->src[2]]);
    return 0;
}

static void gn_bwd_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    difu_groupnorm_desc d = desc_of(difu_x_t(x, n->src[0]), n);
    x->k->groupnorm_bwd(&d, difu_x_f32(x, n->src[0]), difu_x_f32(x, n->src[1]),
                        difu_x_f32(x, n->src[2]), difu_x_f32(x, n->src[3]),
                        difu_x_f32(x, n->src[4]), difu_x_f32(x, n->src[5]),
                        difu_x_f32(x, n->dst[0]), difu_x_f32(x, n->dst[1]),
                        difu_x_f32(x, n->dst[2]), ith, nth);
}

static int gn_bwd_missing(const difu_kernels *k) { return !k->groupnorm_bwd; }

const difu_op_def difu_op_groupnorm_bwd = {"groupnorm_bwd", 6, 3, gn_bwd_infer, gn_bwd_run, NULL,
                                           gn_bwd_missing};
