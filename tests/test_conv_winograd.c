/* test_conv_winograd.c: the Winograd F(4x4, 3x3) and F(5x5, 3x3) convolutions
 * (kernels/conv2d_winograd.c) that the shifted drivers use for k=3 stride-1 pad-1 shapes with >= 16
 * channels and >= 7x7 images (F(5x5) where the image takes 5x5 tiles: 14x14, 9x13, 17x15 below).
 * Forward, backward-data and backward-weights (+ bias gradient) on the generic drivers with the
 * plain-C 4x8 micro-kernel and with every runnable SIMD ISA, against the direct-loop reference kernels (kernels/ref), on full and partial tiles,
 * channel counts that are not multiples of mr or nr, odd primes, several tile blocks, weights in
 * two chunks, batch 1, 2, 3 and 5; bit-identical at 1, 2 and 3 threads; forward and
 * backward-data bits of an image independent of the batch. Errors are measured against the
 * largest reference magnitude (Winograd rounds like a longer sum than the direct loops). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "conv2d_winograd.h"
#include "difu.h"
#include "engine_internal.h"
#include "gemm_conv.h"
#include "test_util.h"

typedef struct shape {
    int n, cin, cout, h, w;
} shape;

static const shape shapes[] = {
    {1, 16, 16, 7, 7},   {3, 17, 19, 14, 14}, {1, 24, 37, 28, 28}, {3, 16, 33, 9, 13},
    {2, 31, 16, 8, 8},   {1, 256, 20, 7, 9},  {5, 16, 23, 17, 15}, {2, 256, 130, 7, 7},
    {2, 19, 29, 11, 31}, {2, 16, 16, 16, 16}, /* tile rows end on a vector's last lane */
    {2, 256, 130, 14, 14}, /* 5x5 tiles, weights in two chunks */
};
enum { NSHAPES = sizeof shapes / sizeof shapes[0] };

/* Largest allowed |got - want| relative to the largest |want| of the output: 4x4 tiles, and 5x5
 * ones (their transforms' larger coefficients (16 and 1/16 in A^T) round about twice as much:
 * 2.3e-5 against 1.1e-5 at 256 channels, 14x14). */
static const double TOL = 2e-5, TOL5 = 4e-5;

static double tol_of(const difu_conv2d_desc *d)
{
    return difu_winograd_tile(d->h, d->w) == 5 ? TOL5 : TOL;
}

/* An engine whose conv slots run the ISA-generic drivers on the ISA's micro-kernels (ref: the
 * plain-C 4x8 one), so Winograd takes every shape difu_winograd_fits accepts. */
static difu_engine *wino_engine(difu_isa isa, int threads)
{
    difu_engine *e = tu_engine(isa, threads);
    if (isa == DIFU_ISA_REF) {
        size_t before = e->kernels.scratch_per_thread;
        difu_gemm_ukernel u = e->kernels.gemm_ukernel;
        difu_register_gemm_conv_packed(&e->kernels, &u);
        cr_assert_leq(e->kernels.scratch_per_thread, before, "scratch grew after creation");
    }
    cr_assert_eq(e->kernels.conv2d_fwd, difu_conv2d_fwd_shift);
    return e;
}

typedef tu_conv_bufs bufs;

static void run_fwd_data(difu_engine *e, const difu_conv2d_desc *d, bufs *B)
{
    cr_assert_eq(difu_conv2d_forward(e, d, B->x, B->w, B->b, B->y), DIFU_OK, "%s",
                 difu_engine_last_error(e));
    cr_assert_eq(difu_conv2d_backward_data(e, d, B->dy, B->w, B->dx), DIFU_OK, "%s",
                 difu_engine_last_error(e));
}

static void run_all(difu_engine *e, const difu_conv2d_desc *d, bufs *B)
{
    run_fwd_data(e, d, B);
    cr_assert_eq(difu_conv2d_backward_weights(e, d, B->x, B->dy, B->dw, B->db), DIFU_OK, "%s",
                 difu_engine_last_error(e));
}

static void check_shape(const shape *s, uint64_t seed)
{
    difu_conv2d_desc d = {s->n, s->cin, s->h, s->w, s->cout, 3, 1, 1};
    cr_assert(difu_winograd_fits(&d), "shape should take Winograd");
    difu_engine *ref = tu_engine(DIFU_ISA_REF, 1);
    bufs W = tu_conv_bufs_make(&d, seed);
    run_all(ref, &d, &W);
    difu_engine_destroy(ref);

    difu_isa isas[DIFU_ISA_COUNT];
    int nisa = tu_runnable_isas(isas);
    bufs T[3] = {tu_conv_bufs_make(&d, seed), tu_conv_bufs_make(&d, seed), tu_conv_bufs_make(&d, seed)};
    for (int v = 0; v < nisa; v++)
        for (int th = 1; th <= 3; th++) {
            difu_engine *e = wino_engine(isas[v], th);
            bufs *B = &T[th - 1];
            for (size_t i = 0; i < B->ny; i++) /* poison: every element must be written */
                B->y[i] = NAN;
            for (size_t i = 0; i < B->nx; i++)
                B->dx[i] = NAN;
            for (size_t i = 0; i < B->nw; i++)
                B->dw[i] = NAN;
            for (int i = 0; i < d.cout; i++)
                B->db[i] = NAN;
            run_all(e, &d, B);
            char what[160];
            snprintf(what, sizeof what, "fwd %s threads %d n=%d cin=%d cout=%d h=%d w=%d",
                     difu_isa_name(isas[v]), th, d.n, d.cin, d.cout, d.h, d.w);
            tu_assert_close_to_largest(what, B->y, W.y, (int64_t)B->ny, tol_of(&d));
            char part[200];
            snprintf(part, sizeof part, "bwd_data %s", what + 4);
            tu_assert_close_to_largest(part, B->dx, W.dx, (int64_t)B->nx, tol_of(&d));
            snprintf(part, sizeof part, "bwd_weights %s", what + 4);
            tu_assert_close_to_largest(part, B->dw, W.dw, (int64_t)B->nw, TOL);
            snprintf(part, sizeof part, "dbias %s", what + 4);
            tu_assert_close_to_largest(part, B->db, W.db, d.cout, TOL);
            if (th > 1) {
                cr_assert(memcmp(B->y, T[0].y, B->ny * 4) == 0, "fwd 1 vs %d threads: %s", th,
                          what);
                cr_assert(memcmp(B->dx, T[0].dx, B->nx * 4) == 0, "bwd_data 1 vs %d threads: %s",
                          th, what);
                cr_assert(memcmp(B->dw, T[0].dw, B->nw * 4) == 0,
                          "bwd_weights 1 vs %d threads: %s", th, what);
                cr_assert(memcmp(B->db, T[0].db, (size_t)d.cout * 4) == 0,
                          "dbias 1 vs %d threads: %s", th, what);
            }
            difu_engine_destroy(e);
        }
    for (int i = 0; i < 3; i++)
        tu_conv_bufs_free(&T[i]);
    tu_conv_bufs_free(&W);
}

Test(conv_winograd, all_directions_match_reference)
{
    for (int s = 0; s < NSHAPES; s++)
        check_shape(&shapes[s], 1000 + 10 * s);
}

/* Each image of a batch of 5 gets the bits it gets alone (forward and backward-data). */
Test(conv_winograd, batch_size_does_not_change_bits)
{
    static const shape s[] = {{5, 16, 23, 17, 15}, {5, 33, 17, 7, 7}};
    difu_isa isas[DIFU_ISA_COUNT];
    int nisa = tu_runnable_isas(isas);
    for (int v = 0; v < nisa; v++)
        for (int t = 0; t < 2; t++) {
            difu_engine *e = wino_engine(isas[v], 2);
            difu_conv2d_desc d = {s[t].n, s[t].cin, s[t].h, s[t].w, s[t].cout, 3, 1, 1};
            difu_conv2d_desc one = d;
            one.n = 1;
            bufs B = tu_conv_bufs_make(&d, 2000 + t), S = tu_conv_bufs_make(&one, 2000 + t);
            run_fwd_data(e, &d, &B);
            for (int i = 0; i < d.n; i++) {
                memcpy(S.x, B.x + i * S.nx, S.nx * sizeof(float));
                memcpy(S.dy, B.dy + i * S.ny, S.ny * sizeof(float));
                cr_assert_eq(difu_conv2d_forward(e, &one, S.x, B.w, B.b, S.y), DIFU_OK);
                cr_assert_eq(difu_conv2d_backward_data(e, &one, S.dy, B.w, S.dx), DIFU_OK);
                cr_assert(memcmp(S.y, B.y + i * S.ny, S.ny * sizeof(float)) == 0,
                          "fwd %s image %d of %d: batch and alone differ", difu_isa_name(isas[v]),
                          i, d.n);
                cr_assert(memcmp(S.dx, B.dx + i * S.nx, S.nx * sizeof(float)) == 0,
                          "bwd_data %s image %d of %d: batch and alone differ",
                          difu_isa_name(isas[v]), i, d.n);
            }
            tu_conv_bufs_free(&B), tu_conv_bufs_free(&S);
            difu_engine_destroy(e);
        }
}

/* got and want hold the same bits; else fails naming `what` and the first difference. */
static void assert_same_bits(const float *got, const float *want, size_t n, const char *what)
{
    size_t at = 0;
    while (at < n && memcmp(&got[at], &want[at], sizeof(float)) == 0)
        at++;
    cr_assert(at == n, "%s: %.9g, want %.9g at [%zu]", what, (double)got[at < n ? at : 0],
              (double)want[at < n ? at : 0], at);
}

typedef struct epilogue_run {
    const difu_kernels *k;
    const difu_conv2d_desc *d;
    const float *x, *w, *u, *b;
    const difu_conv_epilogue *ep;
    float *y;
} epilogue_run;

static void run_epilogue(void *ctx, void *scratch, int ith, int nth)
{
    const epilogue_run *r = ctx;
    difu_conv2d_fwd_epilogue(r->k, r->d, r->x, r->w, r->u, r->b, r->ep, r->y, scratch, ith,
                             nth);
}

/* The forward with the ResBlock adds fused into its output transform (kernels.h,
 * difu_conv_epilogue) gives the bits of the plain forward followed by the adds, for every ISA and
 * 1-3 threads, with the channel add, the residual, or both. */
Test(conv_winograd, fused_epilogue_equals_conv_then_adds)
{
    static const shape s[] = {{3, 17, 19, 14, 14}, {2, 16, 33, 9, 13}};
    difu_isa isas[DIFU_ISA_COUNT];
    int nisa = tu_runnable_isas(isas);
    for (int t = 0; t < 2; t++) {
        difu_conv2d_desc d = {s[t].n, s[t].cin, s[t].h, s[t].w, s[t].cout, 3, 1, 1};
        bufs B = tu_conv_bufs_make(&d, 3000 + t);
        float *chan = tu_alloc((size_t)d.n * d.cout), *res = tu_alloc(B.ny);
        float *want = tu_alloc(B.ny);
        tu_fill_uniform(chan, (size_t)d.n * d.cout, 31 + t, -1.0f, 1.0f);
        tu_fill_uniform(res, B.ny, 37 + t, -1.0f, 1.0f);
        for (int v = 0; v < nisa; v++)
            for (int th = 1; th <= 3; th++)
                for (int which = 1; which <= 3; which++) {
                    difu_engine *e = wino_engine(isas[v], th);
                    difu_conv_epilogue ep = {which & 1 ? chan : NULL, which & 2 ? res : NULL};
                    cr_assert_eq(difu_conv2d_forward(e, &d, B.x, B.w, B.b, want), DIFU_OK);
                    difu_conv_epilogue_planes(&ep, 0, (int64_t)d.n * d.cout,
                                              (int64_t)d.h * d.w, want);
                    for (size_t i = 0; i < B.ny; i++)
                        B.y[i] = NAN;
                    epilogue_run r = {&e->kernels, &d, B.x, B.w, NULL, B.b, &ep, B.y};
                    difu_run_team(e, run_epilogue, &r);
                    char what[160];
                    snprintf(what, sizeof what, "%s threads %d adds %d n=%d cin=%d cout=%d %dx%d: "
                             "fused vs conv then adds", difu_isa_name(isas[v]), th, which, d.n,
                             d.cin, d.cout, d.h, d.w);
                    assert_same_bits(B.y, want, B.ny, what);
                    difu_engine_destroy(e);
                }
        tu_free(chan), tu_free(res), tu_free(want);
        tu_conv_bufs_free(&B);
    }
}

typedef struct transform_run {
    const difu_kernels *k;
    const difu_conv2d_desc *d;
    const float *w;
    float *u;
} transform_run;

static void run_transform(void *ctx, void *scratch, int ith, int nth)
{
    const transform_run *r = ctx;
    difu_winograd_transform_weights(r->k, difu_winograd_tile(r->d->h, r->d->w), r->d->cin,
                                    r->d->cout, r->w, r->u, scratch, ith, nth);
}

/* The forward on weights transformed beforehand (what engine/wino_cache.c keeps between
 * forwards) gives the bits of the forward that transforms them itself, for every ISA and 1-3
 * threads, with and without the fused adds, including weights the forward cuts into two chunks
 * (256 x 130). The transform is run by 1-3 threads too, into a NaN-poisoned buffer. */
Test(conv_winograd, pretransformed_weights_give_the_same_bits)
{
    static const shape s[] = {{3, 17, 19, 14, 14}, {2, 256, 130, 7, 7}, {1, 16, 33, 9, 13},
                              {1, 256, 130, 14, 14}};
    difu_isa isas[DIFU_ISA_COUNT];
    int nisa = tu_runnable_isas(isas);
    for (int t = 0; t < 4; t++) {
        difu_conv2d_desc d = {s[t].n, s[t].cin, s[t].h, s[t].w, s[t].cout, 3, 1, 1};
        bufs B = tu_conv_bufs_make(&d, 4000 + t);
        float *res = tu_alloc(B.ny), *want = tu_alloc(B.ny);
        tu_fill_uniform(res, B.ny, 41 + t, -1.0f, 1.0f);
        for (int v = 0; v < nisa; v++)
            for (int th = 1; th <= 3; th++)
                for (int adds = 0; adds <= 1; adds++) {
                    difu_engine *e = wino_engine(isas[v], th);
                    size_t nu = difu_winograd_weights_floats(
                        &e->kernels.gemm_ukernel, difu_winograd_tile(d.h, d.w), d.cin, d.cout);
                    float *u = tu_alloc(nu);
                    for (size_t i = 0; i < nu; i++)
                        u[i] = NAN;
                    transform_run tr = {&e->kernels, &d, B.w, u};
                    difu_run_team(e, run_transform, &tr);
                    difu_conv_epilogue ep = {NULL, adds ? res : NULL};
                    epilogue_run plain = {&e->kernels, &d, B.x, B.w, NULL, B.b, &ep, want};
                    difu_run_team(e, run_epilogue, &plain);
                    for (size_t i = 0; i < B.ny; i++)
                        B.y[i] = NAN;
                    epilogue_run kept = {&e->kernels, &d, B.x, B.w, u, B.b, &ep, B.y};
                    difu_run_team(e, run_epilogue, &kept);
                    char what[160];
                    snprintf(what, sizeof what, "%s threads %d adds %d n=%d cin=%d cout=%d %dx%d: "
                             "kept weights vs transformed in the forward", difu_isa_name(isas[v]),
                             th, adds, d.n, d.cin, d.cout, d.h, d.w);
                    assert_same_bits(B.y, want, B.ny, what);
                    tu_free(u);
                    difu_engine_destroy(e);
                }
        tu_free(res), tu_free(want);
        tu_conv_bufs_free(&B);
    }
}

/* 5x5 tiles where they need at most 85% of the 4x4 tiles' transformed points: the shapes above
 * that are meant to run F(5x5, 3x3) do, the others run F(4x4, 3x3). */
Test(conv_winograd, tile_follows_the_image_size)
{
    static const int five[][2] = {{14, 14}, {9, 13}, {17, 15}, {10, 10}, {15, 15}};
    static const int four[][2] = {{7, 7}, {8, 8}, {16, 16}, {28, 28}, {11, 31}, {7, 9}, {32, 32}};
    for (size_t i = 0; i < sizeof five / sizeof five[0]; i++)
        cr_assert_eq(difu_winograd_tile(five[i][0], five[i][1]), 5, "%dx%d", five[i][0],
                     five[i][1]);
    for (size_t i = 0; i < sizeof four / sizeof four[0]; i++)
        cr_assert_eq(difu_winograd_tile(four[i][0], four[i][1]), 4, "%dx%d", four[i][0],
                     four[i][1]);
}

/* Shapes outside Winograd's range keep the shifted / implicit-GEMM paths. */
Test(conv_winograd, fits_only_k3_stride1_with_enough_channels)
{
    cr_assert(difu_winograd_fits(&(difu_conv2d_desc){1, 16, 7, 7, 16, 3, 1, 1}));
    cr_assert(!difu_winograd_fits(&(difu_conv2d_desc){1, 15, 7, 7, 16, 3, 1, 1}));
    cr_assert(!difu_winograd_fits(&(difu_conv2d_desc){1, 16, 6, 7, 16, 3, 1, 1}));
    cr_assert(!difu_winograd_fits(&(difu_conv2d_desc){1, 16, 8, 8, 16, 3, 2, 1}));
    cr_assert(!difu_winograd_fits(&(difu_conv2d_desc){1, 16, 8, 8, 16, 1, 1, 0}));
    cr_assert(!difu_winograd_fits(&(difu_conv2d_desc){1, 257, 8, 8, 16, 3, 1, 1}));
}
