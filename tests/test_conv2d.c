/* test_conv2d.c: conv2d forward, backward-data, backward-weights (+ bias gradient) for k=3 s1 p1,
 * k=3 s2 p1 and k=1 s1 p0. The reference against naive scatter formulas written here; every variant
 * (the shifted-pointer and the implicit-GEMM drivers, each on the plain-C micro-kernels and on each
 * runnable SIMD ISA) against the reference on full tiles, tails, size 1 and odd primes at 1 and 2
 * threads, with 1 vs 2 threads bit-identical; shapes that make garbage columns, several images per
 * slab with a partial last slab, row bands and the implicit-GEMM fallback; backward passes against
 * finite differences of the forward; bad arguments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "difu.h"
#include "engine_internal.h"
#include "gemm_conv.h"
#include "test_util.h"

static const int types[3][3] = {{3, 1, 1}, {3, 2, 1}, {1, 1, 0}}; /* k, stride, pad */

typedef struct shape {
    int n, cin, cout, h, w;
} shape;

static const shape shapes[] = {
    {1, 1, 1, 1, 1},  {1, 3, 5, 7, 7},   {2, 3, 5, 13, 13}, {3, 2, 7, 5, 9},
    {1, 8, 16, 8, 8}, {2, 16, 12, 6, 7}, {1, 5, 33, 4, 3},  {2, 17, 9, 2, 11},
};

static difu_conv2d_desc make(const shape *s, int type)
{
    difu_conv2d_desc d = {s->n, s->cin, s->h, s->w, s->cout, types[type][0], types[type][1],
                          types[type][2]};
    return d;
}

/* A variant: an ISA and whether the shifted-pointer drivers are on (igemm = 0) or the
 * implicit-GEMM drivers run every shape (igemm = 1). */
typedef struct variant {
    difu_isa isa;
    int igemm;
} variant;

static int variants(variant *v)
{
    difu_isa all[DIFU_ISA_COUNT];
    int n = tu_runnable_isas(all), count = 0;
    v[count++] = (variant){DIFU_ISA_REF, 0};
    v[count++] = (variant){DIFU_ISA_REF, 1};
    for (int i = 0; i < n; i++)
        if (all[i] != DIFU_ISA_REF) {
            v[count++] = (variant){all[i], 0};
            v[count++] = (variant){all[i], 1};
        }
    return count;
}

/* isa REF here means the ISA-generic drivers on the plain-C micro-kernels. */
static difu_engine *variant_engine(variant v, int threads)
{
    difu_engine *e = tu_engine(v.isa, threads);
    if (v.isa == DIFU_ISA_REF || v.igemm) {
        size_t before = e->kernels.scratch_per_thread;
        difu_gemm_ukernel u = e->kernels.gemm_ukernel;
        if (v.igemm)
            u.shift.fn = NULL;
        difu_register_gemm_conv_packed(&e->kernels, &u);
        cr_assert_leq(e->kernels.scratch_per_thread, before);
    }
    const char *want = v.igemm ? "igemm" : "shift";
    if (v.isa == DIFU_ISA_REF)
        cr_assert_eq(e->kernels.conv2d_fwd,
                     v.igemm ? difu_conv2d_fwd_igemm : difu_conv2d_fwd_shift, "%s", want);
    else
        cr_assert_eq(e->kernels.conv2d_bwd_weights,
                     v.igemm ? difu_conv2d_bwd_weights_igemm : difu_conv2d_bwd_weights_shift,
                     "%s", want);
    return e;
}

typedef tu_conv_bufs bufs;

/* Naive formulas in scatter form (each input pixel adds to the outputs it reaches). */
static void naive_all(const difu_conv2d_desc *d, const bufs *B, double *y, double *dx,
                      double *dw, double *db)
{
    int oh = difu_conv2d_out_h(d), ow = difu_conv2d_out_w(d);
    memset(y, 0, B->ny * sizeof(double));
    memset(dx, 0, B->nx * sizeof(double));
    memset(dw, 0, B->nw * sizeof(double));
    memset(db, 0, (size_t)d->cout * sizeof(double));
    for (int i = 0; i < d->n; i++)
        for (int co = 0; co < d->cout; co++)
            for (int a = 0; a < oh; a++)
                for (int b = 0; b < ow; b++) {
                    size_t yi = (((size_t)i * d->cout + co) * oh + a) * ow + b;
                    y[yi] += B->b[co];
                    db[co] += B->dy[yi];
                }
    for (int i = 0; i < d->n; i++)
        for (int ci = 0; ci < d->cin; ci++)
            for (int ih = 0; ih < d->h; ih++)
                for (int iw = 0; iw < d->w; iw++) {
                    size_t xi = (((size_t)i * d->cin + ci) * d->h + ih) * d->w + iw;
                    for (int co = 0; co < d->cout; co++)
                        for (int kh = 0; kh < d->k; kh++)
                            for (int kw = 0; kw < d->k; kw++) {
                                int th = ih + d->pad - kh, tw = iw + d->pad - kw;
                                if (th < 0 || tw < 0 || th % d->stride || tw % d->stride ||
                                    th / d->stride >= oh || tw / d->stride >= ow)
                                    continue;
                                size_t yi = (((size_t)i * d->cout + co) * oh + th / d->stride) * ow +
                                            tw / d->stride;
                                size_t wi = (((size_t)co * d->cin + ci) * d->k + kh) * d->k + kw;
                                y[yi] += (double)B->w[wi] * B->x[xi];
                                dx[xi] += (double)B->w[wi] * B->dy[yi];
                                dw[wi] += (double)B->x[xi] * B->dy[yi];
                            }
                }
}

static void to_float(const double *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)src[i];
}

static void run_all(difu_engine *e, const difu_conv2d_desc *d, bufs *B)
{
    cr_assert_eq(difu_conv2d_forward(e, d, B->x, B->w, B->b, B->y), DIFU_OK, "%s",
                 difu_engine_last_error(e));
    cr_assert_eq(difu_conv2d_backward_data(e, d, B->dy, B->w, B->dx), DIFU_OK, "%s",
                 difu_engine_last_error(e));
    cr_assert_eq(difu_conv2d_backward_weights(e, d, B->x, B->dy, B->dw, B->db), DIFU_OK, "%s",
                 difu_engine_last_error(e));
}

Test(conv2d, reference_matches_naive_formulas)
{
    difu_engine *e = tu_engine(DIFU_ISA_REF, 2);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 3; t++) {
            difu_conv2d_desc d = make(&shapes[s], t);
            bufs B = tu_conv_bufs_make(&d, 100 + s);
            double *y = malloc(B.ny * sizeof(double)), *dx = malloc(B.nx * sizeof(double));
            double *dw = malloc(B.nw * sizeof(double)), *db = malloc(d.cout * sizeof(double));
            float *f = tu_alloc(B.nx + B.ny + B.nw + d.cout);
            naive_all(&d, &B, y, dx, dw, db);
            run_all(e, &d, &B);
            to_float(y, f, B.ny);
            tu_assert_close("conv2d_fwd_ref", B.y, f, B.ny, 1e-5, 1e-5);
            to_float(dx, f, B.nx);
            tu_assert_close("conv2d_bwd_data_ref", B.dx, f, B.nx, 1e-5, 1e-5);
            to_float(dw, f, B.nw);
            tu_assert_close("conv2d_bwd_weights_ref", B.dw, f, B.nw, 1e-5, 1e-5);
            to_float(db, f, d.cout);
            tu_assert_close("conv2d dbias ref", B.db, f, d.cout, 1e-5, 1e-5);
            free(y), free(dx), free(dw), free(db), tu_free(f);
            tu_conv_bufs_free(&B);
        }
    difu_engine_destroy(e);
}

/* tol: absolute and relative tolerance; backward-weights sums n*h*w products in float, so large
 * images need more than the default. */
static void check_variants_tol(const difu_conv2d_desc *d, uint64_t seed, int bias, double tol)
{
    difu_engine *ref = tu_engine(DIFU_ISA_REF, 1);
    bufs W = tu_conv_bufs_make(d, seed);
    run_all(ref, d, &W);
    if (!bias) {
        cr_assert_eq(difu_conv2d_forward(ref, d, W.x, W.w, NULL, W.y), DIFU_OK);
        cr_assert_eq(difu_conv2d_backward_weights(ref, d, W.x, W.dy, W.dw, NULL), DIFU_OK);
    }
    variant vs[2 * DIFU_ISA_COUNT];
    int nv = variants(vs);
    bufs G = tu_conv_bufs_make(d, seed), G1 = tu_conv_bufs_make(d, seed);
    for (int v = 0; v < nv; v++)
        for (int th = 1; th <= 3; th++) { /* 3: teams that split unevenly */
            difu_engine *e = variant_engine(vs[v], th);
            bufs *T = th == 1 ? &G1 : &G;
            /* poison the outputs: every element must be written */
            for (size_t i = 0; i < T->ny; i++)
                T->y[i] = NAN;
            for (size_t i = 0; i < T->nx; i++)
                T->dx[i] = NAN;
            for (size_t i = 0; i < T->nw; i++)
                T->dw[i] = NAN;
            cr_assert_eq(difu_conv2d_forward(e, d, T->x, T->w, bias ? T->b : NULL, T->y), DIFU_OK,
                         "%s", difu_engine_last_error(e));
            cr_assert_eq(difu_conv2d_backward_data(e, d, T->dy, T->w, T->dx), DIFU_OK);
            cr_assert_eq(difu_conv2d_backward_weights(e, d, T->x, T->dy, T->dw,
                                                      bias ? T->db : NULL), DIFU_OK);
            char what[200];
            snprintf(what, sizeof what,
                     "%s%s threads %d n=%d cin=%d cout=%d h=%d w=%d k=%d s=%d",
                     difu_isa_name(vs[v].isa), vs[v].igemm ? " igemm" : "", th, d->n, d->cin,
                     d->cout, d->h, d->w, d->k, d->stride);
            char part[240];
            snprintf(part, sizeof part, "fwd %s", what);
            tu_assert_close(part, T->y, W.y, T->ny, tol, tol);
            snprintf(part, sizeof part, "bwd_data %s", what);
            tu_assert_close(part, T->dx, W.dx, T->nx, tol, tol);
            snprintf(part, sizeof part, "bwd_weights %s", what);
            tu_assert_close(part, T->dw, W.dw, T->nw, tol, tol);
            if (bias) {
                snprintf(part, sizeof part, "dbias %s", what);
                tu_assert_close(part, T->db, W.db, d->cout, tol, tol);
            }
            if (th > 1) {
                cr_assert(memcmp(G.y, G1.y, G.ny * 4) == 0, "fwd 1 vs more threads: %s", what);
                cr_assert(memcmp(G.dx, G1.dx, G.nx * 4) == 0, "bwd_data 1 vs more: %s", what);
                cr_assert(memcmp(G.dw, G1.dw, G.nw * 4) == 0, "bwd_weights 1 vs more: %s", what);
                cr_assert(memcmp(G.db, G1.db, d->cout * 4) == 0, "dbias 1 vs more: %s", what);
            }
            difu_engine_destroy(e);
        }
    tu_conv_bufs_free(&W), tu_conv_bufs_free(&G), tu_conv_bufs_free(&G1);
    difu_engine_destroy(ref);
}

static void check_variants_on(const difu_conv2d_desc *d, uint64_t seed, int bias)
{
    check_variants_tol(d, seed, bias, 1e-4);
}

Test(conv2d, k3_stride1_variants_match_reference)
{
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        check_variants_on(&(difu_conv2d_desc){shapes[s].n, shapes[s].cin, shapes[s].h,
                                              shapes[s].w, shapes[s].cout, 3, 1, 1},
                          200 + s, (int)(s % 2 == 0));
}

Test(conv2d, k3_stride2_variants_match_reference)
{
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        check_variants_on(&(difu_conv2d_desc){shapes[s].n, shapes[s].cin, shapes[s].h,
                                              shapes[s].w, shapes[s].cout, 3, 2, 1},
                          300 + s, (int)(s % 2 == 1));
}

Test(conv2d, k1_variants_match_reference)
{
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        check_variants_on(&(difu_conv2d_desc){shapes[s].n, shapes[s].cin, shapes[s].h,
                                              shapes[s].w, shapes[s].cout, 1, 1, 0},
                          400 + s, 1);
}

/* A shape that spans several cache blocks of k (cin*9 > kc) and images across tiles. */
Test(conv2d, deep_channels_match_reference)
{
    check_variants_on(&(difu_conv2d_desc){3, 40, 5, 6, 24, 3, 1, 1}, 500, 1);
    check_variants_on(&(difu_conv2d_desc){2, 64, 6, 6, 16, 3, 2, 1}, 501, 0);
}

/* Shifted-pointer layouts: garbage columns at every width, several images side by side per slab
 * with a partial last slab (n not a multiple of the images per slab), widths of 1 and 2, pixel
 * tails of every vector count, channel counts that leave row-block and dot tails, 1x1 shapes
 * whose h*w is a multiple of every vector length (direct mode: no slab, output in place), and
 * stride 2 (phase planes of odd and even sizes). */
Test(conv2d, shifted_layouts_match_reference)
{
    static const shape s[] = {
        {7, 3, 9, 7, 7},  {5, 4, 3, 3, 13}, {9, 2, 5, 4, 1}, {4, 5, 17, 2, 2},
        {3, 7, 8, 14, 14}, {2, 9, 13, 5, 23}, {3, 6, 11, 8, 6},  {2, 5, 9, 4, 8},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        check_variants_on(&(difu_conv2d_desc){s[i].n, s[i].cin, s[i].h, s[i].w, s[i].cout, 3, 1,
                                              1}, 700 + i, (int)(i % 2));
        check_variants_on(&(difu_conv2d_desc){s[i].n, s[i].cin, s[i].h, s[i].w, s[i].cout, 1, 1,
                                              0}, 720 + i, (int)(i % 2 == 0));
        check_variants_on(&(difu_conv2d_desc){s[i].n, s[i].cin, s[i].h, s[i].w, s[i].cout, 3, 2,
                                              1}, 740 + i, (int)(i % 2 == 0));
    }
}

/* Forward and backward-data of an image do not depend on the batch it comes in (several images
 * per slab, or one): each image of a batch of 7 equals the same image run alone, to the bit. */
Test(conv2d, batch_size_does_not_change_bits)
{
    static const int kinds[4][3] = {{3, 1, 1}, {3, 2, 1}, {1, 1, 0}, {1, 1, 0}};
    static const int sizes[4][2] = {{7, 7}, {14, 14}, {7, 7}, {5, 9}};
    variant vs[2 * DIFU_ISA_COUNT];
    int nv = variants(vs);
    for (int v = 0; v < nv; v++)
        for (int t = 0; t < 4; t++) {
            difu_engine *e = variant_engine(vs[v], 2);
            difu_conv2d_desc d = {7, 40, sizes[t][0], sizes[t][1], 19, kinds[t][0], kinds[t][1],
                                  kinds[t][2]};
            difu_conv2d_desc one = d;
            one.n = 1;
            bufs B = tu_conv_bufs_make(&d, 900 + t), S = tu_conv_bufs_make(&one, 900 + t);
            cr_assert_eq(difu_conv2d_forward(e, &d, B.x, B.w, B.b, B.y), DIFU_OK);
            cr_assert_eq(difu_conv2d_backward_data(e, &d, B.dy, B.w, B.dx), DIFU_OK);
            for (int i = 0; i < d.n; i++) {
                memcpy(S.x, B.x + i * S.nx, S.nx * sizeof(float));
                memcpy(S.dy, B.dy + i * S.ny, S.ny * sizeof(float));
                cr_assert_eq(difu_conv2d_forward(e, &one, S.x, B.w, B.b, S.y), DIFU_OK);
                cr_assert_eq(difu_conv2d_backward_data(e, &one, S.dy, B.w, S.dx), DIFU_OK);
                cr_assert(memcmp(S.y, B.y + i * S.ny, S.ny * sizeof(float)) == 0,
                          "fwd %s%s k=%d s=%d image %d: batch 7 and batch 1 differ",
                          difu_isa_name(vs[v].isa), vs[v].igemm ? " igemm" : "", d.k, d.stride, i);
                cr_assert(memcmp(S.dx, B.dx + i * S.nx, S.nx * sizeof(float)) == 0,
                          "bwd_data %s%s k=%d s=%d image %d: batch 7 and batch 1 differ",
                          difu_isa_name(vs[v].isa), vs[v].igemm ? " igemm" : "", d.k, d.stride, i);
            }
            tu_conv_bufs_free(&B), tu_conv_bufs_free(&S);
            difu_engine_destroy(e);
        }
}

/* A slab of 64 channels of 64x64 (or its stride-2 phases) does not fit the scratch: row bands,
 * with halo rows (backward-weights: channel chunks; bands when 40 rows of dy do not fit). And 520
 * input channels exceed the shifted drivers' k table: the implicit-GEMM fallback. */
Test(conv2d, row_bands_and_fallback_match_reference)
{
    check_variants_tol(&(difu_conv2d_desc){1, 64, 64, 64, 3, 3, 1, 1}, 800, 1, 3e-3);
    check_variants_tol(&(difu_conv2d_desc){2, 130, 61, 66, 5, 1, 1, 0}, 801, 0, 3e-3);
    check_variants_tol(&(difu_conv2d_desc){1, 64, 64, 63, 3, 3, 2, 1}, 803, 1, 3e-3);
    check_variants_tol(&(difu_conv2d_desc){1, 2, 64, 64, 40, 3, 1, 1}, 804, 0, 3e-3);
    check_variants_on(&(difu_conv2d_desc){1, 520, 3, 4, 3, 3, 1, 1}, 802, 1);
}

/* loss = sum(y * r); dloss/dx = bwd_data(r), dloss/dw = bwd_weights(x, r), dloss/db = sum r.
 * The conv is linear, so central differences are exact up to rounding: compare in double. */
static double loss(difu_engine *e, const difu_conv2d_desc *d, const float *x, const float *w,
                   const float *b, const float *r, float *y, size_t ny)
{
    cr_assert_eq(difu_conv2d_forward(e, d, x, w, b, y), DIFU_OK);
    double s = 0;
    for (size_t i = 0; i < ny; i++)
        s += (double)y[i] * r[i];
    return s;
}

static void finite_differences(difu_isa isa)
{
    difu_engine *e = tu_engine(isa, 1);
    for (int t = 0; t < 3; t++) {
        difu_conv2d_desc d = {2, 3, 5, 4, 4, types[t][0], types[t][1], types[t][2]};
        bufs B = tu_conv_bufs_make(&d, 600 + t);
        run_all(e, &d, &B);
        const float h = 0.25f;
        for (size_t i = 0; i < B.nx; i++) {
            float keep = B.x[i];
            B.x[i] = keep + h;
            double lp = loss(e, &d, B.x, B.w, B.b, B.dy, B.y, B.ny);
            B.x[i] = keep - h;
            double lm = loss(e, &d, B.x, B.w, B.b, B.dy, B.y, B.ny);
            B.x[i] = keep;
            double fd = (lp - lm) / (2 * h);
            cr_assert(fabs(fd - B.dx[i]) <= 1e-3 * (1 + fabs(fd)),
                      "%s dx[%zu] k=%d s=%d: finite difference %.7g, backward %.7g",
                      difu_isa_name(isa), i, d.k, d.stride, fd, (double)B.dx[i]);
        }
        for (size_t i = 0; i < B.nw; i++) {
            float keep = B.w[i];
            B.w[i] = keep + h;
            double lp = loss(e, &d, B.x, B.w, B.b, B.dy, B.y, B.ny);
            B.w[i] = keep - h;
            double lm = loss(e, &d, B.x, B.w, B.b, B.dy, B.y, B.ny);
            B.w[i] = keep;
            double fd = (lp - lm) / (2 * h);
            cr_assert(fabs(fd - B.dw[i]) <= 1e-3 * (1 + fabs(fd)),
                      "%s dw[%zu] k=%d s=%d: finite difference %.7g, backward %.7g",
                      difu_isa_name(isa), i, d.k, d.stride, fd, (double)B.dw[i]);
        }
        for (int i = 0; i < d.cout; i++) {
            float keep = B.b[i];
            B.b[i] = keep + h;
            double lp = loss(e, &d, B.x, B.w, B.b, B.dy, B.y, B.ny);
            B.b[i] = keep - h;
            double lm = loss(e, &d, B.x, B.w, B.b, B.dy, B.y, B.ny);
            B.b[i] = keep;
            double fd = (lp - lm) / (2 * h);
            cr_assert(fabs(fd - B.db[i]) <= 1e-3 * (1 + fabs(fd)),
                      "%s db[%d]: finite difference %.7g, backward %.7g", difu_isa_name(isa), i,
                      fd, (double)B.db[i]);
        }
        tu_conv_bufs_free(&B);
    }
    difu_engine_destroy(e);
}

Test(conv2d, reference_backward_matches_finite_differences) { finite_differences(DIFU_ISA_REF); }

Test(conv2d, best_isa_backward_matches_finite_differences)
{
    finite_differences(DIFU_ISA_COUNT);
}

Test(conv2d, output_size_and_flops)
{
    difu_conv2d_desc d = {128, 64, 28, 28, 128, 3, 2, 1};
    cr_assert_eq(difu_conv2d_out_h(&d), 14);
    cr_assert_eq(difu_conv2d_out_w(&d), 14);
    cr_assert_float_eq(difu_conv2d_flops(&d), 2.0 * 128 * 128 * 14 * 14 * 64 * 9, 1.0);
    difu_conv2d_desc e1 = {1, 3, 7, 5, 2, 1, 1, 0};
    cr_assert_eq(difu_conv2d_out_h(&e1), 7);
    cr_assert_eq(difu_conv2d_out_w(&e1), 5);
}

static void expect(difu_engine *e, difu_status got, difu_status want, const char *a,
                   const char *b)
{
    const char *m = difu_engine_last_error(e);
    cr_assert_eq(got, want, "status %s, message: %s", difu_status_name(got), m);
    cr_assert(strstr(m, a) && (!b || strstr(m, b)), "message was: %s", m);
}

Test(conv2d, bad_arguments_give_messages)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    float buf[64] = {0};
    difu_conv2d_desc d = {1, 1, 4, 4, 1, 5, 1, 2};
    expect(e, difu_conv2d_forward(e, &d, buf, buf, NULL, buf), DIFU_ERR_UNSUPPORTED,
           "conv2d_forward", "k=5 stride=1 pad=2");
    d = (difu_conv2d_desc){1, 1, 4, 4, 1, 3, 3, 1};
    expect(e, difu_conv2d_backward_data(e, &d, buf, buf, buf), DIFU_ERR_UNSUPPORTED,
           "conv2d_backward_data", "stride=3");
    d = (difu_conv2d_desc){0, 1, 4, 4, 1, 3, 1, 1};
    expect(e, difu_conv2d_backward_weights(e, &d, buf, buf, buf, NULL), DIFU_ERR_INVALID_ARG,
           "conv2d_backward_weights", "n=0");
    d = (difu_conv2d_desc){1, 2, 4, -4, 1, 3, 1, 1};
    expect(e, difu_conv2d_forward(e, &d, buf, buf, NULL, buf), DIFU_ERR_INVALID_ARG, "w=-4",
           NULL);
    d = (difu_conv2d_desc){1, 1, 4, 4, 1, 3, 1, 1};
    expect(e, difu_conv2d_forward(e, &d, NULL, buf, NULL, buf), DIFU_ERR_INVALID_ARG,
           "conv2d_forward: NULL buffer", NULL);
    expect(e, difu_conv2d_backward_data(e, &d, buf, buf, NULL), DIFU_ERR_INVALID_ARG,
           "NULL buffer", NULL);
    expect(e, difu_conv2d_forward(e, NULL, buf, buf, NULL, buf), DIFU_ERR_INVALID_ARG,
           "descriptor is NULL", NULL);
    d = (difu_conv2d_desc){100000, 64, 1000, 1000, 64, 3, 1, 1};
    expect(e, difu_conv2d_forward(e, &d, buf, buf, NULL, buf), DIFU_ERR_INVALID_ARG,
           "too large", "n=100000");
    difu_engine_destroy(e);
}
