/* sampler.c: DDPM and DDIM sampling with classifier-free guidance (shared/MODEL.md).
 * Images are drawn in batches; image i (global index) starts from randn(seed, key 0, stream i) and
 * the reverse step k draws its noise from (seed, key k + 1, stream i), so the result does not
 * depend on the batch size or the thread count. With guidance the conditional and the null
 * predictions come from one forward of 2 x batch images. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "schedule.h"

difu_sample_params difu_sample_params_default(void)
{
    difu_sample_params p;
    memset(&p, 0, sizeof p);
    p.sampler = DIFU_SAMPLER_DDPM;
    p.schedule = DIFU_SCHEDULE_LINEAR;
    p.T = 1000;
    p.steps = 0;
    p.eta = 0.0f;
    p.variance = DIFU_DDPM_VAR_POSTERIOR;
    p.spacing = DIFU_SPACING_TRAILING;
    p.clip_x0 = -1;
    p.guidance = 2.0f;
    p.seed = 0;
    p.batch = 64;
    return p;
}

static difu_status check(difu_engine *e, const difu_model_config *cfg, const difu_sample_params *p,
                         int n, const int64_t *labels, int steps)
{
#define BAD(...) difu_fail(e, DIFU_ERR_INVALID_ARG, "sample: " __VA_ARGS__)
    if (p->sampler < 0 || p->sampler >= DIFU_SAMPLER_COUNT)
        return BAD("unknown sampler %d", (int)p->sampler);
    if (p->T < 2 || p->T > 100000)
        return BAD("T must be in [2, 100000], got %d", p->T);
    if (steps < 1 || steps > p->T)
        return BAD("steps must be in [1, T = %d], got %d", p->T, steps);
    if (!(p->eta >= 0 && p->eta <= 1e3f))
        return BAD("eta must be in [0, 1000], got %g", (double)p->eta);
    if (p->variance < 0 || p->variance >= DIFU_DDPM_VAR_COUNT)
        return BAD("unknown DDPM variance %d", (int)p->variance);
    if (p->spacing < 0 || p->spacing >= DIFU_SPACING_COUNT)
        return BAD("unknown spacing %d", (int)p->spacing);
    if (p->clip_x0 < -1 || p->clip_x0 > 1)
        return BAD("clip_x0 must be -1, 0 or 1, got %d", p->clip_x0);
    if (!isfinite(p->guidance))
        return BAD("guidance must be finite");
    if (p->batch < 1 || p->batch > 65536)
        return BAD("batch must be in [1, 65536], got %d", p->batch);
    if (n < 1)
        return BAD("need at least one image, got %d", n);
    if (labels && cfg->num_classes == 0)
        return BAD("the model is unconditional: it takes no class labels");
    for (int i = 0; labels && i < n; i++)
        if (labels[i] < 0 || labels[i] > cfg->num_classes)
            return BAD("image %d has class %lld, outside [0, %d] (%d = the null class)", i,
                       (long long)labels[i], cfg->num_classes, cfg->num_classes);
#undef BAD
    return DIFU_OK;
}

typedef struct batch_bufs {
    float *x, *xin, *eps2, *eps;
    int64_t *t, *y;
} batch_bufs;

/* eps for nb images at timestep t: one forward of nb (w == 1 or no labels), or of 2 nb images
 * (conditional first, null second) combined as eps_null + w (eps_cond - eps_null). */
static difu_status predict(difu_model *m, const difu_model_config *cfg, const difu_sample_params *p,
                           int nb, int64_t per, const int64_t *labels, int t, batch_bufs *b)
{
    int guided = labels && p->guidance != 1.0f;
    int rows = guided ? 2 * nb : nb;
    for (int i = 0; i < rows; i++)
        b->t[i] = t;
    if (!labels)
        return difu_model_forward(m, nb, b->x, b->t, NULL, b->eps);
    if (p->guidance == 0.0f) {
        for (int i = 0; i < nb; i++)
            b->y[i] = cfg->num_classes;
        return difu_model_forward(m, nb, b->x, b->t, b->y, b->eps);
    }
    if (!guided)
        return difu_model_forward(m, nb, b->x, b->t, labels, b->eps);
    size_t sz = (size_t)nb * (size_t)per;
    memcpy(b->xin, b->x, sz * sizeof(float));
    memcpy(b->xin + sz, b->x, sz * sizeof(float));
    for (int i = 0; i < nb; i++) {
        b->y[i] = labels[i];
        b->y[nb + i] = cfg->num_classes;
    }
    difu_status s = difu_model_forward(m, 2 * nb, b->xin, b->t, b->y, b->eps2);
    if (s != DIFU_OK)
        return s;
    const float w = p->guidance;
    const float *ec = b->eps2, *en = b->eps2 + sz;
    for (size_t j = 0; j < sz; j++)
        b->eps[j] = en[j] + w * (ec[j] - en[j]);
    return DIFU_OK;
}

difu_status difu_sample(difu_engine *e, difu_model *m, const difu_sample_params *p, int n,
                        const int64_t *labels, float *images)
{
    if (!e || !m || !p || !images)
        return e ? difu_fail(e, DIFU_ERR_INVALID_ARG, "sample: NULL argument") : DIFU_ERR_INVALID_ARG;
    const difu_model_config *cfg = difu_model_get_config(m);
    int steps = p->steps > 0 ? p->steps : (p->sampler == DIFU_SAMPLER_DDPM ? p->T : 50);
    difu_status s = check(e, cfg, p, n, labels, steps);
    if (s != DIFU_OK)
        return s;
    if (cfg->num_classes == 0)
        labels = NULL;
    const int64_t per = (int64_t)cfg->in_ch * cfg->img_size * cfg->img_size;
    const int B = p->batch < n ? p->batch : n;
    const int clip = p->clip_x0 >= 0 ? p->clip_x0 : p->sampler == DIFU_SAMPLER_DDPM;
    difu_schedule sched;
    char err[DIFU_ERROR_LEN];
    if ((s = difu_schedule_init(&sched, p->schedule, p->T, err, sizeof err)) != DIFU_OK)
        return difu_fail(e, s, "sample: %s", err);
    int *ts = malloc(sizeof(int) * (size_t)steps);
    batch_bufs b = {
        .x = malloc((size_t)B * (size_t)per * sizeof(float)),
        .xin = malloc(2 * (size_t)B * (size_t)per * sizeof(float)),
        .eps2 = malloc(2 * (size_t)B * (size_t)per * sizeof(float)),
        .eps = malloc((size_t)B * (size_t)per * sizeof(float)),
        .t = malloc(2 * (size_t)B * sizeof(int64_t)),
        .y = malloc(2 * (size_t)B * sizeof(int64_t)),
    };
    if (!ts || !b.x || !b.xin || !b.eps2 || !b.eps || !b.t || !b.y) {
        s = difu_fail(e, DIFU_ERR_NO_MEMORY, "sample: out of memory for a batch of %d", B);
        goto done;
    }
    difu_sampling_timesteps(p->T, steps, p->spacing, ts);
    const int64_t total = (int64_t)steps * ((n + B - 1) / B);
    int64_t done_steps = 0;
    for (int b0 = 0; b0 < n; b0 += B) {
        int nb = n - b0 < B ? n - b0 : B;
        const int64_t *lab = labels ? labels + b0 : NULL;
        for (int i = 0; i < nb && s == DIFU_OK; i++)
            s = difu_randn(e, p->seed, 0, (uint64_t)(b0 + i), b.x + (size_t)i * (size_t)per, per);
        for (int k = 0; k < steps && s == DIFU_OK; k++) {
            int t = ts[k], t_prev = k + 1 < steps ? ts[k + 1] : -1;
            s = predict(m, cfg, p, nb, per, lab, t, &b);
            if (s != DIFU_OK)
                break;
            difu_sampler_coefs c = p->sampler == DIFU_SAMPLER_DDPM
                                       ? difu_ddpm_coefs_between(&sched, t, t_prev, p->variance, clip)
                                       : difu_ddim_coefs(&sched, t, t_prev, p->eta, clip);
            s = difu_sampler_step(e, nb, per, &c, b.eps, p->seed, (uint64_t)k + 1, (uint64_t)b0,
                                  b.x);
            done_steps++;
            if (p->progress)
                p->progress(done_steps, total, p->progress_ctx);
        }
        if (s != DIFU_OK)
            goto done;
        memcpy(images + (size_t)b0 * (size_t)per, b.x, (size_t)nb * (size_t)per * sizeof(float));
    }
done:
    free(ts);
    free(b.x);
    free(b.xin);
    free(b.eps2);
    free(b.eps);
    free(b.t);
    free(b.y);
    difu_schedule_free(&sched);
    return s;
}
