/* bench_engine.h: an engine for a bench program's case (header-only: each program is its own
 * executable). */
#ifndef DIFU_BENCH_ENGINE_H
#define DIFU_BENCH_ENGINE_H

#include <stdio.h>
#include <stdlib.h>

#include "difu.h"

/* An engine with the native kernels capped at isa (DIFU_ISA in the environment ignored) and
 * `threads` threads; on failure prints "prog: why" and exits 1. */
static inline difu_engine *bench_make_engine(const char *prog, difu_isa isa, int threads)
{
    difu_engine_params p = difu_engine_params_default();
    p.max_isa = isa;
    p.threads = threads;
    p.honor_env = 0;
    difu_engine *e = NULL;
    char err[256];
    if (difu_engine_create(&p, &e, err, sizeof err) != DIFU_OK) {
        fprintf(stderr, "%s: %s\n", prog, err);
        exit(1);
    }
    return e;
}

#endif /* DIFU_BENCH_ENGINE_H */
