/* dataset.c: the dataset handle: spec parsing, conversion to the wanted shape, the per-epoch
 * order (shuffle), batching with optional horizontal flip, and the resumable position.
 *
 * Order of epoch e: Fisher-Yates over [0, count) driven by splitmix64 seeded from (seed, e)
 * only, so a run resumed at (epoch, index) sees the same batches as one that never stopped.
 * The flip of image i in epoch e is one bit of splitmix64 keyed by (seed, e, i).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
#define MAX_SIZE 4096
#define GOLDEN 0x9e3779b97f4a7c15ull
#define KEY_SHUFFLE 0x53485546464c45ull   /* "SHUFFLE" */
#define KEY_FLIP 0x464c4950ull            /* "FLIP" */

difu_status difu_errf(char *err, size_t errlen, difu_status status, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return status;
}

void difu_u8_set_free(difu_u8_set *s)
{
    free(s->pixels);
    free(s->labels);
    s->pixels = NULL;
    s->labels = NULL;
}

/* ---------------------------------------------------------------- randomness */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t epoch_key(uint64_t seed, uint64_t purpose, uint64_t epoch)
{
    return mix64(mix64(seed ^ purpose) + epoch * GOLDEN);
}

static uint64_t splitmix64_next(uint64_t *state)
{
    *state += GOLDEN;
    return mix64(*state);
}

static void make_order(difu_dataset *d, uint64_t epoch)
{
    int64_t n = d->set.count;
    for (int64_t i = 0; i < n; i++)
        d->perm[i] = (uint32_t)i;
    if (d->params.shuffle) {
        uint64_t state = epoch_key(d->params.seed, KEY_SHUFFLE, epoch);
        for (int64_t i = n - 1; i > 0; i--) {
            /* j uniform in [0, i] by multiply-shift (bias < 2^-32 * count) */
            uint64_t r = splitmix64_next(&state) >> 32;
            int64_t j = (int64_t)((r * (uint64_t)(i + 1)) >> 32);
            uint32_t t = d->perm[i];
            d->perm[i] = d->perm[j];
            d->perm[j] = t;
        }
    }
    d->perm_epoch = epoch;
    d->perm_valid = 1;
}

static int flip_bit(const difu_dataset *d, uint64_t epoch, int64_t image)
{
    uint64_t k = epoch_key(d->params.seed, KEY_FLIP, epoch);
    return (int)(mix64(k + GOLDEN * (uint64_t)(image + 1)) >> 63);
}

/* ---------------------------------------------------------------- resampling */

size_t difu_resample_tmp_floats(int sh, int sw, int dh, int dw)
{
    return (size_t)sw + (size_t)sh * dw + (size_t)dh * dw;
}

/* Output channel k (of dc) of source pixel (y, x), alpha composited over black. */
static float source_value(const uint8_t *src, int sc, int sh, int sw, int interleaved, int dc,
                          int k, int y, int x)
{
    float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int p = 0; p < sc; p++)
        v[p] = interleaved ? src[((size_t)y * sw + x) * sc + p]
                           : src[((size_t)p * sh + y) * sw + x];
    int color = sc >= 3;
    float alpha = (sc == 2 || sc == 4) ? v[sc - 1] * (1.0f / 255.0f) : 1.0f;
    float out;
    if (!color)
        out = v[0];
    else if (dc == 1)
        out = 0.299f * v[0] + 0.587f * v[1] + 0.114f * v[2];
    else
        out = v[k];
    return out * alpha;
}

/* Resamples n_in samples (stride in_stride) to n_out samples (stride out_stride): area average
 * when shrinking, bilinear (pixel centres aligned) when growing, a copy when equal. */
static void resample_line(const float *in, int in_stride, int n_in, float *out, int out_stride,
                          int n_out)
{
    if (n_out == n_in) {
        for (int o = 0; o < n_out; o++)
            out[o * out_stride] = in[o * in_stride];
    } else if (n_out < n_in) {
        double scale = (double)n_in / n_out;
        for (int o = 0; o < n_out; o++) {
            double a = o * scale, b = (o + 1) * scale;
            int i0 = (int)a, i1 = (int)b;
            if (i1 >= n_in || (double)i1 == b)
                i1--;
            double sum = 0.0;
            for (int i = i0; i <= i1; i++) {
                double lo = a > i ? a : i, hi = b < i + 1 ? b : i + 1;
                sum += in[i * in_stride] * (hi - lo);
            }
            out[o * out_stride] = (float)(sum / scale);
        }
    } else {
        double scale = (double)n_in / n_out;
        for (int o = 0; o < n_out; o++) {
            double s = (o + 0.5) * scale - 0.5;
            if (s < 0)
                s = 0;
            int i0 = (int)s;
            if (i0 > n_in - 1)
                i0 = n_in - 1;
            int i1 = i0 + 1 < n_in ? i0 + 1 : i0;
            float f = (float)(s - i0);
            out[o * out_stride] = in[i0 * in_stride] * (1.0f - f) + in[i1 * in_stride] * f;
        }
    }
}

void difu_resample_u8(const uint8_t *src, int sc, int sh, int sw, int interleaved, uint8_t *dst,
                      int dc, int dh, int dw, float *tmp)
{
    /* the centred crop with the output's aspect ratio */
    int ch = sh, cw = sw;
    if ((int64_t)sh * dw > (int64_t)sw * dh)
        ch = (int)(((int64_t)sw * dh + dw / 2) / dw);
    else
        cw = (int)(((int64_t)sh * dw + dh / 2) / dh);
    ch = ch < 1 ? 1 : ch;
    cw = cw < 1 ? 1 : cw;
    int y0 = (sh - ch) / 2, x0 = (sw - cw) / 2;
    float *line = tmp, *horiz = tmp + cw, *vert = horiz + (size_t)ch * dw;
    for (int k = 0; k < dc; k++) {
        for (int y = 0; y < ch; y++) {
            for (int x = 0; x < cw; x++)
                line[x] = source_value(src, sc, sh, sw, interleaved, dc, k, y0 + y, x0 + x);
            resample_line(line, 1, cw, horiz + (size_t)y * dw, 1, dw);
        }
        for (int x = 0; x < dw; x++)
            resample_line(horiz + x, dw, ch, vert + x, dw, dh);
        uint8_t *plane = dst + (size_t)k * dh * dw;
        for (size_t i = 0; i < (size_t)dh * dw; i++) {
            float v = vert[i] + 0.5f;
            plane[i] = v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)v;
        }
    }
}

/* Converts a whole set to [channels, size, size] (size 0: keep h x w) when it differs. */
static difu_status convert_set(difu_u8_set *s, int channels, int size, const char *spec,
                               char *err, size_t errlen)
{
    if (channels == 0)
        channels = s->c;
    int dh = size ? size : s->h, dw = size ? size : s->w;
    if (channels == s->c && dh == s->h && dw == s->w)
        return DIFU_OK;
    size_t per = (size_t)channels * dh * dw;
    uint8_t *out = malloc((size_t)s->count * per);
    if (!out)
        return difu_errf(err, errlen, DIFU_ERR_NO_MEMORY,
                         "dataset %s: cannot allocate %" PRId64 " images of %d x %d x %d", spec,
                         s->count, channels, dh, dw);
    size_t tmp_floats = difu_resample_tmp_floats(s->h, s->w, dh, dw);
    int failed = 0;
    size_t in_per = (size_t)s->c * s->h * s->w;
    #pragma omp parallel reduction(|:failed)
    {
        float *tmp = malloc(tmp_floats * sizeof *tmp);
        failed |= tmp == NULL;
        #pragma omp for schedule(static)
        for (int64_t i = 0; i < s->count; i++)
            if (tmp)
                difu_resample_u8(s->pixels + i * in_per, s->c, s->h, s->w, 0, out + i * per,
                                 channels, dh, dw, tmp);
        free(tmp);
    }
    if (failed) {
        free(out);
        return difu_errf(err, errlen, DIFU_ERR_NO_MEMORY, "dataset %s: out of memory resizing",
                         spec);
    }
    free(s->pixels);
    s->pixels = out;
    s->c = channels;
    s->h = dh;
    s->w = dw;
    return DIFU_OK;
}
/* ---------------------------------------------------------------- opening */

difu_dataset_params difu_dataset_params_default(void)
{
    difu_dataset_params p = {.channels = 0, .size = 0, .seed = 0, .shuffle = 1, .flip = 0,
                             .limit = 0};
    return p;
}

static difu_status load_idx_dir(const char *dir, const char *prefix, difu_u8_set *s, char *err,
                                size_t errlen)
{
    char images[4096], labels[4096], name[64];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    difu_status st = difu_idx_find(dir, name, images, sizeof images, err, errlen);
    if (st != DIFU_OK)
        return st;
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    st = difu_idx_find(dir, name, labels, sizeof labels, err, errlen);
    if (st != DIFU_OK)
        return st;
    return difu_load_idx(images, labels, s, err, errlen);
}

static difu_status load_by_spec(const char *spec, const difu_dataset_params *p, difu_u8_set *s,
                                char *err, size_t errlen)
{
    const char *arg = strchr(spec, ':');
    size_t kind_len = arg ? (size_t)(arg - spec) : strlen(spec);
    arg = arg ? arg + 1 : "";
    if (kind_len == 13 && strncmp(spec, "fashion-mnist", 13) == 0) {
        if (*arg == '\0' || strcmp(arg, "train") == 0)
            return load_idx_dir(FASHION_MNIST_DIR, "train", s, err, errlen);
        if (strcmp(arg, "test") == 0)
            return load_idx_dir(FASHION_MNIST_DIR, "t10k", s, err, errlen);
        return difu_errf(err, errlen, DIFU_ERR_INVALID_ARG,
                         "dataset %s: expected fashion-mnist, fashion-mnist:train or "
                         "fashion-mnist:test", spec);
    }
    if (*arg == '\0')
        return difu_errf(err, errlen, DIFU_ERR_INVALID_ARG,
                         "dataset \"%s\": expected fashion-mnist[:test], idx:DIR, cifar10:DIR or "
                         "folder:DIR", spec);
    if (kind_len == 3 && strncmp(spec, "idx", 3) == 0)
        return load_idx_dir(arg, "train", s, err, errlen);
    if (kind_len == 7 && strncmp(spec, "cifar10", 7) == 0)
        return difu_load_cifar(arg, s, err, errlen);
    if (kind_len == 6 && strncmp(spec, "folder", 6) == 0) {
        if (p->size <= 0)
            return difu_errf(err, errlen, DIFU_ERR_INVALID_ARG,
                             "dataset %s: a folder of PNGs needs the image size (size %d)", spec,
                             p->size);
        return difu_load_folder(arg, p->channels ? p->channels : 3, p->size, s, err, errlen);
    }
    return difu_errf(err, errlen, DIFU_ERR_INVALID_ARG,
                     "dataset \"%s\": unknown kind; expected fashion-mnist[:test], idx:DIR, "
                     "cifar10:DIR or folder:DIR", spec);
}

difu_status difu_dataset_open(const char *spec, const difu_dataset_params *params,
                              difu_dataset **out, char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    if (!spec || !params || !out)
        return difu_errf(err, errlen, DIFU_ERR_INVALID_ARG,
                         "dataset_open: spec, params or out is NULL");
    if (params->channels != 0 && params->channels != 1 && params->channels != 3)
        return difu_errf(err, errlen, DIFU_ERR_INVALID_ARG,
                         "dataset %s: channels %d, expected 0 (as stored), 1 or 3", spec,
                         params->channels);
    if (params->size < 0 || params->size > MAX_SIZE || params->limit < 0)
        return difu_errf(err, errlen, DIFU_ERR_INVALID_ARG,
                         "dataset %s: size %d (expected 0..%d) or limit %" PRId64 " < 0", spec,
                         params->size, MAX_SIZE, params->limit);
    difu_u8_set s = {0};
    difu_status st = load_by_spec(spec, params, &s, err, errlen);
    if (st != DIFU_OK)
        return st;
    if (params->limit > 0 && params->limit < s.count)
        s.count = params->limit;   /* the tail stays allocated; it is never read */
    st = convert_set(&s, params->channels, params->size, spec, err, errlen);
    difu_dataset *d = st == DIFU_OK ? calloc(1, sizeof *d) : NULL;
    if (st == DIFU_OK && d)
        d->perm = malloc((size_t)s.count * sizeof *d->perm);
    if (st == DIFU_OK && (!d || !d->perm)) {
        if (d)
            free(d);
        d = NULL;
        st = difu_errf(err, errlen, DIFU_ERR_NO_MEMORY, "dataset %s: out of memory", spec);
    }
    if (st != DIFU_OK) {
        difu_u8_set_free(&s);
        return st;
    }
    d->set = s;
    d->params = *params;
    for (int v = 0; v < 256; v++)
        d->to_float[v] = (float)v / 127.5f - 1.0f;
    *out = d;
    return DIFU_OK;
}

void difu_dataset_close(difu_dataset *d)
{
    if (!d)
        return;
    difu_u8_set_free(&d->set);
    free(d->perm);
    free(d);
}

difu_dataset_info difu_dataset_get_info(const difu_dataset *d)
{
    difu_dataset_info info = {0};
    if (d) {
        info.count = d->set.count;
        info.channels = d->set.c;
        info.height = d->set.h;
        info.width = d->set.w;
        info.classes = d->set.classes;
    }
    return info;
}

const char *difu_dataset_last_error(const difu_dataset *d)
{
    return d ? d->last_error : "no dataset";
}

/* ---------------------------------------------------------------- batches */

/* Image i as floats [c, h, w], mirrored left-right when flip. */
static void emit_image(const difu_dataset *d, int64_t i, int flip, float *dst)
{
    const difu_u8_set *s = &d->set;
    const uint8_t *src = s->pixels + (size_t)i * s->c * s->h * s->w;
    for (int r = 0; r < s->c * s->h; r++) {
        const uint8_t *in = src + (size_t)r * s->w;
        float *o = dst + (size_t)r * s->w;
        if (flip)
            for (int x = 0; x < s->w; x++)
                o[x] = d->to_float[in[s->w - 1 - x]];
        else
            for (int x = 0; x < s->w; x++)
                o[x] = d->to_float[in[x]];
    }
}

difu_status difu_dataset_next_batch(difu_dataset *d, int batch, float *images, int64_t *labels)
{
    if (!d)
        return DIFU_ERR_INVALID_ARG;
    if (batch < 1 || !images)
        return difu_errf(d->last_error, sizeof d->last_error, DIFU_ERR_INVALID_ARG,
                         "dataset_next_batch: batch %d (need >= 1) or images NULL", batch);
    size_t per = (size_t)d->set.c * d->set.h * d->set.w;
    for (int b = 0; b < batch; b++) {
        if (!d->perm_valid || d->perm_epoch != d->pos.epoch)
            make_order(d, d->pos.epoch);
        int64_t i = d->perm[d->pos.index];
        int flip = d->params.flip && flip_bit(d, d->pos.epoch, i);
        emit_image(d, i, flip, images + (size_t)b * per);
        if (labels)
            labels[b] = d->set.labels ? d->set.labels[i] : -1;
        if (++d->pos.index == d->set.count) {
            d->pos.index = 0;
            d->pos.epoch++;
        }
    }
    return DIFU_OK;
}

difu_status difu_dataset_get(difu_dataset *d, int64_t i, float *image, int64_t *label)
{
    if (!d)
        return DIFU_ERR_INVALID_ARG;
    if (i < 0 || i >= d->set.count || !image)
        return difu_errf(d->last_error, sizeof d->last_error, DIFU_ERR_INVALID_ARG,
                         "dataset_get: index %" PRId64 " not in [0, %" PRId64 ") or image NULL",
                         i, d->set.count);
    emit_image(d, i, 0, image);
    if (label)
        *label = d->set.labels ? d->set.labels[i] : -1;
    return DIFU_OK;
}

difu_dataset_pos difu_dataset_get_pos(const difu_dataset *d)
{
    difu_dataset_pos p = {0, 0};
    return d ? d->pos : p;
}

difu_status difu_dataset_set_pos(difu_dataset *d, difu_dataset_pos pos)
{
    if (!d)
        return DIFU_ERR_INVALID_ARG;
    if (pos.index < 0 || pos.index >= d->set.count)
        return difu_errf(d->last_error, sizeof d->last_error, DIFU_ERR_INVALID_ARG,
                         "dataset_set_pos: index %" PRId64 " not in [0, %" PRId64 ")", pos.index,
                         d->set.count);
    d->pos = pos;
    return DIFU_OK;
}
