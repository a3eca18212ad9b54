/* conv2d_shift.c: packing-free ("shifted-pointer") convolutions for k=3 stride 1 pad 1 and k=1
 * stride 1 pad 0, ISA-generic, on the table's gemm_ukernel.shift micro-kernels.
 *
 * Slab. A band of R rows of G images of a [n, C, h, w] tensor is copied into this thread's scratch
 * as C planes of `plane` floats, zero-padded: p = pad zeros lead each plane, then R + 2p rows of
 * pitch wp = G*(w+p), image g at column g*(w+p) followed by p zero columns (the right pad of one row
 * is the left pad of the next), then zeros. Output point o = rr*wp + g*(w+p) + c (band row rr,
 * column c < w valid, c == w garbage) reads tap (kh, kw) at slab[o + kh*wp + kw]: for every o the
 * same shift, so a vector of consecutive output points is one unaligned load per tap, with no
 * im2col packing. Outputs are computed for o < npixc (npix = R*wp rounded up to the vector) into a
 * tile buffer Ys and the valid points copied out.
 *
 * forward:        y[co][o]  = sum over (ci, t) of w[co][ci][t]         * X[ci][o + off_t]
 * backward-data:  dx[ci][o] = sum over (co, t) of w[co][ci][taps-1-t]  * DY[co][o + off_t]
 * backward-weights: dw[co][ci][t] = sum over slabs, o of DYs[co][o] * X[ci][o + off_t], with DYs
 *                  the slab-shaped dy whose garbage points are zero (dot-product micro-kernel).
 * Every output element is computed by one thread with a summation order fixed by the shape alone
 * (k order, slab order), so results are bit-identical for any thread count.
 *
 * Scratch layout (64-byte aligned): three int32 tables of KMAX, an A tail tile MRMAX*KMAX floats,
 * then SLAB_FLOATS floats for the slab and Ys (or DYs). */
#include <string.h>

#include "gemm_conv.h"

/* SLAB_FLOATS bounds slab + Ys (about half a 1 MiB L2); BWDW_FLOATS bounds slab + DYs of
 * backward-weights, which re-reads the slab once per block of dweight rows. */
enum { KMAX = 4608, MRMAX = 8, SLAB_FLOATS = 160 * 1024, BWDW_FLOATS = 128 * 1024 };

typedef struct geom {
    int n, c, h, w;       /* the slab's source tensor [n, c, h, w] */
    int p, taps;          /* pad (0 or 1), taps (1 or 9) */
    int g, r, bands;      /* images per slab, output rows per band, bands per image */
    int wp;               /* row pitch g*(w+p) */
    int64_t npix, npixc;  /* r*wp, rounded up to the vector length */
    int64_t plane;        /* floats per slab channel */
    int32_t off[9];       /* tap shifts kh*wp + kw */
} geom;

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

static size_t align_floats(size_t x) { return (x + 15) & ~(size_t)15; }

size_t difu_conv_shift_scratch_bytes(const difu_gemm_ukernel *u)
{
    if (!u->shift.fn)
        return 0;
    return (3 * align_floats(KMAX) + align_floats((size_t)MRMAX * KMAX) + SLAB_FLOATS) *
               sizeof(float) + 64;
}

static void set_geom(geom *g, int gimg, int r, int vl)
{
    g->g = gimg;
    g->r = r;
    g->bands = (g->h + r - 1) / r;
    g->wp = gimg * (g->w + g->p);
    g->npix = (int64_t)r * g->wp;
    g->npixc = round_up(g->npix, vl);
    g->plane = round_up(g->npixc + 2 * g->p * ((int64_t)g->wp + 1), 16);
    int k = g->taps == 9 ? 3 : 1;
    for (int t = 0; t < g->taps; t++)
        g->off[t] = (int32_t)((t / k) * g->wp + t % k);
}

/* Chooses images per slab and rows per band: as many images as make about target_npix points
 * (at most n), then fewer images, then fewer rows, until the slab (c planes) and `extra` planes
 * of npixc floats fit `budget` floats (<= SLAB_FLOATS). Depends on the shape only. Returns 0 when nothing fits. */
static int plan(geom *g, const difu_conv2d_desc *d, int c, int extra, int64_t target_npix,
                int vl, int64_t budget)
{
    g->n = d->n, g->c = c, g->h = d->h, g->w = d->w;
    g->p = d->pad, g->taps = d->k * d->k;
    int64_t img_pts = (int64_t)d->h * (d->w + d->pad);
    int gimg = (int)(target_npix / img_pts);
    if (gimg < 1)
        gimg = 1;
    if (gimg > d->n)
        gimg = d->n;
    for (; gimg >= 1; gimg--) {
        set_geom(g, gimg, d->h, vl);
        if ((int64_t)c * g->plane + (int64_t)extra * g->npixc <= budget)
            return 1;
    }
    for (int r = d->h - 1; r >= 1; r--) {
        set_geom(g, 1, r, vl);
        if ((int64_t)c * g->plane + (int64_t)extra * g->npixc <= budget)
            return 1;
    }
    return 0;
}

/* Copies band `band` of images [i0, i0+g) of src [n, c, h, w] into the slab, zeros included. */
static void build_slab(const geom *g, const float *src, int i0, int band, float *slab)
{
    const int p = g->p, w = g->w;
    const int r0 = band * g->r;
    const int64_t hw = (int64_t)g->h * w;
    for (int ch = 0; ch < g->c; ch++) {
        float *pl = slab + ch * g->plane;
        if (p)
            pl[0] = 0.0f;
        for (int j = 0; j < g->r + 2 * p; j++) {
            int row = r0 - p + j;
            float *d = pl + p + (int64_t)j * g->wp;
            for (int gi = 0; gi < g->g; gi++, d += w + p) {
                int img = i0 + gi;
                if (img < g->n && row >= 0 && row < g->h)
                    memcpy(d, src + ((int64_t)img * g->c + ch) * hw + (int64_t)row * w,
                           sizeof(float) * (size_t)w);
                else
                    memset(d, 0, sizeof(float) * (size_t)w);
                if (p)
                    d[w] = 0.0f;
            }
        }
        int64_t used = p + (int64_t)(g->r + 2 * p) * g->wp;
        memset(pl + used, 0, sizeof(float) * (size_t)(g->plane - used));
    }
}

/* Copies output rows [0, m) of the tile buffer ys (row stride npixc) to channels [c0, c0+m) of
 * dst [n, cdst, h, w] for the slab's images and band, adding bias[c0 + i] when bias != NULL. */
static void copy_out(const geom *g, const float *ys, int m, int c0, int cdst, const float *bias,
                     int i0, int band, float *dst)
{
    const int w = g->w, r0 = band * g->r;
    for (int i = 0; i < m; i++) {
        float bv = bias ? bias[c0 + i] : 0.0f;
        for (int gi = 0; gi < g->g && i0 + gi < g->n; gi++) {
            float *out = dst + (((int64_t)(i0 + gi) * cdst + c0 + i) * g->h + r0) * w;
            const float *in = ys + (int64_t)i * g->npixc + (int64_t)gi * (w + g->p);
            for (int rr = 0; rr < g->r && r0 + rr < g->h; rr++, out += w, in += g->wp) {
                if (bias)
                    for (int c = 0; c < w; c++)
                        out[c] = in[c] + bv;
                else
                    memcpy(out, in, sizeof(float) * (size_t)w);
            }
        }
    }
}

typedef struct scratch_parts {
    int32_t *aoff, *aid, *boff;
    float *apad, *slab;
} scratch_parts;

static scratch_parts split_scratch(void *scratch)
{
    scratch_parts s;
    float *f = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    s.aoff = (int32_t *)f;
    s.aid = (int32_t *)(f + align_floats(KMAX));
    s.boff = (int32_t *)(f + 2 * align_floats(KMAX));
    s.apad = f + 3 * align_floats(KMAX);
    s.slab = s.apad + align_floats((size_t)MRMAX * KMAX);
    return s;
}

/* Channels per k block: the slab rows one pixel tile reads over a block should stay in L1. */
static int channel_block(const geom *g, int nr)
{
    int64_t per_ch = (int64_t)(nr + 2 * g->p * (g->wp + 1)) * (int64_t)sizeof(float);
    int64_t cb = (int64_t)24 * 1024 / per_ch;
    if (cb < 1)
        cb = 1;
    int nblk = (int)((g->c + cb - 1) / cb);
    return (g->c + nblk - 1) / nblk;
}

/* out[i][o] = sum over k < kk of a[i*lda + aoff[k]] * slab[boff[k] + o] for the m output channels
 * (rows of A), the shared body of forward and backward-data. The slab source is src
 * [n, g->c, h, w]; the output dst [n, m, h, w]. Threads take contiguous ranges of the
 * (slab, row block) items. Per slab: pixel tiles, then k blocks of channels, then row blocks, so
 * a tile's slab rows stay in L1 across the row blocks; Ys holds all m rows of the slab. */
static void shift_run(const difu_kernels *k, const geom *g, const float *src, const float *a,
                      int64_t lda, int m, const float *bias, float *dst, scratch_parts *s,
                      int ith, int nth)
{
    const difu_conv_shift_ukernels *u = &k->gemm_ukernel.shift;
    const int mr = u->mr, taps = g->taps, kk = g->c * taps, nr = u->nv_max * u->vl;
    for (int ch = 0; ch < g->c; ch++)
        for (int t = 0; t < taps; t++)
            s->boff[ch * taps + t] = (int32_t)(ch * g->plane + g->off[t]);
    for (int q = 0; q < kk; q++)
        s->aid[q] = q;
    const int nblocks = (m + mr - 1) / mr, cb = channel_block(g, nr);
    const int64_t nslabs = (int64_t)((g->n + g->g - 1) / g->g) * g->bands;
    const int64_t items = nslabs * nblocks;
    const int64_t it0 = items * ith / nth, it1 = items * (ith + 1) / nth;
    if (it0 >= it1)
        return;
    if (m % mr) { /* the last row block, zero-padded to mr rows */
        int m0 = (nblocks - 1) * mr;
        for (int i = 0; i < mr; i++)
            for (int q = 0; q < kk; q++)
                s->apad[(int64_t)i * kk + q] =
                    m0 + i < m ? a[(int64_t)(m0 + i) * lda + s->aoff[q]] : 0.0f;
    }
    float *ys = s->slab + (int64_t)g->c * g->plane;
    for (int64_t it = it0; it < it1;) {
        int64_t sl = it / nblocks;
        int blo = (int)(it % nblocks);
        int bhi = it1 - sl * nblocks < nblocks ? (int)(it1 - sl * nblocks) : nblocks;
        it = sl * nblocks + bhi;
        int i0 = (int)(sl / g->bands) * g->g, band = (int)(sl % g->bands);
        build_slab(g, src, i0, band, s->slab);
        for (int64_t pb = 0; pb < g->npixc; pb += nr) {
            int nv = g->npixc - pb < nr ? (int)((g->npixc - pb) / u->vl) : u->nv_max;
            for (int c0 = 0; c0 < g->c; c0 += cb) {
                int kc = (g->c - c0 < cb ? g->c - c0 : cb) * taps, q0 = c0 * taps;
                for (int blk = blo; blk < bhi; blk++) {
                    int m0 = blk * mr;
                    int full = m - m0 >= mr;
                    const float *ab = full ? a + (int64_t)m0 * lda : s->apad;
                    int64_t ld = full ? lda : kk;
                    const int32_t *ao = full ? s->aoff : s->aid;
                    u->fn(kc, ab, ld, ao + q0, s->slab + pb, s->boff + q0, nv,
                          ys + (int64_t)m0 * g->npixc + pb, g->npixc, c0 > 0);
                }
            }
        }
        int r0 = blo * mr, r1 = bhi * mr < m ? bhi * mr : m;
        copy_out(g, ys + (int64_t)r0 * g->npixc, r1 - r0, r0, m, bias, i0, band, dst);
    }
}

static int shift_shape(const difu_conv2d_desc *d)
{
    return d->stride == 1 && ((d->k == 3 && d->pad == 1) || (d->k == 1 && d->pad == 0));
}

void difu_conv2d_fwd_shift(const difu_kernels *k, const difu_conv2d_desc *d, const float *x,
                           const float *weight, const float *bias, float *y, void *scratch,
                           int ith, int nth)
{
    const difu_conv_shift_ukernels *u = &k->gemm_ukernel.shift;
    geom g;
    int kk = d->cin * d->k * d->k;
    if (!u->fn || !shift_shape(d) || kk > KMAX || !plan(&g, d, d->cin, (int)round_up(d->cout, u->mr), 48, u->vl, SLAB_FLOATS)) {
        difu_conv2d_fwd_igemm(k, d, x, weight, bias, y, scratch, ith, nth);
        return;
    }
    scratch_parts s = split_scratch(scratch);
    for (int q = 0; q < kk; q++) /* A[co][q] = w[co][q] */
        s.aoff[q] = q;
    shift_run(k, &g, x, weight, kk, d->cout, bias, y, &s, ith, nth);
}

void difu_conv2d_bwd_data_shift(const difu_kernels *k, const difu_conv2d_desc *d,
                                const float *dy, const float *weight, float *dx, void *scratch,
                                int ith, int nth)
{
    const difu_conv_shift_ukernels *u = &k->gemm_ukernel.shift;
    geom g;
    int taps = d->k * d->k, kk = d->cout * taps;
    if (!u->fn || !shift_shape(d) || kk > KMAX || !plan(&g, d, d->cout, (int)round_up(d->cin, u->mr), 48, u->vl, SLAB_FLOATS)) {
        difu_conv2d_bwd_data_igemm(k, d, dy, weight, dx, scratch, ith, nth);
        return;
    }
    scratch_parts s = split_scratch(scratch);
    /* A[ci][co*taps + t] = w[co][ci][taps-1-t]: row ci at weight + ci*taps. */
    for (int co = 0; co < d->cout; co++)
        for (int t = 0; t < taps; t++)
            s.aoff[co * taps + t] = (int32_t)((int64_t)co * d->cin * taps + taps - 1 - t);
    shift_run(k, &g, dy, weight, taps, d->cin, NULL, dx, &s, ith, nth);
}

/* Copies band `band` of images [i0, i0+g) of channels [c0, c1) of dy [n, cdy, h, w] into ys at
 * the slab's output points (row stride npixc), with zeros at every other point. */
static void build_dy(const geom *g, const float *dy, int cdy, int c0, int c1, int i0, int band,
                     float *ys)
{
    const int w = g->w, r0 = band * g->r;
    for (int ch = c0; ch < c1; ch++) {
        float *row = ys + (int64_t)(ch - c0) * g->npixc;
        memset(row, 0, sizeof(float) * (size_t)g->npixc);
        for (int gi = 0; gi < g->g && i0 + gi < g->n; gi++) {
            const float *in = dy + (((int64_t)(i0 + gi) * cdy + ch) * g->h + r0) * w;
            float *out = row + (int64_t)gi * (w + g->p);
            for (int rr = 0; rr < g->r && r0 + rr < g->h; rr++, in += w, out += g->wp)
                memcpy(out, in, sizeof(float) * (size_t)w);
        }
    }
}

void difu_conv2d_bwd_weights_shift(const difu_kernels *k, const difu_conv2d_desc *d,
                                   const float *x, const float *dy, float *dweight, float *dbias,
                                   void *scratch, int ith, int nth)
{
    const difu_conv_shift_ukernels *u = &k->gemm_ukernel.shift;
    geom g;
    const int taps = d->k * d->k, kk = d->cin * taps;
    if (!u->fn || !shift_shape(d) || kk > KMAX || !plan(&g, d, d->cin, d->cout, 1536, u->vl, BWDW_FLOATS)) {
        difu_conv2d_bwd_weights_igemm(k, d, x, dy, dweight, dbias, scratch, ith, nth);
        return;
    }
    scratch_parts s = split_scratch(scratch);
    const int dmr = u->dot_mr, dnk = u->dot_nk;
    const int nblocks = (d->cout + dmr - 1) / dmr;
    const int b0 = (int)((int64_t)nblocks * ith / nth), b1 = (int)((int64_t)nblocks * (ith + 1) / nth);
    const int c0 = b0 * dmr, c1 = b1 * dmr < d->cout ? b1 * dmr : d->cout;
    if (b0 < b1) {
        for (int ch = 0; ch < d->cin; ch++)
            for (int t = 0; t < taps; t++)
                s.boff[ch * taps + t] = (int32_t)(ch * g.plane + g.off[t]);
        float *ys = s.slab + (int64_t)d->cin * g.plane;
        const int64_t nslabs = (int64_t)((d->n + g.g - 1) / g.g) * g.bands;
        float out[64];
        int32_t offs[64];
        const float *rows[64];
        for (int64_t sl = 0; sl < nslabs; sl++) {
            int i0 = (int)(sl / g.bands) * g.g, band = (int)(sl % g.bands);
            build_slab(&g, x, i0, band, s.slab);
            build_dy(&g, dy, d->cout, c0, c1, i0, band, ys);
            /* k blocks outside: their few slab rows stay in L1 while DYs streams from L2. */
            for (int q0 = 0; q0 < kk; q0 += dnk) {
                int qn = kk - q0 < dnk ? kk - q0 : dnk;
                for (int j = 0; j < dnk; j++)
                    offs[j] = s.boff[q0 + (j < qn ? j : 0)];
                for (int co = c0; co < c1; co += dmr) {
                    int rn = c1 - co < dmr ? c1 - co : dmr;
                    for (int i = 0; i < dmr; i++)
                        rows[i] = ys + (int64_t)(co + (i < rn ? i : 0) - c0) * g.npixc;
                    u->dot(g.npixc / u->vl, rows, s.slab, offs, out);
                    for (int i = 0; i < rn; i++) {
                        float *dwr = dweight + (int64_t)(co + i) * kk + q0;
                        for (int j = 0; j < qn; j++)
                            dwr[j] = sl == 0 ? out[i * dnk + j] : dwr[j] + out[i * dnk + j];
                    }
                }
            }
        }
    }
    if (!dbias)
        return;
    const int64_t npix = (int64_t)d->h * d->w;
    int e0 = (int)((int64_t)d->cout * ith / nth), e1 = (int)((int64_t)d->cout * (ith + 1) / nth);
    for (int co = e0; co < e1; co++) {
        double sum = 0.0;
        for (int i = 0; i < d->n; i++) {
            const float *p = dy + ((int64_t)i * d->cout + co) * npix;
            for (int64_t q = 0; q < npix; q++)
                sum += p[q];
        }
        dbias[co] = (float)sum;
    }
}
