/* bench_wino.c: the Winograd tile transforms alone (kernels/conv2d_winograd.h), per ISA, on the
 * fmnist-s shapes: the input transform (image planes -> V, all blocks and channels of one
 * forward), the output transform (M -> y, every output channel), both on the tile the image takes
 * (difu_winograd_tile; --tile 4 or 5 forces one), and the dy transform of backward-weights
 * (always 4x4 tiles), each over the whole batch as the drivers call them, without the GEMMs.
 *
 * The ISAs are timed in alternation within one process (round r runs every ISA once): on a
 * shared virtual machine a whole process can run 1.5x slower than the next one (the vCPU's
 * neighbour), so only in-process comparisons are meaningful. Before timing, every ISA's V and y
 * are checked against the reference ISA's (the generic template) at 1e-5 relative.
 * One line per case: transform, shape, tile, batch, ISA, median and min ms, ns per tile and
 * channel, and ns per image pixel and channel (comparable between tiles).
 *
 *   bench_wino [--batch 32] [--reps 15] [--shape c64_28,...] [--isas ref,avx2,avx512,neon]
 *              [--tile 0|4|5] */
/* MADV_HUGEPAGE is a Linux extension: the project's _POSIX_C_SOURCE alone hides it */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#if defined(__linux__) && !defined(MADV_HUGEPAGE)
#error "MADV_HUGEPAGE is not visible: large buffers would silently run on 4 KiB pages"
#endif

#include "conv2d_winograd.h"
#include "bench_engine.h"
#include "bench_timing.h"
#include "difu.h"
#include "engine_internal.h"

typedef struct wshape {
    const char *name;
    int c, m, hw;
} wshape;

static const wshape shapes[] = {
    {"c64_28", 64, 64, 28},     {"c128_14", 128, 128, 14},   {"c128_7", 128, 128, 7},
    {"cat256_14", 256, 128, 14}, {"cat192_28", 192, 64, 28}, {"up128_28", 128, 128, 28},
};
enum { NSHAPES = sizeof shapes / sizeof shapes[0], MAX_REPS = 101 };
enum { X_INPUT, X_OUTPUT, X_DY, X_COUNT };
static const char *const xnames[X_COUNT] = {"input", "output", "dy"};

/* Zeroed floats on huge pages where the kernel allows (as the engine's arenas are). */
static float *alloc_floats(size_t n)
{
    size_t bytes = (n * sizeof(float) + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
    void *p = NULL;
    if (posix_memalign(&p, 2u << 20, bytes) != 0) {
        fprintf(stderr, "bench_wino: out of memory for %zu floats\n", n);
        exit(1);
    }
    madvise(p, bytes, MADV_HUGEPAGE);
    memset(p, 0, bytes);
    return p;
}

/* One ISA's setup for one shape: its engine, geometry, transforms and buffers. */
typedef struct variant {
    difu_isa isa;
    difu_engine *e;
    difu_wino_geom g, g4; /* g: input and output; g4: dy (backward-weights runs 4x4 tiles) */
    const difu_wino_xforms *xf;
    float *v, *m, *work, *y;
    difu_wino_bufs b;
    difu_wino_run *runs;
    double t[X_COUNT][MAX_REPS];
} variant;

static void variant_init(variant *v, difu_isa isa, const wshape *s, int n, int tile)
{
    memset(v, 0, sizeof *v);
    v->isa = isa;
    v->e = bench_make_engine("bench_wino", isa, 1);
    const difu_gemm_ukernel *u = &v->e->kernels.gemm_ukernel;
    v->xf = difu_winograd_xforms(u);
    difu_winograd_geom(u, tile, n, s->c, s->m, s->hw, s->hw, &v->g);
    difu_winograd_geom(u, 4, n, s->c, s->m, s->hw, s->hw, &v->g4);
    const difu_wino_geom *g = &v->g;
    /* V: up to 49 planes of vstride; M: up to 49 planes of mstride (mcb channels of nbp tiles),
     * the larger of the two geometries; the work area from patch on (conv2d_winograd.h): patch,
     * t (49 per column each), then o = line */
    int64_t vs = g->vstride > v->g4.vstride ? g->vstride : v->g4.vstride;
    int64_t ms = g->mstride > v->g4.mstride ? g->mstride : v->g4.mstride;
    int nbp = g->nbp > v->g4.nbp ? g->nbp : v->g4.nbp;
    v->v = alloc_floats(49 * (size_t)vs + 64);
    v->m = alloc_floats(49 * (size_t)ms + 64);
    v->work = alloc_floats((size_t)DIFU_WINO_WORK_PER_COLUMN * (size_t)nbp + 64);
    v->b = (difu_wino_bufs){v->v, v->work, v->work + 49 * nbp, v->work + 98 * nbp,
                            v->work + 98 * nbp};
    v->y = alloc_floats((size_t)n * (size_t)s->m * (size_t)(s->hw * s->hw));
    v->runs = malloc(sizeof *v->runs * (size_t)nbp);
    if (!v->runs) {
        fprintf(stderr, "bench_wino: out of memory\n");
        exit(1);
    }
}

static void variant_free(variant *v)
{
    free(v->v), free(v->m), free(v->work), free(v->y), free(v->runs);
    difu_engine_destroy(v->e);
}

static int64_t nblocks(const difu_wino_geom *g) { return (g->tiles + g->nbp - 1) / g->nbp; }

/* Block b's tile count and runs in geometry g. */
static int block_runs(variant *v, const difu_wino_geom *g, int64_t b, int *cnt)
{
    int64_t t0 = b * g->nbp;
    *cnt = g->tiles - t0 < g->nbp ? (int)(g->tiles - t0) : g->nbp;
    return difu_winograd_runs(g, t0, *cnt, v->runs);
}

/* M[xi][i][j] of block b filled from (xi, output channel, global tile) alone, so every ISA's
 * geometry holds the same values. */
static void fill_m(variant *v, int64_t b, int o0, int rows)
{
    const difu_wino_geom *g = &v->g;
    for (int xi = 0; xi < g->xi; xi++)
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < g->nbp; j++) {
                int64_t t = b * g->nbp + j;
                v->m[xi * g->mstride + (int64_t)i * g->nbp + j] =
                    (float)((xi * 7 + (o0 + i) * 13 + t * 3) % 31) * 0.03125f - 0.5f;
            }
}

/* The whole batch through one transform; returns seconds. M keeps block 0's values for the
 * timed output runs (the arithmetic does not depend on them). */
static double run_x(variant *v, int x, const float *src)
{
    const difu_wino_geom *g = x == X_DY ? &v->g4 : &v->g;
    const int nr = g->nr;
    double t0 = bench_seconds();
    for (int64_t b = 0; b < nblocks(g); b++) {
        int cnt, nrun = block_runs(v, g, b, &cnt), ncols = (cnt + nr - 1) / nr * nr;
        if (x == X_INPUT)
            difu_wino_input_of(v->xf, g)(g, src, v->runs, nrun, cnt, 0, g->c, v->v, g->vstride,
                                         (int64_t)g->c * nr, nr, &v->b);
        else if (x == X_OUTPUT)
            for (int o = 0; o < g->m; o++)
                difu_wino_output_of(v->xf, g)(g, v->m + (int64_t)(o % g->mcb) * g->nbp,
                                              g->mstride, ncols, v->runs, nrun, o, 0.25f, NULL,
                                              v->y, &v->b);
        else
            for (int co = 0; co < g->m; co++) /* dM of one output channel at a time, as the driver */
                v->xf->dy(g, v->y, v->runs, nrun, cnt, co, v->m, g->mstride, &v->b);
    }
    return bench_seconds() - t0;
}

/* |a - b| <= 1e-5 * |b| + 2e-6 * max |b| everywhere (the transforms' sums cancel: a small
 * element carries the rounding of terms the size of the largest), else reports the first
 * difference. */
static int close_to(const char *what, const variant *v, const float *a, const float *b, size_t n)
{
    float big = 1.0f;
    for (size_t i = 0; i < n; i++)
        big = fmaxf(big, fabsf(b[i]));
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(a[i] - b[i]) <= 1e-5f * fabsf(b[i]) + 2e-6f * big)) {
            fprintf(stderr, "bench_wino: %s %s element %zu: %.9g vs reference %.9g\n",
                    difu_isa_name(v->isa), what, i, a[i], b[i]);
            return 0;
        }
    return 1;
}

/* V of the first block as (xi, channel, tile), whatever the ISA's panel layout. */
static void v_canonical(const variant *v, int cnt, float *out)
{
    const difu_wino_geom *g = &v->g;
    for (int xi = 0; xi < g->xi; xi++)
        for (int ci = 0; ci < g->c; ci++)
            for (int j = 0; j < cnt; j++)
                out[((int64_t)xi * g->c + ci) * cnt + j] =
                    v->v[xi * g->vstride + (int64_t)(j / g->nr) * g->c * g->nr +
                         (int64_t)ci * g->nr + j % g->nr];
}

/* The ISA's V (first block) and y (every block, M filled per block) against the reference's. */
static int check(variant *v, variant *ref, const float *src, const wshape *s, int n)
{
    int cnt_v, cnt_r;
    block_runs(v, &v->g, 0, &cnt_v), block_runs(ref, &ref->g, 0, &cnt_r);
    int cnt = cnt_v < cnt_r ? cnt_v : cnt_r;
    size_t nv = (size_t)v->g.xi * (size_t)s->c * (size_t)cnt;
    float *a = malloc(nv * sizeof *a), *b = malloc(nv * sizeof *b);
    if (!a || !b) {
        fprintf(stderr, "bench_wino: out of memory\n");
        exit(1);
    }
    variant *both[2] = {v, ref};
    for (int k = 0; k < 2; k++) {
        variant *w = both[k];
        const difu_wino_geom *g = &w->g;
        int c, nrun = block_runs(w, g, 0, &c);
        difu_wino_input_of(w->xf, g)(g, src, w->runs, nrun, c, 0, s->c, w->v, g->vstride,
                                     (int64_t)s->c * g->nr, g->nr, &w->b);
        v_canonical(w, cnt, k ? b : a);
        for (int64_t blk = 0; blk < nblocks(g); blk++) {
            nrun = block_runs(w, g, blk, &c);
            for (int o0 = 0; o0 < s->m; o0 += g->mcb) {
                int rows = s->m - o0 < g->mcb ? s->m - o0 : g->mcb;
                fill_m(w, blk, o0, rows);
                for (int i = 0; i < rows; i++)
                    difu_wino_output_of(w->xf, g)(g, w->m + (int64_t)i * g->nbp, g->mstride,
                                                  (c + g->nr - 1) / g->nr * g->nr, w->runs, nrun,
                                                  o0 + i, 0.25f, NULL, w->y, &w->b);
            }
        }
    }
    int ok = close_to("V", v, a, b, nv) &&
             close_to("y", v, v->y, ref->y, (size_t)n * (size_t)s->m * (size_t)(s->hw * s->hw));
    free(a), free(b);
    return ok;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_wino [--batch N] [--reps N] [--shape name,...] [--isas "
                    "ref,avx2,avx512,neon] [--tile 0|4|5]\nshapes:");
    for (int i = 0; i < NSHAPES; i++)
        fprintf(stderr, " %s", shapes[i].name);
    fprintf(stderr, "\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int batch = 32, reps = 15, tile = 0, shape_on[NSHAPES], isa_on[DIFU_ISA_COUNT], any_shape = 0;
    int any_isa = 0;
    memset(shape_on, 0, sizeof shape_on);
    memset(isa_on, 0, sizeof isa_on);
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        char *val = argv[++i], *save = NULL;
        if (strcmp(argv[i - 1], "--batch") == 0) {
            batch = atoi(val);
        } else if (strcmp(argv[i - 1], "--reps") == 0) {
            reps = atoi(val);
        } else if (strcmp(argv[i - 1], "--tile") == 0) {
            tile = atoi(val);
            if (tile != 0 && tile != 4 && tile != 5) {
                fprintf(stderr, "bench_wino: --tile must be 0 (the image's), 4 or 5\n");
                return 2;
            }
        } else if (strcmp(argv[i - 1], "--shape") == 0) {
            for (char *t = strtok_r(val, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                int k = 0;
                while (k < NSHAPES && strcmp(t, shapes[k].name) != 0)
                    k++;
                if (k == NSHAPES) {
                    fprintf(stderr, "bench_wino: unknown shape '%s'\n", t);
                    usage();
                }
                shape_on[k] = any_shape = 1;
            }
        } else if (strcmp(argv[i - 1], "--isas") == 0) {
            for (char *t = strtok_r(val, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                int k = difu_isa_parse(t);
                if (k < 0) {
                    fprintf(stderr, "bench_wino: unknown ISA '%s'\n", t);
                    usage();
                }
                isa_on[k] = any_isa = 1;
            }
        } else {
            usage();
        }
    }
    if (batch < 1 || batch > 1024 || reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "bench_wino: --batch must be 1..1024 and --reps 1..%d\n", MAX_REPS);
        return 2;
    }
    difu_cpu_features f = difu_cpu_detect();
    difu_isa best = difu_cpu_best_isa(&f), isas[DIFU_ISA_COUNT];
    int n_isa = 0;
    for (int k = 0; k < DIFU_ISA_COUNT; k++) {
        int runs = k == DIFU_ISA_REF || k == (int)best ||
                   (k == DIFU_ISA_AVX2 && best == DIFU_ISA_AVX512);
        if (runs && (!any_isa || isa_on[k]))
            isas[n_isa++] = (difu_isa)k;
    }
    printf("# bench_wino: Winograd tile transforms, batch %d, reps %d (median, min), "
           "ISAs alternating\n",
           batch, reps);
    printf("%-7s %-10s %4s %5s %-7s %10s %10s %14s %12s\n", "xform", "shape", "tile", "n", "isa",
           "median ms", "min ms", "ns/tile/chan", "ns/px/chan");
    int failed = 0;
    for (int si = 0; si < NSHAPES; si++) {
        if (any_shape && !shape_on[si])
            continue;
        const wshape *s = &shapes[si];
        size_t nsrc = (size_t)batch * (size_t)s->c * (size_t)(s->hw * s->hw);
        float *src = alloc_floats(nsrc);
        for (size_t i = 0; i < nsrc; i++)
            src[i] = (float)((i * 2654435761u) % 1000) * 0.002f - 1.0f;
        variant ref, *v = calloc((size_t)n_isa, sizeof *v);
        if (!v) {
            fprintf(stderr, "bench_wino: out of memory\n");
            return 1;
        }
        variant_init(&ref, DIFU_ISA_REF, s, batch, tile);
        for (int k = 0; k < n_isa; k++) {
            variant_init(&v[k], isas[k], s, batch, tile);
            if (!check(&v[k], &ref, src, s, batch))
                failed = 1;
        }
        for (int x = 0; x < X_COUNT; x++)
            for (int k = 0; k < n_isa; k++)
                run_x(&v[k], x, src); /* warm-up */
        for (int r = 0; r < reps; r++)
            for (int x = 0; x < X_COUNT; x++)
                for (int k = 0; k < n_isa; k++)
                    v[k].t[x][r] = run_x(&v[k], x, src);
        for (int x = 0; x < X_COUNT; x++)
            for (int k = 0; k < n_isa; k++) {
                qsort(v[k].t[x], (size_t)reps, sizeof(double), bench_cmp_double);
                const difu_wino_geom *g = x == X_DY ? &v[k].g4 : &v[k].g;
                double med = v[k].t[x][reps / 2], chans = x == X_INPUT ? s->c : s->m;
                double tc = (double)g->tiles * chans, pc = (double)batch * s->hw * s->hw * chans;
                printf("%-7s %-10s %4d %5d %-7s %10.3f %10.3f %14.2f %12.3f\n", xnames[x], s->name,
                       g->tile, batch, difu_isa_name(v[k].isa), med * 1e3, v[k].t[x][0] * 1e3,
                       med * 1e9 / tc, med * 1e9 / pc);
            }
        for (int k = 0; k < n_isa; k++)
            variant_free(&v[k]);
        variant_free(&ref);
        free(v);
        free(src);
    }
    if (failed)
        fprintf(stderr, "bench_wino: an ISA's transforms disagree with the reference\n");
    return failed;
}
