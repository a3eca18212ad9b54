/* onednn_time.c: timing of the oneDNN backend for the benchmarks: the bare primitive on its
 * preferred layouts, and the whole call with the reorders from and to NCHW / OIHW. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "onednn_internal.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Fills with values in [-1, 1) from a fixed-seed LCG (and faults the pages in). */
static void fill(float *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)(seed >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
}

/* Times the entry: `reps` rounds of one full call on buffers then one bare primitive run (so both
 * see the same machine load), after one warm-up round. Writes both medians on success. */
static difu_status time_entry(difu_engine *e, onednn_state *s, onednn_entry *ent,
                              void *const buffers[ONEDNN_ARGS], int reps, double *full_times,
                              double *prim_times, double *prim_ms, double *full_ms)
{
    difu_status status = DIFU_OK;
    const onednn_key *key = &ent->key;
    for (int r = -1; r < reps; r++) {
        /* The full call also leaves every memory pointing at these buffers. */
        double t0 = now_ms();
        status = difu_onednn_entry_run(e, s, ent, buffers);
        if (status != DIFU_OK)
            return status;
        double t1 = now_ms();
        status = difu_onednn_entry_exec(e, s, ent);
        if (status != DIFU_OK)
            return status;
        DNNL_CHECK(dnnl_stream_wait, s->stream);
        if (r >= 0) {
            full_times[r] = t1 - t0;
            prim_times[r] = now_ms() - t1;
        }
    }
    *prim_ms = median(prim_times, reps);
    *full_ms = median(full_times, reps);
    return DIFU_OK;
fail:
    return status;
}

difu_status difu_onednn_conv2d_time(difu_engine *e, const difu_conv2d_desc *d, int which, int reps,
                                    double *median_ms_primitive, double *median_ms_with_reorders)
{
    difu_status status = difu_onednn_check_which(e, d, which);
    if (status != DIFU_OK)
        return status;
    if (reps < 1 || reps > 1000000 || !median_ms_primitive || !median_ms_with_reorders)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "onednn time: reps=%d must be in [1, 1000000] and both outputs non-NULL",
                         reps);
    int oh = difu_onednn_out_size(d->h, d->k, d->stride, d->pad),
        ow = difu_onednn_out_size(d->w, d->k, d->stride, d->pad);
    size_t n_src = (size_t)d->n * d->cin * d->h * d->w;
    size_t n_wei = (size_t)d->cout * d->cin * d->k * d->k;
    size_t n_dst = (size_t)d->n * d->cout * oh * ow;
    difu_arena src = {0}, wei = {0}, dst = {0}, bias = {0};
    double *times = malloc(2 * (size_t)reps * sizeof *times);
    if (!times || difu_arena_alloc(&src, n_src * 4) || difu_arena_alloc(&wei, n_wei * 4) ||
        difu_arena_alloc(&dst, n_dst * 4) || difu_arena_alloc(&bias, (size_t)d->cout * 4)) {
        status = difu_fail(e, DIFU_ERR_NO_MEMORY,
                           "onednn time: out of memory for n=%d cin=%d h=%d w=%d cout=%d", d->n,
                           d->cin, d->h, d->w, d->cout);
    } else {
        fill(src.base, n_src, 1);
        fill(wei.base, n_wei, 2);
        fill(dst.base, n_dst, 3);
        fill(bias.base, (size_t)d->cout, 4);
        /* Buffers in ONEDNN_IN0, ONEDNN_IN1, ONEDNN_OUT, ONEDNN_BIAS order for each op. */
        void *const per_op[ONEDNN_OP_COUNT][ONEDNN_ARGS] = {
            {src.base, wei.base, dst.base, bias.base},
            {dst.base, wei.base, src.base, NULL},
            {src.base, dst.base, wei.base, bias.base},
        };
        onednn_key key = difu_onednn_make_key(e, (onednn_op)which, d, which != ONEDNN_OP_BWD_DATA);
        int saved = difu_onednn_threads_enter(e);
        onednn_state *s = NULL;
        onednn_entry *ent = NULL;
        status = difu_onednn_cache_get(e, &key, &s, &ent);
        if (status == DIFU_OK)
            status = time_entry(e, s, ent, per_op[which], reps, times, times + reps,
                                median_ms_primitive, median_ms_with_reorders);
        difu_onednn_threads_leave(saved);
    }
    free(times);
    difu_arena_free(&src);
    difu_arena_free(&wei);
    difu_arena_free(&dst);
    difu_arena_free(&bias);
    return status;
}
