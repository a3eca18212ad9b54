/* register_norm_avx2.c: registers the AVX2 kernels of the norm family (GroupNorm forward and
 * backward, SiLU, softmax) in the dispatch table. */
#include "norm_avx2.h"

void difu_register_norm_avx2(difu_kernels *k)
{
    k->softmax_fwd = softmax_fwd_avx2;
    k->softmax_bwd = softmax_bwd_avx2;
    k->names[DIFU_SLOT_SOFTMAX] = "softmax_avx2";
    k->isas[DIFU_SLOT_SOFTMAX] = DIFU_ISA_AVX2;
    k->groupnorm_fwd = groupnorm_fwd_avx2;
    k->names[DIFU_SLOT_GROUPNORM_FWD] = "groupnorm_fwd_avx2";
    k->isas[DIFU_SLOT_GROUPNORM_FWD] = DIFU_ISA_AVX2;
    k->groupnorm_bwd = groupnorm_bwd_avx2;
    k->names[DIFU_SLOT_GROUPNORM_BWD] = "groupnorm_bwd_avx2";
    k->isas[DIFU_SLOT_GROUPNORM_BWD] = DIFU_ISA_AVX2;
    k->silu_fwd = silu_fwd_avx2;
    k->silu_bwd = silu_bwd_avx2;
    k->names[DIFU_SLOT_SILU] = "silu_avx2";
    k->isas[DIFU_SLOT_SILU] = DIFU_ISA_AVX2;
}
