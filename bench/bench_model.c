/* bench_model.c: images/s of the U-Net presets, forward and forward + backward, at the given batch
 * sizes and thread counts, with the planned activation arena and the peak RSS of each case (each
 * case runs in its own child process, so the RSS is its own). Before timing, the best ISA's
 * prediction is checked against the reference kernels on a small batch.
 *
 *   bench_model [--model fmnist-t,fmnist-s] [--batch 128,1] [--threads 1,2] [--reps N]
 *   bench_model --barriers MODEL --batch N --threads T [--reps N]
 *     times the planned forward+backward graph with the barriers the planner skips and with a
 *     barrier after every node.
 *
 * One line per case: model, batch, threads, ISA, mode, median ms per step, images/s, GFLOP/s,
 * arena MB, peak RSS MB. Warm-up runs first; the median of the timed runs is reported. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_timing.h"
#include "difu.h"
#include "graph.h"
#include "unet.h"

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void fill(float *x, size_t n, uint64_t seed, float scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = scale * (float)((double)(mix(&seed) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

static difu_engine *engine(int threads, difu_isa cap)
{
    difu_engine_params p = difu_engine_params_default();
    p.threads = threads;
    p.max_isa = cap;
    difu_engine *e = NULL;
    char err[256];
    if (difu_engine_create(&p, &e, err, sizeof err) != DIFU_OK) {
        fprintf(stderr, "bench_model: %s\n", err);
        exit(1);
    }
    return e;
}

static difu_model *model(difu_engine *e, const char *name)
{
    difu_model_config c;
    difu_model *m = NULL;
    if (difu_model_preset(e, name, &c) != DIFU_OK || difu_model_create(e, &c, 1, &m) != DIFU_OK) {
        fprintf(stderr, "bench_model: %s\n", difu_engine_last_error(e));
        exit(1);
    }
    /* the zero-initialised layers would make the backward trivial: perturb every parameter */
    size_t n;
    float *p = difu_model_params(m, &n);
    float *noise = malloc(n * sizeof *noise);
    fill(noise, n, 99, 0.02f);
    for (size_t i = 0; i < n; i++)
        p[i] += noise[i];
    free(noise);
    return m;
}

typedef struct batch {
    int n;
    size_t numel;
    float *x, *noise, *eps;
    int64_t *t, *y;
} batch;

static batch make_batch(const difu_model_config *c, int n)
{
    batch b;
    b.n = n;
    b.numel = (size_t)n * c->in_ch * c->img_size * c->img_size;
    b.x = malloc(b.numel * 4);
    b.noise = malloc(b.numel * 4);
    b.eps = malloc(b.numel * 4);
    b.t = malloc((size_t)n * 8);
    b.y = malloc((size_t)n * 8);
    fill(b.x, b.numel, 1, 1.0f);
    fill(b.noise, b.numel, 2, 1.5f);
    for (int i = 0; i < n; i++) {
        b.t[i] = (i * 389 + 17) % 1000;
        b.y[i] = i % (c->num_classes + 1);
    }
    return b;
}

static void free_batch(batch *b)
{
    free(b->x);
    free(b->noise);
    free(b->eps);
    free(b->t);
    free(b->y);
}

static int step(difu_model *m, batch *b, int train)
{
    float loss;
    if (train)
        return difu_model_forward_backward(m, b->n, b->x, b->t, b->y, b->noise, &loss, NULL);
    return difu_model_forward(m, b->n, b->x, b->t, b->y, b->eps);
}

/* The best ISA's eps against the reference kernels' on a batch of 2. */
static int check(const char *name)
{
    difu_engine *eb = engine(1, DIFU_ISA_COUNT), *er = engine(1, DIFU_ISA_REF);
    difu_model *mb = model(eb, name), *mr = model(er, name);
    batch b = make_batch(difu_model_get_config(mb), 2);
    float *ref = malloc(b.numel * 4);
    if (step(mb, &b, 0) != DIFU_OK || difu_model_forward(mr, 2, b.x, b.t, b.y, ref) != DIFU_OK) {
        fprintf(stderr, "bench_model: %s\n", difu_engine_last_error(eb));
        return 1;
    }
    double mx = 0, err = 0;
    /* Plain compares: aarch64 gcc 12 crashes vectorising fmax(double, fabs(float)) reductions. */
    for (size_t i = 0; i < b.numel; i++) {
        double r = fabs((double)ref[i]), d = fabs((double)b.eps[i] - ref[i]);
        if (r > mx)
            mx = r;
        if (d > err || d != d) /* a NaN sticks */
            err = d;
    }
    int bad = !(err <= 1e-4 * mx);
    printf("# check %s: %s eps vs ref, max |diff| %.2e of max %.3g: %s\n", name,
           difu_isa_name(difu_engine_isa(eb)), err, mx, bad ? "FAILED" : "ok");
    free(ref);
    free_batch(&b);
    difu_model_destroy(mb);
    difu_model_destroy(mr);
    difu_engine_destroy(eb);
    difu_engine_destroy(er);
    return bad;
}

static void run_case(const char *name, int n, int threads, int train, int reps)
{
    difu_engine *e = engine(threads, DIFU_ISA_COUNT);
    difu_model *m = model(e, name);
    batch b = make_batch(difu_model_get_config(m), n);
    size_t arena = 0;
    difu_model_activation_bytes(m, n, train, &arena);
    for (int w = 0; w < 2; w++)
        if (step(m, &b, train) != DIFU_OK) {
            fprintf(stderr, "bench_model: %s\n", difu_engine_last_error(e));
            exit(1);
        }
    double *ms = malloc((size_t)reps * sizeof *ms);
    for (int r = 0; r < reps; r++) {
        double t0 = bench_seconds();
        step(m, &b, train);
        ms[r] = 1e3 * (bench_seconds() - t0);
    }
    qsort(ms, (size_t)reps, sizeof *ms, bench_cmp_double);
    double med = ms[reps / 2];
    double flops = difu_model_forward_flops(m) * n * (train ? 3.0 : 1.0);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%-9s %5d %3d %-7s %-8s %10.2f %9.1f %8.1f %9.1f %9.1f\n", name, n, threads,
           difu_isa_name(difu_engine_isa(e)), train ? "fwd+bwd" : "fwd", med, n / (med * 1e-3),
           flops / (med * 1e-3) * 1e-9, arena / 1e6, ru.ru_maxrss / 1024.0);
    fflush(stdout);
    free(ms);
    free_batch(&b);
    difu_model_destroy(m);
    difu_engine_destroy(e);
}

/* Median ms of the training graph with the planner's barriers and with one after every node. */
static void barriers(const char *name, int n, int threads, int reps)
{
    difu_engine *e = engine(threads, DIFU_ISA_COUNT);
    difu_model *m = model(e, name);
    batch b = make_batch(difu_model_get_config(m), n);
    difu_graph *g = difu_graph_new();
    difu_unet_io io;
    difu_plan *p = NULL;
    if (difu_unet_build(g, difu_model_get_config(m), n, 1, &io) != DIFU_OK ||
        difu_plan_create(e, g, 1, &p) != DIFU_OK) {
        fprintf(stderr, "bench_model: %s %s\n", difu_graph_error(g), difu_engine_last_error(e));
        exit(1);
    }
    void *inputs[8] = {NULL};
    inputs[g->tensors[io.x].input_slot] = b.x;
    inputs[g->tensors[io.t].input_slot] = b.t;
    if (io.y >= 0)
        inputs[g->tensors[io.y].input_slot] = b.y;
    inputs[g->tensors[io.target].input_slot] = b.noise;
    difu_plan_bind(p, difu_model_params(m, NULL), difu_model_grads(m, NULL), inputs);
    int skipped = 0;
    for (int i = 0; i < g->n_nodes; i++)
        skipped += !p->barrier[i];
    double *ms = malloc((size_t)reps * sizeof *ms);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            difu_plan_all_barriers(p);
        difu_graph_run(e, p);
        for (int r = 0; r < reps; r++) {
            double t0 = bench_seconds();
            difu_graph_run(e, p);
            ms[r] = 1e3 * (bench_seconds() - t0);
        }
        qsort(ms, (size_t)reps, sizeof *ms, bench_cmp_double);
        printf("%-9s batch %d, %d threads, %d nodes: %s: %.2f ms (median of %d)\n", name, n,
               threads, g->n_nodes, pass ? "barrier after every node" : "planned barriers",
               ms[reps / 2], reps);
        if (pass == 0)
            printf("  (%d barriers skipped)\n", skipped);
    }
    free(ms);
    difu_plan_free(p);
    difu_graph_free(g);
    free_batch(&b);
    difu_model_destroy(m);
    difu_engine_destroy(e);
}

static int parse_list(const char *text, int *out, int max)
{
    int n = 0;
    const char *p = text;
    while (*p && n < max) {
        out[n++] = atoi(p);
        p = strchr(p, ',');
        if (!p)
            break;
        p++;
    }
    return n;
}

int main(int argc, char **argv)
{
    char models_text[256] = "fmnist-t,fmnist-s";
    int batches[8] = {128, 1}, nb = 2, threads[8] = {1, 2}, nt = 2, reps = 0;
    const char *barrier_model = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--barriers") == 0)
            barrier_model = argv[i + 1];
        else if (strcmp(argv[i], "--model") == 0)
            snprintf(models_text, sizeof models_text, "%s", argv[i + 1]);
        else if (strcmp(argv[i], "--batch") == 0)
            nb = parse_list(argv[i + 1], batches, 8);
        else if (strcmp(argv[i], "--threads") == 0)
            nt = parse_list(argv[i + 1], threads, 8);
        else if (strcmp(argv[i], "--reps") == 0)
            reps = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: bench_model [--model a,b] [--batch 128,1] [--threads 1,2] [--reps N]\n");
            return 2;
        }
    }
    if (barrier_model) {
        barriers(barrier_model, batches[0], threads[nt - 1], reps > 0 ? reps : 21);
        return 0;
    }
    printf("%-9s %5s %3s %-7s %-8s %10s %9s %8s %9s %9s\n", "model", "batch", "thr", "isa", "mode",
           "ms/step", "img/s", "GFLOP/s", "arena MB", "RSS MB");
    for (char *name = strtok(models_text, ","); name; name = strtok(NULL, ",")) {
        if (check(name) != 0)
            return 1;
        for (int bi = 0; bi < nb; bi++)
            for (int train = 0; train < 2; train++)
                for (int ti = 0; ti < nt; ti++) {
                    int r = reps > 0 ? reps : (batches[bi] >= 32 ? 5 : 21);
                    fflush(stdout);
                    pid_t pid = fork();
                    if (pid == 0) {
                        run_case(name, batches[bi], threads[ti], train, r);
                        _exit(0);
                    }
                    int st = 0;
                    waitpid(pid, &st, 0);
                    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                        return 1;
                }
    }
    return 0;
}
