/* cmd_sample.c: `difu sample`: loads a checkpoint, draws images with DDPM or DDIM (classifier-free
 * guidance for conditional models) through difu_sample, writes a grid PNG and optionally one PNG
 * per image. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "difu.h"

static const char usage_text[] =
    "usage: difu sample --ckpt FILE --out FILE.png [options]\n"
    "  --ckpt FILE            a checkpoint written by difu train (or a PyTorch state_dict)\n"
    "  --out FILE.png         the grid\n"
    "  --out-dir DIR          also one PNG per image, NNNN-class-C.png (NNNN.png unconditional)\n"
    "  --sampler ddpm|ddim    ddpm (default): ancestral; ddim: fewer, deterministic steps\n"
    "  --steps K              reverse steps: T for ddpm (fewer = the respaced sub-chain), 50 for ddim\n"
    "  --eta E                DDIM noise: 0 deterministic (default), 1 DDPM-like\n"
    "  --variance beta|posterior   DDPM sigma_t^2 (posterior)\n"
    "  --spacing uniform|trailing  timesteps when steps < T (trailing)\n"
    "  --clip | --no-clip     clamp the predicted x0 to [-1, 1] (default: on for ddpm, off for ddim)\n"
    "  --n N                  images (16; with --all-classes: per class, default 10)\n"
    "  --class C              every image of class C (conditional models)\n"
    "  --all-classes          N images of every class, one grid row per class\n"
    "                         (neither: image i has class i mod classes, one column per class)\n"
    "  --guidance W           eps = eps_null + W (eps_cond - eps_null) (2; 1 = no guidance)\n"
    "  --seed S               noise seed (0): the same seed gives the same bytes\n"
    "  --ema | --no-ema       EMA weights (default when present) or the raw ones\n"
    "  --batch B              images per forward pass (64)\n"
    "  --threads T            worker threads (all cores)\n"
    "  --no-weight-cache      do not keep the 3x3 weights in Winograd form between steps (saves\n"
    "                         4x their memory, 69 MiB for fmnist-s; each step transforms them)\n"
    "  --cols C               grid columns\n"
    "  --scale S              grid pixel scale (2; 4 below 16 px)\n";

typedef struct sample_args {
    const char *ckpt, *out, *out_dir;
    long long n, cls, cols, scale, threads;
    int all_classes, ema, n_given, no_weight_cache;
} sample_args;

static void on_progress(int64_t done, int64_t total, void *ctx)
{
    double *last = ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    if (done != total && now - *last < 0.2)
        return;
    *last = now;
    fprintf(stderr, "\r\033[Ksampling: step %lld/%lld (%.0f%%)", (long long)done, (long long)total,
            100.0 * (double)done / (double)total);
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

static int parse(int argc, char **argv, difu_sample_params *p, sample_args *a)
{
    const char *cmd = "sample";
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = NULL;
        long long n;
        double x;
        if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strcmp(f, "--ckpt") == 0) {
            CLI_VALUE();
            a->ckpt = v;
        } else if (strcmp(f, "--out") == 0) {
            CLI_VALUE();
            a->out = v;
        } else if (strcmp(f, "--out-dir") == 0) {
            CLI_VALUE();
            a->out_dir = v;
        } else if (strcmp(f, "--sampler") == 0) {
            CLI_VALUE();
            int k = difu_sampler_kind_parse(v);
            if (k < 0) {
                fprintf(stderr, "difu sample: --sampler takes ddpm or ddim, got '%s'\n", v);
                return 2;
            }
            p->sampler = (difu_sampler_kind)k;
        } else if (strcmp(f, "--variance") == 0) {
            CLI_VALUE();
            int k = difu_ddpm_variance_parse(v);
            if (k < 0) {
                fprintf(stderr, "difu sample: --variance takes beta or posterior, got '%s'\n", v);
                return 2;
            }
            p->variance = (difu_ddpm_variance)k;
        } else if (strcmp(f, "--spacing") == 0) {
            CLI_VALUE();
            int k = difu_spacing_parse(v);
            if (k < 0) {
                fprintf(stderr, "difu sample: --spacing takes uniform or trailing, got '%s'\n", v);
                return 2;
            }
            p->spacing = (difu_spacing)k;
        } else if (strcmp(f, "--steps") == 0) {
            CLI_VALUE();
            if (!cli_int(cmd, f, v, 1, 100000, &n))
                return 2;
            p->steps = (int)n;
        } else if (strcmp(f, "--eta") == 0) {
            CLI_VALUE();
            if (!cli_float(cmd, f, v, 0, 1000, &x))
                return 2;
            p->eta = (float)x;
        } else if (strcmp(f, "--guidance") == 0) {
            CLI_VALUE();
            if (!cli_float(cmd, f, v, -100, 100, &x))
                return 2;
            p->guidance = (float)x;
        } else if (strcmp(f, "--seed") == 0) {
            CLI_VALUE();
            if (!cli_u64(cmd, f, v, &p->seed))
                return 2;
        } else if (strcmp(f, "--batch") == 0) {
            CLI_VALUE();
            if (!cli_int(cmd, f, v, 1, 65536, &n))
                return 2;
            p->batch = (int)n;
        } else if (strcmp(f, "--n") == 0) {
            CLI_VALUE();
            if (!cli_int(cmd, f, v, 1, 1000000, &a->n))
                return 2;
            a->n_given = 1;
        } else if (strcmp(f, "--class") == 0) {
            CLI_VALUE();
            if (!cli_int(cmd, f, v, 0, 1000000, &a->cls))
                return 2;
        } else if (strcmp(f, "--all-classes") == 0) {
            a->all_classes = 1;
        } else if (strcmp(f, "--ema") == 0) {
            a->ema = 1;
        } else if (strcmp(f, "--no-ema") == 0) {
            a->ema = 0;
        } else if (strcmp(f, "--clip") == 0) {
            p->clip_x0 = 1;
        } else if (strcmp(f, "--no-clip") == 0) {
            p->clip_x0 = 0;
        } else if (strcmp(f, "--no-weight-cache") == 0) {
            a->no_weight_cache = 1;
        } else if (strcmp(f, "--threads") == 0) {
            CLI_VALUE();
            if (!cli_int(cmd, f, v, 1, 4096, &a->threads))
                return 2;
        } else if (strcmp(f, "--cols") == 0) {
            CLI_VALUE();
            if (!cli_int(cmd, f, v, 1, 10000, &a->cols))
                return 2;
        } else if (strcmp(f, "--scale") == 0) {
            CLI_VALUE();
            if (!cli_int(cmd, f, v, 1, 64, &a->scale))
                return 2;
        } else {
            fprintf(stderr, "difu sample: unknown option '%s' (see difu sample --help)\n", f);
            return 2;
        }
    }
    if (!a->ckpt || !a->out) {
        fprintf(stderr, "difu sample: --ckpt FILE and --out FILE.png are required (see difu sample "
                "--help)\n");
        return 2;
    }
    if (a->cls >= 0 && a->all_classes) {
        fprintf(stderr, "difu sample: --class and --all-classes exclude each other\n");
        return 2;
    }
    return -1;
}

/* Labels per image (NULL for unconditional models) and the grid's columns. */
static int make_labels(const sample_args *a, int classes, int n, int64_t **labels, int *cols)
{
    *labels = NULL;
    *cols = (int)ceil(sqrt((double)n));
    if (classes == 0)
        return 1;
    int64_t *l = malloc((size_t)n * sizeof(int64_t));
    if (!l)
        return 0;
    for (int i = 0; i < n; i++) {
        if (a->all_classes)
            l[i] = i / (n / classes);
        else if (a->cls >= 0)
            l[i] = a->cls;
        else
            l[i] = i % classes;
    }
    if (a->all_classes)
        *cols = n / classes;
    else if (a->cls < 0)
        *cols = classes < n ? classes : n;
    *labels = l;
    return 1;
}

static int write_each(const char *cmd_dir, const float *img, int n, const int64_t *labels,
                      const difu_model_config *cfg)
{
    int64_t per = (int64_t)cfg->in_ch * cfg->img_size * cfg->img_size;
    char path[4200], err[512];
    for (int i = 0; i < n; i++) {
        if (labels)
            snprintf(path, sizeof path, "%s/%04d-class-%lld.png", cmd_dir, i, (long long)labels[i]);
        else
            snprintf(path, sizeof path, "%s/%04d.png", cmd_dir, i);
        if (difu_png_write_image(path, img + (size_t)i * (size_t)per, cfg->in_ch, cfg->img_size,
                                 cfg->img_size, 1, err, sizeof err) != DIFU_OK) {
            fprintf(stderr, "difu sample: %s\n", err);
            return 0;
        }
    }
    return 1;
}

/* Whether the folder that will hold `path` exists and is writable (checked before sampling). */
static int folder_writable(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    if (access(dir, W_OK) != 0) {
        fprintf(stderr, "difu sample: cannot write into the folder '%s' of %s\n", dir, path);
        return 0;
    }
    return 1;
}

static int make_dir(const char *dir)
{
    struct stat st;
    if (mkdir(dir, 0777) != 0 && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
        fprintf(stderr, "difu sample: cannot create the folder '%s'\n", dir);
        return 0;
    }
    return 1;
}

int difu_cmd_sample(int argc, char **argv)
{
    difu_sample_params p = difu_sample_params_default();
    sample_args a = {NULL, NULL, NULL, 16, -1, 0, 0, 0, 0, -1, 0, 0};
    int rc = parse(argc, argv, &p, &a);
    if (rc >= 0)
        return rc;
    if (!folder_writable(a.out) || (a.out_dir && !make_dir(a.out_dir)))
        return 1;
    difu_engine_params ep = difu_engine_params_default();
    if (a.threads > 0)
        ep.threads = (int)a.threads;
    difu_engine *e = NULL;
    char err[512];
    if (difu_engine_create(&ep, &e, err, sizeof err) != DIFU_OK) {
        fprintf(stderr, "difu sample: %s\n", err);
        return 1;
    }
    difu_model *m = NULL;
    float *img = NULL;
    int64_t *labels = NULL;
    difu_ckpt_info info;
    rc = 1;
    if (difu_load_model(e, a.ckpt, a.ema, &m, &info) != DIFU_OK) {
        fprintf(stderr, "difu sample: %s\n", difu_engine_last_error(e));
        goto done;
    }
    difu_model_set_weight_cache(m, !a.no_weight_cache);
    const difu_model_config *cfg = difu_model_get_config(m);
    int classes = cfg->num_classes;
    if (classes == 0 && (a.cls >= 0 || a.all_classes)) {
        fprintf(stderr, "difu sample: the model in '%s' is unconditional: --class and --all-classes "
                "do not apply\n", a.ckpt);
        rc = 2;
        goto done;
    }
    if (a.cls >= classes && classes > 0) {
        fprintf(stderr, "difu sample: --class %lld is outside [0, %d)\n", a.cls, classes);
        rc = 2;
        goto done;
    }
    long long n = a.all_classes ? (a.n_given ? a.n : 10) * classes : a.n;
    if (n > 1000000) {
        fprintf(stderr, "difu sample: %lld images is too many (at most 1000000)\n", n);
        rc = 2;
        goto done;
    }
    int cols;
    if (!make_labels(&a, classes, (int)n, &labels, &cols)) {
        fprintf(stderr, "difu sample: out of memory\n");
        goto done;
    }
    if (a.cols > 0)
        cols = (int)a.cols;
    p.schedule = info.schedule;
    p.T = info.T;
    if (p.steps > p.T) {
        fprintf(stderr, "difu sample: --steps %d exceeds the model's T = %d\n", p.steps, p.T);
        rc = 2;
        goto done;
    }
    int64_t per = (int64_t)cfg->in_ch * cfg->img_size * cfg->img_size;
    img = malloc((size_t)n * (size_t)per * sizeof(float));
    if (!img) {
        fprintf(stderr, "difu sample: out of memory for %lld images\n", n);
        goto done;
    }
    double last = 0;
    if (isatty(STDERR_FILENO)) {
        p.progress = on_progress;
        p.progress_ctx = &last;
    }
    int steps = p.steps > 0 ? p.steps : (p.sampler == DIFU_SAMPLER_DDPM ? p.T : 50);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (difu_sample(e, m, &p, (int)n, labels, img) != DIFU_OK) {
        fprintf(stderr, "\ndifu sample: %s\n", difu_engine_last_error(e));
        goto done;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    int scale = a.scale > 0 ? (int)a.scale : (cfg->img_size < 16 ? 4 : 2);
    if (difu_png_write_grid(a.out, img, (int)n, cfg->in_ch, cfg->img_size, cfg->img_size, cols,
                            scale, err, sizeof err) != DIFU_OK) {
        fprintf(stderr, "difu sample: %s\n", err);
        goto done;
    }
    if (a.out_dir && !write_each(a.out_dir, img, (int)n, labels, cfg))
        goto done;
    char guid[64] = "";
    if (classes > 0)
        snprintf(guid, sizeof guid, ", guidance %g", (double)p.guidance);
    fprintf(stderr, "difu sample: %lld images, %s %d steps%s, %s weights (step %lld), %d threads: "
            "%.2f s (%.2f img/s) -> %s\n", n, difu_sampler_kind_name(p.sampler), steps, guid,
            info.used_ema ? "EMA" : "raw", (long long)info.step, difu_engine_threads(e), secs,
            (double)n / secs, a.out);
    rc = 0;
done:
    free(img);
    free(labels);
    difu_model_destroy(m);
    difu_engine_destroy(e);
    return rc;
}
