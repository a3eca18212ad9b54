/* register_update_ref.c: registers the reference kernels of the update family (randn, q_sample,
 * sampler_step, adam_ema, sumsq) in every slot of the family. */
#include "update_ref.h"

void difu_register_update_ref(difu_kernels *k)
{
    k->randn = randn_ref;
    k->randn_bits = randn_bits_ref;
    k->names[DIFU_SLOT_RANDN] = "randn_ref";
    k->isas[DIFU_SLOT_RANDN] = DIFU_ISA_REF;
    k->q_sample = q_sample_ref;
    k->names[DIFU_SLOT_Q_SAMPLE] = "q_sample_ref";
    k->isas[DIFU_SLOT_Q_SAMPLE] = DIFU_ISA_REF;
    k->sampler_step = sampler_step_ref;
    k->names[DIFU_SLOT_SAMPLER_STEP] = "sampler_step_ref";
    k->isas[DIFU_SLOT_SAMPLER_STEP] = DIFU_ISA_REF;
    k->adam_ema = adam_ema_ref;
    k->names[DIFU_SLOT_ADAM_EMA] = "adam_ema_ref";
    k->isas[DIFU_SLOT_ADAM_EMA] = DIFU_ISA_REF;
    k->sumsq = sumsq_ref;
    k->names[DIFU_SLOT_SUMSQ] = "sumsq_ref";
    k->isas[DIFU_SLOT_SUMSQ] = DIFU_ISA_REF;
}
