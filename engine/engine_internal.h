/* engine_internal.h: the engine object and the helpers every engine/ file shares. */
#ifndef DIFU_ENGINE_INTERNAL_H
#define DIFU_ENGINE_INTERNAL_H

#include <stdarg.h>

#include "difu.h"
#include "kernels.h"

#define DIFU_ERROR_LEN 512

struct difu_engine {
    int threads;
    difu_isa isa;                   /* the cap in force after params and DIFU_ISA */
    difu_cpu_features cpu;
    difu_conv_backend conv_backend;
    difu_kernels kernels;
    difu_arena scratch;             /* threads * kernels.scratch_per_thread bytes */
    void *onednn;                   /* engine/onednn_conv.c's state (primitive cache), or NULL */
    void *conv_choices;             /* engine/conv_choice.c's native-or-oneDNN decisions, or NULL */
    char last_error[DIFU_ERROR_LEN];
};

/* Records a formatted message on the engine and returns status (for `return difu_fail(...)`). */
difu_status difu_fail(difu_engine *e, difu_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void difu_clear_error(difu_engine *e);

/* Fills the kernel table: reference everywhere, then upgraded to the best ISA allowed by cap. */
void difu_dispatch_fill(difu_kernels *k, const difu_cpu_features *cpu, difu_isa cap);

/* The scratch region of thread ith. */
void *difu_thread_scratch(difu_engine *e, int ith);

/* Runs fn(ctx, scratch, ith, nth) on every thread of a team of e->threads threads. */
typedef void (*difu_team_fn)(void *ctx, void *scratch, int ith, int nth);
void difu_run_team(difu_engine *e, difu_team_fn fn, void *ctx);

/* Splits [0, n) into chunks of `chunk` elements (the last may be shorter) and runs
 * fn(ctx, begin, end) once per chunk across the engine's threads. Chunk boundaries do not depend
 * on the thread count. */
typedef void (*difu_chunk_fn)(void *ctx, int64_t begin, int64_t end);
void difu_run_chunks(difu_engine *e, int64_t n, int64_t chunk, difu_chunk_fn fn, void *ctx);

#endif /* DIFU_ENGINE_INTERNAL_H */
