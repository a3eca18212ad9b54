/* test_sample.c: difu_sample on the tiny U-Net with perturbed weights: finite images in [-1, 1]
 * with x0 clipping; the same bytes at 1 and 2 threads and for any batch size (DDPM and DDIM with
 * noise); DDIM eta = 0 with guidance against a reference loop written here (model forwards and the
 * DDIM formula in double); guidance 0 / 1 equal the null / conditional model alone; bad
 * arguments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "difu.h"
#include "test_util.h"

#define S 8
#define PER (S * S)

/* The tiny preset with every parameter moved by U(-0.05, 0.05): a network whose output is not
 * zero (conv_out starts at zero). */
static difu_model *make_model(difu_engine *e, int classes)
{
    difu_model_config c;
    cr_assert_eq(difu_model_preset(e, "tiny", &c), DIFU_OK);
    c.num_classes = classes;
    difu_model *m = NULL;
    cr_assert_eq(difu_model_create(e, &c, 3, &m), DIFU_OK, "%s", difu_engine_last_error(e));
    for (int i = 0; i < difu_model_tensor_count(m); i++) {
        int nd;
        int64_t shape[DIFU_MAX_DIMS];
        const char *name = difu_model_tensor_info(m, i, &nd, shape);
        difu_tensor t;
        cr_assert_eq(difu_model_param(m, name, &t), DIFU_OK);
        int64_t n = difu_tensor_numel(&t);
        float *r = malloc(sizeof(float) * (size_t)n);
        tu_fill_uniform(r, (size_t)n, 100 + (uint64_t)i, -0.05f, 0.05f);
        for (int64_t j = 0; j < n; j++)
            t.data[j] += r[j];
        free(r);
    }
    return m;
}

static float *sample(int threads, int classes, const difu_sample_params *p, int n,
                     const int64_t *labels)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, threads);
    difu_model *m = make_model(e, classes);
    float *img = tu_alloc((size_t)n * PER);
    cr_assert_eq(difu_sample(e, m, p, n, labels, img), DIFU_OK, "%s", difu_engine_last_error(e));
    difu_model_destroy(m);
    difu_engine_destroy(e);
    return img;
}

static void assert_in_range(const char *what, const float *x, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert(isfinite(x[i]) && x[i] >= -1.0f && x[i] <= 1.0f, "%s: image value %zu is %g",
                  what, i, (double)x[i]);
        sum += fabs(x[i]);
    }
    cr_assert(sum > 0.01 * (double)n, "%s: the images are all near zero", what);
}

Test(sample, ddpm_full_chain_finite_in_range_and_thread_batch_invariant)
{
    difu_sample_params p = difu_sample_params_default();
    p.T = 30; /* a short full chain keeps the test fast (also under qemu) */
    p.variance = DIFU_DDPM_VAR_POSTERIOR;
    p.seed = 9;
    p.guidance = 1.5f;
    const int n = 5;
    int64_t labels[5] = {0, 1, 2, 10, 4};
    p.batch = 5;
    float *a = sample(1, 10, &p, n, labels);
    assert_in_range("ddpm", a, (size_t)n * PER);
    p.batch = 2;
    float *b = sample(2, 10, &p, n, labels);
    cr_assert(memcmp(a, b, sizeof(float) * n * PER) == 0,
              "ddpm: 1 thread batch 5 and 2 threads batch 2 differ");
    p.seed = 10;
    float *c = sample(2, 10, &p, n, labels);
    cr_assert(memcmp(a, c, sizeof(float) * n * PER) != 0, "another seed gives the same images");
    tu_free(a);
    tu_free(b);
    tu_free(c);
}

Test(sample, ddim_with_noise_thread_batch_invariant_and_clipped)
{
    difu_sample_params p = difu_sample_params_default();
    p.sampler = DIFU_SAMPLER_DDIM;
    p.steps = 8;
    p.eta = 0.7f;
    p.clip_x0 = 1;
    p.spacing = DIFU_SPACING_UNIFORM;
    p.batch = 7;
    float *a = sample(1, 0, &p, 7, NULL);
    assert_in_range("ddim", a, 7 * PER);
    p.batch = 3;
    float *b = sample(2, 0, &p, 7, NULL);
    cr_assert(memcmp(a, b, sizeof(float) * 7 * PER) == 0, "ddim eta 0.7: batch 7 vs 3 differ");
    tu_free(a);
    tu_free(b);
}

static double alpha_bar(int t)
{
    double ab = 1;
    for (int k = 0; k <= t; k++)
        ab *= 1 - (1e-4 + (0.02 - 1e-4) * k / 999.0);
    return ab;
}

Test(sample, ddim_eta0_matches_reference_loop_with_guidance)
{
    const int n = 3, steps = 10;
    const float w = 2.5f;
    difu_sample_params p = difu_sample_params_default();
    p.sampler = DIFU_SAMPLER_DDIM;
    p.steps = steps;
    p.eta = 0;
    p.clip_x0 = 0;
    p.guidance = w;
    p.seed = 77;
    int64_t labels[3] = {3, 7, 10};
    float *got = sample(2, 10, &p, n, labels);
    float *again = sample(2, 10, &p, n, labels);
    cr_assert(memcmp(got, again, sizeof(float) * n * PER) == 0, "DDIM eta 0 is not repeatable");

    /* The reference: trailing timesteps 999, 899, ..., 99; x_T = randn(seed, 0, stream i). */
    difu_engine *e = tu_engine(DIFU_ISA_REF, 1);
    difu_model *m = make_model(e, 10);
    float x[3 * PER], ec[3 * PER], en[3 * PER];
    double xd[3 * PER];
    for (int i = 0; i < n; i++)
        cr_assert_eq(difu_randn(e, 77, 0, (uint64_t)i, x + i * PER, PER), DIFU_OK);
    for (int j = 0; j < n * PER; j++)
        xd[j] = x[j];
    int64_t nulls[3] = {10, 10, 10};
    for (int k = 0; k < steps; k++) {
        int t = 999 - 100 * k, tp = k + 1 < steps ? t - 100 : -1;
        int64_t tt[3] = {t, t, t};
        for (int j = 0; j < n * PER; j++)
            x[j] = (float)xd[j];
        cr_assert_eq(difu_model_forward(m, n, x, tt, labels, ec), DIFU_OK);
        cr_assert_eq(difu_model_forward(m, n, x, tt, nulls, en), DIFU_OK);
        double ab = alpha_bar(t), abp = tp >= 0 ? alpha_bar(tp) : 1.0;
        for (int j = 0; j < n * PER; j++) {
            double eps = en[j] + (double)w * (ec[j] - en[j]);
            double x0 = (xd[j] - sqrt(1 - ab) * eps) / sqrt(ab);
            xd[j] = sqrt(abp) * x0 + sqrt(1 - abp) * eps;
        }
    }
    float want[3 * PER];
    for (int j = 0; j < n * PER; j++)
        want[j] = (float)xd[j];
    tu_assert_close("ddim eta 0 vs reference loop", got, want, (size_t)n * PER, 2e-3, 2e-3);
    difu_model_destroy(m);
    difu_engine_destroy(e);
    tu_free(got);
    tu_free(again);
}

Test(sample, guidance_zero_and_one)
{
    difu_sample_params p = difu_sample_params_default();
    p.sampler = DIFU_SAMPLER_DDIM;
    p.steps = 5;
    int64_t labels[4] = {1, 2, 3, 4}, nulls[4] = {10, 10, 10, 10};
    p.guidance = 0;
    float *a = sample(1, 10, &p, 4, labels);
    p.guidance = 1;
    float *b = sample(1, 10, &p, 4, nulls);
    float *c = sample(1, 10, &p, 4, NULL);
    cr_assert(memcmp(a, b, sizeof(float) * 4 * PER) == 0, "guidance 0 is not the null model");
    cr_assert(memcmp(a, c, sizeof(float) * 4 * PER) == 0, "NULL labels are not the null class");
    float *d = sample(1, 10, &p, 4, labels);
    cr_assert(memcmp(a, d, sizeof(float) * 4 * PER) != 0, "the class makes no difference");
    tu_free(a);
    tu_free(b);
    tu_free(c);
    tu_free(d);
}

Test(sample, bad_arguments)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    difu_model *cond = make_model(e, 10), *uncond = make_model(e, 0);
    float img[2 * PER];
    int64_t bad[2] = {0, 11}, ok[2] = {0, 1};
    difu_sample_params p = difu_sample_params_default();
    p.sampler = DIFU_SAMPLER_DDIM;
    cr_assert_eq(difu_sample(e, cond, &p, 2, bad, img), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "class 11"), "%s", difu_engine_last_error(e));
    cr_assert_eq(difu_sample(e, uncond, &p, 2, ok, img), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "unconditional"), "%s", difu_engine_last_error(e));
    p.steps = 1001;
    cr_assert_eq(difu_sample(e, cond, &p, 2, ok, img), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "1001"), "%s", difu_engine_last_error(e));
    p.steps = 5;
    p.batch = 0;
    cr_assert_eq(difu_sample(e, cond, &p, 2, ok, img), DIFU_ERR_INVALID_ARG);
    p.batch = 4;
    cr_assert_eq(difu_sample(e, cond, &p, 0, ok, img), DIFU_ERR_INVALID_ARG);
    p.eta = -1;
    cr_assert_eq(difu_sample(e, cond, &p, 2, ok, img), DIFU_ERR_INVALID_ARG);
    difu_model_destroy(cond);
    difu_model_destroy(uncond);
    difu_engine_destroy(e);
}

/* The forward keeps its 3x3 weights in Winograd form between calls (engine/wino_cache.c). After a
 * weight changes (written in place, as any writer of the parameter block does), the next forward
 * must use the new weights: the same bits as a model that never ran with the old ones. 1 thread
 * (whole batch) and 2 threads (the batch in parts). */
Test(sample, forward_after_a_weight_change_uses_the_new_weights)
{
    enum { N = 4 };
    float x[N * PER];
    int64_t t[N] = {10, 500, 999, 0};
    tu_fill_uniform(x, N * PER, 77, -1.0f, 1.0f);
    for (int threads = 1; threads <= 2; threads++) {
        difu_engine *e = tu_engine(DIFU_ISA_COUNT, threads);
        difu_model *a = make_model(e, 0), *b = make_model(e, 0);
        float before[N * PER], after[N * PER], fresh[N * PER];
        cr_assert_eq(difu_model_forward(a, N, x, t, NULL, before), DIFU_OK, "%s",
                     difu_engine_last_error(e));
        int changed = 0; /* every [16, 16, 3, 3] weight: the ones that take Winograd */
        for (int i = 0; i < difu_model_tensor_count(a); i++) {
            int nd;
            int64_t shape[DIFU_MAX_DIMS];
            const char *name = difu_model_tensor_info(a, i, &nd, shape);
            if (nd != 4 || shape[0] != 16 || shape[1] != 16 || shape[2] != 3)
                continue;
            difu_tensor ta, tb;
            cr_assert_eq(difu_model_param(a, name, &ta), DIFU_OK);
            cr_assert_eq(difu_model_param(b, name, &tb), DIFU_OK);
            for (int64_t j = 0; j < difu_tensor_numel(&ta); j += 7) {
                ta.data[j] += 0.02f;
                tb.data[j] += 0.02f;
            }
            changed++;
        }
        cr_assert(changed >= 2, "tiny has %d 16x16 3x3 weights", changed);
        cr_assert_eq(difu_model_forward(a, N, x, t, NULL, after), DIFU_OK);
        cr_assert_eq(difu_model_forward(b, N, x, t, NULL, fresh), DIFU_OK);
        cr_assert(memcmp(after, fresh, sizeof after) == 0,
                  "threads %d: the forward after the change differs from a fresh model's",
                  threads);
        cr_assert(memcmp(after, before, sizeof after) != 0, "threads %d: the change did not "
                  "change the output", threads);
        difu_model_destroy(a);
        difu_model_destroy(b);
        difu_engine_destroy(e);
    }
}

/* difu_model_set_weight_cache: off frees the kept Winograd weights and the forward transforms
 * them itself, on keeps them again; the same bits all along (2 threads: the batch in parts). */
Test(sample, weight_cache_off_and_on_give_the_same_bits)
{
    enum { N = 4 };
    float x[N * PER], kept[N * PER], fresh[N * PER], again[N * PER];
    int64_t t[N] = {3, 250, 640, 999};
    tu_fill_uniform(x, N * PER, 78, -1.0f, 1.0f);
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 2);
    difu_model *m = make_model(e, 0);
    cr_assert_eq(difu_model_weight_cache_bytes(m), 0);
    cr_assert_eq(difu_model_forward(m, N, x, t, NULL, kept), DIFU_OK);
    cr_assert_gt(difu_model_weight_cache_bytes(m), 0, "a forward kept no weights");
    difu_model_set_weight_cache(m, 0);
    cr_assert_eq(difu_model_weight_cache_bytes(m), 0, "off kept %zu bytes",
                 difu_model_weight_cache_bytes(m));
    cr_assert_eq(difu_model_forward(m, N, x, t, NULL, fresh), DIFU_OK);
    cr_assert_eq(difu_model_weight_cache_bytes(m), 0, "a forward with the cache off filled it");
    cr_assert(memcmp(kept, fresh, sizeof kept) == 0, "kept vs transformed weights differ");
    difu_model_set_weight_cache(m, 1);
    cr_assert_eq(difu_model_forward(m, N, x, t, NULL, again), DIFU_OK);
    cr_assert_gt(difu_model_weight_cache_bytes(m), 0);
    cr_assert(memcmp(kept, again, sizeof kept) == 0, "the cache turned on again differs");
    difu_model_destroy(m);
    difu_engine_destroy(e);
}
