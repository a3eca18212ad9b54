/* train_state.c: what a training checkpoint holds beyond the weights, and reading it back.
 *   blocks   "" (weights), "ema.", "adam.m.", "adam.v."
 *   I64 [1]  train.step, train.adam_t, train.skipped, train.seed (bits of the u64), train.batch,
 *            train.T, train.schedule, train.cond, train.flip, train.limit, train.warmup
 *   I64 [2]  train.data_pos (epoch, index of the next batch)
 *   F64 [8]  train.hparams: lr, beta1, beta2, adam_eps, weight_decay, clip, ema_decay,
 *            label_dropout
 *   F32 [step] train.loss: the loss of every step (NaN when skipped), for loss.png
 *   metadata difu.train.data, difu.train.model, difu.schedule, difu.T
 * Resume restores all of it, so the run continues as if it had never stopped. Also the loader used
 * for sampling (difu_load_model). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "trainer.h"

enum { I_STEP, I_ADAM_T, I_SKIPPED, I_SEED, I_BATCH, I_T, I_SCHEDULE, I_COND, I_FLIP, I_LIMIT,
       I_WARMUP, I_COUNT };
static const char *const int_names[I_COUNT] = {
    "train.step", "train.adam_t", "train.skipped", "train.seed", "train.batch", "train.T",
    "train.schedule", "train.cond", "train.flip", "train.limit", "train.warmup"};

enum { H_LR, H_BETA1, H_BETA2, H_EPS, H_WD, H_CLIP, H_EMA, H_DROP, H_COUNT };

static int64_t u64_bits(uint64_t v)
{
    int64_t r;
    memcpy(&r, &v, sizeof r);
    return r;
}

static uint64_t i64_bits(int64_t v)
{
    uint64_t r;
    memcpy(&r, &v, sizeof r);
    return r;
}

difu_status difu_train_state_save(difu_trainer *t, const char *path)
{
    const difu_train_params *p = &t->p;
    int64_t ints[I_COUNT] = {t->step, t->adam_t, t->skipped_total, u64_bits(p->seed), p->batch,
                             p->T, p->schedule, p->cond, p->flip, p->limit, p->warmup};
    difu_dataset_pos pos = difu_dataset_get_pos(t->d);
    int64_t data_pos[2] = {u64_bits(pos.epoch), pos.index};
    double hp[H_COUNT] = {p->lr, p->beta1, p->beta2, p->adam_eps, p->weight_decay, p->clip,
                          p->ema_decay, p->label_dropout};
    difu_ckpt_tensor ex[I_COUNT + 3];
    int n = 0;
    for (int i = 0; i < I_COUNT; i++)
        ex[n++] = (difu_ckpt_tensor){int_names[i], DIFU_ST_I64, 1, {1}, &ints[i]};
    ex[n++] = (difu_ckpt_tensor){"train.data_pos", DIFU_ST_I64, 1, {2}, data_pos};
    ex[n++] = (difu_ckpt_tensor){"train.hparams", DIFU_ST_F64, 1, {H_COUNT}, hp};
    if (t->step > 0)
        ex[n++] = (difu_ckpt_tensor){"train.loss", DIFU_ST_F32, 1, {t->step}, t->loss_hist};
    difu_ckpt_block blocks[4] = {{"", t->params},
                                 {"ema.", (const float *)t->ema.base},
                                 {"adam.m.", (const float *)t->adam_m.base},
                                 {"adam.v.", (const float *)t->adam_v.base}};
    char T_text[32];
    snprintf(T_text, sizeof T_text, "%d", p->T);
    difu_ckpt_meta meta[4] = {{"difu.train.data", p->data},
                              {"difu.train.model", p->model},
                              {"difu.schedule", difu_schedule_kind_name(p->schedule)},
                              {"difu.T", T_text}};
    return difu_checkpoint_save(t->e, path, t->m, blocks, 4, ex, n, meta, 4);
}

/* The tensor `name` as `want` with `numel` elements, or an error naming it. */
static difu_status get_tensor(difu_engine *e, const difu_safetensors *f, const char *path,
                              const char *name, difu_st_dtype want, int64_t numel,
                              const void **data)
{
    const difu_st_tensor *st = difu_st_find(f, name);
    if (!st)
        return difu_fail(e, DIFU_ERR_FORMAT, "resume: '%s' has no tensor '%s' (not a difu training "
                         "checkpoint?)", path, name);
    if (st->dtype != want || difu_st_numel(st) != numel)
        return difu_fail(e, DIFU_ERR_FORMAT, "resume: '%s': tensor '%s' is %s with %lld elements, "
                         "expected %s with %lld", path, name, difu_st_dtype_name(st->dtype),
                         (long long)difu_st_numel(st), difu_st_dtype_name(want), (long long)numel);
    *data = difu_st_data(f, st);
    return DIFU_OK;
}

static difu_status read_ints(difu_engine *e, const difu_safetensors *f, const char *path,
                             int64_t ints[I_COUNT], double hp[H_COUNT])
{
    for (int i = 0; i < I_COUNT; i++) {
        const void *d = NULL;
        difu_status s = get_tensor(e, f, path, int_names[i], DIFU_ST_I64, 1, &d);
        if (s != DIFU_OK)
            return s;
        memcpy(&ints[i], d, sizeof(int64_t));
    }
    const void *d = NULL;
    difu_status s = get_tensor(e, f, path, "train.hparams", DIFU_ST_F64, H_COUNT, &d);
    if (s == DIFU_OK)
        memcpy(hp, d, sizeof(double) * H_COUNT);
    return s;
}

difu_status difu_train_state_load(difu_trainer *t, const char *path)
{
    difu_engine *e = t->e;
    const difu_train_params *p = &t->p;
    difu_checkpoint *c = NULL;
    difu_status s = difu_checkpoint_open(e, path, &c);
    if (s != DIFU_OK)
        return s;
    const difu_safetensors *f = difu_checkpoint_file(c);
    int64_t ints[I_COUNT];
    double hp[H_COUNT];
    s = read_ints(e, f, path, ints, hp);
    if (s != DIFU_OK)
        goto done;
    /* The settings that decide the data order, the draws and the model must match. */
    const char *data = difu_st_meta_get(f, "difu.train.data");
    const char *model = difu_st_meta_get(f, "difu.train.model");
    const int64_t mine[I_COUNT] = {0, 0, 0, u64_bits(p->seed), p->batch, p->T, p->schedule,
                                   p->cond, p->flip, p->limit, 0};
    if (!data || strcmp(data, p->data) != 0 || !model || strcmp(model, p->model) != 0) {
        s = difu_fail(e, DIFU_ERR_INVALID_ARG, "resume: '%s' was trained with data '%s' and model "
                      "'%s', not '%s' and '%s'", path, data ? data : "?", model ? model : "?",
                      p->data, p->model);
        goto done;
    }
    for (int i = I_SEED; i <= I_LIMIT; i++)
        if (ints[i] != mine[i]) {
            s = difu_fail(e, DIFU_ERR_INVALID_ARG, "resume: '%s' has %s = %lld, this run %lld; an "
                          "exact resume needs the same value", path, int_names[i] + 6,
                          (long long)ints[i], (long long)mine[i]);
            goto done;
        }
    if (ints[I_STEP] < 0 || ints[I_ADAM_T] < 0 || ints[I_ADAM_T] > ints[I_STEP]) {
        s = difu_fail(e, DIFU_ERR_FORMAT, "resume: '%s' has step %lld and %lld Adam updates", path,
                      (long long)ints[I_STEP], (long long)ints[I_ADAM_T]);
        goto done;
    }
    const void *d = NULL;
    if ((s = get_tensor(e, f, path, "train.data_pos", DIFU_ST_I64, 2, &d)) != DIFU_OK)
        goto done;
    int64_t pos2[2];
    memcpy(pos2, d, sizeof pos2);
    difu_dataset_pos pos = {i64_bits(pos2[0]), pos2[1]};
    if ((s = difu_dataset_set_pos(t->d, pos)) != DIFU_OK) {
        s = difu_fail(e, s, "resume: '%s': %s", path, difu_dataset_last_error(t->d));
        goto done;
    }
    int64_t steps = ints[I_STEP];
    if ((s = difu_train_reserve_loss(t, steps > p->steps ? steps : p->steps)) != DIFU_OK)
        goto done;
    if (steps > 0) {
        if ((s = get_tensor(e, f, path, "train.loss", DIFU_ST_F32, steps, &d)) != DIFU_OK)
            goto done;
        memcpy(t->loss_hist, d, (size_t)steps * sizeof(float));
    }
    if ((s = difu_checkpoint_load_block(c, t->m, "", t->params)) != DIFU_OK ||
        (s = difu_checkpoint_load_block(c, t->m, "ema.", (float *)t->ema.base)) != DIFU_OK ||
        (s = difu_checkpoint_load_block(c, t->m, "adam.m.", (float *)t->adam_m.base)) != DIFU_OK ||
        (s = difu_checkpoint_load_block(c, t->m, "adam.v.", (float *)t->adam_v.base)) != DIFU_OK)
        goto done;
    t->step = steps;
    t->adam_t = ints[I_ADAM_T];
    t->skipped_total = ints[I_SKIPPED];
done:
    difu_checkpoint_close(c);
    return s;
}

difu_status difu_train_params_from_checkpoint(difu_engine *e, const char *path,
                                              difu_train_params *p)
{
    if (!e || !path || !p)
        return e ? difu_fail(e, DIFU_ERR_INVALID_ARG, "resume: NULL argument") : DIFU_ERR_INVALID_ARG;
    difu_checkpoint *c = NULL;
    difu_status s = difu_checkpoint_open(e, path, &c);
    if (s != DIFU_OK)
        return s;
    const difu_safetensors *f = difu_checkpoint_file(c);
    int64_t ints[I_COUNT];
    double hp[H_COUNT];
    s = read_ints(e, f, path, ints, hp);
    const char *data = difu_st_meta_get(f, "difu.train.data");
    const char *model = difu_st_meta_get(f, "difu.train.model");
    if (s == DIFU_OK && (!data || !model))
        s = difu_fail(e, DIFU_ERR_FORMAT, "resume: '%s' does not name its data and model", path);
    char *data_copy = NULL, *model_copy = NULL;
    if (s == DIFU_OK) {
        data_copy = strdup(data);
        model_copy = strdup(model);
        if (!data_copy || !model_copy)
            s = difu_fail(e, DIFU_ERR_NO_MEMORY, "resume: out of memory");
    }
    if (s == DIFU_OK) {
        p->data = data_copy;
        p->model = model_copy;
        p->seed = i64_bits(ints[I_SEED]);
        p->batch = (int)ints[I_BATCH];
        p->T = (int)ints[I_T];
        p->schedule = (difu_schedule_kind)ints[I_SCHEDULE];
        p->cond = (int)ints[I_COND];
        p->flip = (int)ints[I_FLIP];
        p->limit = ints[I_LIMIT];
        p->warmup = ints[I_WARMUP];
        p->lr = (float)hp[H_LR];
        p->beta1 = (float)hp[H_BETA1];
        p->beta2 = (float)hp[H_BETA2];
        p->adam_eps = (float)hp[H_EPS];
        p->weight_decay = (float)hp[H_WD];
        p->clip = (float)hp[H_CLIP];
        p->ema_decay = (float)hp[H_EMA];
        p->label_dropout = (float)hp[H_DROP];
    } else {
        free(data_copy);
        free(model_copy);
    }
    difu_checkpoint_close(c);
    return s;
}

difu_status difu_load_model(difu_engine *e, const char *path, int use_ema, difu_model **out,
                            difu_ckpt_info *info)
{
    if (!e || !path || !out)
        return e ? difu_fail(e, DIFU_ERR_INVALID_ARG, "load: NULL argument") : DIFU_ERR_INVALID_ARG;
    *out = NULL;
    difu_checkpoint *c = NULL;
    difu_model *m = NULL;
    difu_status s = difu_checkpoint_open(e, path, &c);
    if (s != DIFU_OK)
        return s;
    difu_ckpt_info in = {DIFU_SCHEDULE_LINEAR, 1000, -1, difu_checkpoint_has_prefix(c, "ema."), 0};
    const difu_safetensors *f = difu_checkpoint_file(c);
    const char *sched = difu_st_meta_get(f, "difu.schedule");
    const char *T = difu_st_meta_get(f, "difu.T");
    if (sched) {
        int k = difu_schedule_kind_parse(sched);
        if (k < 0) {
            s = difu_fail(e, DIFU_ERR_FORMAT, "load: '%s' names an unknown schedule '%s'", path,
                          sched);
            goto done;
        }
        in.schedule = (difu_schedule_kind)k;
    }
    if (T) {
        char *end = NULL;
        long v = strtol(T, &end, 10);
        if (end == T || *end || v < 2 || v > 100000) {
            s = difu_fail(e, DIFU_ERR_FORMAT, "load: '%s' has T = '%s'", path, T);
            goto done;
        }
        in.T = (int)v;
    }
    const difu_st_tensor *st = difu_st_find(f, "train.step");
    if (st && st->dtype == DIFU_ST_I64 && difu_st_numel(st) == 1)
        memcpy(&in.step, difu_st_data(f, st), sizeof(int64_t));
    if (use_ema == 1 && !in.has_ema) {
        s = difu_fail(e, DIFU_ERR_INVALID_ARG, "load: '%s' has no EMA weights (use the raw ones)",
                      path);
        goto done;
    }
    in.used_ema = use_ema == 1 || (use_ema < 0 && in.has_ema);
    difu_model_config cfg;
    if ((s = difu_checkpoint_config(c, &cfg)) != DIFU_OK ||
        (s = difu_model_create(e, &cfg, 0, &m)) != DIFU_OK ||
        (s = difu_checkpoint_load_block(c, m, in.used_ema ? "ema." : "", NULL)) != DIFU_OK)
        goto done;
    *out = m;
    m = NULL;
    if (info)
        *info = in;
done:
    difu_model_destroy(m);
    difu_checkpoint_close(c);
    return s;
}
