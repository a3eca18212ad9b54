/* engine.c: the engine object: creation from params (threads, ISA cap, conv backend), the
 * kernel table it owns, its per-thread scratch, and the thread-team runners the ops use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>
#include <xxhash.h>

#include "engine_internal.h"
#include "conv_choice.h"
#include "onednn_conv.h"

#define DIFU_VERSION_STRING "0.1.0"

difu_engine_params difu_engine_params_default(void)
{
    difu_engine_params p;
    memset(&p, 0, sizeof p);
    p.threads = omp_get_max_threads();
    p.max_isa = DIFU_ISA_COUNT;
    p.conv_backend = DIFU_CONV_NATIVE;
    p.honor_env = 1;
    return p;
}

static difu_status create_fail(char *err, size_t errlen, difu_status s, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
    return s;
}

difu_status difu_engine_create(const difu_engine_params *params, difu_engine **out, char *err,
                               size_t errlen)
{
    char msg[DIFU_ERROR_LEN];
    if (out)
        *out = NULL;
    if (!params || !out)
        return create_fail(err, errlen, DIFU_ERR_INVALID_ARG, "engine: params and out are required");
    if (params->threads <= 0) {
        snprintf(msg, sizeof msg, "engine: thread count must be at least 1, got %d", params->threads);
        return create_fail(err, errlen, DIFU_ERR_INVALID_ARG, msg);
    }
    if (params->threads > 4096) {
        snprintf(msg, sizeof msg, "engine: thread count %d is beyond 4096", params->threads);
        return create_fail(err, errlen, DIFU_ERR_INVALID_ARG, msg);
    }
    if (params->max_isa < 0 || params->max_isa > DIFU_ISA_COUNT) {
        snprintf(msg, sizeof msg, "engine: max_isa %d is not a difu_isa", (int)params->max_isa);
        return create_fail(err, errlen, DIFU_ERR_INVALID_ARG, msg);
    }
    if (params->conv_backend < 0 || params->conv_backend >= DIFU_CONV_BACKEND_COUNT) {
        snprintf(msg, sizeof msg, "engine: conv_backend %d is not a difu_conv_backend",
                 (int)params->conv_backend);
        return create_fail(err, errlen, DIFU_ERR_INVALID_ARG, msg);
    }
    difu_isa cap = params->max_isa;
    const char *env = params->honor_env ? getenv("DIFU_ISA") : NULL;
    if (env && *env) {
        int parsed = difu_isa_parse(env);
        if (parsed < 0) {
            snprintf(msg, sizeof msg, "engine: DIFU_ISA='%s' is not one of ref, avx2, avx512, neon, best",
                     env);
            return create_fail(err, errlen, DIFU_ERR_INVALID_ARG, msg);
        }
        if ((difu_isa)parsed < cap)
            cap = (difu_isa)parsed;
    }
    if (params->conv_backend == DIFU_CONV_ONEDNN && !difu_onednn_available())
        return create_fail(err, errlen, DIFU_ERR_UNSUPPORTED,
                           "engine: the oneDNN conv backend was asked for, but this build has no oneDNN");

    difu_engine *e = calloc(1, sizeof *e);
    if (!e)
        return create_fail(err, errlen, DIFU_ERR_NO_MEMORY, "engine: out of memory");
    e->threads = params->threads;
    e->cpu = difu_cpu_detect();
    difu_isa best = difu_cpu_best_isa(&e->cpu);
    e->isa = cap < best ? cap : best;
    e->conv_backend = params->conv_backend;
    difu_dispatch_fill(&e->kernels, &e->cpu, e->isa);
    size_t per_thread = (e->kernels.scratch_per_thread + 63) & ~(size_t)63;
    e->kernels.scratch_per_thread = per_thread;
    if (per_thread && difu_arena_alloc(&e->scratch, per_thread * (size_t)e->threads) != DIFU_OK) {
        free(e);
        return create_fail(err, errlen, DIFU_ERR_NO_MEMORY, "engine: cannot allocate kernel scratch");
    }
    *out = e;
    return DIFU_OK;
}

void difu_engine_destroy(difu_engine *e)
{
    if (!e)
        return;
    difu_onednn_release(e);
    difu_conv_choices_free(e);
    difu_arena_free(&e->scratch);
    free(e);
}

int difu_engine_threads(const difu_engine *e) { return e->threads; }
difu_isa difu_engine_isa(const difu_engine *e) { return e->isa; }
difu_cpu_features difu_engine_cpu(const difu_engine *e) { return e->cpu; }
difu_conv_backend difu_engine_conv_backend(const difu_engine *e) { return e->conv_backend; }

const char *difu_engine_kernel_name(const difu_engine *e, difu_kernel_slot s)
{
    if (s < 0 || s >= DIFU_SLOT_COUNT)
        return "unknown slot";
    return e->kernels.names[s] ? e->kernels.names[s] : "none";
}

difu_isa difu_engine_kernel_isa(const difu_engine *e, difu_kernel_slot s)
{
    return (s >= 0 && s < DIFU_SLOT_COUNT) ? e->kernels.isas[s] : DIFU_ISA_REF;
}

const char *difu_conv_backend_name(difu_conv_backend b)
{
    static const char *const names[DIFU_CONV_BACKEND_COUNT] = {"native", "onednn", "auto"};
    return (b >= 0 && b < DIFU_CONV_BACKEND_COUNT) ? names[b] : "unknown backend";
}

const char *difu_version(void) { return DIFU_VERSION_STRING; }

const char *difu_xxhash_version(void)
{
    static char text[32];
    unsigned v = XXH_versionNumber();
    snprintf(text, sizeof text, "%u.%u.%u", v / 10000, (v / 100) % 100, v % 100);
    return text;
}

void *difu_thread_scratch(difu_engine *e, int ith)
{
    if (!e->scratch.base)
        return NULL;
    return (char *)e->scratch.base + (size_t)ith * e->kernels.scratch_per_thread;
}

void difu_run_team(difu_engine *e, difu_team_fn fn, void *ctx)
{
    int nth = e->threads;
    if (nth == 1) {
        fn(ctx, difu_thread_scratch(e, 0), 0, 1);
        return;
    }
#pragma omp parallel num_threads(nth)
    {
        int ith = omp_get_thread_num();
        /* The runtime may give fewer threads than asked (nested regions, limits): team kernels
         * need exactly nth, so the team size seen is what is passed on. */
        int got = omp_get_num_threads();
        fn(ctx, difu_thread_scratch(e, ith), ith, got);
    }
}

void difu_run_chunks(difu_engine *e, int64_t n, int64_t chunk, difu_chunk_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (chunk <= 0)
        chunk = n;
    int64_t chunks = (n + chunk - 1) / chunk;
    if (e->threads == 1 || chunks == 1) {
        for (int64_t c = 0; c < chunks; c++)
            fn(ctx, c * chunk, c * chunk + chunk < n ? c * chunk + chunk : n);
        return;
    }
#pragma omp parallel for num_threads(e->threads) schedule(static)
    for (int64_t c = 0; c < chunks; c++)
        fn(ctx, c * chunk, c * chunk + chunk < n ? c * chunk + chunk : n);
}
