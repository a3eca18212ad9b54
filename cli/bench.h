/* bench.h: what the parts of `difu bench` share (cli/cmd_bench.c: train and sample;
 * cli/bench_ops.c: the per-op breakdown; cli/bench_common.c: options, engine, clock, peak, RSS). */
#ifndef DIFU_CLI_BENCH_H
#define DIFU_CLI_BENCH_H

#include "difu.h"

typedef struct bench_opts {
    const char *mode;      /* "train", "sample" or "ops" */
    const char *model;     /* preset name */
    const char *data;      /* train: dataset spec; NULL = a synthetic one of random images */
    const char *sampler;   /* sample: ddim or ddpm */
    long long batch;       /* train / ops batch; sample: images per forward (default n) */
    long long n;           /* sample: images */
    long long steps;       /* train: timed steps; sample: reverse steps */
    long long warmup;      /* untimed steps first */
    long long reps;        /* ops: profiled runs; sample: full sampling runs */
    long long threads;
    int isa;               /* difu_isa cap, DIFU_ISA_COUNT = best */
    int conv;              /* difu_conv_backend */
    double guidance;       /* sample */
    double peak_gflops;    /* 0: estimate */
    int forward;           /* ops: profile the sampling forward instead of a training step */
    int by_shape;          /* ops: one row per convolution shape */
    int no_weight_cache;   /* sample: transform the 3x3 weights at every forward */
} bench_opts;

/* Parses argv (after the mode word) into o; prints the problem and returns 0 on bad usage. */
int bench_parse(bench_opts *o, int argc, char **argv);
/* The engine of o (threads, ISA cap, conv backend); NULL with a message on failure. */
difu_engine *bench_engine(const bench_opts *o);
/* A fresh model of the preset (num_classes as the preset says); NULL with a message. */
difu_model *bench_model(difu_engine *e, const char *name);

double bench_now(void);
/* Median of v[0..n) (sorts v). */
double bench_median(double *v, int n);
/* The 1-minute load average (/proc/loadavg), -1 when unknown. */
double bench_loadavg(void);
/* Peak resident set size of this process in MiB. */
double bench_peak_rss_mib(void);

/* The FMA peak in GFLOP/s of `threads` cores running ISA isa: *clock_ghz (measured with a chain
 * of dependent integer adds, one per cycle, on thread CPU time) x FLOP per cycle per core (two
 * FMA pipes of the ISA's width: AVX-512 64, AVX2 32, NEON 16, scalar 4). 0 when the clock cannot
 * be measured on this CPU. */
double bench_peak_gflops(difu_isa isa, int threads, double *clock_ghz, int *flop_per_cycle);
/* The ISA the convolutions ran on: the engine's, or the CPU's best when any ran on oneDNN (the
 * engine's cap does not reach oneDNN). */
difu_isa bench_conv_isa(difu_engine *e);
/* Prints the fields every JSON line shares (no braces): model, threads, isa, conv, peak. */
void bench_json_common(const bench_opts *o, difu_engine *e, double gflops);
/* One line per conv decision the engine made (auto), on stderr. */
void bench_print_choices(difu_engine *e);

int bench_ops(const bench_opts *o);

#endif /* DIFU_CLI_BENCH_H */
