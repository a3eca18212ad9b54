/* upsample2x.c: graph op nearest-neighbour upsampling by 2 ([N,C,H,W] -> [N,C,2H,2W]), its
 * backward op (each input pixel receives the sum of its 2x2 block) and autodiff rule. */
#include "graph.h"

static int up_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg, size_t len)
{
    if (difu_check_tensor(g, n->src[0], "input", DIFU_F32, 4, msg, len))
        return 1;
    const difu_gtensor *x = &g->tensors[n->src[0]];
    int64_t shape[4] = {x->shape[0], x->shape[1], 2 * x->shape[2], 2 * x->shape[3]};
    difu_tshape_set(&out[0], DIFU_F32, 4, shape);
    return 0;
}

static void up_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    const difu_gtensor *t = difu_x_t(x, n->src[0]);
    int64_t h = t->shape[2], w = t->shape[3], planes = t->shape[0] * t->shape[1], p0, p1;
    difu_split(planes, ith, nth, &p0, &p1);
    const float *in = difu_x_f32(x, n->src[0]);
    float *y = difu_x_f32(x, n->dst[0]);
    for (int64_t p = p0; p < p1; p++) {
        const float *src = in + p * h * w;
        float *dst = y + p * 4 * h * w;
        for (int64_t i = 0; i < 2 * h; i++)
            for (int64_t j = 0; j < 2 * w; j++)
                dst[i * 2 * w + j] = src[(i / 2) * w + j / 2];
    }
}

static difu_status up_grad(difu_autodiff *ad, const difu_node *n)
{
    char name[DIFU_NAME_LEN];
    int dy = difu_ad_grad(ad, n->dst[0]);
    int dx = difu_g_node(ad->g, DIFU_OP_UPSAMPLE2X_BWD, difu_ad_name(n, "bwd", name, sizeof name),
                         &dy, 1, NULL, 0, NULL, 0);
    difu_ad_accumulate(ad, n->src[0], dx);
    return difu_graph_status(ad->g);
}

static int none_missing(const difu_kernels *k) { return 0; }

const difu_op_def difu_op_upsample2x = {"upsample2x", 1, 1, up_infer, up_run, up_grad, none_missing};

static int up_bwd_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg,
                        size_t len)
{
    if (difu_check_tensor(g, n->src[0], "dy", DIFU_F32, 4, msg, len))
        return 1;
    const difu_gtensor *d = &g->tensors[n->src[0]];
    int64_t shape[4] = {d->shape[0], d->shape[1], d->shape[2] / 2, d->shape[3] / 2};
    difu_tshape_set(&out[0], DIFU_F32, 4, shape);
    return 0;
}

static void up_bwd_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    const difu_gtensor *t = difu_x_t(x, n->dst[0]);
    int64_t h = t->shape[2], w = t->shape[3], planes = t->shape[0] * t->shape[1], p0, p1;
    difu_split(planes, ith, nth, &p0, &p1);
    const float *dy = difu_x_f32(x, n->src[0]);
    float *dx = difu_x_f32(x, n->dst[0]);
    for (int64_t p = p0; p < p1; p++) {
        const float *src = dy + p * 4 * h * w;
        float *dst = dx + p * h * w;
        for (int64_t i = 0; i < h; i++)
            for (int64_t j = 0; j < w; j++) {
                const float *s = src + 2 * i * 2 * w + 2 * j;
                dst[i * w + j] = (s[0] + s[1]) + (s[2 * w] + s[2 * w + 1]);
            }
    }
}

const difu_op_def difu_op_upsample2x_bwd = {"upsample2x_bwd", 1, 1, up_bwd_infer, up_bwd_run, NULL,
                                            none_missing};
