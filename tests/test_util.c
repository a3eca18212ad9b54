/* test_util.c: helpers shared by the Criterion suites. */
#include "test_util.h"

#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void tu_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        double u = (double)(splitmix64(&s) >> 11) * (1.0 / 9007199254740992.0);
        x[i] = (float)(lo + (hi - lo) * u);
    }
}

float *tu_alloc(size_t n)
{
    void *p = NULL;
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    if (bytes == 0)
        bytes = 64;
    cr_assert_eq(posix_memalign(&p, 64, bytes), 0, "out of memory for %zu floats", n);
    memset(p, 0, bytes);
    return p;
}

void tu_free(void *p) { free(p); }

difu_engine *tu_engine(difu_isa cap, int threads)
{
    difu_engine_params p = difu_engine_params_default();
    p.max_isa = cap;
    p.threads = threads;
    p.honor_env = 0;
    difu_engine *e = NULL;
    char err[256] = "";
    difu_status s = difu_engine_create(&p, &e, err, sizeof err);
    cr_assert_eq(s, DIFU_OK, "engine create failed: %s", err);
    return e;
}

double tu_max_rel_err(const float *a, const float *b, size_t n, double atol, double rtol,
                      size_t *where)
{
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double r = d / (atol + rtol * fabs((double)b[i]));
        if (!(r <= worst)) { /* catches NaN too */
            worst = isnan(r) ? INFINITY : r;
            at = i;
            if (isnan(r))
                break;
        }
    }
    if (where)
        *where = at;
    return worst;
}

void tu_assert_close(const char *what, const float *a, const float *b, size_t n, double atol,
                     double rtol)
{
    size_t at = 0;
    double worst = tu_max_rel_err(a, b, n, atol, rtol, &at);
    cr_assert(worst <= 1.0,
              "%s: mismatch at index %zu of %zu: got %.9g, want %.9g (|diff| %.3g, tolerance %.3g)",
              what, at, n, n ? a[at] : 0.0f, n ? b[at] : 0.0f,
              n ? fabs((double)a[at] - (double)b[at]) : 0.0, n ? atol + rtol * fabs((double)b[at]) : 0.0);
}

int tu_runnable_isas(difu_isa *out)
{
    difu_cpu_features f = difu_cpu_detect();
    difu_isa best = difu_cpu_best_isa(&f);
    int n = 0;
    out[n++] = DIFU_ISA_REF;
#if defined(__x86_64__)
    if (best >= DIFU_ISA_AVX2)
        out[n++] = DIFU_ISA_AVX2;
    if (best >= DIFU_ISA_AVX512)
        out[n++] = DIFU_ISA_AVX512;
#elif defined(__aarch64__)
    if (best == DIFU_ISA_NEON)
        out[n++] = DIFU_ISA_NEON;
#endif
    (void)best;
    return n;
}

extern char **environ;

const char *tu_difu_bin(void)
{
    const char *bin = getenv("DIFU_BIN");
    if (bin && access(bin, X_OK) == 0)
        return bin;
    const char *paths[] = {"../difu", "./difu", "build/difu"};
    for (int i = 0; i < 3; i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    cr_assert_fail("cannot find the difu binary (set DIFU_BIN)");
    return NULL;
}

static void slurp(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;
    buf[n] = 0;
    if (f)
        fclose(f);
    unlink(path);
}

tu_run_result *tu_run_argv(const char *const *argv)
{
    char out_path[64], err_path[64];
    snprintf(out_path, sizeof out_path, "/tmp/difu-test-out-%d", (int)getpid());
    snprintf(err_path, sizeof err_path, "/tmp/difu-test-err-%d", (int)getpid());
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0, "cannot run %s", argv[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    tu_run_result *r = calloc(1, sizeof *r);
    cr_assert(r, "out of memory");
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
    slurp(out_path, r->out, sizeof r->out);
    slurp(err_path, r->err, sizeof r->err);
    return r;
}
