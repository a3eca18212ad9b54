/* bench_common.c: the parts of `difu bench` every mode uses: option parsing, the engine and
 * model, clocks, medians, peak RSS, the machine's FMA peak, and the JSON fields they share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "args.h"
#include "bench.h"
#include "conv_choice.h"

static const char *const cmd = "bench";

int bench_parse(bench_opts *o, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v;
        double d;
        if (strcmp(a, "--model") == 0 || strcmp(a, "--data") == 0 || strcmp(a, "--sampler") == 0 ||
            strcmp(a, "--isa") == 0 || strcmp(a, "--conv") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i)))
                return 0;
            if (a[2] == 'm')
                o->model = v;
            else if (a[2] == 'd')
                o->data = v;
            else if (a[2] == 's')
                o->sampler = v;
            else if (a[2] == 'i') {
                o->isa = difu_isa_parse(v);
                if (o->isa < 0) {
                    fprintf(stderr, "difu bench: --isa takes ref, avx2, avx512, neon or best, got '%s'\n", v);
                    return 0;
                }
            } else {
                int b = -1;
                for (int k = 0; k < DIFU_CONV_BACKEND_COUNT; k++)
                    if (strcmp(v, difu_conv_backend_name((difu_conv_backend)k)) == 0)
                        b = k;
                if (b < 0) {
                    fprintf(stderr, "difu bench: --conv takes native, onednn or auto, got '%s'\n", v);
                    return 0;
                }
                o->conv = b;
            }
            continue;
        }
        long long *target = strcmp(a, "--batch") == 0     ? &o->batch
                            : strcmp(a, "--n") == 0       ? &o->n
                            : strcmp(a, "--steps") == 0   ? &o->steps
                            : strcmp(a, "--warmup") == 0  ? &o->warmup
                            : strcmp(a, "--reps") == 0    ? &o->reps
                            : strcmp(a, "--threads") == 0 ? &o->threads
                                                          : NULL;
        if (target) {
            long long lo = target == &o->warmup ? 0 : 1;
            long long hi = target == &o->threads ? 4096 : 1 << 20; /* as every other command */
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_int(cmd, a, v, lo, hi, target))
                return 0;
            continue;
        }
        if (strcmp(a, "--guidance") == 0 || strcmp(a, "--peak-gflops") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_float(cmd, a, v, a[2] == 'g' ? -100 : 1e-3, 1e9, &d))
                return 0;
            if (a[2] == 'g')
                o->guidance = d;
            else
                o->peak_gflops = d;
            continue;
        }
        if (strcmp(a, "--forward") == 0 || strcmp(a, "--by-shape") == 0 ||
            strcmp(a, "--no-weight-cache") == 0) {
            *(a[2] == 'f' ? &o->forward : a[2] == 'b' ? &o->by_shape : &o->no_weight_cache) = 1;
            continue;
        }
        fprintf(stderr, "difu bench %s: unknown option '%s' (see difu bench --help)\n", o->mode, a);
        return 0;
    }
    return 1;
}

difu_engine *bench_engine(const bench_opts *o)
{
    difu_engine_params p = difu_engine_params_default();
    p.threads = (int)o->threads;
    p.max_isa = (difu_isa)o->isa;
    p.conv_backend = (difu_conv_backend)o->conv;
    difu_engine *e = NULL;
    char err[512];
    if (difu_engine_create(&p, &e, err, sizeof err) != DIFU_OK) {
        fprintf(stderr, "difu bench: %s\n", err);
        return NULL;
    }
    return e;
}

difu_model *bench_model(difu_engine *e, const char *name)
{
    difu_model_config c;
    difu_model *m = NULL;
    if (difu_model_preset(e, name, &c) != DIFU_OK || difu_model_create(e, &c, 1, &m) != DIFU_OK) {
        fprintf(stderr, "difu bench: %s\n", difu_engine_last_error(e));
        return NULL;
    }
    return m;
}

double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double bench_loadavg(void)
{
    double v = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

double bench_peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static double thread_cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Cycles per second: a chain of dependent adds (one cycle each on every x86-64 and aarch64 core),
 * timed on this thread's CPU time so that other processes do not count; the best of 10. */
static double measure_clock_ghz(void)
{
#if defined(__x86_64__) || defined(__aarch64__)
    double best = 0;
    for (int r = 0; r < 10; r++) {
        unsigned long x = 0;
        const long iters = 2000000;
        double t0 = thread_cpu_s();
        for (long i = 0; i < iters; i++) {
#if defined(__x86_64__)
#define ADD1 "addq $1, %0\n\t"
#else
#define ADD1 "add %0, %0, #1\n\t"
#endif
#define ADD10 ADD1 ADD1 ADD1 ADD1 ADD1 ADD1 ADD1 ADD1 ADD1 ADD1
            __asm__ volatile(ADD10 ADD10 ADD10 ADD10 ADD10 ADD10 ADD10 ADD10 ADD10 ADD10
                             : "+r"(x));
        }
        double dt = thread_cpu_s() - t0;
        if (dt > 0 && (double)iters * 100.0 / dt / 1e9 > best)
            best = (double)iters * 100.0 / dt / 1e9;
    }
    return best;
#else
    return 0;
#endif
}

double bench_peak_gflops(difu_isa isa, int threads, double *clock_ghz, int *flop_per_cycle)
{
    int fpc = isa == DIFU_ISA_AVX512 ? 64 : isa == DIFU_ISA_AVX2 ? 32 : isa == DIFU_ISA_NEON ? 16 : 4;
    double ghz = measure_clock_ghz();
    *clock_ghz = ghz;
    *flop_per_cycle = fpc;
    return ghz * fpc * threads;
}

difu_isa bench_conv_isa(difu_engine *e)
{
    difu_conv_backend b = difu_engine_conv_backend(e);
    int onednn = b == DIFU_CONV_ONEDNN;
    for (int i = 0; b == DIFU_CONV_AUTO && i < difu_conv_choice_count(e); i++)
        onednn |= difu_conv_choice_at(e, i)->onednn;
    if (!onednn)
        return difu_engine_isa(e);
    difu_cpu_features f = difu_engine_cpu(e);
    return difu_cpu_best_isa(&f);
}

void bench_json_common(const bench_opts *o, difu_engine *e, double gflops)
{
    difu_isa ci = bench_conv_isa(e);
    double ghz = 0, peak = o->peak_gflops;
    int fpc = 0;
    if (peak <= 0)
        peak = bench_peak_gflops(ci, difu_engine_threads(e), &ghz, &fpc);
    printf("\"model\": \"%s\", \"threads\": %d, \"isa\": \"%s\", \"conv\": \"%s\", "
           "\"conv_isa\": \"%s\", ",
           o->model, difu_engine_threads(e), difu_isa_name(difu_engine_isa(e)),
           difu_conv_backend_name(difu_engine_conv_backend(e)), difu_isa_name(ci));
    if (o->peak_gflops > 0)
        printf("\"peak_gflops\": %.1f, \"peak_source\": \"--peak-gflops\", ", peak);
    else
        printf("\"peak_gflops\": %.1f, \"peak_source\": \"%.2f GHz x %d FLOP/cycle x %d cores\", ",
               peak, ghz, fpc, difu_engine_threads(e));
    if (peak > 0)
        printf("\"pct_peak\": %.1f", 100.0 * gflops / peak);
    else
        printf("\"pct_peak\": null");
}

void bench_print_choices(difu_engine *e)
{
    for (int i = 0; i < difu_conv_choice_count(e); i++) {
        const difu_conv_choice *c = difu_conv_choice_at(e, i);
        const difu_conv_problem *k = &c->key;
        fprintf(stderr,
                "difu bench: conv %-11s n=%d cin=%d %dx%d cout=%d k=%d s=%d: native %.2f ms, "
                "oneDNN %.2f ms -> %s\n",
                difu_conv_dir_name((difu_conv_dir)k->dir), k->n, k->cin, k->h, k->w, k->cout, k->k,
                k->stride, c->native_ms, c->onednn_ms, c->onednn ? "oneDNN" : "native");
    }
}
