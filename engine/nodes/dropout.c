/* dropout.c: graph op dropout (training only) and its backward op. x -> y = x * keep / (1 - p),
 * keep = u >= p with u uniform in (0, 1) from the engine's counter-based Philox words: element j
 * of the tensor uses word j of stream `site` (ip0) under the key (seed, step) read at run time
 * from the I64 [2] input `key`; u = ((word >> 8) + 0.5) / 2^24. The backward recomputes the same
 * mask from the same counters, so nothing is stored, and neither depends on the thread count.
 * fp0 = p in [0, 1). */
#include <stdio.h>

#include "graph.h"

#define CHUNK 1024

static int drop_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg,
                      size_t len)
{
    if (difu_check_tensor(g, n->src[0], "input", DIFU_F32, -1, msg, len) ||
        difu_check_tensor(g, n->src[1], "key", DIFU_I64, 1, msg, len))
        return 1;
    if (g->tensors[n->src[1]].shape[0] != 2 || !(n->fp[0] >= 0 && n->fp[0] < 1)) {
        snprintf(msg, len, "needs a key of 2 values and p in [0, 1), got p = %g", (double)n->fp[0]);
        return 1;
    }
    difu_tshape_like(&out[0], &g->tensors[n->src[0]]);
    return 0;
}

/* out[i] = in[i] * mask(i) * scale over thread ith's share. */
static void apply(const difu_exec *x, const difu_node *n, const float *in, float *out, int ith,
                  int nth)
{
    int64_t total = difu_gtensor_numel(difu_x_t(x, n->src[0])), b, e;
    difu_split16(total, ith, nth, &b, &e);
    const int64_t *key = (const int64_t *)x->ptr[n->src[1]];
    const float p = n->fp[0], scale = 1.0f / (1.0f - p);
    uint32_t bits[CHUNK];
    for (int64_t j0 = b; j0 < e; j0 += CHUNK) {
        int64_t len = e - j0 < CHUNK ? e - j0 : CHUNK;
        x->k->randn_bits((uint64_t)key[0], (uint64_t)key[1], (uint64_t)n->ip[0], j0, len, bits);
        for (int64_t j = 0; j < len; j++) {
            float u = ((float)(bits[j] >> 8) + 0.5f) * (1.0f / 16777216.0f);
            out[j0 + j] = u >= p ? in[j0 + j] * scale : 0.0f;
        }
    }
}

static void drop_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    apply(x, n, difu_x_f32(x, n->src[0]), difu_x_f32(x, n->dst[0]), ith, nth);
}

static difu_status drop_grad(difu_autodiff *ad, const difu_node *n)
{
    char name[DIFU_NAME_LEN];
    int src[2] = {difu_ad_grad(ad, n->dst[0]), n->src[1]};
    int dx = difu_g_node(ad->g, DIFU_OP_DROPOUT_BWD, difu_ad_name(n, "bwd", name, sizeof name), src,
                         2, n->ip, 1, n->fp, 1);
    difu_ad_accumulate(ad, n->src[0], dx);
    return difu_graph_status(ad->g);
}

static int drop_missing(const difu_kernels *k) { return !k->randn_bits; }

const difu_op_def difu_op_dropout = {"dropout", 2, 1, drop_infer, drop_run, drop_grad, drop_missing};

/* dy, key -> dx = dy * mask / (1 - p) */
const difu_op_def difu_op_dropout_bwd = {"dropout_bwd", 2, 1, drop_infer, drop_run, NULL,
                                         drop_missing};
