/* conv2d_winograd_avx2.c: the Winograd tile transforms of kernels/conv2d_winograd.c in AVX2
 * intrinsics, for 4x4 output tiles (F(4x4, 3x3)) and 5x5 ones (F(5x5, 3x3), input and output
 * only), the design of kernels/avx512/conv2d_winograd_avx512.c at 8 lanes (the contracts are
 * difu_wino_xforms' in conv2d_winograd.h; the generic template conv2d_winograd_xform.h is the
 * reference they are tested against through the convolutions). Lanes are 8 consecutive tiles of
 * a block (two groups per 16-tile panel); T below is the output tile side (4 or 5), N = T + 2
 * the input tile's. Each transform works in two passes:
 *
 *  - rows: the runs' image rows are read as contiguous vectors (masked loads at the image's
 *    edges, so the zero padding costs nothing) and combined down the tile's rows into a line per
 *    transformed row, tile j's T columns at line[T*j .. T*j + T - 1];
 *  - columns: 8*T floats of a line (8 tiles) are split into the T column phases (128-bit loads
 *    pair tiles k and k + 4, then a 4x4 transpose inside each 128-bit half; with 5 columns the
 *    same loads one float later give the fifth), and combined along the tile's columns with lanes
 *    over the tiles.
 *
 * The input tile has T + 2 columns: columns T and T + 1 of tile j are columns 0 and 1 of tile
 * j + 1, or, at a run's last tile, the run's two tail columns (kept per tile in tails[]). The
 * output transform runs the same steps backwards (the inverse transpose interleaves the T
 * columns, masked stores clip the runs at the image's edge). The shared passes take T as a
 * constant (gcc makes one copy per tile side). The tile transposes of backward-weights are below
 * (the AVX-512 table uses them too). */
#include <immintrin.h>
#include <string.h>

#include "conv2d_winograd.h"

/* PREFETCH_CHANNELS: how far ahead the source planes are fetched (the planes of one block are a
 * few KiB, read once per channel). MAX_GROUPS: 8-tile groups of a block (nbp <= 128). */
enum { LINE_PAD = 32, MAX_GROUPS = 16, PREFETCH_CHANNELS = 8 };

/* All bits set in lanes [lo, hi) of 8. */
static inline __m256i lanes(int lo, int hi)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i from_lo = _mm256_cmpgt_epi32(idx, _mm256_set1_epi32(lo - 1));
    return _mm256_and_si256(from_lo, _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), idx));
}

/* B^T d over 6 values (Lavin & Gray, points 0, +-1, +-2). */
static inline void bt6(const __m256 d[6], __m256 o[6])
{
    const __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f);
    const __m256 five = _mm256_set1_ps(5.0f);
    __m256 s12 = _mm256_add_ps(d[1], d[2]), s34 = _mm256_add_ps(d[3], d[4]);
    __m256 m12 = _mm256_sub_ps(d[1], d[2]), m43 = _mm256_sub_ps(d[4], d[3]);
    __m256 m31 = _mm256_sub_ps(d[3], d[1]), m42 = _mm256_sub_ps(d[4], d[2]);
    o[0] = _mm256_fmadd_ps(four, d[0], _mm256_fnmadd_ps(five, d[2], d[4]));
    o[1] = _mm256_fnmadd_ps(four, s12, s34);
    o[2] = _mm256_fmadd_ps(four, m12, m43);
    o[3] = _mm256_fmadd_ps(two, m31, m42);
    o[4] = _mm256_fnmadd_ps(two, m31, m42);
    o[5] = _mm256_fmadd_ps(four, d[1], _mm256_fnmadd_ps(five, d[3], d[5]));
}

/* A^T m over 6 values (4 outputs). */
static inline void at4(const __m256 m[6], __m256 o[4])
{
    const __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f);
    const __m256 eight = _mm256_set1_ps(8.0f);
    __m256 s12 = _mm256_add_ps(m[1], m[2]), d12 = _mm256_sub_ps(m[1], m[2]);
    __m256 s34 = _mm256_add_ps(m[3], m[4]), d34 = _mm256_sub_ps(m[3], m[4]);
    o[0] = _mm256_add_ps(_mm256_add_ps(m[0], s12), s34);
    o[1] = _mm256_fmadd_ps(two, d34, d12);
    o[2] = _mm256_fmadd_ps(four, s34, s12);
    o[3] = _mm256_add_ps(_mm256_fmadd_ps(eight, d34, d12), m[5]);
}

/* A d over 4 values (6 outputs): the transpose of at4. */
static inline void a6(const __m256 d[4], __m256 o[6])
{
    const __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f);
    const __m256 eight = _mm256_set1_ps(8.0f);
    __m256 s02 = _mm256_add_ps(d[0], d[2]), s13 = _mm256_add_ps(d[1], d[3]);
    __m256 e02 = _mm256_fmadd_ps(four, d[2], d[0]);
    __m256 e13 = _mm256_fmadd_ps(eight, d[3], _mm256_mul_ps(two, d[1]));
    o[0] = d[0];
    o[1] = _mm256_add_ps(s02, s13);
    o[2] = _mm256_sub_ps(s02, s13);
    o[3] = _mm256_add_ps(e02, e13);
    o[4] = _mm256_sub_ps(e02, e13);
    o[5] = d[3];
}

/* The 4 floats at lo in the low half, those at hi in the high half. */
static inline __m256 load_halves(const float *lo, const float *hi)
{
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(lo)), _mm_loadu_ps(hi), 1);
}

/* p[c][k] = l[4k + c], c < 4, k < 8: the column phases of 8 tiles laid out 4 floats apart. Each
 * half of a register holds one tile's 4 columns (tiles k and k + 4), so a 4x4 transpose inside
 * the halves finishes it. */
static inline void deinterleave4(const float *l, __m256 p[4])
{
    __m256 t04 = load_halves(l, l + 16), t15 = load_halves(l + 4, l + 20);
    __m256 t26 = load_halves(l + 8, l + 24), t37 = load_halves(l + 12, l + 28);
    __m256 c01a = _mm256_unpacklo_ps(t04, t15), c23a = _mm256_unpackhi_ps(t04, t15);
    __m256 c01b = _mm256_unpacklo_ps(t26, t37), c23b = _mm256_unpackhi_ps(t26, t37);
    p[0] = _mm256_shuffle_ps(c01a, c01b, _MM_SHUFFLE(1, 0, 1, 0));
    p[1] = _mm256_shuffle_ps(c01a, c01b, _MM_SHUFFLE(3, 2, 3, 2));
    p[2] = _mm256_shuffle_ps(c23a, c23b, _MM_SHUFFLE(1, 0, 1, 0));
    p[3] = _mm256_shuffle_ps(c23a, c23b, _MM_SHUFFLE(3, 2, 3, 2));
}

/* l[4k + c] = y[c][k]: the inverse of deinterleave4. */
static inline void interleave4(const __m256 y[4], float *l)
{
    __m256 k01a = _mm256_unpacklo_ps(y[0], y[1]), k23a = _mm256_unpackhi_ps(y[0], y[1]);
    __m256 k01b = _mm256_unpacklo_ps(y[2], y[3]), k23b = _mm256_unpackhi_ps(y[2], y[3]);
    __m256 t04 = _mm256_shuffle_ps(k01a, k01b, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 t15 = _mm256_shuffle_ps(k01a, k01b, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 t26 = _mm256_shuffle_ps(k23a, k23b, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 t37 = _mm256_shuffle_ps(k23a, k23b, _MM_SHUFFLE(3, 2, 3, 2));
    _mm256_storeu_ps(l, _mm256_permute2f128_ps(t04, t15, 0x20));
    _mm256_storeu_ps(l + 8, _mm256_permute2f128_ps(t26, t37, 0x20));
    _mm256_storeu_ps(l + 16, _mm256_permute2f128_ps(t04, t15, 0x31));
    _mm256_storeu_ps(l + 24, _mm256_permute2f128_ps(t26, t37, 0x31));
}

/* B^T d over 7 values, rows scaled as conv2d_winograd_xform.h's BT7: 22 operations. */
static inline void bt7(const __m256 d[7], __m256 o[7])
{
    const __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f);
    const __m256 five = _mm256_set1_ps(5.0f);
    __m256 r5 = _mm256_fmadd_ps(four, d[1], _mm256_fnmadd_ps(five, d[3], d[5]));
    __m256 f42 = _mm256_fnmadd_ps(four, d[2], d[4]), f53 = _mm256_fnmadd_ps(four, d[3], d[5]);
    __m256 f31 = _mm256_fnmadd_ps(four, d[1], d[3]);
    __m256 s1 = _mm256_fmadd_ps(two, f53, f42), t1 = _mm256_fmadd_ps(two, f42, f31);
    __m256 e42 = _mm256_sub_ps(d[4], d[2]);
    __m256 s2 = _mm256_fmadd_ps(two, _mm256_sub_ps(d[5], d[3]), e42);
    __m256 t2 = _mm256_fmadd_ps(two, e42, _mm256_sub_ps(d[3], d[1]));
    __m256 r0 = _mm256_fmadd_ps(four, d[0], _mm256_fnmadd_ps(five, d[2], d[4]));
    __m256 r6 = _mm256_fmadd_ps(four, d[2], _mm256_fnmadd_ps(five, d[4], d[6]));
    o[0] = _mm256_fmadd_ps(two, r5, r0);
    o[1] = _mm256_add_ps(s1, t1);
    o[2] = _mm256_sub_ps(s1, t1);
    o[3] = _mm256_fmadd_ps(two, t2, s2);
    o[4] = _mm256_fnmadd_ps(two, t2, s2);
    o[5] = r5;
    o[6] = _mm256_fmadd_ps(two, r6, r5);
}

/* A^T m over 7 values (5 outputs). */
static inline void at5(const __m256 m[7], __m256 o[5])
{
    const __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f);
    const __m256 eight = _mm256_set1_ps(8.0f), sixteen = _mm256_set1_ps(16.0f);
    __m256 s12 = _mm256_add_ps(m[1], m[2]), d12 = _mm256_sub_ps(m[1], m[2]);
    __m256 s34 = _mm256_add_ps(m[3], m[4]), d34 = _mm256_sub_ps(m[3], m[4]);
    o[0] = _mm256_add_ps(_mm256_add_ps(m[0], s12), _mm256_add_ps(s34, m[5]));
    o[1] = _mm256_fmadd_ps(_mm256_set1_ps(-0.5f), m[5], _mm256_fmadd_ps(two, d34, d12));
    o[2] = _mm256_fmadd_ps(_mm256_set1_ps(0.25f), m[5], _mm256_fmadd_ps(four, s34, s12));
    o[3] = _mm256_fmadd_ps(_mm256_set1_ps(-0.125f), m[5], _mm256_fmadd_ps(eight, d34, d12));
    o[4] = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(0.0625f), m[5],
                                         _mm256_fmadd_ps(sixteen, s34, s12)),
                         m[6]);
}

/* p[c][k] = l[5k + c], c < 5, k < 8. */
static inline void deinterleave5(const float *l, __m256 p[5])
{
    __m256 t0 = load_halves(l, l + 20), t1 = load_halves(l + 5, l + 25);
    __m256 t2 = load_halves(l + 10, l + 30), t3 = load_halves(l + 15, l + 35);
    __m256 c01a = _mm256_unpacklo_ps(t0, t1), c23a = _mm256_unpackhi_ps(t0, t1);
    __m256 c01b = _mm256_unpacklo_ps(t2, t3), c23b = _mm256_unpackhi_ps(t2, t3);
    p[0] = _mm256_shuffle_ps(c01a, c01b, _MM_SHUFFLE(1, 0, 1, 0));
    p[1] = _mm256_shuffle_ps(c01a, c01b, _MM_SHUFFLE(3, 2, 3, 2));
    p[2] = _mm256_shuffle_ps(c23a, c23b, _MM_SHUFFLE(1, 0, 1, 0));
    p[3] = _mm256_shuffle_ps(c23a, c23b, _MM_SHUFFLE(3, 2, 3, 2));
    /* columns 1-4 of the same tiles: column 4 is element 3 of each half */
    __m256 u0 = load_halves(l + 1, l + 21), u1 = load_halves(l + 6, l + 26);
    __m256 u2 = load_halves(l + 11, l + 31), u3 = load_halves(l + 16, l + 36);
    p[4] = _mm256_shuffle_ps(_mm256_unpackhi_ps(u0, u1), _mm256_unpackhi_ps(u2, u3),
                             _MM_SHUFFLE(3, 2, 3, 2));
}

/* Tile k's 4 values of y[0..3] to l + 5k (tiles k and k + 4 share a register's halves). */
static inline void store_tiles4(const __m256 y0, const __m256 y1, const __m256 y2,
                                const __m256 y3, float *l)
{
    __m256 k01a = _mm256_unpacklo_ps(y0, y1), k23a = _mm256_unpackhi_ps(y0, y1);
    __m256 k01b = _mm256_unpacklo_ps(y2, y3), k23b = _mm256_unpackhi_ps(y2, y3);
    __m256 t[4] = {_mm256_shuffle_ps(k01a, k01b, _MM_SHUFFLE(1, 0, 1, 0)),
                   _mm256_shuffle_ps(k01a, k01b, _MM_SHUFFLE(3, 2, 3, 2)),
                   _mm256_shuffle_ps(k23a, k23b, _MM_SHUFFLE(1, 0, 1, 0)),
                   _mm256_shuffle_ps(k23a, k23b, _MM_SHUFFLE(3, 2, 3, 2))};
    for (int k = 0; k < 4; k++) {
        _mm_storeu_ps(l + 5 * k, _mm256_castps256_ps128(t[k]));
        _mm_storeu_ps(l + 5 * (k + 4), _mm256_extractf128_ps(t[k], 1));
    }
}

/* l[5k + c] = y[c][k]: columns 0-3 of each tile, then 1-4 over them (the overlap rewrites the
 * same values). */
static inline void interleave5(const __m256 y[5], float *l)
{
    store_tiles4(y[0], y[1], y[2], y[3], l);
    store_tiles4(y[1], y[2], y[3], y[4], l + 1);
}

/* The 4x4 or 5x5 tile's versions of the steps above, T a constant after inlining. */
static inline __attribute__((always_inline)) void bt(const int T, const __m256 *d, __m256 *o)
{
    if (T == 4)
        bt6(d, o);
    else
        bt7(d, o);
}

static inline __attribute__((always_inline)) void at(const int T, const __m256 *m, __m256 *o)
{
    if (T == 4)
        at4(m, o);
    else
        at5(m, o);
}

static inline __attribute__((always_inline)) void deinterleave(const int T, const float *l,
                                                               __m256 *p)
{
    if (T == 4)
        deinterleave4(l, p);
    else
        deinterleave5(l, p);
}

static inline __attribute__((always_inline)) void interleave(const int T, const __m256 *y,
                                                             float *l)
{
    if (T == 4)
        interleave4(y, l);
    else
        interleave5(y, l);
}

/* ---------------------------------------------------------------- input tiles */

/* Where one channel's rows pass leaves its results: N lines of ls floats (tile j's columns at
 * T*j .. T*j + T - 1) and the runs' tail columns T and T + 1 (tails0 / tails1 + r*nbp, indexed by
 * the run's last tile). */
typedef struct input_lines {
    float *line, *tails0, *tails1;
} input_lines;

/* Lane l of v to *dst. */
static inline void store_lane(float *dst, __m256 v, int l)
{
    _mm_store_ss(dst, _mm256_castps256_ps128(_mm256_permutevar8x32_ps(v, _mm256_set1_epi32(l))));
}

/* Rows pass of one channel plane for its runs: line r' gets (B^T d)_r' of each run's T*len
 * columns at T*jj, the run's 2 tail columns go to the tails (taken from the registers, so no
 * load waits on a store). The stores are whole vectors: what a run writes past its T*len columns
 * (at most 7 floats) the next run overwrites, and past the last run nothing reads it but lanes
 * that the columns pass replaces (a run's end) or zeroes (past cnt). Rows above or below the
 * image load with an empty mask (no branch per row); a chunk wholly past the right edge loads
 * nothing. */
static void input_rows(const int T, const difu_wino_geom *g, const float *src, int64_t istride,
                       const difu_wino_run *runs, int nrun, int64_t ls, const input_lines *L)
{
    const int w = g->w, h = g->h, nbp = g->nbp, N = T + 2;
    for (int ri = 0; ri < nrun; ri++) {
        const difu_wino_run *rn = &runs[ri];
        const float *plane = src + rn->img * istride;
        const int n = T * rn->len + 2, col0 = T * rn->tx - 1, y0 = T * rn->ty - 1;
        const int e = rn->jj + rn->len - 1;
        float *line = L->line + T * rn->jj;
        const float *row_at[7];
        __m256i row_in[7]; /* all lanes for a row inside the image, none outside */
        for (int r = 0; r < N; r++) {
            const int row = y0 + r, inside = row >= 0 && row < h;
            row_in[r] = _mm256_set1_epi32(inside ? -1 : 0);
            row_at[r] = plane + (int64_t)(inside ? row : 0) * w + col0;
        }
        for (int off = 0; off < n; off += 8) {
            const int col = col0 + off, t0 = n - 2 - off; /* lane of tail column T */
            __m256 o[7];
            if (col < w) {
                const __m256i in = lanes(-col, (w - col < n - off ? w - col : n - off));
                __m256 d[7];
                for (int r = 0; r < N; r++)
                    d[r] = _mm256_maskload_ps(row_at[r] + off, _mm256_and_si256(in, row_in[r]));
                bt(T, d, o);
            } else { /* wholly past the image's right edge: zeros, nothing to load */
                for (int r = 0; r < N; r++)
                    o[r] = _mm256_setzero_ps();
            }
            for (int r = 0; r < N; r++)
                _mm256_storeu_ps(line + r * ls + off, o[r]);
            if (t0 >= 0 && t0 < 8)
                for (int r = 0; r < N; r++)
                    store_lane(L->tails0 + r * nbp + e, o[r], t0);
            if (t0 + 1 >= 0 && t0 + 1 < 8)
                for (int r = 0; r < N; r++)
                    store_lane(L->tails1 + r * nbp + e, o[r], t0 + 1);
        }
    }
}

/* Columns pass of one channel: V[r*N + cc'] of the block's groups of 8 tiles to out (see
 * input_tiles), lanes past cnt zero. ends[q]: the lanes of group q that end a run. */
static inline __attribute__((always_inline)) void
input_columns(const int T, const input_lines *L, int64_t ls, int nbp, int nr, int cnt,
              int ngroups, const __m256 *ends, float *dst, int64_t xstride, int64_t pstride)
{
    const int N = T + 2;
    const __m256i next = _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 7);
    for (int q = 0; q < ngroups; q++) {
        float *out = dst + (8 * q / nr) * pstride + (8 * q % nr);
        const __m256i endi = _mm256_castps_si256(ends[q]);
        const int full = cnt - 8 * q >= 8;
        const __m256 valid = _mm256_castsi256_ps(lanes(0, cnt - 8 * q));
        for (int r = 0; r < N; r++) {
            const float *l = L->line + r * ls + 8 * T * q;
            __m256 d[7], o[7];
            deinterleave(T, l, d);
            /* columns T, T + 1 of tile j: columns 0, 1 of tile j + 1, or at a run's end its
             * tails */
            d[T] = _mm256_blend_ps(_mm256_permutevar8x32_ps(d[0], next),
                                   _mm256_broadcast_ss(l + 8 * T), 0x80);
            d[T + 1] = _mm256_blend_ps(_mm256_permutevar8x32_ps(d[1], next),
                                       _mm256_broadcast_ss(l + 8 * T + 1), 0x80);
            d[T] = _mm256_blendv_ps(d[T], _mm256_maskload_ps(L->tails0 + r * nbp + 8 * q, endi),
                                    ends[q]);
            d[T + 1] = _mm256_blendv_ps(
                d[T + 1], _mm256_maskload_ps(L->tails1 + r * nbp + 8 * q, endi), ends[q]);
            bt(T, d, o);
            for (int cc = 0; cc < N; cc++)
                _mm256_storeu_ps(out + (r * N + cc) * xstride,
                                 full ? o[cc] : _mm256_and_ps(o[cc], valid));
        }
    }
}

/* The input transform (difu_wino_xforms.input's contract) for tile side T. The channels run as a
 * two-stage pipeline on two sets of lines: the rows pass of channel ci + 1, then the columns pass
 * of channel ci, so the columns pass reads lines stored a whole channel earlier (a load right
 * behind a store to the same place may wait for it). */
static inline __attribute__((always_inline)) void
input_tiles(const int T, const difu_wino_geom *g, const float *src, const difu_wino_run *runs,
            int nrun, int cnt, int c0, int c1, float *dst, int64_t xstride, int64_t pstride,
            int64_t cstride, const difu_wino_bufs *p)
{
    const int nr = g->nr, nbp = g->nbp, ncols = (cnt + nr - 1) / nr * nr, ngroups = ncols / 8;
    const int N = T + 2;
    const int64_t hw = (int64_t)g->h * g->w, ls = T * (int64_t)nbp + LINE_PAD;
    const int64_t set = N * ls + 2 * N * (int64_t)nbp; /* one set: N*N*nbp + N*32 floats */
    input_lines L[2];
    for (int k = 0; k < 2; k++) { /* in the work area (conv2d_winograd.h) */
        float *base = p->patch + k * set;
        L[k] = (input_lines){base, base + N * ls, base + N * ls + N * nbp};
        for (int r = 0; r < N; r++) /* columns past the runs read as zeros */
            memset(L[k].line + r * ls + T * cnt, 0,
                   sizeof(float) * (size_t)(T * (ncols - cnt) + 16));
    }
    int endbits[MAX_GROUPS] = {0};
    for (int ri = 0; ri < nrun; ri++) {
        int e = runs[ri].jj + runs[ri].len - 1;
        endbits[e / 8] |= 1 << (e % 8);
    }
    __m256 ends[MAX_GROUPS];
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    for (int q = 0; q < ngroups; q++)
        ends[q] = _mm256_castsi256_ps(_mm256_cmpeq_epi32(
            _mm256_and_si256(_mm256_set1_epi32(endbits[q]), bit), bit));
    const int64_t istride = g->c * hw;
    input_rows(T, g, src + c0 * hw, istride, runs, nrun, ls, &L[0]);
    for (int ci = c0; ci < c1; ci++) {
        if (ci + PREFETCH_CHANNELS < g->c)
            difu_wino_prefetch_planes(g, src + (ci + PREFETCH_CHANNELS) * hw, istride, runs,
                                      nrun, -1, N, 0);
        if (ci + 1 < c1)
            input_rows(T, g, src + (ci + 1) * hw, istride, runs, nrun, ls,
                       &L[(ci + 1 - c0) & 1]);
        input_columns(T, &L[(ci - c0) & 1], ls, nbp, nr, cnt, ngroups, ends,
                      dst + (ci - c0) * cstride, xstride, pstride);
    }
}

void difu_wino_input_avx2(const difu_wino_geom *g, const float *src, const difu_wino_run *runs,
                          int nrun, int cnt, int c0, int c1, float *dst, int64_t xstride,
                          int64_t pstride, int64_t cstride, const difu_wino_bufs *p);
void difu_wino_input_avx2(const difu_wino_geom *g, const float *src, const difu_wino_run *runs,
                          int nrun, int cnt, int c0, int c1, float *dst, int64_t xstride,
                          int64_t pstride, int64_t cstride, const difu_wino_bufs *p)
{
    input_tiles(4, g, src, runs, nrun, cnt, c0, c1, dst, xstride, pstride, cstride, p);
}

void difu_wino_input5_avx2(const difu_wino_geom *g, const float *src, const difu_wino_run *runs,
                           int nrun, int cnt, int c0, int c1, float *dst, int64_t xstride,
                           int64_t pstride, int64_t cstride, const difu_wino_bufs *p);
void difu_wino_input5_avx2(const difu_wino_geom *g, const float *src, const difu_wino_run *runs,
                           int nrun, int cnt, int c0, int c1, float *dst, int64_t xstride,
                           int64_t pstride, int64_t cstride, const difu_wino_bufs *p)
{
    input_tiles(5, g, src, runs, nrun, cnt, c0, c1, dst, xstride, pstride, cstride, p);
}

/* Output channel o's rows from the g->tile lines to dst, with the epilogue (kernels.h's order:
 * + channel, then + residual). Inlined once per epilogue kind: the flags are constants, so each
 * loop carries only its own work. Whole chunks use plain loads and stores; the line's padding
 * covers a load past the run. */
static inline __attribute__((always_inline)) void
copy_out(const difu_wino_geom *g, const float *line, int64_t ls, const difu_wino_run *runs,
         int nrun, int o, const float *chan, const float *res, const int has_chan,
         const int has_res, float *dst)
{
    const int64_t hw = (int64_t)g->h * g->w;
    for (int ri = 0; ri < nrun; ri++) {
        const difu_wino_run *rn = &runs[ri];
        const int64_t plane = (int64_t)rn->img * g->m + o;
        const __m256 cv = _mm256_set1_ps(has_chan ? chan[plane] : 0.0f);
        const int T = g->tile; /* 4 or 5 floats per tile in the lines */
        const int n4 = T * rn->len < g->w - T * rn->tx ? T * rn->len : g->w - T * rn->tx;
        for (int r = 0; r < T && T * rn->ty + r < g->h; r++) {
            const float *l = line + r * ls + T * rn->jj;
            const int64_t at = plane * hw + (int64_t)(T * rn->ty + r) * g->w + T * rn->tx;
            int off = 0;
            for (; off + 8 <= n4; off += 8) {
                __m256 v = _mm256_loadu_ps(l + off);
                if (has_chan)
                    v = _mm256_add_ps(v, cv);
                if (has_res)
                    v = _mm256_add_ps(v, _mm256_loadu_ps(res + at + off));
                _mm256_storeu_ps(dst + at + off, v);
            }
            if (off < n4) {
                const __m256i k = lanes(0, n4 - off);
                __m256 v = _mm256_loadu_ps(l + off);
                if (has_chan)
                    v = _mm256_add_ps(v, cv);
                if (has_res)
                    v = _mm256_add_ps(v, _mm256_maskload_ps(res + at + off, k));
                _mm256_maskstore_ps(dst + at + off, k, v);
            }
        }
    }
}

/* ---------------------------------------------------------------- output tiles */

/* The output transform (difu_wino_xforms.output's contract) for tile side T: per group of 8
 * tiles, A^T along M's rows, then down the columns, interleaved into T lines, then copied out. */
static inline __attribute__((always_inline)) void
output_tiles(const int T, const difu_wino_geom *g, const float *m, int64_t xstride, int ncols,
             const difu_wino_run *runs, int nrun, int o, float bv, const difu_conv_epilogue *ep,
             float *dst, const difu_wino_bufs *p)
{
    const int nbp = g->nbp, N = T + 2;
    const int64_t hw = (int64_t)g->h * g->w, ls = T * (int64_t)nbp + LINE_PAD;
    float *line = p->patch; /* T lines of ls; free after the input transform */
    if (o + 2 < g->m) /* the rows this block writes 2 channels ahead: fetch them for writing */
        difu_wino_prefetch_planes(g, dst + (o + 2) * hw, g->m * hw, runs, nrun, 0, T, 1);
    const __m256 bias = _mm256_set1_ps(bv);
    for (int q = 0; q < ncols / 8; q++) {
        const float *mq = m + 8 * q;
        __m256 t[7][5], y[5][5];
        for (int r = 0; r < N; r++) { /* A^T along each row of M */
            __m256 v[7];
            for (int cc = 0; cc < N; cc++)
                v[cc] = _mm256_loadu_ps(mq + (r * N + cc) * xstride);
            at(T, v, t[r]);
        }
        for (int c = 0; c < T; c++) { /* A^T down the columns */
            __m256 v[7], out[5];
            for (int r = 0; r < N; r++)
                v[r] = t[r][c];
            at(T, v, out);
            for (int r = 0; r < T; r++)
                y[r][c] = _mm256_add_ps(out[r], bias);
        }
        for (int r = 0; r < T; r++)
            interleave(T, y[r], line + r * ls + 8 * T * q);
    }
    const float *chan = ep ? ep->channel : NULL, *res = ep ? ep->residual : NULL;
    if (chan && res)
        copy_out(g, line, ls, runs, nrun, o, chan, res, 1, 1, dst);
    else if (chan)
        copy_out(g, line, ls, runs, nrun, o, chan, NULL, 1, 0, dst);
    else if (res)
        copy_out(g, line, ls, runs, nrun, o, NULL, res, 0, 1, dst);
    else
        copy_out(g, line, ls, runs, nrun, o, NULL, NULL, 0, 0, dst);
}

void difu_wino_output_avx2(const difu_wino_geom *g, const float *m, int64_t xstride, int ncols,
                           const difu_wino_run *runs, int nrun, int o, float bv,
                           const difu_conv_epilogue *ep, float *dst, const difu_wino_bufs *p);
void difu_wino_output_avx2(const difu_wino_geom *g, const float *m, int64_t xstride, int ncols,
                           const difu_wino_run *runs, int nrun, int o, float bv,
                           const difu_conv_epilogue *ep, float *dst, const difu_wino_bufs *p)
{
    output_tiles(4, g, m, xstride, ncols, runs, nrun, o, bv, ep, dst, p);
}

void difu_wino_output5_avx2(const difu_wino_geom *g, const float *m, int64_t xstride, int ncols,
                            const difu_wino_run *runs, int nrun, int o, float bv,
                            const difu_conv_epilogue *ep, float *dst, const difu_wino_bufs *p);
void difu_wino_output5_avx2(const difu_wino_geom *g, const float *m, int64_t xstride, int ncols,
                            const difu_wino_run *runs, int nrun, int o, float bv,
                            const difu_conv_epilogue *ep, float *dst, const difu_wino_bufs *p)
{
    output_tiles(5, g, m, xstride, ncols, runs, nrun, o, bv, ep, dst, p);
}

/* ---------------------------------------------------------------- output gradients */

void difu_wino_dy_avx2(const difu_wino_geom *g, const float *dy, const difu_wino_run *runs,
                       int nrun, int ncols, int co, float *dst, int64_t xstride,
                       const difu_wino_bufs *p);
void difu_wino_dy_avx2(const difu_wino_geom *g, const float *dy, const difu_wino_run *runs,
                       int nrun, int ncols, int co, float *dst, int64_t xstride,
                       const difu_wino_bufs *p)
{
    const int nbp = g->nbp, ngroups = (ncols + 7) / 8;
    const int64_t hw = (int64_t)g->h * g->w, ls = 4 * (int64_t)nbp + LINE_PAD;
    float *line = p->patch; /* 4 lines of ls: tile j's dy columns at 4j .. 4j + 3 */
    if (co + PREFETCH_CHANNELS < g->m)
        difu_wino_prefetch_planes(g, dy + (co + PREFETCH_CHANNELS) * hw, g->m * hw, runs, nrun,
                                  0, 4, 0);
    const int used = runs[nrun - 1].jj + runs[nrun - 1].len;
    for (int r = 0; r < 4; r++) {
        float *l = line + r * ls;
        for (int ri = 0; ri < nrun; ri++) { /* whole vectors: the next run overwrites the excess */
            const difu_wino_run *rn = &runs[ri];
            const int n4 = 4 * rn->len, row = 4 * rn->ty + r, col0 = 4 * rn->tx;
            const int valid = row < g->h ? (g->w - col0 < n4 ? g->w - col0 : n4) : 0;
            const float *s = dy + ((int64_t)rn->img * g->m + co) * hw + (int64_t)row * g->w + col0;
            for (int off = 0; off < n4; off += 8)
                _mm256_storeu_ps(l + 4 * rn->jj + off,
                                 valid - off >= 8 ? _mm256_loadu_ps(s + off)
                                                  : _mm256_maskload_ps(s + off, lanes(0, valid - off)));
        }
        /* past the runs: zeros, not stale values (transformed, never used: k = cnt) */
        memset(l + 4 * used, 0, sizeof(float) * (size_t)(4 * (8 * ngroups - used)));
    }
    for (int q = 0; q < ngroups; q++) {
        __m256 d[4][4], e[6][4];
        for (int r = 0; r < 4; r++)
            deinterleave4(line + r * ls + 32 * q, d[r]);
        for (int cc = 0; cc < 4; cc++) { /* A down the columns */
            __m256 v[4] = {d[0][cc], d[1][cc], d[2][cc], d[3][cc]}, out[6];
            a6(v, out);
            for (int i = 0; i < 6; i++)
                e[i][cc] = out[i];
        }
        for (int i = 0; i < 6; i++) { /* A along the rows */
            __m256 out[6];
            a6(e[i], out);
            for (int k = 0; k < 6; k++)
                _mm256_storeu_ps(dst + (i * 6 + k) * xstride + 8 * q, out[k]);
        }
    }
}

/* ---------------------------------------------------------------- backward-weights transposes */

/* d[c*ldd + r] = s[r*lds + c] for an 8 x 8 block. */
static inline void transpose_8x8(const float *s, int64_t lds, float *d, int64_t ldd)
{
    __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + lds);
    __m256 r2 = _mm256_loadu_ps(s + 2 * lds), r3 = _mm256_loadu_ps(s + 3 * lds);
    __m256 r4 = _mm256_loadu_ps(s + 4 * lds), r5 = _mm256_loadu_ps(s + 5 * lds);
    __m256 r6 = _mm256_loadu_ps(s + 6 * lds), r7 = _mm256_loadu_ps(s + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(d + ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(d + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(d + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(d + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(d + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(d + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(d + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
}

/* dst[c*ldd + r] = src[r*lds + c]: 8 x 8 blocks, scalar edges. The AVX-512 table uses it too. */
void difu_wino_transpose_avx2(int rows, int cols, const float *src, int64_t lds, float *dst,
                          int64_t ldd)
{
    int r8 = rows / 8 * 8, c8 = cols / 8 * 8;
    for (int r = 0; r < r8; r += 8)
        for (int c = 0; c < c8; c += 8)
            transpose_8x8(src + r * lds + c, lds, dst + c * ldd + r, ldd);
    for (int r = 0; r < rows; r++)
        for (int c = r < r8 ? c8 : 0; c < cols; c++)
            dst[c * ldd + r] = src[r * lds + c];
}

const difu_wino_xforms difu_wino_xforms_avx2 = {
    difu_wino_input_avx2,  difu_wino_output_avx2,  difu_wino_dy_avx2, difu_wino_transpose_avx2,
    difu_wino_input5_avx2, difu_wino_output5_avx2};
