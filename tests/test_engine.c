/* test_engine.c: engine creation, bad parameters, ISA caps and what the dispatcher chose. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "difu.h"
#include "test_util.h"

Test(engine, zero_threads_is_refused_with_a_message)
{
    difu_engine_params p = difu_engine_params_default();
    p.threads = 0;
    difu_engine *e = (difu_engine *)1;
    char err[256] = "";
    cr_assert_eq(difu_engine_create(&p, &e, err, sizeof err), DIFU_ERR_INVALID_ARG);
    cr_assert_null(e);
    cr_assert(strstr(err, "thread count") && strstr(err, "0"), "message was: %s", err);
}

Test(engine, bad_isa_and_backend_are_refused)
{
    difu_engine_params p = difu_engine_params_default();
    p.max_isa = (difu_isa)42;
    difu_engine *e = NULL;
    char err[256] = "";
    cr_assert_eq(difu_engine_create(&p, &e, err, sizeof err), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(err, "max_isa 42"), "message was: %s", err);
    p = difu_engine_params_default();
    p.conv_backend = (difu_conv_backend)7;
    cr_assert_eq(difu_engine_create(&p, &e, err, sizeof err), DIFU_ERR_INVALID_ARG);
}

Test(engine, bad_difu_isa_env_is_refused)
{
    setenv("DIFU_ISA", "sse9", 1);
    difu_engine_params p = difu_engine_params_default();
    difu_engine *e = NULL;
    char err[256] = "";
    cr_assert_eq(difu_engine_create(&p, &e, err, sizeof err), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(err, "sse9"), "message was: %s", err);
    unsetenv("DIFU_ISA");
}

Test(engine, difu_isa_env_lowers_the_cap)
{
    setenv("DIFU_ISA", "ref", 1);
    difu_engine_params p = difu_engine_params_default();
    difu_engine *e = NULL;
    cr_assert_eq(difu_engine_create(&p, &e, NULL, 0), DIFU_OK);
    cr_assert_eq(difu_engine_isa(e), DIFU_ISA_REF);
    for (int s = 0; s < DIFU_SLOT_COUNT; s++)
        cr_assert_eq(difu_engine_kernel_isa(e, (difu_kernel_slot)s), DIFU_ISA_REF, "slot %s",
                     difu_kernel_slot_name((difu_kernel_slot)s));
    difu_engine_destroy(e);
    unsetenv("DIFU_ISA");
}

Test(engine, isa_names_round_trip)
{
    for (int i = 0; i < DIFU_ISA_COUNT; i++)
        cr_assert_eq(difu_isa_parse(difu_isa_name((difu_isa)i)), i);
    cr_assert_eq(difu_isa_parse("best"), DIFU_ISA_COUNT);
    cr_assert_eq(difu_isa_parse("mmx"), -1);
    cr_assert_eq(difu_isa_parse(NULL), -1);
}

/* The dispatcher must pick the native SIMD path on this CPU: a silent fallback to the scalar
 * kernels fails here. */
Test(engine, dispatcher_picks_the_native_simd_kernels)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    difu_cpu_features f = difu_engine_cpu(e);
#if defined(__x86_64__)
    cr_assert(f.avx2_fma, "this x86-64 test machine is expected to have AVX2+FMA");
    difu_isa want = f.avx512f ? DIFU_ISA_AVX512 : DIFU_ISA_AVX2;
#elif defined(__aarch64__)
    cr_assert(f.neon, "aarch64 always has ASIMD");
    difu_isa want = DIFU_ISA_NEON;
#else
    difu_isa want = DIFU_ISA_REF;
#endif
    cr_assert_eq(difu_engine_isa(e), want);
    for (int s = 0; s < DIFU_SLOT_COUNT; s++) {
        difu_isa got = difu_engine_kernel_isa(e, (difu_kernel_slot)s);
        cr_assert(got != DIFU_ISA_REF || want == DIFU_ISA_REF,
                  "slot %s fell back to the reference kernel (%s)",
                  difu_kernel_slot_name((difu_kernel_slot)s),
                  difu_engine_kernel_name(e, (difu_kernel_slot)s));
    }
    difu_engine_destroy(e);
}

Test(engine, two_engines_with_different_caps_coexist)
{
    difu_engine *fast = tu_engine(DIFU_ISA_COUNT, 2);
    difu_engine *slow = tu_engine(DIFU_ISA_REF, 1);
    cr_assert_eq(difu_engine_isa(slow), DIFU_ISA_REF);
    cr_assert_eq(difu_engine_threads(fast), 2);
    cr_assert_eq(difu_engine_threads(slow), 1);
    for (int s = 0; s < DIFU_SLOT_COUNT; s++)
        cr_assert_eq(difu_engine_kernel_isa(slow, (difu_kernel_slot)s), DIFU_ISA_REF);
    difu_engine_destroy(fast);
    difu_engine_destroy(slow);
}
