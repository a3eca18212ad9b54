/* conv2d_winograd5_xform.h: the Winograd F(5x5, 3x3) tile transforms of kernels/conv2d_winograd.c
 * (input and output; backward-weights stays on F(4x4, 3x3)) as a template, like
 * conv2d_winograd_xform.h: a file defines WINO5_INPUT_FN and WINO5_OUTPUT_FN and includes this,
 * once with generic flags (conv2d_winograd.c) and once per ISA folder with that ISA's flags, so
 * the lane loops (lanes = the tiles of a block) vectorise at the ISA's width. Apart from those
 * two, everything here is static.
 *
 * The points are 0, +-1, +-2, -1/2 and infinity (derived with Toom-Cook, the script in
 * tests/data/winograd_f5.py): a 5x5 output tile from a 7x7 input tile, 49 products per tile and
 * channel pair, for images whose 5-wide tiles waste less than 4-wide ones (14x14: 9 tiles of 49
 * points instead of 16 of 36). */
#include <string.h>

#include "conv2d_winograd.h"

/* ---------------------------------------------------------------- input tiles */

/* B^T d for one column of 7, rows scaled by 2 except o5 (the weights' G is scaled by 1/2 to
 * match, conv2d_winograd.c), which lets the rows share their parts: 22 operations, not 28. */
#define BT7(o0, o1, o2, o3, o4, o5, o6, d0, d1, d2, d3, d4, d5, d6)                                \
    do {                                                                                           \
        float r5 = 4.0f * (d1) + ((d5) - 5.0f * (d3));                                             \
        float f42 = (d4) - 4.0f * (d2), f53 = (d5) - 4.0f * (d3), f31 = (d3) - 4.0f * (d1);        \
        float s1 = f42 + 2.0f * f53, t1 = f31 + 2.0f * f42;                                        \
        float e42 = (d4) - (d2), s2 = e42 + 2.0f * ((d5) - (d3)), t2 = ((d3) - (d1)) + 2.0f * e42; \
        o0 = (4.0f * (d0) + ((d4) - 5.0f * (d2))) + 2.0f * r5;                                     \
        o1 = s1 + t1;                                                                              \
        o2 = s1 - t1;                                                                              \
        o3 = s2 + 2.0f * t2;                                                                       \
        o4 = s2 - 2.0f * t2;                                                                       \
        o5 = r5;                                                                                   \
        o6 = r5 + 2.0f * (4.0f * (d2) + ((d6) - 5.0f * (d4)));                                     \
    } while (0)

/* d[k] = s[k], k < n, inline in blocks of 8 (a run's row segment). */
static inline void copy_span5(int n, const float *restrict s, float *restrict d)
{
    int k = 0;
    for (; k + 8 <= n; k += 8) {
        float t[8];
        for (int i = 0; i < 8; i++)
            t[i] = s[k + i];
        for (int i = 0; i < 8; i++)
            d[k + i] = t[i];
    }
    for (; k < n; k++)
        d[k] = s[k];
}

/* d_c[k] = s[5k + c], c < 5, k < n: the 5 column phases of tiles laid out 5 floats apart. */
static inline void deinterleave5(int n, const float *restrict s, float *restrict d0,
                                 float *restrict d1, float *restrict d2, float *restrict d3,
                                 float *restrict d4)
{
    for (int k = 0; k < n; k++) {
        d0[k] = s[5 * k];
        d1[k] = s[5 * k + 1];
        d2[k] = s[5 * k + 2];
        d3[k] = s[5 * k + 3];
        d4[k] = s[5 * k + 4];
    }
}

/* Prefetches rows [5*ty + r0, 5*ty + r0 + nrows) of the run's columns in plane [h, w]. */
static void prefetch_run5(const difu_wino_geom *g, const float *plane, const difu_wino_run *rn,
                          int r0, int nrows)
{
    int col0 = 5 * rn->tx - 1 < 0 ? 0 : 5 * rn->tx - 1;
    int col1 = 5 * (rn->tx + rn->len) + 1 < g->w ? 5 * (rn->tx + rn->len) + 1 : g->w - 1;
    for (int r = 0; r < nrows; r++) {
        int row = 5 * rn->ty + r0 + r;
        if (row < 0 || row >= g->h)
            continue;
        const float *s = plane + (int64_t)row * g->w;
        for (int q = col0; q <= col1; q += 16)
            __builtin_prefetch(s + q, 0, 2);
        __builtin_prefetch(s + col1, 0, 2);
    }
}

/* Gathers the 7x7 input patches of channel ci for the block's tiles: element (r, cc) of block
 * column j at pt[(r*7 + cc)*nbp + j], zeros outside the image. Per patch row: the runs' row
 * segments go into line at 5 floats per tile, their last 2 columns (cc 5, 6 of a run's last tile)
 * into tails; one deinterleave gives cc 0..4 of every tile, and cc 5, 6 are cc 0, 1 of the next
 * tile, or the tails at a run's end. */
static void gather_block5(const difu_wino_geom *g, const float *src, int ci,
                          const difu_wino_run *runs, int nrun, int ncols, float *line, float *pt)
{
    const int nbp = g->nbp, c = g->c;
    const int64_t hw = (int64_t)g->h * g->w;
    float *tail5 = line + 5 * (int64_t)nbp + 16, *tail6 = tail5 + nbp;
    if (ncols > runs[nrun - 1].jj + runs[nrun - 1].len) {
        int used = runs[nrun - 1].jj + runs[nrun - 1].len;
        memset(line + 5 * used, 0, sizeof(float) * (size_t)(5 * (ncols - used)));
    }
    if (ci + 4 < c) /* the planes are small and far apart: fetch 4 channels ahead */
        for (int ri = 0; ri < nrun; ri++)
            prefetch_run5(g, src + ((int64_t)runs[ri].img * c + ci + 4) * hw, &runs[ri], -1, 7);
    for (int r = 0; r < 7; r++) {
        for (int ri = 0; ri < nrun; ri++) {
            const difu_wino_run *rn = &runs[ri];
            float *d = line + 5 * rn->jj;
            const int n5 = 5 * rn->len, col0 = 5 * rn->tx - 1, row = 5 * rn->ty - 1 + r;
            if (row < 0 || row >= g->h) {
                memset(d, 0, sizeof(float) * (size_t)n5);
                tail5[ri] = tail6[ri] = 0.0f;
                continue;
            }
            const float *s = src + ((int64_t)rn->img * c + ci) * hw + (int64_t)row * g->w + col0;
            int lo = col0 < 0 ? 1 : 0, hi = g->w - col0 < n5 ? g->w - col0 : n5;
            if (lo)
                d[0] = 0.0f;
            copy_span5(hi - lo, s + lo, d + lo);
            for (int q = hi; q < n5; q++)
                d[q] = 0.0f;
            tail5[ri] = col0 + n5 < g->w ? s[n5] : 0.0f;
            tail6[ri] = col0 + n5 + 1 < g->w ? s[n5 + 1] : 0.0f;
        }
        float *d = pt + (int64_t)r * 7 * nbp;
        deinterleave5(ncols, line, d, d + nbp, d + 2 * nbp, d + 3 * nbp, d + 4 * nbp);
        copy_span5(ncols - 1, d + 1, d + 5 * nbp);
        copy_span5(ncols - 1, d + nbp + 1, d + 6 * nbp);
        for (int ri = 0; ri < nrun; ri++) {
            int e = runs[ri].jj + runs[ri].len - 1;
            d[5 * nbp + e] = tail5[ri];
            d[6 * nbp + e] = tail6[ri];
        }
    }
}

/* o_r[k] = (B^T d)_r over k < n: 14 disjoint arrays (restrict: no alias checks). */
static inline void bt7_rows(int n, const float *restrict d0, const float *restrict d1,
                            const float *restrict d2, const float *restrict d3,
                            const float *restrict d4, const float *restrict d5,
                            const float *restrict d6, float *restrict o0, float *restrict o1,
                            float *restrict o2, float *restrict o3, float *restrict o4,
                            float *restrict o5, float *restrict o6)
{
    for (int k = 0; k < n; k++)
        BT7(o0[k], o1[k], o2[k], o3[k], o4[k], o5[k], o6[k], d0[k], d1[k], d2[k], d3[k], d4[k],
            d5[k], d6[k]);
}

/* V = B^T d B of the patches pt for block columns of panel pan, lanes over the panel's nr
 * columns: V[xi] of column pan*nr + k stored at dst + xi*xstride + k; t holds 49*nr floats. */
static void transform_patches5(const float *pt, int nbp, int pan, int nr, float *t, float *dst,
                               int64_t xstride)
{
    const int64_t s = 7 * (int64_t)nbp, q = 7 * (int64_t)nr;
    for (int cc = 0; cc < 7; cc++) { /* B^T down the columns: t[(r'*7 + cc)*nr + k] */
        const float *d = pt + cc * nbp + pan * nr;
        float *o = t + cc * nr;
        bt7_rows(nr, d, d + s, d + 2 * s, d + 3 * s, d + 4 * s, d + 5 * s, d + 6 * s, o, o + q,
                 o + 2 * q, o + 3 * q, o + 4 * q, o + 5 * q, o + 6 * q);
    }
    for (int r = 0; r < 7; r++) { /* B along the rows */
        const float *e = t + r * q;
        float *o = dst + (int64_t)(r * 7) * xstride;
        bt7_rows(nr, e, e + nr, e + 2 * nr, e + 3 * nr, e + 4 * nr, e + 5 * nr, e + 6 * nr, o,
                 o + xstride, o + 2 * xstride, o + 3 * xstride, o + 4 * xstride, o + 5 * xstride,
                 o + 6 * xstride);
    }
}

/* The contract of difu_wino_xforms.input (conv2d_winograd.h) for g->tile == 5: V = B^T d B of
 * channels [c0, c1) for the block's tiles [0, cnt), 49 planes. */
void WINO5_INPUT_FN(const difu_wino_geom *g, const float *src, const difu_wino_run *runs,
                    int nrun, int cnt, int c0, int c1, float *dst, int64_t xstride,
                    int64_t pstride, int64_t cstride, const difu_wino_bufs *p);
void WINO5_INPUT_FN(const difu_wino_geom *g, const float *src, const difu_wino_run *runs,
                    int nrun, int cnt, int c0, int c1, float *dst, int64_t xstride,
                    int64_t pstride, int64_t cstride, const difu_wino_bufs *p)
{
    const int nr = g->nr, nbp = g->nbp, npu = (cnt + nr - 1) / nr;
    for (int ci = c0; ci < c1; ci++) {
        gather_block5(g, src, ci, runs, nrun, npu * nr, p->line, p->patch);
        for (int pan = 0; pan < npu; pan++)
            transform_patches5(p->patch, nbp, pan, nr, p->t,
                               dst + pan * pstride + (ci - c0) * cstride, xstride);
    }
}

/* ---------------------------------------------------------------- output tiles */

/* A^T m for one column of 7 (5 outputs). */
#define AT5(o0, o1, o2, o3, o4, m0, m1, m2, m3, m4, m5, m6)                                        \
    do {                                                                                           \
        float s12 = (m1) + (m2), d12 = (m1) - (m2), s34 = (m3) + (m4), d34 = (m3) - (m4);          \
        o0 = (m0) + s12 + s34 + (m5);                                                              \
        o1 = d12 + 2.0f * d34 - 0.5f * (m5);                                                       \
        o2 = s12 + 4.0f * s34 + 0.25f * (m5);                                                      \
        o3 = d12 + 8.0f * d34 - 0.125f * (m5);                                                     \
        o4 = s12 + 16.0f * s34 + 0.0625f * (m5) + (m6);                                            \
    } while (0)

/* o_r[k] = (A^T m)_r over k < n, 12 disjoint arrays. */
static inline void at5_rows(int n, const float *restrict m0, const float *restrict m1,
                            const float *restrict m2, const float *restrict m3,
                            const float *restrict m4, const float *restrict m5,
                            const float *restrict m6, float *restrict o0, float *restrict o1,
                            float *restrict o2, float *restrict o3, float *restrict o4)
{
    for (int k = 0; k < n; k++)
        AT5(o0[k], o1[k], o2[k], o3[k], o4[k], m0[k], m1[k], m2[k], m3[k], m4[k], m5[k], m6[k]);
}

/* Y = A^T M A of block columns [0, ncols) of one output channel, M[xi] at m + xi*xstride:
 * o[(r*5 + c')*nbp + j], with t (35*nbp floats) for A^T down the columns. */
static void output_transform5(const float *m, int64_t xstride, int ncols, int nbp, float *t,
                              float *o)
{
    const int64_t s = 7 * xstride, q = 7 * (int64_t)nbp;
    for (int c = 0; c < 7; c++) {
        const float *mc = m + (int64_t)c * xstride;
        float *tc = t + c * nbp;
        at5_rows(ncols, mc, mc + s, mc + 2 * s, mc + 3 * s, mc + 4 * s, mc + 5 * s, mc + 6 * s, tc,
                 tc + q, tc + 2 * q, tc + 3 * q, tc + 4 * q);
    }
    for (int r = 0; r < 5; r++) {
        const float *e = t + r * q;
        float *orow = o + r * 5 * nbp;
        at5_rows(ncols, e, e + nbp, e + 2 * nbp, e + 3 * nbp, e + 4 * nbp, e + 5 * nbp,
                 e + 6 * nbp, orow, orow + nbp, orow + 2 * nbp, orow + 3 * nbp, orow + 4 * nbp);
    }
}

/* d[5k + c] = s_c[k] + bv, c < 5, k < n (the inverse of deinterleave5), plus the bias. */
static inline void interleave5(int n, const float *restrict s0, const float *restrict s1,
                               const float *restrict s2, const float *restrict s3,
                               const float *restrict s4, float bv, float *restrict d)
{
    for (int k = 0; k < n; k++) {
        d[5 * k] = s0[k] + bv;
        d[5 * k + 1] = s1[k] + bv;
        d[5 * k + 2] = s2[k] + bv;
        d[5 * k + 3] = s3[k] + bv;
        d[5 * k + 4] = s4[k] + bv;
    }
}

/* The contract of difu_wino_xforms.output for g->tile == 5: Y = A^T M A (+ bv, then the epilogue
 * ep) of output channel o for the block's runs into dst [n, g->m, h, w]. */
void WINO5_OUTPUT_FN(const difu_wino_geom *g, const float *m, int64_t xstride, int ncols,
                     const difu_wino_run *runs, int nrun, int o, float bv,
                     const difu_conv_epilogue *ep, float *dst, const difu_wino_bufs *p);
void WINO5_OUTPUT_FN(const difu_wino_geom *g, const float *m, int64_t xstride, int ncols,
                     const difu_wino_run *runs, int nrun, int o, float bv,
                     const difu_conv_epilogue *ep, float *dst, const difu_wino_bufs *p)
{
    const int nbp = g->nbp;
    const int64_t hw = (int64_t)g->h * g->w;
    float *line = p->patch; /* free after the input transform */
    if (o + 2 < g->m) /* the rows this block writes 2 channels ahead: fetch them for writing */
        for (int ri = 0; ri < nrun; ri++)
            for (int r = 0; r < 5 && 5 * runs[ri].ty + r < g->h; r++) {
                const float *y = dst + ((int64_t)runs[ri].img * g->m + o + 2) * hw +
                                 (int64_t)(5 * runs[ri].ty + r) * g->w + 5 * runs[ri].tx;
                __builtin_prefetch(y, 1, 2);
                __builtin_prefetch(y + 5 * runs[ri].len - 1, 1, 2);
            }
    output_transform5(m, xstride, ncols, nbp, p->t, p->o);
    for (int r = 0; r < 5; r++) {
        const float *orow = p->o + r * 5 * nbp;
        interleave5(ncols, orow, orow + nbp, orow + 2 * nbp, orow + 3 * nbp, orow + 4 * nbp, bv,
                    line);
        for (int ri = 0; ri < nrun; ri++) {
            const difu_wino_run *rn = &runs[ri];
            int row = 5 * rn->ty + r, n5 = 5 * rn->len;
            if (row >= g->h)
                continue;
            if (n5 > g->w - 5 * rn->tx)
                n5 = g->w - 5 * rn->tx;
            const int64_t plane = (int64_t)rn->img * g->m + o;
            const int64_t at = plane * hw + (int64_t)row * g->w + 5 * rn->tx;
            copy_span5(n5, line + 5 * rn->jj, dst + at);
            if (ep)
                difu_conv_epilogue_span(ep, plane, at, n5, dst + at);
        }
    }
}
