/* conv2d_pack_taps.h: the body of the im2col B packer (see difu_pack_b_taps in conv2d_pack.h),
 * included by conv2d_pack.c (baseline C) and by the ISA folders, which define
 *   PACK_ROW(o, src, lo, hi, len): o[q] = src[q] for q in [lo, hi), 0 for the rest of [0, len);
 *                                  src[q] is read only for q in [lo, hi) (len <= 64)
 *   PACK_B_TAPS: the name of the function to define.
 * Grid points are walked in runs along one grid row, so stride-1 taps are row copies. */
#include "conv2d_pack.h"

/* Copies len values x[img][ch][a*s+dh][(b0+q)*s+dw], q < len, into o (zeros outside). */
static void copy_run(const difu_conv_taps *s, const float *plane, int a, int b0, int len, int dh,
                     int dw, float *o, int64_t ostride)
{
    int ih = a * s->stride + dh;
    if (ih < 0 || ih >= s->h) {
        for (int q = 0; q < len; q++)
            o[q * ostride] = 0.0f;
        return;
    }
    const float *row = plane + (int64_t)ih * s->w;
    if (s->stride == 1) {
        int start = b0 + dw;
        int lo = start < 0 ? -start : 0;
        int hi = s->w - start < len ? s->w - start : len;
        if (lo > len)
            lo = len;
        if (hi < lo)
            hi = lo;
        if (ostride == 1) {
            PACK_ROW(o, row + start, lo, hi, len);
            return;
        }
        int q = 0;
        for (; q < lo; q++)
            o[q * ostride] = 0.0f;
        for (; q < hi; q++)
            o[q * ostride] = row[start + q];
        for (; q < len; q++)
            o[q * ostride] = 0.0f;
        return;
    }
    for (int q = 0; q < len; q++) {
        int iw = (b0 + q) * s->stride + dw;
        o[q * ostride] = (iw >= 0 && iw < s->w) ? row[iw] : 0.0f;
    }
}

typedef struct run {
    int q0, len, a, b0;
    int64_t img;
} run;

/* Splits grid points [j, j+n) into runs along grid rows; returns the count. */
static int make_runs(const difu_conv_taps *s, int64_t j, int n, run *runs)
{
    int64_t plane = (int64_t)s->ga * s->gb;
    int64_t img = j / plane, r = j - img * plane;
    int a = (int)(r / s->gb), b = (int)(r % s->gb);
    int count = 0;
    for (int q = 0; q < n;) {
        int len = s->gb - b < n - q ? s->gb - b : n - q;
        runs[count++] = (run){q, len, a, b, img};
        q += len;
        b += len;
        if (b == s->gb) {
            b = 0;
            if (++a == s->ga) {
                a = 0;
                img++;
            }
        }
    }
    return count;
}

/* Panels are packed a group at a time, channel by channel, so each channel plane of x is read
 * in order (prefetch-friendly) rather than all planes of the block at once per panel. */
void PACK_B_TAPS(const void *ctx, int j0, int cols, int p0, int kc, int nr, float *dst)
{
    const difu_conv_taps *s = ctx;
    const int64_t hw = (int64_t)s->h * s->w, img_stride = (int64_t)s->c * hw;
    enum { MAXRUNS = 256, MAXPANELS = 64 };
    run runs[MAXRUNS];
    int first[MAXPANELS + 1];
    int npanels = (cols + nr - 1) / nr;
    for (int g0 = 0; g0 < npanels;) {
        /* A group of panels whose runs fit. */
        int g1 = g0, used = 0;
        first[0] = 0;
        while (g1 < npanels && g1 - g0 < MAXPANELS && used + nr <= MAXRUNS) {
            int n = cols - g1 * nr < nr ? cols - g1 * nr : nr;
            used += make_runs(s, (int64_t)j0 + g1 * nr, n, runs + used);
            first[++g1 - g0] = used;
        }
        for (int p = 0; p < kc;) {
            int ch = (p0 + p) / s->taps, t0 = (p0 + p) % s->taps;
            int t1 = s->taps - t0 < kc - p ? s->taps : t0 + (kc - p);
            for (int q = g0; q < g1; q++) {
                float *d = dst + (size_t)q * kc * nr + (size_t)p * nr;
                int n = cols - q * nr < nr ? cols - q * nr : nr;
                for (int t = t0; t < t1; t++, d += nr) {
                    for (int r = first[q - g0]; r < first[q - g0 + 1]; r++) {
                        const run *u = &runs[r];
                        copy_run(s, s->x + u->img * img_stride + ch * hw, u->a, u->b0, u->len,
                                 s->dh[t], s->dw[t], d + u->q0, 1);
                    }
                    for (int jj = n; jj < nr; jj++)
                        d[jj] = 0.0f;
                }
            }
            p += t1 - t0;
        }
        g0 = g1;
    }
}
