/* bench_conv.c: conv2d benchmark on the fmnist-s shapes (../shared/MODEL.md): forward,
 * backward-data and backward-weights at batch 128 and 1, for each native ISA variant and for the
 * oneDNN backend side by side, at 1 and 2 threads. Each case is checked against sums computed
 * here in double at sampled output points, then timed: warm-up, median of --reps runs.
 * One line per case: op, shape, variant, threads, median ms, GFLOP/s.
 *
 *   bench_conv [--threads 1,2] [--batch 128,1] [--shape c64_28,...] [--reps 5]
 *              [--variants ref,avx2,avx512,neon,onednn] [--ops fwd,bwd_data,bwd_weights]
 *              [--clock wall|cpu]
 * --clock cpu times with the process CPU clock, which does not run while the process is
 * descheduled: steadier on a shared machine, meaningful with --threads 1 only.
 * oneDNN capped to AVX2: ONEDNN_MAX_CPU_ISA=AVX2 bench_conv --variants onednn,avx2 */
/* MADV_HUGEPAGE is a Linux extension: the project's _POSIX_C_SOURCE alone hides it */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__linux__) && !defined(MADV_HUGEPAGE)
#error "MADV_HUGEPAGE is not visible: large arenas would silently run on 4 KiB pages"
#endif
#include <time.h>

#include "bench_timing.h"
#include "difu.h"

typedef struct conv_shape {
    const char *name;
    int cin, cout, hw, k, stride;
} conv_shape;

static const conv_shape shapes[] = {
    {"c64_28", 64, 64, 28, 3, 1},        {"c128_14", 128, 128, 14, 3, 1},
    {"c128_7", 128, 128, 7, 3, 1},       {"down64_28", 64, 64, 28, 3, 2},
    {"down128_14", 128, 128, 14, 3, 2},  {"c64to128_14", 64, 128, 14, 3, 1},
    {"up128_28", 128, 128, 28, 3, 1},    {"cat256_7", 256, 128, 7, 3, 1},
    {"cat256_14", 256, 128, 14, 3, 1},   {"cat192_14", 192, 128, 14, 3, 1},
    {"cat192_28", 192, 64, 28, 3, 1},    {"cat128_28", 128, 64, 28, 3, 1},
    {"nin64to128_14", 64, 128, 14, 1, 1}, {"qkv128_7", 128, 384, 7, 1, 1},
    {"proj128_7", 128, 128, 7, 1, 1},    {"nin256_7", 256, 128, 7, 1, 1},
    {"nin192_14", 192, 128, 14, 1, 1},   {"nin192_28", 192, 64, 28, 1, 1},
};
enum { NSHAPES = sizeof shapes / sizeof shapes[0] };

enum { V_REF, V_AVX2, V_AVX512, V_NEON, V_ONEDNN, V_COUNT };
static const char *const vnames[V_COUNT] = {"ref", "avx2", "avx512", "neon", "onednn"};
enum { OP_FWD, OP_BWD_DATA, OP_BWD_WEIGHTS, OP_COUNT };
static const char *const opnames[OP_COUNT] = {"fwd", "bwd_data", "bwd_weights"};

typedef struct options {
    int threads[8], nthreads;
    int batch[8], nbatch;
    int shape_on[NSHAPES];
    int variant_on[V_COUNT];
    int op_on[OP_COUNT];
    int reps;
    int cpu_clock;
} options;

static double now_s(int cpu_clock)
{
    struct timespec t;
    clock_gettime(cpu_clock ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int parse_ints(const char *s, int *out, int max)
{
    int n = 0;
    while (*s && n < max) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 4096)
            return -1;
        out[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return n;
}

/* Sets on[i] for each comma-separated name found in names[0..count); returns 0 on an unknown one. */
static int parse_names(const char *s, const char *const *names, int count, int *on)
{
    memset(on, 0, sizeof(int) * (size_t)count);
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int found = 0;
        for (int i = 0; i < count; i++)
            if (strcmp(tok, names[i]) == 0)
                on[i] = found = 1;
        if (!found) {
            fprintf(stderr, "bench_conv: unknown name '%s'\n", tok);
            return 0;
        }
    }
    return 1;
}

/* A buffer like the engine's activation arenas (engine/arena.c): 2 MiB aligned and advised
 * onto huge pages when large, so the kernels see the same TLB and prefetch behaviour as in a
 * model; filled with values in [-scale, scale]. */
static float *alloc_filled(size_t n, unsigned seed, float scale)
{
    const size_t huge = (size_t)2 << 20, bytes = n * sizeof(float) + 64;
    size_t align = bytes >= huge ? huge : 64, rounded = (bytes + align - 1) & ~(align - 1);
    float *p = NULL;
    if (posix_memalign((void **)&p, align, rounded) != 0) {
        fprintf(stderr, "bench_conv: out of memory\n");
        exit(1);
    }
#ifdef MADV_HUGEPAGE
    if (align == huge)
        madvise(p, rounded, MADV_HUGEPAGE); /* advice only */
#endif
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        p[i] = scale * (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    return p;
}

typedef struct bufs {
    difu_conv2d_desc d;
    int oh, ow;
    float *x, *w, *b, *y, *dy, *dx, *dw, *db;
} bufs;

/* In-bench double sums at one output point; writes sum of |terms| to *mag. */
static double want_y(const bufs *B, int i, int co, int a, int b, double *mag)
{
    const difu_conv2d_desc *d = &B->d;
    double s = B->b[co], m = fabs(B->b[co]);
    for (int ci = 0; ci < d->cin; ci++)
        for (int kh = 0; kh < d->k; kh++)
            for (int kw = 0; kw < d->k; kw++) {
                int ih = a * d->stride + kh - d->pad, iw = b * d->stride + kw - d->pad;
                if (ih < 0 || iw < 0 || ih >= d->h || iw >= d->w)
                    continue;
                double t = (double)B->w[(((size_t)co * d->cin + ci) * d->k + kh) * d->k + kw] *
                           B->x[(((size_t)i * d->cin + ci) * d->h + ih) * d->w + iw];
                s += t, m += fabs(t);
            }
    *mag = m;
    return s;
}

static double want_dx(const bufs *B, int i, int ci, int ih, int iw, double *mag)
{
    const difu_conv2d_desc *d = &B->d;
    double s = 0, m = 0;
    for (int co = 0; co < d->cout; co++)
        for (int kh = 0; kh < d->k; kh++)
            for (int kw = 0; kw < d->k; kw++) {
                int th = ih + d->pad - kh, tw = iw + d->pad - kw;
                if (th < 0 || tw < 0 || th % d->stride || tw % d->stride)
                    continue;
                int a = th / d->stride, b = tw / d->stride;
                if (a >= B->oh || b >= B->ow)
                    continue;
                double t = (double)B->w[(((size_t)co * d->cin + ci) * d->k + kh) * d->k + kw] *
                           B->dy[(((size_t)i * d->cout + co) * B->oh + a) * B->ow + b];
                s += t, m += fabs(t);
            }
    *mag = m;
    return s;
}

static double want_dw(const bufs *B, int co, int ci, int kh, int kw, double *mag)
{
    const difu_conv2d_desc *d = &B->d;
    double s = 0, m = 0;
    for (int i = 0; i < d->n; i++)
        for (int a = 0; a < B->oh; a++)
            for (int b = 0; b < B->ow; b++) {
                int ih = a * d->stride + kh - d->pad, iw = b * d->stride + kw - d->pad;
                if (ih < 0 || iw < 0 || ih >= d->h || iw >= d->w)
                    continue;
                double t = (double)B->dy[(((size_t)i * d->cout + co) * B->oh + a) * B->ow + b] *
                           B->x[(((size_t)i * d->cin + ci) * d->h + ih) * d->w + iw];
                s += t, m += fabs(t);
            }
    *mag = m;
    return s;
}

/* Checks 64 sampled points of the op's output; returns 1 when all are within tolerance. */
static int check(const bufs *B, int op)
{
    const difu_conv2d_desc *d = &B->d;
    uint64_t s = 12345;
    for (int t = 0; t < 64; t++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t r = s >> 17;
        double mag, want, got;
        if (op == OP_FWD) {
            int i = (int)(r % d->n), co = (int)(r / 7 % d->cout);
            int a = (int)(r / 1001 % B->oh), b = (int)(r / 100003 % B->ow);
            want = want_y(B, i, co, a, b, &mag);
            got = B->y[(((size_t)i * d->cout + co) * B->oh + a) * B->ow + b];
        } else if (op == OP_BWD_DATA) {
            int i = (int)(r % d->n), ci = (int)(r / 7 % d->cin);
            int ih = (int)(r / 1001 % d->h), iw = (int)(r / 100003 % d->w);
            want = want_dx(B, i, ci, ih, iw, &mag);
            got = B->dx[(((size_t)i * d->cin + ci) * d->h + ih) * d->w + iw];
        } else {
            int co = (int)(r % d->cout), ci = (int)(r / 1001 % d->cin);
            int kh = (int)(r / 100003 % d->k), kw = (int)(r / 1000003 % d->k);
            want = want_dw(B, co, ci, kh, kw, &mag);
            got = B->dw[(((size_t)co * d->cin + ci) * d->k + kh) * d->k + kw];
            if (t == 0) { /* one bias gradient too */
                double sb = 0, mb = 0;
                for (int i = 0; i < d->n; i++)
                    for (int q = 0; q < B->oh * B->ow; q++) {
                        double v = B->dy[((size_t)i * d->cout + co) * B->oh * B->ow + q];
                        sb += v, mb += fabs(v);
                    }
                if (fabs(B->db[co] - sb) > 1e-5 * mb + 1e-5)
                    return 0;
            }
        }
        if (!(fabs(got - want) <= 2e-5 * mag + 1e-5))
            return 0;
    }
    return 1;
}

static difu_status run_op(difu_engine *e, bufs *B, int op)
{
    switch (op) {
    case OP_FWD:
        return difu_conv2d_forward(e, &B->d, B->x, B->w, B->b, B->y);
    case OP_BWD_DATA:
        return difu_conv2d_backward_data(e, &B->d, B->dy, B->w, B->dx);
    default:
        return difu_conv2d_backward_weights(e, &B->d, B->x, B->dy, B->dw, B->db);
    }
}

static difu_engine *make_engine(int v, int threads)
{
    difu_engine_params p = difu_engine_params_default();
    p.threads = threads;
    p.honor_env = 0;
    static const difu_isa isas[V_COUNT] = {DIFU_ISA_REF, DIFU_ISA_AVX2, DIFU_ISA_AVX512,
                                           DIFU_ISA_NEON, DIFU_ISA_COUNT};
    p.max_isa = isas[v];
    if (v == V_ONEDNN)
        p.conv_backend = DIFU_CONV_ONEDNN;
    difu_engine *e = NULL;
    char err[256] = "";
    if (difu_engine_create(&p, &e, err, sizeof err) != DIFU_OK) {
        printf("# %s, %d threads: unavailable (%s)\n", vnames[v], threads, err);
        return NULL;
    }
    if (v != V_ONEDNN && difu_engine_kernel_isa(e, DIFU_SLOT_CONV2D_FWD) != isas[v]) {
        printf("# %s: not runnable here (got %s)\n", vnames[v],
               difu_engine_kernel_name(e, DIFU_SLOT_CONV2D_FWD));
        difu_engine_destroy(e);
        return NULL;
    }
    return e;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_conv [--threads 1,2] [--batch 128,1] [--shape name,...] "
                    "[--reps N] [--variants ref,avx2,avx512,neon,onednn] "
                    "[--ops fwd,bwd_data,bwd_weights] [--clock wall|cpu]\nshapes:");
    for (int i = 0; i < NSHAPES; i++)
        fprintf(stderr, " %s", shapes[i].name);
    fprintf(stderr, "\n");
}

int main(int argc, char **argv)
{
    options o = {.threads = {1, 2}, .nthreads = 2, .batch = {128, 1}, .nbatch = 2, .reps = 5};
    for (int i = 0; i < NSHAPES; i++)
        o.shape_on[i] = 1;
    for (int i = 0; i < V_COUNT; i++)
        o.variant_on[i] = 1;
    for (int i = 0; i < OP_COUNT; i++)
        o.op_on[i] = 1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = val != NULL;
        if (ok && strcmp(arg, "--threads") == 0)
            ok = (o.nthreads = parse_ints(val, o.threads, 8)) > 0;
        else if (ok && strcmp(arg, "--batch") == 0)
            ok = (o.nbatch = parse_ints(val, o.batch, 8)) > 0;
        else if (ok && strcmp(arg, "--reps") == 0)
            ok = parse_ints(val, &o.reps, 1) == 1;
        else if (ok && strcmp(arg, "--shape") == 0) {
            const char *names[NSHAPES];
            for (int s = 0; s < NSHAPES; s++)
                names[s] = shapes[s].name;
            ok = parse_names(val, names, NSHAPES, o.shape_on);
        } else if (ok && strcmp(arg, "--variants") == 0)
            ok = parse_names(val, vnames, V_COUNT, o.variant_on);
        else if (ok && strcmp(arg, "--ops") == 0)
            ok = parse_names(val, opnames, OP_COUNT, o.op_on);
        else if (ok && strcmp(arg, "--clock") == 0)
            ok = (o.cpu_clock = strcmp(val, "cpu") == 0) || strcmp(val, "wall") == 0;
        else
            ok = 0;
        if (!ok) {
            usage();
            return 2;
        }
        i++;
    }
    const char *cap = getenv("ONEDNN_MAX_CPU_ISA");
    printf("# bench_conv: difu %s, oneDNN %s%s%s, reps %d (median), %s clock\n", difu_version(),
           difu_onednn_version(), cap ? ", ONEDNN_MAX_CPU_ISA=" : "", cap ? cap : "", o.reps,
           o.cpu_clock ? "process CPU" : "wall");
    printf("%-12s %-14s %-5s %-20s %-7s %3s %10s %9s\n", "op", "shape", "n", "cin->cout hxw k/s",
           "variant", "thr", "ms", "GFLOP/s");

    difu_engine *engines[V_COUNT][8] = {{0}};
    int tried[V_COUNT][8] = {{0}};
    int failures = 0;
    for (int bi = 0; bi < o.nbatch; bi++)
        for (int si = 0; si < NSHAPES; si++) {
            if (!o.shape_on[si])
                continue;
            const conv_shape *sh = &shapes[si];
            bufs B;
            B.d = (difu_conv2d_desc){o.batch[bi], sh->cin, sh->hw, sh->hw, sh->cout, sh->k,
                                     sh->stride, sh->k / 2};
            B.oh = difu_conv2d_out_h(&B.d);
            B.ow = difu_conv2d_out_w(&B.d);
            size_t nx = (size_t)B.d.n * sh->cin * sh->hw * sh->hw;
            size_t ny = (size_t)B.d.n * sh->cout * B.oh * B.ow;
            size_t nw = (size_t)sh->cout * sh->cin * sh->k * sh->k;
            B.x = alloc_filled(nx, 1, 1.0f);
            B.dy = alloc_filled(ny, 2, 1.0f);
            B.w = alloc_filled(nw, 3, 1.0f / sqrtf((float)(sh->cin * sh->k * sh->k)));
            B.b = alloc_filled((size_t)sh->cout, 4, 0.1f);
            B.y = alloc_filled(ny, 5, 0.0f);
            B.dx = alloc_filled(nx, 6, 0.0f);
            B.dw = alloc_filled(nw, 7, 0.0f);
            B.db = alloc_filled((size_t)sh->cout, 8, 0.0f);
            double flops = difu_conv2d_flops(&B.d);
            char desc[40];
            snprintf(desc, sizeof desc, "%d->%d %dx%d k%ds%d", sh->cin, sh->cout, sh->hw, sh->hw,
                     sh->k, sh->stride);
            for (int op = 0; op < OP_COUNT; op++) {
                if (!o.op_on[op])
                    continue;
                for (int v = 0; v < V_COUNT; v++) {
                    if (!o.variant_on[v] || (v == V_REF && B.d.n != 1))
                        continue;
                    for (int ti = 0; ti < o.nthreads; ti++) {
                        if (!tried[v][ti]) {
                            tried[v][ti] = 1;
                            engines[v][ti] = make_engine(v, o.threads[ti]);
                        }
                        difu_engine *e = engines[v][ti];
                        if (!e)
                            continue;
                        difu_status st = run_op(e, &B, op);
                        if (st != DIFU_OK) {
                            printf("# %s %s %s: %s\n", opnames[op], sh->name, vnames[v],
                                   difu_engine_last_error(e));
                            continue;
                        }
                        int good = check(&B, op);
                        failures += !good;
                        double times[64];
                        int reps = o.reps < 64 ? o.reps : 64;
                        for (int r = 0; r < reps; r++) {
                            double t0 = now_s(o.cpu_clock);
                            run_op(e, &B, op);
                            times[r] = now_s(o.cpu_clock) - t0;
                        }
                        qsort(times, (size_t)reps, sizeof times[0], bench_cmp_double);
                        double med = reps % 2 ? times[reps / 2]
                                              : 0.5 * (times[reps / 2 - 1] + times[reps / 2]);
                        printf("%-12s %-14s %-5d %-20s %-7s %3d %10.3f %9.1f%s\n", opnames[op],
                               sh->name, B.d.n, desc, vnames[v], o.threads[ti], med * 1e3,
                               flops / med * 1e-9, good ? "" : "  WRONG RESULT");
                        fflush(stdout);
                    }
                }
            }
            free(B.x), free(B.dy), free(B.w), free(B.b), free(B.y), free(B.dx), free(B.dw),
                free(B.db);
        }
    for (int v = 0; v < V_COUNT; v++)
        for (int t = 0; t < 8; t++)
            difu_engine_destroy(engines[v][t]);
    if (failures)
        printf("# %d case(s) gave WRONG RESULTS\n", failures);
    return failures ? 1 : 0;
}
