/* conv2d_ref.c: reference convolutions by direct loops (the test oracle), sums in double.
 * x [n, cin, h, w], weight [cout, cin, k, k], bias [cout], y/dy [n, cout, oh, ow],
 * oh = (h + 2*pad - k)/stride + 1. Any k, stride >= 1, pad >= 0.
 * Threads split whole output planes (fwd, bwd-data) or whole weight rows (bwd-weights). */
#include "gemm_conv.h"

static int out_size(int in, const difu_conv2d_desc *d)
{
    return (in + 2 * d->pad - d->k) / d->stride + 1;
}

void conv2d_fwd_ref(const difu_kernels *k, const difu_conv2d_desc *d, const float *x,
                    const float *weight, const float *bias, float *y, void *scratch, int ith,
                    int nth)
{
    (void)k;
    (void)scratch;
    int oh = out_size(d->h, d), ow = out_size(d->w, d);
    int64_t planes = (int64_t)d->n * d->cout;
    for (int64_t pl = planes * ith / nth; pl < planes * (ith + 1) / nth; pl++) {
        int64_t img = pl / d->cout;
        int co = (int)(pl % d->cout);
        for (int a = 0; a < oh; a++)
            for (int b = 0; b < ow; b++) {
                double sum = bias ? bias[co] : 0.0;
                for (int ci = 0; ci < d->cin; ci++)
                    for (int kh = 0; kh < d->k; kh++)
                        for (int kw = 0; kw < d->k; kw++) {
                            int ih = a * d->stride + kh - d->pad, iw = b * d->stride + kw - d->pad;
                            if (ih < 0 || ih >= d->h || iw < 0 || iw >= d->w)
                                continue;
                            sum += (double)weight[((int64_t)(co * d->cin + ci) * d->k + kh) * d->k + kw] *
                                   x[((img * d->cin + ci) * d->h + ih) * d->w + iw];
                        }
                y[(pl * oh + a) * ow + b] = (float)sum;
            }
    }
}

void conv2d_bwd_data_ref(const difu_kernels *k, const difu_conv2d_desc *d, const float *dy,
                         const float *weight, float *dx, void *scratch, int ith, int nth)
{
    (void)k;
    (void)scratch;
    int oh = out_size(d->h, d), ow = out_size(d->w, d);
    int64_t planes = (int64_t)d->n * d->cin;
    for (int64_t pl = planes * ith / nth; pl < planes * (ith + 1) / nth; pl++) {
        int64_t img = pl / d->cin;
        int ci = (int)(pl % d->cin);
        for (int ih = 0; ih < d->h; ih++)
            for (int iw = 0; iw < d->w; iw++) {
                double sum = 0.0;
                for (int kh = 0; kh < d->k; kh++)
                    for (int kw = 0; kw < d->k; kw++) {
                        int th = ih + d->pad - kh, tw = iw + d->pad - kw;
                        if (th < 0 || tw < 0 || th % d->stride || tw % d->stride)
                            continue;
                        int a = th / d->stride, b = tw / d->stride;
                        if (a >= oh || b >= ow)
                            continue;
                        for (int co = 0; co < d->cout; co++)
                            sum += (double)weight[((int64_t)(co * d->cin + ci) * d->k + kh) * d->k + kw] *
                                   dy[((img * d->cout + co) * oh + a) * ow + b];
                    }
                dx[(pl * d->h + ih) * d->w + iw] = (float)sum;
            }
    }
}

void conv2d_bwd_weights_ref(const difu_kernels *k, const difu_conv2d_desc *d, const float *x,
                            const float *dy, float *dweight, float *dbias, void *scratch, int ith,
                            int nth)
{
    (void)k;
    (void)scratch;
    int oh = out_size(d->h, d), ow = out_size(d->w, d);
    int64_t rows = (int64_t)d->cout * d->cin;
    for (int64_t r = rows * ith / nth; r < rows * (ith + 1) / nth; r++) {
        int co = (int)(r / d->cin), ci = (int)(r % d->cin);
        for (int kh = 0; kh < d->k; kh++)
            for (int kw = 0; kw < d->k; kw++) {
                double sum = 0.0;
                for (int img = 0; img < d->n; img++)
                    for (int a = 0; a < oh; a++)
                        for (int b = 0; b < ow; b++) {
                            int ih = a * d->stride + kh - d->pad, iw = b * d->stride + kw - d->pad;
                            if (ih < 0 || ih >= d->h || iw < 0 || iw >= d->w)
                                continue;
                            sum += (double)dy[(((int64_t)img * d->cout + co) * oh + a) * ow + b] *
                                   x[(((int64_t)img * d->cin + ci) * d->h + ih) * d->w + iw];
                        }
                dweight[(r * d->k + kh) * d->k + kw] = (float)sum;
            }
    }
    if (!dbias)
        return;
    for (int co = (int)((int64_t)d->cout * ith / nth); co < (int)((int64_t)d->cout * (ith + 1) / nth);
         co++) {
        double sum = 0.0;
        for (int img = 0; img < d->n; img++)
            for (int64_t q = 0; q < (int64_t)oh * ow; q++)
                sum += dy[((int64_t)img * d->cout + co) * oh * ow + q];
        dbias[co] = (float)sum;
    }
}
