/* register_norm_avx512.c: registers the AVX-512 kernels of the norm family (GroupNorm forward and
 * backward, SiLU, softmax) in the dispatch table. */
#include "norm_avx512.h"

void difu_register_norm_avx512(difu_kernels *k)
{
    k->softmax_fwd = softmax_fwd_avx512;
    k->softmax_bwd = softmax_bwd_avx512;
    k->names[DIFU_SLOT_SOFTMAX] = "softmax_avx512";
    k->isas[DIFU_SLOT_SOFTMAX] = DIFU_ISA_AVX512;
    k->groupnorm_fwd = groupnorm_fwd_avx512;
    k->names[DIFU_SLOT_GROUPNORM_FWD] = "groupnorm_fwd_avx512";
    k->isas[DIFU_SLOT_GROUPNORM_FWD] = DIFU_ISA_AVX512;
    k->groupnorm_bwd = groupnorm_bwd_avx512;
    k->names[DIFU_SLOT_GROUPNORM_BWD] = "groupnorm_bwd_avx512";
    k->isas[DIFU_SLOT_GROUPNORM_BWD] = DIFU_ISA_AVX512;
    k->silu_fwd = silu_fwd_avx512;
    k->silu_bwd = silu_bwd_avx512;
    k->names[DIFU_SLOT_SILU] = "silu_avx512";
    k->isas[DIFU_SLOT_SILU] = DIFU_ISA_AVX512;
}
