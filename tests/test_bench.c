/* test_bench.c: convolutions of a planned graph on oneDNN (conv_backend ONEDNN and AUTO) and the
 * `difu bench` command.
 * - The golden U-Nets (PyTorch's eps, loss and every parameter gradient, tolerances of
 *   test_golden.c) with ONEDNN and AUTO at 1 and 2 threads; two runs give identical bits.
 * - AUTO's decisions: one per problem, cached in the engine by an XXH3-64 of the problem, reused
 *   by a second model and a second plan, extended by a new batch size; decisions forced into the
 *   cache steer the plan (every conv node on oneDNN gives the bits of a ONEDNN engine, every one
 *   native the bits of a NATIVE engine), with the executor's region boundaries around oneDNN nodes.
 * - `difu bench train|sample|ops` end with one JSON line holding the fields users read; bad usage
 *   exits 2 with a message naming the option. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <xxhash.h>

#include "graph.h"
#include "onednn_conv.h"
#include "safetensors.h"
#include "test_util.h"
#include "unet.h"

static difu_engine *engine_with(difu_conv_backend b, int threads)
{
    difu_engine_params p = difu_engine_params_default();
    p.threads = threads;
    p.honor_env = 0;
    p.conv_backend = b;
    difu_engine *e = NULL;
    char err[256] = "";
    cr_assert_eq(difu_engine_create(&p, &e, err, sizeof err), DIFU_OK, "%s", err);
    return e;
}

#define NEED_ONEDNN()                                                                              \
    do {                                                                                           \
        if (!difu_onednn_available())                                                              \
            cr_skip_test("this build has no oneDNN");                                              \
    } while (0)

/* ---------------------------------------------------------------- golden files */

static void check_golden(const char *preset, const char *file, difu_conv_backend b, int threads)
{
    difu_engine *e = engine_with(b, threads);
    difu_safetensors *s = tu_load_golden(e, file);
    difu_model_config c;
    cr_assert_eq(difu_model_preset(e, preset, &c), DIFU_OK);
    difu_model *m = NULL;
    cr_assert_eq(difu_model_create(e, &c, 1, &m), DIFU_OK, "%s", difu_engine_last_error(e));
    for (int i = 0; i < difu_model_tensor_count(m); i++) {
        const char *name = difu_model_tensor_info(m, i, NULL, NULL);
        const difu_st_tensor *t = tu_golden_tensor(s, name);
        difu_tensor p;
        cr_assert_eq(difu_model_param(m, name, &p), DIFU_OK);
        cr_assert_eq((int64_t)(t->end - t->begin), difu_tensor_numel(&p) * 4, "%s", name);
        memcpy(p.data, difu_st_data(s, t), t->end - t->begin);
    }
    const difu_st_tensor *x = tu_golden_tensor(s, "x"), *t = tu_golden_tensor(s, "t"),
                         *y = tu_golden_tensor(s, "y"), *noise = tu_golden_tensor(s, "noise"),
                         *eps = tu_golden_tensor(s, "eps"), *loss = tu_golden_tensor(s, "loss");
    int n = (int)x->shape[0];
    int64_t numel = difu_st_numel(x);
    size_t nf = 0;
    difu_model_grads(m, &nf);
    float *ev = tu_alloc((size_t)numel), *ev2 = tu_alloc((size_t)numel), *g1 = tu_alloc(nf);
    /* The file's data is only as aligned as its header makes it: copy into aligned buffers. */
    float *xv = tu_alloc((size_t)numel), *nv = tu_alloc((size_t)numel);
    int64_t *tv = malloc(sizeof(int64_t) * (size_t)n), *yv = malloc(sizeof(int64_t) * (size_t)n);
    cr_assert(tv && yv, "out of memory");
    memcpy(xv, difu_st_data(s, x), x->end - x->begin);
    memcpy(nv, difu_st_data(s, noise), noise->end - noise->begin);
    memcpy(tv, difu_st_data(s, t), t->end - t->begin);
    memcpy(yv, difu_st_data(s, y), y->end - y->begin);
    char what[320];
    float l = 0, l2 = 0;
    for (int run = 0; run < 2; run++) {
        float *out = run ? ev2 : ev;
        cr_assert_eq(difu_model_forward_backward(m, n, xv, tv, yv, nv, run ? &l2 : &l, out), DIFU_OK,
                     "%s", difu_engine_last_error(e));
        if (run == 0)
            memcpy(g1, difu_model_grads(m, NULL), nf * 4);
    }
    snprintf(what, sizeof what, "%s conv %s %d threads", preset, difu_conv_backend_name(b), threads);
    cr_assert(memcmp(ev, ev2, (size_t)numel * 4) == 0 && l == l2, "%s: two runs differ", what);
    cr_assert(memcmp(g1, difu_model_grads(m, NULL), nf * 4) == 0, "%s: two runs' gradients differ",
              what);
    tu_assert_close_to_largest(what, ev, difu_st_data(s, eps), numel, 1e-4);
    const float want_loss = *(const float *)difu_st_data(s, loss);
    cr_assert(fabs(l - want_loss) <= 1e-4 * fabs(want_loss), "%s: loss %.8g, PyTorch %.8g", what, l,
              want_loss);
    cr_assert_eq(difu_model_forward(m, n, xv, tv, yv, ev2), DIFU_OK);
    tu_assert_close_to_largest(what, ev2, difu_st_data(s, eps), numel, 1e-4);
    for (int i = 0; i < difu_model_tensor_count(m); i++) {
        const char *name = difu_model_tensor_info(m, i, NULL, NULL);
        char gname[160];
        snprintf(gname, sizeof gname, "grad.%s", name);
        const difu_st_tensor *gt = tu_golden_tensor(s, gname);
        difu_tensor g;
        cr_assert_eq(difu_model_grad(m, name, &g), DIFU_OK);
        snprintf(what, sizeof what, "%s conv %s %d threads: %s", preset, difu_conv_backend_name(b),
                 threads, gname);
        tu_assert_close_to_largest(what, g.data, difu_st_data(s, gt), difu_st_numel(gt),
                                   1e-3);
    }
    if (b == DIFU_CONV_ONEDNN)
        cr_assert(difu_onednn_cache_size(e) > 0, "the ONEDNN engine never called oneDNN");
    else
        cr_assert(difu_conv_choice_count(e) > 0, "the AUTO engine made no decision");
    tu_free(ev);
    tu_free(ev2);
    tu_free(g1);
    tu_free(xv);
    tu_free(nv);
    free(tv);
    free(yv);
    difu_model_destroy(m);
    difu_st_free(s);
    difu_engine_destroy(e);
}

Test(graph_onednn, golden_tiny_with_onednn_and_auto)
{
    NEED_ONEDNN();
    for (int threads = 1; threads <= 2; threads++) {
        check_golden("tiny", "golden-tiny.safetensors", DIFU_CONV_ONEDNN, threads);
        check_golden("tiny", "golden-tiny.safetensors", DIFU_CONV_AUTO, threads);
    }
}

Test(graph_onednn, golden_fmnist_t_with_onednn_and_auto)
{
    NEED_ONEDNN();
    check_golden("fmnist-t", "golden-fmnist-t.safetensors", DIFU_CONV_ONEDNN, 2);
    check_golden("fmnist-t", "golden-fmnist-t.safetensors", DIFU_CONV_AUTO, 1);
}

/* ---------------------------------------------------------------- AUTO's decisions */

static difu_model *tiny(difu_engine *e)
{
    difu_model_config c;
    difu_model *m = NULL;
    cr_assert_eq(difu_model_preset(e, "tiny", &c), DIFU_OK);
    cr_assert_eq(difu_model_create(e, &c, 3, &m), DIFU_OK, "%s", difu_engine_last_error(e));
    /* conv2 / proj / conv_out start at zero: perturb every parameter so all paths matter */
    size_t nf;
    float *p = difu_model_params(m, &nf), *noise = tu_alloc(nf);
    tu_fill_uniform(noise, nf, 17, -0.05f, 0.05f);
    for (size_t i = 0; i < nf; i++)
        p[i] += noise[i];
    tu_free(noise);
    return m;
}

typedef struct batch {
    float *x, *noise, *eps;
    int64_t t[8], y[8];
} batch;

static batch make_batch(int n)
{
    batch b;
    b.x = tu_alloc((size_t)n * 64);
    b.noise = tu_alloc((size_t)n * 64);
    b.eps = tu_alloc((size_t)n * 64);
    tu_fill_uniform(b.x, (size_t)n * 64, 1, -1, 1);
    tu_fill_uniform(b.noise, (size_t)n * 64, 2, -1.5f, 1.5f);
    for (int i = 0; i < n; i++) {
        b.t[i] = (i * 389 + 17) % 1000;
        b.y[i] = i % 11;
    }
    return b;
}

static void free_batch(batch *b)
{
    tu_free(b->x);
    tu_free(b->noise);
    tu_free(b->eps);
}

Test(graph_onednn, auto_decisions_are_cached_per_problem_and_reused)
{
    NEED_ONEDNN();
    difu_engine *e = engine_with(DIFU_CONV_AUTO, 1);
    difu_model *m1 = tiny(e), *m2 = tiny(e);
    batch b = make_batch(5);
    float loss;
    cr_assert_eq(difu_model_forward_backward(m1, 3, b.x, b.t, b.y, b.noise, &loss, NULL), DIFU_OK,
                 "%s", difu_engine_last_error(e));
    int c1 = difu_conv_choice_count(e);
    /* tiny has 3x3 s1, 3x3 s2 and 1x1 convolutions, each in three directions */
    cr_assert(c1 >= 9, "only %d decisions for the tiny training graph", c1);
    for (int i = 0; i < c1; i++) {
        const difu_conv_choice *c = difu_conv_choice_at(e, i);
        cr_assert_eq(c->hash, XXH3_64bits(&c->key, sizeof c->key));
        cr_assert_eq(c->key.threads, 1);
        cr_assert_eq(c->key.isa, (int)difu_engine_isa(e));
        cr_assert_eq(c->key.n, 3);
        cr_assert(c->native_ms > 0 && c->onednn_ms > 0, "decision %d was not measured", i);
        cr_assert_eq(c->onednn, c->onednn_ms < c->native_ms);
        cr_assert_eq(difu_conv_choice_find(e, &c->key), c);
        for (int j = 0; j < i; j++)
            cr_assert(memcmp(&difu_conv_choice_at(e, j)->key, &c->key, sizeof c->key) != 0,
                      "problem %d decided twice", i);
    }
    /* the same batch: a second model and the forward-only plan reuse the decisions */
    cr_assert_eq(difu_model_forward_backward(m2, 3, b.x, b.t, b.y, b.noise, &loss, NULL), DIFU_OK);
    cr_assert_eq(difu_model_forward(m2, 3, b.x, b.t, b.y, b.eps), DIFU_OK);
    cr_assert_eq(difu_conv_choice_count(e), c1, "a second model at the same batch timed again");
    /* a new batch size is a new set of problems */
    cr_assert_eq(difu_model_forward(m1, 5, b.x, b.t, b.y, b.eps), DIFU_OK);
    cr_assert(difu_conv_choice_count(e) > c1);
    /* a problem the engine never saw is not found */
    difu_conv_problem pr = difu_conv_choice_at(e, 0)->key;
    pr.n = 77;
    cr_assert_null(difu_conv_choice_find(e, &pr));
    free_batch(&b);
    difu_model_destroy(m1);
    difu_model_destroy(m2);
    difu_engine_destroy(e);
}

/* The tiny training graph at batch n, planned on e, run once; returns the plan (the caller frees
 * it and g) and copies the loss-graph outputs (eps and every gradient) into out. */
static difu_plan *plan_and_run(difu_engine *e, difu_graph **g, int n, difu_model *m, batch *b,
                               float *grads_out, float *eps_out)
{
    difu_model_config c;
    cr_assert_eq(difu_model_preset(e, "tiny", &c), DIFU_OK);
    *g = difu_graph_new();
    difu_unet_io io;
    cr_assert_eq(difu_unet_build(*g, &c, n, 1, &io), DIFU_OK, "%s", difu_graph_error(*g));
    difu_plan *p = NULL;
    cr_assert_eq(difu_plan_create(e, *g, 1, &p), DIFU_OK, "%s", difu_engine_last_error(e));
    void *inputs[8] = {NULL};
    inputs[(*g)->tensors[io.x].input_slot] = b->x;
    inputs[(*g)->tensors[io.t].input_slot] = b->t;
    inputs[(*g)->tensors[io.y].input_slot] = b->y;
    inputs[(*g)->tensors[io.target].input_slot] = b->noise;
    size_t nf;
    float *params = difu_model_params(m, &nf), *grads = difu_model_grads(m, NULL);
    difu_plan_bind(p, params, grads, inputs);
    cr_assert_eq(difu_graph_run(e, p), DIFU_OK, "%s", difu_engine_last_error(e));
    memcpy(grads_out, grads, nf * 4);
    memcpy(eps_out, p->ptr[io.eps], (size_t)n * 64 * 4);
    return p;
}

/* Puts `onednn` into the engine's cache for every conv problem of g. */
static int force(difu_engine *e, const difu_graph *g, int onednn)
{
    int convs = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        difu_conv_choice c;
        memset(&c, 0, sizeof c);
        if (!difu_conv_node_problem(e, g, &g->nodes[i], &c.key))
            continue;
        c.onednn = onednn;
        cr_assert_eq(difu_conv_choice_add(e, &c), DIFU_OK);
        convs++;
    }
    return convs;
}

static void forced_choices_steer_the_plan(int threads)
{
    const int n = 4;
    difu_engine *ref_native = engine_with(DIFU_CONV_NATIVE, threads),
                *ref_onednn = engine_with(DIFU_CONV_ONEDNN, threads),
                *to_native = engine_with(DIFU_CONV_AUTO, threads),
                *to_onednn = engine_with(DIFU_CONV_AUTO, threads);
    difu_model *m = tiny(ref_native);
    batch b = make_batch(n);
    size_t nf;
    difu_model_grads(m, &nf);
    float *g[4], *eps[4];
    difu_engine *engines[4] = {ref_native, ref_onednn, to_native, to_onednn};
    difu_graph *graphs[4];
    difu_plan *plans[4];
    for (int k = 0; k < 4; k++) {
        g[k] = tu_alloc(nf);
        eps[k] = tu_alloc((size_t)n * 64);
        if (k >= 2) { /* decide before planning: build the graph once to list its problems */
            difu_model_config c;
            difu_model_preset(engines[k], "tiny", &c);
            difu_graph *probe = difu_graph_new();
            difu_unet_io io;
            cr_assert_eq(difu_unet_build(probe, &c, n, 1, &io), DIFU_OK);
            cr_assert(force(engines[k], probe, k == 3) > 20);
            difu_graph_free(probe);
        }
        int before = difu_conv_choice_count(engines[k]);
        plans[k] = plan_and_run(engines[k], &graphs[k], n, m, &b, g[k], eps[k]);
        cr_assert_eq(difu_conv_choice_count(engines[k]), before, "engine %d timed a forced problem", k);
        const difu_graph *gr = graphs[k];
        int on = 0, convs = 0;
        for (int i = 0; i < gr->n_nodes; i++) {
            difu_conv_problem pr;
            int conv = difu_conv_node_problem(engines[k], gr, &gr->nodes[i], &pr);
            convs += conv;
            on += plans[k]->onednn[i];
            cr_assert(!plans[k]->onednn[i] || conv, "node %d '%s' is not a conv but runs on oneDNN",
                      i, gr->nodes[i].name);
            if (plans[k]->onednn[i]) { /* the region ends before and after it */
                cr_assert(plans[k]->barrier[i]);
                if (i > 0)
                    cr_assert(plans[k]->barrier[i - 1]);
            }
        }
        int want = (k == 1 || k == 3) ? convs : 0;
        cr_assert_eq(on, want, "engine %d: %d of %d conv nodes on oneDNN, want %d", k, on, convs, want);
    }
    cr_assert(memcmp(g[0], g[2], nf * 4) == 0 && memcmp(eps[0], eps[2], (size_t)n * 256) == 0,
              "%d threads: AUTO with every choice native differs from NATIVE", threads);
    cr_assert(memcmp(g[1], g[3], nf * 4) == 0 && memcmp(eps[1], eps[3], (size_t)n * 256) == 0,
              "%d threads: AUTO with every choice oneDNN differs from ONEDNN", threads);
    tu_assert_close("oneDNN eps vs native", eps[1], eps[0], (size_t)n * 64, 1e-4, 1e-3);
    cr_assert(memcmp(eps[0], eps[1], (size_t)n * 256) != 0 || memcmp(g[0], g[1], nf * 4) != 0,
              "oneDNN and native gave identical bits: was oneDNN used at all?");
    for (int k = 0; k < 4; k++) {
        difu_plan_free(plans[k]);
        difu_graph_free(graphs[k]);
        tu_free(g[k]);
        tu_free(eps[k]);
    }
    free_batch(&b);
    difu_model_destroy(m);
    for (int k = 0; k < 4; k++)
        difu_engine_destroy(engines[k]);
}

Test(graph_onednn, forced_choices_steer_the_plan_at_1_and_2_threads)
{
    NEED_ONEDNN();
    forced_choices_steer_the_plan(1);
    forced_choices_steer_the_plan(2);
}

Test(graph_onednn, native_engine_never_plans_onednn_nodes)
{
    difu_engine *e = engine_with(DIFU_CONV_NATIVE, 2);
    difu_model *m = tiny(e);
    batch b = make_batch(2);
    size_t nf;
    difu_model_grads(m, &nf);
    float *g = tu_alloc(nf), *eps = tu_alloc(128);
    difu_graph *gr;
    difu_plan *p = plan_and_run(e, &gr, 2, m, &b, g, eps);
    for (int i = 0; i < gr->n_nodes; i++)
        cr_assert_eq(p->onednn[i], 0);
    cr_assert_eq(difu_conv_choice_count(e), 0);
    cr_assert_str_eq(difu_conv_backend_name(DIFU_CONV_AUTO), "auto");
    difu_plan_free(p);
    difu_graph_free(gr);
    tu_free(g);
    tu_free(eps);
    free_batch(&b);
    difu_model_destroy(m);
    difu_engine_destroy(e);
}

/* ---------------------------------------------------------------- difu bench */

/* The last line of stdout: one JSON object with every key in keys (NULL-terminated). */
static void json_line_has(const tu_run_result *r, const char *const *keys)
{
    cr_assert_eq(r->status, 0, "exit %d: %s", r->status, r->err);
    size_t len = strlen(r->out);
    cr_assert(len > 2 && r->out[len - 1] == '\n', "no output line: '%s'", r->out);
    const char *line = r->out + len - 1;
    while (line > r->out && line[-1] != '\n')
        line--;
    cr_assert(line[0] == '{' && r->out[len - 2] == '}', "last line is not a JSON object: %s", line);
    for (int i = 0; keys[i]; i++)
        cr_assert(strstr(line, keys[i]), "the JSON line lacks %s: %s", keys[i], line);
    cr_assert_null(strstr(line, "nan"), "%s", line);
    cr_assert_null(strstr(line, "inf"), "%s", line);
}

Test(bench_cli, train_sample_and_ops_end_with_a_json_line)
{
    static const char *const common[] = {"\"img_per_s\": ", "\"gflops\": ", "\"peak_rss_mib\": ",
                                         "\"pct_peak\": ", "\"model\": \"tiny\"", "\"threads\": 1",
                                         "\"isa\": \"", "\"conv\": \"native\"", NULL};
    tu_run_result *r = tu_run_difu("bench", "train", "--model", "tiny", "--batch", "4", "--threads",
                                   "1", "--steps", "2", "--warmup", "1", "--conv", "native", NULL);
    json_line_has(r, common);
    static const char *const train[] = {"\"mode\": \"train\"", "\"batch\": 4", "\"steps\": 2", NULL};
    json_line_has(r, train);
    free(r);
    r = tu_run_difu("bench", "sample", "--model", "tiny", "--sampler", "ddim", "--steps", "4",
                    "--n", "3", "--threads", "1", "--conv", "native", NULL);
    json_line_has(r, common);
    static const char *const sample[] = {"\"mode\": \"sample\"", "\"n\": 3", "\"steps\": 4", NULL};
    json_line_has(r, sample);
    free(r);
    r = tu_run_difu("bench", "ops", "--model", "tiny", "--batch", "2", "--threads", "1", "--reps",
                    "1", "--conv", "native", NULL);
    static const char *const ops[] = {"\"mode\": \"ops\"", "\"op\": \"conv2d 3x3 fwd\"",
                                      "\"phase\": \"bwd\"", "\"op\": \"groupnorm+silu_bwd\"",
                                      "\"op\": \"attention\"", "\"peak_rss_mib\": ", NULL};
    json_line_has(r, ops);
    free(r);
    r = tu_run_difu("bench", "ops", "--model", "tiny", "--batch", "2", "--threads", "2", "--reps",
                    "1", "--conv", "native", "--forward", "--by-shape", NULL);
    static const char *const fwd[] = {"\"graph\": \"forward\"", "\"op\": \"conv2d 3x3 fwd 16>16 8x8\"",
                                      "\"op\": \"groupnorm+silu\"", "\"backward_ms\": 0.00", NULL};
    json_line_has(r, fwd);
    cr_assert(!strstr(r->out, "\"phase\": \"bwd\""), "a forward profile has backward rows: %s",
              r->out);
    free(r);
    if (difu_onednn_available()) {
        r = tu_run_difu("bench", "train", "--model", "tiny", "--batch", "2", "--threads", "2",
                        "--steps", "1", "--warmup", "1", "--conv", "auto", "--peak-gflops", "100",
                        NULL);
        static const char *const autos[] = {"\"conv\": \"auto\"", "\"threads\": 2",
                                            "\"peak_gflops\": 100.0", NULL};
        json_line_has(r, autos);
        cr_assert(strstr(r->err, "-> oneDNN") || strstr(r->err, "-> native"),
                  "no conv decisions on stderr: %s", r->err);
        free(r);
    }
}

Test(bench_cli, bad_usage_exits_2_naming_the_problem)
{
    struct {
        const char *args[6];
        const char *needle;
    } cases[] = {
        {{"fly", NULL}, "unknown mode 'fly'"},
        {{"train", "--batch", "0", NULL}, "--batch"},
        {{"train", "--conv", "gpu", NULL}, "--conv takes native, onednn or auto"},
        {{"train", "--isa", "sse9", NULL}, "--isa"},
        {{"sample", "--sampler", "euler", "--steps", "2", NULL}, "--sampler"},
        {{"ops", "--frobnicate", NULL}, "unknown option '--frobnicate'"},
        {{"train", "--model", NULL}, "--model needs a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const *a = cases[i].args;
        tu_run_result *r = tu_run_difu("bench", a[0], a[1], a[2], a[3], a[4], NULL);
        cr_assert_eq(r->status, 2, "case %zu: exit %d (%s)", i, r->status, r->err);
        cr_assert(strstr(r->err, cases[i].needle), "case %zu: '%s' lacks '%s'", i, r->err,
                  cases[i].needle);
        free(r);
    }
    tu_run_result *r = tu_run_difu("bench", "train", "--model", "nosuch", "--threads", "1", NULL);
    cr_assert_eq(r->status, 2, "unknown model: exit %d", r->status);
    cr_assert(strstr(r->err, "nosuch"), "%s", r->err);
    free(r);
}
