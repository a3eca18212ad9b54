/* register_update_avx2.c: registers the AVX2 kernels of the update family (randn, q_sample,
 * sampler_step, adam_ema, sumsq). */
#include "update_avx2.h"

void difu_register_update_avx2(difu_kernels *k)
{
    k->randn = randn_avx2;
    k->randn_bits = randn_bits_avx2;
    k->names[DIFU_SLOT_RANDN] = "randn_avx2";
    k->isas[DIFU_SLOT_RANDN] = DIFU_ISA_AVX2;
    k->q_sample = q_sample_avx2;
    k->names[DIFU_SLOT_Q_SAMPLE] = "q_sample_avx2";
    k->isas[DIFU_SLOT_Q_SAMPLE] = DIFU_ISA_AVX2;
    k->sampler_step = sampler_step_avx2;
    k->names[DIFU_SLOT_SAMPLER_STEP] = "sampler_step_avx2";
    k->isas[DIFU_SLOT_SAMPLER_STEP] = DIFU_ISA_AVX2;
    k->adam_ema = adam_ema_avx2;
    k->names[DIFU_SLOT_ADAM_EMA] = "adam_ema_avx2";
    k->isas[DIFU_SLOT_ADAM_EMA] = DIFU_ISA_AVX2;
    k->sumsq = sumsq_avx2;
    k->names[DIFU_SLOT_SUMSQ] = "sumsq_avx2";
    k->isas[DIFU_SLOT_SUMSQ] = DIFU_ISA_AVX2;
}
