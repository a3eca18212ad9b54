/* test_train.c: the trainer on the tiny U-Net and a synthetic 8x8 labelled IDX dataset
 * (tu_write_quadrant_idx): the loss falls; k steps + resume k equals 2k straight, bit for bit
 * (weights, EMA, Adam moments); the outputs (checkpoint, loss.csv, samples, loss.png); resume
 * refuses other settings; non-finite steps are skipped then stop the run; an unwritable output
 * folder fails before training; SIGINT in a forked child writes a checkpoint that loads. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "difu.h"
#include "test_util.h"

#define N_IMG 96

static char data_spec[128];

static difu_train_params base_params(const char *dir, const char *out)
{
    tu_write_quadrant_idx(dir, N_IMG);
    snprintf(data_spec, sizeof data_spec, "idx:%s", dir);
    difu_train_params p = difu_train_params_default();
    p.data = data_spec;
    p.model = "tiny";
    p.out_dir = out;
    p.batch = 8;
    p.cond = 1;
    p.seed = 5;
    p.ema_decay = 0.99f;
    return p;
}

static difu_trainer *create(difu_engine *e, const difu_train_params *p, const char *resume)
{
    difu_trainer *t = NULL;
    cr_assert_eq(difu_trainer_create(e, p, resume, &t), DIFU_OK, "%s", difu_engine_last_error(e));
    return t;
}

Test(train, loss_falls)
{
#if defined(__aarch64__)
    cr_skip_test("a few hundred steps: too slow under qemu; covered by the native run");
#endif
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "train");
    difu_train_params p = base_params(dir, NULL);
    p.write_files = 0;
    p.steps = 200;
    p.batch = 16;
    p.lr = 2e-3f;
    p.warmup = 10;
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 2);
    difu_trainer *t = create(e, &p, NULL);
    double first = 0, last = 0;
    for (int s = 0; s < 200; s++) {
        difu_train_progress pr;
        cr_assert_eq(difu_trainer_step(t, &pr), DIFU_OK, "%s", difu_engine_last_error(e));
        cr_assert(isfinite(pr.loss) && !pr.skipped, "step %d loss %g", s, (double)pr.loss);
        if (s < 50)
            first += pr.loss / 50;
        if (s >= 150)
            last += pr.loss / 50;
    }
    cr_log_info("loss: first-50 mean %.4f, last-50 mean %.4f", first, last);
    cr_assert(last < 0.6 * first, "loss did not fall enough: first-50 mean %.4f, last-50 %.4f",
              first, last);
    difu_trainer_destroy(t);
    difu_engine_destroy(e);
}

static void assert_same_blocks(difu_trainer *a, difu_trainer *b)
{
    size_t n;
    const float *pa = difu_model_params(difu_trainer_model(a), &n);
    const float *pb = difu_model_params(difu_trainer_model(b), &n);
    struct {
        const char *what;
        const float *x, *y;
    } blocks[4] = {{"weights", pa, pb},
                   {"EMA", difu_trainer_ema(a), difu_trainer_ema(b)},
                   {"Adam m", difu_trainer_adam_m(a), difu_trainer_adam_m(b)},
                   {"Adam v", difu_trainer_adam_v(a), difu_trainer_adam_v(b)}};
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < n; i++)
            cr_assert(memcmp(&blocks[k].x[i], &blocks[k].y[i], sizeof(float)) == 0,
                      "%s differ at %zu: %.9g vs %.9g", blocks[k].what, i,
                      (double)blocks[k].x[i], (double)blocks[k].y[i]);
}

Test(train, resume_equals_straight_run_bit_for_bit)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "train");
    char out_a[256], out_b[256], ckpt[300];
    snprintf(out_a, sizeof out_a, "%s/straight", dir);
    snprintf(out_b, sizeof out_b, "%s/resumed", dir);
    difu_train_params p = base_params(dir, out_a);
    const int k = 6;
    p.steps = 2 * k;
    p.flip = 1;
    p.warmup = 4;
    p.weight_decay = 0.01f;
    p.limit = 40; /* 40 images, batch 8: the resume point falls mid-epoch and epochs turn over */
    p.lr = 1e-3f;
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 2);
    difu_trainer *a = create(e, &p, NULL);
    cr_assert_eq(difu_trainer_run(a, NULL), DIFU_OK, "%s", difu_engine_last_error(e));

    p.out_dir = out_b;
    p.steps = k;
    difu_trainer *b = create(e, &p, NULL);
    cr_assert_eq(difu_trainer_run(b, NULL), DIFU_OK, "%s", difu_engine_last_error(e));
    difu_trainer_destroy(b);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", out_b);
    /* Resume as the CLI does: settings from the checkpoint. */
    difu_train_params r = difu_train_params_default();
    cr_assert_eq(difu_train_params_from_checkpoint(e, ckpt, &r), DIFU_OK, "%s",
                 difu_engine_last_error(e));
    cr_assert_str_eq(r.data, data_spec);
    cr_assert_eq(r.batch, 8);
    cr_assert_eq(r.limit, 40);
    cr_assert_eq(r.flip, 1);
    cr_assert_eq(r.warmup, 4);
    cr_assert_eq(r.weight_decay, 0.01f);
    r.out_dir = out_b;
    r.steps = 2 * k;
    difu_trainer *c = create(e, &r, ckpt);
    cr_assert_eq(difu_trainer_steps_done(c), k);
    cr_assert_eq(difu_trainer_run(c, NULL), DIFU_OK, "%s", difu_engine_last_error(e));
    cr_assert_eq(difu_trainer_steps_done(c), 2 * k);
    assert_same_blocks(a, c);
    free((char *)r.data);
    free((char *)r.model);

    /* loss.csv of the resumed run has every step once. */
    char path[300], line[256];
    snprintf(path, sizeof path, "%s/loss.csv", out_b);
    FILE *f = fopen(path, "r");
    cr_assert(f);
    int rows = 0;
    cr_assert(fgets(line, sizeof line, f) && strncmp(line, "step,loss", 9) == 0, "header: %s", line);
    while (fgets(line, sizeof line, f)) {
        rows++;
        cr_assert_eq(atoi(line), rows, "row %d: %s", rows, line);
    }
    fclose(f);
    cr_assert_eq(rows, 2 * k);
    difu_trainer_destroy(a);
    difu_trainer_destroy(c);
    difu_engine_destroy(e);
}

Test(train, outputs_and_resume_mismatch)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "train");
    char out[256], path[400];
    snprintf(out, sizeof out, "%s/run/nested", dir); /* created with its parents */
    difu_train_params p = base_params(dir, out);
    p.steps = 4;
    p.ckpt_every = 2;
    p.sample_every = 4;
    p.sample_steps = 3;
    p.sample_per_class = 2;
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 2);
    difu_trainer *t = create(e, &p, NULL);
    int interrupted = -1;
    cr_assert_eq(difu_trainer_run(t, &interrupted), DIFU_OK, "%s", difu_engine_last_error(e));
    cr_assert_eq(interrupted, 0);
    /* the preview grid's Winograd weights are not kept through training */
    cr_assert_eq(difu_model_weight_cache_bytes(difu_trainer_model(t)), 0);
    difu_trainer_destroy(t);
    const char *files[] = {"checkpoint.safetensors", "loss.csv", "loss.png", "samples-4.png"};
    for (int i = 0; i < 4; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", out, files[i]);
        cr_assert(stat(path, &st) == 0 && st.st_size > 0, "missing %s", path);
    }
    /* The checkpoint loads for sampling, EMA by default, with its schedule. */
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", out);
    difu_model *m = NULL;
    difu_ckpt_info info;
    cr_assert_eq(difu_load_model(e, path, -1, &m, &info), DIFU_OK, "%s", difu_engine_last_error(e));
    cr_assert(info.has_ema && info.used_ema);
    cr_assert_eq(info.step, 4);
    cr_assert_eq(info.T, 1000);
    cr_assert_eq(difu_model_get_config(m)->num_classes, 10); /* IDX data has 10 classes */
    difu_model_destroy(m);
    /* Resuming with another batch or seed is refused, naming the setting. */
    p.batch = 4;
    p.steps = 8;
    difu_trainer *bad = NULL;
    cr_assert_eq(difu_trainer_create(e, &p, path, &bad), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "batch"), "%s", difu_engine_last_error(e));
    p.batch = 8;
    p.seed = 6;
    cr_assert_eq(difu_trainer_create(e, &p, path, &bad), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "seed"), "%s", difu_engine_last_error(e));
    cr_assert_null(bad);
    difu_engine_destroy(e);
}

Test(train, bad_params_and_unwritable_folder)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "train");
    char file[256], out[300];
    snprintf(file, sizeof file, "%s/a-file", dir);
    FILE *f = fopen(file, "w");
    cr_assert(f);
    fclose(f);
    snprintf(out, sizeof out, "%s/sub", file);
    difu_train_params p = base_params(dir, out);
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    difu_trainer *t = NULL;
    cr_assert_eq(difu_trainer_create(e, &p, NULL, &t), DIFU_ERR_IO);
    cr_assert(strstr(difu_engine_last_error(e), "output folder"), "%s", difu_engine_last_error(e));
    p.out_dir = dir;
    p.batch = 0;
    cr_assert_eq(difu_trainer_create(e, &p, NULL, &t), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "batch"), "%s", difu_engine_last_error(e));
    p.batch = 8;
    p.ema_decay = 1.0f;
    cr_assert_eq(difu_trainer_create(e, &p, NULL, &t), DIFU_ERR_INVALID_ARG);
    p.ema_decay = 0.9f;
    p.data = "idx:/nonexistent-folder";
    cr_assert_neq(difu_trainer_create(e, &p, NULL, &t), DIFU_OK);
    cr_assert(strstr(difu_engine_last_error(e), "nonexistent"), "%s", difu_engine_last_error(e));
    cr_assert_null(t);
    difu_engine_destroy(e);
}

Test(train, non_finite_steps_are_skipped_then_stop)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "train");
    difu_train_params p = base_params(dir, NULL);
    p.write_files = 0;
    p.steps = 10;
    p.max_bad_steps = 3;
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    difu_trainer *t = create(e, &p, NULL);
    cr_assert_eq(difu_trainer_step(t, NULL), DIFU_OK);
    size_t n;
    float *w = difu_model_params(difu_trainer_model(t), &n);
    float *before = malloc(n * sizeof(float));
    w[0] = NAN; /* conv or embedding weight 0: the forward turns non-finite */
    memcpy(before, w, n * sizeof(float));
    difu_train_progress pr;
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(difu_trainer_step(t, &pr), DIFU_OK, "%s", difu_engine_last_error(e));
        cr_assert(pr.skipped, "step %d with a NaN weight was not skipped", i);
        cr_assert_eq(pr.skipped_total, i + 1);
    }
    cr_assert(memcmp(before + 1, w + 1, (n - 1) * sizeof(float)) == 0,
              "a skipped step changed the weights");
    cr_assert_eq(difu_trainer_step(t, &pr), DIFU_ERR_NUMERIC);
    cr_assert(strstr(difu_engine_last_error(e), "3 steps in a row"), "%s",
              difu_engine_last_error(e));
    free(before);
    difu_trainer_destroy(t);
    difu_engine_destroy(e);
}

static volatile sig_atomic_t child_stop = 0;

static void child_on_sigint(int sig)
{
    (void)sig;
    child_stop = 1;
}

Test(train, sigint_writes_a_checkpoint_and_exits_cleanly)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "train");
    char out[256], csv[300], ckpt[300];
    snprintf(out, sizeof out, "%s/run", dir);
    snprintf(csv, sizeof csv, "%s/loss.csv", out);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", out);
    difu_train_params p = base_params(dir, out);
    p.steps = 1000000;
    /* Fork before this process starts any OpenMP team. */
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = child_on_sigint;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        p.stop = &child_stop;
        difu_engine_params ep = difu_engine_params_default();
        ep.threads = 1;
        difu_engine *e = NULL;
        difu_trainer *t = NULL;
        if (difu_engine_create(&ep, &e, NULL, 0) != DIFU_OK ||
            difu_trainer_create(e, &p, NULL, &t) != DIFU_OK)
            _exit(3);
        int interrupted = 0;
        difu_status s = difu_trainer_run(t, &interrupted);
        _exit(s == DIFU_OK && interrupted ? 0 : 4);
    }
    /* Wait until a few steps are in loss.csv (at most 120 s), then interrupt. */
    for (int i = 0; i < 1200; i++) {
        struct stat st;
        if (stat(csv, &st) == 0 && st.st_size > 200)
            break;
        nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
    cr_assert_eq(kill(pid, SIGINT), 0);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    difu_model *m = NULL;
    difu_ckpt_info info;
    cr_assert_eq(difu_load_model(e, ckpt, 1, &m, &info), DIFU_OK, "%s", difu_engine_last_error(e));
    cr_assert(info.step > 0 && info.step < 1000000, "step %lld", (long long)info.step);
    difu_model_destroy(m);
    difu_engine_destroy(e);
}
