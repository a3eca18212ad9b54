/* bench_ops.c: `difu bench ops`: where one training step's time goes. Builds the model's training
 * graph (forward, loss, backward) for the batch, plans it on the engine (conv choices included),
 * runs it once to warm up, then profiles --reps runs node by node (difu_graph_profile) and sums the
 * time per phase (forward / backward) and op kind (conv2d by kernel size, stride, direction and
 * backend, with --by-shape also by channels and image size; groupnorm, attention, ...). Also times
 * the unprofiled graph run and the optimizer pass (gradient norm + Adam/EMA). With --forward it
 * profiles the sampling forward instead: the forward-only graph with the 3x3 weights kept in
 * Winograd form (engine/wino_cache.c), as a sampling step runs it. Prints a table, then one JSON
 * line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "graph.h"
#include "unet.h"
#include "wino_cache.h"

#define MAX_KINDS 96

typedef struct op_kind {
    char name[64];
    int backward;
    int count;
    double seconds;
    double flops;
} op_kind;

/* Node i runs in the backward part of its graph (a forward-only graph has none). */
static int backward_node(const difu_graph *g, int i) { return g->n_forward && i >= g->n_forward; }

static void kind_name(const difu_engine *e, const difu_plan *p, int i, int by_shape, char *buf,
                      size_t len)
{
    const difu_graph *g = p->g;
    const difu_node *n = &g->nodes[i];
    difu_conv_problem pr;
    if (difu_conv_node_problem(e, g, n, &pr)) {
        const char *dir = n->op == DIFU_OP_CONV2D ? "fwd" : n->op == DIFU_OP_CONV2D_BWD_DATA ? "bwd_data" : "bwd_weights";
        int at = snprintf(buf, len, "conv2d %dx%d%s %s%s", pr.k, pr.k, pr.stride == 2 ? " s2" : "",
                          dir, p->onednn[i] ? " [oneDNN]" : "");
        if (by_shape && at > 0 && (size_t)at < len) /* channels in > out, the input's size */
            snprintf(buf + at, len - (size_t)at, " %d>%d %dx%d", pr.cin, pr.cout, pr.h, pr.w);
        return;
    }
    if (n->op == DIFU_OP_GROUPNORM)
        snprintf(buf, len, "groupnorm%s%s", n->ip[1] ? "+silu" : "",
                 backward_node(g, i) ? " (recompute)" : "");
    else if (n->op == DIFU_OP_GROUPNORM_BWD)
        snprintf(buf, len, "groupnorm%s_bwd", n->ip[1] ? "+silu" : "");
    else
        snprintf(buf, len, "%s", difu_op_name(n->op));
}

static int by_time(const void *a, const void *b)
{
    const op_kind *x = a, *y = b;
    return (x->seconds < y->seconds) - (x->seconds > y->seconds);
}

static void fill(float *x, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
}

/* Median ms of nrun optimizer passes as the trainer runs them (gradient norm, then Adam + EMA)
 * over the nf parameters, after one untimed pass. */
static double time_optimizer(difu_engine *e, float *params, const float *grads, size_t nf,
                             int nrun)
{
    float *am = calloc(nf, 4), *av = calloc(nf, 4), *ema = malloc(nf * 4);
    memcpy(ema, params, nf * 4);
    difu_adam_params ap = {1e-9f, 0.9f, 0.999f, 1e-8f, 0.1f, 0.001f, 1.0f, 0, 0, 0.999f};
    double opt_ms[16];
    for (int r = -1; r < nrun; r++) {
        double ss, t0 = bench_now();
        difu_sum_squares(e, (int64_t)nf, grads, &ss);
        difu_adam_ema_step(e, (int64_t)nf, &ap, params, grads, am, av, ema);
        if (r >= 0)
            opt_ms[r] = 1e3 * (bench_now() - t0);
    }
    free(am);
    free(av);
    free(ema);
    return bench_median(opt_ms, nrun);
}

int bench_ops(const bench_opts *o)
{
    difu_engine *e = bench_engine(o);
    if (!e)
        return 1;
    difu_model *m = bench_model(e, o->model);
    if (!m) {
        difu_engine_destroy(e);
        return 2;
    }
    const difu_model_config *cfg = difu_model_get_config(m);
    int n = (int)o->batch, rc = 1;
    size_t per = (size_t)cfg->in_ch * cfg->img_size * cfg->img_size;
    float *x = malloc((size_t)n * per * 4), *noise = malloc((size_t)n * per * 4);
    int64_t *t = malloc((size_t)n * 8), *y = malloc((size_t)n * 8), key[2] = {1, 1};
    fill(x, (size_t)n * per, 1);
    fill(noise, (size_t)n * per, 2);
    for (int i = 0; i < n; i++) {
        t[i] = (i * 389 + 17) % 1000;
        y[i] = cfg->num_classes ? i % (cfg->num_classes + 1) : 0;
    }
    difu_graph *g = difu_graph_new();
    difu_unet_io io;
    difu_plan *p = NULL;
    double *sec = NULL;
    double t_plan = bench_now();
    difu_wino_cache wino;
    difu_wino_cache_init(&wino);
    if (!g || difu_unet_build(g, cfg, n, !o->forward, &io) != DIFU_OK) {
        fprintf(stderr, "difu bench ops: %s\n", g ? difu_graph_error(g) : "out of memory");
        goto done;
    }
    if (difu_plan_create(e, g, 1, &p) != DIFU_OK) {
        fprintf(stderr, "difu bench ops: %s\n", difu_engine_last_error(e));
        goto done;
    }
    t_plan = bench_now() - t_plan;
    void *inputs[8] = {NULL};
    inputs[g->tensors[io.x].input_slot] = x;
    inputs[g->tensors[io.t].input_slot] = t;
    if (io.y >= 0)
        inputs[g->tensors[io.y].input_slot] = y;
    if (io.target >= 0)
        inputs[g->tensors[io.target].input_slot] = noise;
    if (io.key >= 0)
        inputs[g->tensors[io.key].input_slot] = key;
    size_t nf = 0;
    float *params = difu_model_params(m, &nf), *grads = difu_model_grads(m, NULL);
    difu_plan_bind(p, params, o->forward ? NULL : grads, inputs);
    if (o->forward && difu_wino_cache_prepare(e, &wino, &p, 1, params) != DIFU_OK) {
        fprintf(stderr, "difu bench ops: %s\n", difu_engine_last_error(e));
        goto done;
    }
    /* warm-up, then the plain run for reference */
    double run_ms[16];
    int nrun = o->reps < 16 ? (int)o->reps : 16;
    for (int r = -1; r < nrun; r++) {
        double t0 = bench_now();
        if (difu_graph_run(e, p) != DIFU_OK) {
            fprintf(stderr, "difu bench ops: %s\n", difu_engine_last_error(e));
            goto done;
        }
        if (r >= 0)
            run_ms[r] = 1e3 * (bench_now() - t0);
    }
    double step_ms = bench_median(run_ms, nrun);
    sec = calloc((size_t)g->n_nodes, sizeof *sec);
    for (long long r = 0; r < o->reps; r++)
        if (difu_graph_profile(e, p, sec) != DIFU_OK) {
            fprintf(stderr, "difu bench ops: %s\n", difu_engine_last_error(e));
            goto done;
        }
    double optimizer_ms = o->forward ? 0.0 : time_optimizer(e, params, grads, nf, nrun);

    op_kind kinds[MAX_KINDS];
    int nk = 0;
    double total = 0, phase[2] = {0, 0};
    for (int i = 0; i < g->n_nodes; i++) {
        char name[64];
        kind_name(e, p, i, o->by_shape, name, sizeof name);
        int bwd = backward_node(g, i), k = 0;
        while (k < nk && (kinds[k].backward != bwd || strcmp(kinds[k].name, name) != 0))
            k++;
        if (k == nk) {
            if (nk == MAX_KINDS)
                k = nk - 1; /* never with the U-Net: lumps the rest into the last kind */
            else {
                memset(&kinds[nk], 0, sizeof kinds[nk]);
                snprintf(kinds[nk].name, sizeof kinds[nk].name, "%s", name);
                kinds[nk++].backward = bwd;
            }
        }
        double s = sec[i] / (double)o->reps;
        kinds[k].count++;
        kinds[k].seconds += s;
        kinds[k].flops += difu_node_flops(g, &g->nodes[i]);
        total += s;
        phase[bwd] += s;
    }
    qsort(kinds, (size_t)nk, sizeof *kinds, by_time);
    printf("difu bench ops: %s, %s, batch %d, %d threads, ISA %s, conv %s; %d nodes; plan %.2f s\n",
           o->model, o->forward ? "sampling forward" : "training step", n, difu_engine_threads(e),
           difu_isa_name(difu_engine_isa(e)), difu_conv_backend_name(difu_engine_conv_backend(e)),
           g->n_nodes, t_plan);
    printf("%-5s %-36s %5s %10s %6s %9s\n", "phase", "op", "nodes", "ms", "%", "GFLOP/s");
    for (int k = 0; k < nk; k++) {
        printf("%-5s %-36s %5d %10.2f %6.1f ", kinds[k].backward ? "bwd" : "fwd", kinds[k].name,
               kinds[k].count, 1e3 * kinds[k].seconds, 100 * kinds[k].seconds / total);
        if (kinds[k].flops > 0)
            printf("%9.1f\n", kinds[k].flops / kinds[k].seconds * 1e-9);
        else
            printf("%9s\n", "-");
    }
    if (o->forward)
        printf("sum of nodes %.2f ms; graph run %.2f ms (median of %d)\n", 1e3 * total, step_ms,
               nrun);
    else
        printf("forward %.2f ms (%.1f%%), backward %.2f ms (%.1f%%); sum of nodes %.2f ms; graph "
               "run %.2f ms (median of %d); optimizer (norm + Adam/EMA) %.2f ms\n",
               1e3 * phase[0], 100 * phase[0] / total, 1e3 * phase[1], 100 * phase[1] / total,
               1e3 * total, step_ms, nrun, optimizer_ms);
    printf("{\"mode\": \"ops\", \"graph\": \"%s\", \"batch\": %d, \"reps\": %lld, \"step_ms\": %.2f, "
           "\"profiled_ms\": %.2f, \"forward_ms\": %.2f, \"backward_ms\": %.2f, \"optimizer_ms\": %.2f, "
           "\"peak_rss_mib\": %.1f, ",
           o->forward ? "forward" : "train", n, o->reps, step_ms, 1e3 * total, 1e3 * phase[0],
           1e3 * phase[1], optimizer_ms, bench_peak_rss_mib());
    printf("\"ops\": [");
    for (int k = 0; k < nk; k++)
        printf("%s{\"phase\": \"%s\", \"op\": \"%s\", \"nodes\": %d, \"ms\": %.3f, \"pct\": %.2f}",
               k ? ", " : "", kinds[k].backward ? "bwd" : "fwd", kinds[k].name, kinds[k].count,
               1e3 * kinds[k].seconds, 100 * kinds[k].seconds / total);
    printf("], ");
    double flops = (o->forward ? 1.0 : 3.0) * difu_model_forward_flops(m) * n;
    bench_json_common(o, e, flops / (step_ms * 1e-3) * 1e-9);
    printf("}\n");
    rc = 0;
done:
    free(sec);
    difu_wino_cache_free(&wino);
    difu_plan_free(p);
    difu_graph_free(g);
    free(x);
    free(noise);
    free(t);
    free(y);
    difu_model_destroy(m);
    difu_engine_destroy(e);
    return rc;
}
