/* dispatch.c: fills an engine's kernel table, the one place that chooses between ISAs.
 * Every slot starts at the reference kernel; each ISA the CPU and the cap allow then overwrites
 * the slots it implements, from the lowest ISA to the highest. */
#include <string.h>

#include "engine_internal.h"

static int allowed(difu_isa isa, difu_isa best, difu_isa cap)
{
    if (isa > best || isa > cap)
        return 0;
#if defined(__x86_64__)
    return isa == DIFU_ISA_AVX2 || isa == DIFU_ISA_AVX512;
#elif defined(__aarch64__)
    return isa == DIFU_ISA_NEON;
#else
    return 0;
#endif
}

void difu_dispatch_fill(difu_kernels *k, const difu_cpu_features *cpu, difu_isa cap)
{
    memset(k, 0, sizeof *k);
    difu_register_gemm_conv_ref(k);
    difu_register_norm_ref(k);
    difu_register_update_ref(k);
    difu_isa best = difu_cpu_best_isa(cpu);
#if defined(__x86_64__)
    if (allowed(DIFU_ISA_AVX2, best, cap)) {
        difu_register_gemm_conv_avx2(k);
        difu_register_norm_avx2(k);
        difu_register_update_avx2(k);
    }
    if (allowed(DIFU_ISA_AVX512, best, cap)) {
        difu_register_gemm_conv_avx512(k);
        difu_register_norm_avx512(k);
        difu_register_update_avx512(k);
    }
#elif defined(__aarch64__)
    if (allowed(DIFU_ISA_NEON, best, cap)) {
        difu_register_gemm_conv_neon(k);
        difu_register_norm_neon(k);
        difu_register_update_neon(k);
    }
#else
    (void)best;
    (void)allowed;
#endif
}

const char *difu_kernel_slot_name(difu_kernel_slot s)
{
    static const char *const names[DIFU_SLOT_COUNT] = {
        "gemm",          "conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_weights", "softmax",
        "groupnorm_fwd", "groupnorm_bwd", "silu",         "randn",              "q_sample",
        "sampler_step",  "adam_ema",   "sumsq",
    };
    return (s >= 0 && s < DIFU_SLOT_COUNT) ? names[s] : "unknown slot";
}
