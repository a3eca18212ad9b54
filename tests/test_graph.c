/* test_graph.c: the graph layer: shape errors name the node; every op's autodiff rule against
 * central finite differences of the loss (accumulated in double), including a tensor used twice;
 * the planner never overlaps two tensors live at the same time and reuses memory; runs repeat
 * bit for bit; per-node FLOP counts of a training graph. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "difu.h"
#include "graph.h"
#include "test_util.h"
#include "unet.h"

/* ---------------------------------------------------------------- shape errors */

static int64_t S4[4];
static const int64_t *shape4(int64_t a, int64_t b, int64_t c, int64_t d)
{
    S4[0] = a; S4[1] = b; S4[2] = c; S4[3] = d;
    return S4;
}

Test(graph_shapes, conv_channel_mismatch_names_the_node)
{
    difu_graph *g = difu_graph_new();
    int x = difu_g_input(g, "x", DIFU_F32, 4, shape4(2, 96, 8, 8));
    int w = difu_g_param(g, "w", 4, shape4(32, 64, 3, 3));
    int b = difu_g_param(g, "b", 1, shape4(32, 0, 0, 0));
    int s = difu_g_silu(g, "first", x);
    cr_assert_geq(s, 0);
    cr_assert_eq(difu_g_conv2d(g, "down.1.0.conv1", s, w, b, 1), -1);
    cr_assert_eq(difu_graph_status(g), DIFU_ERR_INVALID_ARG);
    cr_assert_str_eq(difu_graph_error(g),
                     "node 1 'down.1.0.conv1' conv2d: input has 96 channels, weight expects 64");
    /* sticky: later builders return -1 and keep the first message */
    cr_assert_eq(difu_g_silu(g, "later", x), -1);
    cr_assert(strstr(difu_graph_error(g), "down.1.0.conv1") != NULL);
    difu_graph_free(g);
}

static void expect_error(difu_graph *g, int id, const char *needle)
{
    cr_assert_eq(id, -1, "the bad node was accepted");
    cr_assert_neq(difu_graph_status(g), DIFU_OK);
    cr_assert(strstr(difu_graph_error(g), needle) != NULL, "message '%s' lacks '%s'",
              difu_graph_error(g), needle);
}

Test(graph_shapes, each_op_checks_its_inputs)
{
    difu_graph *g = difu_graph_new();
    int x = difu_g_input(g, "x", DIFU_F32, 4, shape4(2, 6, 4, 4));
    int y = difu_g_input(g, "y", DIFU_F32, 4, shape4(2, 6, 4, 5));
    expect_error(g, difu_g_add(g, "sum", x, y), "node 0 'sum' add: shapes differ");
    difu_graph_free(g);

    g = difu_graph_new();
    x = difu_g_input(g, "x", DIFU_F32, 4, shape4(2, 6, 4, 4));
    int gm = difu_g_param(g, "gamma", 1, shape4(6, 0, 0, 0));
    expect_error(g, difu_g_groupnorm(g, "norm", x, gm, gm, 4, 1e-6f, 0),
                 "node 0 'norm' groupnorm: 6 channels do not split into 4 groups");
    difu_graph_free(g);

    g = difu_graph_new();
    x = difu_g_input(g, "x", DIFU_F32, 4, shape4(2, 8, 4, 4));
    expect_error(g, difu_g_attention(g, "attn", x), "qkv has 8 channels, not a multiple of 3");
    difu_graph_free(g);

    g = difu_graph_new();
    x = difu_g_input(g, "x", DIFU_F32, 2, shape4(2, 10, 0, 0));
    int w = difu_g_param(g, "w", 2, shape4(4, 12, 0, 0));
    expect_error(g, difu_g_linear(g, "fc", x, w, -1),
                 "node 0 'fc' linear: input has 10 features, weight expects 12");
    difu_graph_free(g);

    g = difu_graph_new();
    x = difu_g_input(g, "x", DIFU_F32, 4, shape4(2, 3, 4, 4));
    y = difu_g_input(g, "y", DIFU_F32, 4, shape4(2, 3, 8, 8));
    expect_error(g, difu_g_concat(g, "cat", x, y), "differ outside the channels");
    difu_graph_free(g);

    g = difu_graph_new();
    x = difu_g_input(g, "x", DIFU_F32, 4, shape4(2, 3, 4, 4));
    w = difu_g_param(g, "w", 4, shape4(3, 3, 5, 5));
    expect_error(g, difu_g_conv2d(g, "c5", x, w, -1, 1), "kernel 5x5 stride 1 is not supported");
    difu_graph_free(g);

    g = difu_graph_new();
    x = difu_g_input(g, "x", DIFU_F32, 4, shape4(2, 3, 4, 4));
    int v = difu_g_input(g, "v", DIFU_F32, 2, shape4(2, 4, 0, 0));
    expect_error(g, difu_g_add_channel(g, "addc", x, v), "input is [2, 3, ...], vector is [2, 4]");
    difu_graph_free(g);

    g = difu_graph_new(); /* the fused adds of a conv must match its output */
    x = difu_g_input(g, "x", DIFU_F32, 4, shape4(2, 3, 4, 4));
    w = difu_g_param(g, "w", 4, shape4(5, 3, 3, 3));
    v = difu_g_input(g, "v", DIFU_F32, 2, shape4(2, 4, 0, 0));
    expect_error(g, difu_g_conv2d_add(g, "cv", x, w, -1, 1, v, -1),
                 "channel add is [2, 4], output is [2, 5, ...]");
    difu_graph_free(g);
    g = difu_graph_new();
    x = difu_g_input(g, "x", DIFU_F32, 4, shape4(2, 3, 4, 4));
    w = difu_g_param(g, "w", 4, shape4(5, 3, 3, 3));
    int r = difu_g_input(g, "r", DIFU_F32, 4, shape4(2, 5, 2, 2));
    expect_error(g, difu_g_conv2d_add(g, "cr", x, w, -1, 1, -1, r),
                 "residual is [2, 5, 2, 2], output is [2, 5, 4, 4]");
    difu_graph_free(g);

    g = difu_graph_new();
    x = difu_g_input(g, "labels", DIFU_F32, 1, shape4(2, 0, 0, 0));
    int table = difu_g_param(g, "table", 2, shape4(5, 3, 0, 0));
    expect_error(g, difu_g_embedding(g, "emb", table, x), "labels 'labels' is f32, expected i64");
    difu_graph_free(g);

    g = difu_graph_new();
    x = difu_g_input(g, "a", DIFU_F32, 4, shape4(2, 3, 4, 4));
    y = difu_g_input(g, "b", DIFU_F32, 4, shape4(3, 3, 4, 4));
    expect_error(g, difu_g_mse_loss(g, "loss", x, y), "prediction [2, 3, 4, 4] and target [3, 3, 4, 4] differ");
    difu_graph_free(g);
}

Test(graph_shapes, autodiff_needs_an_mse_root)
{
    difu_graph *g = difu_graph_new();
    int x = difu_g_param(g, "x", 2, shape4(2, 3, 0, 0));
    int s = difu_g_silu(g, "s", x);
    cr_assert_neq(difu_autodiff_build(g, s), DIFU_OK);
    cr_assert(strstr(difu_graph_error(g), "not the output of mse_loss") != NULL);
    difu_graph_free(g);
}

/* ---------------------------------------------------------------- gradient checks */

/* A graph under test: forward built by the case, then loss = mse(out, target), autodiff, plan. */
typedef struct harness {
    difu_engine *e;
    difu_graph *g;
    difu_plan *p;
    float *params, *grads;
    void *inputs[4];
    int loss;
} harness;

static void fill_params(harness *h, uint64_t seed)
{
    for (int t = 0; t < h->g->n_tensors; t++) {
        const difu_gtensor *x = &h->g->tensors[t];
        if (x->kind == DIFU_T_PARAM)
            tu_fill_uniform((float *)((char *)h->params + x->offset),
                            (size_t)difu_gtensor_numel(x), seed + (uint64_t)t, -1.0f, 1.0f);
    }
}

/* Finishes h->g (whose forward result is `out`) and runs it once. */
static void finish(harness *h, int out, int threads)
{
    difu_graph *g = h->g;
    const difu_gtensor *o = &g->tensors[out];
    int target = difu_g_input(g, "target", DIFU_F32, o->ndim, o->shape);
    h->loss = difu_g_mse_loss(g, "loss", out, target);
    difu_g_keep(g, g->nodes[g->n_nodes - 1].dst[1]); /* the partial sums, read by loss_of */
    cr_assert_eq(difu_autodiff_build(g, h->loss), DIFU_OK, "%s", difu_graph_error(g));
    h->e = tu_engine(DIFU_ISA_REF, threads);
    cr_assert_eq(difu_plan_create(h->e, g, 1, &h->p), DIFU_OK, "%s", difu_engine_last_error(h->e));
    h->params = tu_alloc(g->param_bytes / 4 + 16);
    h->grads = tu_alloc(g->param_bytes / 4 + 16);
    fill_params(h, 77);
    const difu_gtensor *tt = &g->tensors[target];
    float *tv = tu_alloc((size_t)difu_gtensor_numel(tt));
    tu_fill_uniform(tv, (size_t)difu_gtensor_numel(tt), 5, -1.0f, 1.0f);
    h->inputs[g->tensors[target].input_slot] = tv;
    difu_plan_bind(h->p, h->params, h->grads, h->inputs);
    cr_assert_eq(difu_graph_run(h->e, h->p), DIFU_OK, "%s", difu_engine_last_error(h->e));
}

/* The loss in double, from the per-image partial sums the mse node keeps. */
static double loss_of(harness *h)
{
    cr_assert_eq(difu_graph_run(h->e, h->p), DIFU_OK);
    const difu_node *n = &h->g->nodes[h->g->tensors[h->loss].producer];
    const difu_gtensor *part = &h->g->tensors[n->dst[1]];
    const double *v = h->p->ptr[n->dst[1]];
    double s = 0;
    for (int64_t i = 0; i < part->shape[0]; i++)
        s += v[i];
    return s / (double)difu_gtensor_numel(&h->g->tensors[n->src[0]]);
}

/* Compares every parameter's gradient (up to `per_tensor` elements each) with central
 * differences of step `step`. */
static void check_grads(harness *h, double step, int per_tensor)
{
    const difu_graph *g = h->g;
    int checked = 0;
    for (int t = 0; t < g->n_tensors; t++) {
        const difu_gtensor *x = &g->tensors[t];
        if (x->kind != DIFU_T_PARAM)
            continue;
        int64_t n = difu_gtensor_numel(x);
        float *p = (float *)((char *)h->params + x->offset);
        /* the analytic gradient, taken before the parameters move */
        cr_assert_eq(difu_graph_run(h->e, h->p), DIFU_OK);
        float *ga = malloc((size_t)n * sizeof *ga);
        memcpy(ga, (char *)h->grads + x->offset, (size_t)n * sizeof *ga);
        double gmax = 0;
        for (int64_t i = 0; i < n; i++)
            gmax = fmax(gmax, fabs(ga[i]));
        int64_t stride = n > per_tensor ? n / per_tensor : 1;
        for (int64_t i = 0; i < n; i += stride) {
            float keep = p[i];
            p[i] = keep + (float)step;
            double lp = loss_of(h);
            p[i] = keep - (float)step;
            double lm = loss_of(h);
            p[i] = keep;
            double fd = (lp - lm) / ((double)(keep + (float)step) - (double)(keep - (float)step));
            double tol = 2e-3 * gmax + 1e-2 * fabs(fd) + 1e-6;
            cr_assert(fabs(fd - ga[i]) <= tol,
                      "%s[%lld]: autodiff %.7g, finite difference %.7g (largest |grad| %.3g)",
                      x->name, (long long)i, (double)ga[i], fd, gmax);
            checked++;
        }
        free(ga);
    }
    cr_assert_gt(checked, 0);
}

static void release(harness *h)
{
    difu_plan_free(h->p);
    difu_graph_free(h->g);
    tu_free(h->params);
    tu_free(h->grads);
    for (int i = 0; i < 4; i++)
        tu_free(h->inputs[i]);
    difu_engine_destroy(h->e);
}

static harness start(void)
{
    harness h;
    memset(&h, 0, sizeof h);
    h.g = difu_graph_new();
    return h;
}

Test(graph_grad, conv2d_3x3_stride1_stride2_and_1x1)
{
    const int strides[3] = {1, 2, 1}, ks[3] = {3, 3, 1};
    for (int c = 0; c < 3; c++) {
        harness h = start();
        int x = difu_g_param(h.g, "x", 4, shape4(2, 3, 5, 6));
        int w = difu_g_param(h.g, "w", 4, shape4(4, 3, ks[c], ks[c]));
        int b = difu_g_param(h.g, "b", 1, shape4(4, 0, 0, 0));
        int y = difu_g_conv2d(h.g, "conv", x, w, b, strides[c]);
        finish(&h, y, 1);
        check_grads(&h, 1e-3, 40);
        release(&h);
    }
}

/* conv2d with the fused adds (graph.h, difu_g_conv2d_add): channel, residual or both, 3x3 and
 * 1x1; the gradients of v and r come from the conv's rule. */
Test(graph_grad, conv2d_with_fused_channel_and_residual_adds)
{
    const int ks[2] = {3, 1};
    for (int c = 0; c < 2; c++)
        for (int which = 1; which <= 3; which++) {
            harness h = start();
            int x = difu_g_param(h.g, "x", 4, shape4(2, 3, 5, 6));
            int w = difu_g_param(h.g, "w", 4, shape4(4, 3, ks[c], ks[c]));
            int b = difu_g_param(h.g, "b", 1, shape4(4, 0, 0, 0));
            int v = which & 1 ? difu_g_param(h.g, "v", 2, shape4(2, 4, 0, 0)) : -1;
            int r = which & 2 ? difu_g_param(h.g, "r", 4, shape4(2, 4, 5, 6)) : -1;
            int y = difu_g_conv2d_add(h.g, "conv", x, w, b, 1, v, r);
            finish(&h, y, 1);
            check_grads(&h, 1e-3, 40);
            release(&h);
        }
}

Test(graph_grad, groupnorm_plain_and_fused_silu)
{
    for (int fuse = 0; fuse < 2; fuse++) {
        harness h = start();
        int x = difu_g_param(h.g, "x", 4, shape4(2, 6, 3, 3));
        int gm = difu_g_param(h.g, "gamma", 1, shape4(6, 0, 0, 0));
        int bt = difu_g_param(h.g, "beta", 1, shape4(6, 0, 0, 0));
        int y = difu_g_groupnorm(h.g, "norm", x, gm, bt, 3, 1e-6f, fuse);
        finish(&h, y, 1);
        check_grads(&h, 1e-3, 60);
        release(&h);
    }
}

Test(graph_grad, silu_and_a_tensor_used_twice)
{
    harness h = start();
    int x = difu_g_param(h.g, "x", 2, shape4(3, 7, 0, 0));
    int s = difu_g_silu(h.g, "s", x);
    int y = difu_g_add(h.g, "y", s, x);      /* x feeds silu and the add */
    int z = difu_g_add(h.g, "z", y, y);      /* y used twice by one node */
    finish(&h, z, 1);
    check_grads(&h, 1e-3, 30);
    release(&h);
}

Test(graph_grad, linear_with_and_without_bias)
{
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        harness h = start();
        int x = difu_g_param(h.g, "x", 2, shape4(3, 5, 0, 0));
        int w = difu_g_param(h.g, "w", 2, shape4(4, 5, 0, 0));
        int b = with_bias ? difu_g_param(h.g, "b", 1, shape4(4, 0, 0, 0)) : -1;
        int y = difu_g_linear(h.g, "fc", x, w, b);
        finish(&h, y, 1);
        check_grads(&h, 1e-3, 30);
        release(&h);
    }
}

Test(graph_grad, add_channel_concat_upsample)
{
    harness h = start();
    int x = difu_g_param(h.g, "x", 4, shape4(2, 3, 3, 2));
    int v = difu_g_param(h.g, "v", 2, shape4(2, 3, 0, 0));
    int o = difu_g_param(h.g, "o", 4, shape4(2, 2, 3, 2));
    int a = difu_g_add_channel(h.g, "addc", x, v);
    int c = difu_g_concat(h.g, "cat", a, o);         /* [2,5,3,2] */
    int u = difu_g_upsample2x(h.g, "up", c);         /* [2,5,6,4] */
    finish(&h, u, 1);
    check_grads(&h, 1e-3, 40);
    release(&h);
}

Test(graph_grad, attention)
{
    harness h = start();
    int qkv = difu_g_param(h.g, "qkv", 4, shape4(2, 12, 3, 2)); /* C = 4, HW = 6 */
    int y = difu_g_attention(h.g, "attn", qkv);
    finish(&h, y, 1);
    check_grads(&h, 1e-3, 144);
    release(&h);
}

Test(graph_grad, embedding_and_timestep_embedding)
{
    harness h = start();
    int64_t n4[1] = {4};
    int labels = difu_g_input(h.g, "labels", DIFU_I64, 1, n4);
    int t = difu_g_input(h.g, "t", DIFU_I64, 1, n4);
    int table = difu_g_param(h.g, "table", 2, shape4(5, 6, 0, 0));
    int e = difu_g_embedding(h.g, "emb", table, labels);     /* [4,6] */
    int te = difu_g_timestep_embedding(h.g, "temb", t, 6);   /* [4,6] */
    int y = difu_g_add(h.g, "sum", e, te);
    difu_g_keep(h.g, te); /* read after the run */
    int64_t *lv = (int64_t *)tu_alloc(8), *tv = (int64_t *)tu_alloc(8);
    lv[0] = 3; lv[1] = 0; lv[2] = 3; lv[3] = 4; /* row 3 twice, row 1 and 2 unused */
    tv[0] = 0; tv[1] = 1; tv[2] = 500; tv[3] = 999;
    h.inputs[0] = lv;
    h.inputs[1] = tv;
    finish(&h, y, 1);
    check_grads(&h, 1e-3, 30);
    /* the sinusoid against the MODEL.md formula */
    const float *tev = h.p->ptr[te];
    for (int r = 0; r < 4; r++)
        for (int i = 0; i < 3; i++) {
            double f = exp(-log(10000.0) * i / 2.0);
            cr_assert_float_eq(tev[r * 6 + i], (float)sin((double)tv[r] * f), 1e-6);
            cr_assert_float_eq(tev[r * 6 + 3 + i], (float)cos((double)tv[r] * f), 1e-6);
        }
    /* unused rows get an exact zero gradient */
    const float *gt = (const float *)((char *)h.grads + h.g->tensors[table].offset);
    for (int j = 0; j < 6; j++)
        cr_assert(gt[6 + j] == 0.0f && gt[12 + j] == 0.0f);
    release(&h);
}

Test(graph_grad, dropout_mask_is_fixed_by_its_key)
{
    harness h = start();
    int64_t two[1] = {2};
    int key = difu_g_input(h.g, "key", DIFU_I64, 1, two);
    int x = difu_g_param(h.g, "x", 2, shape4(8, 100, 0, 0));
    int y = difu_g_dropout(h.g, "drop", x, key, 0.25f, 3);
    difu_g_keep(h.g, y);
    int64_t *kv = (int64_t *)tu_alloc(4);
    kv[0] = 1234;
    kv[1] = 7;
    h.inputs[0] = kv;
    finish(&h, y, 2);
    const float *xv = (const float *)((char *)h.params + h.g->tensors[x].offset);
    const float *yv = h.p->ptr[y];
    int dropped = 0;
    for (int i = 0; i < 800; i++) {
        if (yv[i] == 0.0f)
            dropped++;
        else
            cr_assert_float_eq(yv[i], xv[i] / 0.75f, 1e-6f * fabsf(xv[i]) + 1e-7f);
    }
    cr_assert(dropped > 140 && dropped < 260, "%d of 800 dropped at p = 0.25", dropped);
    check_grads(&h, 1e-3, 40);
    /* another step draws another mask */
    float first[800];
    memcpy(first, yv, sizeof first);
    kv[1] = 8;
    cr_assert_eq(difu_graph_run(h.e, h.p), DIFU_OK);
    cr_assert(memcmp(first, yv, sizeof first) != 0);
    release(&h);
}

Test(graph_grad, unused_parameter_gets_zero_gradient)
{
    harness h = start();
    int x = difu_g_param(h.g, "x", 2, shape4(2, 3, 0, 0));
    int unused = difu_g_param(h.g, "unused", 1, shape4(5, 0, 0, 0));
    int y = difu_g_silu(h.g, "s", x);
    finish(&h, y, 1);
    float *gu = (float *)((char *)h.grads + h.g->tensors[unused].offset);
    gu[0] = 42.0f;
    cr_assert_eq(difu_graph_run(h.e, h.p), DIFU_OK);
    for (int i = 0; i < 5; i++)
        cr_assert(gu[i] == 0.0f);
    release(&h);
}

/* ---------------------------------------------------------------- planner */

/* A chain with skips, so that lifetimes vary. */
static harness planned_chain(int threads)
{
    harness h = start();
    int x = difu_g_param(h.g, "x", 4, shape4(2, 4, 6, 6));
    int w = difu_g_param(h.g, "w", 4, shape4(4, 4, 3, 3));
    int gm = difu_g_param(h.g, "gamma", 1, shape4(4, 0, 0, 0));
    int bt = difu_g_param(h.g, "beta", 1, shape4(4, 0, 0, 0));
    int a = difu_g_groupnorm(h.g, "n1", x, gm, bt, 2, 1e-6f, 1);
    int b = difu_g_conv2d(h.g, "c1", a, w, -1, 1);
    int c = difu_g_add(h.g, "r1", b, x);
    int d = difu_g_groupnorm(h.g, "n2", c, gm, bt, 2, 1e-6f, 1);
    int e = difu_g_conv2d(h.g, "c2", d, w, -1, 1);
    int f = difu_g_concat(h.g, "cat", e, c);
    int g = difu_g_silu(h.g, "s", f);
    finish(&h, g, threads);
    return h;
}

static void check_plan(const difu_plan *p)
{
    const difu_graph *g = p->g;
    int acts = 0;
    for (int a = 0; a < g->n_tensors; a++) {
        if (g->tensors[a].kind != DIFU_T_ACT)
            continue;
        acts++;
        cr_assert_eq(p->offset[a] % 64, 0, "tensor %s at offset %zu", g->tensors[a].name, p->offset[a]);
        cr_assert_leq(p->offset[a] + difu_gtensor_bytes(&g->tensors[a]), p->arena_bytes);
        cr_assert(p->first[a] >= 0 && p->first[a] <= p->last[a]);
        for (int b = a + 1; b < g->n_tensors; b++) {
            if (g->tensors[b].kind != DIFU_T_ACT)
                continue;
            int live_together = p->first[a] <= p->last[b] && p->first[b] <= p->last[a];
            size_t a0 = p->offset[a], a1 = a0 + difu_gtensor_bytes(&g->tensors[a]);
            size_t b0 = p->offset[b], b1 = b0 + difu_gtensor_bytes(&g->tensors[b]);
            cr_assert(!(live_together && a0 < b1 && b0 < a1),
                      "'%s' [%d, %d] at [%zu, %zu) and '%s' [%d, %d] at [%zu, %zu) overlap",
                      g->tensors[a].name, p->first[a], p->last[a], a0, a1, g->tensors[b].name,
                      p->first[b], p->last[b], b0, b1);
        }
    }
    cr_assert_gt(acts, 10);
    cr_assert_lt(p->arena_bytes, p->sum_bytes, "peak %zu is not below the sum %zu", p->arena_bytes,
                 p->sum_bytes);
}

Test(graph_plan, live_tensors_never_overlap_and_memory_is_reused)
{
    harness h = planned_chain(1);
    check_plan(h.p);
    check_grads(&h, 1e-3, 20);
    release(&h);
}

Test(graph_plan, reruns_and_thread_counts_give_identical_bits)
{
    harness h1 = planned_chain(1), h2 = planned_chain(2);
    size_t bytes = h1.g->param_bytes;
    cr_assert_eq(difu_graph_run(h1.e, h1.p), DIFU_OK);
    float *first = malloc(bytes);
    memcpy(first, h1.grads, bytes);
    cr_assert_eq(difu_graph_run(h1.e, h1.p), DIFU_OK);
    cr_assert(memcmp(first, h1.grads, bytes) == 0, "a second run changed the gradients");
    cr_assert(memcmp(first, h2.grads, bytes) == 0, "2 threads differ from 1");
    /* without the skipped barriers the bits are the same too */
    difu_plan_all_barriers(h2.p);
    cr_assert_eq(difu_graph_run(h2.e, h2.p), DIFU_OK);
    cr_assert(memcmp(first, h2.grads, bytes) == 0);
    free(first);
    release(&h1);
    release(&h2);
}

/* ---------------------------------------------------------------- FLOP counts */

/* difu_node_flops on a training graph: each convolution's weight gradient and each linear's
 * weight gradient takes exactly its forward's products, attention's backward twice its forward's,
 * and the forward sums to MODEL.md's figure per image. */
Test(graph_flops, backward_products_mirror_the_forward)
{
    difu_engine *e = tu_engine(DIFU_ISA_REF, 1);
    difu_model_config c;
    cr_assert_eq(difu_model_preset(e, "fmnist-t", &c), DIFU_OK);
    const int n = 2;
    difu_graph *g = difu_graph_new();
    difu_unet_io io;
    cr_assert_eq(difu_unet_build(g, &c, n, 1, &io), DIFU_OK, "%s", difu_graph_error(g));
    double by_op[DIFU_OP_COUNT] = {0};
    for (int i = 0; i < g->n_nodes; i++)
        by_op[g->nodes[i].op] += difu_node_flops(g, &g->nodes[i]);
    cr_assert_gt(by_op[DIFU_OP_CONV2D], 0);
    cr_assert_eq(by_op[DIFU_OP_CONV2D_BWD_WEIGHTS], by_op[DIFU_OP_CONV2D]);
    cr_assert_eq(by_op[DIFU_OP_LINEAR_BWD_WEIGHTS], by_op[DIFU_OP_LINEAR]);
    cr_assert_eq(by_op[DIFU_OP_ATTENTION_BWD], 2 * by_op[DIFU_OP_ATTENTION]);
    /* the first convolution's input (the noisy image) needs no gradient */
    cr_assert_lt(by_op[DIFU_OP_CONV2D_BWD_DATA], by_op[DIFU_OP_CONV2D]);
    cr_assert_gt(by_op[DIFU_OP_CONV2D_BWD_DATA], 0.95 * by_op[DIFU_OP_CONV2D]);
    double fwd = by_op[DIFU_OP_CONV2D] + by_op[DIFU_OP_LINEAR] + by_op[DIFU_OP_ATTENTION];
    cr_assert(fabs(fwd / n * 1e-9 - 0.554) < 0.0005, "forward %.4f GFLOP per image", fwd / n * 1e-9);
    for (int op = 0; op < DIFU_OP_COUNT; op++) /* nothing else counts */
        if (op != DIFU_OP_CONV2D && op != DIFU_OP_CONV2D_BWD_DATA &&
            op != DIFU_OP_CONV2D_BWD_WEIGHTS && op != DIFU_OP_LINEAR &&
            op != DIFU_OP_LINEAR_BWD_DATA && op != DIFU_OP_LINEAR_BWD_WEIGHTS &&
            op != DIFU_OP_ATTENTION && op != DIFU_OP_ATTENTION_BWD)
            cr_assert_eq(by_op[op], 0, "%s counted", difu_op_name(op));
    difu_graph_free(g);
    difu_engine_destroy(e);
}
