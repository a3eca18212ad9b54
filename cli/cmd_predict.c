/* cmd_predict.c: `difu predict --ckpt FILE --in BATCH --out EPS`: the denoiser on a batch.
 * BATCH holds x F32 [N,C,H,W], t I64 [N] and optionally y I64 [N] (the null class when absent);
 * EPS gets eps F32 [N,C,H,W]. The config comes from the checkpoint's metadata, or from its
 * tensor shapes (a PyTorch state_dict), with the batch's H as the image size. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"

static const char usage_text[] =
    "usage: difu predict --ckpt FILE --in BATCH.safetensors --out EPS.safetensors [--threads T]\n"
    "                    [--ema]\n"
    "  --ckpt FILE  model weights (a difu checkpoint, or a PyTorch state_dict as safetensors)\n"
    "  --in BATCH   x F32 [N,C,H,W], t I64 [N] in [0, T), optional y I64 [N] in [0, classes]\n"
    "               (classes = the null class; absent y means null)\n"
    "  --out EPS    written atomically: eps F32 [N,C,H,W]\n"
    "  --threads T  engine threads (default: all cores)\n"
    "  --ema        use the checkpoint's EMA weights (tensors under 'ema.')\n";

/* Most images run through the model at once (bounds the activation memory). */
#define CHUNK 128

typedef struct batch {
    int n;
    float *x;
    int64_t *t, *y;
    int64_t xshape[4];
} batch;

static void batch_free(batch *b)
{
    free(b->x);
    free(b->t);
    free(b->y);
}

static const difu_st_tensor *need(const difu_safetensors *s, const char *path, const char *name,
                                  difu_st_dtype dtype, int ndim, int required)
{
    const difu_st_tensor *t = difu_st_find(s, name);
    if (!t) {
        if (required)
            fprintf(stderr, "difu predict: %s: no tensor '%s'\n", path, name);
        return NULL;
    }
    if (t->dtype != dtype || t->ndim != ndim) {
        fprintf(stderr, "difu predict: %s: tensor '%s' is %s with %d dimensions, need %s with %d\n",
                path, name, difu_st_dtype_name(t->dtype), t->ndim, difu_st_dtype_name(dtype), ndim);
        return NULL;
    }
    return t;
}

/* Copies (aligned) the batch tensors out of the file; 0 or 1 after a message. */
static int read_batch(const difu_safetensors *s, const char *path, batch *b)
{
    memset(b, 0, sizeof *b);
    const difu_st_tensor *x = need(s, path, "x", DIFU_ST_F32, 4, 1);
    const difu_st_tensor *t = x ? need(s, path, "t", DIFU_ST_I64, 1, 1) : NULL;
    if (!x || !t)
        return 1;
    const difu_st_tensor *y = difu_st_find(s, "y");
    if (y && !(y = need(s, path, "y", DIFU_ST_I64, 1, 0)))
        return 1;
    int64_t n = x->shape[0];
    if (n < 1 || n > (1 << 20) || x->shape[1] < 1 || x->shape[2] < 1 || x->shape[3] < 1) {
        fprintf(stderr, "difu predict: %s: x has shape [%lld, %lld, %lld, %lld]: need N in [1, 2^20] "
                        "images of at least 1x1\n",
                path, (long long)x->shape[0], (long long)x->shape[1], (long long)x->shape[2],
                (long long)x->shape[3]);
        return 1;
    }
    if (t->shape[0] != n || (y && y->shape[0] != n)) {
        fprintf(stderr, "difu predict: %s: %s has %lld entries, x has %lld images\n", path,
                t->shape[0] != n ? "t" : "y", (long long)(t->shape[0] != n ? t->shape[0] : y->shape[0]),
                (long long)n);
        return 1;
    }
    b->n = (int)n;
    memcpy(b->xshape, x->shape, sizeof b->xshape);
    size_t xb = x->end - x->begin, tb = t->end - t->begin;
    b->x = malloc(xb);
    b->t = malloc(tb);
    b->y = y ? malloc(tb) : NULL;
    if (!b->x || !b->t || (y && !b->y)) {
        fprintf(stderr, "difu predict: %s: out of memory\n", path);
        return 1;
    }
    memcpy(b->x, difu_st_data(s, x), xb);
    memcpy(b->t, difu_st_data(s, t), tb);
    if (y)
        memcpy(b->y, difu_st_data(s, y), tb);
    return 0;
}

/* The batch against the model: x's shape, t in [0, T), y in [0, classes]. */
static int check_batch(const batch *b, const char *path, const difu_model_config *cfg, int T)
{
    if (b->xshape[1] != cfg->in_ch || b->xshape[2] != cfg->img_size || b->xshape[3] != cfg->img_size) {
        fprintf(stderr, "difu predict: %s: x has shape [%d, %lld, %lld, %lld], the model takes "
                        "[N, %d, %d, %d]\n",
                path, b->n, (long long)b->xshape[1], (long long)b->xshape[2], (long long)b->xshape[3],
                cfg->in_ch, cfg->img_size, cfg->img_size);
        return 1;
    }
    for (int i = 0; i < b->n; i++)
        if (b->t[i] < 0 || b->t[i] >= T) {
            fprintf(stderr, "difu predict: %s: t[%d] = %lld is outside [0, %d)\n", path, i,
                    (long long)b->t[i], T);
            return 1;
        }
    if (b->y && cfg->num_classes == 0) {
        fprintf(stderr, "difu predict: %s: tensor 'y' given, but the model is unconditional\n", path);
        return 1;
    }
    for (int i = 0; b->y && i < b->n; i++)
        if (b->y[i] < 0 || b->y[i] > cfg->num_classes) {
            fprintf(stderr, "difu predict: %s: y[%d] = %lld is outside [0, %d] (%d = null class)\n",
                    path, i, (long long)b->y[i], cfg->num_classes, cfg->num_classes);
            return 1;
        }
    return 0;
}

/* T of the checkpoint (the trainer's "difu.T" metadata), else 1000 (MODEL.md). */
static int timesteps(const difu_checkpoint *c)
{
    const char *v = difu_st_meta_get(difu_checkpoint_file(c), "difu.T");
    char *end = NULL;
    long T = v ? strtol(v, &end, 10) : 0;
    return v && *v && !*end && T >= 1 && T <= 100000 ? (int)T : 1000;
}

static int run(difu_engine *e, const char *ckpt, const char *in, const char *out, int ema)
{
    difu_safetensors *bs = NULL;
    difu_checkpoint *c = NULL;
    difu_model *m = NULL;
    batch b = {0};
    float *eps = NULL;
    int rc = 1;
    difu_model_config cfg;
    if (difu_st_read(e, in, &bs) != DIFU_OK) {
        fprintf(stderr, "difu predict: %s\n", difu_engine_last_error(e));
        goto done;
    }
    if (read_batch(bs, in, &b))
        goto done;
    if (difu_checkpoint_open(e, ckpt, &c) != DIFU_OK ||
        difu_checkpoint_config_for(c, (int)b.xshape[2], &cfg) != DIFU_OK) {
        fprintf(stderr, "difu predict: %s\n", difu_engine_last_error(e));
        goto done;
    }
    if (check_batch(&b, in, &cfg, timesteps(c)))
        goto done;
    const char *prefix = ema ? "ema." : "";
    if (ema && !difu_checkpoint_has_prefix(c, prefix)) {
        fprintf(stderr, "difu predict: %s: --ema, but the checkpoint has no 'ema.' tensors\n", ckpt);
        goto done;
    }
    if (difu_model_create(e, &cfg, 0, &m) != DIFU_OK ||
        difu_checkpoint_load_block(c, m, prefix, NULL) != DIFU_OK) {
        fprintf(stderr, "difu predict: %s\n", difu_engine_last_error(e));
        goto done;
    }
    int64_t per = (int64_t)cfg.in_ch * cfg.img_size * cfg.img_size;
    eps = malloc((size_t)(b.n * per) * sizeof *eps);
    if (!eps) {
        fprintf(stderr, "difu predict: out of memory for %d images\n", b.n);
        goto done;
    }
    for (int i = 0; i < b.n; i += CHUNK) {
        int k = b.n - i < CHUNK ? b.n - i : CHUNK;
        if (difu_model_forward(m, k, b.x + i * per, b.t + i, b.y ? b.y + i : NULL,
                               eps + i * per) != DIFU_OK) {
            fprintf(stderr, "difu predict: %s\n", difu_engine_last_error(e));
            goto done;
        }
    }
    difu_st_out o = {"eps", DIFU_ST_F32, 4, {b.n, cfg.in_ch, cfg.img_size, cfg.img_size}, eps};
    difu_st_kv meta[] = {{"difu.producer", "difu predict"}, {"difu.ckpt", ckpt}};
    if (difu_st_write(e, out, &o, 1, meta, 2) != DIFU_OK) {
        fprintf(stderr, "difu predict: %s\n", difu_engine_last_error(e));
        goto done;
    }
    printf("predict: %d images [%d, %d, %d] -> %s%s\n", b.n, cfg.in_ch, cfg.img_size, cfg.img_size,
           out, ema ? " (EMA weights)" : "");
    rc = 0;
done:
    free(eps);
    difu_model_destroy(m);
    difu_checkpoint_close(c);
    batch_free(&b);
    difu_st_free(bs);
    return rc;
}

int difu_cmd_predict(int argc, char **argv)
{
    difu_engine_params p = difu_engine_params_default();
    const char *ckpt = NULL, *in = NULL, *out = NULL;
    int ema = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("%s", usage_text);
            return 0;
        }
        if (strcmp(a, "--ema") == 0) {
            ema = 1;
            continue;
        }
        const char **dst = strcmp(a, "--ckpt") == 0 ? &ckpt : strcmp(a, "--in") == 0 ? &in
                           : strcmp(a, "--out") == 0 ? &out : NULL;
        if (!dst && strcmp(a, "--threads") != 0) {
            fprintf(stderr, "difu predict: unknown option '%s' (see difu predict --help)\n", a);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "difu predict: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        if (dst) {
            *dst = v;
            continue;
        }
        char *end = NULL;
        long t = strtol(v, &end, 10);
        if (!*v || *end || t < 1 || t > 4096) {
            fprintf(stderr, "difu predict: --threads takes a whole number from 1 to 4096, got '%s'\n",
                    v);
            return 2;
        }
        p.threads = (int)t;
    }
    if (!ckpt || !in || !out) {
        fprintf(stderr, "difu predict: --ckpt, --in and --out are required\n%s", usage_text);
        return 2;
    }
    /* a file size limit (RLIMIT_FSIZE) must fail the write, not kill the process */
    signal(SIGXFSZ, SIG_IGN);
    difu_engine *e = NULL;
    char err[512];
    if (difu_engine_create(&p, &e, err, sizeof err) != DIFU_OK) {
        fprintf(stderr, "difu predict: %s\n", err);
        return 1;
    }
    int rc = run(e, ckpt, in, out, ema);
    difu_engine_destroy(e);
    return rc;
}
