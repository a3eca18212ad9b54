/* mse_loss.c: graph op MSE loss (pred, target of the same shape -> [1] = mean of (pred-target)^2),
 * its backward op (dpred = 2 (pred - target) / numel * dloss) and autodiff rule. The sum is taken
 * per image (row of dim 0) in double, then over images in order, so it does not depend on the
 * thread count; dst[1] holds the per-image partial sums [N] (f64). */
#include <stdio.h>

#include "graph.h"

static int mse_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg, size_t len)
{
    if (difu_check_tensor(g, n->src[0], "prediction", DIFU_F32, -1, msg, len) ||
        difu_check_tensor(g, n->src[1], "target", DIFU_F32, -1, msg, len))
        return 1;
    const difu_gtensor *p = &g->tensors[n->src[0]], *t = &g->tensors[n->src[1]];
    if (difu_gtensor_numel(p) != difu_gtensor_numel(t) || p->ndim != t->ndim || p->ndim < 1 ||
        p->shape[0] != t->shape[0]) {
        char sp[64], st[64];
        snprintf(msg, len, "prediction %s and target %s differ", difu_shape_str(p, sp, sizeof sp),
                 difu_shape_str(t, st, sizeof st));
        return 1;
    }
    int64_t one = 1;
    difu_tshape_set(&out[0], DIFU_F32, 1, &one);
    difu_tshape_set(&out[1], DIFU_F64, 1, p->shape);
    return 0;
}

static void mse_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    const difu_gtensor *pt = difu_x_t(x, n->src[0]);
    int64_t rows = pt->shape[0], per = difu_gtensor_numel(pt) / rows, r0, r1;
    difu_split(rows, ith, nth, &r0, &r1);
    const float *p = difu_x_f32(x, n->src[0]), *t = difu_x_f32(x, n->src[1]);
    double *partial = (double *)x->ptr[n->dst[1]];
    for (int64_t r = r0; r < r1; r++) {
        double s = 0;
        for (int64_t i = r * per; i < (r + 1) * per; i++) {
            double d = (double)p[i] - (double)t[i];
            s += d * d;
        }
        partial[r] = s;
    }
#pragma omp barrier
    if (ith == 0) {
        double s = 0;
        for (int64_t r = 0; r < rows; r++)
            s += partial[r];
        difu_x_f32(x, n->dst[0])[0] = (float)(s / (double)(rows * per));
    }
}

static difu_status mse_grad(difu_autodiff *ad, const difu_node *n)
{
    char name[DIFU_NAME_LEN];
    if (!difu_ad_needs(ad, n->src[0]))
        return DIFU_OK;
    int dl = difu_ad_grad(ad, n->dst[0]);
    int src[3] = {n->src[0], n->src[1], dl == DIFU_GRAD_ONE ? -1 : dl};
    int dp = difu_g_node(ad->g, DIFU_OP_MSE_LOSS_BWD, difu_ad_name(n, "bwd", name, sizeof name), src,
                         3, NULL, 0, NULL, 0);
    difu_ad_accumulate(ad, n->src[0], dp);
    return difu_graph_status(ad->g);
}

static int none_missing(const difu_kernels *k) { return 0; }

const difu_op_def difu_op_mse_loss = {"mse_loss", 2, 2, mse_infer, mse_run, mse_grad, none_missing};

static int mse_bwd_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg,
                         size_t len)
{
    if (difu_check_tensor(g, n->src[0], "prediction", DIFU_F32, -1, msg, len) ||
        difu_check_tensor(g, n->src[1], "target", DIFU_F32, -1, msg, len))
        return 1;
    difu_tshape_like(&out[0], &g->tensors[n->src[0]]);
    return 0;
}

static void mse_bwd_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    int64_t total = difu_gtensor_numel(difu_x_t(x, n->src[0])), b, e;
    difu_split16(total, ith, nth, &b, &e);
    float scale = (float)(2.0 / (double)total);
    if (n->src[2] >= 0)
        scale *= difu_x_f32(x, n->src[2])[0];
    const float *p = difu_x_f32(x, n->src[0]), *t = difu_x_f32(x, n->src[1]);
    float *dp = difu_x_f32(x, n->dst[0]);
    for (int64_t i = b; i < e; i++)
        dp[i] = scale * (p[i] - t[i]);
}

const difu_op_def difu_op_mse_loss_bwd = {"mse_loss_bwd", 3, 1, mse_bwd_infer, mse_bwd_run, NULL,
                                          none_missing};
