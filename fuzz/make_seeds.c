/* make_seeds.c: writes the seed corpora of the fuzz harnesses into DIR/<harness>/ (fuzz/corpus in
 * the repository): small valid files of every format and variant the readers handle, so mutation
 * starts deep inside the parsers. Usage: make_seeds DIR. Deterministic: same files every run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <png.h>
#include <zlib.h>

#include "checkpoint.h"
#include "model_config_json.h"

static const char *root;

static void die(const char *what)
{
    fprintf(stderr, "make_seeds: %s\n", what);
    exit(1);
}

static void put(const char *harness, const char *name, const void *data, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, harness);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die(path);
    snprintf(path, sizeof path, "%s/%s/%s", root, harness, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0)
        die(path);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n + 1);
    if (!b || fread(b, 1, *n, f) != *n)
        die(path);
    fclose(f);
    return b;
}

/* opt byte + bytes */
static void put_opt(const char *harness, const char *name, uint8_t opt, const void *data, size_t n)
{
    unsigned char *b = malloc(n + 1);
    b[0] = opt;
    memcpy(b + 1, data, n);
    put(harness, name, b, n + 1);
    free(b);
}

/* ---------------------------------------------------------------- safetensors and checkpoints */

/* full: ch 4, ch_mult (1, 2), 1 res block, attention at 2x2, 4x4 input, 2 classes (14k
 * parameters, every kind of block); else one level, no attention, unconditional (smaller). */
static difu_model_config micro_config(int full)
{
    difu_model_config c;
    memset(&c, 0, sizeof c);
    c.ch = 4;
    c.ch_mult[0] = 1;
    c.ch_mult[1] = 2;
    c.n_levels = 2;
    c.num_res_blocks = 1;
    c.attn_res[0] = 2;
    c.n_attn_res = 1;
    c.num_classes = 2;
    c.groups[0][0] = 0;
    c.groups[0][1] = 2;
    c.n_groups = 1;
    c.gn_eps = 1e-6f;
    c.img_size = 4;
    c.in_ch = 1;
    if (!full) {
        c.n_levels = 1;
        c.n_attn_res = 0;
        c.num_classes = 0;
        c.img_size = 2;
    }
    return c;
}

static void checkpoints(difu_engine *e, const char *tmp)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/seed.safetensors", tmp);
    /* plain safetensors: every dtype, a scalar, an empty tensor, metadata */
    float f32[6] = {1, -2, 3.5f, 0, 1e-30f, -0.0f};
    int64_t i64 = 42;
    int32_t i32[2] = {-1, 7};
    difu_st_out t[4] = {{"a", DIFU_ST_F32, 2, {2, 3}, f32},
                        {"b", DIFU_ST_I64, 0, {0}, &i64},
                        {"c", DIFU_ST_F64, 1, {0}, NULL},
                        {"d.e", DIFU_ST_I32, 1, {2}, i32}};
    difu_st_kv kv[2] = {{"format", "pt"}, {"note", "seed"}};
    size_t n;
    if (difu_st_write(e, path, t, 4, kv, 2) != DIFU_OK)
        die(difu_engine_last_error(e));
    unsigned char *b = slurp(path, &n);
    put("fuzz_safetensors", "dtypes.safetensors", b, n);
    free(b);
    if (difu_st_write(e, path, NULL, 0, NULL, 0) != DIFU_OK)
        die(difu_engine_last_error(e));
    b = slurp(path, &n);
    put("fuzz_safetensors", "empty.safetensors", b, n);
    free(b);

    /* a micro model with the trainer's state (train.*; one weight block keeps the file small) */
    difu_model_config cfg = micro_config(0);
    difu_model *m = NULL;
    if (difu_model_create(e, &cfg, 1, &m) != DIFU_OK)
        die(difu_engine_last_error(e));
    size_t nf;
    float *w = difu_model_params(m, &nf);
    difu_ckpt_block blocks[4] = {{"", w}, {"ema.", w}, {"adam.m.", w}, {"adam.v.", w}};
    int64_t ints[11] = {3, 3, 0, 7, 4, 10, 0, 1, 0, 0, 0};
    static const char *const int_names[11] = {"train.step", "train.adam_t", "train.skipped",
        "train.seed", "train.batch", "train.T", "train.schedule", "train.cond", "train.flip",
        "train.limit", "train.warmup"};
    int64_t pos[2] = {0, 1};
    double hp[8] = {2e-4, 0.9, 0.999, 1e-8, 0, 1, 0.999, 0.1};
    float loss[3] = {1.0f, 0.9f, 0.8f};
    difu_ckpt_tensor ex[14];
    for (int i = 0; i < 11; i++)
        ex[i] = (difu_ckpt_tensor){int_names[i], DIFU_ST_I64, 1, {1}, &ints[i]};
    ex[11] = (difu_ckpt_tensor){"train.data_pos", DIFU_ST_I64, 1, {2}, pos};
    ex[12] = (difu_ckpt_tensor){"train.hparams", DIFU_ST_F64, 1, {8}, hp};
    ex[13] = (difu_ckpt_tensor){"train.loss", DIFU_ST_F32, 1, {3}, loss};
    difu_ckpt_meta meta[4] = {{"difu.train.data", "idx:d"}, {"difu.train.model", "tiny"},
                              {"difu.schedule", "linear"}, {"difu.T", "10"}};
    snprintf(path, sizeof path, "%s/train.safetensors", tmp);
    if (difu_checkpoint_save(e, path, m, blocks, 1, ex, 14, meta, 4) != DIFU_OK)
        die(difu_engine_last_error(e));
    b = slurp(path, &n);
    put("fuzz_checkpoint", "train.safetensors", b, n);
    free(b);
    /* weights and EMA only */
    snprintf(path, sizeof path, "%s/weights.safetensors", tmp);
    if (difu_checkpoint_save(e, path, m, blocks, 2, NULL, 0, NULL, 0) != DIFU_OK)
        die(difu_engine_last_error(e));
    b = slurp(path, &n);
    put("fuzz_checkpoint", "weights-ema.safetensors", b, n);
    free(b);
    /* the full micro model as a PyTorch state_dict holds it: no metadata (config inferred) */
    difu_model_destroy(m);
    cfg = micro_config(1);
    if (difu_model_create(e, &cfg, 1, &m) != DIFU_OK)
        die(difu_engine_last_error(e));
    int T = difu_model_tensor_count(m);
    difu_st_out *outs = calloc((size_t)T, sizeof *outs);
    for (int i = 0; i < T; i++) {
        int64_t shape[DIFU_MAX_DIMS];
        outs[i].name = difu_model_tensor_info(m, i, &outs[i].ndim, shape);
        for (int d = 0; d < outs[i].ndim; d++)
            outs[i].shape[d] = shape[d];
        outs[i].dtype = DIFU_ST_F32;
        difu_tensor v;
        difu_model_param(m, outs[i].name, &v);
        outs[i].data = v.data;
    }
    snprintf(path, sizeof path, "%s/foreign.safetensors", tmp);
    if (difu_st_write(e, path, outs, T, NULL, 0) != DIFU_OK)
        die(difu_engine_last_error(e));
    b = slurp(path, &n);
    put("fuzz_checkpoint", "state-dict.safetensors", b, n);
    free(b);
    free(outs);

    /* configs */
    const char *presets[3] = {"fmnist-t", "fmnist-s", "tiny"};
    for (int i = 0; i < 4; i++) {
        difu_model_config c = cfg;
        if (i < 3 && difu_model_preset(e, presets[i], &c) != DIFU_OK)
            die(difu_engine_last_error(e));
        char *json = NULL;
        if (difu_model_config_to_json(e, &c, &json) != DIFU_OK)
            die(difu_engine_last_error(e));
        char name[64];
        snprintf(name, sizeof name, "%s.json", i < 3 ? presets[i] : "micro");
        put("fuzz_model_config", name, json, strlen(json));
        free(json);
    }
    const char *nul = "{\"ch\":8,\"ch_mult\":[1],\"num_res_blocks\":2,\"attn_res\":[],\"dropout\":0.1,"
                      "\"num_classes\":null,\"groups\":[[0,2],[16,4]],\"gn_eps\":1e-05,"
                      "\"img_size\":5,\"in_ch\":3}";
    put("fuzz_model_config", "unconditional.json", nul, strlen(nul));
    difu_model_destroy(m);
    remove(path);
}

/* ---------------------------------------------------------------- IDX and CIFAR */

static size_t gzip_mem(const unsigned char *src, size_t n, unsigned char *dst, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        die("deflateInit2");
    z.next_in = (unsigned char *)src;
    z.avail_in = (uInt)n;
    z.next_out = dst;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        die("deflate");
    size_t out = z.total_out;
    deflateEnd(&z);
    return out;
}

static void idx_seed(const char *name, uint8_t opt, int gz_images, int gz_labels)
{
    enum { N = 3, H = 2, W = 3 };
    unsigned char img[16 + N * H * W] = {0, 0, 8, 3, 0, 0, 0, N, 0, 0, 0, H, 0, 0, 0, W};
    for (int i = 0; i < N * H * W; i++)
        img[16 + i] = (unsigned char)(i * 37);
    unsigned char lab[8 + N] = {0, 0, 8, 1, 0, 0, 0, N, 0, 9, 4};
    unsigned char gi[256], gl[256];
    const unsigned char *ip = img, *lp = lab;
    size_t in = sizeof img, ln = sizeof lab;
    if (gz_images) {
        in = gzip_mem(img, sizeof img, gi, sizeof gi);
        ip = gi;
    }
    if (gz_labels) {
        ln = gzip_mem(lab, sizeof lab, gl, sizeof gl);
        lp = gl;
    }
    unsigned char buf[600];
    buf[0] = opt;
    buf[1] = (unsigned char)(in & 255);
    buf[2] = (unsigned char)(in >> 8);
    memcpy(buf + 3, ip, in);
    memcpy(buf + 3 + in, lp, ln);
    put("fuzz_idx", name, buf, 3 + in + ln);
}

static void cifar_seeds(void)
{
    enum { RECORD = 3073 };
    unsigned char *b = malloc(2 * RECORD + 1);
    for (int i = 0; i < 2 * RECORD; i++)
        b[1 + i] = (unsigned char)(i * 13);
    b[1] = 3;
    b[1 + RECORD] = 9;
    b[0] = 0x00;
    put("fuzz_cifar", "one-record", b, 1 + RECORD);
    b[0] = 0x26; /* gray, 8 x 8, flip */
    put("fuzz_cifar", "two-records", b, 1 + 2 * RECORD);
    b[0] = 0x80; /* padded to whole records */
    put("fuzz_cifar", "padded-short", b, 1 + 100);
    free(b);
}

/* ---------------------------------------------------------------- PNG */

typedef struct membuf {
    unsigned char *data;
    size_t len, cap;
} membuf;

static void mem_write(png_structp png, png_bytep data, size_t len)
{
    membuf *m = png_get_io_ptr(png);
    if (m->len + len > m->cap) {
        m->cap = 2 * (m->len + len);
        m->data = realloc(m->data, m->cap);
    }
    memcpy(m->data + m->len, data, len);
    m->len += len;
}

static void mem_flush(png_structp png) { (void)png; }

/* A w x h PNG of the given colour type and bit depth (palette: 4 entries, entry 0 transparent). */
static void png_seed(const char *name, uint8_t opt, int w, int h, int color, int depth,
                     int interlace, int trns)
{
    membuf m = {NULL, 0, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png)))
        die("libpng write");
    png_set_write_fn(png, &m, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_color pal[4] = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_PLTE(png, info, pal, 4);
    png_byte alpha[4] = {0, 128, 255, 255};
    png_color_16 tc = {0, 0, 0, 0, 0};
    if (trns)
        png_set_tRNS(png, info, alpha, color == PNG_COLOR_TYPE_PALETTE ? 4 : 0,
                     color == PNG_COLOR_TYPE_PALETTE ? NULL : &tc);
    png_write_info(png, info);
    int channels = color == PNG_COLOR_TYPE_RGB ? 3 : color == PNG_COLOR_TYPE_RGBA ? 4
                 : color == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : 1;
    size_t rowbytes = ((size_t)w * channels * depth + 7) / 8;
    png_bytep *rows = malloc((size_t)h * sizeof *rows);
    unsigned char *px = malloc((size_t)h * rowbytes);
    for (size_t i = 0; i < (size_t)h * rowbytes; i++)
        px[i] = (unsigned char)(color == PNG_COLOR_TYPE_PALETTE ? (i * 0x1b) & (depth == 8 ? 3 : 0x55)
                                                                : i * 29 + 7);
    for (int y = 0; y < h; y++)
        rows[y] = px + (size_t)y * rowbytes;
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    put_opt("fuzz_png", name, opt, m.data, m.len);
    free(rows);
    free(px);
    free(m.data);
}

/* ---------------------------------------------------------------- command lines */

static void cli_seed(const char *name, const char *const *args)
{
    char buf[1024];
    size_t n = 0;
    for (int i = 0; args[i]; i++) {
        size_t k = strlen(args[i]);
        memcpy(buf + n, args[i], k);
        n += k;
        if (args[i + 1])
            buf[n++] = 0;
    }
    put("fuzz_cli", name, buf, n);
}

static void cli_seeds(void)
{
    static const char *const train[] = {"train", "--data", "idx:d", "--model", "tiny", "--steps",
        "10", "--batch", "4", "--out", "o", "--lr", "1e-3", "--warmup", "2", "--weight-decay",
        "0.01", "--clip", "1", "--ema-decay", "0.99", "--cond", "--label-dropout", "0.2",
        "--schedule", "cosine", "--T", "50", "--seed", "18446744073709551615", "--flip", "--limit",
        "64", "--threads", "1", "--ckpt-every", "5", "--sample-every", "5", "--sample-steps", "3",
        "--log-every", "1", "--max-bad-steps", "3", NULL};
    static const char *const resume[] = {"train", "--resume", "ckpt.safetensors", "--steps", "20",
                                         NULL};
    static const char *const sample[] = {"sample", "--ckpt", "c.safetensors", "--out", "g.png",
        "--out-dir", "each", "--sampler", "ddim", "--steps", "5", "--eta", "0.5", "--variance",
        "beta", "--spacing", "uniform", "--clip", "--no-clip", "--n", "4", "--class", "1",
        "--guidance", "1.5", "--seed", "3", "--ema", "--no-ema", "--batch", "2", "--threads", "1",
        "--cols", "2", "--scale", "3", NULL};
    static const char *const all[] = {"sample", "--ckpt", "c", "--out", "g.png", "--all-classes",
                                      "--n", "2", "--sampler", "ddpm", NULL};
    static const char *const model[] = {"model", "tiny", "--batch", "8", "--threads", "2", NULL};
    static const char *const init[] = {"init", "--model", "tiny", "--seed", "5", "--out", "x",
                                       "--threads", "1", NULL};
    static const char *const predict[] = {"predict", "--ckpt", "c", "--in", "b", "--out", "o",
                                          "--ema", "--threads", "1", NULL};
    static const char *const digest[] = {"digest", "--", "-x.safetensors", "y", NULL};
    static const char *const info[] = {"info", "--threads", "3", "--isa", "avx2", NULL};
    static const char *const help[] = {"sample", "--help", NULL};
    static const char *const plot[] = {"plot", "--csv", "a/loss.csv", "--csv", "b.csv:torch",
        "--out", "p.png", "--column", "grad_norm", "--smooth", "0.9", "--linear", "--width", "640",
        "--height", "400", NULL};
    cli_seed("train", train);
    cli_seed("resume", resume);
    cli_seed("sample", sample);
    cli_seed("sample-all", all);
    cli_seed("model", model);
    cli_seed("init", init);
    cli_seed("predict", predict);
    cli_seed("digest", digest);
    cli_seed("info", info);
    cli_seed("help", help);
    cli_seed("plot", plot);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        die("usage: make_seeds DIR");
    root = argv[1];
    if (mkdir(root, 0755) != 0 && errno != EEXIST)
        die(root);
    difu_engine_params p = difu_engine_params_default();
    p.threads = 1;
    difu_engine *e = NULL;
    char err[512];
    if (difu_engine_create(&p, &e, err, sizeof err) != DIFU_OK)
        die(err);
    checkpoints(e, root);
    idx_seed("raw", 0x00, 0, 0);
    idx_seed("gzip", 0x05, 1, 1);
    idx_seed("gzip-images", 0x1a, 1, 0);
    cifar_seeds();
    png_seed("gray8", 0x00, 5, 3, PNG_COLOR_TYPE_GRAY, 8, 0, 0);
    png_seed("gray1", 0x05, 9, 4, PNG_COLOR_TYPE_GRAY, 1, 0, 0);
    png_seed("gray16-trns", 0x0a, 4, 6, PNG_COLOR_TYPE_GRAY, 16, 0, 1);
    png_seed("gray-alpha", 0x03, 3, 3, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, 0);
    png_seed("rgb8", 0x02, 6, 4, PNG_COLOR_TYPE_RGB, 8, 0, 0);
    png_seed("rgb16-interlaced", 0x16, 9, 7, PNG_COLOR_TYPE_RGB, 16, 1, 0);
    png_seed("rgba8", 0x0d, 2, 5, PNG_COLOR_TYPE_RGBA, 8, 0, 0);
    png_seed("palette-trns", 0x01, 7, 3, PNG_COLOR_TYPE_PALETTE, 8, 0, 1);
    png_seed("palette2-interlaced", 0x0e, 11, 10, PNG_COLOR_TYPE_PALETTE, 2, 1, 0);
    png_seed("large-upscale", 0x0f, 40, 30, PNG_COLOR_TYPE_RGB, 8, 0, 0);
    cli_seeds();
    difu_engine_destroy(e);
    char path[1024];
    const char *tmp[] = {"seed.safetensors", "train.safetensors", "weights.safetensors"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", root, tmp[i]);
        remove(path);
    }
    return 0;
}
