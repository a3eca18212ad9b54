/* conv2d_pack.c: the convolution pack callbacks of conv2d_pack.h. Grid points are walked in runs
 * along one grid row, so stride-1 taps become plain copies with zero edges. */
#include "conv2d_pack.h"

difu_gemm_out difu_conv_out(float *y, int ch, int h, int w, int ga, int gb, int step, int oa,
                            int ob)
{
    difu_gemm_out o;
    o.c = y + (int64_t)oa * w + ob;
    o.ldc = (int64_t)h * w;
    o.ga = ga;
    o.gb = gb;
    o.s_img = (int64_t)ch * h * w;
    o.s_a = (int64_t)step * w;
    o.s_b = step;
    return o;
}

/* The baseline row copy for the packer template. */
#define PACK_ROW(o, src, lo, hi, len)                                                              \
    do {                                                                                           \
        float *o_ = (o);                                                                           \
        const float *s_ = (src);                                                                   \
        int q_ = 0;                                                                                \
        for (; q_ < (lo); q_++)                                                                    \
            o_[q_] = 0.0f;                                                                         \
        for (; q_ < (hi); q_++)                                                                    \
            o_[q_] = s_[q_];                                                                       \
        for (; q_ < (len); q_++)                                                                   \
            o_[q_] = 0.0f;                                                                         \
    } while (0)
#define PACK_B_TAPS difu_pack_b_taps
#include "conv2d_pack_taps.h"

void difu_pack_b_taps_t(const void *ctx, int j0, int cols, int p0, int kc, int nr, float *dst)
{
    const difu_conv_taps *s = ctx;
    const int64_t hw = (int64_t)s->h * s->w, img_stride = (int64_t)s->c * hw;
    enum { MAXRUNS = 512 };
    run runs[MAXRUNS];
    /* Runs of the k range (grid points), made in pieces of at most MAXRUNS. */
    for (int pb = 0; pb < kc;) {
        int nruns = 0, covered = 0;
        {
            int64_t plane = (int64_t)s->ga * s->gb;
            int64_t j = (int64_t)p0 + pb;
            int64_t img = j / plane, r = j - img * plane;
            int a = (int)(r / s->gb), b = (int)(r % s->gb);
            while (covered < kc - pb && nruns < MAXRUNS) {
                int len = s->gb - b < kc - pb - covered ? s->gb - b : kc - pb - covered;
                runs[nruns++] = (run){pb + covered, len, a, b, img};
                covered += len;
                b += len;
                if (b == s->gb) {
                    b = 0;
                    if (++a == s->ga) {
                        a = 0;
                        img++;
                    }
                }
            }
        }
        for (int q = 0; q * nr < cols; q++) {
            float *d = dst + (size_t)q * kc * nr;
            int n = cols - q * nr < nr ? cols - q * nr : nr;
            for (int jj = 0; jj < nr; jj++) {
                if (jj >= n) {
                    for (int p = pb; p < pb + covered; p++)
                        d[(size_t)p * nr + jj] = 0.0f;
                    continue;
                }
                int j = j0 + q * nr + jj;
                int ch = j / s->taps, t = j % s->taps;
                for (int r = 0; r < nruns; r++) {
                    const run *u = &runs[r];
                    copy_run(s, s->x + u->img * img_stride + ch * hw, u->a, u->b0, u->len,
                             s->dh[t], s->dw[t], d + (size_t)u->q0 * nr + jj, nr);
                }
            }
        }
        pb += covered;
    }
}

void difu_pack_a_weight(const void *ctx, int i0, int rows, int p0, int kc, int mr, float *dst)
{
    const difu_conv_weight *s = ctx;
    for (int q = 0; q * mr < rows; q++) {
        float *d = dst + (size_t)q * kc * mr;
        int n = rows - q * mr < mr ? rows - q * mr : mr;
        for (int ii = 0; ii < mr; ii++) {
            if (ii >= n) {
                for (int p = 0; p < kc; p++)
                    d[p * mr + ii] = 0.0f;
                continue;
            }
            int i = i0 + q * mr + ii;
            if (!s->trans && s->taps == s->kk) {
                const float *row = s->w + (int64_t)i * s->cin * s->kk + p0;
                for (int p = 0; p < kc; p++)
                    d[p * mr + ii] = row[p];
                continue;
            }
            int outer = p0 / s->taps, t = p0 % s->taps;
            for (int p = 0; p < kc; p++) {
                int co = s->trans ? outer : i, ci = s->trans ? i : outer;
                d[p * mr + ii] = s->w[((int64_t)co * s->cin + ci) * s->kk + s->tap[t]];
                if (++t == s->taps) {
                    t = 0;
                    outer++;
                }
            }
        }
    }
}

void difu_pack_a_rows(const void *ctx, int i0, int rows, int p0, int kc, int mr, float *dst)
{
    const difu_conv_rows *s = ctx;
    enum { MR_MAX = 16 };
    const float *src[MR_MAX];
    for (int q = 0; q * mr < rows; q++) {
        float *d = dst + (size_t)q * kc * mr;
        int n = rows - q * mr < mr ? rows - q * mr : mr;
        if (mr > MR_MAX) { /* not used by any micro-kernel; kept correct */
            for (int ii = 0; ii < mr; ii++)
                for (int p = 0; p < kc; p++) {
                    int64_t at = (int64_t)p0 + p, img = at / s->npix, pix = at % s->npix;
                    d[(size_t)p * mr + ii] =
                        ii < n ? s->y[(img * s->rows + i0 + q * mr + ii) * s->npix + pix] : 0.0f;
                }
            continue;
        }
        /* the points of one image at a time: mr row streams, one contiguous mr-wide write */
        for (int p = 0; p < kc;) {
            int64_t at = (int64_t)p0 + p, img = at / s->npix, pix = at % s->npix;
            int len = s->npix - pix < kc - p ? (int)(s->npix - pix) : kc - p;
            for (int ii = 0; ii < n; ii++)
                src[ii] = s->y + (img * s->rows + i0 + q * mr + ii) * s->npix + pix;
            float *o = d + (size_t)p * mr;
            for (int r = 0; r < len; r++, o += mr) {
                int ii = 0;
                for (; ii < n; ii++)
                    o[ii] = src[ii][r];
                for (; ii < mr; ii++)
                    o[ii] = 0.0f;
            }
            p += len;
        }
    }
}
