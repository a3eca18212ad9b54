/* cmd_bench.c: `difu bench`, the throughput tool: training steps (difu_trainer_step: batch,
 * q_sample, forward + backward, clip, Adam + EMA) and sampling (difu_sample), each after a
 * warm-up, reported as the median of the timed steps in ONE JSON line on stdout (img_per_s,
 * gflops, pct_peak, peak_rss_mib, ...). `difu bench ops` is in bench_ops.c. */
#define _DEFAULT_SOURCE /* getloadavg */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "onednn_conv.h"

static const char usage_text[] =
    "usage: difu bench train  --model NAME [--batch B] [--threads T] [--steps N] [options]\n"
    "       difu bench sample --model NAME [--sampler ddim] [--steps K] [--n N] [options]\n"
    "       difu bench ops    --model NAME [--batch B] [--threads T] [--reps R] [--forward] [options]\n"
    "  --model NAME        fmnist-t (default), fmnist-s, tiny\n"
    "  --batch B           train / ops: images per step (128); sample: images per forward (N)\n"
    "  --threads T         worker threads (all cores)\n"
    "  --steps N           train: timed steps (5); sample: reverse steps (50)\n"
    "  --warmup W          untimed steps first (train 2; sample: first W reverse steps, 2)\n"
    "  --n N               sample: images (64)\n"
    "  --sampler S         sample: ddim (default) or ddpm\n"
    "  --guidance W        sample: classifier-free guidance (1: one forward per step)\n"
    "  --reps R            ops: profiled training steps (3); sample: sampling runs (1)\n"
    "  --forward           ops: profile the sampling forward (the forward graph with the 3x3\n"
    "                      weights kept in Winograd form, as each sampling step runs it)\n"
    "  --by-shape          ops: one row per convolution shape (cin>cout HxW)\n"
    "  --no-weight-cache   sample: transform the 3x3 weights at every forward (as difu sample\n"
    "                      --no-weight-cache)\n"
    "  --isa X             cap the native kernels: ref, avx2, avx512, neon, best (best)\n"
    "  --conv C            convolutions: native (default, what difu train runs), onednn, or auto\n"
    "                      (each problem timed once on both, the faster kept)\n"
    "  --data SPEC         train: a dataset (difu train --data); default: random images\n"
    "  --peak-gflops P     the machine's peak for pct_peak (default: measured clock x FLOP/cycle)\n"
    "Ends with one JSON line: img_per_s, gflops (achieved; a training step counts 3x the forward\n"
    "FLOPs of direct convolutions, so Winograd's saving shows as speed), pct_peak,\n"
    "peak_rss_mib, model, batch, threads, isa, conv. Progress goes to stderr.\n";

/* ---------------------------------------------------------------- synthetic training data */

static void put_be32(FILE *f, unsigned v)
{
    fputc((int)(v >> 24) & 255, f);
    fputc((int)(v >> 16) & 255, f);
    fputc((int)(v >> 8) & 255, f);
    fputc((int)v & 255, f);
}

/* Writes `count` random size x size images with labels i % 10 as IDX files in a new temporary
 * folder (its name into dir); returns 0 on failure. */
static int write_random_idx(char *dir, size_t len, int count, int size)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, len, "%s/difu-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("difu bench: mkdtemp");
        return 0;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    put_be32(f, 0x803);
    put_be32(f, (unsigned)count);
    put_be32(f, (unsigned)size);
    put_be32(f, (unsigned)size);
    unsigned s = 12345;
    for (long i = 0; i < (long)count * size * size; i++) {
        s = s * 1664525u + 1013904223u;
        fputc((int)(s >> 24), f);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    if (!(f = fopen(path, "wb")))
        return 0;
    put_be32(f, 0x801);
    put_be32(f, (unsigned)count);
    for (int i = 0; i < count; i++)
        fputc(i % 10, f);
    fclose(f);
    return 1;
}

static void remove_idx(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    unlink(path);
    rmdir(dir);
}

/* ---------------------------------------------------------------- train */

static void print_times(const char *name, const double *ms, int n)
{
    printf("\"%s\": [", name);
    for (int i = 0; i < n; i++)
        printf("%s%.1f", i ? ", " : "", ms[i]);
    printf("], ");
}

static int bench_train(const bench_opts *o)
{
    difu_engine *e = bench_engine(o);
    if (!e)
        return 1;
    difu_model_config cfg;
    if (difu_model_preset(e, o->model, &cfg) != DIFU_OK) {
        fprintf(stderr, "difu bench: %s\n", difu_engine_last_error(e));
        difu_engine_destroy(e);
        return 2;
    }
    char dir[4096] = "", spec[4200];
    if (!o->data && !write_random_idx(dir, sizeof dir, (int)o->batch, cfg.img_size)) {
        difu_engine_destroy(e);
        return 1;
    }
    snprintf(spec, sizeof spec, "idx:%s", dir);
    double load0 = bench_loadavg();
    difu_train_params p = difu_train_params_default();
    p.data = o->data ? o->data : spec;
    p.model = o->model;
    p.batch = (int)o->batch;
    p.steps = o->warmup + o->steps;
    p.cond = cfg.num_classes > 0;
    p.ema_decay = 0.999f;
    p.write_files = 0;
    difu_trainer *t = NULL;
    difu_status s = difu_trainer_create(e, &p, NULL, &t);
    int n = (int)o->steps, rc = 0;
    double *ms = calloc((size_t)n, sizeof *ms), *sorted = calloc((size_t)n, sizeof *sorted);
    for (long long i = 0; s == DIFU_OK && i < o->warmup + o->steps; i++) {
        double t0 = bench_now();
        difu_train_progress pr;
        s = difu_trainer_step(t, &pr);
        double dt = bench_now() - t0;
        fprintf(stderr, "difu bench train: step %lld%s: %.1f ms, loss %.4f\n", i + 1,
                i < o->warmup ? " (warm-up)" : "", 1e3 * dt, (double)pr.loss);
        if (i >= o->warmup)
            ms[i - o->warmup] = 1e3 * dt;
    }
    if (dir[0])
        remove_idx(dir);
    if (s != DIFU_OK) {
        fprintf(stderr, "difu bench train: %s\n", difu_engine_last_error(e));
        rc = 1;
    } else {
        bench_print_choices(e);
        memcpy(sorted, ms, (size_t)n * sizeof *ms);
        double med = bench_median(sorted, n) * 1e-3;
        double flops = 3.0 * difu_model_forward_flops(difu_trainer_model(t)) * (double)o->batch;
        double gflops = flops / med * 1e-9, load1 = bench_loadavg();
        printf("{\"mode\": \"train\", \"img_per_s\": %.2f, \"step_ms\": %.1f, ", (double)o->batch / med,
               med * 1e3);
        print_times("step_ms_all", ms, n);
        printf("\"gflops\": %.1f, \"gflop_per_img\": %.3f, \"peak_rss_mib\": %.1f, \"batch\": %lld, "
               "\"steps\": %lld, \"warmup\": %lld, \"data\": \"%s\", \"loadavg_1m\": [%.2f, %.2f], ",
               gflops, flops / (double)o->batch * 1e-9, bench_peak_rss_mib(), o->batch, o->steps,
               o->warmup, o->data ? o->data : "random", load0, load1);
        bench_json_common(o, e, gflops);
        printf("}\n");
    }
    free(ms);
    free(sorted);
    difu_trainer_destroy(t);
    difu_engine_destroy(e);
    return rc;
}

/* ---------------------------------------------------------------- sample */

typedef struct step_clock {
    double last;
    double *ms; /* one per reverse step of one batch */
    int count, cap;
} step_clock;

static void on_step(int64_t done, int64_t total, void *ctx)
{
    (void)done;
    (void)total;
    step_clock *c = ctx;
    double now = bench_now();
    if (c->count < c->cap)
        c->ms[c->count++] = 1e3 * (now - c->last);
    c->last = now;
}

static int bench_sample(const bench_opts *o)
{
    int sampler = difu_sampler_kind_parse(o->sampler);
    if (sampler < 0) {
        fprintf(stderr, "difu bench sample: --sampler takes ddim or ddpm, got '%s'\n", o->sampler);
        return 2;
    }
    difu_engine *e = bench_engine(o);
    if (!e)
        return 1;
    difu_model *m = bench_model(e, o->model);
    if (!m) {
        difu_engine_destroy(e);
        return 2;
    }
    difu_model_set_weight_cache(m, !o->no_weight_cache);
    const difu_model_config *cfg = difu_model_get_config(m);
    int n = (int)o->n, batch = (int)(o->batch ? o->batch : o->n);
    int64_t per = (int64_t)cfg->in_ch * cfg->img_size * cfg->img_size;
    int batches = (n + batch - 1) / batch;
    float *img = malloc((size_t)n * (size_t)per * sizeof(float));
    int64_t *labels = malloc((size_t)n * sizeof *labels);
    step_clock c = {0};
    c.cap = (int)(o->reps * o->steps * batches);
    c.ms = calloc((size_t)c.cap, sizeof *c.ms);
    double load0 = bench_loadavg(), load1 = 0;
    for (int i = 0; i < n; i++)
        labels[i] = cfg->num_classes > 0 ? i % cfg->num_classes : 0;
    difu_sample_params p = difu_sample_params_default();
    p.sampler = (difu_sampler_kind)sampler;
    p.steps = (int)o->steps;
    p.guidance = (float)o->guidance;
    p.batch = batch;
    p.progress = on_step;
    p.progress_ctx = &c;
    difu_status s = DIFU_OK;
    double wall = 0;
    for (long long r = 0; r < o->reps && s == DIFU_OK; r++) {
        c.last = bench_now();
        double t0 = c.last;
        s = difu_sample(e, m, &p, n, cfg->num_classes > 0 ? labels : NULL, img);
        wall = bench_now() - t0;
        fprintf(stderr, "difu bench sample: run %lld: %d images, %lld steps: %.2f s\n", r + 1, n,
                o->steps, wall);
    }
    int rc = 0;
    int skip = (int)(o->warmup < c.count ? o->warmup : c.count - 1);
    if (s != DIFU_OK) {
        fprintf(stderr, "difu bench sample: %s\n", difu_engine_last_error(e));
        rc = 1;
    } else {
        bench_print_choices(e);
        double med = bench_median(c.ms + skip, c.count - skip) * 1e-3;
        int guided = cfg->num_classes > 0 && p.guidance != 1.0f;
        double fwd = difu_model_forward_flops(m) * batch * (guided ? 2 : 1);
        double gflops = fwd / med * 1e-9;
        load1 = bench_loadavg();
        printf("{\"mode\": \"sample\", \"sampler\": \"%s\", \"img_per_s\": %.3f, "
               "\"step_ms\": %.1f, \"wall_s\": %.2f, \"wall_img_per_s\": %.3f, \"gflops\": %.1f, "
               "\"peak_rss_mib\": %.1f, \"n\": %d, \"batch\": %d, \"steps\": %lld, "
               "\"guidance\": %g, \"loadavg_1m\": [%.2f, %.2f], ",
               o->sampler, (double)batch / (med * (double)o->steps), med * 1e3, wall, n / wall,
               gflops, bench_peak_rss_mib(), n, batch, o->steps, (double)p.guidance, load0, load1);
        bench_json_common(o, e, gflops);
        printf("}\n");
    }
    free(c.ms);
    free(img);
    free(labels);
    difu_model_destroy(m);
    difu_engine_destroy(e);
    return rc;
}

/* ---------------------------------------------------------------- the command */

int difu_cmd_bench(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    bench_opts o;
    memset(&o, 0, sizeof o);
    o.mode = argv[1];
    o.model = "fmnist-t";
    o.sampler = "ddim";
    o.warmup = 2;
    o.threads = difu_engine_params_default().threads;
    o.isa = DIFU_ISA_COUNT;
    o.conv = DIFU_CONV_NATIVE;
    o.guidance = 1.0;
    int train = strcmp(o.mode, "train") == 0, sample = strcmp(o.mode, "sample") == 0,
        ops = strcmp(o.mode, "ops") == 0;
    if (!train && !sample && !ops) {
        fprintf(stderr, "difu bench: unknown mode '%s' (train, sample, ops)\n%s", o.mode, usage_text);
        return 2;
    }
    if (!bench_parse(&o, argc - 2, argv + 2))
        return 2;
    if (!o.steps)
        o.steps = sample ? 50 : 5;
    if (!o.reps)
        o.reps = ops ? 3 : 1;
    if (!o.n)
        o.n = 64;
    if (!o.batch && !sample)
        o.batch = 128;
    if (train)
        return bench_train(&o);
    if (sample)
        return bench_sample(&o);
    return bench_ops(&o);
}
