/* embedding.c: graph op embedding lookup (table [R,D], labels I64 [N] -> [N,D], row labels[i]),
 * its backward op (dtable[r] = sum of dy over the images labelled r, in image order) and rule.
 * Labels must be in [0, R): the caller validates them before a run. */
#include <stdio.h>

#include "graph.h"

static int emb_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg, size_t len)
{
    if (difu_check_tensor(g, n->src[0], "table", DIFU_F32, 2, msg, len) ||
        difu_check_tensor(g, n->src[1], "labels", DIFU_I64, 1, msg, len))
        return 1;
    int64_t shape[2] = {g->tensors[n->src[1]].shape[0], g->tensors[n->src[0]].shape[1]};
    difu_tshape_set(&out[0], DIFU_F32, 2, shape);
    return 0;
}

static void emb_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    const difu_gtensor *tt = difu_x_t(x, n->src[0]);
    int64_t d = tt->shape[1], rows = difu_x_t(x, n->src[1])->shape[0], r0, r1;
    difu_split(rows, ith, nth, &r0, &r1);
    const float *table = difu_x_f32(x, n->src[0]);
    const int64_t *labels = (const int64_t *)x->ptr[n->src[1]];
    float *y = difu_x_f32(x, n->dst[0]);
    for (int64_t i = r0; i < r1; i++)
        for (int64_t j = 0; j < d; j++)
            y[i * d + j] = table[labels[i] * d + j];
}

static difu_status emb_grad(difu_autodiff *ad, const difu_node *n)
{
    char name[DIFU_NAME_LEN];
    if (!difu_ad_needs(ad, n->src[0]))
        return DIFU_OK;
    int src[2] = {n->src[1], difu_ad_grad(ad, n->dst[0])};
    int ip[1] = {(int)ad->g->tensors[n->src[0]].shape[0]};
    int dt = difu_g_node(ad->g, DIFU_OP_EMBEDDING_BWD, difu_ad_name(n, "bwd", name, sizeof name), src,
                         2, ip, 1, NULL, 0);
    difu_ad_accumulate(ad, n->src[0], dt);
    return difu_graph_status(ad->g);
}

static int none_missing(const difu_kernels *k) { return 0; }

const difu_op_def difu_op_embedding = {"embedding", 2, 1, emb_infer, emb_run, emb_grad, none_missing};

static int emb_bwd_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg,
                         size_t len)
{
    if (difu_check_tensor(g, n->src[0], "labels", DIFU_I64, 1, msg, len) ||
        difu_check_tensor(g, n->src[1], "dy", DIFU_F32, 2, msg, len))
        return 1;
    int64_t shape[2] = {n->ip[0], g->tensors[n->src[1]].shape[1]};
    difu_tshape_set(&out[0], DIFU_F32, 2, shape);
    return 0;
}

/* Each thread owns a range of columns, so every sum runs in image order whatever nth is. */
static void emb_bwd_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    const difu_gtensor *dt = difu_x_t(x, n->src[1]);
    int64_t rows = dt->shape[0], d = dt->shape[1], r = n->ip[0], c0, c1;
    difu_split(d, ith, nth, &c0, &c1);
    const int64_t *labels = (const int64_t *)x->ptr[n->src[0]];
    const float *dy = difu_x_f32(x, n->src[1]);
    float *dtable = difu_x_f32(x, n->dst[0]);
    for (int64_t k = 0; k < r; k++)
        for (int64_t j = c0; j < c1; j++)
            dtable[k * d + j] = 0.0f;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = c0; j < c1; j++)
            dtable[labels[i] * d + j] += dy[i * d + j];
}

const difu_op_def difu_op_embedding_bwd = {"embedding_bwd", 2, 1, emb_bwd_infer, emb_bwd_run, NULL,
                                           none_missing};
