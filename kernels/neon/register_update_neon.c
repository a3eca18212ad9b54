/* register_update_neon.c: registers the NEON kernels of the update family (randn, q_sample,
 * sampler_step, adam_ema, sumsq). */
#include "update_neon.h"

void difu_register_update_neon(difu_kernels *k)
{
    k->randn = randn_neon;
    k->randn_bits = randn_bits_neon;
    k->names[DIFU_SLOT_RANDN] = "randn_neon";
    k->isas[DIFU_SLOT_RANDN] = DIFU_ISA_NEON;
    k->q_sample = q_sample_neon;
    k->names[DIFU_SLOT_Q_SAMPLE] = "q_sample_neon";
    k->isas[DIFU_SLOT_Q_SAMPLE] = DIFU_ISA_NEON;
    k->sampler_step = sampler_step_neon;
    k->names[DIFU_SLOT_SAMPLER_STEP] = "sampler_step_neon";
    k->isas[DIFU_SLOT_SAMPLER_STEP] = DIFU_ISA_NEON;
    k->adam_ema = adam_ema_neon;
    k->names[DIFU_SLOT_ADAM_EMA] = "adam_ema_neon";
    k->isas[DIFU_SLOT_ADAM_EMA] = DIFU_ISA_NEON;
    k->sumsq = sumsq_neon;
    k->names[DIFU_SLOT_SUMSQ] = "sumsq_neon";
    k->isas[DIFU_SLOT_SUMSQ] = DIFU_ISA_NEON;
}
