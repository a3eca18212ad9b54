/* cpu.c: CPU feature detection (the only code that asks the CPU what it can do). */
#include <string.h>

#include "difu.h"

#if defined(__x86_64__)
#include <cpuid.h>

static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

difu_cpu_features difu_cpu_detect(void)
{
    difu_cpu_features f = {0};
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return f;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx)
        return f;
    uint64_t xcr0 = read_xcr0();
    int ymm_saved = (xcr0 & 0x6) == 0x6;            /* SSE and AVX state */
    int zmm_saved = ymm_saved && (xcr0 & 0xe0) == 0xe0; /* opmask, ZMM_Hi256, Hi16_ZMM */
    if (__get_cpuid_max(0, NULL) < 7)
        return f;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1;
    f.avx2_fma = avx2 && fma && ymm_saved;
    f.avx512f = f.avx2_fma && avx512f && zmm_saved;
    return f;
}
#elif defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>

difu_cpu_features difu_cpu_detect(void)
{
    difu_cpu_features f = {0};
    f.neon = (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0;
    return f;
}
#else
difu_cpu_features difu_cpu_detect(void)
{
    difu_cpu_features f;
    memset(&f, 0, sizeof f);
    return f;
}
#endif

difu_isa difu_cpu_best_isa(const difu_cpu_features *f)
{
#if defined(__x86_64__)
    if (f->avx512f)
        return DIFU_ISA_AVX512;
    if (f->avx2_fma)
        return DIFU_ISA_AVX2;
#elif defined(__aarch64__)
    if (f->neon)
        return DIFU_ISA_NEON;
#endif
    (void)f;
    return DIFU_ISA_REF;
}

const char *difu_isa_name(difu_isa isa)
{
    static const char *const names[DIFU_ISA_COUNT] = {"ref", "avx2", "avx512", "neon"};
    return (isa >= 0 && isa < DIFU_ISA_COUNT) ? names[isa] : "best";
}

int difu_isa_parse(const char *text)
{
    if (!text)
        return -1;
    if (strcmp(text, "best") == 0)
        return DIFU_ISA_COUNT;
    for (int i = 0; i < DIFU_ISA_COUNT; i++)
        if (strcmp(text, difu_isa_name((difu_isa)i)) == 0)
            return i;
    return -1;
}
