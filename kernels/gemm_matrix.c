/* gemm_matrix.c: difu_gemm_packed, the team kernel behind difu_gemm: strided batched row-major
 * C_b = alpha op(A_b) op(B_b) + beta C_b on the packed core (gemm.c). alpha is applied while packing
 * A; beta other than 0 or 1 scales this thread's part of C first. Threads take whole matrices when
 * the batch is large, else tiles of each matrix; sums over k never cross threads. */
#include "gemm_driver.h"

typedef struct mat_src {
    const float *p;
    int64_t ld;
    int trans;
    float alpha;
} mat_src;

/* A is m x k (or k x m when trans). */
static void pack_a_matrix(const void *ctx, int i0, int rows, int p0, int kc, int mr, float *dst)
{
    const mat_src *s = ctx;
    for (int q = 0; q * mr < rows; q++) {
        float *d = dst + (size_t)q * kc * mr;
        int n = rows - q * mr < mr ? rows - q * mr : mr;
        for (int ii = 0; ii < mr; ii++) {
            int i = i0 + q * mr + ii;
            if (ii >= n) {
                for (int p = 0; p < kc; p++)
                    d[p * mr + ii] = 0.0f;
            } else if (!s->trans) {
                const float *row = s->p + (int64_t)i * s->ld + p0;
                for (int p = 0; p < kc; p++)
                    d[p * mr + ii] = s->alpha * row[p];
            } else {
                const float *col = s->p + (int64_t)p0 * s->ld + i;
                for (int p = 0; p < kc; p++)
                    d[p * mr + ii] = s->alpha * col[(int64_t)p * s->ld];
            }
        }
    }
}

/* B is k x n (or n x k when trans). */
static void pack_b_matrix(const void *ctx, int j0, int cols, int p0, int kc, int nr, float *dst)
{
    const mat_src *s = ctx;
    for (int q = 0; q * nr < cols; q++) {
        float *d = dst + (size_t)q * kc * nr;
        int jb = j0 + q * nr;
        int n = cols - q * nr < nr ? cols - q * nr : nr;
        if (!s->trans) {
            for (int p = 0; p < kc; p++) {
                const float *row = s->p + (int64_t)(p0 + p) * s->ld + jb;
                float *dp = d + (size_t)p * nr;
                for (int jj = 0; jj < n; jj++)
                    dp[jj] = row[jj];
                for (int jj = n; jj < nr; jj++)
                    dp[jj] = 0.0f;
            }
        } else {
            for (int jj = 0; jj < nr; jj++) {
                if (jj >= n) {
                    for (int p = 0; p < kc; p++)
                        d[p * nr + jj] = 0.0f;
                    continue;
                }
                const float *row = s->p + (int64_t)(jb + jj) * s->ld + p0;
                for (int p = 0; p < kc; p++)
                    d[p * nr + jj] = row[p];
            }
        }
    }
}

static void one_matrix(const difu_kernels *k, const difu_gemm_desc *d, const float *a,
                       const float *b, float *c, int m0, int m1, int n0, int n1, void *scratch)
{
    if (m0 >= m1 || n0 >= n1)
        return;
    mat_src sa = {a, d->lda, d->trans_a, d->alpha};
    mat_src sb = {b, d->ldb, d->trans_b, 1.0f};
    difu_gemm_problem g = {
        .m = d->m, .n = d->n, .k = d->k,
        .pack_a = pack_a_matrix, .ctx_a = &sa,
        .pack_b = pack_b_matrix, .ctx_b = &sb,
        .out = difu_gemm_out_matrix(c, d->ldc, d->n),
        .bias = NULL,
        .accumulate = d->beta != 0.0f,
    };
    if (d->beta != 0.0f && d->beta != 1.0f)
        for (int i = m0; i < m1; i++)
            for (int j = n0; j < n1; j++)
                c[(int64_t)i * d->ldc + j] *= d->beta;
    if (d->alpha == 0.0f || d->k == 0) {
        if (d->beta == 0.0f)
            for (int i = m0; i < m1; i++)
                for (int j = n0; j < n1; j++)
                    c[(int64_t)i * d->ldc + j] = 0.0f;
        return;
    }
    difu_gemm_run(k, &g, m0, m1, n0, n1, scratch);
}

void difu_gemm_packed(const difu_kernels *k, const difu_gemm_desc *d, const float *a,
                      const float *b, float *c, void *scratch, int ith, int nth)
{
    if (d->batch >= 2 * nth || d->batch % nth == 0) {
        int64_t b0 = (int64_t)d->batch * ith / nth, b1 = (int64_t)d->batch * (ith + 1) / nth;
        for (int64_t i = b0; i < b1; i++)
            one_matrix(k, d, a + i * d->stride_a, b + i * d->stride_b, c + i * d->stride_c, 0,
                       d->m, 0, d->n, scratch);
        return;
    }
    int m0, m1, n0, n1;
    difu_gemm_split(&k->gemm_ukernel, d->m, d->n, ith, nth, &m0, &m1, &n0, &n1);
    for (int64_t i = 0; i < d->batch; i++)
        one_matrix(k, d, a + i * d->stride_a, b + i * d->stride_b, c + i * d->stride_c, m0, m1,
                   n0, n1, scratch);
}
