/* conv2d_winograd_avx512.c: the Winograd tile transforms of kernels/conv2d_winograd.c in AVX-512
 * intrinsics, for 4x4 output tiles (F(4x4, 3x3)) and 5x5 ones (F(5x5, 3x3), input and output
 * only) (the contracts are difu_wino_xforms' in conv2d_winograd.h; the generic template
 * conv2d_winograd_xform.h is the reference they are tested against through the convolutions).
 * Lanes are 16 consecutive tiles of a block; T below is the output tile side (4 or 5), N = T + 2
 * the input tile's. Each transform works in two passes:
 *
 *  - rows: the runs' image rows are read as contiguous vectors (masked at the image's edges, so the
 *    zero padding costs nothing) and combined down the tile's rows into a line per transformed
 *    row, tile j's T columns at line[T*j .. T*j + T - 1];
 *  - columns: 16*T floats of a line (16 tiles) are split into the T column phases by two-source
 *    permutes, and combined along the tile's columns with lanes over the tiles.
 *
 * The input tile has T + 2 columns: columns T and T + 1 of tile j are columns 0 and 1 of tile
 * j + 1, or, at a run's last tile, the run's two tail columns (kept per tile in tails[]). The
 * output transform runs the same steps backwards (permutes interleave the T columns, masked
 * stores clip the runs at the image's edge). The shared passes take T as a constant: the rows
 * pass stays out of line (gcc makes one copy per tile side), the rest is inlined into each entry.
 * The tile transposes of backward-weights are AVX2's. */
#include <immintrin.h>
#include <string.h>

#include "conv2d_winograd.h"

/* PREFETCH_CHANNELS: how far ahead the source planes are fetched (the planes of one block are a
 * few KiB, read once per channel). */
enum { LINE_PAD = 32, MAX_GROUPS = 16, PREFETCH_CHANNELS = 8 };

/* Lanes [lo, hi) of 16 set. */
static inline __mmask16 lanes(int lo, int hi)
{
    if (lo < 0)
        lo = 0;
    if (hi > 16)
        hi = 16;
    if (hi <= lo)
        return 0;
    return (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

/* B^T d over 6 values (Lavin & Gray, points 0, +-1, +-2). */
static inline void bt6(const __m512 d[6], __m512 o[6])
{
    const __m512 two = _mm512_set1_ps(2.0f), four = _mm512_set1_ps(4.0f);
    const __m512 five = _mm512_set1_ps(5.0f);
    __m512 s12 = _mm512_add_ps(d[1], d[2]), s34 = _mm512_add_ps(d[3], d[4]);
    __m512 m12 = _mm512_sub_ps(d[1], d[2]), m43 = _mm512_sub_ps(d[4], d[3]);
    __m512 m31 = _mm512_sub_ps(d[3], d[1]), m42 = _mm512_sub_ps(d[4], d[2]);
    o[0] = _mm512_fmadd_ps(four, d[0], _mm512_fnmadd_ps(five, d[2], d[4]));
    o[1] = _mm512_fnmadd_ps(four, s12, s34);
    o[2] = _mm512_fmadd_ps(four, m12, m43);
    o[3] = _mm512_fmadd_ps(two, m31, m42);
    o[4] = _mm512_fnmadd_ps(two, m31, m42);
    o[5] = _mm512_fmadd_ps(four, d[1], _mm512_fnmadd_ps(five, d[3], d[5]));
}

/* A^T m over 6 values (4 outputs). */
static inline void at4(const __m512 m[6], __m512 o[4])
{
    const __m512 two = _mm512_set1_ps(2.0f), four = _mm512_set1_ps(4.0f);
    const __m512 eight = _mm512_set1_ps(8.0f);
    __m512 s12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
    __m512 s34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
    o[0] = _mm512_add_ps(_mm512_add_ps(m[0], s12), s34);
    o[1] = _mm512_fmadd_ps(two, d34, d12);
    o[2] = _mm512_fmadd_ps(four, s34, s12);
    o[3] = _mm512_add_ps(_mm512_fmadd_ps(eight, d34, d12), m[5]);
}

/* A d over 4 values (6 outputs): the transpose of at4. */
static inline void a6(const __m512 d[4], __m512 o[6])
{
    const __m512 two = _mm512_set1_ps(2.0f), four = _mm512_set1_ps(4.0f);
    const __m512 eight = _mm512_set1_ps(8.0f);
    __m512 s02 = _mm512_add_ps(d[0], d[2]), s13 = _mm512_add_ps(d[1], d[3]);
    __m512 e02 = _mm512_fmadd_ps(four, d[2], d[0]);
    __m512 e13 = _mm512_fmadd_ps(eight, d[3], _mm512_mul_ps(two, d[1]));
    o[0] = d[0];
    o[1] = _mm512_add_ps(s02, s13);
    o[2] = _mm512_sub_ps(s02, s13);
    o[3] = _mm512_add_ps(e02, e13);
    o[4] = _mm512_sub_ps(e02, e13);
    o[5] = d[3];
}

/* p[c][k] = l[4k + c], c < 4, k < 16: the column phases of 16 tiles laid out 4 floats apart. */
static inline void deinterleave4(const float *l, __m512 p[4])
{
    const __m512i i01 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    const __m512i i23 = _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
    __m512 a = _mm512_loadu_ps(l), b = _mm512_loadu_ps(l + 16);
    __m512 c = _mm512_loadu_ps(l + 32), d = _mm512_loadu_ps(l + 48);
    __m512 ab01 = _mm512_permutex2var_ps(a, i01, b), ab23 = _mm512_permutex2var_ps(a, i23, b);
    __m512 cd01 = _mm512_permutex2var_ps(c, i01, d), cd23 = _mm512_permutex2var_ps(c, i23, d);
    p[0] = _mm512_shuffle_f32x4(ab01, cd01, 0x44);
    p[1] = _mm512_shuffle_f32x4(ab01, cd01, 0xEE);
    p[2] = _mm512_shuffle_f32x4(ab23, cd23, 0x44);
    p[3] = _mm512_shuffle_f32x4(ab23, cd23, 0xEE);
}

/* l[4k + c] = y[c][k]: the inverse of deinterleave4. */
static inline void interleave4(const __m512 y[4], float *l)
{
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512i q0 = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
    const __m512i q1 = _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
    __m512 ab_lo = _mm512_permutex2var_ps(y[0], lo, y[1]), ab_hi = _mm512_permutex2var_ps(y[0], hi, y[1]);
    __m512 cd_lo = _mm512_permutex2var_ps(y[2], lo, y[3]), cd_hi = _mm512_permutex2var_ps(y[2], hi, y[3]);
    _mm512_storeu_ps(l, _mm512_permutex2var_ps(ab_lo, q0, cd_lo));
    _mm512_storeu_ps(l + 16, _mm512_permutex2var_ps(ab_lo, q1, cd_lo));
    _mm512_storeu_ps(l + 32, _mm512_permutex2var_ps(ab_hi, q0, cd_hi));
    _mm512_storeu_ps(l + 48, _mm512_permutex2var_ps(ab_hi, q1, cd_hi));
}

/* Bit k % 16 of ends[k / 16] set when block column k is the last tile of its run. */
static void run_ends(const difu_wino_run *runs, int nrun, __mmask16 *ends, int ngroups)
{
    for (int q = 0; q < ngroups; q++)
        ends[q] = 0;
    for (int ri = 0; ri < nrun; ri++) {
        int e = runs[ri].jj + runs[ri].len - 1;
        ends[e / 16] |= (__mmask16)(1u << (e % 16));
    }
}

/* B^T d over 7 values, rows scaled as conv2d_winograd_xform.h's BT7: 22 operations. */
static inline void bt7(const __m512 d[7], __m512 o[7])
{
    const __m512 two = _mm512_set1_ps(2.0f), four = _mm512_set1_ps(4.0f);
    const __m512 five = _mm512_set1_ps(5.0f);
    __m512 r5 = _mm512_fmadd_ps(four, d[1], _mm512_fnmadd_ps(five, d[3], d[5]));
    __m512 f42 = _mm512_fnmadd_ps(four, d[2], d[4]), f53 = _mm512_fnmadd_ps(four, d[3], d[5]);
    __m512 f31 = _mm512_fnmadd_ps(four, d[1], d[3]);
    __m512 s1 = _mm512_fmadd_ps(two, f53, f42), t1 = _mm512_fmadd_ps(two, f42, f31);
    __m512 e42 = _mm512_sub_ps(d[4], d[2]);
    __m512 s2 = _mm512_fmadd_ps(two, _mm512_sub_ps(d[5], d[3]), e42);
    __m512 t2 = _mm512_fmadd_ps(two, e42, _mm512_sub_ps(d[3], d[1]));
    __m512 r0 = _mm512_fmadd_ps(four, d[0], _mm512_fnmadd_ps(five, d[2], d[4]));
    __m512 r6 = _mm512_fmadd_ps(four, d[2], _mm512_fnmadd_ps(five, d[4], d[6]));
    o[0] = _mm512_fmadd_ps(two, r5, r0);
    o[1] = _mm512_add_ps(s1, t1);
    o[2] = _mm512_sub_ps(s1, t1);
    o[3] = _mm512_fmadd_ps(two, t2, s2);
    o[4] = _mm512_fnmadd_ps(two, t2, s2);
    o[5] = r5;
    o[6] = _mm512_fmadd_ps(two, r6, r5);
}

/* A^T m over 7 values (5 outputs). */
static inline void at5(const __m512 m[7], __m512 o[5])
{
    const __m512 two = _mm512_set1_ps(2.0f), four = _mm512_set1_ps(4.0f);
    const __m512 eight = _mm512_set1_ps(8.0f), sixteen = _mm512_set1_ps(16.0f);
    __m512 s12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
    __m512 s34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
    o[0] = _mm512_add_ps(_mm512_add_ps(m[0], s12), _mm512_add_ps(s34, m[5]));
    o[1] = _mm512_fmadd_ps(_mm512_set1_ps(-0.5f), m[5], _mm512_fmadd_ps(two, d34, d12));
    o[2] = _mm512_fmadd_ps(_mm512_set1_ps(0.25f), m[5], _mm512_fmadd_ps(four, s34, s12));
    o[3] = _mm512_fmadd_ps(_mm512_set1_ps(-0.125f), m[5], _mm512_fmadd_ps(eight, d34, d12));
    o[4] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(0.0625f), m[5],
                                         _mm512_fmadd_ps(sixteen, s34, s12)),
                         m[6]);
}

/* Phase c of 16 tiles 5 floats apart: lane k takes float 5k + c of the 80 in a[0..4]. Positions
 * below 32 come from a[0], a[1], those below 64 from a[2], a[3], the rest from a[4]; one index
 * vector serves all three (the permutes read its low 5 or 4 bits). */
static inline __m512 phase5(const __m512 a[5], int c)
{
    int idx[16];
    unsigned hi = 0, top = 0;
    for (int k = 0; k < 16; k++) {
        int pos = 5 * k + c;
        idx[k] = pos & 31;
        hi |= (unsigned)(pos >= 32 && pos < 64) << k;
        top |= (unsigned)(pos >= 64) << k;
    }
    const __m512i i = _mm512_loadu_si512(idx);
    __m512 x = _mm512_permutex2var_ps(a[0], i, a[1]);
    x = _mm512_mask_mov_ps(x, (__mmask16)hi, _mm512_permutex2var_ps(a[2], i, a[3]));
    return _mm512_mask_permutexvar_ps(x, (__mmask16)top, i, a[4]);
}

/* p[c][k] = l[5k + c], c < 5, k < 16. */
static inline void deinterleave5(const float *l, __m512 p[5])
{
    __m512 a[5];
    for (int j = 0; j < 5; j++)
        a[j] = _mm512_loadu_ps(l + 16 * j);
    for (int c = 0; c < 5; c++)
        p[c] = phase5(a, c);
}

/* l[16j .. 16j + 15] of the interleaving l[5k + c] = y[c][k]: position p takes y[p % 5][p / 5],
 * from y[0], y[1] (phases 0, 1), y[2], y[3] (2, 3) or y[4]. */
static inline __m512 interleaved5(const __m512 y[5], int j)
{
    int i01[16], i23[16], i4[16];
    unsigned from23 = 0, from4 = 0;
    for (int l = 0; l < 16; l++) {
        int p = 16 * j + l, k = p / 5, c = p % 5;
        i01[l] = k + 16 * (c == 1);
        i23[l] = k + 16 * (c == 3);
        i4[l] = k;
        from23 |= (unsigned)(c == 2 || c == 3) << l;
        from4 |= (unsigned)(c == 4) << l;
    }
    __m512 x = _mm512_permutex2var_ps(y[0], _mm512_loadu_si512(i01), y[1]);
    x = _mm512_mask_mov_ps(x, (__mmask16)from23,
                           _mm512_permutex2var_ps(y[2], _mm512_loadu_si512(i23), y[3]));
    return _mm512_mask_permutexvar_ps(x, (__mmask16)from4, _mm512_loadu_si512(i4), y[4]);
}

/* The 4x4 or 5x5 tile's versions of the steps above, T a constant after inlining. */
static inline __attribute__((always_inline)) void bt(const int T, const __m512 *d, __m512 *o)
{
    if (T == 4)
        bt6(d, o);
    else
        bt7(d, o);
}

static inline __attribute__((always_inline)) void at(const int T, const __m512 *m, __m512 *o)
{
    if (T == 4)
        at4(m, o);
    else
        at5(m, o);
}

static inline __attribute__((always_inline)) void deinterleave(const int T, const float *l,
                                                               __m512 *p)
{
    if (T == 4)
        deinterleave4(l, p);
    else
        deinterleave5(l, p);
}

static inline __attribute__((always_inline)) void interleave(const int T, const __m512 *y,
                                                             float *l)
{
    if (T == 4)
        interleave4(y, l);
    else
        for (int j = 0; j < 5; j++)
            _mm512_storeu_ps(l + 16 * j, interleaved5(y, j));
}

/* ---------------------------------------------------------------- input tiles */

/* Where one channel's rows pass leaves its results: N lines of ls floats (tile j's columns at
 * T*j .. T*j + T - 1) and the runs' tail columns T and T + 1 (tails0 / tails1 + r*nbp, indexed by
 * the run's last tile). */
typedef struct input_lines {
    float *line, *tails0, *tails1;
} input_lines;

/* Lane l of v to *dst. */
static inline void store_lane(float *dst, __m512 v, int l)
{
    _mm_store_ss(dst, _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_set1_epi32(l), v)));
}

/* Rows pass of one channel plane for its runs: line r' gets (B^T d)_r' of each run's T*len
 * columns at T*jj, the run's 2 tail columns go to the tails (taken from the registers, so no
 * load waits on a store). Rows above or below the image load with an empty mask (zeros, no
 * memory touched), so the loop has no branch per row, and a chunk wholly past the image's right
 * edge (a 14-wide image's last 2 columns with 4x4 tiles) loads and transforms nothing. */
static void input_rows(const int T, const difu_wino_geom *g, const float *src, int64_t istride,
                       const difu_wino_run *runs, int nrun, int64_t ls, const input_lines *L)
{
    const int w = g->w, h = g->h, nbp = g->nbp, N = T + 2;
    for (int ri = 0; ri < nrun; ri++) {
        const difu_wino_run *rn = &runs[ri];
        const float *plane = src + rn->img * istride;
        const int n = T * rn->len + 2, col0 = T * rn->tx - 1, y0 = T * rn->ty - 1;
        const int e = rn->jj + rn->len - 1;
        const float *row_at[7];
        __mmask16 row_in[7]; /* all lanes for a row inside the image, none outside */
        for (int r = 0; r < N; r++) {
            const int row = y0 + r, inside = row >= 0 && row < h;
            row_in[r] = (__mmask16)(inside ? 0xFFFF : 0);
            row_at[r] = plane + (int64_t)(inside ? row : 0) * w + col0;
        }
        float *line = L->line + T * rn->jj;
        for (int off = 0; off < n; off += 16) {
            const int col = col0 + off;
            const __mmask16 in = lanes(-col, (w - col < n - off ? w - col : n - off));
            const __mmask16 out = lanes(0, n - 2 - off);
            const int t0 = n - 2 - off; /* lane of tail column T, if in this chunk */
            __m512 o[7];
            if (in) {
                __m512 d[7];
                for (int r = 0; r < N; r++)
                    d[r] = _mm512_maskz_loadu_ps(in & row_in[r], row_at[r] + off);
                bt(T, d, o);
            } else {
                for (int r = 0; r < N; r++)
                    o[r] = _mm512_setzero_ps();
            }
            if (out)
                for (int r = 0; r < N; r++)
                    _mm512_mask_storeu_ps(line + r * ls + off, out, o[r]);
            if (t0 >= 0 && t0 < 16)
                for (int r = 0; r < N; r++)
                    store_lane(L->tails0 + r * nbp + e, o[r], t0);
            if (t0 + 1 >= 0 && t0 + 1 < 16)
                for (int r = 0; r < N; r++)
                    store_lane(L->tails1 + r * nbp + e, o[r], t0 + 1);
        }
    }
}

/* Columns pass of one channel: V[r*N + cc'] of the block's groups of 16 tiles to out (see
 * input_tiles), lanes past cnt zero. */
static inline __attribute__((always_inline)) void
input_columns(const int T, const input_lines *L, int64_t ls, int nbp, int nr, int cnt,
              int ngroups, const __mmask16 *ends, float *dst, int64_t xstride, int64_t pstride)
{
    const int N = T + 2;
    for (int q = 0; q < ngroups; q++) {
        float *out = dst + (16 * q / nr) * pstride + (16 * q % nr);
        const __mmask16 valid = lanes(0, cnt - 16 * q);
        for (int r = 0; r < N; r++) {
            const float *l = L->line + r * ls + 16 * T * q;
            __m512 d[7], o[7];
            deinterleave(T, l, d);
            /* columns T, T + 1 of tile j: columns 0, 1 of tile j + 1, or at a run's end its
             * tails */
            __m512i next0 = _mm512_castps_si512(_mm512_set1_ps(l[16 * T]));
            __m512i next1 = _mm512_castps_si512(_mm512_set1_ps(l[16 * T + 1]));
            d[T] = _mm512_castsi512_ps(_mm512_alignr_epi32(next0, _mm512_castps_si512(d[0]), 1));
            d[T + 1] =
                _mm512_castsi512_ps(_mm512_alignr_epi32(next1, _mm512_castps_si512(d[1]), 1));
            d[T] = _mm512_mask_loadu_ps(d[T], ends[q], L->tails0 + r * nbp + 16 * q);
            d[T + 1] = _mm512_mask_loadu_ps(d[T + 1], ends[q], L->tails1 + r * nbp + 16 * q);
            bt(T, d, o);
            for (int cc = 0; cc < N; cc++)
                _mm512_storeu_ps(out + (r * N + cc) * xstride, _mm512_maskz_mov_ps(valid, o[cc]));
        }
    }
}

/* The input transform (difu_wino_xforms.input's contract) for tile side T. The channels run as a
 * two-stage pipeline on two sets of lines: the rows pass of channel ci + 1, then the columns pass
 * of channel ci, so the columns pass reads lines stored a whole channel earlier (a load right
 * behind a masked store to the same place waits for it). */
static inline __attribute__((always_inline)) void
input_tiles(const int T, const difu_wino_geom *g, const float *src, const difu_wino_run *runs,
            int nrun, int cnt, int c0, int c1, float *dst, int64_t xstride, int64_t pstride,
            int64_t cstride, const difu_wino_bufs *p)
{
    const int nr = g->nr, nbp = g->nbp, ncols = (cnt + nr - 1) / nr * nr, ngroups = ncols / 16;
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
    __mmask16 ends[MAX_GROUPS];
    run_ends(runs, nrun, ends, ngroups);
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

void difu_wino_input_avx512(const difu_wino_geom *g, const float *src, const difu_wino_run *runs,
                            int nrun, int cnt, int c0, int c1, float *dst, int64_t xstride,
                            int64_t pstride, int64_t cstride, const difu_wino_bufs *p);
void difu_wino_input_avx512(const difu_wino_geom *g, const float *src, const difu_wino_run *runs,
                            int nrun, int cnt, int c0, int c1, float *dst, int64_t xstride,
                            int64_t pstride, int64_t cstride, const difu_wino_bufs *p)
{
    input_tiles(4, g, src, runs, nrun, cnt, c0, c1, dst, xstride, pstride, cstride, p);
}

void difu_wino_input5_avx512(const difu_wino_geom *g, const float *src, const difu_wino_run *runs,
                             int nrun, int cnt, int c0, int c1, float *dst, int64_t xstride,
                             int64_t pstride, int64_t cstride, const difu_wino_bufs *p);
void difu_wino_input5_avx512(const difu_wino_geom *g, const float *src, const difu_wino_run *runs,
                             int nrun, int cnt, int c0, int c1, float *dst, int64_t xstride,
                             int64_t pstride, int64_t cstride, const difu_wino_bufs *p)
{
    input_tiles(5, g, src, runs, nrun, cnt, c0, c1, dst, xstride, pstride, cstride, p);
}

/* Output channel o's rows from the g->tile lines to dst, with the epilogue (kernels.h's order:
 * + channel, then + residual). Inlined once per epilogue kind: the flags are constants, so each
 * loop carries only its own work (in the transform alone, testing them per chunk cost 15%; in
 * the model the difference is within noise). Whole chunks use plain loads and stores; the
 * line's padding covers a load past the run. */
static inline __attribute__((always_inline)) void
copy_out(const difu_wino_geom *g, const float *line, int64_t ls, const difu_wino_run *runs,
         int nrun, int o, const float *chan, const float *res, const int has_chan,
         const int has_res, float *dst)
{
    const int64_t hw = (int64_t)g->h * g->w;
    for (int ri = 0; ri < nrun; ri++) {
        const difu_wino_run *rn = &runs[ri];
        const int64_t plane = (int64_t)rn->img * g->m + o;
        const __m512 cv = _mm512_set1_ps(has_chan ? chan[plane] : 0.0f);
        const int T = g->tile; /* 4 or 5 floats per tile in the lines */
        const int n4 = T * rn->len < g->w - T * rn->tx ? T * rn->len : g->w - T * rn->tx;
        for (int r = 0; r < T && T * rn->ty + r < g->h; r++) {
            const float *l = line + r * ls + T * rn->jj;
            const int64_t at = plane * hw + (int64_t)(T * rn->ty + r) * g->w + T * rn->tx;
            int off = 0;
            for (; off + 16 <= n4; off += 16) {
                __m512 v = _mm512_loadu_ps(l + off);
                if (has_chan)
                    v = _mm512_add_ps(v, cv);
                if (has_res)
                    v = _mm512_add_ps(v, _mm512_loadu_ps(res + at + off));
                _mm512_storeu_ps(dst + at + off, v);
            }
            if (off < n4) {
                const __mmask16 k = lanes(0, n4 - off);
                __m512 v = _mm512_loadu_ps(l + off);
                if (has_chan)
                    v = _mm512_add_ps(v, cv);
                if (has_res)
                    v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, res + at + off));
                _mm512_mask_storeu_ps(dst + at + off, k, v);
            }
        }
    }
}

/* ---------------------------------------------------------------- output tiles */

/* The output transform (difu_wino_xforms.output's contract) for tile side T: per group of 16
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
    const __m512 bias = _mm512_set1_ps(bv);
    for (int q = 0; q < ncols / 16; q++) {
        const float *mq = m + 16 * q;
        __m512 t[7][5], y[5][5];
        for (int r = 0; r < N; r++) { /* A^T along each row of M */
            __m512 v[7];
            for (int cc = 0; cc < N; cc++)
                v[cc] = _mm512_loadu_ps(mq + (r * N + cc) * xstride);
            at(T, v, t[r]);
        }
        for (int c = 0; c < T; c++) { /* A^T down the columns */
            __m512 v[7], out[5];
            for (int r = 0; r < N; r++)
                v[r] = t[r][c];
            at(T, v, out);
            for (int r = 0; r < T; r++)
                y[r][c] = _mm512_add_ps(out[r], bias);
        }
        for (int r = 0; r < T; r++)
            interleave(T, y[r], line + r * ls + 16 * T * q);
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

void difu_wino_output_avx512(const difu_wino_geom *g, const float *m, int64_t xstride, int ncols,
                             const difu_wino_run *runs, int nrun, int o, float bv,
                             const difu_conv_epilogue *ep, float *dst, const difu_wino_bufs *p);
void difu_wino_output_avx512(const difu_wino_geom *g, const float *m, int64_t xstride, int ncols,
                             const difu_wino_run *runs, int nrun, int o, float bv,
                             const difu_conv_epilogue *ep, float *dst, const difu_wino_bufs *p)
{
    output_tiles(4, g, m, xstride, ncols, runs, nrun, o, bv, ep, dst, p);
}

void difu_wino_output5_avx512(const difu_wino_geom *g, const float *m, int64_t xstride, int ncols,
                              const difu_wino_run *runs, int nrun, int o, float bv,
                              const difu_conv_epilogue *ep, float *dst, const difu_wino_bufs *p);
void difu_wino_output5_avx512(const difu_wino_geom *g, const float *m, int64_t xstride, int ncols,
                              const difu_wino_run *runs, int nrun, int o, float bv,
                              const difu_conv_epilogue *ep, float *dst, const difu_wino_bufs *p)
{
    output_tiles(5, g, m, xstride, ncols, runs, nrun, o, bv, ep, dst, p);
}

/* ---------------------------------------------------------------- output gradients */

void difu_wino_dy_avx512(const difu_wino_geom *g, const float *dy, const difu_wino_run *runs,
                         int nrun, int ncols, int co, float *dst, int64_t xstride,
                         const difu_wino_bufs *p);
void difu_wino_dy_avx512(const difu_wino_geom *g, const float *dy, const difu_wino_run *runs,
                         int nrun, int ncols, int co, float *dst, int64_t xstride,
                         const difu_wino_bufs *p)
{
    const int nbp = g->nbp, ngroups = (ncols + 15) / 16;
    const int64_t hw = (int64_t)g->h * g->w, ls = 4 * (int64_t)nbp + LINE_PAD;
    float *line = p->patch; /* 4 lines of ls: tile j's dy columns at 4j .. 4j + 3 */
    if (co + PREFETCH_CHANNELS < g->m)
        difu_wino_prefetch_planes(g, dy + (co + PREFETCH_CHANNELS) * hw, g->m * hw, runs, nrun,
                                  0, 4, 0);
    const int used = runs[nrun - 1].jj + runs[nrun - 1].len;
    for (int r = 0; r < 4; r++) {
        float *l = line + r * ls;
        /* whole vectors (masked ones cost 15% in the transform alone): the next run overwrites
         * the excess */
        for (int ri = 0; ri < nrun; ri++) {
            const difu_wino_run *rn = &runs[ri];
            const int n4 = 4 * rn->len, row = 4 * rn->ty + r, col0 = 4 * rn->tx;
            const int valid = row < g->h ? (g->w - col0 < n4 ? g->w - col0 : n4) : 0;
            const float *s = dy + ((int64_t)rn->img * g->m + co) * hw + (int64_t)row * g->w + col0;
            for (int off = 0; off < n4; off += 16)
                _mm512_storeu_ps(l + 4 * rn->jj + off,
                                 valid - off >= 16
                                     ? _mm512_loadu_ps(s + off)
                                     : _mm512_maskz_loadu_ps(lanes(0, valid - off), s + off));
        }
        /* past the runs: zeros, not stale values (transformed, never used: k = cnt) */
        memset(l + 4 * used, 0, sizeof(float) * (size_t)(4 * (16 * ngroups - used)));
    }
    for (int q = 0; q < ngroups; q++) {
        __m512 d[4][4], e[6][4];
        for (int r = 0; r < 4; r++)
            deinterleave4(line + r * ls + 64 * q, d[r]);
        for (int cc = 0; cc < 4; cc++) { /* A down the columns */
            __m512 v[4] = {d[0][cc], d[1][cc], d[2][cc], d[3][cc]}, out[6];
            a6(v, out);
            for (int i = 0; i < 6; i++)
                e[i][cc] = out[i];
        }
        for (int i = 0; i < 6; i++) { /* A along the rows */
            __m512 out[6];
            a6(e[i], out);
            for (int k = 0; k < 6; k++)
                _mm512_storeu_ps(dst + (i * 6 + k) * xstride + 16 * q, out[k]);
        }
    }
}

const difu_wino_xforms difu_wino_xforms_avx512 = {
    difu_wino_input_avx512,   difu_wino_output_avx512, difu_wino_dy_avx512,
    difu_wino_transpose_avx2, difu_wino_input5_avx512, difu_wino_output5_avx512};
