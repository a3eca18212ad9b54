/* test_cli.c: the `difu` program's model, init, predict and digest commands, run as a user would
 * (the binary from DIFU_BIN, set by tests/meson.build): their output, exit statuses (0 success, 1
 * failure, 2 bad usage; never a signal) and messages, predictions against PyTorch's. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "test_util.h"

/* max |a - b| / max |b| of tensor `name` in two files. */
static double rel_err(difu_engine *e, const char *a_path, const char *b_path, const char *name)
{
    difu_safetensors *a = NULL, *b = NULL;
    cr_assert_eq(difu_st_read(e, a_path, &a), DIFU_OK, "%s", difu_engine_last_error(e));
    cr_assert_eq(difu_st_read(e, b_path, &b), DIFU_OK, "%s", difu_engine_last_error(e));
    const difu_st_tensor *ta = difu_st_find(a, name), *tb = difu_st_find(b, name);
    cr_assert(ta && tb && ta->dtype == DIFU_ST_F32 && tb->dtype == DIFU_ST_F32);
    cr_assert_eq(ta->ndim, tb->ndim);
    for (int d = 0; d < ta->ndim; d++)
        cr_assert_eq(ta->shape[d], tb->shape[d], "dim %d differs", d);
    size_t n = (size_t)difu_st_numel(ta);
    const unsigned char *pa = difu_st_data(a, ta), *pb = difu_st_data(b, tb);
    double diff = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        float x, y;
        memcpy(&x, pa + 4 * i, 4);
        memcpy(&y, pb + 4 * i, 4);
        cr_assert(isfinite(x), "%s[%zu] is not finite", name, i);
        diff = fabs((double)x - y) > diff ? fabs((double)x - y) : diff;
        mx = fabs((double)y) > mx ? fabs((double)y) : mx;
    }
    difu_st_free(a);
    difu_st_free(b);
    return diff / (mx > 0 ? mx : 1);
}

/* Writes a batch file with x [n, c, s, s] (zeros), t, optional y; dtype of t selectable. */
static void write_batch(difu_engine *e, const char *path, int n, int c, int s, const int64_t *t,
                        const int64_t *y, difu_st_dtype t_dtype)
{
    float *x = calloc((size_t)(n * c * s * s), sizeof *x);
    for (int i = 0; i < n * c * s * s; i++)
        x[i] = (float)((i * 37) % 17) / 8.0f - 1.0f;
    double td[16];
    for (int i = 0; i < n && i < 16; i++)
        td[i] = (double)t[i];
    difu_st_out o[3] = {{"x", DIFU_ST_F32, 4, {n, c, s, s}, x},
                        {"t", t_dtype, 1, {n}, t_dtype == DIFU_ST_F64 ? (const void *)td : t},
                        {"y", DIFU_ST_I64, 1, {n}, y}};
    cr_assert_eq(difu_st_write(e, path, o, y ? 3 : 2, NULL, 0), DIFU_OK, "%s",
                 difu_engine_last_error(e));
    free(x);
}

/* ---------------------------------------------------------------- difu model */

Test(cli, model_prints_tensors_and_parameter_counts)
{
    tu_run_result *r = tu_run_difu("model", "fmnist-t", NULL);
    cr_assert(strstr(r->out, "1624577"), "%s", r->out);
    cr_assert(strstr(r->out, "temb_dense0.weight"));
    cr_assert(strstr(r->out, "[32, 1, 3, 3]"), "conv_in's shape");
    cr_assert(strstr(r->out, "GFLOP per image"));
    cr_assert(strstr(r->out, "batch 128"));
    cr_assert(strstr(r->out, "training"));
    tu_expect_exit(r, 0, NULL, "model fmnist-t");
    r = tu_run_difu("model", "fmnist-s", NULL);
    cr_assert(strstr(r->out, "6472705"), "%s", r->out);
    tu_expect_exit(r, 0, NULL, "model fmnist-s");
    /* tensor lines: 245 for fmnist-t */
    r = tu_run_difu("model", "fmnist-t", "--batch", "2", NULL);
    cr_assert(strstr(r->out, "tensors      245"), "%s", r->out);
    cr_assert(strstr(r->out, "batch 2:"));
    tu_expect_exit(r, 0, NULL, "model --batch 2");
}

/* ---------------------------------------------------------------- usage errors */

Test(cli, help_and_bad_usage)
{
    const char *cmds[] = {"model", "init", "predict", "digest"};
    for (int i = 0; i < 4; i++) {
        tu_run_result *r = tu_run_difu(cmds[i], "--help", NULL);
        cr_assert(strstr(r->out, "usage: difu"), "%s --help: %s", cmds[i], r->out);
        tu_expect_exit(r, 0, NULL, cmds[i]);
        tu_expect_exit(tu_run_difu(cmds[i], "--bogus", NULL), 2, "--bogus", cmds[i]);
    }
    tu_expect_exit(tu_run_difu("model", NULL), 2, "which model", "model without a name");
    tu_expect_exit(tu_run_difu("model", "fmnist-x", NULL), 2, "fmnist-x", "unknown preset");
    tu_expect_exit(tu_run_difu("model", "tiny", "--batch", "0", NULL), 2, "--batch", "batch 0");
    tu_expect_exit(tu_run_difu("model", "tiny", "--batch", NULL), 2, "--batch",
                   "batch without value");
    tu_expect_exit(tu_run_difu("model", "tiny", "tiny", NULL), 2, "one NAME", "two names");
    tu_expect_exit(tu_run_difu("init", "--model", "tiny", "--seed", "1", NULL), 2, "--out",
                   "init without --out");
    tu_expect_exit(
        tu_run_difu("init", "--model", "tiny", "--seed", "-1", "--out", "/tmp/x.safetensors", NULL),
        2, "--seed", "negative seed");
    tu_expect_exit(tu_run_difu("init", "--model", "tiny", "--seed", "12x", "--out",
                               "/tmp/x.safetensors", NULL),
                   2, "12x", "malformed seed");
    tu_expect_exit(
        tu_run_difu("init", "--model", "nope", "--seed", "1", "--out", "/tmp/x.safetensors", NULL),
        2, "nope", "unknown preset");
    tu_expect_exit(tu_run_difu("init", "--model", NULL), 2, "--model", "missing value");
    tu_expect_exit(tu_run_difu("predict", "--ckpt", "a", "--in", "b", NULL), 2, "--out",
                   "predict without --out");
    tu_expect_exit(
        tu_run_difu("predict", "--ckpt", "a", "--in", "b", "--out", "c", "--threads", "0", NULL), 2,
        "--threads", "threads 0");
    tu_expect_exit(
        tu_run_difu("predict", "--ckpt", "a", "--in", "b", "--out", "c", "--threads", "two", NULL),
        2, "two", "threads two");
    tu_expect_exit(tu_run_difu("digest", NULL), 2, "no files", "digest without files");
}

/* ---------------------------------------------------------------- init, predict, digest */

Test(cli, init_predict_and_digest)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    char golden[1024];
    tu_data_path(golden, sizeof golden, "golden-tiny.safetensors");
    char dir[64], ck[256], ck2[256], ck3[256], eps[256];
    tu_make_tmpdir(dir, sizeof dir, "cli");
    snprintf(ck, sizeof ck, "%s/a.safetensors", dir);
    snprintf(ck2, sizeof ck2, "%s/b.safetensors", dir);
    snprintf(ck3, sizeof ck3, "%s/c.safetensors", dir);
    snprintf(eps, sizeof eps, "%s/eps.safetensors", dir);
    tu_run_result *r = tu_run_difu("init", "--model", "tiny", "--seed", "5", "--out", ck, NULL);
    cr_assert(strstr(r->out, "177553"), "%s", r->out);
    tu_expect_exit(r, 0, NULL, "init");
    tu_expect_exit(tu_run_difu("init", "--model", "tiny", "--seed", "5", "--out", ck2, NULL), 0,
                   NULL, "init 2");
    tu_expect_exit(tu_run_difu("init", "--model", "tiny", "--seed", "6", "--out", ck3, NULL), 0,
                   NULL, "init 3");

    /* same seed, same digests; another seed, other digests */
    tu_run_result *d1 = tu_run_difu("digest", ck, NULL), *d2 = tu_run_difu("digest", ck2, NULL),
                  *d3 = tu_run_difu("digest", ck3, NULL);
    cr_assert_eq(d1->status, 0, "%s", d1->err);
    cr_assert(strstr(d1->out, "conv_in.weight  ok"), "%s", d1->out);
    char *tl1 = strstr(d1->out, "  tensors  "), *tl2 = strstr(d2->out, "  tensors  "),
         *tl3 = strstr(d3->out, "  tensors  ");
    cr_assert(tl1 && tl2 && tl3);
    cr_assert_eq(strncmp(tl1 - 16, tl2 - 16, 16), 0, "same seed, different tensor digests");
    cr_assert_neq(strncmp(tl1 - 16, tl3 - 16, 16), 0, "different seeds, same tensor digests");
    char *fl1 = strstr(d1->out, "  file     "), *fl2 = strstr(d2->out, "  file     ");
    cr_assert(fl1 && fl2);
    cr_assert_eq(strncmp(fl1 - 16, fl2 - 16, 16), 0, "same seed, different file digests");
    free(d1);
    free(d2);
    free(d3);

    /* predict with the fresh weights on the golden batch: runs, shape [2, 1, 8, 8] */
    r = tu_run_difu("predict", "--ckpt", ck, "--in", golden, "--out", eps, "--threads", "1", NULL);
    tu_expect_exit(r, 0, NULL, "predict fresh");
    difu_safetensors *s = NULL;
    cr_assert_eq(difu_st_read(e, eps, &s), DIFU_OK);
    const difu_st_tensor *t = difu_st_find(s, "eps");
    cr_assert(t && t->ndim == 4 && t->shape[0] == 2 && t->shape[1] == 1 && t->shape[2] == 8);
    difu_st_free(s);
    tu_expect_exit(
        tu_run_difu("predict", "--ckpt", ck, "--in", golden, "--out", eps, "--ema", NULL), 1,
        "ema.", "--ema without EMA tensors");

    /* sampling with the 3x3 weights kept in Winograd form (the default) or transformed at every
     * step: the same PNG bytes */
    char png1[256], png2[256];
    snprintf(png1, sizeof png1, "%s/kept.png", dir);
    snprintf(png2, sizeof png2, "%s/not-kept.png", dir);
    tu_expect_exit(tu_run_difu("sample", "--ckpt", ck, "--out", png1, "--sampler", "ddim",
                               "--steps", "3", "--n", "4", "--threads", "2", NULL),
                   0, NULL, "sample");
    tu_expect_exit(tu_run_difu("sample", "--ckpt", ck, "--out", png2, "--sampler", "ddim",
                               "--steps", "3", "--n", "4", "--threads", "2", "--no-weight-cache",
                               NULL),
                   0, NULL, "sample --no-weight-cache");
    size_t n1 = 0, n2 = 0;
    unsigned char *b1 = tu_read_file(png1, &n1), *b2 = tu_read_file(png2, &n2);
    cr_assert(b1 && b2 && n1 > 0 && n1 == n2 && memcmp(b1, b2, n1) == 0,
              "sample with and without the weight cache: %zu vs %zu PNG bytes, or other bytes",
              n1, n2);
    free(b1);
    free(b2);

    /* the golden file as checkpoint and batch: PyTorch's eps */
    tu_expect_exit(tu_run_difu("predict", "--ckpt", golden, "--in", golden, "--out", eps, NULL), 0,
                   NULL, "predict golden");
    double err = rel_err(e, eps, golden, "eps");
    cr_assert(err <= 1e-4, "difu predict vs PyTorch: max rel err %.3e", err);
    tu_expect_exit(tu_run_difu("predict", "--ckpt", golden, "--in", golden, "--out", eps,
                               "--threads", "2", NULL),
                   0, NULL, "predict golden, 2 threads");
    err = rel_err(e, eps, golden, "eps");
    cr_assert(err <= 1e-4, "difu predict (2 threads) vs PyTorch: max rel err %.3e", err);
    tu_rm_tree(dir);
    difu_engine_destroy(e);
}

Test(cli, pytorch_checkpoint_without_metadata_agrees_with_pytorch)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    char golden[1024];
    tu_data_path(golden, sizeof golden, "golden-tiny.safetensors");
    char dir[64], ck[256], eps[256];
    tu_make_tmpdir(dir, sizeof dir, "cli");
    snprintf(ck, sizeof ck, "%s/torch.safetensors", dir);
    snprintf(eps, sizeof eps, "%s/eps.safetensors", dir);
    /* the golden file's tensors without "__metadata__": a plain PyTorch state_dict (+ batch) */
    difu_safetensors *s = NULL;
    cr_assert_eq(difu_st_read(e, golden, &s), DIFU_OK);
    difu_st_out *t = calloc((size_t)s->n_tensors, sizeof *t);
    for (int i = 0; i < s->n_tensors; i++) {
        const difu_st_tensor *x = &s->tensors[i];
        t[i] = (difu_st_out){x->name, x->dtype, x->ndim, {0}, difu_st_data(s, x)};
        memcpy(t[i].shape, x->shape, sizeof t[i].shape);
    }
    cr_assert_eq(difu_st_write(e, ck, t, s->n_tensors, NULL, 0), DIFU_OK);
    free(t);
    difu_st_free(s);
    tu_run_result *r = tu_run_difu("model", ck, NULL);
    cr_assert(strstr(r->out, "no difu.config"), "%s", r->out);
    cr_assert(strstr(r->out, "\"groups\":[[0,8]]"), "%s", r->out);
    cr_assert(strstr(r->out, "177553"), "%s", r->out);
    tu_expect_exit(r, 0, NULL, "model on a PyTorch file");
    tu_expect_exit(tu_run_difu("predict", "--ckpt", ck, "--in", golden, "--out", eps, NULL), 0,
                   NULL, "predict on a PyTorch file");
    double err = rel_err(e, eps, golden, "eps");
    cr_assert(err <= 1e-4, "difu predict (inferred config) vs PyTorch: max rel err %.3e", err);
    r = tu_run_difu("digest", ck, NULL);
    cr_assert(strstr(r->out, "no stored digests"), "%s", r->out);
    tu_expect_exit(r, 0, NULL, "digest of a file without digests");
    tu_rm_tree(dir);
    difu_engine_destroy(e);
}

Test(cli, corrupt_checkpoint_and_bad_batches_are_refused)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    char golden[1024];
    tu_data_path(golden, sizeof golden, "golden-tiny.safetensors");
    char dir[64], ck[256], bad[256], batch[256], eps[256];
    tu_make_tmpdir(dir, sizeof dir, "cli");
    snprintf(ck, sizeof ck, "%s/a.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    snprintf(batch, sizeof batch, "%s/batch.safetensors", dir);
    snprintf(eps, sizeof eps, "%s/eps.safetensors", dir);
    tu_expect_exit(tu_run_difu("init", "--model", "tiny", "--seed", "5", "--out", ck, NULL), 0,
                   NULL, "init");

    /* one flipped bit in mid_attn.proj.weight */
    difu_safetensors *s = NULL;
    cr_assert_eq(difu_st_read(e, ck, &s), DIFU_OK);
    const difu_st_tensor *t = difu_st_find(s, "mid_attn.qkv.weight");
    cr_assert(t);
    s->bytes[s->data_start + t->begin + 5] ^= 0x01;
    FILE *f = fopen(bad, "wb");
    fwrite(s->bytes, 1, s->size, f);
    fclose(f);
    difu_st_free(s);
    tu_expect_exit(tu_run_difu("predict", "--ckpt", bad, "--in", golden, "--out", eps, NULL), 1,
                   "'mid_attn.qkv.weight'", "predict on a corrupt checkpoint");
    tu_run_result *r = tu_run_difu("digest", ck, bad, NULL);
    cr_assert(strstr(r->out, "mid_attn.qkv.weight  MISMATCH"), "%s", r->out);
    cr_assert(strstr(r->err, bad), "%s", r->err);
    tu_expect_exit(r, 1, "'mid_attn.qkv.weight'", "digest of a corrupt checkpoint");
    cr_assert_eq(access(eps, F_OK), -1, "a failed predict must not write its output");

    /* batches: wrong image size, t out of range, y out of range, t missing or mistyped */
    int64_t t_ok[2] = {0, 999}, t_big[2] = {5, 1000}, t_neg[2] = {-1, 3}, y_ok[2] = {3, 10},
            y_big[2] = {1, 11};
    write_batch(e, batch, 2, 1, 8, t_ok, y_ok, DIFU_ST_I64);
    tu_expect_exit(tu_run_difu("predict", "--ckpt", ck, "--in", batch, "--out", eps, NULL), 0, NULL,
                   "good batch");
    write_batch(e, batch, 2, 1, 9, t_ok, y_ok, DIFU_ST_I64);
    tu_expect_exit(tu_run_difu("predict", "--ckpt", ck, "--in", batch, "--out", eps, NULL), 1,
                   "x has shape", "9x9 images");
    write_batch(e, batch, 2, 3, 8, t_ok, y_ok, DIFU_ST_I64);
    tu_expect_exit(tu_run_difu("predict", "--ckpt", ck, "--in", batch, "--out", eps, NULL), 1,
                   "x has shape", "3 channels");
    write_batch(e, batch, 2, 1, 8, t_big, y_ok, DIFU_ST_I64);
    tu_expect_exit(tu_run_difu("predict", "--ckpt", ck, "--in", batch, "--out", eps, NULL), 1,
                   "t[1] = 1000", "t out of range");
    write_batch(e, batch, 2, 1, 8, t_neg, NULL, DIFU_ST_I64);
    tu_expect_exit(tu_run_difu("predict", "--ckpt", ck, "--in", batch, "--out", eps, NULL), 1,
                   "t[0] = -1", "negative t");
    write_batch(e, batch, 2, 1, 8, t_ok, y_big, DIFU_ST_I64);
    tu_expect_exit(tu_run_difu("predict", "--ckpt", ck, "--in", batch, "--out", eps, NULL), 1,
                   "y[1] = 11", "y out of range");
    write_batch(e, batch, 2, 1, 8, t_ok, y_ok, DIFU_ST_F64);
    tu_expect_exit(tu_run_difu("predict", "--ckpt", ck, "--in", batch, "--out", eps, NULL), 1,
                   "'t'", "t as F64");
    /* T from the trainer's "difu.T" metadata */
    char ck50[256];
    snprintf(ck50, sizeof ck50, "%s/t50.safetensors", dir);
    difu_model_config cfg;
    difu_model *m = NULL;
    cr_assert_eq(difu_model_preset(e, "tiny", &cfg), DIFU_OK);
    cr_assert_eq(difu_model_create(e, &cfg, 1, &m), DIFU_OK);
    difu_ckpt_block blk = {"", difu_model_params(m, NULL)};
    difu_ckpt_meta T50 = {"difu.T", "50"};
    cr_assert_eq(difu_checkpoint_save(e, ck50, m, &blk, 1, NULL, 0, &T50, 1), DIFU_OK);
    difu_model_destroy(m);
    int64_t t_49[2] = {0, 49}, t_50[2] = {50, 0};
    write_batch(e, batch, 2, 1, 8, t_49, y_ok, DIFU_ST_I64);
    tu_expect_exit(tu_run_difu("predict", "--ckpt", ck50, "--in", batch, "--out", eps, NULL), 0,
                   NULL, "t 49 < T 50");
    write_batch(e, batch, 2, 1, 8, t_50, y_ok, DIFU_ST_I64);
    tu_expect_exit(tu_run_difu("predict", "--ckpt", ck50, "--in", batch, "--out", eps, NULL), 1,
                   "t[0] = 50 is outside [0, 50)", "t 50 with T 50");
    float x[64] = {0};
    difu_st_out only_x = {"x", DIFU_ST_F32, 4, {1, 1, 8, 8}, x};
    cr_assert_eq(difu_st_write(e, batch, &only_x, 1, NULL, 0), DIFU_OK);
    tu_expect_exit(tu_run_difu("predict", "--ckpt", ck, "--in", batch, "--out", eps, NULL), 1,
                   "'t'", "no t");
    difu_st_out x3 = {"x", DIFU_ST_F32, 3, {1, 8, 8}, x};
    cr_assert_eq(difu_st_write(e, batch, &x3, 1, NULL, 0), DIFU_OK);
    tu_expect_exit(tu_run_difu("predict", "--ckpt", ck, "--in", batch, "--out", eps, NULL), 1,
                   "'x'", "3-D x");

    /* missing files and folders */
    tu_expect_exit(tu_run_difu("predict", "--ckpt", "/nonexistent/ck.safetensors", "--in", golden,
                               "--out", eps, NULL),
                   1, "/nonexistent/ck.safetensors", "missing checkpoint");
    tu_expect_exit(tu_run_difu("predict", "--ckpt", ck, "--in", "/nonexistent/b.safetensors",
                               "--out", eps, NULL),
                   1, "/nonexistent/b.safetensors", "missing batch");
    tu_expect_exit(tu_run_difu("predict", "--ckpt", ck, "--in", golden, "--out",
                               "/nonexistent/dir/eps.safetensors", NULL),
                   1, "does not exist", "missing output folder");
    tu_expect_exit(tu_run_difu("init", "--model", "tiny", "--seed", "1", "--out",
                               "/nonexistent/dir/ck.safetensors", NULL),
                   1, "does not exist", "init into a missing folder");
    tu_expect_exit(tu_run_difu("digest", "/nonexistent/x.safetensors", NULL), 1,
                   "/nonexistent/x.safetensors", "digest of a missing file");
    tu_expect_exit(tu_run_difu("model", "/nonexistent/x.safetensors", NULL), 1,
                   "/nonexistent/x.safetensors", "model of a missing file");
    tu_rm_tree(dir);
    difu_engine_destroy(e);
}
