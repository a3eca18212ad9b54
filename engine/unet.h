/* unet.h: the U-Net of shared/MODEL.md expressed as a graph (internal). */
#ifndef DIFU_UNET_H
#define DIFU_UNET_H

#include "graph.h"

/* The graph's inputs and outputs. */
typedef struct difu_unet_io {
    int x;      /* input F32 [N, in_ch, S, S], slot 0 */
    int t;      /* input I64 [N], slot 1 */
    int y;      /* input I64 [N], slot 2; -1 when unconditional */
    int eps;    /* output F32 [N, in_ch, S, S] (kept) */
    int target; /* training: input F32 like eps, the next slot; else -1 */
    int loss;   /* training: F32 [1] (kept); else -1 */
    int key;    /* training with dropout: input I64 [2] (seed, step) of the dropout masks; else -1 */
} difu_unet_io;

/* Builds the U-Net for a batch of n into the empty graph g; with train, adds the MSE loss against
 * a target input and the backward pass (autodiff). Parameters are created in checkpoint order.
 * Returns g's status (the message names the node on failure). */
difu_status difu_unet_build(difu_graph *g, const difu_model_config *c, int n, int train,
                            difu_unet_io *io);

typedef enum difu_init_kind {
    DIFU_INIT_UNIFORM = 0, /* U(-bound, bound) */
    DIFU_INIT_NORMAL,      /* N(0, 1) */
    DIFU_INIT_ZERO,
    DIFU_INIT_ONE,
    DIFU_INIT_KIND_COUNT
} difu_init_kind;

/* How parameter `p` of a U-Net graph is initialised (MODEL.md): kaiming-uniform a=sqrt(5) for
 * conv / linear weights and their biases (bound 1/sqrt(fan_in)), N(0,1) for class_emb, GroupNorm
 * gamma 1 beta 0, zero for conv2 of every ResBlock, proj of every AttnBlock and conv_out. */
difu_init_kind difu_unet_init_rule(const difu_graph *g, int p, float *bound);

#endif /* DIFU_UNET_H */
