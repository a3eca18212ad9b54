/* trainer.c: epsilon-prediction training of the U-Net (shared/MODEL.md). One step: the next batch,
 * t and label dropout from a counter-based hash of (seed, step, image), q_sample, forward +
 * backward, gradient norm and clip, Adam + EMA; every draw depends on the step number only, so a
 * resumed run repeats the one that never stopped bit for bit. The run loop adds checkpoints,
 * sample grids, the loss plot and the stop flag. */
#include "trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model_internal.h"

/* Keys that separate the random streams drawn from one seed. */
#define KEY_T 0x74696d65ULL       /* timestep of image i */
#define KEY_DROP 0x64726f70ULL    /* label dropout of image i */
#define KEY_NOISE 0x6e6f6973ULL   /* q_sample noise */
#define KEY_DROPOUT 0x64726f75ULL /* dropout masks in the ResBlocks */

double difu_train_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* splitmix64's finaliser: a bijective 64-bit mix. */
static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* A 64-bit random word, a function of (seed, key, step, image) only. */
static uint64_t draw(uint64_t seed, uint64_t key, uint64_t step, uint64_t image)
{
    return mix64(mix64(mix64(seed ^ mix64(key)) ^ step) ^ image);
}

difu_train_params difu_train_params_default(void)
{
    difu_train_params p;
    memset(&p, 0, sizeof p);
    p.steps = 1000;
    p.batch = 128;
    p.lr = 2e-4f;
    p.beta1 = 0.9f;
    p.beta2 = 0.999f;
    p.adam_eps = 1e-8f;
    p.clip = 1.0f;
    p.ema_decay = 0.9999f;
    p.label_dropout = 0.1f;
    p.schedule = DIFU_SCHEDULE_LINEAR;
    p.T = 1000;
    p.sample_steps = 50;
    p.sample_per_class = 10;
    p.sample_guidance = 2.0f;
    p.max_bad_steps = 10;
    p.write_files = 1;
    return p;
}

static difu_status check_params(difu_engine *e, const difu_train_params *p)
{
#define BAD(...) difu_fail(e, DIFU_ERR_INVALID_ARG, "train: " __VA_ARGS__)
    if (!p->data || !p->model)
        return BAD("data and model are required");
    if (p->write_files && !p->out_dir)
        return BAD("an output folder is required");
    if (p->steps < 1)
        return BAD("steps must be >= 1, got %lld", (long long)p->steps);
    if (p->batch < 1 || p->batch > 65536)
        return BAD("batch must be in [1, 65536], got %d", p->batch);
    if (!(p->lr >= 0 && p->lr < 1e3f))
        return BAD("lr must be in [0, 1000), got %g", (double)p->lr);
    if (!(p->beta1 >= 0 && p->beta1 < 1) || !(p->beta2 >= 0 && p->beta2 < 1))
        return BAD("Adam betas must be in [0, 1), got %g and %g", (double)p->beta1,
                   (double)p->beta2);
    if (!(p->adam_eps > 0 && p->adam_eps < 1))
        return BAD("Adam eps must be in (0, 1), got %g", (double)p->adam_eps);
    if (!(p->weight_decay >= 0 && p->weight_decay < 1e3f))
        return BAD("weight decay must be in [0, 1000), got %g", (double)p->weight_decay);
    if (p->warmup < 0)
        return BAD("warm-up must be >= 0, got %lld", (long long)p->warmup);
    if (!(p->clip >= 0 && isfinite(p->clip)))
        return BAD("clip must be >= 0 (0 = none), got %g", (double)p->clip);
    if (!(p->ema_decay >= 0 && p->ema_decay < 1))
        return BAD("EMA decay must be in [0, 1), got %g", (double)p->ema_decay);
    if (!(p->label_dropout >= 0 && p->label_dropout <= 1))
        return BAD("label dropout must be in [0, 1], got %g", (double)p->label_dropout);
    if (p->schedule < 0 || p->schedule >= DIFU_SCHEDULE_COUNT)
        return BAD("unknown schedule %d", (int)p->schedule);
    if (p->T < 2 || p->T > 100000)
        return BAD("T must be in [2, 100000], got %d", p->T);
    if (p->limit < 0 || p->ckpt_every < 0 || p->sample_every < 0)
        return BAD("limit, ckpt_every and sample_every must be >= 0");
    if (p->sample_steps < 1 || p->sample_steps > p->T)
        return BAD("sample steps must be in [1, T = %d], got %d", p->T, p->sample_steps);
    if (p->sample_per_class < 1 || p->sample_per_class > 64)
        return BAD("sample_per_class must be in [1, 64], got %d", p->sample_per_class);
    if (!isfinite(p->sample_guidance))
        return BAD("sample guidance must be finite");
    if (p->max_bad_steps < 1)
        return BAD("max_bad_steps must be >= 1, got %d", p->max_bad_steps);
#undef BAD
    return DIFU_OK;
}

static char *dup_str(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static difu_status alloc_buffers(difu_trainer *t)
{
    size_t B = (size_t)t->p.batch, px = (size_t)t->per_image;
    size_t bytes = t->n_floats * sizeof(float);
    if (difu_arena_alloc(&t->ema, bytes) != DIFU_OK || difu_arena_alloc(&t->adam_m, bytes) != DIFU_OK ||
        difu_arena_alloc(&t->adam_v, bytes) != DIFU_OK)
        return difu_fail(t->e, DIFU_ERR_NO_MEMORY, "train: out of memory for optimizer state");
    memcpy(t->ema.base, t->params, bytes);
    memset(t->adam_m.base, 0, bytes);
    memset(t->adam_v.base, 0, bytes);
    t->x0 = malloc(B * px * sizeof(float));
    t->eps = malloc(B * px * sizeof(float));
    t->xt = malloc(B * px * sizeof(float));
    t->a = malloc(B * sizeof(float));
    t->b = malloc(B * sizeof(float));
    t->labels = malloc(B * sizeof(int64_t));
    t->t = malloc(B * sizeof(int64_t));
    t->y = malloc(B * sizeof(int64_t));
    if (!t->x0 || !t->eps || !t->xt || !t->a || !t->b || !t->labels || !t->t || !t->y)
        return difu_fail(t->e, DIFU_ERR_NO_MEMORY, "train: out of memory for a batch of %d",
                         t->p.batch);
    return difu_train_reserve_loss(t, t->p.steps);
}

difu_status difu_train_reserve_loss(difu_trainer *t, int64_t n)
{
    if (n <= t->loss_cap)
        return DIFU_OK;
    float *h = realloc(t->loss_hist, (size_t)n * sizeof(float));
    if (!h)
        return difu_fail(t->e, DIFU_ERR_NO_MEMORY, "train: out of memory for %lld loss values",
                         (long long)n);
    t->loss_hist = h;
    t->loss_cap = n;
    return DIFU_OK;
}

static difu_status open_data_and_model(difu_trainer *t)
{
    difu_engine *e = t->e;
    difu_model_config cfg;
    difu_status s = difu_model_preset(e, t->p.model, &cfg);
    if (s != DIFU_OK)
        return s;
    difu_dataset_params dp = difu_dataset_params_default();
    dp.channels = cfg.in_ch;
    dp.size = cfg.img_size;
    dp.seed = t->p.seed;
    dp.flip = t->p.flip;
    dp.limit = t->p.limit;
    char err[DIFU_ERROR_LEN];
    s = difu_dataset_open(t->p.data, &dp, &t->d, err, sizeof err);
    if (s != DIFU_OK)
        return difu_fail(e, s, "train: %s", err);
    t->info = difu_dataset_get_info(t->d);
    if (t->p.cond && t->info.classes <= 0)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "train: --cond needs labelled data, and '%s' has no labels", t->p.data);
    cfg.num_classes = t->p.cond ? t->info.classes : 0;
    s = difu_model_create(e, &cfg, t->p.seed, &t->m);
    if (s != DIFU_OK)
        return s;
    difu_model_set_detect_anomaly(t->m, t->p.detect_anomaly);
    t->per_image = (int64_t)cfg.in_ch * cfg.img_size * cfg.img_size;
    t->params = difu_model_params(t->m, &t->n_floats);
    t->grads = difu_model_grads(t->m, &t->n_floats);
    return DIFU_OK;
}

difu_status difu_trainer_create(difu_engine *e, const difu_train_params *p, const char *resume,
                                difu_trainer **out)
{
    if (!e || !p || !out)
        return e ? difu_fail(e, DIFU_ERR_INVALID_ARG, "train: NULL argument") : DIFU_ERR_INVALID_ARG;
    *out = NULL;
    difu_status s = check_params(e, p);
    if (s != DIFU_OK)
        return s;
    difu_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return difu_fail(e, DIFU_ERR_NO_MEMORY, "train: out of memory");
    t->e = e;
    t->p = *p;
    t->data = dup_str(p->data);
    t->model_name = dup_str(p->model);
    t->out_dir = dup_str(p->out_dir);
    t->p.data = t->data;
    t->p.model = t->model_name;
    t->p.out_dir = t->out_dir;
    if (!t->data || !t->model_name || (p->out_dir && !t->out_dir)) {
        s = difu_fail(e, DIFU_ERR_NO_MEMORY, "train: out of memory");
        goto fail;
    }
    char err[DIFU_ERROR_LEN];
    s = difu_schedule_init(&t->sched, p->schedule, p->T, err, sizeof err);
    if (s != DIFU_OK) {
        s = difu_fail(e, s, "train: %s", err);
        goto fail;
    }
    if (p->write_files) {
        /* Before any expensive work: a run must not fail at its first checkpoint. */
        s = difu_train_prepare_dir(e, t->out_dir);
        if (s != DIFU_OK)
            goto fail;
        int n = snprintf(t->ckpt_path, sizeof t->ckpt_path, "%s/checkpoint.safetensors", t->out_dir);
        if (n < 0 || (size_t)n >= sizeof t->ckpt_path) {
            s = difu_fail(e, DIFU_ERR_INVALID_ARG, "train: output folder path is too long");
            goto fail;
        }
    }
    s = open_data_and_model(t);
    if (s == DIFU_OK)
        s = alloc_buffers(t);
    if (s == DIFU_OK && resume)
        s = difu_train_state_load(t, resume);
    if (s == DIFU_OK && p->write_files)
        s = difu_train_open_csv(t, t->step);
    if (s != DIFU_OK)
        goto fail;
    t->first_step = t->step;
    t->t_start = difu_train_now();
    *out = t;
    return DIFU_OK;
fail:
    difu_trainer_destroy(t);
    return s;
}

void difu_trainer_destroy(difu_trainer *t)
{
    if (!t)
        return;
    if (t->csv)
        fclose(t->csv);
    difu_model_destroy(t->m);
    difu_dataset_close(t->d);
    difu_schedule_free(&t->sched);
    difu_arena_free(&t->ema);
    difu_arena_free(&t->adam_m);
    difu_arena_free(&t->adam_v);
    free(t->x0);
    free(t->eps);
    free(t->xt);
    free(t->a);
    free(t->b);
    free(t->labels);
    free(t->t);
    free(t->y);
    free(t->loss_hist);
    free(t->data);
    free(t->model_name);
    free(t->out_dir);
    free(t);
}

/* Timesteps, q coefficients and (conditional) labels with dropout for the batch of step s. */
static void draw_batch_keys(difu_trainer *t, uint64_t s)
{
    const difu_train_params *p = &t->p;
    for (int i = 0; i < p->batch; i++) {
        uint64_t h = draw(p->seed, KEY_T, s, (uint64_t)i);
        int64_t ti = (int64_t)(((h >> 32) * (uint64_t)p->T) >> 32);
        t->t[i] = ti;
        difu_schedule_q_coefs(&t->sched, (int)ti, &t->a[i], &t->b[i]);
        if (p->cond) {
            double u = (double)(draw(p->seed, KEY_DROP, s, (uint64_t)i) >> 11) * 0x1p-53;
            t->y[i] = u < p->label_dropout ? t->info.classes : t->labels[i];
        }
    }
}

static float lr_at(const difu_train_params *p, int64_t s)
{
    if (p->warmup > 0 && s < p->warmup)
        return (float)((double)p->lr * (double)(s + 1) / (double)p->warmup);
    return p->lr;
}

difu_status difu_trainer_step(difu_trainer *t, difu_train_progress *out)
{
    difu_engine *e = t->e;
    const difu_train_params *p = &t->p;
    const uint64_t s = (uint64_t)t->step;
    double t0 = difu_train_now();
    difu_status st = difu_train_reserve_loss(t, t->step < t->loss_cap ? 0 : 2 * t->step + 16);
    if (st != DIFU_OK)
        return st;
    st = difu_dataset_next_batch(t->d, p->batch, t->x0, t->labels);
    if (st != DIFU_OK)
        return difu_fail(e, st, "train: step %lld: %s", (long long)s, difu_dataset_last_error(t->d));
    draw_batch_keys(t, s);
    st = difu_q_sample(e, p->batch, t->per_image, t->x0, t->a, t->b,
                       mix64(p->seed ^ KEY_NOISE), s, 0, t->eps, t->xt);
    if (st != DIFU_OK)
        return st;
    difu_model_set_dropout_key(t->m, mix64(p->seed ^ KEY_DROPOUT), s);
    float loss = NAN;
    st = difu_model_forward_backward(t->m, p->batch, t->xt, t->t, p->cond ? t->y : NULL, t->eps,
                                     &loss, NULL);
    if (st != DIFU_OK)
        return st;
    /* With detect_anomaly a run that met a non-finite value stopped there: the gradients are
     * only partly written, so the step is skipped without looking at them. */
    char where[DIFU_ERROR_LEN - 96];
    int anomaly = p->detect_anomaly && difu_model_anomaly(t->m, where, sizeof where);
    t->anomaly[0] = '\0';
    if (anomaly)
        snprintf(t->anomaly, sizeof t->anomaly,
                 "step %lld: detect-anomaly: first non-finite value in the output of %s",
                 (long long)s + 1, where);
    double sumsq = NAN;
    if (!anomaly) {
        st = difu_sum_squares(e, (int64_t)t->n_floats, t->grads, &sumsq);
        if (st != DIFU_OK)
            return st;
    }
    float gnorm = (float)sqrt(sumsq);
    float lr = lr_at(p, (int64_t)s);
    int skipped = anomaly || !isfinite(loss) || !isfinite(sumsq);
    if (!skipped) {
        int64_t k = t->adam_t + 1;
        double ema = (1.0 + (double)s) / (10.0 + (double)s);
        difu_adam_params ap = {
            .lr = lr,
            .beta1 = p->beta1,
            .beta2 = p->beta2,
            .eps = p->adam_eps,
            .bc1 = (float)(1.0 - pow(p->beta1, (double)k)),
            .bc2 = (float)(1.0 - pow(p->beta2, (double)k)),
            .grad_scale = (p->clip > 0 && gnorm > p->clip) ? (float)(p->clip / (double)gnorm) : 1.0f,
            .l2 = 0.0f,
            .decoupled_wd = p->weight_decay,
            .ema_decay = (float)(ema < p->ema_decay ? ema : p->ema_decay),
        };
        st = difu_adam_ema_step(e, (int64_t)t->n_floats, &ap, t->params, t->grads,
                                (float *)t->adam_m.base, (float *)t->adam_v.base,
                                (float *)t->ema.base);
        if (st != DIFU_OK)
            return st;
        t->adam_t = k;
        t->bad_in_row = 0;
    } else {
        t->skipped_total++;
        t->bad_in_row++;
    }
    t->loss_hist[t->step] = skipped ? NAN : loss;
    t->step++;
    double now = difu_train_now();
    if (!skipped) {
        t->smooth_n++;
        t->loss_smooth = t->smooth_n == 1 ? loss : 0.98 * t->loss_smooth + 0.02 * loss;
    }
    double dt = now - t0;
    if (t->csv)
        difu_train_csv_row(t, t->step, loss, lr, gnorm, dt > 0 ? p->batch / dt : 0.0);
    if (out) {
        memset(out, 0, sizeof *out);
        out->event = DIFU_TRAIN_STEP;
        out->step = t->step;
        out->steps = p->steps;
        out->first_step = t->first_step;
        out->loss = loss;
        out->loss_smooth = (float)t->loss_smooth;
        out->lr = lr;
        out->grad_norm = gnorm;
        out->elapsed_s = now - t->t_start;
        out->img_per_s = out->elapsed_s > 0
                             ? (double)(t->step - t->first_step) * p->batch / out->elapsed_s
                             : 0.0;
        out->skipped = skipped;
        out->skipped_total = t->skipped_total;
        out->anomaly = anomaly ? t->anomaly : NULL;
    }
    if (t->bad_in_row >= p->max_bad_steps)
        return difu_fail(e, DIFU_ERR_NUMERIC,
                         "train: %d steps in a row had a non-finite loss or gradient (last at step "
                         "%lld, loss %g, gradient norm %g); stopping%s%s%s%s",
                         t->bad_in_row, (long long)t->step, (double)loss, (double)gnorm,
                         p->write_files ? "; the last good checkpoint is kept in " : "",
                         p->write_files ? t->ckpt_path : "", anomaly ? "; " : "", t->anomaly);
    return DIFU_OK;
}

difu_status difu_trainer_save(difu_trainer *t, const char *path)
{
    return difu_train_state_save(t, path);
}

difu_status difu_trainer_write_samples(difu_trainer *t, const char *path)
{
    const difu_model_config *cfg = difu_model_get_config(t->m);
    int cols = t->p.sample_per_class;
    int rows = cfg->num_classes > 0 ? cfg->num_classes : cols;
    int n = rows * cols;
    size_t bytes = t->n_floats * sizeof(float);
    float *saved = malloc(bytes);
    float *img = malloc((size_t)n * (size_t)t->per_image * sizeof(float));
    int64_t *labels = malloc((size_t)n * sizeof(int64_t));
    difu_status s = DIFU_OK;
    if (!saved || !img || !labels) {
        s = difu_fail(t->e, DIFU_ERR_NO_MEMORY, "train: out of memory for %d samples", n);
        goto done;
    }
    for (int i = 0; i < n; i++)
        labels[i] = i / cols;
    difu_sample_params sp = difu_sample_params_default();
    sp.sampler = DIFU_SAMPLER_DDIM;
    sp.schedule = t->p.schedule;
    sp.T = t->p.T;
    sp.steps = t->p.sample_steps;
    sp.guidance = t->p.sample_guidance;
    sp.seed = t->p.seed;
    /* Sample from the EMA weights, then put the trained weights back bit for bit. */
    memcpy(saved, t->params, bytes);
    memcpy(t->params, t->ema.base, bytes);
    s = difu_sample(t->e, t->m, &sp, n, cfg->num_classes > 0 ? labels : NULL, img);
    difu_model_release_weight_cache(t->m); /* the EMA weights' Winograd form: not needed again */
    memcpy(t->params, saved, bytes);
    if (s == DIFU_OK) {
        char err[DIFU_ERROR_LEN];
        s = difu_png_write_grid(path, img, n, cfg->in_ch, cfg->img_size, cfg->img_size, cols,
                                cfg->img_size < 16 ? 4 : 2, err, sizeof err);
        if (s != DIFU_OK)
            s = difu_fail(t->e, s, "train: %s", err);
    }
done:
    free(saved);
    free(img);
    free(labels);
    return s;
}

static void notify(difu_trainer *t, difu_train_progress *pr, difu_train_event ev, const char *path)
{
    if (!t->p.progress)
        return;
    pr->event = ev;
    pr->path = path;
    t->p.progress(pr, t->p.progress_ctx);
    pr->event = DIFU_TRAIN_STEP;
    pr->path = NULL;
}

static difu_status write_loss_plot(difu_trainer *t)
{
    if (t->step < 2)
        return DIFU_OK;
    char path[DIFU_TRAIN_PATH_LEN + 16], err[DIFU_ERROR_LEN];
    snprintf(path, sizeof path, "%s/loss.png", t->out_dir);
    difu_plot_params pp = difu_plot_params_default();
    difu_status s = difu_png_write_loss_plot(path, t->loss_hist, t->step, &pp, err, sizeof err);
    return s == DIFU_OK ? s : difu_fail(t->e, s, "train: %s", err);
}

difu_status difu_trainer_run(difu_trainer *t, int *interrupted)
{
    const difu_train_params *p = &t->p;
    difu_train_progress pr;
    memset(&pr, 0, sizeof pr);
    int stopped = 0;
    difu_status s = DIFU_OK;
    char path[DIFU_TRAIN_PATH_LEN + 32];
    if (interrupted)
        *interrupted = 0;
    while (t->step < p->steps) {
        if (p->stop && *p->stop) {
            stopped = 1;
            break;
        }
        s = difu_trainer_step(t, &pr);
        if (s != DIFU_OK)
            return s; /* a failing step writes no checkpoint: the last good one stays */
        if (p->progress)
            p->progress(&pr, p->progress_ctx);
        if (!p->write_files)
            continue;
        if (p->ckpt_every > 0 && t->step % p->ckpt_every == 0 && t->step < p->steps) {
            if ((s = difu_train_state_save(t, t->ckpt_path)) != DIFU_OK)
                return s;
            notify(t, &pr, DIFU_TRAIN_CHECKPOINT, t->ckpt_path);
        }
        if (p->sample_every > 0 && t->step % p->sample_every == 0) {
            snprintf(path, sizeof path, "%s/samples-%lld.png", t->out_dir, (long long)t->step);
            if ((s = difu_trainer_write_samples(t, path)) != DIFU_OK)
                return s;
            notify(t, &pr, DIFU_TRAIN_SAMPLES, path);
        }
    }
    if (p->write_files) {
        if (t->csv)
            fflush(t->csv);
        if (t->step > t->first_step || stopped) {
            if ((s = difu_train_state_save(t, t->ckpt_path)) != DIFU_OK)
                return s;
            pr.step = t->step;
            pr.steps = p->steps;
            notify(t, &pr, DIFU_TRAIN_CHECKPOINT, t->ckpt_path);
        }
        if ((s = write_loss_plot(t)) != DIFU_OK)
            return s;
    }
    if (interrupted)
        *interrupted = stopped;
    return DIFU_OK;
}

int64_t difu_trainer_steps_done(const difu_trainer *t)
{
    return t->step;
}

difu_model *difu_trainer_model(difu_trainer *t)
{
    return t->m;
}

const float *difu_trainer_ema(const difu_trainer *t)
{
    return (const float *)t->ema.base;
}

const float *difu_trainer_adam_m(const difu_trainer *t)
{
    return (const float *)t->adam_m.base;
}

const float *difu_trainer_adam_v(const difu_trainer *t)
{
    return (const float *)t->adam_v.base;
}
