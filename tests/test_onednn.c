/* test_onednn.c: the oneDNN convolution backend (engine/onednn_conv.c) against a naive
 * convolution written here in double: forward (with and without bias), backward-data,
 * backward-weights and the bias gradient; its primitive cache; thread-count handling; bad
 * arguments; and the timing / implementation-name helpers the benchmark uses. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <omp.h>

#include "difu.h"
#include "onednn_conv.h"
#include "test_util.h"

/* ---------------------------------------------------------------- naive convolution (double) */

static int out_dim(int in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }

/* x [n,cin,h,w], w [cout,cin,k,k] -> y [n,cout,oh,ow]; bias may be NULL. */
static void naive_forward(const difu_conv2d_desc *d, const float *x, const float *w,
                          const float *bias, float *y)
{
    int oh = out_dim(d->h, d->k, d->stride, d->pad), ow = out_dim(d->w, d->k, d->stride, d->pad);
    for (int b = 0; b < d->n; b++)
        for (int co = 0; co < d->cout; co++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++) {
                    double acc = bias ? bias[co] : 0.0;
                    for (int ci = 0; ci < d->cin; ci++)
                        for (int u = 0; u < d->k; u++)
                            for (int v = 0; v < d->k; v++) {
                                int r = i * d->stride - d->pad + u, c = j * d->stride - d->pad + v;
                                if (r < 0 || r >= d->h || c < 0 || c >= d->w)
                                    continue;
                                acc += (double)x[((b * d->cin + ci) * d->h + r) * d->w + c] *
                                       w[((co * d->cin + ci) * d->k + u) * d->k + v];
                            }
                    y[((b * d->cout + co) * oh + i) * ow + j] = (float)acc;
                }
}

/* dx[b,ci,r,c] = sum over (co,u,v) with r = i*s - p + u, c = j*s - p + v of dy[b,co,i,j]
 * w[co,ci,u,v]. Written as a gather over input positions, independently of the forward's loop
 * order. */
static void naive_backward_data(const difu_conv2d_desc *d, const float *dy, const float *w,
                                float *dx)
{
    int oh = out_dim(d->h, d->k, d->stride, d->pad), ow = out_dim(d->w, d->k, d->stride, d->pad);
    for (int b = 0; b < d->n; b++)
        for (int ci = 0; ci < d->cin; ci++)
            for (int r = 0; r < d->h; r++)
                for (int c = 0; c < d->w; c++) {
                    double acc = 0;
                    for (int co = 0; co < d->cout; co++)
                        for (int u = 0; u < d->k; u++)
                            for (int v = 0; v < d->k; v++) {
                                int ti = r + d->pad - u, tj = c + d->pad - v;
                                if (ti < 0 || tj < 0 || ti % d->stride || tj % d->stride)
                                    continue;
                                int i = ti / d->stride, j = tj / d->stride;
                                if (i >= oh || j >= ow)
                                    continue;
                                acc += (double)dy[((b * d->cout + co) * oh + i) * ow + j] *
                                       w[((co * d->cin + ci) * d->k + u) * d->k + v];
                            }
                    dx[((b * d->cin + ci) * d->h + r) * d->w + c] = (float)acc;
                }
}

/* dw[co,ci,u,v] = sum over (b,i,j) of dy[b,co,i,j] x[b,ci,i*s-p+u,j*s-p+v]; db[co] = sum of dy. */
static void naive_backward_weights(const difu_conv2d_desc *d, const float *x, const float *dy,
                                   float *dw, float *db)
{
    int oh = out_dim(d->h, d->k, d->stride, d->pad), ow = out_dim(d->w, d->k, d->stride, d->pad);
    for (int co = 0; co < d->cout; co++) {
        double bsum = 0;
        for (int b = 0; b < d->n; b++)
            for (int i = 0; i < oh * ow; i++)
                bsum += dy[(b * d->cout + co) * oh * ow + i];
        db[co] = (float)bsum;
        for (int ci = 0; ci < d->cin; ci++)
            for (int u = 0; u < d->k; u++)
                for (int v = 0; v < d->k; v++) {
                    double acc = 0;
                    for (int b = 0; b < d->n; b++)
                        for (int i = 0; i < oh; i++)
                            for (int j = 0; j < ow; j++) {
                                int r = i * d->stride - d->pad + u, c = j * d->stride - d->pad + v;
                                if (r < 0 || r >= d->h || c < 0 || c >= d->w)
                                    continue;
                                acc += (double)dy[((b * d->cout + co) * oh + i) * ow + j] *
                                       x[((b * d->cin + ci) * d->h + r) * d->w + c];
                            }
                    dw[((co * d->cin + ci) * d->k + u) * d->k + v] = (float)acc;
                }
    }
}

/* ---------------------------------------------------------------- fixtures */

static difu_engine *onednn_engine(int threads)
{
    difu_engine_params p = difu_engine_params_default();
    p.threads = threads;
    p.conv_backend = DIFU_CONV_ONEDNN;
    p.honor_env = 0;
    difu_engine *e = NULL;
    char err[256] = "";
    cr_assert_eq(difu_engine_create(&p, &e, err, sizeof err), DIFU_OK, "engine: %s", err);
    return e;
}

static void skip_without_onednn(void)
{
    if (!difu_onednn_available())
        cr_skip_test("this build has no oneDNN");
}

/* Odd primes, size 1, stride 2, 1x1, batch 1..3, cin=3 cout=5, h=w=7 and 13, and channel counts
 * that fill and overflow oneDNN's 8- and 16-channel blocks. */
static const difu_conv2d_desc shapes[] = {
    {1, 3, 7, 7, 5, 3, 1, 1},   {2, 3, 13, 13, 5, 3, 1, 1}, {3, 3, 7, 7, 5, 3, 2, 1},
    {2, 3, 13, 13, 5, 3, 2, 1}, {3, 3, 7, 7, 5, 1, 1, 0},   {1, 3, 13, 13, 5, 1, 1, 0},
    {1, 1, 1, 1, 1, 3, 1, 1},   {2, 1, 1, 1, 1, 3, 2, 1},   {1, 1, 1, 1, 1, 1, 1, 0},
    {2, 5, 13, 7, 3, 3, 2, 1},  {3, 7, 2, 11, 11, 3, 2, 1}, {1, 16, 8, 8, 16, 3, 1, 1},
    {2, 17, 7, 7, 19, 3, 2, 1}, {2, 32, 6, 6, 48, 1, 1, 0}, {1, 13, 5, 3, 31, 3, 1, 1},
};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))

typedef struct bufs {
    size_t nx, nw, ny;
    float *x, *w, *b, *y, *want, *want_b, *got_b;
} bufs;

static bufs bufs_make(const difu_conv2d_desc *d, uint64_t seed)
{
    bufs t;
    int oh = out_dim(d->h, d->k, d->stride, d->pad), ow = out_dim(d->w, d->k, d->stride, d->pad);
    t.nx = (size_t)d->n * d->cin * d->h * d->w;
    t.nw = (size_t)d->cout * d->cin * d->k * d->k;
    t.ny = (size_t)d->n * d->cout * oh * ow;
    size_t most = t.nx > t.nw ? t.nx : t.nw;
    most = most > t.ny ? most : t.ny;
    t.x = tu_alloc(t.nx);
    t.w = tu_alloc(t.nw);
    t.b = tu_alloc((size_t)d->cout);
    t.y = tu_alloc(t.ny);
    t.want = tu_alloc(most);
    t.want_b = tu_alloc((size_t)d->cout);
    t.got_b = tu_alloc((size_t)d->cout);
    tu_fill_uniform(t.x, t.nx, seed, -1, 1);
    tu_fill_uniform(t.w, t.nw, seed + 1, -1, 1);
    tu_fill_uniform(t.b, (size_t)d->cout, seed + 2, -1, 1);
    tu_fill_uniform(t.y, t.ny, seed + 3, -1, 1);
    return t;
}

static void bufs_free(bufs *t)
{
    tu_free(t->x);
    tu_free(t->w);
    tu_free(t->b);
    tu_free(t->y);
    tu_free(t->want);
    tu_free(t->want_b);
    tu_free(t->got_b);
}

static float *nan_filled(size_t n)
{
    float *p = tu_alloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = NAN; /* every element must be overwritten */
    return p;
}

static void shape_name(char *buf, size_t len, const char *op, const difu_conv2d_desc *d, int th)
{
    snprintf(buf, len, "%s n=%d cin=%d h=%d w=%d cout=%d k=%d s=%d p=%d threads=%d", op, d->n,
             d->cin, d->h, d->w, d->cout, d->k, d->stride, d->pad, th);
}

#define ATOL 2e-5
#define RTOL 1e-4

/* ---------------------------------------------------------------- numerics */

Test(onednn, forward_matches_naive_with_and_without_bias)
{
    skip_without_onednn();
    for (int th = 1; th <= 2; th++) {
        difu_engine *e = onednn_engine(th);
        for (int i = 0; i < N_SHAPES; i++) {
            const difu_conv2d_desc *d = &shapes[i];
            bufs t = bufs_make(d, 100 + (uint64_t)i);
            char what[160];
            for (int with_bias = 0; with_bias <= 1; with_bias++) {
                const float *bias = with_bias ? t.b : NULL;
                float *got = nan_filled(t.ny);
                shape_name(what, sizeof what, with_bias ? "forward+bias" : "forward", d, th);
                cr_assert_eq(difu_onednn_conv2d_forward(e, d, t.x, t.w, bias, got), DIFU_OK,
                             "%s: %s", what, difu_engine_last_error(e));
                naive_forward(d, t.x, t.w, bias, t.want);
                tu_assert_close(what, got, t.want, t.ny, ATOL * d->cin * d->k * d->k, RTOL);
                tu_free(got);
            }
            bufs_free(&t);
        }
        difu_engine_destroy(e);
    }
}

Test(onednn, backward_data_matches_naive)
{
    skip_without_onednn();
    for (int th = 1; th <= 2; th++) {
        difu_engine *e = onednn_engine(th);
        for (int i = 0; i < N_SHAPES; i++) {
            const difu_conv2d_desc *d = &shapes[i];
            bufs t = bufs_make(d, 200 + (uint64_t)i);
            char what[160];
            shape_name(what, sizeof what, "backward_data", d, th);
            float *got = nan_filled(t.nx);
            cr_assert_eq(difu_onednn_conv2d_backward_data(e, d, t.y, t.w, got), DIFU_OK, "%s: %s",
                         what, difu_engine_last_error(e));
            naive_backward_data(d, t.y, t.w, t.want);
            tu_assert_close(what, got, t.want, t.nx, ATOL * d->cout * d->k * d->k, RTOL);
            tu_free(got);
            bufs_free(&t);
        }
        difu_engine_destroy(e);
    }
}

Test(onednn, backward_weights_and_bias_grad_match_naive)
{
    skip_without_onednn();
    for (int th = 1; th <= 2; th++) {
        difu_engine *e = onednn_engine(th);
        for (int i = 0; i < N_SHAPES; i++) {
            const difu_conv2d_desc *d = &shapes[i];
            bufs t = bufs_make(d, 300 + (uint64_t)i);
            int terms = d->n * out_dim(d->h, d->k, d->stride, d->pad) *
                        out_dim(d->w, d->k, d->stride, d->pad);
            char what[160];
            naive_backward_weights(d, t.x, t.y, t.want, t.want_b);
            for (int with_bias = 0; with_bias <= 1; with_bias++) {
                float *got = nan_filled(t.nw);
                float *got_b = with_bias ? nan_filled((size_t)d->cout) : NULL;
                shape_name(what, sizeof what,
                           with_bias ? "backward_weights+dbias" : "backward_weights", d, th);
                cr_assert_eq(difu_onednn_conv2d_backward_weights(e, d, t.x, t.y, got, got_b),
                             DIFU_OK, "%s: %s", what, difu_engine_last_error(e));
                tu_assert_close(what, got, t.want, t.nw, ATOL * terms, RTOL);
                if (with_bias) {
                    shape_name(what, sizeof what, "dbias", d, th);
                    tu_assert_close(what, got_b, t.want_b, (size_t)d->cout, ATOL * terms, RTOL);
                    tu_free(got_b);
                }
                tu_free(got);
            }
            bufs_free(&t);
        }
        difu_engine_destroy(e);
    }
}

/* An engine with conv_backend = ONEDNN, through the public difu_conv2d_* ops, gives the native
 * engine's answers (every ISA this machine runs, 1 and 2 threads). */
Test(onednn, public_ops_match_the_native_engine)
{
    skip_without_onednn();
    difu_isa isas[DIFU_ISA_COUNT];
    int n_isas = tu_runnable_isas(isas);
    for (int th = 1; th <= 2; th++) {
        difu_engine *one = onednn_engine(th);
        for (int ii = 0; ii < n_isas; ii++) {
            difu_engine *nat = tu_engine(isas[ii], th);
            for (int i = 0; i < N_SHAPES; i++) {
                const difu_conv2d_desc *d = &shapes[i];
                bufs t = bufs_make(d, 400 + (uint64_t)i);
                int terms = d->n * out_dim(d->h, d->k, d->stride, d->pad) *
                            out_dim(d->w, d->k, d->stride, d->pad);
                char what[200];
                float *a = nan_filled(t.ny), *b = nan_filled(t.ny);
                cr_assert_eq(difu_conv2d_forward(one, d, t.x, t.w, t.b, a), DIFU_OK, "%s",
                             difu_engine_last_error(one));
                cr_assert_eq(difu_conv2d_forward(nat, d, t.x, t.w, t.b, b), DIFU_OK, "%s",
                             difu_engine_last_error(nat));
                shape_name(what, sizeof what, "onednn vs native forward", d, th);
                tu_assert_close(what, a, b, t.ny, 2 * ATOL * d->cin * d->k * d->k, 2 * RTOL);
                tu_free(a);
                tu_free(b);
                a = nan_filled(t.nx);
                b = nan_filled(t.nx);
                cr_assert_eq(difu_conv2d_backward_data(one, d, t.y, t.w, a), DIFU_OK);
                cr_assert_eq(difu_conv2d_backward_data(nat, d, t.y, t.w, b), DIFU_OK, "%s",
                             difu_engine_last_error(nat));
                shape_name(what, sizeof what, "onednn vs native backward_data", d, th);
                tu_assert_close(what, a, b, t.nx, 2 * ATOL * d->cout * d->k * d->k, 2 * RTOL);
                tu_free(a);
                tu_free(b);
                a = nan_filled(t.nw);
                b = nan_filled(t.nw);
                cr_assert_eq(difu_conv2d_backward_weights(one, d, t.x, t.y, a, t.got_b), DIFU_OK);
                cr_assert_eq(difu_conv2d_backward_weights(nat, d, t.x, t.y, b, t.want_b), DIFU_OK,
                             "%s", difu_engine_last_error(nat));
                shape_name(what, sizeof what, "onednn vs native backward_weights", d, th);
                tu_assert_close(what, a, b, t.nw, 2 * ATOL * terms, 2 * RTOL);
                shape_name(what, sizeof what, "onednn vs native dbias", d, th);
                tu_assert_close(what, t.got_b, t.want_b, (size_t)d->cout, 2 * ATOL * terms,
                                2 * RTOL);
                tu_free(a);
                tu_free(b);
                bufs_free(&t);
            }
            difu_engine_destroy(nat);
        }
        /* The ONEDNN engine really ran oneDNN: 3 ops per shape, all distinct problems. */
        cr_assert_eq(difu_onednn_cache_size(one), 3 * N_SHAPES);
        difu_engine_destroy(one);
    }
}

/* The naive oracle must itself be right: a hand-computed 1-channel 3x3 case. */
Test(onednn, naive_oracle_hand_case)
{
    difu_conv2d_desc d = {1, 1, 2, 2, 1, 3, 1, 1};
    float x[4] = {1, 2, 3, 4}, w[9] = {0, 0, 0, 0, 1, 2, 0, 3, 0}, b[1] = {0.5f}, y[4];
    /* y[i,j] = x[i,j] + 2 x[i,j+1] + 3 x[i+1,j] + 0.5 */
    naive_forward(&d, x, w, b, y);
    float want[4] = {1 + 4 + 9 + 0.5f, 2 + 12 + 0.5f, 3 + 8 + 0.5f, 4 + 0.5f};
    tu_assert_close("naive forward", y, want, 4, 0, 1e-6);
}

/* ---------------------------------------------------------------- cache, threads, names */

Test(onednn, cache_reuses_an_entry_per_problem)
{
    skip_without_onednn();
    difu_engine *e = onednn_engine(1);
    difu_conv2d_desc a = {1, 3, 7, 7, 5, 3, 1, 1}, b = {1, 3, 7, 7, 5, 3, 2, 1};
    bufs t = bufs_make(&a, 7);
    float *y = tu_alloc(t.ny);
    cr_assert_eq(difu_onednn_cache_size(e), 0);
    cr_assert_eq(difu_onednn_conv2d_forward(e, &a, t.x, t.w, t.b, y), DIFU_OK);
    uint64_t id_a = difu_onednn_cache_last_id(e);
    cr_assert_eq(difu_onednn_cache_size(e), 1);
    cr_assert_eq(difu_onednn_conv2d_forward(e, &a, t.x, t.w, t.b, y), DIFU_OK);
    cr_assert_eq(difu_onednn_cache_size(e), 1, "the same problem made a new entry");
    cr_assert_eq(difu_onednn_cache_last_id(e), id_a);
    cr_assert_eq(difu_onednn_conv2d_forward(e, &b, t.x, t.w, t.b, y), DIFU_OK);
    cr_assert_eq(difu_onednn_cache_size(e), 2);
    cr_assert_neq(difu_onednn_cache_last_id(e), id_a, "another shape reused the entry");
    /* No bias is another primitive; so is another op on the same shape. */
    cr_assert_eq(difu_onednn_conv2d_forward(e, &a, t.x, t.w, NULL, y), DIFU_OK);
    cr_assert_eq(difu_onednn_cache_size(e), 3);
    cr_assert_eq(difu_onednn_conv2d_backward_data(e, &a, y, t.w, t.x), DIFU_OK);
    cr_assert_eq(difu_onednn_cache_size(e), 4);
    cr_assert_eq(difu_onednn_conv2d_forward(e, &a, t.x, t.w, t.b, y), DIFU_OK);
    cr_assert_eq(difu_onednn_cache_last_id(e), id_a);
    tu_free(y);
    bufs_free(&t);
    difu_engine_destroy(e);
}

Test(onednn, cache_is_bounded_and_evicts_the_least_recently_used)
{
    skip_without_onednn();
    difu_engine *e = onednn_engine(1);
    int cap = difu_onednn_cache_capacity();
    cr_assert_geq(cap, 65, "fmnist-s training needs 65 entries, the cap is %d", cap);
    float *x = malloc(sizeof(float) * (size_t)(cap + 4)), w[1] = {2}, *y = malloc(sizeof(float) * (size_t)(cap + 4));
    for (int i = 0; i < cap + 4; i++)
        x[i] = (float)i;
    difu_conv2d_desc first = {1, 1, 1, 1, 1, 1, 1, 0};
    cr_assert_eq(difu_onednn_conv2d_forward(e, &first, x, w, NULL, y), DIFU_OK);
    uint64_t first_id = difu_onednn_cache_last_id(e);
    difu_conv2d_desc hot = {1, 1, 1, 2, 1, 1, 1, 0};
    cr_assert_eq(difu_onednn_conv2d_forward(e, &hot, x, w, NULL, y), DIFU_OK);
    uint64_t hot_id = difu_onednn_cache_last_id(e);
    for (int wd = 3; wd <= cap + 2; wd++) { /* cap more problems; `hot` is kept in use */
        difu_conv2d_desc d = {1, 1, 1, wd, 1, 1, 1, 0};
        cr_assert_eq(difu_onednn_conv2d_forward(e, &d, x, w, NULL, y), DIFU_OK, "w=%d: %s", wd,
                     difu_engine_last_error(e));
        cr_assert_eq(y[wd - 1], 2.0f * (float)(wd - 1));
        cr_assert_eq(difu_onednn_conv2d_forward(e, &hot, x, w, NULL, y), DIFU_OK);
        cr_assert_eq(difu_onednn_cache_last_id(e), hot_id, "w=%d evicted the hot entry", wd);
        cr_assert_leq(difu_onednn_cache_size(e), cap);
    }
    cr_assert_eq(difu_onednn_cache_size(e), cap);
    cr_assert_eq(difu_onednn_conv2d_forward(e, &first, x, w, NULL, y), DIFU_OK);
    cr_assert_neq(difu_onednn_cache_last_id(e), first_id, "the oldest entry was not evicted");
    cr_assert_eq(y[0], 0.0f);
    free(x);
    free(y);
    difu_engine_destroy(e);
}

Test(onednn, caller_thread_count_is_restored)
{
    skip_without_onednn();
    int before = omp_get_max_threads();
    omp_set_num_threads(1);
    difu_engine *e = onednn_engine(2);
    difu_conv2d_desc d = {2, 16, 8, 8, 16, 3, 1, 1};
    bufs t = bufs_make(&d, 11);
    float *y = tu_alloc(t.ny);
    cr_assert_eq(difu_onednn_conv2d_forward(e, &d, t.x, t.w, t.b, y), DIFU_OK);
    cr_assert_eq(omp_get_max_threads(), 1, "the backend left the caller's thread count changed");
    tu_free(y);
    bufs_free(&t);
    difu_engine_destroy(e);
    omp_set_num_threads(before);
}

Test(onednn, version_impl_name_and_timing)
{
    skip_without_onednn();
    cr_assert_eq(difu_onednn_available(), 1);
    int major = -1, minor = -1, patch = -1;
    cr_assert_eq(sscanf(difu_onednn_version(), "%d.%d.%d", &major, &minor, &patch), 3,
                 "version was '%s'", difu_onednn_version());
    cr_assert(major >= 1, "version was '%s'", difu_onednn_version());
    difu_engine *e = onednn_engine(1);
    difu_conv2d_desc d = {2, 16, 9, 9, 32, 3, 1, 1};
    for (int which = 0; which < 3; which++) {
        const char *name = difu_onednn_impl_name(e, &d, which);
        cr_assert(name && *name && strcmp(name, "unknown") != 0, "which=%d: %s", which,
                  difu_engine_last_error(e));
        double prim = -1, full = -1;
        cr_assert_eq(difu_onednn_conv2d_time(e, &d, which, 3, &prim, &full), DIFU_OK, "%s",
                     difu_engine_last_error(e));
        cr_assert(prim > 0 && full > 0 && isfinite(prim) && isfinite(full), "%g %g", prim, full);
    }
    difu_engine_destroy(e);
}

/* ---------------------------------------------------------------- bad arguments */

static void assert_msg(difu_engine *e, const char *part)
{
    cr_assert(strstr(difu_engine_last_error(e), part), "message '%s' lacks '%s'",
              difu_engine_last_error(e), part);
}

Test(onednn, bad_arguments_give_a_status_and_a_message)
{
    skip_without_onednn();
    difu_engine *e = onednn_engine(1);
    float buf[64] = {0};
    difu_conv2d_desc d = {1, 1, 2, 2, 1, 3, 1, 1};

    difu_conv2d_desc zero = d;
    zero.n = 0;
    cr_assert_eq(difu_onednn_conv2d_forward(e, &zero, buf, buf, NULL, buf), DIFU_ERR_INVALID_ARG);
    assert_msg(e, "conv2d_forward");
    assert_msg(e, "n=0");

    difu_conv2d_desc neg = d;
    neg.cin = -3;
    cr_assert_eq(difu_onednn_conv2d_backward_data(e, &neg, buf, buf, buf), DIFU_ERR_INVALID_ARG);
    assert_msg(e, "conv2d_backward_data");
    assert_msg(e, "cin=-3");

    difu_conv2d_desc k5 = d;
    k5.k = 5;
    k5.pad = 2;
    cr_assert_eq(difu_onednn_conv2d_backward_weights(e, &k5, buf, buf, buf, NULL),
                 DIFU_ERR_UNSUPPORTED);
    assert_msg(e, "k=5 stride=1 pad=2");

    difu_conv2d_desc s2k1 = d;
    s2k1.k = 1;
    s2k1.pad = 0;
    s2k1.stride = 2;
    cr_assert_eq(difu_onednn_conv2d_forward(e, &s2k1, buf, buf, NULL, buf), DIFU_ERR_UNSUPPORTED);
    assert_msg(e, "k=1 stride=2 pad=0");

    cr_assert_eq(difu_onednn_conv2d_forward(e, &d, NULL, buf, NULL, buf), DIFU_ERR_INVALID_ARG);
    assert_msg(e, "x is NULL");
    cr_assert_eq(difu_onednn_conv2d_backward_weights(e, &d, buf, buf, NULL, buf),
                 DIFU_ERR_INVALID_ARG);
    assert_msg(e, "dweight is NULL");
    cr_assert_eq(difu_onednn_conv2d_forward(e, NULL, buf, buf, NULL, buf), DIFU_ERR_INVALID_ARG);
    assert_msg(e, "descriptor");

    difu_conv2d_desc huge = d;
    huge.n = huge.cin = huge.h = huge.w = 1 << 20;
    cr_assert_eq(difu_onednn_conv2d_forward(e, &huge, buf, buf, NULL, buf), DIFU_ERR_INVALID_ARG);
    assert_msg(e, "too large");

    double a, b;
    cr_assert_eq(difu_onednn_conv2d_time(e, &d, 3, 1, &a, &b), DIFU_ERR_INVALID_ARG);
    assert_msg(e, "which=3");
    cr_assert_eq(difu_onednn_conv2d_time(e, &d, 0, 0, &a, &b), DIFU_ERR_INVALID_ARG);
    assert_msg(e, "reps=0");
    cr_assert_str_eq(difu_onednn_impl_name(e, &k5, 0), "unknown");
    cr_assert_eq(difu_onednn_cache_size(e), 0, "a refused call created a primitive");
    difu_engine_destroy(e);
}
