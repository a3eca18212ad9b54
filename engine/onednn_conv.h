/* onednn_conv.h: the oneDNN convolution backend (engine/onednn_conv.c), or its absence
 * (engine/onednn_none.c) in builds without oneDNN. Same contract as the difu_conv2d_* ops:
 * NCHW float32 activations, weight [cout, cin, k, k], optional bias, dbias = sum of dy;
 * k=3 s1 p1, k=3 s2 p1, k=1 s1 p0. */
#ifndef DIFU_ONEDNN_CONV_H
#define DIFU_ONEDNN_CONV_H

#include <stdint.h>

#include "engine_internal.h"

/* 1 when this build links oneDNN. */
int difu_onednn_available(void);
/* Frees the engine's primitive cache (e->onednn); safe when there is none. */
void difu_onednn_release(difu_engine *e);

difu_status difu_onednn_conv2d_forward(difu_engine *e, const difu_conv2d_desc *d, const float *x,
                                       const float *weight, const float *bias, float *y);
difu_status difu_onednn_conv2d_backward_data(difu_engine *e, const difu_conv2d_desc *d,
                                             const float *dy, const float *weight, float *dx);
difu_status difu_onednn_conv2d_backward_weights(difu_engine *e, const difu_conv2d_desc *d,
                                                const float *x, const float *dy, float *dweight,
                                                float *dbias);

/* The `which` argument of the timing and query functions below. */
enum {
    DIFU_ONEDNN_FWD = 0,
    DIFU_ONEDNN_BWD_DATA = 1,
    DIFU_ONEDNN_BWD_WEIGHTS = 2,
};

/* Times one convolution (which: 0 forward with bias, 1 backward-data, 2 backward-weights with
 * dbias) on buffers it allocates and fills itself, `reps` runs after one warm-up each:
 * *median_ms_primitive is the median of the bare primitive on its preferred (blocked) layouts,
 * *median_ms_with_reorders the median of the whole call from and to NCHW/OIHW buffers. */
difu_status difu_onednn_conv2d_time(difu_engine *e, const difu_conv2d_desc *d, int which, int reps,
                                    double *median_ms_primitive, double *median_ms_with_reorders);

/* oneDNN's implementation name for the problem ("jit:avx512_core", ...), or "unknown" when the
 * problem is invalid or the primitive cannot be created. The string belongs to the engine's
 * cache entry: valid until the next oneDNN call on the engine. */
const char *difu_onednn_impl_name(difu_engine *e, const difu_conv2d_desc *d, int which);

/* For tests: the number of problems in the engine's primitive cache, and the id (creation
 * serial, from 1) of the entry the last successful call used; 0 when there is none. */
int difu_onednn_cache_size(const difu_engine *e);
/* How many entries the cache keeps before it evicts the least recently used. */
int difu_onednn_cache_capacity(void);
uint64_t difu_onednn_cache_last_id(const difu_engine *e);

#endif /* DIFU_ONEDNN_CONV_H */
