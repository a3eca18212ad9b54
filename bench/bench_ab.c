/* bench_ab.c: two builds of libdifu timed in one process, in alternation: the way to tell a
 * 2-5% change from this VM's noise (a whole process can run 1.5x slower than the next one, and
 * the speed drifts over minutes, so separate runs of the two builds cannot be compared).
 *
 * Each library is dlopen'ed with RTLD_LOCAL | RTLD_DEEPBIND (its own globals and its own calls
 * into itself); each gets its own engine and model from the same seed. A round runs one timed
 * call of A, then one of B (their order swaps every round); after a warm-up, the medians over
 * the rounds, and the median of the per-round ratios B / A.
 *
 *   bench_ab LIB_A LIB_B [--what forward|train] [--model fmnist-s] [--n 64] [--threads 2]
 *            [--rounds 15]
 * forward: difu_model_forward of n images (one sampling step's network evaluation); train:
 * difu_model_forward_backward of a batch of n (no optimizer step).
 * Example: copy build/libdifu.so.0.1.0 to /tmp/a/ before a change and /tmp/b/ after, then
 *   build/bench/bench_ab /tmp/a/libdifu.so.0.1.0 /tmp/b/libdifu.so.0.1.0 --n 64 --threads 2 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_timing.h"
#include "difu.h"

enum { MAX_ROUNDS = 201 };

/* The entry points used here, resolved in one library. */
typedef struct lib {
    const char *path;
    void *h;
    difu_engine_params (*params_default)(void);
    difu_status (*engine_create)(const difu_engine_params *, difu_engine **, char *, size_t);
    void (*engine_destroy)(difu_engine *);
    const char *(*last_error)(const difu_engine *);
    difu_status (*preset)(difu_engine *, const char *, difu_model_config *);
    difu_status (*model_create)(difu_engine *, const difu_model_config *, uint64_t, difu_model **);
    void (*model_destroy)(difu_model *);
    difu_status (*forward)(difu_model *, int, const float *, const int64_t *, const int64_t *,
                           float *);
    difu_status (*forward_backward)(difu_model *, int, const float *, const int64_t *,
                                    const int64_t *, const float *, float *, float *);
    difu_engine *e;
    difu_model *m;
    double t[MAX_ROUNDS];
} lib;

static void *sym(lib *l, const char *name)
{
    void *p = dlsym(l->h, name);
    if (!p) {
        fprintf(stderr, "bench_ab: %s has no %s\n", l->path, name);
        exit(1);
    }
    return p;
}

static void lib_open(lib *l, const char *path, const char *model, int threads)
{
    memset(l, 0, sizeof *l);
    l->path = path;
    l->h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!l->h) {
        fprintf(stderr, "bench_ab: %s\n", dlerror());
        exit(1);
    }
    *(void **)&l->params_default = sym(l, "difu_engine_params_default");
    *(void **)&l->engine_create = sym(l, "difu_engine_create");
    *(void **)&l->engine_destroy = sym(l, "difu_engine_destroy");
    *(void **)&l->last_error = sym(l, "difu_engine_last_error");
    *(void **)&l->preset = sym(l, "difu_model_preset");
    *(void **)&l->model_create = sym(l, "difu_model_create");
    *(void **)&l->model_destroy = sym(l, "difu_model_destroy");
    *(void **)&l->forward = sym(l, "difu_model_forward");
    *(void **)&l->forward_backward = sym(l, "difu_model_forward_backward");
    difu_engine_params p = l->params_default();
    p.threads = threads;
    char err[256];
    if (l->engine_create(&p, &l->e, err, sizeof err) != DIFU_OK) {
        fprintf(stderr, "bench_ab: %s: %s\n", path, err);
        exit(1);
    }
    difu_model_config c;
    if (l->preset(l->e, model, &c) != DIFU_OK || l->model_create(l->e, &c, 1, &l->m) != DIFU_OK) {
        fprintf(stderr, "bench_ab: %s: %s\n", path, l->last_error(l->e));
        exit(1);
    }
}

typedef struct batch {
    int n, train;
    float *x, *noise, *eps, loss;
    int64_t *t, *y;
} batch;

static double run(lib *l, batch *b)
{
    double t0 = bench_seconds();
    difu_status s = b->train ? l->forward_backward(l->m, b->n, b->x, b->t, b->y, b->noise,
                                                   &b->loss, b->eps)
                             : l->forward(l->m, b->n, b->x, b->t, b->y, b->eps);
    if (s != DIFU_OK) {
        fprintf(stderr, "bench_ab: %s: %s\n", l->path, l->last_error(l->e));
        exit(1);
    }
    return bench_seconds() - t0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_ab LIB_A LIB_B [--what forward|train] [--model NAME] [--n N] "
                    "[--threads T] [--rounds R]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        usage();
    const char *model = "fmnist-s", *what = "forward";
    int n = 64, threads = 2, rounds = 15;
    for (int i = 3; i < argc; i += 2) {
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--what") == 0)
            what = argv[i + 1];
        else if (strcmp(argv[i], "--model") == 0)
            model = argv[i + 1];
        else if (strcmp(argv[i], "--n") == 0)
            n = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--rounds") == 0)
            rounds = atoi(argv[i + 1]);
        else
            usage();
    }
    batch b = {.n = n, .train = strcmp(what, "train") == 0};
    if ((!b.train && strcmp(what, "forward") != 0) || n < 1 || n > 4096 || threads < 1 ||
        rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "bench_ab: --what forward|train, --n 1..4096, --threads >= 1, --rounds "
                        "1..%d\n",
                MAX_ROUNDS);
        return 2;
    }
    lib A, B;
    lib_open(&A, argv[1], model, threads);
    lib_open(&B, argv[2], model, threads);
    difu_model_config c;
    A.preset(A.e, model, &c);
    size_t per = (size_t)c.in_ch * (size_t)c.img_size * (size_t)c.img_size;
    b.x = malloc(sizeof(float) * per * (size_t)n);
    b.noise = malloc(sizeof(float) * per * (size_t)n);
    b.eps = malloc(sizeof(float) * per * (size_t)n);
    b.t = malloc(sizeof(int64_t) * (size_t)n);
    b.y = malloc(sizeof(int64_t) * (size_t)n);
    if (!b.x || !b.noise || !b.eps || !b.t || !b.y) {
        fprintf(stderr, "bench_ab: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < per * (size_t)n; i++) {
        b.x[i] = (float)((i * 2654435761u) % 2001) * 1e-3f - 1.0f;
        b.noise[i] = (float)((i * 40503u) % 2001) * 1e-3f - 1.0f;
    }
    for (int i = 0; i < n; i++)
        b.t[i] = (i * 37) % 1000, b.y[i] = i % 10;
    run(&A, &b), run(&B, &b), run(&A, &b), run(&B, &b); /* warm-up: plans, caches, pages */
    double ratio[MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        if (r % 2) {
            B.t[r] = run(&B, &b);
            A.t[r] = run(&A, &b);
        } else {
            A.t[r] = run(&A, &b);
            B.t[r] = run(&B, &b);
        }
        ratio[r] = B.t[r] / A.t[r];
    }
    double ra = bench_median(ratio, rounds), ma = bench_median(A.t, rounds), mb = bench_median(B.t, rounds);
    printf("bench_ab: %s %s, n %d, %d threads, %d rounds (medians)\n", model, what, n, threads,
           rounds);
    printf("  A %-40s %9.2f ms\n  B %-40s %9.2f ms\n  B / A per round: %.4f (B %s by %.1f%%)\n",
           argv[1], ma * 1e3, argv[2], mb * 1e3, ra, ra <= 1 ? "faster" : "slower",
           100.0 * (ra <= 1 ? 1 / ra - 1 : ra - 1));
    printf("{\"model\": \"%s\", \"what\": \"%s\", \"n\": %d, \"threads\": %d, \"rounds\": %d, "
           "\"a_ms\": %.3f, \"b_ms\": %.3f, \"ratio_b_over_a\": %.4f}\n",
           model, what, n, threads, rounds, ma * 1e3, mb * 1e3, ra);
    A.model_destroy(A.m), B.model_destroy(B.m);
    A.engine_destroy(A.e), B.engine_destroy(B.e);
    free(b.x), free(b.noise), free(b.eps), free(b.t), free(b.y);
    return 0;
}
