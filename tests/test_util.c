/* test_util.c: helpers shared by the Criterion suites. */
#include "test_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <zlib.h>

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

tu_run_result *tu_run_difu(const char *first, ...)
{
    const char *argv[40] = {tu_difu_bin(), first};
    int argc = 2;
    va_list ap;
    va_start(ap, first);
    const char *a;
    while (argc < 39 && (a = va_arg(ap, const char *)))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    return tu_run_argv(argv);
}

void tu_expect_exit(tu_run_result *r, int status, const char *in_err, const char *what)
{
    cr_assert_eq(r->status, status, "%s: exit %d, wanted %d\nstdout: %.2000s\nstderr: %s", what,
                 r->status, status, r->out, r->err);
    if (in_err)
        cr_assert(strstr(r->err, in_err), "%s: stderr lacks '%s': %s", what, in_err, r->err);
    free(r);
}

/* ---------------------------------------------------------------- temporary files */

void tu_make_tmpdir(char *dir, size_t len, const char *tag)
{
    snprintf(dir, len, "/tmp/difu-%s-XXXXXX", tag);
    cr_assert_not_null(mkdtemp(dir), "mkdtemp %s failed", dir);
}

void tu_rm_tree(const char *dir)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(dp)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            tu_rm_tree(path);
        else
            unlink(path);
    }
    closedir(dp);
    rmdir(dir);
}

void tu_write_bytes(const char *path, const void *data, size_t n, int gzip)
{
    if (gzip) {
        gzFile g = gzopen(path, "wb");
        cr_assert_not_null(g, "cannot write %s", path);
        cr_assert_eq(gzwrite(g, data, (unsigned)n), (int)n);
        cr_assert_eq(gzclose(g), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        cr_assert_not_null(f, "cannot write %s", path);
        cr_assert_eq(fwrite(data, 1, n, f), n);
        cr_assert_eq(fclose(f), 0);
    }
}

unsigned char *tu_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    unsigned char *b = malloc((size_t)len + 1);
    cr_assert_not_null(b, "out of memory");
    cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    b[len] = 0;
    *n = (size_t)len;
    return b;
}

void tu_put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

void tu_write_idx(const char *dir, int n, int h, int w, int gzip, tu_idx_pixel_fn pixel,
                  tu_idx_label_fn label)
{
    size_t ilen = 16 + (size_t)n * h * w;
    unsigned char *img = malloc(ilen), *lab = malloc(8 + (size_t)n);
    cr_assert(img && lab, "out of memory");
    tu_put_be32(img, 0x803);
    tu_put_be32(img + 4, (uint32_t)n);
    tu_put_be32(img + 8, (uint32_t)h);
    tu_put_be32(img + 12, (uint32_t)w);
    for (int i = 0; i < n; i++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                img[16 + ((size_t)i * h + y) * w + x] = pixel(i, y, x, w);
    tu_put_be32(lab, 0x801);
    tu_put_be32(lab + 4, (uint32_t)n);
    for (int i = 0; i < n; i++)
        lab[8 + i] = label(i);
    char path[4096];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte%s", dir, gzip ? ".gz" : "");
    tu_write_bytes(path, img, ilen, gzip);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte%s", dir, gzip ? ".gz" : "");
    tu_write_bytes(path, lab, 8 + (size_t)n, gzip);
    free(img);
    free(lab);
}

static uint8_t quadrant_pixel(int i, int y, int x, int w)
{
    (void)w;
    int q = i % 4, oy = (q / 2) * 4, ox = (q % 2) * 4;
    int in = y >= oy && y < oy + 4 && x >= ox && x < ox + 4;
    return (uint8_t)(in ? 230 - (i * 7 + x) % 25 : 10 + (i * 3 + y) % 20);
}

static uint8_t quadrant_label(int i) { return (uint8_t)(i % 4); }

void tu_write_quadrant_idx(const char *dir, int n)
{
    tu_write_idx(dir, n, 8, 8, 0, quadrant_pixel, quadrant_label);
}

/* ---------------------------------------------------------------- golden files */

void tu_data_path(char *path, size_t len, const char *name)
{
    const char *env = getenv("DIFU_TEST_DATA");
    if (env) {
        snprintf(path, len, "%s/%s", env, name);
        if (access(path, R_OK) == 0)
            return;
    }
    char here[1024];
    snprintf(here, sizeof here, "%s", __FILE__);
    char *slash = strrchr(here, '/');
    if (slash) {
        *slash = 0;
        snprintf(path, len, "%s/data/%s", here, name);
        if (access(path, R_OK) == 0)
            return;
    }
    const char *dirs[] = {"tests/data", "../tests/data"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, len, "%s/%s", dirs[i], name);
        if (access(path, R_OK) == 0)
            return;
    }
    cr_assert_fail("cannot find tests/data/%s (set DIFU_TEST_DATA)", name);
}

difu_safetensors *tu_load_golden(difu_engine *e, const char *name)
{
    char path[1024];
    tu_data_path(path, sizeof path, name);
    difu_safetensors *s = NULL;
    cr_assert_eq(difu_st_read(e, path, &s), DIFU_OK, "cannot load %s: %s", path,
                 difu_engine_last_error(e));
    return s;
}

const difu_st_tensor *tu_golden_tensor(const difu_safetensors *s, const char *name)
{
    const difu_st_tensor *t = difu_st_find(s, name);
    cr_assert(t, "golden file lacks '%s'", name);
    return t;
}

void tu_assert_close_to_largest(const char *what, const float *got, const float *want, int64_t n,
                                double tol)
{
    double mx = 0, err = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        mx = fmax(mx, fabs(want[i]));
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= err)) {
            err = d;
            at = i;
            if (isnan(d)) /* a NaN is the worst; a later finite difference must not hide it */
                break;
        }
    }
    cr_assert(err <= tol * mx,
              "%s: |diff| %.3g at %lld (got %.8g, want %.8g) > %.0e x largest %.3g", what, err,
              (long long)at, (double)got[at], (double)want[at], tol, mx);
}

tu_conv_bufs tu_conv_bufs_make(const difu_conv2d_desc *d, uint64_t seed)
{
    tu_conv_bufs B;
    B.nx = (size_t)d->n * d->cin * d->h * d->w;
    B.ny = (size_t)d->n * d->cout * difu_conv2d_out_h(d) * difu_conv2d_out_w(d);
    B.nw = (size_t)d->cout * d->cin * d->k * d->k;
    B.x = tu_alloc(B.nx), B.dx = tu_alloc(B.nx);
    B.y = tu_alloc(B.ny), B.dy = tu_alloc(B.ny);
    B.w = tu_alloc(B.nw), B.dw = tu_alloc(B.nw);
    B.b = tu_alloc(d->cout), B.db = tu_alloc(d->cout);
    tu_fill_uniform(B.x, B.nx, seed, -1, 1);
    tu_fill_uniform(B.dy, B.ny, seed + 1, -1, 1);
    tu_fill_uniform(B.w, B.nw, seed + 2, -0.5f, 0.5f);
    tu_fill_uniform(B.b, d->cout, seed + 3, -1, 1);
    return B;
}

void tu_conv_bufs_free(tu_conv_bufs *B)
{
    tu_free(B->x), tu_free(B->dx), tu_free(B->y), tu_free(B->dy);
    tu_free(B->w), tu_free(B->dw), tu_free(B->b), tu_free(B->db);
}
