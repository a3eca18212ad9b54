/* test_anomaly.c: the trainer's detect_anomaly flag (and `difu train --detect-anomaly`) on the
 * tiny U-Net and a synthetic 8x8 IDX set: a NaN weight is reported at the node that first
 * computes with it, a gradient that overflows while the forward stays finite is reported at the
 * backward node that made it, naming the parameter; the report is the same at 1 and 2 threads;
 * the step is skipped and counted like any non-finite step; and checking changes no bit of a
 * run where everything stays finite. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "difu.h"
#include "test_util.h"

#define N_IMG 32

static char data_spec[128];

static difu_train_params base_params(const char *dir)
{
    tu_write_quadrant_idx(dir, N_IMG);
    snprintf(data_spec, sizeof data_spec, "idx:%s", dir);
    difu_train_params p = difu_train_params_default();
    p.data = data_spec;
    p.model = "tiny";
    p.batch = 8;
    p.cond = 1;
    p.seed = 3;
    p.ema_decay = 0.99f;
    p.steps = 100;
    p.write_files = 0;
    return p;
}

static difu_trainer *create(difu_engine *e, const difu_train_params *p)
{
    difu_trainer *t = NULL;
    cr_assert_eq(difu_trainer_create(e, p, NULL, &t), DIFU_OK, "%s", difu_engine_last_error(e));
    return t;
}

/* Sets every element of parameter `name` to v (element -1) or only element `at`. */
static void set_param(difu_trainer *t, const char *name, int64_t at, float v)
{
    difu_tensor w;
    cr_assert_eq(difu_model_param(difu_trainer_model(t), name, &w), DIFU_OK, "no %s", name);
    if (at >= 0) {
        w.data[at] = v;
        return;
    }
    for (int64_t i = 0; i < difu_tensor_numel(&w); i++)
        w.data[i] = v;
}

static void step_ok(difu_trainer *t, difu_engine *e)
{
    difu_train_progress pr;
    cr_assert_eq(difu_trainer_step(t, &pr), DIFU_OK, "%s", difu_engine_last_error(e));
    cr_assert(!pr.skipped && pr.anomaly == NULL, "a finite step was flagged: %s",
              pr.anomaly ? pr.anomaly : "(skipped without a report)");
}

/* One good step, then a NaN in down.0.0.conv1.weight; the next step's report into msg. */
static void nan_weight_report(int threads, int detect, char *msg, size_t len)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "anomaly");
    difu_train_params p = base_params(dir);
    p.detect_anomaly = detect;
    p.max_bad_steps = 2;
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, threads);
    difu_trainer *t = create(e, &p);
    step_ok(t, e);
    set_param(t, "down.0.0.conv1.weight", 5, NAN);
    size_t n;
    float *w = difu_model_params(difu_trainer_model(t), &n);
    float *before = malloc(n * sizeof(float));
    memcpy(before, w, n * sizeof(float));
    difu_train_progress pr;
    cr_assert_eq(difu_trainer_step(t, &pr), DIFU_OK, "%s", difu_engine_last_error(e));
    cr_assert(pr.skipped, "the step with a NaN weight was not skipped");
    cr_assert_eq(pr.skipped_total, 1);
    cr_assert(!isfinite(pr.loss), "a skipped step reported loss %g", (double)pr.loss);
    cr_assert(memcmp(before, w, n * sizeof(float)) == 0, "a skipped step changed the weights");
    snprintf(msg, len, "%s", pr.anomaly ? pr.anomaly : "");
    cr_assert_eq(pr.anomaly != NULL, detect != 0, "report without the flag or none with it: %s",
                 msg);
    /* the second bad step in a row stops the run; with the flag the message ends with the
     * report */
    cr_assert_eq(difu_trainer_step(t, &pr), DIFU_ERR_NUMERIC);
    const char *err = difu_engine_last_error(e);
    cr_assert(strstr(err, "2 steps in a row"), "%s", err);
    cr_assert_eq(strstr(err, "detect-anomaly: first non-finite value") != NULL, detect != 0,
                 "%s", err);
    free(before);
    difu_trainer_destroy(t);
    difu_engine_destroy(e);
    tu_rm_tree(dir);
}

Test(anomaly, nan_weight_is_reported_at_the_conv_that_reads_it)
{
    char one[512], two[512], off[512];
    nan_weight_report(1, 1, one, sizeof one);
    cr_log_info("%s", one);
    const char *start = "step 2: detect-anomaly: first non-finite value in the output of node ";
    cr_assert(strncmp(one, start, strlen(start)) == 0, "%s", one);
    cr_assert(strstr(one, " 'down.0.0.conv1' (conv2d, forward): nan at element 0 of "
                          "[8, 16, 8, 8]"), "%s", one);
    nan_weight_report(2, 1, two, sizeof two);
    cr_assert_str_eq(one, two, "the report depends on the thread count");
    nan_weight_report(2, 0, off, sizeof off);
}

Test(anomaly, backward_overflow_names_the_gradient_and_its_parameter)
{
    /* norm_out's bias 1e22 makes conv_out's input about 1e22, and conv_out's zero weights keep
     * the forward finite (the prediction is conv_out's bias, 1e18: loss 1e36). conv_out's
     * weight gradient sums dpred (about 4e15) times 1e22 over 512 positions: inf. */
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "anomaly");
    difu_train_params p = base_params(dir);
    p.detect_anomaly = 1;
    /* 1 and 2 threads natively, then 2 with oneDNN convolutions (checked between the parallel
     * regions) when the build has it */
    const int threads[3] = {1, 2, 2};
    int runs = strcmp(difu_onednn_version(), "not built") != 0 ? 3 : 2;
    char first[512] = "";
    for (int k = 0; k < runs; k++) {
        difu_engine_params ep = difu_engine_params_default();
        ep.threads = threads[k];
        ep.honor_env = 0;
        ep.conv_backend = k == 2 ? DIFU_CONV_ONEDNN : DIFU_CONV_NATIVE;
        difu_engine *e = NULL;
        char err[256] = "";
        cr_assert_eq(difu_engine_create(&ep, &e, err, sizeof err), DIFU_OK, "%s", err);
        difu_trainer *t = create(e, &p);
        set_param(t, "norm_out.bias", -1, 1e22f);
        set_param(t, "conv_out.bias", -1, 1e18f);
        difu_train_progress pr;
        cr_assert_eq(difu_trainer_step(t, &pr), DIFU_OK, "%s", difu_engine_last_error(e));
        cr_assert(pr.skipped && pr.anomaly, "the overflow was not reported");
        cr_log_info("%s", pr.anomaly);
        cr_assert(strstr(pr.anomaly, "step 1: detect-anomaly: first non-finite value in the "
                                     "output of node "), "%s", pr.anomaly);
        cr_assert(strstr(pr.anomaly, " 'conv_out/dw' (conv2d_bwd_weights, backward: gradient "
                                     "of parameter 'conv_out.weight'): inf at element "),
                  "%s", pr.anomaly);
        if (k == 0)
            snprintf(first, sizeof first, "%s", pr.anomaly);
        else
            cr_assert_str_eq(first, pr.anomaly, "run %d (%d threads, %s) reports otherwise", k,
                             threads[k], difu_conv_backend_name(ep.conv_backend));
        difu_trainer_destroy(t);
        difu_engine_destroy(e);
    }
    tu_rm_tree(dir);
}

Test(anomaly, checking_changes_no_bit_of_a_finite_run)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "anomaly");
    enum { STEPS = 4 };
    float loss[2][STEPS];
    float *w[2], *ema[2];
    size_t n = 0;
    for (int detect = 0; detect < 2; detect++) {
        difu_train_params p = base_params(dir);
        p.detect_anomaly = detect;
        p.flip = 1;
        p.warmup = 2;
        p.lr = 1e-3f;
        difu_engine *e = tu_engine(DIFU_ISA_COUNT, 2);
        difu_trainer *t = create(e, &p);
        for (int s = 0; s < STEPS; s++) {
            difu_train_progress pr;
            cr_assert_eq(difu_trainer_step(t, &pr), DIFU_OK, "%s", difu_engine_last_error(e));
            cr_assert(!pr.skipped && !pr.anomaly, "step %d: %s", s,
                      pr.anomaly ? pr.anomaly : "skipped");
            loss[detect][s] = pr.loss;
        }
        const float *params = difu_model_params(difu_trainer_model(t), &n);
        w[detect] = malloc(n * sizeof(float));
        ema[detect] = malloc(n * sizeof(float));
        memcpy(w[detect], params, n * sizeof(float));
        memcpy(ema[detect], difu_trainer_ema(t), n * sizeof(float));
        difu_trainer_destroy(t);
        difu_engine_destroy(e);
    }
    for (int s = 0; s < STEPS; s++)
        cr_assert(memcmp(&loss[0][s], &loss[1][s], sizeof(float)) == 0,
                  "step %d: loss %.9g without the check, %.9g with it", s, (double)loss[0][s],
                  (double)loss[1][s]);
    cr_assert(memcmp(w[0], w[1], n * sizeof(float)) == 0, "the weights differ");
    cr_assert(memcmp(ema[0], ema[1], n * sizeof(float)) == 0, "the EMA weights differ");
    for (int k = 0; k < 2; k++) {
        free(w[k]);
        free(ema[k]);
    }
    tu_rm_tree(dir);
}

/* The command line: a checkpoint with a NaN weight, resumed with --detect-anomaly, prints the
 * report of each bad step and stops with the numerical guard's message. */
Test(anomaly, cli_flag_prints_the_report)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "anomaly");
    char out[256], ckpt[300];
    snprintf(out, sizeof out, "%s/run", dir);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", out);
    difu_train_params p = base_params(dir);
    p.write_files = 1;
    p.out_dir = out;
    p.steps = 1;
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    difu_trainer *t = create(e, &p);
    step_ok(t, e);
    set_param(t, "down.0.0.conv1.weight", 5, NAN);
    cr_assert_eq(difu_trainer_save(t, ckpt), DIFU_OK, "%s", difu_engine_last_error(e));
    difu_trainer_destroy(t);
    difu_engine_destroy(e);

    const char *argv[] = {tu_difu_bin(), "train", "--resume", ckpt, "--steps", "4",
                          "--detect-anomaly", "--max-bad-steps", "2", "--threads", "2", NULL};
    tu_run_result *r = tu_run_argv(argv);
    cr_log_info("stderr:\n%s", r->err);
    cr_assert_eq(r->status, 1, "exit %d: %s", r->status, r->err);
    cr_assert(strstr(r->err, "difu train: step 2: detect-anomaly: first non-finite value in the "
                             "output of node "), "%s", r->err);
    /* the step that ends the run reports through the final message */
    cr_assert(strstr(r->err, "2 steps in a row had a non-finite loss or gradient"), "%s", r->err);
    cr_assert(strstr(r->err, "; step 3: detect-anomaly: first non-finite value"), "%s", r->err);
    cr_assert(strstr(r->err, "'down.0.0.conv1' (conv2d, forward): nan at element 0 of "
                             "[8, 16, 8, 8]"), "%s", r->err);
    free(r);

    const char *help[] = {tu_difu_bin(), "train", "--help", NULL};
    r = tu_run_argv(help);
    cr_assert_eq(r->status, 0);
    cr_assert(strstr(r->out, "--detect-anomaly"), "%s", r->out);
    free(r);
    tu_rm_tree(dir);
}
