/* conv2d.c: graph op conv2d (3x3 stride 1 or 2 pad 1, 1x1 pad 0, optional bias, optional fused
 * adds after it: a per-channel vector and a residual), its backward ops (data, weights), its
 * autodiff rule, and the same three nodes run on oneDNN (chosen per node by the plan,
 * engine/plan_conv.c). Layouts: x [N,Ci,H,W], w [Co,Ci,k,k] (PyTorch), b [Co], v [N,Co],
 * r [N,Co,OH,OW], y [N,Co,OH,OW] = conv + b + v + r, OH = (H + 2 pad - k) / stride + 1. */
#include <stdio.h>

#include "graph.h"
#include "onednn_conv.h"

static difu_conv2d_desc desc_of(const difu_gtensor *x, const difu_gtensor *w, int stride)
{
    difu_conv2d_desc d;
    d.n = (int)x->shape[0];
    d.cin = (int)x->shape[1];
    d.h = (int)x->shape[2];
    d.w = (int)x->shape[3];
    d.cout = (int)w->shape[0];
    d.k = (int)w->shape[2];
    d.stride = stride;
    d.pad = d.k / 2;
    return d;
}

static int conv_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg,
                      size_t len)
{
    if (difu_check_tensor(g, n->src[0], "input", DIFU_F32, 4, msg, len) ||
        difu_check_tensor(g, n->src[1], "weight", DIFU_F32, 4, msg, len))
        return 1;
    const difu_gtensor *x = &g->tensors[n->src[0]], *w = &g->tensors[n->src[1]];
    int k = (int)w->shape[2], stride = n->ip[0];
    if (w->shape[3] != k || !((k == 3 && (stride == 1 || stride == 2)) || (k == 1 && stride == 1))) {
        snprintf(msg, len, "kernel %lldx%lld stride %d is not supported (3x3 s1, 3x3 s2, 1x1 s1)",
                 (long long)w->shape[2], (long long)w->shape[3], stride);
        return 1;
    }
    if (x->shape[1] != w->shape[1]) {
        snprintf(msg, len, "input has %lld channels, weight expects %lld", (long long)x->shape[1],
                 (long long)w->shape[1]);
        return 1;
    }
    if (n->src[2] >= 0) {
        if (difu_check_tensor(g, n->src[2], "bias", DIFU_F32, 1, msg, len))
            return 1;
        if (g->tensors[n->src[2]].shape[0] != w->shape[0]) {
            snprintf(msg, len, "bias has %lld values, weight has %lld output channels",
                     (long long)g->tensors[n->src[2]].shape[0], (long long)w->shape[0]);
            return 1;
        }
    }
    difu_conv2d_desc d = desc_of(x, w, stride);
    int64_t shape[4] = {d.n, d.cout, (d.h + 2 * d.pad - d.k) / d.stride + 1,
                        (d.w + 2 * d.pad - d.k) / d.stride + 1};
    if (n->src[3] >= 0) {
        if (difu_check_tensor(g, n->src[3], "channel add", DIFU_F32, 2, msg, len))
            return 1;
        const difu_gtensor *v = &g->tensors[n->src[3]];
        if (v->shape[0] != shape[0] || v->shape[1] != shape[1]) {
            snprintf(msg, len, "channel add is [%lld, %lld], output is [%lld, %lld, ...]",
                     (long long)v->shape[0], (long long)v->shape[1], (long long)shape[0],
                     (long long)shape[1]);
            return 1;
        }
    }
    if (n->src[4] >= 0) {
        if (difu_check_tensor(g, n->src[4], "residual", DIFU_F32, 4, msg, len))
            return 1;
        const difu_gtensor *r = &g->tensors[n->src[4]];
        for (int i = 0; i < 4; i++)
            if (r->shape[i] != shape[i]) {
                snprintf(msg, len, "residual is [%lld, %lld, %lld, %lld], output is [%lld, %lld, "
                         "%lld, %lld]", (long long)r->shape[0], (long long)r->shape[1],
                         (long long)r->shape[2], (long long)r->shape[3], (long long)shape[0],
                         (long long)shape[1], (long long)shape[2], (long long)shape[3]);
                return 1;
            }
    }
    difu_tshape_set(&out[0], DIFU_F32, 4, shape);
    return 0;
}

/* The node's fused adds (engine-side pointers; NULL where absent). */
static difu_conv_epilogue epilogue_of(const difu_exec *x, const difu_node *n)
{
    difu_conv_epilogue ep = {n->src[3] >= 0 ? difu_x_f32(x, n->src[3]) : NULL,
                             n->src[4] >= 0 ? difu_x_f32(x, n->src[4]) : NULL};
    return ep;
}

static void conv_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    difu_conv2d_desc d = desc_of(difu_x_t(x, n->src[0]), difu_x_t(x, n->src[1]), n->ip[0]);
    const float *in = difu_x_f32(x, n->src[0]), *w = difu_x_f32(x, n->src[1]);
    const float *b = n->src[2] >= 0 ? difu_x_f32(x, n->src[2]) : NULL;
    const float *u = x->wino_u ? x->wino_u[n->src[1]] : NULL; /* kept Winograd weights */
    if (n->src[3] < 0 && n->src[4] < 0 && !u) {
        x->k->conv2d_fwd(x->k, &d, in, w, b, difu_x_f32(x, n->dst[0]), scratch, ith, nth);
        return;
    }
    difu_conv_epilogue ep = epilogue_of(x, n);
    difu_conv2d_fwd_epilogue(x->k, &d, in, w, u, b, &ep, difu_x_f32(x, n->dst[0]), scratch, ith,
                             nth);
}

/* The input the weight gradient reads. A GroupNorm output (the usual input of a 3x3 conv) is
 * recomputed here from the GroupNorm's input, which the backward keeps anyway, so the forward's
 * copy dies right after this conv's forward: activation memory drops by about a third. The
 * recomputation runs the same kernel on the same data, so it gives the same bits. */
static int recompute_input(difu_autodiff *ad, const difu_node *n)
{
    int x = n->src[0], prod = ad->g->tensors[x].producer;
    if (prod < 0 || prod >= ad->g->n_forward || ad->g->nodes[prod].op != DIFU_OP_GROUPNORM)
        return x;
    difu_node gn = ad->g->nodes[prod];
    char name[DIFU_NAME_LEN];
    return difu_g_node(ad->g, DIFU_OP_GROUPNORM, difu_ad_name(&gn, "recompute", name, sizeof name),
                       gn.src, 3, gn.ip, 2, gn.fp, 1);
}

static difu_status conv_grad(difu_autodiff *ad, const difu_node *n)
{
    int dy = difu_ad_grad(ad, n->dst[0]);
    const difu_gtensor *xt = &ad->g->tensors[n->src[0]];
    char name[DIFU_NAME_LEN];
    if (difu_ad_needs(ad, n->src[0])) {
        int src[2] = {dy, n->src[1]};
        int ip[4] = {n->ip[0], (int)xt->shape[1], (int)xt->shape[2], (int)xt->shape[3]};
        int dx = difu_g_node(ad->g, DIFU_OP_CONV2D_BWD_DATA, difu_ad_name(n, "dx", name, sizeof name),
                             src, 2, ip, 4, NULL, 0);
        difu_ad_accumulate(ad, n->src[0], dx);
    }
    if (n->src[3] >= 0 && difu_ad_needs(ad, n->src[3])) { /* channel add: dy summed per plane */
        int dv = difu_g_node(ad->g, DIFU_OP_CHANNEL_SUM, difu_ad_name(n, "dv", name, sizeof name),
                             &dy, 1, NULL, 0, NULL, 0);
        difu_ad_accumulate(ad, n->src[3], dv);
    }
    if (n->src[4] >= 0 && difu_ad_needs(ad, n->src[4])) /* residual: dy itself */
        difu_ad_accumulate(ad, n->src[4], dy);
    int has_bias = n->src[2] >= 0;
    if (difu_ad_needs(ad, n->src[1]) || (has_bias && difu_ad_needs(ad, n->src[2]))) {
        int x = recompute_input(ad, n);
        int src[3] = {x, dy, n->src[1]};
        int ip[2] = {n->ip[0], has_bias};
        int dw = difu_g_node(ad->g, DIFU_OP_CONV2D_BWD_WEIGHTS, difu_ad_name(n, "dw", name, sizeof name),
                             src, 3, ip, 2, NULL, 0);
        if (dw >= 0) {
            difu_ad_accumulate(ad, n->src[1], dw);
            if (has_bias)
                difu_ad_accumulate(ad, n->src[2], ad->g->nodes[ad->g->n_nodes - 1].dst[1]);
        }
    }
    return difu_graph_status(ad->g);
}

static int conv_missing(const difu_kernels *k) { return !k->conv2d_fwd; }

const difu_op_def difu_op_conv2d = {"conv2d", 5, 1, conv_infer, conv_run, conv_grad, conv_missing};

/* ---------------------------------------------------------------- backward data: dy, w -> dx */

static int bwd_data_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg,
                          size_t len)
{
    if (difu_check_tensor(g, n->src[0], "dy", DIFU_F32, 4, msg, len) ||
        difu_check_tensor(g, n->src[1], "weight", DIFU_F32, 4, msg, len))
        return 1;
    const difu_gtensor *dy = &g->tensors[n->src[0]], *w = &g->tensors[n->src[1]];
    if (w->shape[1] != n->ip[1] || dy->shape[1] != w->shape[0]) {
        snprintf(msg, len, "dy has %lld channels, weight is [%lld, %lld, ...], dx wants %d",
                 (long long)dy->shape[1], (long long)w->shape[0], (long long)w->shape[1], n->ip[1]);
        return 1;
    }
    int64_t shape[4] = {dy->shape[0], n->ip[1], n->ip[2], n->ip[3]};
    difu_tshape_set(&out[0], DIFU_F32, 4, shape);
    return 0;
}

static void bwd_data_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    difu_conv2d_desc d = desc_of(difu_x_t(x, n->dst[0]), difu_x_t(x, n->src[1]), n->ip[0]);
    x->k->conv2d_bwd_data(x->k, &d, difu_x_f32(x, n->src[0]), difu_x_f32(x, n->src[1]),
                          difu_x_f32(x, n->dst[0]), scratch, ith, nth);
}

static int bwd_data_missing(const difu_kernels *k) { return !k->conv2d_bwd_data; }

const difu_op_def difu_op_conv2d_bwd_data = {"conv2d_bwd_data", 2, 1, bwd_data_infer, bwd_data_run,
                                             NULL, bwd_data_missing};

/* ---------------------------------------------------------------- backward weights: x, dy -> dw, db */

static int bwd_weights_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg,
                             size_t len)
{
    if (difu_check_tensor(g, n->src[0], "input", DIFU_F32, 4, msg, len) ||
        difu_check_tensor(g, n->src[1], "dy", DIFU_F32, 4, msg, len) ||
        difu_check_tensor(g, n->src[2], "weight", DIFU_F32, 4, msg, len))
        return 1;
    const difu_gtensor *w = &g->tensors[n->src[2]];
    difu_tshape_like(&out[0], w);
    difu_tshape_set(&out[1], DIFU_F32, 1, w->shape);
    return 0;
}

static void bwd_weights_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    difu_conv2d_desc d = desc_of(difu_x_t(x, n->src[0]), difu_x_t(x, n->src[2]), n->ip[0]);
    x->k->conv2d_bwd_weights(x->k, &d, difu_x_f32(x, n->src[0]), difu_x_f32(x, n->src[1]),
                             difu_x_f32(x, n->dst[0]), n->ip[1] ? difu_x_f32(x, n->dst[1]) : NULL,
                             scratch, ith, nth);
}

static int bwd_weights_missing(const difu_kernels *k) { return !k->conv2d_bwd_weights; }

const difu_op_def difu_op_conv2d_bwd_weights = {"conv2d_bwd_weights", 3, 2, bwd_weights_infer,
                                                bwd_weights_run, NULL, bwd_weights_missing};

/* ---------------------------------------------------------------- the nodes on oneDNN */

int difu_conv_node_problem(const difu_engine *e, const difu_graph *g, const difu_node *n,
                           difu_conv_problem *out)
{
    const difu_gtensor *t = g->tensors;
    difu_conv2d_desc d;
    switch (n->op) {
    case DIFU_OP_CONV2D:
        d = desc_of(&t[n->src[0]], &t[n->src[1]], n->ip[0]);
        *out = difu_conv_problem_make(e, DIFU_CONV_DIR_FWD, &d, n->src[2] >= 0);
        return 1;
    case DIFU_OP_CONV2D_BWD_DATA:
        d = desc_of(&t[n->dst[0]], &t[n->src[1]], n->ip[0]);
        *out = difu_conv_problem_make(e, DIFU_CONV_DIR_BWD_DATA, &d, 0);
        return 1;
    case DIFU_OP_CONV2D_BWD_WEIGHTS:
        d = desc_of(&t[n->src[0]], &t[n->src[2]], n->ip[0]);
        *out = difu_conv_problem_make(e, DIFU_CONV_DIR_BWD_WEIGHTS, &d, n->ip[1]);
        return 1;
    default:
        return 0;
    }
}

difu_status difu_conv_node_onednn(difu_engine *e, const difu_exec *x, const difu_node *n)
{
    difu_conv_problem pr;
    if (!difu_conv_node_problem(e, x->g, n, &pr))
        return difu_fail(e, DIFU_ERR_INTERNAL, "node '%s' %s is not a convolution", n->name,
                         difu_op_name(n->op));
    difu_conv2d_desc d = difu_conv_problem_desc(&pr);
    switch (n->op) {
    case DIFU_OP_CONV2D: {
        float *y = difu_x_f32(x, n->dst[0]);
        difu_status s = difu_onednn_conv2d_forward(e, &d, difu_x_f32(x, n->src[0]),
                                                   difu_x_f32(x, n->src[1]),
                                                   n->src[2] >= 0 ? difu_x_f32(x, n->src[2]) : NULL,
                                                   y);
        difu_conv_epilogue ep = epilogue_of(x, n);
        if (s == DIFU_OK && (ep.channel || ep.residual))
            difu_conv_epilogue_planes(&ep, 0, (int64_t)d.n * d.cout,
                                      (int64_t)difu_conv2d_out_h(&d) * difu_conv2d_out_w(&d), y);
        return s;
    }
    case DIFU_OP_CONV2D_BWD_DATA:
        return difu_onednn_conv2d_backward_data(e, &d, difu_x_f32(x, n->src[0]),
                                                difu_x_f32(x, n->src[1]), difu_x_f32(x, n->dst[0]));
    default:
        return difu_onednn_conv2d_backward_weights(e, &d, difu_x_f32(x, n->src[0]),
                                                   difu_x_f32(x, n->src[1]),
                                                   difu_x_f32(x, n->dst[0]),
                                                   n->ip[1] ? difu_x_f32(x, n->dst[1]) : NULL);
    }
}
