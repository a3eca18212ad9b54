/* conv2d_winograd_xform.h: the Winograd tile transforms of kernels/conv2d_winograd.c as a
 * template, for 4x4 output tiles (F(4x4, 3x3): input, output, dy) and 5x5 ones (F(5x5, 3x3):
 * input and output): a file defines WINO_INPUT_FN, WINO_OUTPUT_FN, WINO_DY_FN, WINO5_INPUT_FN and
 * WINO5_OUTPUT_FN and includes this with the flags it is built with (conv2d_winograd.c: the
 * generic ones), so the compiler vectorises the lane loops (lanes = the tiles of a block) at that
 * width. Apart from those five, everything here is static; the shared steps take the tile side T
 * (4 or 5) and are inlined into each entry, so T is a constant in each.
 *
 * F(5x5, 3x3) uses the points 0, +-1, +-2, -1/2 and infinity (tests/data/winograd_f5.py derives
 * the matrices and checks them exactly), for images whose 5-wide tiles waste less than 4-wide ones
 * (14x14: 9 tiles of 49 points instead of 16 of 36). */
#include <string.h>

#include "conv2d_winograd.h"

/* ---------------------------------------------------------------- input tiles */

/* B^T d for one column of 6: out[r*ld] from in[r*ld]. */
#define BT6(o0, o1, o2, o3, o4, o5, d0, d1, d2, d3, d4, d5)                                        \
    do {                                                                                           \
        o0 = 4.0f * (d0) - 5.0f * (d2) + (d4);                                                     \
        o1 = -4.0f * ((d1) + (d2)) + (d3) + (d4);                                                  \
        o2 = 4.0f * ((d1) - (d2)) - (d3) + (d4);                                                   \
        o3 = 2.0f * ((d3) - (d1)) - (d2) + (d4);                                                   \
        o4 = 2.0f * ((d1) - (d3)) - (d2) + (d4);                                                   \
        o5 = 4.0f * (d1) - 5.0f * (d3) + (d5);                                                     \
    } while (0)

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

/* d_c[k] = s[4k + c], c < 4, k < n: the 4 column phases of tiles laid out 4 floats apart. */
static inline void deinterleave4(int n, const float *restrict s, float *restrict d0,
                                 float *restrict d1, float *restrict d2, float *restrict d3)
{
    for (int k = 0; k < n; k++) {
        d0[k] = s[4 * k];
        d1[k] = s[4 * k + 1];
        d2[k] = s[4 * k + 2];
        d3[k] = s[4 * k + 3];
    }
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

/* d[k] = s[k], k < n: short copies (a run's row segment), inline in blocks of 8 rather than a
 * memcpy call per segment. */
static inline void copy_floats(int n, const float *restrict s, float *restrict d)
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

/* Prefetches rows [T*ty + r0, T*ty + r0 + nrows) of the run's columns in plane [h, w]
 * (T = g->tile). */
static void prefetch_run(const difu_wino_geom *g, const float *plane, const difu_wino_run *rn,
                         int r0, int nrows)
{
    const int T = g->tile;
    int col0 = T * rn->tx - 1 < 0 ? 0 : T * rn->tx - 1;
    int col1 = T * (rn->tx + rn->len) + 1 < g->w ? T * (rn->tx + rn->len) + 1 : g->w - 1;
    for (int r = 0; r < nrows; r++) {
        int row = T * rn->ty + r0 + r;
        if (row < 0 || row >= g->h)
            continue;
        const float *s = plane + (int64_t)row * g->w;
        for (int q = col0; q <= col1; q += 16)
            __builtin_prefetch(s + q, 0, 2);
        __builtin_prefetch(s + col1, 0, 2);
    }
}

/* Gathers the (T+2)x(T+2) input patches of channel ci for the block's tiles: element (r, cc) of
 * block column j at pt[(r*(T+2) + cc)*nbp + j], zeros outside the image. Per patch row r: the
 * runs' image row segments go into line at T floats per tile (tile j's columns cc < T at
 * line[T*j + cc]); their last 2 columns (cc T, T+1 of a run's last tile) into tails; then one
 * long deinterleave gives cc 0..T-1 of every tile, and cc T, T+1 are cc 0, 1 of the next tile,
 * or the tails at a run's end. */
static inline __attribute__((always_inline)) void
gather_block(const int T, const difu_wino_geom *g, const float *src, int ci,
             const difu_wino_run *runs, int nrun, int ncols, float *line, float *pt)
{
    const int nbp = g->nbp, c = g->c, N = T + 2;
    const int64_t hw = (int64_t)g->h * g->w;
    float *tail0 = line + T * (int64_t)nbp + 16, *tail1 = tail0 + nbp;
    if (ncols > runs[nrun - 1].jj + runs[nrun - 1].len) {
        int used = runs[nrun - 1].jj + runs[nrun - 1].len;
        memset(line + T * used, 0, sizeof(float) * (size_t)(T * (ncols - used)));
    }
    if (ci + 4 < c) /* the planes are small and far apart: fetch 4 channels ahead */
        for (int ri = 0; ri < nrun; ri++)
            prefetch_run(g, src + ((int64_t)runs[ri].img * c + ci + 4) * hw, &runs[ri], -1, N);
    for (int r = 0; r < N; r++) {
        for (int ri = 0; ri < nrun; ri++) {
            const difu_wino_run *rn = &runs[ri];
            float *d = line + T * rn->jj;
            const int nt = T * rn->len, col0 = T * rn->tx - 1, row = T * rn->ty - 1 + r;
            if (row < 0 || row >= g->h) {
                memset(d, 0, sizeof(float) * (size_t)nt);
                tail0[ri] = tail1[ri] = 0.0f;
                continue;
            }
            const float *s = src + ((int64_t)rn->img * c + ci) * hw + (int64_t)row * g->w + col0;
            int lo = col0 < 0 ? 1 : 0, hi = g->w - col0 < nt ? g->w - col0 : nt;
            if (lo)
                d[0] = 0.0f;
            copy_floats(hi - lo, s + lo, d + lo);
            for (int q = hi; q < nt; q++)
                d[q] = 0.0f;
            tail0[ri] = col0 + nt < g->w ? s[nt] : 0.0f;
            tail1[ri] = col0 + nt + 1 < g->w ? s[nt + 1] : 0.0f;
        }
        float *d = pt + (int64_t)r * N * nbp;
        if (T == 4)
            deinterleave4(ncols, line, d, d + nbp, d + 2 * nbp, d + 3 * nbp);
        else
            deinterleave5(ncols, line, d, d + nbp, d + 2 * nbp, d + 3 * nbp, d + 4 * nbp);
        copy_floats(ncols - 1, d + 1, d + T * nbp);
        copy_floats(ncols - 1, d + nbp + 1, d + (T + 1) * nbp);
        for (int ri = 0; ri < nrun; ri++) {
            int e = runs[ri].jj + runs[ri].len - 1;
            d[T * nbp + e] = tail0[ri];
            d[(T + 1) * nbp + e] = tail1[ri];
        }
    }
}

/* o_r[k] = (B^T d)_r over k < n: the inputs d0..d5 and outputs o0..o5 are 12 disjoint arrays
 * (restrict parameters, so the loop vectorises without alias checks). */
static inline void bt6_rows(int n, const float *restrict d0, const float *restrict d1,
                            const float *restrict d2, const float *restrict d3,
                            const float *restrict d4, const float *restrict d5,
                            float *restrict o0, float *restrict o1, float *restrict o2,
                            float *restrict o3, float *restrict o4, float *restrict o5)
{
    for (int k = 0; k < n; k++)
        BT6(o0[k], o1[k], o2[k], o3[k], o4[k], o5[k], d0[k], d1[k], d2[k], d3[k], d4[k], d5[k]);
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

/* B^T along N = T+2 columns of the N arrays at d + i*sd, lanes k < n, to o + i*so. */
static inline __attribute__((always_inline)) void bt_rows(const int T, int n, const float *d,
                                                          int64_t sd, float *o, int64_t so)
{
    if (T == 4)
        bt6_rows(n, d, d + sd, d + 2 * sd, d + 3 * sd, d + 4 * sd, d + 5 * sd, o, o + so,
                 o + 2 * so, o + 3 * so, o + 4 * so, o + 5 * so);
    else
        bt7_rows(n, d, d + sd, d + 2 * sd, d + 3 * sd, d + 4 * sd, d + 5 * sd, d + 6 * sd, o,
                 o + so, o + 2 * so, o + 3 * so, o + 4 * so, o + 5 * so, o + 6 * so);
}

/* V = B^T d B of the patches pt for block columns of panel pan, lanes over the panel's nr
 * columns: V[xi] of column pan*nr + k stored at dst + xi*xstride + k; t holds N*N*nr floats. */
static inline __attribute__((always_inline)) void
transform_patches(const int T, const float *pt, int nbp, int pan, int nr, float *t, float *dst,
                  int64_t xstride)
{
    const int N = T + 2;
    const int64_t q = N * (int64_t)nr;
    for (int cc = 0; cc < N; cc++) /* B^T down the columns: t[(r'*N + cc)*nr + k] */
        bt_rows(T, nr, pt + cc * nbp + pan * nr, N * (int64_t)nbp, t + cc * nr, q);
    for (int r = 0; r < N; r++) /* B along the rows */
        bt_rows(T, nr, t + r * q, nr, dst + (int64_t)(r * N) * xstride, xstride);
}

/* V = B^T d B of channels [c0, c1) of src [n, g->c, h, w] for the block's tiles [0, cnt):
 * element (xi, ci, column j) at dst + xi*xstride + (j/nr)*pstride + (ci - c0)*cstride + j%nr, for
 * the columns of ceil(cnt/nr) panels (columns past cnt zero). */
static inline __attribute__((always_inline)) void
input_tiles(const int T, const difu_wino_geom *g, const float *src, const difu_wino_run *runs,
            int nrun, int cnt, int c0, int c1, float *dst, int64_t xstride, int64_t pstride,
            int64_t cstride, const difu_wino_bufs *p)
{
    const int nr = g->nr, nbp = g->nbp, npu = (cnt + nr - 1) / nr;
    for (int ci = c0; ci < c1; ci++) {
        gather_block(T, g, src, ci, runs, nrun, npu * nr, p->line, p->patch);
        for (int pan = 0; pan < npu; pan++)
            transform_patches(T, p->patch, nbp, pan, nr, p->t,
                              dst + pan * pstride + (ci - c0) * cstride, xstride);
    }
}

/* The contract of difu_wino_xforms.input (conv2d_winograd.h): 4x4 tiles, 36 planes. */
void WINO_INPUT_FN(const difu_wino_geom *g, const float *src, const difu_wino_run *runs, int nrun,
                   int cnt, int c0, int c1, float *dst, int64_t xstride, int64_t pstride,
                   int64_t cstride, const difu_wino_bufs *p);
void WINO_INPUT_FN(const difu_wino_geom *g, const float *src, const difu_wino_run *runs, int nrun,
                   int cnt, int c0, int c1, float *dst, int64_t xstride, int64_t pstride,
                   int64_t cstride, const difu_wino_bufs *p)
{
    input_tiles(4, g, src, runs, nrun, cnt, c0, c1, dst, xstride, pstride, cstride, p);
}

/* The same for 5x5 tiles (g->tile == 5), 49 planes. */
void WINO5_INPUT_FN(const difu_wino_geom *g, const float *src, const difu_wino_run *runs,
                    int nrun, int cnt, int c0, int c1, float *dst, int64_t xstride,
                    int64_t pstride, int64_t cstride, const difu_wino_bufs *p);
void WINO5_INPUT_FN(const difu_wino_geom *g, const float *src, const difu_wino_run *runs,
                    int nrun, int cnt, int c0, int c1, float *dst, int64_t xstride,
                    int64_t pstride, int64_t cstride, const difu_wino_bufs *p)
{
    input_tiles(5, g, src, runs, nrun, cnt, c0, c1, dst, xstride, pstride, cstride, p);
}

/* A dY for one column of 4 (6 outputs): the transpose of the output transform. */
#define A6(o0, o1, o2, o3, o4, o5, d0, d1, d2, d3)                                                 \
    do {                                                                                           \
        float s02 = (d0) + (d2), s13 = (d1) + (d3), e02 = (d0) + 4.0f * (d2);                      \
        float e13 = 2.0f * (d1) + 8.0f * (d3);                                                     \
        o0 = (d0);                                                                                 \
        o1 = s02 + s13;                                                                            \
        o2 = s02 - s13;                                                                            \
        o3 = e02 + e13;                                                                            \
        o4 = e02 - e13;                                                                            \
        o5 = (d3);                                                                                 \
    } while (0)

static inline void a6_rows(int n, const float *restrict d0, const float *restrict d1,
                           const float *restrict d2, const float *restrict d3,
                           float *restrict o0, float *restrict o1, float *restrict o2,
                           float *restrict o3, float *restrict o4, float *restrict o5)
{
    for (int k = 0; k < n; k++)
        A6(o0[k], o1[k], o2[k], o3[k], o4[k], o5[k], d0[k], d1[k], d2[k], d3[k]);
}

/* dM = A dY A^T of channel co of dy [n, g->m, h, w] for the block's tiles (4x4 dy tiles, zero
 * outside the image): element (xi, column j) at dst + xi*xstride + j, j < ncols. */
void WINO_DY_FN(const difu_wino_geom *g, const float *dy, const difu_wino_run *runs, int nrun,
                int ncols, int co, float *dst, int64_t xstride, const difu_wino_bufs *p);
void WINO_DY_FN(const difu_wino_geom *g, const float *dy, const difu_wino_run *runs, int nrun,
                int ncols, int co, float *dst, int64_t xstride, const difu_wino_bufs *p)
{
    const int nbp = g->nbp;
    const int64_t hw = (int64_t)g->h * g->w;
    float *line = p->line, *pt = p->patch, *t = p->t;
    int used = runs[nrun - 1].jj + runs[nrun - 1].len;
    if (ncols > used)
        memset(line + 4 * used, 0, sizeof(float) * (size_t)(4 * (ncols - used)));
    if (co + 4 < g->m)
        for (int ri = 0; ri < nrun; ri++)
            prefetch_run(g, dy + ((int64_t)runs[ri].img * g->m + co + 4) * hw, &runs[ri], 0, 4);
    for (int r = 0; r < 4; r++) { /* patch element (r, cc) of column j at pt[(r*4 + cc)*nbp + j] */
        for (int ri = 0; ri < nrun; ri++) {
            const difu_wino_run *rn = &runs[ri];
            float *d = line + 4 * rn->jj;
            const int n4 = 4 * rn->len, col0 = 4 * rn->tx, row = 4 * rn->ty + r;
            if (row >= g->h) {
                memset(d, 0, sizeof(float) * (size_t)n4);
                continue;
            }
            const float *s = dy + ((int64_t)rn->img * g->m + co) * hw + (int64_t)row * g->w + col0;
            int hi = g->w - col0 < n4 ? g->w - col0 : n4;
            copy_floats(hi, s, d);
            for (int q = hi; q < n4; q++)
                d[q] = 0.0f;
        }
        float *d = pt + (int64_t)r * 4 * nbp;
        deinterleave4(ncols, line, d, d + nbp, d + 2 * nbp, d + 3 * nbp);
    }
    const int64_t q = 6 * (int64_t)nbp, s4 = 4 * (int64_t)nbp;
    for (int cc = 0; cc < 4; cc++) { /* A down the columns: t[(i*6 + cc)*nbp + j], cc < 4 */
        const float *d = pt + cc * nbp;
        float *o = t + cc * nbp;
        a6_rows(ncols, d, d + s4, d + 2 * s4, d + 3 * s4, o, o + q, o + 2 * q, o + 3 * q,
                o + 4 * q, o + 5 * q);
    }
    for (int i = 0; i < 6; i++) { /* A along the rows */
        const float *e = t + i * q;
        float *o = dst + (int64_t)(i * 6) * xstride;
        a6_rows(ncols, e, e + nbp, e + 2 * nbp, e + 3 * nbp, o, o + xstride, o + 2 * xstride,
                o + 3 * xstride, o + 4 * xstride, o + 5 * xstride);
    }
}

/* A^T m for one column of 6 (4 outputs). */
#define AT4(o0, o1, o2, o3, m0, m1, m2, m3, m4, m5)                                                \
    do {                                                                                           \
        float s12 = (m1) + (m2), d12 = (m1) - (m2), s34 = (m3) + (m4), d34 = (m3) - (m4);          \
        o0 = (m0) + s12 + s34;                                                                     \
        o1 = d12 + 2.0f * d34;                                                                     \
        o2 = s12 + 4.0f * s34;                                                                     \
        o3 = d12 + 8.0f * d34 + (m5);                                                              \
    } while (0)

/* o_r[k] = (A^T m)_r over k < n, 10 disjoint arrays (see bt6_rows). */
static inline void at4_rows(int n, const float *restrict m0, const float *restrict m1,
                            const float *restrict m2, const float *restrict m3,
                            const float *restrict m4, const float *restrict m5,
                            float *restrict o0, float *restrict o1, float *restrict o2,
                            float *restrict o3)
{
    for (int k = 0; k < n; k++)
        AT4(o0[k], o1[k], o2[k], o3[k], m0[k], m1[k], m2[k], m3[k], m4[k], m5[k]);
}

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

/* A^T along N = T+2 columns of the N arrays at m + i*sm, lanes k < n, to T arrays o + i*so. */
static inline __attribute__((always_inline)) void at_rows(const int T, int n, const float *m,
                                                          int64_t sm, float *o, int64_t so)
{
    if (T == 4)
        at4_rows(n, m, m + sm, m + 2 * sm, m + 3 * sm, m + 4 * sm, m + 5 * sm, o, o + so,
                 o + 2 * so, o + 3 * so);
    else
        at5_rows(n, m, m + sm, m + 2 * sm, m + 3 * sm, m + 4 * sm, m + 5 * sm, m + 6 * sm, o,
                 o + so, o + 2 * so, o + 3 * so, o + 4 * so);
}

/* Y = A^T M A of block columns [0, ncols) of one output channel, M[xi] at m + xi*xstride:
 * o[(r*T + c')*nbp + j], with t (T*N*nbp floats) for A^T down the columns. */
static inline __attribute__((always_inline)) void
output_transform(const int T, const float *m, int64_t xstride, int ncols, int nbp, float *t,
                 float *o)
{
    const int N = T + 2;
    const int64_t q = N * (int64_t)nbp;
    for (int c = 0; c < N; c++)
        at_rows(T, ncols, m + (int64_t)c * xstride, N * xstride, t + c * nbp, q);
    for (int r = 0; r < T; r++)
        at_rows(T, ncols, t + r * q, nbp, o + r * T * nbp, nbp);
}

/* d[4k + c] = s_c[k] + bv, c < 4, k < n: tiles laid out 4 floats apart (the inverse of
 * deinterleave4), plus the bias. */
static inline void interleave4(int n, const float *restrict s0, const float *restrict s1,
                               const float *restrict s2, const float *restrict s3, float bv,
                               float *restrict d)
{
    for (int k = 0; k < n; k++) {
        d[4 * k] = s0[k] + bv;
        d[4 * k + 1] = s1[k] + bv;
        d[4 * k + 2] = s2[k] + bv;
        d[4 * k + 3] = s3[k] + bv;
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

/* Y = A^T M A (+ bv) of output channel o for the block's runs into dst [n, g->m, h, w]; M[xi] at
 * m + xi*xstride, block columns [0, ncols). Per output row of the tiles, the rows of all tiles
 * are interleaved into one line, then each run's segment is copied to its image row (clipped at
 * the image's edge) and gets the epilogue ep there, if any. */
static inline __attribute__((always_inline)) void
output_tiles(const int T, const difu_wino_geom *g, const float *m, int64_t xstride, int ncols,
             const difu_wino_run *runs, int nrun, int o, float bv, const difu_conv_epilogue *ep,
             float *dst, const difu_wino_bufs *p)
{
    const int nbp = g->nbp;
    const int64_t hw = (int64_t)g->h * g->w;
    float *line = p->patch; /* free after the input transform */
    if (o + 2 < g->m) /* the rows this block writes 2 channels ahead: fetch them for writing */
        for (int ri = 0; ri < nrun; ri++)
            for (int r = 0; r < T && T * runs[ri].ty + r < g->h; r++) {
                const float *y = dst + ((int64_t)runs[ri].img * g->m + o + 2) * hw +
                                 (int64_t)(T * runs[ri].ty + r) * g->w + T * runs[ri].tx;
                __builtin_prefetch(y, 1, 2);
                __builtin_prefetch(y + T * runs[ri].len - 1, 1, 2);
            }
    output_transform(T, m, xstride, ncols, nbp, p->t, p->o);
    for (int r = 0; r < T; r++) {
        const float *orow = p->o + r * T * nbp;
        if (T == 4)
            interleave4(ncols, orow, orow + nbp, orow + 2 * nbp, orow + 3 * nbp, bv, line);
        else
            interleave5(ncols, orow, orow + nbp, orow + 2 * nbp, orow + 3 * nbp, orow + 4 * nbp,
                        bv, line);
        for (int ri = 0; ri < nrun; ri++) {
            const difu_wino_run *rn = &runs[ri];
            int row = T * rn->ty + r, nt = T * rn->len;
            if (row >= g->h)
                continue;
            if (nt > g->w - T * rn->tx)
                nt = g->w - T * rn->tx;
            const int64_t plane = (int64_t)rn->img * g->m + o;
            const int64_t at = plane * hw + (int64_t)row * g->w + T * rn->tx;
            copy_floats(nt, line + T * rn->jj, dst + at);
            if (ep)
                difu_conv_epilogue_span(ep, plane, at, nt, dst + at);
        }
    }
}

/* The contract of difu_wino_xforms.output: 4x4 tiles. */
void WINO_OUTPUT_FN(const difu_wino_geom *g, const float *m, int64_t xstride, int ncols,
                    const difu_wino_run *runs, int nrun, int o, float bv,
                    const difu_conv_epilogue *ep, float *dst, const difu_wino_bufs *p);
void WINO_OUTPUT_FN(const difu_wino_geom *g, const float *m, int64_t xstride, int ncols,
                    const difu_wino_run *runs, int nrun, int o, float bv,
                    const difu_conv_epilogue *ep, float *dst, const difu_wino_bufs *p)
{
    output_tiles(4, g, m, xstride, ncols, runs, nrun, o, bv, ep, dst, p);
}

/* The same for 5x5 tiles (g->tile == 5). */
void WINO5_OUTPUT_FN(const difu_wino_geom *g, const float *m, int64_t xstride, int ncols,
                     const difu_wino_run *runs, int nrun, int o, float bv,
                     const difu_conv_epilogue *ep, float *dst, const difu_wino_bufs *p);
void WINO5_OUTPUT_FN(const difu_wino_geom *g, const float *m, int64_t xstride, int ncols,
                     const difu_wino_run *runs, int nrun, int o, float bv,
                     const difu_conv_epilogue *ep, float *dst, const difu_wino_bufs *p)
{
    output_tiles(5, g, m, xstride, ncols, runs, nrun, o, bv, ep, dst, p);
}
