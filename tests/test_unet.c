/* test_unet.c: the U-Net model: tensor names, order and shapes equal the checkpoint key lists,
 * parameter counts of the presets, initialisation rules, the whole model's gradient against
 * finite differences on a tiny config, bit-identical results at 1 and 2 threads, bad input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "difu.h"
#include "test_util.h"

/* tests/data, found from the environment, this file's path or the usual working directories. */
static FILE *open_data(const char *name)
{
    char path[1024];
    const char *env = getenv("DIFU_TEST_DATA");
    if (env) {
        snprintf(path, sizeof path, "%s/%s", env, name);
        FILE *f = fopen(path, "r");
        if (f)
            return f;
    }
    snprintf(path, sizeof path, "%s", __FILE__);
    char *slash = strrchr(path, '/');
    if (slash) {
        snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "data/%s", name);
        FILE *f = fopen(path, "r");
        if (f)
            return f;
    }
    const char *dirs[] = {"tests/data", "../tests/data", "../../tests/data"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dirs[i], name);
        FILE *f = fopen(path, "r");
        if (f)
            return f;
    }
    return NULL;
}

static difu_model *make(difu_engine *e, const char *preset, uint64_t seed)
{
    difu_model_config c;
    cr_assert_eq(difu_model_preset(e, preset, &c), DIFU_OK);
    difu_model *m = NULL;
    cr_assert_eq(difu_model_create(e, &c, seed, &m), DIFU_OK, "%s", difu_engine_last_error(e));
    return m;
}

static void check_keys(const char *preset, long long want_params)
{
    difu_engine *e = tu_engine(DIFU_ISA_REF, 1);
    difu_model *m = make(e, preset, 1);
    char file[64];
    snprintf(file, sizeof file, "%s.keys.txt", preset);
    FILE *f = open_data(file);
    cr_assert(f, "cannot find tests/data/%s", file);
    char line[256];
    int i = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0] == '#' || line[0] == 0)
            continue;
        int ndim;
        int64_t shape[DIFU_MAX_DIMS];
        const char *name = difu_model_tensor_info(m, i, &ndim, shape);
        cr_assert(name, "%s: the model has %d tensors, the key list more", preset, i);
        char mine[256];
        int used = snprintf(mine, sizeof mine, "%s [", name);
        for (int d = 0; d < ndim; d++)
            used += snprintf(mine + used, sizeof mine - (size_t)used, "%s%lld", d ? ", " : "",
                             (long long)shape[d]);
        snprintf(mine + used, sizeof mine - (size_t)used, "]");
        cr_assert_str_eq(mine, line, "%s: tensor %d", preset, i);
        i++;
    }
    fclose(f);
    cr_assert_eq(i, difu_model_tensor_count(m), "%s: key list has %d tensors, model %d", preset, i,
                 difu_model_tensor_count(m));
    cr_assert_eq(difu_model_param_count(m), want_params);
    difu_model_destroy(m);
    difu_engine_destroy(e);
}

Test(unet, fmnist_t_matches_its_key_list) { check_keys("fmnist-t", 1624577); }
Test(unet, fmnist_s_matches_its_key_list) { check_keys("fmnist-s", 6472705); }

Test(unet, forward_flops_match_model_md)
{
    difu_engine *e = tu_engine(DIFU_ISA_REF, 1);
    difu_model *t = make(e, "fmnist-t", 1), *s = make(e, "fmnist-s", 1);
    cr_assert(fabs(difu_model_forward_flops(t) * 1e-9 - 0.554) < 0.0005);
    cr_assert(fabs(difu_model_forward_flops(s) * 1e-9 - 2.208) < 0.0005);
    difu_model_destroy(t);
    difu_model_destroy(s);
    difu_engine_destroy(e);
}

/* ---------------------------------------------------------------- initialisation */

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

Test(unet, init_follows_model_md_and_the_seed)
{
    difu_engine *e = tu_engine(DIFU_ISA_REF, 1);
    difu_model *a = make(e, "fmnist-t", 7), *b = make(e, "fmnist-t", 7), *c = make(e, "fmnist-t", 8);
    size_t n;
    float *pa = difu_model_params(a, &n), *pb = difu_model_params(b, NULL), *pc = difu_model_params(c, NULL);
    cr_assert(memcmp(pa, pb, n * 4) == 0, "same seed, different parameters");
    cr_assert(memcmp(pa, pc, n * 4) != 0, "different seeds, same parameters");
    for (int i = 0; i < difu_model_tensor_count(a); i++) {
        int ndim;
        int64_t shape[4];
        const char *name = difu_model_tensor_info(a, i, &ndim, shape);
        difu_tensor t;
        cr_assert_eq(difu_model_param(a, name, &t), DIFU_OK);
        int64_t numel = difu_tensor_numel(&t);
        int zero = strstr(name, ".conv2.") || strstr(name, ".proj.") || strncmp(name, "conv_out.", 9) == 0;
        int norm = strstr(name, "norm") != NULL;
        double mx = 0, sum = 0, sq = 0;
        for (int64_t j = 0; j < numel; j++) {
            mx = fmax(mx, fabs(t.data[j]));
            sum += t.data[j];
            sq += (double)t.data[j] * t.data[j];
        }
        if (zero) {
            cr_assert(mx == 0, "%s should start at zero", name);
        } else if (norm) {
            float want = ends_with(name, ".weight") ? 1.0f : 0.0f;
            for (int64_t j = 0; j < numel; j++)
                cr_assert(t.data[j] == want, "%s[%lld] = %g", name, (long long)j, t.data[j]);
        } else if (strcmp(name, "class_emb.weight") == 0) {
            double var = sq / numel - (sum / numel) * (sum / numel);
            cr_assert(var > 0.8 && var < 1.2, "class_emb variance %g", var);
        } else {
            /* kaiming-uniform a = sqrt(5): bound 1/sqrt(fan_in) of the module's weight */
            char wname[128];
            snprintf(wname, sizeof wname, "%.*s.weight", (int)(strrchr(name, '.') - name), name);
            difu_tensor w;
            cr_assert_eq(difu_model_param(a, wname, &w), DIFU_OK);
            double bound = 1.0 / sqrt((double)(difu_tensor_numel(&w) / w.shape[0]));
            cr_assert(mx <= bound && mx > 0.5 * bound, "%s: max %g, bound %g", name, mx, bound);
        }
    }
    difu_model_destroy(a);
    difu_model_destroy(b);
    difu_model_destroy(c);
    difu_engine_destroy(e);
}

/* ---------------------------------------------------------------- random weights and a batch */

/* Every tensor random (none zero, so every path matters), scaled as the PyTorch golden data. */
static void randomize(difu_model *m, uint64_t seed)
{
    for (int i = 0; i < difu_model_tensor_count(m); i++) {
        const char *name = difu_model_tensor_info(m, i, NULL, NULL);
        difu_tensor t;
        cr_assert_eq(difu_model_param(m, name, &t), DIFU_OK);
        size_t n = (size_t)difu_tensor_numel(&t);
        if (strstr(name, "norm") && ends_with(name, ".weight"))
            tu_fill_uniform(t.data, n, seed + i, 0.75f, 1.25f);
        else if (strstr(name, "norm"))
            tu_fill_uniform(t.data, n, seed + i, -0.25f, 0.25f);
        else if (strcmp(name, "class_emb.weight") == 0)
            tu_fill_uniform(t.data, n, seed + i, -0.8f, 0.8f);
        else if (t.ndim == 1)
            tu_fill_uniform(t.data, n, seed + i, -0.1f, 0.1f);
        else {
            float b = (float)(1.0 / sqrt((double)(difu_tensor_numel(&t) / t.shape[0])));
            tu_fill_uniform(t.data, n, seed + i, -b, b);
        }
    }
}

typedef struct batch {
    int n;
    size_t per;
    float *x, *noise, *eps;
    int64_t t[8], y[8];
} batch;

static batch make_batch(const difu_model_config *c, int n)
{
    batch b;
    memset(&b, 0, sizeof b);
    b.n = n;
    b.per = (size_t)c->in_ch * c->img_size * c->img_size;
    b.x = tu_alloc(n * b.per);
    b.noise = tu_alloc(n * b.per);
    b.eps = tu_alloc(n * b.per);
    tu_fill_uniform(b.x, n * b.per, 11, -1.0f, 1.0f);
    tu_fill_uniform(b.noise, n * b.per, 12, -1.7f, 1.7f);
    for (int i = 0; i < n; i++) {
        b.t[i] = (i * 389 + 17) % 1000;
        b.y[i] = i % (c->num_classes + 1); /* includes the null class */
    }
    return b;
}

static void free_batch(batch *b)
{
    tu_free(b->x);
    tu_free(b->noise);
    tu_free(b->eps);
}

static double loss_double(difu_model *m, batch *b)
{
    cr_assert_eq(difu_model_forward(m, b->n, b->x, b->t, b->y, b->eps), DIFU_OK);
    double s = 0;
    for (size_t i = 0; i < b->n * b->per; i++) {
        double d = (double)b->eps[i] - b->noise[i];
        s += d * d;
    }
    return s / (double)(b->n * b->per);
}

Test(unet, tiny_model_gradient_matches_finite_differences)
{
    difu_engine *e = tu_engine(DIFU_ISA_REF, 1);
    difu_model *m = make(e, "tiny", 3);
    randomize(m, 100);
    batch b = make_batch(difu_model_get_config(m), 3);
    float loss;
    cr_assert_eq(difu_model_forward_backward(m, b.n, b.x, b.t, b.y, b.noise, &loss, NULL), DIFU_OK,
                 "%s", difu_engine_last_error(e));
    cr_assert(fabs(loss - loss_double(m, &b)) < 1e-5 * fabs(loss) + 1e-7);
    /* a few elements of every kind of tensor: convs (3x3, stride 2, 1x1), their biases, linears,
     * GroupNorm gamma and beta, the class embedding, attention's qkv and proj */
    const char *names[] = {"temb_dense0.weight", "temb_dense1.bias", "class_emb.weight",
                           "conv_in.weight", "down.0.0.norm1.weight", "down.0.0.conv1.weight",
                           "down.0.0.temb_proj.weight", "down.0.0.norm2.bias",
                           "down.1.0.conv.weight", "down.2.0.nin.weight", "down.2.0.conv2.bias",
                           "down.2.1.qkv.weight", "down.2.1.proj.weight", "mid_attn.norm.bias",
                           "mid2.conv1.bias", "up.0.0.nin.bias", "up.2.0.conv.weight",
                           "up.3.0.conv1.weight", "norm_out.weight", "conv_out.weight",
                           "conv_out.bias"};
    int checked = 0;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        difu_tensor p, g;
        cr_assert_eq(difu_model_param(m, names[k], &p), DIFU_OK, "%s", difu_engine_last_error(e));
        cr_assert_eq(difu_model_grad(m, names[k], &g), DIFU_OK);
        int64_t n = difu_tensor_numel(&p);
        double gmax = 0;
        for (int64_t i = 0; i < n; i++)
            gmax = fmax(gmax, fabs(g.data[i]));
        cr_assert_gt(gmax, 0, "%s has an all-zero gradient", names[k]);
        for (int j = 0; j < 3; j++) {
            int64_t i = (j * 7919 + 13 * (int64_t)k) % n;
            float keep = p.data[i];
            const float h = 2e-3f;
            p.data[i] = keep + h;
            double lp = loss_double(m, &b);
            p.data[i] = keep - h;
            double lm = loss_double(m, &b);
            p.data[i] = keep;
            double fd = (lp - lm) / ((double)(keep + h) - (double)(keep - h));
            double tol = 5e-3 * gmax + 2e-2 * fabs(fd) + 1e-6;
            cr_assert(fabs(fd - g.data[i]) <= tol,
                      "%s[%lld]: autodiff %.7g, finite difference %.7g (largest |grad| %.3g)",
                      names[k], (long long)i, (double)g.data[i], fd, gmax);
            checked++;
        }
    }
    cr_assert_eq(checked, 3 * (int)(sizeof names / sizeof names[0]));
    free_batch(&b);
    difu_model_destroy(m);
    difu_engine_destroy(e);
}

/* ---------------------------------------------------------------- determinism */

static void same_bits_at_1_and_2_threads(const char *preset, difu_isa isa, int n)
{
    difu_engine *e1 = tu_engine(isa, 1), *e2 = tu_engine(isa, 2);
    difu_model *m1 = make(e1, preset, 5), *m2 = make(e2, preset, 5);
    randomize(m1, 300);
    randomize(m2, 300);
    batch b1 = make_batch(difu_model_get_config(m1), n), b2 = make_batch(difu_model_get_config(m2), n);
    float l1, l2;
    cr_assert_eq(difu_model_forward_backward(m1, n, b1.x, b1.t, b1.y, b1.noise, &l1, b1.eps), DIFU_OK);
    cr_assert_eq(difu_model_forward_backward(m2, n, b2.x, b2.t, b2.y, b2.noise, &l2, b2.eps), DIFU_OK);
    cr_assert(memcmp(b1.eps, b2.eps, n * b1.per * 4) == 0, "%s %s: eps differ between 1 and 2 threads",
              preset, difu_isa_name(isa));
    cr_assert(l1 == l2);
    size_t nf;
    float *g1 = difu_model_grads(m1, &nf), *g2 = difu_model_grads(m2, NULL);
    for (int i = 0; i < difu_model_tensor_count(m1); i++) {
        const char *name = difu_model_tensor_info(m1, i, NULL, NULL);
        difu_tensor a, c;
        difu_model_grad(m1, name, &a);
        difu_model_grad(m2, name, &c);
        cr_assert(memcmp(a.data, c.data, (size_t)difu_tensor_numel(&a) * 4) == 0,
                  "%s %s: gradient of %s differs between 1 and 2 threads", preset,
                  difu_isa_name(isa), name);
    }
    (void)g1; (void)g2;
    /* the forward-only graph agrees with the training graph's prediction */
    cr_assert_eq(difu_model_forward(m2, n, b2.x, b2.t, b2.y, b2.noise), DIFU_OK);
    cr_assert(memcmp(b2.noise, b1.eps, n * b1.per * 4) == 0);
    free_batch(&b1);
    free_batch(&b2);
    difu_model_destroy(m1);
    difu_model_destroy(m2);
    difu_engine_destroy(e1);
    difu_engine_destroy(e2);
}

Test(unet, one_and_two_threads_give_identical_bits)
{
    difu_isa isas[DIFU_ISA_COUNT];
    int k = tu_runnable_isas(isas);
    for (int i = 0; i < k; i++)
        same_bits_at_1_and_2_threads("tiny", isas[i], 4);
    same_bits_at_1_and_2_threads("fmnist-t", isas[k - 1], 2);
}

Test(unet, dropout_is_keyed_and_thread_count_independent)
{
    difu_engine *e1 = tu_engine(DIFU_ISA_COUNT, 1), *e2 = tu_engine(DIFU_ISA_COUNT, 2);
    difu_model_config c;
    cr_assert_eq(difu_model_preset(e1, "tiny", &c), DIFU_OK);
    c.dropout = 0.3f;
    difu_model *m1 = NULL, *m2 = NULL, *m0 = NULL;
    cr_assert_eq(difu_model_create(e1, &c, 5, &m1), DIFU_OK, "%s", difu_engine_last_error(e1));
    cr_assert_eq(difu_model_create(e2, &c, 5, &m2), DIFU_OK);
    c.dropout = 0;
    cr_assert_eq(difu_model_create(e1, &c, 5, &m0), DIFU_OK);
    randomize(m0, 40);
    randomize(m1, 40);
    randomize(m2, 40);
    batch b = make_batch(&c, 3);
    float l0, l1, l2, l3;
    difu_model_set_dropout_key(m1, 99, 1);
    difu_model_set_dropout_key(m2, 99, 1);
    cr_assert_eq(difu_model_forward_backward(m0, 3, b.x, b.t, b.y, b.noise, &l0, NULL), DIFU_OK);
    cr_assert_eq(difu_model_forward_backward(m1, 3, b.x, b.t, b.y, b.noise, &l1, NULL), DIFU_OK);
    cr_assert_eq(difu_model_forward_backward(m2, 3, b.x, b.t, b.y, b.noise, &l2, NULL), DIFU_OK);
    cr_assert(l1 == l2, "dropout loss differs between 1 and 2 threads: %.9g vs %.9g", l1, l2);
    size_t nf;
    float *g1 = difu_model_grads(m1, &nf), *g2 = difu_model_grads(m2, NULL);
    cr_assert(memcmp(g1, g2, nf * 4) == 0);
    cr_assert(l1 != l0, "dropout changed nothing");
    difu_model_set_dropout_key(m1, 99, 2);
    cr_assert_eq(difu_model_forward_backward(m1, 3, b.x, b.t, b.y, b.noise, &l3, NULL), DIFU_OK);
    cr_assert(l3 != l1, "a new step drew the same masks");
    /* inference has no dropout */
    float *e0 = tu_alloc(3 * b.per);
    cr_assert_eq(difu_model_forward(m0, 3, b.x, b.t, b.y, e0), DIFU_OK);
    cr_assert_eq(difu_model_forward(m1, 3, b.x, b.t, b.y, b.eps), DIFU_OK);
    cr_assert(memcmp(e0, b.eps, 3 * b.per * 4) == 0);
    tu_free(e0);
    free_batch(&b);
    difu_model_destroy(m0);
    difu_model_destroy(m1);
    difu_model_destroy(m2);
    difu_engine_destroy(e1);
    difu_engine_destroy(e2);
}

/* ---------------------------------------------------------------- bad input */

Test(unet, bad_configs_and_batches_are_refused_with_messages)
{
    difu_engine *e = tu_engine(DIFU_ISA_REF, 1);
    difu_model_config c;
    cr_assert_eq(difu_model_preset(e, "fmnist-x", &c), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "unknown preset 'fmnist-x'"));
    cr_assert_eq(difu_model_preset(e, "fmnist-t", &c), DIFU_OK);
    c.groups[1][1] = 48; /* 64 channels do not split into 48 groups */
    difu_model *m = NULL;
    cr_assert_eq(difu_model_create(e, &c, 1, &m), DIFU_ERR_INVALID_ARG);
    cr_assert(m == NULL);
    cr_assert(strstr(difu_engine_last_error(e), "dividing 64 channels"), "%s", difu_engine_last_error(e));

    m = make(e, "tiny", 1);
    batch b = make_batch(difu_model_get_config(m), 2);
    b.y[1] = 11;
    cr_assert_eq(difu_model_forward(m, 2, b.x, b.t, b.y, b.eps), DIFU_ERR_INVALID_ARG);
    cr_assert_str_eq(difu_engine_last_error(e), "model: y[1] = 11 is outside [0, 10] (10 = null class)");
    b.y[1] = 10;
    b.t[0] = -1;
    cr_assert_eq(difu_model_forward(m, 2, b.x, b.t, b.y, b.eps), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "t[0] = -1 is negative"));
    b.t[0] = 3;
    cr_assert_eq(difu_model_forward(m, 0, b.x, b.t, b.y, b.eps), DIFU_ERR_INVALID_ARG);
    difu_tensor t;
    cr_assert_eq(difu_model_param(m, "no.such.weight", &t), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "no tensor named 'no.such.weight'"));
    /* y = NULL means the null class */
    float *eps_null = tu_alloc(2 * b.per);
    randomize(m, 9);
    b.y[0] = b.y[1] = 10;
    cr_assert_eq(difu_model_forward(m, 2, b.x, b.t, NULL, eps_null), DIFU_OK);
    cr_assert_eq(difu_model_forward(m, 2, b.x, b.t, b.y, b.eps), DIFU_OK);
    cr_assert(memcmp(eps_null, b.eps, 2 * b.per * 4) == 0);
    tu_free(eps_null);
    free_batch(&b);
    difu_model_destroy(m);
    difu_engine_destroy(e);
}

Test(unet, planned_memory_is_reported_and_reused)
{
    difu_engine *e = tu_engine(DIFU_ISA_REF, 1);
    difu_model *m = make(e, "fmnist-t", 1);
    size_t fwd, train, fwd2;
    cr_assert_eq(difu_model_activation_bytes(m, 8, 0, &fwd), DIFU_OK);
    cr_assert_eq(difu_model_activation_bytes(m, 8, 1, &train), DIFU_OK);
    cr_assert_eq(difu_model_activation_bytes(m, 16, 0, &fwd2), DIFU_OK);
    cr_assert_gt(fwd, 0);
    cr_assert_gt(train, fwd);
    cr_assert(fwd2 > fwd && fwd2 <= 2 * fwd + 4096, "batch 16 %zu vs batch 8 %zu", fwd2, fwd);
    /* the largest activation is [8, 32, 28, 28] floats; a forward keeps the 9 skips (3 of that
     * size) and a few working tensors alive, far less than its ~150 activations */
    cr_assert_lt(fwd, (size_t)8 * 32 * 28 * 28 * 4 * 12);
    difu_model_destroy(m);
    difu_engine_destroy(e);
}
