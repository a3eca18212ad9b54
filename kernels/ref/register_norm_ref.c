/* register_norm_ref.c: registers the reference kernels of the norm family (GroupNorm forward and
 * backward, SiLU, softmax) in every slot of the family. */
#include "norm_ref.h"

void difu_register_norm_ref(difu_kernels *k)
{
    k->softmax_fwd = softmax_fwd_ref;
    k->softmax_bwd = softmax_bwd_ref;
    k->names[DIFU_SLOT_SOFTMAX] = "softmax_ref";
    k->isas[DIFU_SLOT_SOFTMAX] = DIFU_ISA_REF;
    k->groupnorm_fwd = groupnorm_fwd_ref;
    k->names[DIFU_SLOT_GROUPNORM_FWD] = "groupnorm_fwd_ref";
    k->isas[DIFU_SLOT_GROUPNORM_FWD] = DIFU_ISA_REF;
    k->groupnorm_bwd = groupnorm_bwd_ref;
    k->names[DIFU_SLOT_GROUPNORM_BWD] = "groupnorm_bwd_ref";
    k->isas[DIFU_SLOT_GROUPNORM_BWD] = DIFU_ISA_REF;
    k->silu_fwd = silu_fwd_ref;
    k->silu_bwd = silu_bwd_ref;
    k->names[DIFU_SLOT_SILU] = "silu_ref";
    k->isas[DIFU_SLOT_SILU] = DIFU_ISA_REF;
}
