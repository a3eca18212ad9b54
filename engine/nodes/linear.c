/* linear.c: graph op linear (y = x w^T + b; x [N,in], w [out,in] (PyTorch), b [out] or absent
 * -> y [N,out]), its backward ops (data; weights and bias) and autodiff rule. The products run on
 * the engine's GEMM team kernel. */
#include <stdio.h>
#include <string.h>

#include "graph.h"

static difu_gemm_desc gemm_desc(int m, int n, int k, int ta, int tb, int lda, int ldb, int ldc)
{
    difu_gemm_desc d;
    memset(&d, 0, sizeof d);
    d.m = m;
    d.n = n;
    d.k = k;
    d.trans_a = ta;
    d.trans_b = tb;
    d.lda = lda;
    d.ldb = ldb;
    d.ldc = ldc;
    d.batch = 1;
    d.alpha = 1.0f;
    d.beta = 0.0f;
    return d;
}

static int linear_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg,
                        size_t len)
{
    if (difu_check_tensor(g, n->src[0], "input", DIFU_F32, 2, msg, len) ||
        difu_check_tensor(g, n->src[1], "weight", DIFU_F32, 2, msg, len))
        return 1;
    const difu_gtensor *x = &g->tensors[n->src[0]], *w = &g->tensors[n->src[1]];
    if (x->shape[1] != w->shape[1]) {
        snprintf(msg, len, "input has %lld features, weight expects %lld", (long long)x->shape[1],
                 (long long)w->shape[1]);
        return 1;
    }
    if (n->src[2] >= 0) {
        if (difu_check_tensor(g, n->src[2], "bias", DIFU_F32, 1, msg, len))
            return 1;
        if (g->tensors[n->src[2]].shape[0] != w->shape[0]) {
            snprintf(msg, len, "bias has %lld values, weight has %lld outputs",
                     (long long)g->tensors[n->src[2]].shape[0], (long long)w->shape[0]);
            return 1;
        }
    }
    int64_t shape[2] = {x->shape[0], w->shape[0]};
    difu_tshape_set(&out[0], DIFU_F32, 2, shape);
    return 0;
}

static void linear_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    const difu_gtensor *xt = difu_x_t(x, n->src[0]), *wt = difu_x_t(x, n->src[1]);
    int rows = (int)xt->shape[0], in = (int)xt->shape[1], outs = (int)wt->shape[0];
    difu_gemm_desc d = gemm_desc(rows, outs, in, 0, 1, in, in, outs);
    float *y = difu_x_f32(x, n->dst[0]);
    x->k->gemm(x->k, &d, difu_x_f32(x, n->src[0]), difu_x_f32(x, n->src[1]), y, scratch, ith, nth);
    if (n->src[2] < 0)
        return;
#pragma omp barrier
    const float *b = difu_x_f32(x, n->src[2]);
    int64_t r0, r1;
    difu_split(rows, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++)
        for (int o = 0; o < outs; o++)
            y[r * outs + o] += b[o];
}

static difu_status linear_grad(difu_autodiff *ad, const difu_node *n)
{
    char name[DIFU_NAME_LEN];
    int dy = difu_ad_grad(ad, n->dst[0]);
    if (difu_ad_needs(ad, n->src[0])) {
        int src[2] = {dy, n->src[1]};
        int dx = difu_g_node(ad->g, DIFU_OP_LINEAR_BWD_DATA, difu_ad_name(n, "dx", name, sizeof name),
                             src, 2, NULL, 0, NULL, 0);
        difu_ad_accumulate(ad, n->src[0], dx);
    }
    int has_bias = n->src[2] >= 0;
    if (difu_ad_needs(ad, n->src[1]) || (has_bias && difu_ad_needs(ad, n->src[2]))) {
        int src[2] = {n->src[0], dy}, ip[1] = {has_bias};
        int dw = difu_g_node(ad->g, DIFU_OP_LINEAR_BWD_WEIGHTS,
                             difu_ad_name(n, "dw", name, sizeof name), src, 2, ip, 1, NULL, 0);
        if (dw >= 0) {
            difu_ad_accumulate(ad, n->src[1], dw);
            if (has_bias)
                difu_ad_accumulate(ad, n->src[2], ad->g->nodes[ad->g->n_nodes - 1].dst[1]);
        }
    }
    return difu_graph_status(ad->g);
}

static int linear_missing(const difu_kernels *k) { return !k->gemm; }

const difu_op_def difu_op_linear = {"linear", 3, 1, linear_infer, linear_run, linear_grad,
                                    linear_missing};

/* ---------------------------------------------------------------- dx = dy w: [N,out] [out,in] */

static int bwd_data_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg,
                          size_t len)
{
    if (difu_check_tensor(g, n->src[0], "dy", DIFU_F32, 2, msg, len) ||
        difu_check_tensor(g, n->src[1], "weight", DIFU_F32, 2, msg, len))
        return 1;
    int64_t shape[2] = {g->tensors[n->src[0]].shape[0], g->tensors[n->src[1]].shape[1]};
    difu_tshape_set(&out[0], DIFU_F32, 2, shape);
    return 0;
}

static void bwd_data_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    const difu_gtensor *wt = difu_x_t(x, n->src[1]);
    int rows = (int)difu_x_t(x, n->src[0])->shape[0], outs = (int)wt->shape[0],
        in = (int)wt->shape[1];
    difu_gemm_desc d = gemm_desc(rows, in, outs, 0, 0, outs, in, in);
    x->k->gemm(x->k, &d, difu_x_f32(x, n->src[0]), difu_x_f32(x, n->src[1]),
               difu_x_f32(x, n->dst[0]), scratch, ith, nth);
}

const difu_op_def difu_op_linear_bwd_data = {"linear_bwd_data", 2, 1, bwd_data_infer, bwd_data_run,
                                             NULL, linear_missing};

/* ---------------------------------------------------------------- dw = dy^T x, db = sum_n dy */

static int bwd_weights_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg,
                             size_t len)
{
    if (difu_check_tensor(g, n->src[0], "input", DIFU_F32, 2, msg, len) ||
        difu_check_tensor(g, n->src[1], "dy", DIFU_F32, 2, msg, len))
        return 1;
    int64_t shape[2] = {g->tensors[n->src[1]].shape[1], g->tensors[n->src[0]].shape[1]};
    difu_tshape_set(&out[0], DIFU_F32, 2, shape);
    difu_tshape_set(&out[1], DIFU_F32, 1, shape);
    return 0;
}

static void bwd_weights_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    const difu_gtensor *xt = difu_x_t(x, n->src[0]);
    int rows = (int)xt->shape[0], in = (int)xt->shape[1],
        outs = (int)difu_x_t(x, n->src[1])->shape[1];
    const float *dy = difu_x_f32(x, n->src[1]);
    difu_gemm_desc d = gemm_desc(outs, in, rows, 1, 0, outs, in, in);
    x->k->gemm(x->k, &d, dy, difu_x_f32(x, n->src[0]), difu_x_f32(x, n->dst[0]), scratch, ith, nth);
    if (!n->ip[0])
        return;
    float *db = difu_x_f32(x, n->dst[1]);
    int64_t o0, o1;
    difu_split(outs, ith, nth, &o0, &o1);
    for (int64_t o = o0; o < o1; o++) {
        double s = 0;
        for (int r = 0; r < rows; r++)
            s += dy[(int64_t)r * outs + o];
        db[o] = (float)s;
    }
}

const difu_op_def difu_op_linear_bwd_weights = {"linear_bwd_weights", 2, 2, bwd_weights_infer,
                                                bwd_weights_run, NULL, linear_missing};
