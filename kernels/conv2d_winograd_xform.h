/* conv2d_winograd_xform.h: the Winograd F(4x4, 3x3) tile transforms of kernels/conv2d_winograd.c
 * as a template: a file defines WINO_INPUT_FN, WINO_OUTPUT_FN and WINO_DY_FN and includes this,
 * once with generic flags (conv2d_winograd.c) and once per ISA folder with that ISA's flags, so
 * the compiler vectorises the lane loops (lanes = the tiles of a block) at the ISA's width. Apart
 * from those three, everything here is static. */
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

/* Prefetches rows [4*ty + r0, 4*ty + r0 + nrows) of the run's columns in plane [h, w]. */
static void prefetch_run(const difu_wino_geom *g, const float *plane, const difu_wino_run *rn,
                         int r0, int nrows)
{
    int col0 = 4 * rn->tx - 1 < 0 ? 0 : 4 * rn->tx - 1;
    int col1 = 4 * (rn->tx + rn->len) + 1 < g->w ? 4 * (rn->tx + rn->len) + 1 : g->w - 1;
    for (int r = 0; r < nrows; r++) {
        int row = 4 * rn->ty + r0 + r;
        if (row < 0 || row >= g->h)
            continue;
        const float *s = plane + (int64_t)row * g->w;
        for (int q = col0; q <= col1; q += 16)
            __builtin_prefetch(s + q, 0, 2);
        __builtin_prefetch(s + col1, 0, 2);
    }
}

/* Gathers the 6x6 input patches of channel ci for the block's tiles: element (r, cc) of block
 * column j at pt[(r*6 + cc)*nbp + j], zeros outside the image. Per patch row r: the runs' image
 * row segments go into line at 4 floats per tile (tile j's columns cc < 4 at line[4j + cc]); their
 * last 2 columns (cc 4, 5 of a run's last tile) into tails; then one long deinterleave gives
 * cc 0..3 of every tile, and cc 4, 5 are cc 0, 1 of the next tile, or the tails at a run's end. */
static void gather_block(const difu_wino_geom *g, const float *src, int ci,
                         const difu_wino_run *runs, int nrun, int ncols, float *line, float *pt)
{
    const int nbp = g->nbp, c = g->c;
    const int64_t hw = (int64_t)g->h * g->w;
    float *tail4 = line + 4 * (int64_t)nbp + 16, *tail5 = tail4 + nbp;
    if (ncols > runs[nrun - 1].jj + runs[nrun - 1].len) {
        int used = runs[nrun - 1].jj + runs[nrun - 1].len;
        memset(line + 4 * used, 0, sizeof(float) * (size_t)(4 * (ncols - used)));
    }
    if (ci + 4 < c) /* the planes are small and far apart: fetch 4 channels ahead */
        for (int ri = 0; ri < nrun; ri++)
            prefetch_run(g, src + ((int64_t)runs[ri].img * c + ci + 4) * hw, &runs[ri], -1, 6);
    for (int r = 0; r < 6; r++) {
        for (int ri = 0; ri < nrun; ri++) {
            const difu_wino_run *rn = &runs[ri];
            float *d = line + 4 * rn->jj;
            const int n4 = 4 * rn->len, col0 = 4 * rn->tx - 1, row = 4 * rn->ty - 1 + r;
            if (row < 0 || row >= g->h) {
                memset(d, 0, sizeof(float) * (size_t)n4);
                tail4[ri] = tail5[ri] = 0.0f;
                continue;
            }
            const float *s = src + ((int64_t)rn->img * c + ci) * hw + (int64_t)row * g->w + col0;
            int lo = col0 < 0 ? 1 : 0, hi = g->w - col0 < n4 ? g->w - col0 : n4;
            if (lo)
                d[0] = 0.0f;
            copy_floats(hi - lo, s + lo, d + lo);
            for (int q = hi; q < n4; q++)
                d[q] = 0.0f;
            tail4[ri] = col0 + n4 < g->w ? s[n4] : 0.0f;
            tail5[ri] = col0 + n4 + 1 < g->w ? s[n4 + 1] : 0.0f;
        }
        float *d = pt + (int64_t)r * 6 * nbp;
        deinterleave4(ncols, line, d, d + nbp, d + 2 * nbp, d + 3 * nbp);
        copy_floats(ncols - 1, d + 1, d + 4 * nbp);
        copy_floats(ncols - 1, d + nbp + 1, d + 5 * nbp);
        for (int ri = 0; ri < nrun; ri++) {
            int e = runs[ri].jj + runs[ri].len - 1;
            d[4 * nbp + e] = tail4[ri];
            d[5 * nbp + e] = tail5[ri];
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

/* V = B^T d B of the patches pt for block columns of panel pan, lanes over the panel's nr
 * columns: V[xi] of column pan*nr + k stored at dst + xi*xstride + k. */
static void transform_patches(const float *pt, int nbp, int pan, int nr, float *t, float *dst,
                              int64_t xstride)
{
    const int64_t s = 6 * (int64_t)nbp, q = 6 * (int64_t)nr;
    for (int cc = 0; cc < 6; cc++) { /* B^T down the columns: t[(r'*6 + cc)*nr + k] */
        const float *d = pt + cc * nbp + pan * nr;
        float *o = t + cc * nr;
        bt6_rows(nr, d, d + s, d + 2 * s, d + 3 * s, d + 4 * s, d + 5 * s, o, o + q, o + 2 * q,
                 o + 3 * q, o + 4 * q, o + 5 * q);
    }
    for (int r = 0; r < 6; r++) { /* B along the rows */
        const float *e = t + r * q;
        float *o = dst + (int64_t)(r * 6) * xstride;
        bt6_rows(nr, e, e + nr, e + 2 * nr, e + 3 * nr, e + 4 * nr, e + 5 * nr, o, o + xstride,
                 o + 2 * xstride, o + 3 * xstride, o + 4 * xstride, o + 5 * xstride);
    }
}

/* V of the block's tiles for channels of src [n, c, h, w], in the micro-kernel's packed-B layout:
 * V[((xi*npan + pan)*c + ci)*nr + j % nr] for block column j; columns past cnt are zero. */
/* V = B^T d B of channels [c0, c1) of src [n, g->c, h, w] for the block's tiles [0, cnt):
 * element (xi, ci, column j) at dst + xi*xstride + (j/nr)*pstride + (ci - c0)*cstride + j%nr, for
 * the columns of ceil(cnt/nr) panels (columns past cnt zero). */
void WINO_INPUT_FN(const difu_wino_geom *g, const float *src, const difu_wino_run *runs, int nrun,
                   int cnt, int c0, int c1, float *dst, int64_t xstride, int64_t pstride,
                   int64_t cstride, const difu_wino_bufs *p);
void WINO_INPUT_FN(const difu_wino_geom *g, const float *src, const difu_wino_run *runs, int nrun,
                   int cnt, int c0, int c1, float *dst, int64_t xstride, int64_t pstride,
                   int64_t cstride, const difu_wino_bufs *p)
{
    const int nr = g->nr, nbp = g->nbp, npu = (cnt + nr - 1) / nr;
    for (int ci = c0; ci < c1; ci++) {
        gather_block(g, src, ci, runs, nrun, npu * nr, p->line, p->patch);
        for (int pan = 0; pan < npu; pan++)
            transform_patches(p->patch, nbp, pan, nr, p->t,
                              dst + pan * pstride + (ci - c0) * cstride, xstride);
    }
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

/* Y = A^T M A of block columns [0, ncols) of one output channel, M[xi] at m + xi*xstride:
 * o[(r*4 + c')*nbp + j], with t (24*nbp floats) for A^T down the columns. */
static void output_transform(const float *m, int64_t xstride, int ncols, int nbp, float *t,
                             float *o)
{
    const int64_t s = 6 * xstride, q = 6 * (int64_t)nbp;
    for (int c = 0; c < 6; c++) {
        const float *mc = m + (int64_t)c * xstride;
        float *tc = t + c * nbp;
        at4_rows(ncols, mc, mc + s, mc + 2 * s, mc + 3 * s, mc + 4 * s, mc + 5 * s, tc, tc + q,
                 tc + 2 * q, tc + 3 * q);
    }
    for (int r = 0; r < 4; r++) {
        const float *e = t + r * q;
        float *orow = o + r * 4 * nbp;
        at4_rows(ncols, e, e + nbp, e + 2 * nbp, e + 3 * nbp, e + 4 * nbp, e + 5 * nbp, orow,
                 orow + nbp, orow + 2 * nbp, orow + 3 * nbp);
    }
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

/* Y = A^T M A (+ bv) of output channel o for the block's runs into dst [n, g->m, h, w]; M[xi] at
 * m + xi*xstride, block columns [0, ncols). Per output row of the tiles, the rows of all tiles
 * are interleaved into one line, then each run's segment is copied to its image row (clipped at
 * the image's edge) and gets the epilogue ep there, if any. */
void WINO_OUTPUT_FN(const difu_wino_geom *g, const float *m, int64_t xstride, int ncols,
                    const difu_wino_run *runs, int nrun, int o, float bv,
                    const difu_conv_epilogue *ep, float *dst, const difu_wino_bufs *p);
void WINO_OUTPUT_FN(const difu_wino_geom *g, const float *m, int64_t xstride, int ncols,
                    const difu_wino_run *runs, int nrun, int o, float bv,
                    const difu_conv_epilogue *ep, float *dst, const difu_wino_bufs *p)
{
    const int nbp = g->nbp;
    const int64_t hw = (int64_t)g->h * g->w;
    float *line = p->patch; /* free after the input transform */
    if (o + 2 < g->m) /* the rows this block writes 2 channels ahead: fetch them for writing */
        for (int ri = 0; ri < nrun; ri++)
            for (int r = 0; r < 4 && 4 * runs[ri].ty + r < g->h; r++) {
                const float *y = dst + ((int64_t)runs[ri].img * g->m + o + 2) * hw +
                                 (int64_t)(4 * runs[ri].ty + r) * g->w + 4 * runs[ri].tx;
                __builtin_prefetch(y, 1, 2);
                __builtin_prefetch(y + 4 * runs[ri].len - 1, 1, 2);
            }
    output_transform(m, xstride, ncols, nbp, p->t, p->o);
    for (int r = 0; r < 4; r++) {
        const float *orow = p->o + r * 4 * nbp;
        interleave4(ncols, orow, orow + nbp, orow + 2 * nbp, orow + 3 * nbp, bv, line);
        for (int ri = 0; ri < nrun; ri++) {
            const difu_wino_run *rn = &runs[ri];
            int row = 4 * rn->ty + r, n4 = 4 * rn->len;
            if (row >= g->h)
                continue;
            if (n4 > g->w - 4 * rn->tx)
                n4 = g->w - 4 * rn->tx;
            const int64_t plane = (int64_t)rn->img * g->m + o;
            const int64_t at = plane * hw + (int64_t)row * g->w + 4 * rn->tx;
            copy_floats(n4, line + 4 * rn->jj, dst + at);
            if (ep)
                difu_conv_epilogue_span(ep, plane, at, n4, dst + at);
        }
    }
}
