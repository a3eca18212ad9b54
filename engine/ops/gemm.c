/* gemm.c: the strided batched GEMM op on raw buffers: argument checks with messages, then the
 * engine's team kernel across its threads (threads split matrices or tiles, never k). */
#include <limits.h>

#include "engine_internal.h"

typedef struct gemm_ctx {
    const difu_kernels *k;
    const difu_gemm_desc *d;
    const float *a, *b;
    float *c;
} gemm_ctx;

static void run_gemm(void *ctx, void *scratch, int ith, int nth)
{
    const gemm_ctx *g = ctx;
    g->k->gemm(g->k, g->d, g->a, g->b, g->c, scratch, ith, nth);
}

/* Elements spanned by one matrix of `rows` rows of `cols` with row stride ld. */
static int64_t extent(int rows, int cols, int ld)
{
    return (int64_t)(rows - 1) * ld + cols;
}

difu_status difu_gemm(difu_engine *e, const difu_gemm_desc *d, const float *a, const float *b,
                      float *c)
{
    if (!e)
        return DIFU_ERR_INVALID_ARG;
    if (!d)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "gemm: the descriptor is NULL");
    if (d->m <= 0 || d->n <= 0 || d->k <= 0 || d->batch <= 0)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "gemm: sizes must be positive, got m=%d n=%d k=%d batch=%d", d->m, d->n,
                         d->k, d->batch);
    if ((d->trans_a != 0 && d->trans_a != 1) || (d->trans_b != 0 && d->trans_b != 1))
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "gemm: trans_a=%d trans_b=%d must be 0 or 1",
                         d->trans_a, d->trans_b);
    int a_rows = d->trans_a ? d->k : d->m, a_cols = d->trans_a ? d->m : d->k;
    int b_rows = d->trans_b ? d->n : d->k, b_cols = d->trans_b ? d->k : d->n;
    if (d->lda < a_cols || d->ldb < b_cols || d->ldc < d->n)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "gemm: leading dimensions too small: lda=%d (needs >= %d), ldb=%d "
                         "(needs >= %d), ldc=%d (needs >= %d)", d->lda, a_cols, d->ldb, b_cols,
                         d->ldc, d->n);
    int64_t ea = extent(a_rows, a_cols, d->lda), eb = extent(b_rows, b_cols, d->ldb);
    int64_t ec = extent(d->m, d->n, d->ldc);
    if (d->batch > 1 && (d->stride_a < 0 || d->stride_b < 0 || d->stride_c < ec))
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "gemm: batch strides a=%lld b=%lld must be >= 0 and c=%lld >= %lld (C "
                         "matrices may not overlap)", (long long)d->stride_a,
                         (long long)d->stride_b, (long long)d->stride_c, (long long)ec);
    const int64_t limit = (int64_t)(SIZE_MAX / sizeof(float) / 2);
    int64_t nb = d->batch - 1;
    if ((d->stride_a && nb > (limit - ea) / d->stride_a) ||
        (d->stride_b && nb > (limit - eb) / d->stride_b) ||
        (d->stride_c && nb > (limit - ec) / d->stride_c))
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "gemm: batch=%d with strides a=%lld b=%lld c=%lld overflows", d->batch,
                         (long long)d->stride_a, (long long)d->stride_b, (long long)d->stride_c);
    if (!a || !b || !c)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "gemm: NULL buffer (a %p, b %p, c %p)",
                         (const void *)a, (const void *)b, (void *)c);
    gemm_ctx g = {.k = &e->kernels, .d = d, .a = a, .b = b, .c = c};
    difu_run_team(e, run_gemm, &g);
    return DIFU_OK;
}
