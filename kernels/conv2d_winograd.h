/* conv2d_winograd.h: Winograd F(4x4, 3x3) and F(5x5, 3x3) convolutions for k=3 stride 1 pad 1
 * (kernels/conv2d_winograd.c), ISA-generic on the table's packed GEMM micro-kernel. The shifted
 * drivers (kernels/conv2d_shift.c) hand them the shapes difu_winograd_fits accepts; the image size
 * picks the tile (difu_winograd_tile). */
#ifndef DIFU_CONV2D_WINOGRAD_H
#define DIFU_CONV2D_WINOGRAD_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

/* The shape of one Winograd run (forward, or backward-data as a forward of dy). */
typedef struct difu_wino_geom {
    int n, c, m, h, w;     /* images, source channels (GEMM k), output channels, image size */
    int tile, xi;          /* output tile side (4 or 5), transformed points ((tile + 2)^2) */
    int th, tw, tpi;       /* tiles per column, per row, per image */
    int64_t tiles;         /* n * tpi */
    int mr, nr, npan, nbp; /* micro-tile, B panels per block, tiles per block (npan * nr) */
    int mcb;               /* output channels per GEMM block */
    int mchunk, nchunks;   /* output channels per shared chunk (multiple of mr), chunks */
    int64_t vstride;       /* floats between the xi planes of V (npan*c*nr, padded) */
    int64_t mstride;       /* floats between the xi planes of M (mcb*nbp, padded) */
} difu_wino_geom;

/* A run: consecutive tiles of one tile row of one image inside one B panel, at block column jj. */
typedef struct difu_wino_run {
    int img, ty, tx, jj, len;
} difu_wino_run;

/* A thread's transform buffers: V (xi planes of vstride, packed B), patches (49*nbp), t (49*nbp),
 * o (25*nbp), line (7*nbp + 16, may alias o). patch, t and o lie back to back: from patch on,
 * DIFU_WINO_WORK_PER_COLUMN * nbp floats are the transforms' to use as they like. */
#define DIFU_WINO_WORK_PER_COLUMN 128

typedef struct difu_wino_bufs {
    float *v, *patch, *t, *o, *line;
} difu_wino_bufs;

/* Prefetches the rows [tile*ty + r0, tile*ty + r0 + nrows) that the runs touch in the planes at
 * base + img * istride, as one contiguous range per image (a block's runs of one image cover
 * consecutive tile rows, and an image's rows are contiguous in its plane). */
static inline void difu_wino_prefetch_planes(const difu_wino_geom *g, const float *base,
                                             int64_t istride, const difu_wino_run *runs,
                                             int nrun, int r0, int nrows, int write)
{
    for (int ri = 0; ri < nrun;) {
        int rj = ri;
        while (rj + 1 < nrun && runs[rj + 1].img == runs[ri].img)
            rj++;
        int row0 = g->tile * runs[ri].ty + r0, row1 = g->tile * runs[rj].ty + r0 + nrows;
        row0 = row0 < 0 ? 0 : row0;
        row1 = row1 > g->h ? g->h : row1;
        const char *s = (const char *)(base + runs[ri].img * istride + (int64_t)row0 * g->w);
        const char *e = (const char *)(base + runs[ri].img * istride + (int64_t)row1 * g->w);
        for (; s < e; s += 64) {
            if (write)
                __builtin_prefetch(s, 1, 3);
            else
                __builtin_prefetch(s, 0, 3);
        }
        ri = rj + 1;
    }
}

/* The tile transforms (kernels/conv2d_winograd_xform.h; input5 and output5 are input's and
 * output's contracts for 5x5 tiles), per ISA: input writes V = B^T d B of
 * channels [c0, c1) of the block's tiles [0, cnt) (element (xi, ci, j) at dst + xi*xstride +
 * (j/nr)*pstride + (ci - c0)*cstride + j%nr; columns past cnt zero); output writes output channel
 * o of the block's tiles from M (M[xi] at m + xi*xstride) plus bv, then the epilogue ep (NULL:
 * none; kernels.h: + channel, then + residual, as it copies each row out); dy writes dM = A dY A^T of
 * channel co of dy (element (xi, j) at dst + xi*xstride + j); transpose packs backward-weights'
 * operands k-major. */
typedef void (*difu_wino_input_fn)(const difu_wino_geom *g, const float *src,
                                   const difu_wino_run *runs, int nrun, int cnt, int c0, int c1,
                                   float *dst, int64_t xstride, int64_t pstride, int64_t cstride,
                                   const difu_wino_bufs *b);
typedef void (*difu_wino_output_fn)(const difu_wino_geom *g, const float *m, int64_t xstride,
                                    int ncols, const difu_wino_run *runs, int nrun, int o,
                                    float bv, const difu_conv_epilogue *ep, float *dst,
                                    const difu_wino_bufs *b);

typedef struct difu_wino_xforms {
    difu_wino_input_fn input;
    difu_wino_output_fn output;
    void (*dy)(const difu_wino_geom *g, const float *dy, const difu_wino_run *runs, int nrun,
               int ncols, int co, float *dst, int64_t xstride, const difu_wino_bufs *b);
    /* dst[c*ldd + r] = src[r*lds + c] for r < rows, c < cols */
    void (*transpose)(int rows, int cols, const float *src, int64_t lds, float *dst,
                      int64_t ldd);
    difu_wino_input_fn input5;
    difu_wino_output_fn output5;
} difu_wino_xforms;

/* The input and output transforms for g's tile. */
static inline difu_wino_input_fn difu_wino_input_of(const difu_wino_xforms *xf,
                                                    const difu_wino_geom *g)
{
    return g->tile == 5 ? xf->input5 : xf->input;
}
static inline difu_wino_output_fn difu_wino_output_of(const difu_wino_xforms *xf,
                                                      const difu_wino_geom *g)
{
    return g->tile == 5 ? xf->output5 : xf->output;
}

/* The ISA-flagged copies (kernels/avx2, kernels/avx512). */
/* dst[c*ldd + r] = src[r*lds + c] (kernels/avx2; AVX-512 machines run it too). */
void difu_wino_transpose_avx2(int rows, int cols, const float *src, int64_t lds, float *dst,
                              int64_t ldd);
extern const difu_wino_xforms difu_wino_xforms_avx2;
extern const difu_wino_xforms difu_wino_xforms_avx512;

/* The output tile side for an h x w image: 5 (F(5x5, 3x3)) where its tiles need at most 85% of
 * the transformed points F(4x4, 3x3) needs (14x14: 9 x 49 = 441 against 16 x 36 = 576), else 4.
 * Forward and backward-data take it; backward-weights always runs F(4x4, 3x3). */
int difu_winograd_tile(int h, int w);

/* What the drivers use, for bench/bench_wino.c: the geometry of a forward over n images of c
 * channels to m (backward-data: c and m swapped) with micro-kernel u and tile 4 or 5 (0: the
 * image's, difu_winograd_tile; backward-weights' dy transform runs on tile 4); the runs of tiles
 * [t0, t0 + cnt) of one block (at most nbp of them; returns their count); and the transforms
 * u's ISA runs (the generic template when it has none of its own). */
void difu_winograd_geom(const difu_gemm_ukernel *u, int tile, int n, int c, int m, int h, int w,
                        difu_wino_geom *g);
int difu_winograd_runs(const difu_wino_geom *g, int64_t t0, int cnt, difu_wino_run *runs);
const difu_wino_xforms *difu_winograd_xforms(const difu_gemm_ukernel *u);

/* 1 when the Winograd drivers take this k=3 stride-1 pad-1 shape: decided from the channels and
 * the image size only (never the batch or the thread count), so an image gets the same bits in
 * any batch and any team. */
int difu_winograd_fits(const difu_conv2d_desc *d);

/* Per-thread scratch bytes the Winograd drivers need with micro-kernel u: the thread's private
 * part plus the team's shared transformed weights (see conv2d_winograd.c). */
size_t difu_winograd_scratch_bytes(const difu_gemm_ukernel *u);

/* Team kernels with the difu_conv2d_*_fn contracts, for shapes difu_winograd_fits accepts.
 * Forward and backward-data use the team's shared scratch (kernels.h) and `#pragma omp barrier`;
 * backward-weights only this thread's scratch (no barrier). */
void difu_conv2d_fwd_winograd(const difu_kernels *k, const difu_conv2d_desc *d, const float *x,
                              const float *weight, const float *bias, float *y, void *scratch,
                              int ith, int nth);
/* The forward plus the epilogue ep (kernels.h), added by the output transform as it writes a row.
 * wino_u: the weights already transformed (difu_winograd_transform_weights, same kernels), or
 * NULL to transform them here; the same bits either way. */
void difu_conv2d_fwd_winograd_epilogue(const difu_kernels *k, const difu_conv2d_desc *d,
                                       const float *x, const float *weight, const float *wino_u,
                                       const float *bias, const difu_conv_epilogue *ep, float *y,
                                       void *scratch, int ith, int nth);

/* Floats of a convolution's transformed weights for tile 4 or 5 ((tile + 2)^2 x cin x cout
 * rounded up to mr). */
size_t difu_winograd_weights_floats(const difu_gemm_ukernel *u, int tile, int cin, int cout);
/* u = the forward's transformed weights of `weight` [cout, cin, 3, 3] for tile 4 or 5 (the
 * forward that uses u must run that tile: difu_winograd_tile of its image), channels within what
 * difu_winograd_fits accepts. A team kernel without a barrier:
 * thread ith of nth writes its share of u, which is whole after every thread returned. Runs on
 * the thread's own scratch only. */
void difu_winograd_transform_weights(const difu_kernels *k, int tile, int cin, int cout,
                                     const float *weight, float *u, void *scratch, int ith,
                                     int nth);
void difu_conv2d_bwd_data_winograd(const difu_kernels *k, const difu_conv2d_desc *d,
                                   const float *dy, const float *weight, float *dx,
                                   void *scratch, int ith, int nth);
void difu_conv2d_bwd_weights_winograd(const difu_kernels *k, const difu_conv2d_desc *d,
                                      const float *x, const float *dy, float *dweight,
                                      float *dbias, void *scratch, int ith, int nth);

#endif /* DIFU_CONV2D_WINOGRAD_H */
