/* test_golden.c: difu's U-Net against PyTorch (tools/pytorch/make_golden.py): fixed random
 * weights (no zero layers) and a fixed batch in tests/data/golden-<config>.safetensors give the
 * eps prediction (within 1e-4 of its largest magnitude), the loss, and the gradient of every
 * parameter (within 1e-3 of each tensor's largest magnitude), on every ISA this machine runs, at
 * 1 and 2 threads. Also the strict safetensors reader on malformed files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "safetensors.h"
#include "test_util.h"

static const difu_st_tensor *need(const difu_safetensors *s, const char *name, difu_st_dtype dt)
{
    const difu_st_tensor *t = tu_golden_tensor(s, name);
    cr_assert_eq(t->dtype, dt, "'%s' is %s", name, difu_st_dtype_name(t->dtype));
    return t;
}

static void check_golden(const char *preset, const char *file, difu_isa isa, int threads)
{
    difu_engine *e = tu_engine(isa, threads);
    difu_safetensors *s = tu_load_golden(e, file);
    difu_model_config c;
    cr_assert_eq(difu_model_preset(e, preset, &c), DIFU_OK);
    difu_model *m = NULL;
    cr_assert_eq(difu_model_create(e, &c, 1, &m), DIFU_OK, "%s", difu_engine_last_error(e));
    for (int i = 0; i < difu_model_tensor_count(m); i++) {
        int ndim;
        int64_t shape[DIFU_MAX_DIMS];
        const char *name = difu_model_tensor_info(m, i, &ndim, shape);
        const difu_st_tensor *t = need(s, name, DIFU_ST_F32);
        cr_assert_eq(t->ndim, ndim, "%s", name);
        for (int d = 0; d < ndim; d++)
            cr_assert_eq(t->shape[d], shape[d], "%s dim %d", name, d);
        difu_tensor p;
        cr_assert_eq(difu_model_param(m, name, &p), DIFU_OK);
        memcpy(p.data, difu_st_data(s, t), t->end - t->begin);
    }
    const difu_st_tensor *x = need(s, "x", DIFU_ST_F32), *t = need(s, "t", DIFU_ST_I64),
                         *y = need(s, "y", DIFU_ST_I64), *noise = need(s, "noise", DIFU_ST_F32),
                         *eps = need(s, "eps", DIFU_ST_F32), *loss = need(s, "loss", DIFU_ST_F32);
    int n = (int)x->shape[0];
    int64_t numel = difu_st_numel(x);
    float *xv = tu_alloc((size_t)numel), *nv = tu_alloc((size_t)numel), *ev = tu_alloc((size_t)numel),
          *ev2 = tu_alloc((size_t)numel);
    int64_t *tv = (int64_t *)tu_alloc((size_t)n * 2), *yv = (int64_t *)tu_alloc((size_t)n * 2);
    memcpy(xv, difu_st_data(s, x), (size_t)numel * 4);
    memcpy(nv, difu_st_data(s, noise), (size_t)numel * 4);
    memcpy(tv, difu_st_data(s, t), (size_t)n * 8);
    memcpy(yv, difu_st_data(s, y), (size_t)n * 8);
    float l = 0;
    cr_assert_eq(difu_model_forward_backward(m, n, xv, tv, yv, nv, &l, ev), DIFU_OK, "%s",
                 difu_engine_last_error(e));
    char what[320];
    snprintf(what, sizeof what, "%s %s %d threads: eps", preset, difu_isa_name(isa), threads);
    tu_assert_close_to_largest(what, ev, difu_st_data(s, eps), numel, 1e-4);
    const float want_loss = *(const float *)difu_st_data(s, loss);
    cr_assert(fabs(l - want_loss) <= 1e-4 * fabs(want_loss), "loss %.8g, PyTorch %.8g", l, want_loss);
    cr_assert_eq(difu_model_forward(m, n, xv, tv, yv, ev2), DIFU_OK);
    snprintf(what, sizeof what, "%s %s %d threads: forward-only eps", preset, difu_isa_name(isa), threads);
    tu_assert_close_to_largest(what, ev2, difu_st_data(s, eps), numel, 1e-4);
    for (int i = 0; i < difu_model_tensor_count(m); i++) {
        const char *name = difu_model_tensor_info(m, i, NULL, NULL);
        char gname[160];
        snprintf(gname, sizeof gname, "grad.%s", name);
        const difu_st_tensor *gt = need(s, gname, DIFU_ST_F32);
        difu_tensor g;
        cr_assert_eq(difu_model_grad(m, name, &g), DIFU_OK);
        snprintf(what, sizeof what, "%s %s %d threads: %s", preset, difu_isa_name(isa), threads, gname);
        tu_assert_close_to_largest(what, g.data, difu_st_data(s, gt), difu_st_numel(gt),
                                   1e-3);
    }
    tu_free(xv);
    tu_free(nv);
    tu_free(ev);
    tu_free(ev2);
    tu_free(tv);
    tu_free(yv);
    difu_model_destroy(m);
    difu_st_free(s);
    difu_engine_destroy(e);
}

Test(golden, tiny_matches_pytorch)
{
    difu_isa isas[DIFU_ISA_COUNT];
    int k = tu_runnable_isas(isas);
    for (int i = 0; i < k; i++)
        for (int threads = 1; threads <= 2; threads++)
            check_golden("tiny", "golden-tiny.safetensors", isas[i], threads);
}

Test(golden, fmnist_t_matches_pytorch)
{
    difu_isa isas[DIFU_ISA_COUNT];
    int k = tu_runnable_isas(isas);
    for (int i = 0; i < k; i++)
        check_golden("fmnist-t", "golden-fmnist-t.safetensors", isas[i], i == k - 1 ? 2 : 1);
}

/* ---------------------------------------------------------------- the reader refuses bad files */

/* A file of one tensor "w" with the given header text and data length. */
static difu_status parse_text(difu_engine *e, const char *header, size_t data_len)
{
    size_t hl = strlen(header), size = 8 + hl + data_len;
    unsigned char *buf = calloc(1, size);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(((uint64_t)hl >> (8 * i)) & 0xff);
    memcpy(buf + 8, header, hl);
    difu_safetensors *s = NULL;
    difu_status st = difu_st_parse(e, buf, size, "test.safetensors", &s);
    difu_st_free(s);
    free(buf);
    return st;
}

static void refused(difu_engine *e, const char *header, size_t data_len, const char *needle)
{
    cr_assert_eq(parse_text(e, header, data_len), DIFU_ERR_FORMAT, "accepted: %s", header);
    cr_assert(strstr(difu_engine_last_error(e), needle), "message '%s' lacks '%s'",
              difu_engine_last_error(e), needle);
}

Test(safetensors, strict_reader_refuses_malformed_files)
{
    difu_engine *e = tu_engine(DIFU_ISA_REF, 1);
    cr_assert_eq(parse_text(e, "{\"__metadata__\":{\"a\":\"b\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                               "\"data_offsets\":[0,24]}}", 24), DIFU_OK, "%s", difu_engine_last_error(e));
    refused(e, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20,
            "tensor 'w' F32 needs 24 bytes, offsets give 20");
    refused(e, "{\"w\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
            "tensor 'w' has unsupported dtype F16");
    refused(e, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8,
            "the tensors cover 4 bytes, the data buffer has 8");
    refused(e, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
            "duplicate tensor 'w'");
    refused(e, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "overlap");
    refused(e, "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "bad shape");
    refused(e, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
            "needs exactly dtype, shape, data_offsets");
    refused(e, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "outside");
    refused(e, "{\"__metadata__\":{\"a\":1}}", 0, "is not a string");
    refused(e, "[1,2]", 0, "not a JSON object");
    refused(e, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", 4,
            "bytes after its JSON object");
    unsigned char tiny[4] = {0};
    difu_safetensors *s = NULL;
    cr_assert_eq(difu_st_parse(e, tiny, 4, "t4", &s), DIFU_ERR_FORMAT);
    unsigned char huge[16] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    cr_assert_eq(difu_st_parse(e, huge, 16, "t16", &s), DIFU_ERR_FORMAT);
    cr_assert(strstr(difu_engine_last_error(e), "header length"));
    cr_assert_eq(difu_st_read(e, "/nonexistent/x.safetensors", &s), DIFU_ERR_IO);
    cr_assert(s == NULL);
    difu_engine_destroy(e);
}
