/* concat.c: graph op concat along channels (a [N,Ca,H,W], b [N,Cb,H,W] -> [N,Ca+Cb,H,W], a first:
 * the skip connections of the up path), its backward op concat_slice and autodiff rule. */
#include <stdio.h>
#include <string.h>

#include "graph.h"

static int concat_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg,
                        size_t len)
{
    if (difu_check_tensor(g, n->src[0], "a", DIFU_F32, 4, msg, len) ||
        difu_check_tensor(g, n->src[1], "b", DIFU_F32, 4, msg, len))
        return 1;
    const difu_gtensor *a = &g->tensors[n->src[0]], *b = &g->tensors[n->src[1]];
    if (a->shape[0] != b->shape[0] || a->shape[2] != b->shape[2] || a->shape[3] != b->shape[3]) {
        char sa[64], sb[64];
        snprintf(msg, len, "'%s' %s and '%s' %s differ outside the channels", a->name,
                 difu_shape_str(a, sa, sizeof sa), b->name, difu_shape_str(b, sb, sizeof sb));
        return 1;
    }
    int64_t shape[4] = {a->shape[0], a->shape[1] + b->shape[1], a->shape[2], a->shape[3]};
    difu_tshape_set(&out[0], DIFU_F32, 4, shape);
    return 0;
}

static void concat_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    const difu_gtensor *a = difu_x_t(x, n->src[0]), *b = difu_x_t(x, n->src[1]);
    int64_t hw = a->shape[2] * a->shape[3], ca = a->shape[1], cb = b->shape[1], c = ca + cb;
    int64_t planes = a->shape[0] * c, p0, p1;
    difu_split(planes, ith, nth, &p0, &p1);
    const float *pa = difu_x_f32(x, n->src[0]), *pb = difu_x_f32(x, n->src[1]);
    float *y = difu_x_f32(x, n->dst[0]);
    for (int64_t p = p0; p < p1; p++) {
        int64_t img = p / c, ch = p % c;
        const float *src = ch < ca ? pa + (img * ca + ch) * hw : pb + (img * cb + ch - ca) * hw;
        memcpy(y + p * hw, src, (size_t)hw * sizeof(float));
    }
}

static difu_status concat_grad(difu_autodiff *ad, const difu_node *n)
{
    char name[DIFU_NAME_LEN];
    int dy = difu_ad_grad(ad, n->dst[0]);
    int64_t ca = ad->g->tensors[n->src[0]].shape[1], cb = ad->g->tensors[n->src[1]].shape[1];
    if (difu_ad_needs(ad, n->src[0])) {
        int ip[2] = {0, (int)ca};
        int da = difu_g_node(ad->g, DIFU_OP_CONCAT_SLICE, difu_ad_name(n, "da", name, sizeof name),
                             &dy, 1, ip, 2, NULL, 0);
        difu_ad_accumulate(ad, n->src[0], da);
    }
    if (difu_ad_needs(ad, n->src[1])) {
        int ip[2] = {(int)ca, (int)cb};
        int db = difu_g_node(ad->g, DIFU_OP_CONCAT_SLICE, difu_ad_name(n, "db", name, sizeof name),
                             &dy, 1, ip, 2, NULL, 0);
        difu_ad_accumulate(ad, n->src[1], db);
    }
    return difu_graph_status(ad->g);
}

static int none_missing(const difu_kernels *k) { return 0; }

const difu_op_def difu_op_concat = {"concat", 2, 1, concat_infer, concat_run, concat_grad,
                                    none_missing};

/* ---------------------------------------------------------------- channels [ip0, ip0 + ip1) */

static int slice_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg,
                       size_t len)
{
    if (difu_check_tensor(g, n->src[0], "dy", DIFU_F32, 4, msg, len))
        return 1;
    const difu_gtensor *t = &g->tensors[n->src[0]];
    if (n->ip[0] < 0 || n->ip[1] <= 0 || n->ip[0] + n->ip[1] > t->shape[1]) {
        snprintf(msg, len, "channels [%d, %d) outside %lld", n->ip[0], n->ip[0] + n->ip[1],
                 (long long)t->shape[1]);
        return 1;
    }
    int64_t shape[4] = {t->shape[0], n->ip[1], t->shape[2], t->shape[3]};
    difu_tshape_set(&out[0], DIFU_F32, 4, shape);
    return 0;
}

static void slice_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    const difu_gtensor *t = difu_x_t(x, n->src[0]);
    int64_t hw = t->shape[2] * t->shape[3], c = t->shape[1], c0 = n->ip[0], cs = n->ip[1];
    int64_t planes = t->shape[0] * cs, p0, p1;
    difu_split(planes, ith, nth, &p0, &p1);
    const float *dy = difu_x_f32(x, n->src[0]);
    float *out = difu_x_f32(x, n->dst[0]);
    for (int64_t p = p0; p < p1; p++) {
        int64_t img = p / cs, ch = p % cs;
        memcpy(out + p * hw, dy + (img * c + c0 + ch) * hw, (size_t)hw * sizeof(float));
    }
}

const difu_op_def difu_op_concat_slice = {"concat_slice", 1, 1, slice_infer, slice_run, NULL,
                                          none_missing};
