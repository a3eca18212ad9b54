/* register_update_avx512.c: registers the AVX512 kernels of the update family (randn, q_sample,
 * sampler_step, adam_ema, sumsq). */
#include "update_avx512.h"

void difu_register_update_avx512(difu_kernels *k)
{
    k->randn = randn_avx512;
    k->randn_bits = randn_bits_avx512;
    k->names[DIFU_SLOT_RANDN] = "randn_avx512";
    k->isas[DIFU_SLOT_RANDN] = DIFU_ISA_AVX512;
    k->q_sample = q_sample_avx512;
    k->names[DIFU_SLOT_Q_SAMPLE] = "q_sample_avx512";
    k->isas[DIFU_SLOT_Q_SAMPLE] = DIFU_ISA_AVX512;
    k->sampler_step = sampler_step_avx512;
    k->names[DIFU_SLOT_SAMPLER_STEP] = "sampler_step_avx512";
    k->isas[DIFU_SLOT_SAMPLER_STEP] = DIFU_ISA_AVX512;
    k->adam_ema = adam_ema_avx512;
    k->names[DIFU_SLOT_ADAM_EMA] = "adam_ema_avx512";
    k->isas[DIFU_SLOT_ADAM_EMA] = DIFU_ISA_AVX512;
    k->sumsq = sumsq_avx512;
    k->names[DIFU_SLOT_SUMSQ] = "sumsq_avx512";
    k->isas[DIFU_SLOT_SUMSQ] = DIFU_ISA_AVX512;
}
