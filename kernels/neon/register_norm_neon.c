/* register_norm_neon.c: registers the NEON kernels of the norm family (GroupNorm forward and
 * backward, SiLU, softmax) in the dispatch table. */
#include "norm_neon.h"

void difu_register_norm_neon(difu_kernels *k)
{
    k->softmax_fwd = softmax_fwd_neon;
    k->softmax_bwd = softmax_bwd_neon;
    k->names[DIFU_SLOT_SOFTMAX] = "softmax_neon";
    k->isas[DIFU_SLOT_SOFTMAX] = DIFU_ISA_NEON;
    k->groupnorm_fwd = groupnorm_fwd_neon;
    k->names[DIFU_SLOT_GROUPNORM_FWD] = "groupnorm_fwd_neon";
    k->isas[DIFU_SLOT_GROUPNORM_FWD] = DIFU_ISA_NEON;
    k->groupnorm_bwd = groupnorm_bwd_neon;
    k->names[DIFU_SLOT_GROUPNORM_BWD] = "groupnorm_bwd_neon";
    k->isas[DIFU_SLOT_GROUPNORM_BWD] = DIFU_ISA_NEON;
    k->silu_fwd = silu_fwd_neon;
    k->silu_bwd = silu_bwd_neon;
    k->names[DIFU_SLOT_SILU] = "silu_neon";
    k->isas[DIFU_SLOT_SILU] = DIFU_ISA_NEON;
}
