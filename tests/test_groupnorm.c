/* test_groupnorm.c: GroupNorm forward/backward (with and without fused SiLU): the reference
 * against a naive double formula, every ISA against the reference at 1 and 2 threads on tails
 * and odd shapes, bit-identical results for any thread count, the backward against finite
 * differences in double, a large-mean input, in-place use and rejected arguments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "difu.h"
#include "test_util.h"

typedef struct gn_data {
    difu_groupnorm_desc d;
    size_t numel, nstats;
    float *x, *gamma, *beta, *dy;
} gn_data;

typedef struct gn_out {
    float *y, *mean, *rstd, *dx, *dgamma, *dbeta;
} gn_out;

static gn_data gn_make(int n, int c, int hw, int groups, int fuse, uint64_t seed, float xlo,
                       float xhi)
{
    gn_data g;
    memset(&g, 0, sizeof g);
    g.d = (difu_groupnorm_desc){
        .n = n, .c = c, .hw = hw, .groups = groups, .eps = 1e-5f, .fuse_silu = fuse};
    g.numel = (size_t)n * c * hw;
    g.nstats = (size_t)n * groups;
    g.x = tu_alloc(g.numel);
    g.dy = tu_alloc(g.numel);
    g.gamma = tu_alloc(c);
    g.beta = tu_alloc(c);
    tu_fill_uniform(g.x, g.numel, seed, xlo, xhi);
    tu_fill_uniform(g.dy, g.numel, seed + 1, -1.0f, 1.0f);
    tu_fill_uniform(g.gamma, c, seed + 2, 0.5f, 1.5f);
    tu_fill_uniform(g.beta, c, seed + 3, -0.5f, 0.5f);
    return g;
}

static void gn_free(gn_data *g)
{
    tu_free(g->x);
    tu_free(g->dy);
    tu_free(g->gamma);
    tu_free(g->beta);
}

static gn_out out_make(const gn_data *g)
{
    gn_out o = {tu_alloc(g->numel), tu_alloc(g->nstats), tu_alloc(g->nstats),
                tu_alloc(g->numel), tu_alloc(g->d.c),    tu_alloc(g->d.c)};
    return o;
}

static void out_free(gn_out *o)
{
    tu_free(o->y);
    tu_free(o->mean);
    tu_free(o->rstd);
    tu_free(o->dx);
    tu_free(o->dgamma);
    tu_free(o->dbeta);
}

static difu_engine *engine_for(difu_isa isa, int threads)
{
    difu_engine *e = tu_engine(isa, threads);
    cr_assert_eq(difu_engine_kernel_isa(e, DIFU_SLOT_GROUPNORM_FWD), isa, "fwd kernel is %s",
                 difu_engine_kernel_name(e, DIFU_SLOT_GROUPNORM_FWD));
    cr_assert_eq(difu_engine_kernel_isa(e, DIFU_SLOT_GROUPNORM_BWD), isa, "bwd kernel is %s",
                 difu_engine_kernel_name(e, DIFU_SLOT_GROUPNORM_BWD));
    return e;
}

/* Forward, then backward with the statistics of that forward. */
static void gn_run(difu_isa isa, int threads, const gn_data *g, gn_out *o)
{
    difu_engine *e = engine_for(isa, threads);
    cr_assert_eq(difu_groupnorm_forward(e, &g->d, g->x, g->gamma, g->beta, o->y, o->mean, o->rstd),
                 DIFU_OK, "%s", difu_engine_last_error(e));
    cr_assert_eq(difu_groupnorm_backward(e, &g->d, g->x, g->gamma, g->beta, o->mean, o->rstd, g->dy,
                                         o->dx, o->dgamma, o->dbeta),
                 DIFU_OK, "%s", difu_engine_last_error(e));
    difu_engine_destroy(e);
}

/* The textbook formula in double: y = gamma * (x - mu) / sqrt(var + eps) + beta, var the biased
 * variance of the group; SiLU after when fused. Writes mu and 1/sqrt(var + eps) when asked. */
static void naive_forward(const difu_groupnorm_desc *d, const double *x, const double *gamma,
                          const double *beta, double *y, double *mu_out, double *rs_out)
{
    const int cpg = d->c / d->groups;
    for (int n = 0; n < d->n; n++)
        for (int g = 0; g < d->groups; g++) {
            double sum = 0, sq = 0;
            int count = 0;
            for (int c = g * cpg; c < (g + 1) * cpg; c++)
                for (int j = 0; j < d->hw; j++) {
                    sum += x[((size_t)n * d->c + c) * d->hw + j];
                    count++;
                }
            const double mu = sum / count;
            for (int c = g * cpg; c < (g + 1) * cpg; c++)
                for (int j = 0; j < d->hw; j++) {
                    double t = x[((size_t)n * d->c + c) * d->hw + j] - mu;
                    sq += t * t;
                }
            const double sd = sqrt(sq / count + d->eps);
            if (mu_out) {
                mu_out[n * d->groups + g] = mu;
                rs_out[n * d->groups + g] = 1.0 / sd;
            }
            for (int c = g * cpg; c < (g + 1) * cpg; c++)
                for (int j = 0; j < d->hw; j++) {
                    size_t i = ((size_t)n * d->c + c) * d->hw + j;
                    double h = gamma[c] * (x[i] - mu) / sd + beta[c];
                    y[i] = d->fuse_silu ? h / (1.0 + exp(-h)) : h;
                }
        }
}

static double *to_double(const float *a, size_t n)
{
    double *d = malloc(n * sizeof *d);
    cr_assert_not_null(d);
    for (size_t i = 0; i < n; i++)
        d[i] = a[i];
    return d;
}

static float *to_float(const double *a, size_t n)
{
    float *f = tu_alloc(n);
    for (size_t i = 0; i < n; i++)
        f[i] = (float)a[i];
    return f;
}

/* (A plain compare, not an fmax reduction: gcc 12's aarch64 vectorizer ICEs on that here.) */
static double max_abs(const float *a, size_t n)
{
    float m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabsf(a[i]) > m)
            m = fabsf(a[i]);
    return m;
}

typedef struct shape {
    int n, c, hw, groups;
} shape;

/* Tails (49, 17, 13, 1), channels per group 1, 2, 3, 4, 6, 12, 16, the model's 64 x 784. */
static const shape shapes[] = {
    {2, 32, 49, 8},   {1, 12, 196, 4},  {3, 6, 1, 2},  {2, 48, 17, 8},
    {1, 384, 49, 32}, {2, 64, 784, 32}, {1, 5, 13, 5}, {2, 16, 64, 1},
};
#define NSHAPES (int)(sizeof shapes / sizeof shapes[0])

Test(groupnorm, reference_matches_the_naive_formula)
{
    for (int s = 0; s < NSHAPES; s++)
        for (int fuse = 0; fuse < 2; fuse++) {
            const shape *sh = &shapes[s];
            gn_data g = gn_make(sh->n, sh->c, sh->hw, sh->groups, fuse, 100 + s, -2.0f, 3.0f);
            gn_out o = out_make(&g);
            gn_run(DIFU_ISA_REF, 1, &g, &o);
            double *xd = to_double(g.x, g.numel), *gd = to_double(g.gamma, sh->c);
            double *bd = to_double(g.beta, sh->c), *yd = malloc(g.numel * sizeof *yd);
            double *mu = malloc(g.nstats * sizeof *mu), *rs = malloc(g.nstats * sizeof *rs);
            naive_forward(&g.d, xd, gd, bd, yd, mu, rs);
            float *yf = to_float(yd, g.numel), *muf = to_float(mu, g.nstats);
            float *rsf = to_float(rs, g.nstats);
            char what[96];
            snprintf(what, sizeof what, "ref y [%d,%d,%d] G=%d silu=%d", sh->n, sh->c, sh->hw,
                     sh->groups, fuse);
            tu_assert_close(what, o.y, yf, g.numel, 1e-5, 1e-5);
            tu_assert_close("ref mean", o.mean, muf, g.nstats, 1e-6, 1e-6);
            tu_assert_close("ref rstd", o.rstd, rsf, g.nstats, 0, 1e-6);
            free(xd), free(gd), free(bd), free(yd), free(mu), free(rs);
            tu_free(yf), tu_free(muf), tu_free(rsf);
            out_free(&o);
            gn_free(&g);
        }
}

static void compare_outputs(const char *tag, const gn_data *g, const gn_out *got,
                            const gn_out *want)
{
    char what[128];
    const size_t c = (size_t)g->d.c;
    snprintf(what, sizeof what, "%s y", tag);
    tu_assert_close(what, got->y, want->y, g->numel, 1e-5, 1e-4);
    snprintf(what, sizeof what, "%s mean", tag);
    tu_assert_close(what, got->mean, want->mean, g->nstats, 1e-6, 1e-5);
    snprintf(what, sizeof what, "%s rstd", tag);
    tu_assert_close(what, got->rstd, want->rstd, g->nstats, 0, 1e-5);
    snprintf(what, sizeof what, "%s dx", tag);
    tu_assert_close(what, got->dx, want->dx, g->numel, 2e-5 * max_abs(want->dx, g->numel), 1e-4);
    snprintf(what, sizeof what, "%s dgamma", tag);
    tu_assert_close(what, got->dgamma, want->dgamma, c, 2e-5 * max_abs(want->dgamma, c), 1e-4);
    snprintf(what, sizeof what, "%s dbeta", tag);
    tu_assert_close(what, got->dbeta, want->dbeta, c, 2e-5 * max_abs(want->dbeta, c), 1e-4);
}

Test(groupnorm, every_isa_matches_the_reference_at_1_and_2_threads)
{
    difu_isa isas[DIFU_ISA_COUNT];
    int nisa = tu_runnable_isas(isas);
    for (int s = 0; s < NSHAPES; s++)
        for (int fuse = 0; fuse < 2; fuse++) {
            const shape *sh = &shapes[s];
            gn_data g = gn_make(sh->n, sh->c, sh->hw, sh->groups, fuse, 200 + s, -2.0f, 3.0f);
            gn_out want = out_make(&g);
            gn_run(DIFU_ISA_REF, 1, &g, &want);
            for (int i = 0; i < nisa; i++)
                for (int threads = 1; threads <= 2; threads++) {
                    gn_out got = out_make(&g);
                    gn_run(isas[i], threads, &g, &got);
                    char tag[96];
                    snprintf(tag, sizeof tag, "%s x%d [%d,%d,%d] G=%d silu=%d",
                             difu_isa_name(isas[i]), threads, sh->n, sh->c, sh->hw, sh->groups,
                             fuse);
                    compare_outputs(tag, &g, &got, &want);
                    out_free(&got);
                }
            out_free(&want);
            gn_free(&g);
        }
}

Test(groupnorm, results_are_bit_identical_for_any_thread_count)
{
    static const shape cases[] = {{4, 64, 49, 8}, {3, 24, 17, 8}, {5, 96, 7, 32}};
    difu_isa isas[DIFU_ISA_COUNT];
    int nisa = tu_runnable_isas(isas);
    for (int s = 0; s < 3; s++)
        for (int fuse = 0; fuse < 2; fuse++)
            for (int i = 0; i < nisa; i++) {
                gn_data g = gn_make(cases[s].n, cases[s].c, cases[s].hw, cases[s].groups, fuse,
                                    300 + s, -1.0f, 2.0f);
                gn_out one = out_make(&g);
                gn_run(isas[i], 1, &g, &one);
                for (int threads = 2; threads <= 3; threads++) {
                    gn_out many = out_make(&g);
                    gn_run(isas[i], threads, &g, &many);
                    const char *isa = difu_isa_name(isas[i]);
                    cr_assert(!memcmp(one.y, many.y, g.numel * 4), "%s y differs at %d threads",
                              isa, threads);
                    cr_assert(!memcmp(one.mean, many.mean, g.nstats * 4), "%s mean differs", isa);
                    cr_assert(!memcmp(one.rstd, many.rstd, g.nstats * 4), "%s rstd differs", isa);
                    cr_assert(!memcmp(one.dx, many.dx, g.numel * 4), "%s dx differs at %d threads",
                              isa, threads);
                    cr_assert(!memcmp(one.dgamma, many.dgamma, (size_t)g.d.c * 4),
                              "%s dgamma differs at %d threads", isa, threads);
                    cr_assert(!memcmp(one.dbeta, many.dbeta, (size_t)g.d.c * 4),
                              "%s dbeta differs at %d threads", isa, threads);
                    out_free(&many);
                }
                out_free(&one);
                gn_free(&g);
            }
}

/* L = sum(dy * y(x, gamma, beta)) with the naive double forward; central differences. */
static double naive_loss(const gn_data *g, const double *x, const double *gamma, const double *beta,
                         double *ybuf)
{
    naive_forward(&g->d, x, gamma, beta, ybuf, NULL, NULL);
    double l = 0;
    for (size_t i = 0; i < g->numel; i++)
        l += g->dy[i] * ybuf[i];
    return l;
}

static float *finite_diff(const gn_data *g, double *v, size_t n, double *x, double *gamma,
                          double *beta, double h)
{
    double *ybuf = malloc(g->numel * sizeof *ybuf);
    float *grad = tu_alloc(n);
    for (size_t i = 0; i < n; i++) {
        const double keep = v[i];
        v[i] = keep + h;
        double lp = naive_loss(g, x, gamma, beta, ybuf);
        v[i] = keep - h;
        double lm = naive_loss(g, x, gamma, beta, ybuf);
        v[i] = keep;
        grad[i] = (float)((lp - lm) / (2 * h));
    }
    free(ybuf);
    return grad;
}

static void check_backward_against_fd(const gn_data *g, double h, double tol)
{
    double *xd = to_double(g->x, g->numel), *gd = to_double(g->gamma, g->d.c);
    double *bd = to_double(g->beta, g->d.c);
    float *fdx = finite_diff(g, xd, g->numel, xd, gd, bd, h);
    float *fdg = finite_diff(g, gd, g->d.c, xd, gd, bd, 1e-6);
    float *fdb = finite_diff(g, bd, g->d.c, xd, gd, bd, 1e-6);
    difu_isa isas[DIFU_ISA_COUNT];
    int nisa = tu_runnable_isas(isas);
    for (int i = 0; i < nisa; i++) {
        gn_out o = out_make(g);
        gn_run(isas[i], 2, g, &o);
        char what[96];
        snprintf(what, sizeof what, "%s silu=%d dx vs finite differences", difu_isa_name(isas[i]),
                 g->d.fuse_silu);
        tu_assert_close(what, o.dx, fdx, g->numel, tol * max_abs(fdx, g->numel), tol);
        snprintf(what, sizeof what, "%s silu=%d dgamma vs finite differences",
                 difu_isa_name(isas[i]), g->d.fuse_silu);
        tu_assert_close(what, o.dgamma, fdg, g->d.c, tol * max_abs(fdg, g->d.c), tol);
        snprintf(what, sizeof what, "%s silu=%d dbeta vs finite differences",
                 difu_isa_name(isas[i]), g->d.fuse_silu);
        tu_assert_close(what, o.dbeta, fdb, g->d.c, tol * max_abs(fdb, g->d.c), tol);
        out_free(&o);
    }
    free(xd), free(gd), free(bd);
    tu_free(fdx), tu_free(fdg), tu_free(fdb);
}

Test(groupnorm, backward_matches_finite_differences)
{
    for (int fuse = 0; fuse < 2; fuse++) {
        gn_data a = gn_make(2, 6, 5, 3, fuse, 400, -2.0f, 2.0f); /* 2 channels per group */
        check_backward_against_fd(&a, 1e-5, 1e-4);
        gn_free(&a);
        gn_data b = gn_make(3, 8, 11, 2, fuse, 401, -1.0f, 3.0f); /* 4 channels, tail of 11 */
        check_backward_against_fd(&b, 1e-5, 1e-4);
        gn_free(&b);
    }
}

/* 1000 + small noise: a one-pass E[x^2] - E[x]^2 in float loses every digit of the variance. */
static gn_data large_mean_data(int fuse)
{
    gn_data g = gn_make(2, 32, 49, 8, fuse, 500, -0.05f, 0.05f);
    for (size_t i = 0; i < g.numel; i++)
        g.x[i] += 1000.0f;
    return g;
}

Test(groupnorm, large_mean_input_keeps_its_variance)
{
    difu_isa isas[DIFU_ISA_COUNT];
    int nisa = tu_runnable_isas(isas);
    for (int fuse = 0; fuse < 2; fuse++) {
        gn_data g = large_mean_data(fuse);
        double *xd = to_double(g.x, g.numel), *gd = to_double(g.gamma, g.d.c);
        double *bd = to_double(g.beta, g.d.c), *yd = malloc(g.numel * sizeof *yd);
        double *mu = malloc(g.nstats * sizeof *mu), *rs = malloc(g.nstats * sizeof *rs);
        naive_forward(&g.d, xd, gd, bd, yd, mu, rs);
        float *yf = to_float(yd, g.numel), *rsf = to_float(rs, g.nstats);
        for (int i = 0; i < nisa; i++)
            for (int threads = 1; threads <= 2; threads++) {
                gn_out o = out_make(&g);
                gn_run(isas[i], threads, &g, &o);
                char what[96];
                snprintf(what, sizeof what, "%s x%d large-mean rstd", difu_isa_name(isas[i]),
                         threads);
                tu_assert_close(what, o.rstd, rsf, g.nstats, 0, 1e-4);
                /* The float mean (ulp 6e-5 at 1000) bounds y's accuracy to ~1e-3 of a std. */
                snprintf(what, sizeof what, "%s x%d large-mean y silu=%d", difu_isa_name(isas[i]),
                         threads, fuse);
                tu_assert_close(what, o.y, yf, g.numel, 5e-3, 1e-3);
                out_free(&o);
            }
        free(xd), free(gd), free(bd), free(yd), free(mu), free(rs);
        tu_free(yf), tu_free(rsf);
        gn_free(&g);
    }
}

Test(groupnorm, large_mean_backward_matches_finite_differences)
{
    for (int fuse = 0; fuse < 2; fuse++) {
        gn_data g = gn_make(1, 4, 9, 2, fuse, 600, -0.05f, 0.05f);
        for (size_t i = 0; i < g.numel; i++)
            g.x[i] += 1000.0f;
        check_backward_against_fd(&g, 1e-6, 1e-2);
        gn_free(&g);
    }
}

Test(groupnorm, in_place_and_optional_gradients_give_the_same_results)
{
    difu_isa isas[DIFU_ISA_COUNT];
    int nisa = tu_runnable_isas(isas);
    for (int i = 0; i < nisa; i++)
        for (int fuse = 0; fuse < 2; fuse++) {
            gn_data g = gn_make(2, 24, 49, 8, fuse, 700, -1.0f, 1.0f);
            gn_out o = out_make(&g);
            gn_run(isas[i], 2, &g, &o);
            difu_engine *e = engine_for(isas[i], 2);
            float *buf = tu_alloc(g.numel), *st = tu_alloc(2 * g.nstats);
            memcpy(buf, g.x, g.numel * 4);
            cr_assert_eq(
                difu_groupnorm_forward(e, &g.d, buf, g.gamma, g.beta, buf, st, st + g.nstats),
                DIFU_OK);
            cr_assert(!memcmp(buf, o.y, g.numel * 4), "%s in-place forward differs",
                      difu_isa_name(isas[i]));
            memcpy(buf, g.dy, g.numel * 4);
            cr_assert_eq(difu_groupnorm_backward(e, &g.d, g.x, g.gamma, g.beta, o.mean, o.rstd, buf,
                                                 buf, NULL, NULL),
                         DIFU_OK);
            cr_assert(!memcmp(buf, o.dx, g.numel * 4), "%s in-place backward differs",
                      difu_isa_name(isas[i]));
            difu_engine_destroy(e);
            tu_free(buf), tu_free(st);
            out_free(&o);
            gn_free(&g);
        }
}

static void expect_error(difu_engine *e, difu_status got, const char *a, const char *b)
{
    const char *msg = difu_engine_last_error(e);
    cr_assert_eq(got, DIFU_ERR_INVALID_ARG, "status %d, message: %s", got, msg);
    cr_assert(strstr(msg, a) && strstr(msg, b), "message '%s' should name '%s' and '%s'", msg, a,
              b);
}

Test(groupnorm, bad_arguments_are_rejected_with_a_message)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    gn_data g = gn_make(1, 8, 4, 2, 0, 800, -1.0f, 1.0f);
    gn_out o = out_make(&g);
    difu_groupnorm_desc d = g.d;
    d.c = 10;
    d.groups = 4;
    expect_error(e, difu_groupnorm_forward(e, &d, g.x, g.gamma, g.beta, o.y, o.mean, o.rstd),
                 "groupnorm_forward", "4 groups do not divide 10 channels");
    expect_error(e,
                 difu_groupnorm_backward(e, &d, g.x, g.gamma, g.beta, o.mean, o.rstd, g.dy, o.dx,
                                         NULL, NULL),
                 "groupnorm_backward", "4 groups do not divide 10 channels");
    const float bad_eps[] = {0.0f, -1e-5f, NAN, INFINITY};
    for (int i = 0; i < 4; i++) {
        d = g.d;
        d.eps = bad_eps[i];
        expect_error(e, difu_groupnorm_forward(e, &d, g.x, g.gamma, g.beta, o.y, o.mean, o.rstd),
                     "groupnorm_forward", "eps");
    }
    d = g.d;
    d.hw = 0;
    expect_error(e, difu_groupnorm_forward(e, &d, g.x, g.gamma, g.beta, o.y, o.mean, o.rstd),
                 "groupnorm_forward", "hw=0");
    d = g.d;
    d.groups = -2;
    expect_error(e,
                 difu_groupnorm_backward(e, &d, g.x, g.gamma, g.beta, o.mean, o.rstd, g.dy, o.dx,
                                         NULL, NULL),
                 "groupnorm_backward", "groups=-2");
    expect_error(e, difu_groupnorm_forward(e, &g.d, NULL, g.gamma, g.beta, o.y, o.mean, o.rstd),
                 "groupnorm_forward", "NULL");
    expect_error(e,
                 difu_groupnorm_backward(e, &g.d, g.x, g.gamma, g.beta, o.mean, NULL, g.dy, o.dx,
                                         NULL, NULL),
                 "groupnorm_backward", "NULL");
    expect_error(e, difu_groupnorm_forward(e, NULL, g.x, g.gamma, g.beta, o.y, o.mean, o.rstd),
                 "groupnorm_forward", "descriptor");
    out_free(&o);
    gn_free(&g);
    difu_engine_destroy(e);
}

Test(groupnorm, dispatch_names_the_chosen_kernels)
{
    difu_isa isas[DIFU_ISA_COUNT];
    int nisa = tu_runnable_isas(isas);
    for (int i = 0; i < nisa; i++) {
        difu_engine *e = engine_for(isas[i], 1);
        char want[64];
        snprintf(want, sizeof want, "groupnorm_fwd_%s", difu_isa_name(isas[i]));
        cr_assert_str_eq(difu_engine_kernel_name(e, DIFU_SLOT_GROUPNORM_FWD), want);
        snprintf(want, sizeof want, "groupnorm_bwd_%s", difu_isa_name(isas[i]));
        cr_assert_str_eq(difu_engine_kernel_name(e, DIFU_SLOT_GROUPNORM_BWD), want);
        difu_engine_destroy(e);
    }
}
