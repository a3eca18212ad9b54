/* add_channel.c: graph op channel-broadcast add (x [N,C,H,W] + v [N,C] over H,W: the time
 * embedding into a ResBlock), its backward op channel_sum (dv = sum of dy over H,W) and rule. */
#include <stdio.h>

#include "graph.h"

static int64_t plane(const difu_gtensor *t)
{
    int64_t hw = 1;
    for (int i = 2; i < t->ndim; i++)
        hw *= t->shape[i];
    return hw;
}

static int addc_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg,
                      size_t len)
{
    if (difu_check_tensor(g, n->src[0], "input", DIFU_F32, 4, msg, len) ||
        difu_check_tensor(g, n->src[1], "vector", DIFU_F32, 2, msg, len))
        return 1;
    const difu_gtensor *x = &g->tensors[n->src[0]], *v = &g->tensors[n->src[1]];
    if (v->shape[0] != x->shape[0] || v->shape[1] != x->shape[1]) {
        snprintf(msg, len, "input is [%lld, %lld, ...], vector is [%lld, %lld]",
                 (long long)x->shape[0], (long long)x->shape[1], (long long)v->shape[0],
                 (long long)v->shape[1]);
        return 1;
    }
    difu_tshape_like(&out[0], x);
    return 0;
}

static void addc_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    const difu_gtensor *xt = difu_x_t(x, n->src[0]);
    int64_t hw = plane(xt), planes = xt->shape[0] * xt->shape[1], p0, p1;
    difu_split(planes, ith, nth, &p0, &p1);
    const float *in = difu_x_f32(x, n->src[0]), *v = difu_x_f32(x, n->src[1]);
    float *y = difu_x_f32(x, n->dst[0]);
    for (int64_t p = p0; p < p1; p++)
        for (int64_t i = 0; i < hw; i++)
            y[p * hw + i] = in[p * hw + i] + v[p];
}

static difu_status addc_grad(difu_autodiff *ad, const difu_node *n)
{
    char name[DIFU_NAME_LEN];
    int dy = difu_ad_grad(ad, n->dst[0]);
    if (difu_ad_needs(ad, n->src[0]))
        difu_ad_accumulate(ad, n->src[0], dy);
    if (difu_ad_needs(ad, n->src[1])) {
        int dv = difu_g_node(ad->g, DIFU_OP_CHANNEL_SUM, difu_ad_name(n, "dv", name, sizeof name),
                             &dy, 1, NULL, 0, NULL, 0);
        difu_ad_accumulate(ad, n->src[1], dv);
    }
    return difu_graph_status(ad->g);
}

static int none_missing(const difu_kernels *k) { return 0; }

const difu_op_def difu_op_add_channel = {"add_channel", 2, 1, addc_infer, addc_run, addc_grad,
                                         none_missing};

/* ---------------------------------------------------------------- dy [N,C,H,W] -> [N,C] */

static int csum_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg,
                      size_t len)
{
    if (difu_check_tensor(g, n->src[0], "dy", DIFU_F32, 4, msg, len))
        return 1;
    difu_tshape_set(&out[0], DIFU_F32, 2, g->tensors[n->src[0]].shape);
    return 0;
}

static void csum_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    const difu_gtensor *dt = difu_x_t(x, n->src[0]);
    int64_t hw = plane(dt), planes = dt->shape[0] * dt->shape[1], p0, p1;
    difu_split(planes, ith, nth, &p0, &p1);
    const float *dy = difu_x_f32(x, n->src[0]);
    float *dv = difu_x_f32(x, n->dst[0]);
    for (int64_t p = p0; p < p1; p++) {
        double s = 0;
        for (int64_t i = 0; i < hw; i++)
            s += dy[p * hw + i];
        dv[p] = (float)s;
    }
}

const difu_op_def difu_op_channel_sum = {"channel_sum", 1, 1, csum_infer, csum_run, NULL,
                                         none_missing};
