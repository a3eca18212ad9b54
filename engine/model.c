/* model.c: the public model object: config presets and checks, the parameter and gradient blocks
 * (one aligned block each, named views in checkpoint order), initialisation from a counter-based
 * RNG, and forward / forward+backward through a U-Net graph planned once per batch size. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "unet.h"
#include "wino_cache.h"

typedef struct model_param {
    char name[DIFU_NAME_LEN];
    int ndim;
    int64_t shape[DIFU_MAX_DIMS];
    size_t offset; /* bytes into the blocks */
    difu_init_kind init;
    float bound;
} model_param;

/* A graph planned for one batch size. */
typedef struct runner {
    int n; /* 0: not built */
    difu_graph *g;
    difu_plan *p;
    difu_unet_io io;
} runner;

struct difu_model {
    difu_engine *e;
    difu_model_config cfg;
    model_param *params;
    int n_params;
    int64_t param_count;
    size_t block_bytes;
    difu_arena param_block, grad_block;
    runner fwd, train;
    runner *parts; /* the forward split across the threads (forward_parts), nparts of them */
    int nparts;
    int64_t *null_labels; /* [n] of the null class, for y == NULL */
    int null_n;
    double flops;
    int64_t dropout_key[2]; /* (seed, step) of the dropout masks */
    int detect_anomaly;     /* forward_backward runs checked */
    difu_anomaly anomaly;   /* what the last checked run found */
    difu_wino_cache wino;   /* the forward's 3x3 weights in Winograd form, kept between forwards */
    int no_weight_cache;    /* difu_model_set_weight_cache(m, 0) */
};

/* ---------------------------------------------------------------- configs */

static difu_model_config base_config(void)
{
    difu_model_config c;
    memset(&c, 0, sizeof c);
    c.ch = 32;
    c.n_levels = 3;
    c.ch_mult[0] = 1;
    c.ch_mult[1] = 2;
    c.ch_mult[2] = 2;
    c.num_res_blocks = 2;
    c.n_attn_res = 1;
    c.attn_res[0] = 7;
    c.num_classes = 10;
    c.n_groups = 1;
    c.groups[0][0] = 0;
    c.groups[0][1] = 32;
    c.gn_eps = 1e-6f;
    c.img_size = 28;
    c.in_ch = 1;
    return c;
}

difu_status difu_model_preset(difu_engine *e, const char *name, difu_model_config *out)
{
    difu_model_config c = base_config();
    if (name && strcmp(name, "fmnist-t") == 0) {
        c.n_groups = 2;
        c.groups[0][0] = 0;
        c.groups[0][1] = 8;
        c.groups[1][0] = 64;
        c.groups[1][1] = 32;
    } else if (name && strcmp(name, "fmnist-s") == 0) {
        c.ch = 64;
    } else if (name && strcmp(name, "tiny") == 0) {
        c.ch = 16;
        c.n_levels = 2;
        c.ch_mult[2] = 0;
        c.num_res_blocks = 1;
        c.attn_res[0] = 4;
        c.groups[0][1] = 8;
        c.img_size = 8;
    } else {
        if (e)
            return difu_fail(e, DIFU_ERR_INVALID_ARG,
                             "model: unknown preset '%s' (fmnist-t, fmnist-s, tiny)",
                             name ? name : "(null)");
        return DIFU_ERR_INVALID_ARG;
    }
    *out = c;
    return DIFU_OK;
}

int difu_model_groups(const difu_model_config *c, int channels)
{
    int g = 0;
    for (int i = 0; i < c->n_groups && i < DIFU_MODEL_MAX_LEVELS; i++)
        if (channels >= c->groups[i][0])
            g = c->groups[i][1];
    return g;
}

static difu_status bad(difu_engine *e, const char *fmt, int value)
{
    char msg[128];
    snprintf(msg, sizeof msg, fmt, value);
    return e ? difu_fail(e, DIFU_ERR_INVALID_ARG, "model config: %s", msg) : DIFU_ERR_INVALID_ARG;
}

difu_status difu_model_config_check(difu_engine *e, const difu_model_config *c)
{
    if (c->ch < 1 || c->ch > 4096)
        return bad(e, "ch %d is outside [1, 4096]", c->ch);
    if (c->ch % 2 != 0 || c->ch < 4)
        return bad(e, "ch %d must be even and at least 4 (timestep embedding)", c->ch);
    if (c->n_levels < 1 || c->n_levels > DIFU_MODEL_MAX_LEVELS)
        return bad(e, "n_levels %d is outside [1, 8]", c->n_levels);
    if (c->num_res_blocks < 1 || c->num_res_blocks > 15)
        return bad(e, "num_res_blocks %d is outside [1, 15]", c->num_res_blocks);
    if (c->n_attn_res < 0 || c->n_attn_res > DIFU_MODEL_MAX_LEVELS)
        return bad(e, "n_attn_res %d is outside [0, 8]", c->n_attn_res);
    if (c->n_groups < 1 || c->n_groups > DIFU_MODEL_MAX_LEVELS)
        return bad(e, "n_groups %d is outside [1, 8]", c->n_groups);
    if (c->num_classes < 0 || c->num_classes > 1000000)
        return bad(e, "num_classes %d is negative or too large", c->num_classes);
    if (c->in_ch < 1 || c->in_ch > 64)
        return bad(e, "in_ch %d is outside [1, 64]", c->in_ch);
    if (!(c->gn_eps > 0) || !isfinite(c->gn_eps))
        return bad(e, "gn_eps must be positive and finite (%d)", 0);
    if (!(c->dropout >= 0 && c->dropout < 1))
        return bad(e, "dropout must be in [0, 1) (%d)", 0);
    int res = c->img_size;
    if (res < 1 || res > 4096)
        return bad(e, "img_size %d is outside [1, 4096]", res);
    for (int l = 0; l < c->n_levels; l++) {
        if (c->ch_mult[l] < 1 || c->ch_mult[l] > 64)
            return bad(e, "ch_mult of level %d is outside [1, 64]", l);
        if (l + 1 < c->n_levels) {
            if (res % 2 != 0 && l + 1 < c->n_levels && ((res - 1) / 2 + 1) * 2 != res) {
                /* nearest x2 must give back the size the down path had */
                return bad(e, "img_size: level %d has an odd resolution, the up path cannot match", l);
            }
            res = (res - 1) / 2 + 1;
        }
    }
    /* every width GroupNorm sees must split into its groups */
    int widths[3 * DIFU_MODEL_MAX_LEVELS + 1], nw = 0;
    widths[nw++] = c->ch;
    for (int l = 0; l < c->n_levels; l++) {
        widths[nw++] = c->ch * c->ch_mult[l];
        widths[nw++] = c->ch * c->ch_mult[l] + c->ch * (l ? c->ch_mult[l - 1] : 1);
        widths[nw++] = 2 * c->ch * c->ch_mult[l];
    }
    for (int i = 0; i < nw; i++) {
        int g = difu_model_groups(c, widths[i]);
        if (g <= 0 || widths[i] % g != 0)
            return bad(e, "the groups rule gives no group count dividing %d channels", widths[i]);
    }
    return DIFU_OK;
}

/* ---------------------------------------------------------------- creation */

static void runner_free(runner *r)
{
    difu_plan_free(r->p);
    difu_graph_free(r->g);
    memset(r, 0, sizeof *r);
}

void difu_model_destroy(difu_model *m)
{
    if (!m)
        return;
    runner_free(&m->fwd);
    runner_free(&m->train);
    for (int i = 0; i < m->nparts; i++)
        runner_free(&m->parts[i]);
    free(m->parts);
    difu_wino_cache_free(&m->wino);
    difu_arena_free(&m->param_block);
    difu_arena_free(&m->grad_block);
    free(m->params);
    free(m->null_labels);
    free(m);
}

difu_status difu_model_create(difu_engine *e, const difu_model_config *cfg, uint64_t seed,
                              difu_model **out)
{
    *out = NULL;
    difu_status s = difu_model_config_check(e, cfg);
    if (s != DIFU_OK)
        return s;
    difu_graph *g = difu_graph_new();
    if (!g)
        return difu_fail(e, DIFU_ERR_NO_MEMORY, "model: out of memory");
    difu_unet_io io;
    s = difu_unet_build(g, cfg, 1, 0, &io);
    if (s != DIFU_OK) {
        s = difu_fail(e, s, "model: %s", difu_graph_error(g));
        difu_graph_free(g);
        return s;
    }
    difu_model *m = calloc(1, sizeof *m);
    if (!m) {
        difu_graph_free(g);
        return difu_fail(e, DIFU_ERR_NO_MEMORY, "model: out of memory");
    }
    m->e = e;
    m->cfg = *cfg;
    m->anomaly.node = -1;
    difu_wino_cache_init(&m->wino);
    for (int t = 0; t < g->n_tensors; t++)
        m->n_params += g->tensors[t].kind == DIFU_T_PARAM;
    m->params = calloc((size_t)m->n_params, sizeof *m->params);
    int i = 0;
    for (int t = 0; m->params && t < g->n_tensors; t++) {
        const difu_gtensor *x = &g->tensors[t];
        if (x->kind != DIFU_T_PARAM)
            continue;
        model_param *p = &m->params[i++];
        snprintf(p->name, sizeof p->name, "%s", x->name);
        p->ndim = x->ndim;
        memcpy(p->shape, x->shape, sizeof p->shape);
        p->offset = x->offset;
        p->init = difu_unet_init_rule(g, t, &p->bound);
        m->param_count += difu_gtensor_numel(x);
    }
    for (int k = 0; k < g->n_nodes; k++)
        m->flops += difu_node_flops(g, &g->nodes[k]);
    m->block_bytes = g->param_bytes;
    difu_graph_free(g);
    if (!m->params || difu_arena_alloc(&m->param_block, m->block_bytes) != DIFU_OK ||
        difu_arena_alloc(&m->grad_block, m->block_bytes) != DIFU_OK) {
        difu_model_destroy(m);
        return difu_fail(e, DIFU_ERR_NO_MEMORY, "model: cannot allocate %zu-byte parameter blocks",
                         m->block_bytes);
    }
    memset(m->grad_block.base, 0, m->block_bytes);
    s = difu_model_init(m, seed);
    if (s != DIFU_OK) {
        difu_model_destroy(m);
        return s;
    }
    *out = m;
    return DIFU_OK;
}

const difu_model_config *difu_model_get_config(const difu_model *m) { return &m->cfg; }
int64_t difu_model_param_count(const difu_model *m) { return m->param_count; }
int difu_model_tensor_count(const difu_model *m) { return m->n_params; }
double difu_model_forward_flops(const difu_model *m) { return m->flops; }

const char *difu_model_tensor_info(const difu_model *m, int i, int *ndim,
                                   int64_t shape[DIFU_MAX_DIMS])
{
    if (i < 0 || i >= m->n_params)
        return NULL;
    if (ndim)
        *ndim = m->params[i].ndim;
    if (shape)
        memcpy(shape, m->params[i].shape, sizeof m->params[i].shape);
    return m->params[i].name;
}

static difu_status view(difu_model *m, const char *name, char *block, difu_tensor *out)
{
    for (int i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0) {
            out->data = (float *)(block + m->params[i].offset);
            out->ndim = m->params[i].ndim;
            memcpy(out->shape, m->params[i].shape, sizeof out->shape);
            return DIFU_OK;
        }
    return difu_fail(m->e, DIFU_ERR_INVALID_ARG, "model: no tensor named '%s'", name ? name : "");
}

difu_status difu_model_param(difu_model *m, const char *name, difu_tensor *out)
{
    return view(m, name, m->param_block.base, out);
}

difu_status difu_model_grad(difu_model *m, const char *name, difu_tensor *out)
{
    return view(m, name, m->grad_block.base, out);
}

float *difu_model_params(difu_model *m, size_t *n_floats)
{
    if (n_floats)
        *n_floats = m->block_bytes / sizeof(float);
    return m->param_block.base;
}

float *difu_model_grads(difu_model *m, size_t *n_floats)
{
    if (n_floats)
        *n_floats = m->block_bytes / sizeof(float);
    return m->grad_block.base;
}

/* ---------------------------------------------------------------- initialisation */

/* Parameter i draws from Philox stream i under (seed, step 0): uniform from the raw words
 * ((w >> 8) + 0.5) / 2^24, normal from the engine's randn. */
difu_status difu_model_init(difu_model *m, uint64_t seed)
{
    const difu_kernels *k = &m->e->kernels;
    if (!k->randn || !k->randn_bits)
        return difu_fail(m->e, DIFU_ERR_UNSUPPORTED, "model init: the engine has no randn kernel");
    memset(m->param_block.base, 0, m->block_bytes);
    enum { CHUNK = 4096 };
    uint32_t bits[CHUNK];
    for (int i = 0; i < m->n_params; i++) {
        model_param *p = &m->params[i];
        float *dst = (float *)((char *)m->param_block.base + p->offset);
        int64_t n = 1;
        for (int d = 0; d < p->ndim; d++)
            n *= p->shape[d];
        switch (p->init) {
        case DIFU_INIT_NORMAL:
            k->randn(seed, 0, (uint64_t)i, 0, n, dst);
            break;
        case DIFU_INIT_ONE:
            for (int64_t j = 0; j < n; j++)
                dst[j] = 1.0f;
            break;
        case DIFU_INIT_UNIFORM:
            for (int64_t j0 = 0; j0 < n; j0 += CHUNK) {
                int64_t len = n - j0 < CHUNK ? n - j0 : CHUNK;
                k->randn_bits(seed, 0, (uint64_t)i, j0, len, bits);
                for (int64_t j = 0; j < len; j++) {
                    float u = ((float)(bits[j] >> 8) + 0.5f) * (1.0f / 16777216.0f);
                    dst[j0 + j] = p->bound * (2.0f * u - 1.0f);
                }
            }
            break;
        default: /* zero: the block was cleared */
            break;
        }
    }
    return DIFU_OK;
}

void difu_model_set_detect_anomaly(difu_model *m, int on)
{
    m->detect_anomaly = on != 0;
}

int difu_model_anomaly(const difu_model *m, char *buf, size_t len)
{
    if (m->anomaly.node < 0 || !m->train.g)
        return 0;
    difu_anomaly_describe(m->train.g, &m->anomaly, buf, len);
    return 1;
}

void difu_model_set_dropout_key(difu_model *m, uint64_t seed, uint64_t step)
{
    m->dropout_key[0] = (int64_t)seed;
    m->dropout_key[1] = (int64_t)step;
}

/* ---------------------------------------------------------------- running */

static difu_status runner_get(difu_model *m, runner *r, int n, int train)
{
    if (r->n == n)
        return DIFU_OK;
    runner_free(r);
    r->g = difu_graph_new();
    if (!r->g)
        return difu_fail(m->e, DIFU_ERR_NO_MEMORY, "model: out of memory");
    difu_status s = difu_unet_build(r->g, &m->cfg, n, train, &r->io);
    if (s != DIFU_OK) {
        s = difu_fail(m->e, s, "model: %s", difu_graph_error(r->g));
        runner_free(r);
        return s;
    }
    s = difu_plan_create(m->e, r->g, 1, &r->p);
    if (s != DIFU_OK) {
        runner_free(r);
        return s;
    }
    r->n = n;
    return DIFU_OK;
}

static difu_status check_batch(difu_model *m, int n, const float *x, const int64_t *t,
                               const int64_t *y, const int64_t **labels)
{
    if (n < 1 || n > (1 << 20))
        return difu_fail(m->e, DIFU_ERR_INVALID_ARG, "model: batch size %d is outside [1, 2^20]", n);
    if (!x || !t)
        return difu_fail(m->e, DIFU_ERR_INVALID_ARG, "model: x and t are required");
    for (int i = 0; i < n; i++)
        if (t[i] < 0)
            return difu_fail(m->e, DIFU_ERR_INVALID_ARG, "model: t[%d] = %lld is negative", i,
                             (long long)t[i]);
    *labels = NULL;
    if (m->cfg.num_classes <= 0)
        return DIFU_OK;
    if (y) {
        for (int i = 0; i < n; i++)
            if (y[i] < 0 || y[i] > m->cfg.num_classes)
                return difu_fail(m->e, DIFU_ERR_INVALID_ARG,
                                 "model: y[%d] = %lld is outside [0, %d] (%d = null class)", i,
                                 (long long)y[i], m->cfg.num_classes, m->cfg.num_classes);
        *labels = y;
        return DIFU_OK;
    }
    if (m->null_n < n) {
        int64_t *p = realloc(m->null_labels, (size_t)n * sizeof *p);
        if (!p)
            return difu_fail(m->e, DIFU_ERR_NO_MEMORY, "model: out of memory");
        m->null_labels = p;
        m->null_n = n;
    }
    for (int i = 0; i < n; i++)
        m->null_labels[i] = m->cfg.num_classes;
    *labels = m->null_labels;
    return DIFU_OK;
}

static void bind(difu_model *m, runner *r, const float *x, const int64_t *t,
                 const int64_t *labels, const float *target)
{
    void *inputs[8] = {NULL};
    const difu_gtensor *tt = r->g->tensors;
    inputs[tt[r->io.x].input_slot] = (void *)x;
    inputs[tt[r->io.t].input_slot] = (void *)t;
    if (r->io.y >= 0)
        inputs[tt[r->io.y].input_slot] = (void *)labels;
    if (r->io.target >= 0)
        inputs[tt[r->io.target].input_slot] = (void *)target;
    if (r->io.key >= 0)
        inputs[tt[r->io.key].input_slot] = m->dropout_key;
    difu_plan_bind(r->p, m->param_block.base, m->grad_block.base, inputs);
}

static difu_status run(difu_model *m, runner *r, const float *x, const int64_t *t,
                       const int64_t *labels, const float *target)
{
    bind(m, r, x, t, labels, target);
    if (r == &m->train && m->detect_anomaly)
        return difu_graph_run_checked(m->e, r->p, &m->anomaly);
    return difu_graph_run(m->e, r->p);
}

static difu_status prepare_weight_cache(difu_model *m, difu_plan *const *plans, int count)
{
    if (m->no_weight_cache)
        return DIFU_OK;
    return difu_wino_cache_prepare(m->e, &m->wino, plans, count, m->param_block.base);
}

/* Plan p forgets the kept weights (its convolutions transform their own). */
static void detach_weight_cache(difu_plan *p)
{
    if (p) {
        free(p->wino_u);
        p->wino_u = NULL;
    }
}

void difu_model_release_weight_cache(difu_model *m)
{
    detach_weight_cache(m->fwd.p);
    for (int i = 0; i < m->nparts; i++)
        detach_weight_cache(m->parts[i].p);
    difu_wino_cache_free(&m->wino);
}

void difu_model_set_weight_cache(difu_model *m, int on)
{
    m->no_weight_cache = !on;
    if (!on)
        difu_model_release_weight_cache(m);
}

size_t difu_model_weight_cache_bytes(const difu_model *m) { return m->wino.arena.size; }

/* Batch-level parallelism for the forward: with T threads, native convolutions and at least
 * MIN_PER_PART images per thread, the batch is cut into T contiguous parts, each planned for its
 * size and run by one thread alone (difu_graph_run_parts): no barrier between nodes, no node
 * split too thin. An image's forward does not depend on the rest of its batch, so the outputs are
 * the bits of the whole-batch run. */
enum { MIN_PER_PART = 2, MAX_PARTS = 64 };

static int forward_parts_count(const difu_model *m, int n)
{
    int threads = difu_engine_threads(m->e);
    if (threads < 2 || threads > MAX_PARTS || n < MIN_PER_PART * threads ||
        difu_engine_conv_backend(m->e) != DIFU_CONV_NATIVE)
        return 0;
    return threads;
}

static difu_status forward_parts(difu_model *m, int n, int parts, const float *x, const int64_t *t,
                                 const int64_t *labels, float *eps)
{
    if (m->nparts != parts) {
        for (int i = 0; i < m->nparts; i++)
            runner_free(&m->parts[i]);
        free(m->parts);
        m->nparts = 0;
        m->parts = calloc((size_t)parts, sizeof *m->parts);
        if (!m->parts)
            return difu_fail(m->e, DIFU_ERR_NO_MEMORY, "model: out of memory");
        m->nparts = parts;
    }
    const int64_t per = (int64_t)m->cfg.in_ch * m->cfg.img_size * m->cfg.img_size;
    difu_plan *plans[MAX_PARTS];
    for (int i = 0; i < parts; i++) {
        int n0 = (int)((int64_t)n * i / parts), ni = (int)((int64_t)n * (i + 1) / parts) - n0;
        difu_status s = runner_get(m, &m->parts[i], ni, 0);
        if (s != DIFU_OK)
            return s;
        bind(m, &m->parts[i], x + n0 * per, t + n0, labels ? labels + n0 : NULL, NULL);
        plans[i] = m->parts[i].p;
    }
    difu_status s = prepare_weight_cache(m, plans, parts);
    if (s == DIFU_OK)
        s = difu_graph_run_parts(m->e, plans, parts);
    if (s != DIFU_OK)
        return s;
    for (int i = 0; i < parts; i++) {
        const runner *r = &m->parts[i];
        int n0 = (int)((int64_t)n * i / parts);
        const difu_gtensor *et = &r->g->tensors[r->io.eps];
        memcpy(eps + n0 * per, r->p->ptr[r->io.eps], difu_gtensor_bytes(et));
    }
    return DIFU_OK;
}

difu_status difu_model_forward(difu_model *m, int n, const float *x, const int64_t *t,
                               const int64_t *y, float *eps)
{
    const int64_t *labels;
    difu_status s = check_batch(m, n, x, t, y, &labels);
    if (s == DIFU_OK && !eps)
        s = difu_fail(m->e, DIFU_ERR_INVALID_ARG, "model forward: eps is required");
    int parts = forward_parts_count(m, n);
    if (s == DIFU_OK && parts)
        return forward_parts(m, n, parts, x, t, labels, eps);
    if (s == DIFU_OK)
        s = runner_get(m, &m->fwd, n, 0);
    if (s == DIFU_OK)
        s = prepare_weight_cache(m, &m->fwd.p, 1);
    if (s == DIFU_OK)
        s = run(m, &m->fwd, x, t, labels, NULL);
    if (s != DIFU_OK)
        return s;
    const difu_gtensor *et = &m->fwd.g->tensors[m->fwd.io.eps];
    memcpy(eps, m->fwd.p->ptr[m->fwd.io.eps], difu_gtensor_bytes(et));
    return DIFU_OK;
}

difu_status difu_model_forward_backward(difu_model *m, int n, const float *x, const int64_t *t,
                                        const int64_t *y, const float *noise, float *loss,
                                        float *eps)
{
    const int64_t *labels;
    m->anomaly.node = -1;
    difu_status s = check_batch(m, n, x, t, y, &labels);
    if (s == DIFU_OK && (!noise || !loss))
        s = difu_fail(m->e, DIFU_ERR_INVALID_ARG, "model forward_backward: noise and loss are required");
    if (s == DIFU_OK)
        s = runner_get(m, &m->train, n, 1);
    if (s == DIFU_OK)
        s = run(m, &m->train, x, t, labels, noise);
    if (s != DIFU_OK)
        return s;
    runner *r = &m->train;
    const difu_gtensor *et = &r->g->tensors[r->io.eps];
    if (m->anomaly.node >= 0) { /* the run stopped there: the outputs were not all written */
        *loss = NAN;
        for (int64_t i = 0; eps && i < difu_gtensor_numel(et); i++)
            eps[i] = NAN;
        return DIFU_OK;
    }
    *loss = ((const float *)r->p->ptr[r->io.loss])[0];
    if (eps)
        memcpy(eps, r->p->ptr[r->io.eps], difu_gtensor_bytes(et));
    return DIFU_OK;
}

difu_status difu_model_activation_bytes(difu_model *m, int n, int train, size_t *out)
{
    if (n < 1)
        return difu_fail(m->e, DIFU_ERR_INVALID_ARG, "model: batch size %d is below 1", n);
    runner *r = train ? &m->train : &m->fwd;
    if (r->n == n) {
        *out = r->p->arena_bytes;
        return DIFU_OK;
    }
    difu_graph *g = difu_graph_new();
    if (!g)
        return difu_fail(m->e, DIFU_ERR_NO_MEMORY, "model: out of memory");
    difu_unet_io io;
    difu_plan *p = NULL;
    difu_status s = difu_unet_build(g, &m->cfg, n, train, &io);
    if (s != DIFU_OK)
        s = difu_fail(m->e, s, "model: %s", difu_graph_error(g));
    else
        s = difu_plan_create(m->e, g, 0, &p);
    if (s == DIFU_OK)
        *out = p->arena_bytes;
    difu_plan_free(p);
    difu_graph_free(g);
    return s;
}
