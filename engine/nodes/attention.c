/* attention.c: graph op single-head self-attention over the H*W positions, its backward op and
 * autodiff rule. qkv [N,3C,H,W] (channels q, k, v in that order) -> h [N,C,H,W], and the softmax
 * matrix a [N,HW,HW] (queries x keys) kept for the backward:
 *   s = q^T k (per image, [HW,HW]);  a = softmax over keys of s / sqrt(C);  h = v a^T.
 * Backward: dv = dh a;  da = dh^T v;  ds = softmax_bwd(a, da);  dq = k ds^T;  dk = q ds.
 * The products run on the engine's strided batched GEMM team kernel, the softmax on its range
 * kernel (rows split between threads). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "graph.h"

static difu_gemm_desc bgemm(int batch, int m, int n, int k, int ta, int tb, int64_t sa, int64_t sb,
                            int64_t sc, int hw)
{
    difu_gemm_desc d;
    memset(&d, 0, sizeof d);
    d.m = m;
    d.n = n;
    d.k = k;
    d.trans_a = ta;
    d.trans_b = tb;
    d.lda = d.ldb = d.ldc = hw; /* every operand here has rows of HW floats */
    d.batch = batch;
    d.stride_a = sa;
    d.stride_b = sb;
    d.stride_c = sc;
    d.alpha = 1.0f;
    d.beta = 0.0f;
    return d;
}

static void softmax_rows(const difu_exec *x, int64_t rows, int hw, float scale, const float *a,
                         const float *da, float *out, int ith, int nth)
{
    int64_t r0, r1;
    difu_split(rows, ith, nth, &r0, &r1);
    if (r1 <= r0)
        return;
    if (da)
        x->k->softmax_bwd(r1 - r0, hw, scale, a + r0 * hw, da + r0 * hw, out + r0 * hw);
    else
        x->k->softmax_fwd(r1 - r0, hw, scale, a + r0 * hw, out + r0 * hw);
}

static int attn_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg,
                      size_t len)
{
    if (difu_check_tensor(g, n->src[0], "qkv", DIFU_F32, 4, msg, len))
        return 1;
    const difu_gtensor *q = &g->tensors[n->src[0]];
    if (q->shape[1] % 3 != 0) {
        snprintf(msg, len, "qkv has %lld channels, not a multiple of 3", (long long)q->shape[1]);
        return 1;
    }
    int64_t shape[4] = {q->shape[0], q->shape[1] / 3, q->shape[2], q->shape[3]};
    int64_t hw = q->shape[2] * q->shape[3];
    int64_t am[3] = {q->shape[0], hw, hw};
    difu_tshape_set(&out[0], DIFU_F32, 4, shape);
    difu_tshape_set(&out[1], DIFU_F32, 3, am);
    return 0;
}

static void attn_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    const difu_gtensor *t = difu_x_t(x, n->src[0]);
    int batch = (int)t->shape[0], c = (int)t->shape[1] / 3, hw = (int)(t->shape[2] * t->shape[3]);
    int64_t simg = 3 * (int64_t)c * hw, smat = (int64_t)hw * hw;
    const float *qkv = difu_x_f32(x, n->src[0]);
    float *h = difu_x_f32(x, n->dst[0]), *a = difu_x_f32(x, n->dst[1]);
    difu_gemm_desc s = bgemm(batch, hw, hw, c, 1, 0, simg, simg, smat, hw);
    x->k->gemm(x->k, &s, qkv, qkv + (int64_t)c * hw, a, scratch, ith, nth);
#pragma omp barrier
    softmax_rows(x, (int64_t)batch * hw, hw, 1.0f / sqrtf((float)c), a, NULL, a, ith, nth);
#pragma omp barrier
    difu_gemm_desc o = bgemm(batch, c, hw, hw, 0, 1, simg, smat, (int64_t)c * hw, hw);
    x->k->gemm(x->k, &o, qkv + 2 * (int64_t)c * hw, a, h, scratch, ith, nth);
}

static difu_status attn_grad(difu_autodiff *ad, const difu_node *n)
{
    char name[DIFU_NAME_LEN];
    int src[3] = {n->src[0], n->dst[1], difu_ad_grad(ad, n->dst[0])};
    int dqkv = difu_g_node(ad->g, DIFU_OP_ATTENTION_BWD, difu_ad_name(n, "bwd", name, sizeof name),
                           src, 3, NULL, 0, NULL, 0);
    difu_ad_accumulate(ad, n->src[0], dqkv);
    return difu_graph_status(ad->g);
}

static int attn_missing(const difu_kernels *k) { return !k->gemm || !k->softmax_fwd; }

const difu_op_def difu_op_attention = {"attention", 1, 2, attn_infer, attn_run, attn_grad,
                                       attn_missing};

/* ---------------------------------------------------------------- backward: qkv, a, dh -> dqkv */

static int attn_bwd_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg,
                          size_t len)
{
    if (difu_check_tensor(g, n->src[0], "qkv", DIFU_F32, 4, msg, len) ||
        difu_check_tensor(g, n->src[1], "softmax matrix", DIFU_F32, 3, msg, len) ||
        difu_check_tensor(g, n->src[2], "dh", DIFU_F32, 4, msg, len))
        return 1;
    difu_tshape_like(&out[0], &g->tensors[n->src[0]]);
    difu_tshape_like(&out[1], &g->tensors[n->src[1]]); /* scratch: da, then ds in place */
    return 0;
}

static void attn_bwd_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    const difu_gtensor *t = difu_x_t(x, n->src[0]);
    int batch = (int)t->shape[0], c = (int)t->shape[1] / 3, hw = (int)(t->shape[2] * t->shape[3]);
    int64_t simg = 3 * (int64_t)c * hw, smat = (int64_t)hw * hw, sh = (int64_t)c * hw;
    const float *qkv = difu_x_f32(x, n->src[0]), *a = difu_x_f32(x, n->src[1]),
                *dh = difu_x_f32(x, n->src[2]);
    const float *q = qkv, *k = qkv + sh, *v = qkv + 2 * sh;
    float *dqkv = difu_x_f32(x, n->dst[0]), *da = difu_x_f32(x, n->dst[1]);
    /* dv = dh a  [C,HW] x [HW,HW];  da = dh^T v  [HW,C] x [C,HW] */
    difu_gemm_desc gdv = bgemm(batch, c, hw, hw, 0, 0, sh, smat, simg, hw);
    x->k->gemm(x->k, &gdv, dh, a, dqkv + 2 * sh, scratch, ith, nth);
    difu_gemm_desc gda = bgemm(batch, hw, hw, c, 1, 0, sh, simg, smat, hw);
    x->k->gemm(x->k, &gda, dh, v, da, scratch, ith, nth);
#pragma omp barrier
    softmax_rows(x, (int64_t)batch * hw, hw, 1.0f / sqrtf((float)c), a, da, da, ith, nth);
#pragma omp barrier
    /* dq = k ds^T;  dk = q ds */
    difu_gemm_desc gdq = bgemm(batch, c, hw, hw, 0, 1, simg, smat, simg, hw);
    x->k->gemm(x->k, &gdq, k, da, dqkv, scratch, ith, nth);
    difu_gemm_desc gdk = bgemm(batch, c, hw, hw, 0, 0, simg, smat, simg, hw);
    x->k->gemm(x->k, &gdk, q, da, dqkv + sh, scratch, ith, nth);
}

static int attn_bwd_missing(const difu_kernels *k) { return !k->gemm || !k->softmax_bwd; }

const difu_op_def difu_op_attention_bwd = {"attention_bwd", 3, 2, attn_bwd_infer, attn_bwd_run, NULL,
                                           attn_bwd_missing};
