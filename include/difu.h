/* difu.h: the whole public API of libdifu, a CPU engine that trains and samples diffusion models.
 *
 * Conventions
 * - Every function that can fail returns difu_status and writes its outputs only on success; the
 *   reason is kept as a message on the engine (difu_engine_last_error).
 * - Tensors are float32, NCHW, contiguous, unless a descriptor says otherwise.
 * - The engine owns its thread team size, kernel table and last error: two engines with different
 *   ISA caps work side by side in one process. Nothing here calls exit().
 */
#ifndef DIFU_H
#define DIFU_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- status */

typedef enum difu_status {
    DIFU_OK = 0,
    DIFU_ERR_INVALID_ARG,   /* a bad value from the caller: shapes, flags, counts */
    DIFU_ERR_UNSUPPORTED,   /* valid but not implemented (a stride we lack, an ISA not built) */
    DIFU_ERR_NO_MEMORY,
    DIFU_ERR_IO,            /* a file could not be opened, read or written */
    DIFU_ERR_FORMAT,        /* a file's contents are malformed, truncated or fail their digest */
    DIFU_ERR_NUMERIC,       /* a non-finite value where a finite one is required */
    DIFU_ERR_INTERNAL,      /* a broken invariant of difu itself, or a backend failure */
    DIFU_STATUS_COUNT
} difu_status;

const char *difu_status_name(difu_status s);

/* ---------------------------------------------------------------- CPU features and ISA */

typedef enum difu_isa {
    DIFU_ISA_REF = 0,   /* portable scalar C: the test oracle */
    DIFU_ISA_AVX2,      /* x86-64 AVX2 + FMA */
    DIFU_ISA_AVX512,    /* x86-64 AVX-512F (+ AVX2/FMA) */
    DIFU_ISA_NEON,      /* aarch64 Advanced SIMD */
    DIFU_ISA_COUNT
} difu_isa;

const char *difu_isa_name(difu_isa isa);
/* Parses "ref", "avx2", "avx512", "neon" or "best" (DIFU_ISA_COUNT). Returns -1 when unknown. */
int difu_isa_parse(const char *text);

typedef struct difu_cpu_features {
    int avx2_fma;   /* CPUID AVX2 and FMA, and XGETBV says the OS saves YMM state */
    int avx512f;    /* CPUID AVX-512F, and XGETBV says the OS saves ZMM/opmask state */
    int neon;       /* aarch64 ASIMD (getauxval) */
} difu_cpu_features;

/* Detects the features of the running CPU (CPUID/XGETBV or getauxval); cheap, no global state. */
difu_cpu_features difu_cpu_detect(void);
/* The best ISA the features allow among those compiled into this build. */
difu_isa difu_cpu_best_isa(const difu_cpu_features *f);

/* ---------------------------------------------------------------- engine */

typedef enum difu_conv_backend {
    DIFU_CONV_NATIVE = 0,  /* difu's own kernels */
    DIFU_CONV_ONEDNN,      /* oneDNN primitives (when built with oneDNN) */
    DIFU_CONV_AUTO,        /* per convolution problem and direction, the faster of the two, timed
                              once when a graph is planned and kept by the engine (native when
                              the build has no oneDNN). The choice is fixed for the engine's
                              life, but can differ between engines (it is a measurement), and
                              oneDNN's sums depend on the thread count: use NATIVE where results
                              must match bit for bit across thread counts or processes. The
                              raw difu_conv2d_* ops stay native under AUTO */
    DIFU_CONV_BACKEND_COUNT
} difu_conv_backend;

const char *difu_conv_backend_name(difu_conv_backend b);

typedef struct difu_engine_params {
    int threads;                     /* > 0; 0 is an error (use difu_engine_params_default) */
    difu_isa max_isa;                /* cap; DIFU_ISA_COUNT means "best the CPU allows" */
    difu_conv_backend conv_backend;  /* which convolution implementation the engine uses */
    int honor_env;                   /* nonzero: DIFU_ISA=ref|avx2|avx512|neon|best lowers the cap further */
} difu_engine_params;

typedef struct difu_engine difu_engine;

/* Defaults: threads = omp_get_max_threads(), best ISA, native convolutions, honor_env = 1. */
difu_engine_params difu_engine_params_default(void);

/* Creates an engine. On failure *out is NULL and, where possible, the message is written to
 * err (of errlen bytes; may be NULL). The caller owns the engine; free it with difu_engine_destroy. */
difu_status difu_engine_create(const difu_engine_params *params, difu_engine **out, char *err,
                               size_t errlen);
void difu_engine_destroy(difu_engine *e);

/* The message of the last failing call on this engine ("" when none). Owned by the engine. */
const char *difu_engine_last_error(const difu_engine *e);
int difu_engine_threads(const difu_engine *e);
difu_isa difu_engine_isa(const difu_engine *e);
difu_cpu_features difu_engine_cpu(const difu_engine *e);
difu_conv_backend difu_engine_conv_backend(const difu_engine *e);

/* Kernel slots of the dispatch table, for reporting (difu info) and for tests. */
typedef enum difu_kernel_slot {
    DIFU_SLOT_GEMM = 0,
    DIFU_SLOT_CONV2D_FWD,
    DIFU_SLOT_CONV2D_BWD_DATA,
    DIFU_SLOT_CONV2D_BWD_WEIGHTS,
    DIFU_SLOT_SOFTMAX,
    DIFU_SLOT_GROUPNORM_FWD,
    DIFU_SLOT_GROUPNORM_BWD,
    DIFU_SLOT_SILU,
    DIFU_SLOT_RANDN,
    DIFU_SLOT_Q_SAMPLE,
    DIFU_SLOT_SAMPLER_STEP,
    DIFU_SLOT_ADAM_EMA,
    DIFU_SLOT_SUMSQ,
    DIFU_SLOT_COUNT
} difu_kernel_slot;

const char *difu_kernel_slot_name(difu_kernel_slot s);
/* The name of the kernel the engine chose for a slot, e.g. "groupnorm_fwd_avx2". */
const char *difu_engine_kernel_name(const difu_engine *e, difu_kernel_slot s);
/* The ISA of the kernel chosen for a slot. */
difu_isa difu_engine_kernel_isa(const difu_engine *e, difu_kernel_slot s);

/* Versions of what this build links, for difu info. */
const char *difu_version(void);
/* "2.6.3" or "not built" */
const char *difu_onednn_version(void);
const char *difu_xxhash_version(void);

/* ---------------------------------------------------------------- memory */

/* An arena: one aligned block (64-byte aligned, huge pages advised when large) that tensors view. */
typedef struct difu_arena {
    void *base;
    size_t size;
} difu_arena;

difu_status difu_arena_alloc(difu_arena *a, size_t bytes);
void difu_arena_free(difu_arena *a);

#define DIFU_MAX_DIMS 4

/* A float32 view: data points into an arena (or caller memory); row-major, contiguous. */
typedef struct difu_tensor {
    float *data;
    int ndim;
    int64_t shape[DIFU_MAX_DIMS];
} difu_tensor;

int64_t difu_tensor_numel(const difu_tensor *t);

/* ---------------------------------------------------------------- randomness */

/* Counter-based Gaussian noise (Philox4x32-10 + Box-Muller). The value of element j of stream
 * `stream` under key (seed, step) is fixed: independent of thread count, batch split and ISA path
 * up to the last bit of the transcendental approximations (in this build every ISA gives the
 * reference's bits). dst[j] for j in [0, n); stream < 2^32 and n <= 2^34 (32-bit counter words).
 * |values| <= 5.77 (a 23-bit uniform). */
difu_status difu_randn(difu_engine *e, uint64_t seed, uint64_t step, uint64_t stream, float *dst,
                       int64_t n);

/* ---------------------------------------------------------------- ops on raw buffers
 * Each validates its arguments, then runs the engine's chosen kernel across the engine's threads.
 * These are the building blocks the graph executor calls; tests and benchmarks call them directly.
 */

/* Convolution over NCHW input [n, cin, h, w] with weight [cout, cin, k, k] (PyTorch layout) and
 * optional bias [cout], output [n, cout, oh, ow], oh = (h + 2*pad - k)/stride + 1.
 * Supported: k=3 stride 1 pad 1, k=3 stride 2 pad 1, k=1 stride 1 pad 0. */
typedef struct difu_conv2d_desc {
    int n, cin, h, w;
    int cout, k, stride, pad;
} difu_conv2d_desc;

int difu_conv2d_out_h(const difu_conv2d_desc *d);
int difu_conv2d_out_w(const difu_conv2d_desc *d);
double difu_conv2d_flops(const difu_conv2d_desc *d);  /* 2 * MACs of the forward */

/* y = conv(x, weight) + bias; bias may be NULL. */
difu_status difu_conv2d_forward(difu_engine *e, const difu_conv2d_desc *d, const float *x,
                                const float *weight, const float *bias, float *y);
/* dx = conv^T(dy, weight). dx is overwritten. */
difu_status difu_conv2d_backward_data(difu_engine *e, const difu_conv2d_desc *d, const float *dy,
                                      const float *weight, float *dx);
/* dweight = sum over images of dy (x) x; dbias = sum of dy over n, h, w (dbias may be NULL).
 * Both are overwritten. */
difu_status difu_conv2d_backward_weights(difu_engine *e, const difu_conv2d_desc *d, const float *x,
                                         const float *dy, float *dweight, float *dbias);

/* Strided batched GEMM: for b in [0, batch): C_b = alpha * op(A_b) op(B_b) + beta * C_b, where
 * op(A) is m x k (A stored m x k with row stride lda, or k x m when trans_a), op(B) is k x n.
 * Row-major. beta = 0 overwrites C (NaNs in C are not propagated). */
typedef struct difu_gemm_desc {
    int m, n, k;
    int trans_a, trans_b;
    int lda, ldb, ldc;
    int batch;
    int64_t stride_a, stride_b, stride_c;
    float alpha, beta;
} difu_gemm_desc;

difu_status difu_gemm(difu_engine *e, const difu_gemm_desc *d, const float *a, const float *b,
                      float *c);

/* Row softmax over rows x cols (scale applied to the input first): y = softmax(scale * x).
 * Backward: dx = scale * y * (dy - sum(dy * y)). */
difu_status difu_softmax_forward(difu_engine *e, int64_t rows, int cols, float scale,
                                 const float *x, float *y);
difu_status difu_softmax_backward(difu_engine *e, int64_t rows, int cols, float scale,
                                  const float *y, const float *dy, float *dx);

/* GroupNorm over x [n, c, hw] with `groups` groups, affine gamma/beta [c], eps; optionally fused
 * with SiLU (y = silu(groupnorm(x))). mean and rstd [n, groups] are written for the backward. */
typedef struct difu_groupnorm_desc {
    int n, c, hw, groups;
    float eps;
    int fuse_silu;
} difu_groupnorm_desc;

difu_status difu_groupnorm_forward(difu_engine *e, const difu_groupnorm_desc *d, const float *x,
                                   const float *gamma, const float *beta, float *y, float *mean,
                                   float *rstd);
/* dy is the gradient of y (after SiLU when fused). dx is overwritten; dgamma and dbeta are
 * overwritten (may be NULL to skip). */
difu_status difu_groupnorm_backward(difu_engine *e, const difu_groupnorm_desc *d, const float *x,
                                    const float *gamma, const float *beta, const float *mean,
                                    const float *rstd, const float *dy, float *dx, float *dgamma,
                                    float *dbeta);

/* y = x * sigmoid(x); dx = dy * silu'(x). In-place (y == x, dx == dy) is allowed. */
difu_status difu_silu_forward(difu_engine *e, int64_t n, const float *x, float *y);
difu_status difu_silu_backward(difu_engine *e, int64_t n, const float *x, const float *dy,
                               float *dx);

/* ---------------------------------------------------------------- fused diffusion arithmetic */

/* Forward noising of a batch of `images` images of `per_image` floats each:
 * eps = N(0,1) from (seed, step, stream = first_image + i), x_t = a[i] * x0 + b[i] * eps.
 * Writes eps and xt. first_image + images must fit in 32 bits; a and b must be finite. */
difu_status difu_q_sample(difu_engine *e, int images, int64_t per_image, const float *x0,
                          const float *a, const float *b, uint64_t seed, uint64_t step,
                          uint64_t first_image, float *eps, float *xt);

/* One reverse step for a batch at a common timestep, in place on x:
 *   x0  = clip_x0 ? clamp(c_x0_xt * x - c_x0_eps * eps, -1, 1) : c_x0_xt * x - c_x0_eps * eps
 *   dir = clip_x0 ? (x - sqrt_ab * x0) / sqrt_1mab : eps  (the eps consistent with x0)
 *   x   = c_x0 * x0 + c_xt * x + c_dir * dir + sigma * z,  z = N(0,1) from (seed, step, first_image + i)
 * DDPM posterior mean and DDIM both take this form; the caller sets the coefficients.
 * Coefficients must be finite, sigma >= 0, and sqrt_1mab > 0 when clip_x0. */
typedef struct difu_sampler_coefs {
    float c_x0_xt, c_x0_eps;  /* x0 prediction */
    float sqrt_ab, sqrt_1mab; /* for dir when clipping */
    float c_x0, c_xt, c_dir;  /* combination */
    float sigma;              /* noise scale; 0 adds no noise and draws none */
    int clip_x0;
} difu_sampler_coefs;

difu_status difu_sampler_step(difu_engine *e, int images, int64_t per_image,
                              const difu_sampler_coefs *c, const float *eps, uint64_t seed,
                              uint64_t step, uint64_t first_image, float *x);

/* Adam (or AdamW) with EMA, one pass over n parameters:
 *   g' = grad_scale * g + l2 * p                     (l2 weight decay, classic Adam)
 *   m = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'^2
 *   p -= lr * (m / bc1) / (sqrt(v / bc2) + eps) + lr * decoupled_wd * p
 *   ema = ema_decay * ema + (1 - ema_decay) * p     (skipped when ema is NULL)
 * bc1 = 1 - b1^t, bc2 = 1 - b2^t are given by the caller. Checked: lr >= 0, betas in [0, 1),
 * eps > 0, bc1 and bc2 in (0, 1], l2 and decoupled_wd >= 0, ema_decay in [0, 1] (when ema). */
typedef struct difu_adam_params {
    float lr, beta1, beta2, eps;
    float bc1, bc2;
    float grad_scale;
    float l2, decoupled_wd;
    float ema_decay;
} difu_adam_params;

difu_status difu_adam_ema_step(difu_engine *e, int64_t n, const difu_adam_params *p, float *param,
                               const float *grad, float *m, float *v, float *ema);

/* Sum of squares of x[0..n) in double, with partials over fixed 16384-element chunks summed in
 * order: the result does not depend on the thread count. */
difu_status difu_sum_squares(difu_engine *e, int64_t n, const float *x, double *out);

/* ---------------------------------------------------------------- data and images
 * Datasets and PNG files are used without an engine. Calls that create something (open, write)
 * take `char *err, size_t errlen` (err may be NULL) and write a message naming the file, what was
 * wrong and where; later calls on a dataset keep their message on the handle
 * (difu_dataset_last_error). Images are float32 NCHW with pixels in [-1, 1] (u8 v -> v/127.5 - 1).
 */

/* Spec strings for difu_dataset_open:
 *   "fashion-mnist"       /usr/share/datasets/fashion-mnist train set (Debian dataset-fashion-mnist)
 *   "fashion-mnist:test"  its t10k set
 *   "idx:DIR"             DIR/train-images-idx3-ubyte[.gz] + DIR/train-labels-idx1-ubyte[.gz]
 *   "cifar10:DIR"         DIR/data_batch_1..5.bin (those present; or DIR/cifar-10-batches-bin/)
 *   "folder:DIR"          every *.png in DIR (sorted by name), unlabelled
 * gzip or raw is detected by magic. Images are kept in memory as u8 at the wanted shape and
 * converted per batch. */
typedef struct difu_dataset difu_dataset;

typedef struct difu_dataset_params {
    int channels;    /* 1 or 3; 0 = the data's own (folder: 3). Converted: gray<->RGB (luma), alpha
                        composited over black */
    int size;        /* height = width wanted; 0 = keep the data's own h x w (folder requires
                        > 0). Otherwise images are centre-cropped to a square and resized (area
                        filter down, bilinear up) */
    uint64_t seed;   /* shuffle and flip key */
    int shuffle;     /* nonzero: a new permutation each epoch, a function of (seed, epoch) only */
    int flip;        /* nonzero: horizontal flip with p = 1/2, decided per (seed, epoch, image) */
    int64_t limit;   /* > 0: keep only the first `limit` images of the file order; 0 = all */
} difu_dataset_params;

typedef struct difu_dataset_info {
    int64_t count;                   /* images (after limit) */
    int channels, height, width;     /* shape of one image as delivered */
    int classes;                     /* 10, or 0 when unlabelled */
} difu_dataset_info;

/* Where the next batch starts: image `index` (in [0, count)) of epoch `epoch`'s order. */
typedef struct difu_dataset_pos {
    uint64_t epoch;
    int64_t index;
} difu_dataset_pos;

/* channels 0, size 0, seed 0, shuffle 1, flip 0, limit 0. */
difu_dataset_params difu_dataset_params_default(void);

/* Opens and loads a dataset. On failure *out is NULL and err holds the message. The caller owns
 * the handle; free it with difu_dataset_close. */
difu_status difu_dataset_open(const char *spec, const difu_dataset_params *params,
                              difu_dataset **out, char *err, size_t errlen);
void difu_dataset_close(difu_dataset *d);
difu_dataset_info difu_dataset_get_info(const difu_dataset *d);
/* The message of the last failing call on this handle ("" when none). Owned by the handle. */
const char *difu_dataset_last_error(const difu_dataset *d);

/* The next `batch` images in the current epoch's order into images [batch, C, H, W] and their
 * labels into labels [batch] (-1 when unlabelled; labels may be NULL), then advances the position.
 * A batch that runs past the end of an epoch continues with the next epoch's order, so every
 * image is seen exactly once per epoch. */
difu_status difu_dataset_next_batch(difu_dataset *d, int batch, float *images, int64_t *labels);
/* Image i of the file order (no shuffle, no flip) into image [C, H, W]; label may be NULL. */
difu_status difu_dataset_get(difu_dataset *d, int64_t i, float *image, int64_t *label);
difu_dataset_pos difu_dataset_get_pos(const difu_dataset *d);
/* Fails (DIFU_ERR_INVALID_ARG) unless 0 <= pos.index < count. */
difu_status difu_dataset_set_pos(difu_dataset *d, difu_dataset_pos pos);

/* PNG writers. Every file is written atomically: a temporary file in the same folder, fsync,
 * rename (then the folder is fsynced), so a crash leaves either the old file or the new one.
 * Pixels in [-1, 1] are clamped and mapped to u8 by round((v + 1) * 127.5). */

/* Writes n images [n, c, h, w] (c = 1 gray or 3 RGB) as a grid of `cols` columns (rows =
 * ceil(n / cols)) with a 2-pixel border around and between cells, each pixel repeated
 * `scale` x `scale` (scale >= 1). */
difu_status difu_png_write_grid(const char *path, const float *images, int n, int c, int h, int w,
                                int cols, int scale, char *err, size_t errlen);
/* Writes one image [c, h, w] (c = 1 or 3), no border, upscaled by `scale`. */
difu_status difu_png_write_image(const char *path, const float *image, int c, int h, int w,
                                 int scale, char *err, size_t errlen);

typedef struct difu_plot_params {
    int width, height;      /* image size in pixels, at least 160 x 120 */
    int log_y;              /* nonzero: logarithmic y axis (values <= 0 are skipped) */
    float smooth;           /* in [0, 1): also draw an EMA-smoothed copy with this decay; 0 = none */
    double x_first, x_step; /* x of value i is x_first + i * x_step (e.g. the step number) for
                               series without x values; x_step is also the width of the x range
                               when every point has the same x */
    const char *y_label;    /* y axis title in the built-in font; NULL = "loss" */
} difu_plot_params;

/* 800 x 500, log_y 1, smooth 0.98, x_first 1, x_step 1, y_label NULL. */
difu_plot_params difu_plot_params_default(void);

/* Writes a line chart of values[0..n) (non-finite values are skipped) as an RGB PNG of the asked
 * size, with axes, ticks, grid lines and tick labels in a small built-in font. It is
 * difu_png_write_loss_plot_multi with one unlabelled series (no legend). */
difu_status difu_png_write_loss_plot(const char *path, const float *values, int64_t n,
                                     const difu_plot_params *params, char *err, size_t errlen);

#define DIFU_PLOT_MAX_SERIES 8

/* One curve of a multi-series chart. */
typedef struct difu_plot_series {
    const char *label; /* legend text (letters, digits and ._-+/:()=, ; case is folded, longer
                          labels are cut to fit); NULL or "" = no legend entry */
    const double *x;   /* [n] finite and strictly increasing (e.g. step numbers); NULL = x_first
                          + i * x_step */
    const float *y;    /* [n]; non-finite values (and values <= 0 on a log axis) leave a gap */
    int64_t n;         /* >= 1 */
} difu_plot_series;

/* Writes series[0..nseries) (1..DIFU_PLOT_MAX_SERIES) on one chart, the axes spanning the union
 * of their x and y ranges. Series i gets colour i of a fixed palette (blue, orange, green, red,
 * purple, brown, pink, cyan): its raw values thin in a light shade, its EMA (params->smooth,
 * debiased, over points in order) thick in the full colour; with smooth 0 the raw values alone,
 * thin in the full colour. A legend (swatch + label of every
 * labelled series) sits in the corner of the plot area the curves cover least. Refuses
 * (DIFU_ERR_INVALID_ARG) NULL pointers, n < 1 and x that is not finite and strictly increasing,
 * naming the series and the index. */
difu_status difu_png_write_loss_plot_multi(const char *path, const difu_plot_series *series,
                                           int nseries, const difu_plot_params *params, char *err,
                                           size_t errlen);

/* ---------------------------------------------------------------- graph and model
 * The U-Net of shared/MODEL.md as a planned graph: parameters, gradients, forward (eps
 * prediction) and forward + backward (MSE loss against the noise, gradients of every parameter).
 * Parameter names, order and shapes are the checkpoint keys (PyTorch layouts). */

#define DIFU_MODEL_MAX_LEVELS 8

typedef struct difu_model_config {
    int ch;                                 /* base width */
    int ch_mult[DIFU_MODEL_MAX_LEVELS];     /* width multiplier per level */
    int n_levels;
    int num_res_blocks;                     /* ResBlocks per level on the down path (+1 going up) */
    int attn_res[DIFU_MODEL_MAX_LEVELS];    /* resolutions (H == W) whose blocks get attention */
    int n_attn_res;
    float dropout;                          /* in ResBlocks, training only; 0 = none */
    int num_classes;                        /* 0 = unconditional; else num_classes + 1 rows, the
                                               last one the null class */
    int groups[DIFU_MODEL_MAX_LEVELS][2];   /* GroupNorm rule: {min_channels, groups}; the last
                                               entry with min_channels <= C wins */
    int n_groups;
    float gn_eps;
    int img_size;                           /* input H == W */
    int in_ch;                              /* input (and output) channels */
} difu_model_config;

/* Fills *out with a named preset: "fmnist-t", "fmnist-s" or "tiny" (ch 16, ch_mult (1,2), 1 res
 * block, attention at 4x4, 8x8 input; for tests). e may be NULL (then no message is kept). */
difu_status difu_model_preset(difu_engine *e, const char *name, difu_model_config *out);
/* Checks a config (widths, levels, groups that divide every width, ...); the message names the
 * field. */
difu_status difu_model_config_check(difu_engine *e, const difu_model_config *c);
/* The GroupNorm groups the config's rule gives for `channels` (0 when no entry applies). */
int difu_model_groups(const difu_model_config *c, int channels);

typedef struct difu_model difu_model;

/* Creates a model with freshly initialised parameters (MODEL.md: PyTorch defaults, zeroed conv2 /
 * proj / conv_out), deterministic from `seed`. Uses (and must not outlive) engine e. */
difu_status difu_model_create(difu_engine *e, const difu_model_config *cfg, uint64_t seed,
                              difu_model **out);
void difu_model_destroy(difu_model *m);
const difu_model_config *difu_model_get_config(const difu_model *m);
/* Re-initialises every parameter from `seed` (as difu_model_create does). */
difu_status difu_model_init(difu_model *m, uint64_t seed);

/* Parameter tensors in checkpoint order. */
int64_t difu_model_param_count(const difu_model *m);
int difu_model_tensor_count(const difu_model *m);
/* Name of tensor i and its shape; NULL when i is out of range. The name is owned by the model. */
const char *difu_model_tensor_info(const difu_model *m, int i, int *ndim,
                                   int64_t shape[DIFU_MAX_DIMS]);
/* Views into the parameter / gradient block of the tensor called `name`. */
difu_status difu_model_param(difu_model *m, const char *name, difu_tensor *out);
difu_status difu_model_grad(difu_model *m, const char *name, difu_tensor *out);
/* The whole blocks, for optimizers: *n_floats floats, each tensor 64-byte aligned in checkpoint
 * order, the padding between tensors kept at zero. Owned by the model. */
float *difu_model_params(difu_model *m, size_t *n_floats);
float *difu_model_grads(difu_model *m, size_t *n_floats);

/* eps = model(x, t, y). x [n, in_ch, S, S], t [n] int64, y [n] int64 in [0, num_classes] or NULL
 * (the null class); eps [n, in_ch, S, S]. The first call at a batch size plans its memory. */
difu_status difu_model_forward(difu_model *m, int n, const float *x, const int64_t *t,
                               const int64_t *y, float *eps);
/* loss = mean((model(x, t, y) - noise)^2); the gradients of every parameter are written to the
 * gradient block (overwritten, not accumulated). eps may be NULL; else it receives the prediction. */
difu_status difu_model_forward_backward(difu_model *m, int n, const float *x, const int64_t *t,
                                        const int64_t *y, const float *noise, float *loss,
                                        float *eps);
/* The key of the dropout masks of the next forward_backward calls (configs with dropout > 0):
 * element j of dropout site s is dropped by Philox word j of stream s under (seed, step), so a
 * trainer sets a new step each iteration. Starts at (0, 0). */
void difu_model_set_dropout_key(difu_model *m, uint64_t seed, uint64_t step);
/* A forward (sampling, prediction) keeps the model's 3x3 weights in Winograd form between calls,
 * checked against a hash of the weights before each forward (on by default). It costs 4x the 3x3
 * weights in memory and saves transforming them at every step; off frees it, and every forward
 * transforms them again. The same bits either way. */
void difu_model_set_weight_cache(difu_model *m, int on);
/* Bytes the kept Winograd weights hold now (0 before the first forward or when off). */
size_t difu_model_weight_cache_bytes(const difu_model *m);
/* The planned activation arena for a batch of n: forward only (train = 0) or forward + backward. */
difu_status difu_model_activation_bytes(difu_model *m, int n, int train, size_t *out);
/* Forward cost per image, 2 * MACs of the convolutions, linears and attention products. */
double difu_model_forward_flops(const difu_model *m);


/* ---------------------------------------------------------------- training and sampling
 * The diffusion process of shared/MODEL.md: a noise schedule, epsilon-prediction training with
 * Adam + EMA (difu_trainer), and DDPM / DDIM sampling with classifier-free guidance (difu_sample).
 * Every random draw is counter-based, keyed by (seed, step, image): a run resumed from a
 * checkpoint repeats the run that never stopped bit for bit, and samples do not depend on the
 * thread count or the batch split. */

typedef enum difu_schedule_kind {
    DIFU_SCHEDULE_LINEAR = 0, /* betas linear from 1e-4 to 0.02 (scaled by 1000/T), DDPM */
    DIFU_SCHEDULE_COSINE,     /* Nichol & Dhariwal, s = 0.008, betas capped at 0.999 */
    DIFU_SCHEDULE_COUNT
} difu_schedule_kind;

const char *difu_schedule_kind_name(difu_schedule_kind k);
/* Returns -1 when the text names no schedule. */
int difu_schedule_kind_parse(const char *text);

typedef enum difu_ddpm_variance {
    DIFU_DDPM_VAR_BETA = 0,  /* sigma_t^2 = beta_t */
    DIFU_DDPM_VAR_POSTERIOR, /* sigma_t^2 = beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) */
    DIFU_DDPM_VAR_COUNT
} difu_ddpm_variance;

const char *difu_ddpm_variance_name(difu_ddpm_variance v); /* "beta", "posterior" */
int difu_ddpm_variance_parse(const char *text);            /* -1 when unknown */

typedef enum difu_spacing {
    DIFU_SPACING_UNIFORM = 0, /* t_i = floor(i * T / steps), i = 0..steps-1 (DDIM's "uniform") */
    DIFU_SPACING_TRAILING,    /* t_i = round(T - i * T / steps) - 1 (starts exactly at T-1) */
    DIFU_SPACING_COUNT
} difu_spacing;

const char *difu_spacing_name(difu_spacing s); /* "uniform", "trailing" */
int difu_spacing_parse(const char *text);      /* -1 when unknown */

typedef enum difu_sampler_kind {
    DIFU_SAMPLER_DDPM = 0, /* ancestral sampling, fresh noise at every step */
    DIFU_SAMPLER_DDIM,     /* Song et al.: eta = 0 deterministic, eta = 1 DDPM-like variance */
    DIFU_SAMPLER_COUNT
} difu_sampler_kind;

const char *difu_sampler_kind_name(difu_sampler_kind k); /* "ddpm", "ddim" */
int difu_sampler_kind_parse(const char *text);           /* -1 when unknown */

typedef struct difu_sample_params {
    difu_sampler_kind sampler;
    difu_schedule_kind schedule; /* the schedule the model was trained with */
    int T;                       /* its length */
    int steps;                   /* reverse steps, in [1, T]; 0 = T for DDPM, 50 for DDIM. DDPM
                                    with steps < T takes the sub-chain on the spacing's timesteps
                                    with the respaced betas (1 - ab_t / ab_prev) */
    float eta;                   /* DDIM only, >= 0 */
    difu_ddpm_variance variance; /* DDPM only */
    difu_spacing spacing;        /* timesteps when steps < T */
    int clip_x0;                 /* clamp the predicted x0 to [-1, 1]: 1 on, 0 off, -1 default
                                    (on for DDPM, off for DDIM) */
    float guidance;              /* w in eps = eps_null + w (eps_cond - eps_null); 1 = the
                                    conditional model alone (one forward), 0 = the null class
                                    alone. Ignored by unconditional models */
    uint64_t seed;               /* noise of image i: (seed, step key, stream i) */
    int batch;                   /* images per reverse pass (the forward runs 2 x batch with
                                    guidance); >= 1 */
    /* Called after each reverse step of each batch with (steps done, steps in all); may be NULL. */
    void (*progress)(int64_t done, int64_t total, void *ctx);
    void *progress_ctx;
} difu_sample_params;

/* ddpm, linear, T 1000, steps 0, eta 0, posterior variance, trailing spacing, clip_x0 -1,
 * guidance 2, seed 0, batch 64. */
difu_sample_params difu_sample_params_default(void);

/* Draws n images [n, in_ch, S, S] with model m (created on engine e) into images. labels [n]:
 * class of each image in [0, num_classes), or num_classes for the null class; NULL means all null
 * (and is required for unconditional models). Image i's noise depends only on (seed, i), so
 * neither the thread count nor `batch` changes a bit of the result. */
difu_status difu_sample(difu_engine *e, difu_model *m, const difu_sample_params *p, int n,
                        const int64_t *labels, float *images);

/* What a checkpoint says about how its model was trained (defaults linear / 1000 when it holds
 * no trainer state, e.g. a PyTorch state_dict). */
typedef struct difu_ckpt_info {
    difu_schedule_kind schedule;
    int T;
    int64_t step;    /* training steps done; -1 when unknown */
    int has_ema;     /* an "ema." block is present */
    int used_ema;    /* difu_load_model loaded the EMA weights */
} difu_ckpt_info;

/* Creates a model from a checkpoint (config from its metadata or shapes) and loads its weights:
 * use_ema 1 = the EMA block (an error when absent), 0 = the raw weights, -1 = EMA when present.
 * The caller owns *out (difu_model_destroy). */
difu_status difu_load_model(difu_engine *e, const char *path, int use_ema, difu_model **out,
                            difu_ckpt_info *info);

typedef struct difu_train_progress difu_train_progress;

typedef struct difu_train_params {
    const char *data;         /* dataset spec (difu_dataset_open) */
    const char *model;        /* preset name (difu_model_preset) */
    const char *out_dir;      /* created when missing; must be writable */
    int64_t steps;            /* train until this many steps are done (>= 1) */
    int batch;                /* >= 1 */
    float lr, beta1, beta2, adam_eps;
    float weight_decay;       /* decoupled (AdamW), >= 0 */
    int64_t warmup;           /* linear lr warm-up over this many steps; 0 = none */
    float clip;               /* gradient-norm clip; 0 = none */
    float ema_decay;          /* in [0, 1); applied as min(ema_decay, (1 + s) / (10 + s)) */
    int cond;                 /* class-conditional (needs labels) with label dropout */
    float label_dropout;      /* p of replacing the label by the null class, in [0, 1] */
    difu_schedule_kind schedule;
    int T;
    uint64_t seed;            /* model init, data order, t, label dropout, noise */
    int flip;                 /* random horizontal flips */
    int64_t limit;            /* > 0: only the first `limit` images */
    int64_t ckpt_every;       /* checkpoint period in steps; 0 = only at the end */
    int64_t sample_every;     /* samples-STEP.png period; 0 = none */
    int sample_steps;         /* DDIM steps of those grids */
    int sample_per_class;     /* grid columns (images per class row, or per row unconditional) */
    float sample_guidance;
    int max_bad_steps;        /* stop after this many non-finite steps in a row (>= 1) */
    int detect_anomaly;       /* nonzero: check every node's outputs (activations and gradients)
                                 for NaN / inf right after it runs; the first one found is
                                 reported (difu_train_progress.anomaly) and the step skipped.
                                 Same results, slower; for debugging. 0 by default */
    int write_files;          /* 0: no loss.csv, samples, plot or checkpoints (benchmarks) */
    /* Nonzero makes difu_trainer_run finish the current step, write a checkpoint and return
     * (set it from a signal handler). May be NULL. */
    const volatile sig_atomic_t *stop;
    /* Called after every step and every file written; may be NULL. */
    void (*progress)(const difu_train_progress *p, void *ctx);
    void *progress_ctx;
} difu_train_params;

typedef enum difu_train_event {
    DIFU_TRAIN_STEP = 0,      /* a step finished (possibly skipped) */
    DIFU_TRAIN_CHECKPOINT,    /* path = the checkpoint written */
    DIFU_TRAIN_SAMPLES,       /* path = the sample grid written */
    DIFU_TRAIN_EVENT_COUNT
} difu_train_event;

struct difu_train_progress {
    difu_train_event event;
    const char *path;
    int64_t step, steps;      /* steps done, steps wanted */
    int64_t first_step;       /* the step this run started from (resume) */
    float loss, loss_smooth;  /* this step's loss and an EMA over steps (decay 0.98) */
    float lr, grad_norm;
    double img_per_s;         /* images per second over this run so far */
    double elapsed_s;         /* wall time of this run */
    int skipped;              /* this step was skipped (non-finite loss or gradient) */
    int64_t skipped_total;
    /* With detect_anomaly, on a step that met a non-finite value: "step S: detect-anomaly: first
     * non-finite value in the output of node N 'NAME' (OP, forward | backward: gradient of
     * ...): nan at element I of [SHAPE]"; else NULL. Owned by the trainer until the next step. */
    const char *anomaly;
};

/* lr 2e-4, betas 0.9 / 0.999, eps 1e-8, weight decay 0, warm-up 0, clip 1, EMA 0.9999, label
 * dropout 0.1, linear schedule, T 1000, seed 0, batch 128, ckpt_every 0, sample_every 0,
 * sample_steps 50, sample_per_class 10, sample_guidance 2, max_bad_steps 10, write_files 1,
 * detect_anomaly 0; data, model and out_dir NULL. */
difu_train_params difu_train_params_default(void);

/* Fills p's data, model, batch, seed, cond, flip, limit, schedule, T and the optimizer settings
 * from a checkpoint written by a trainer. On success p->data and p->model are new strings
 * (malloc) that the caller frees. Used to resume with the same settings. */
difu_status difu_train_params_from_checkpoint(difu_engine *e, const char *path,
                                              difu_train_params *p);

typedef struct difu_trainer difu_trainer;

/* Checks the params, opens the data, creates the model, and checks out_dir is writable (creating
 * it when missing). With resume non-NULL, loads weights, EMA, Adam moments and trainer state from
 * that checkpoint: its data, model, batch, seed, cond, flip, limit, schedule and T must equal p's.
 * The caller owns *out (difu_trainer_destroy). Messages are on the engine. */
difu_status difu_trainer_create(difu_engine *e, const difu_train_params *p, const char *resume,
                                difu_trainer **out);
void difu_trainer_destroy(difu_trainer *t);

/* One training step (batch, t, label dropout, q_sample, forward + backward, clip, Adam + EMA,
 * loss.csv row). A non-finite loss or gradient (or, with detect_anomaly, any non-finite node
 * output) skips the update (out->skipped = 1); after max_bad_steps in a row it fails with
 * DIFU_ERR_NUMERIC, the message ending with the last anomaly report when there is one. out may
 * be NULL. */
difu_status difu_trainer_step(difu_trainer *t, difu_train_progress *out);
/* Steps until p->steps are done or *p->stop, with checkpoints and sample grids at their periods;
 * then a final checkpoint and loss.png. *interrupted tells whether stop ended it (may be NULL). */
difu_status difu_trainer_run(difu_trainer *t, int *interrupted);
/* Writes the checkpoint (weights, "ema.", "adam.m.", "adam.v.", "train.*" state) atomically. */
difu_status difu_trainer_save(difu_trainer *t, const char *path);
/* Writes an n_per_class x classes grid (n_per_class x n_per_class unconditional) from the EMA
 * weights with DDIM at sample_steps. */
difu_status difu_trainer_write_samples(difu_trainer *t, const char *path);

int64_t difu_trainer_steps_done(const difu_trainer *t);
difu_model *difu_trainer_model(difu_trainer *t);
/* The EMA weights and the Adam moments, laid out like difu_model_params (n_floats each). */
const float *difu_trainer_ema(const difu_trainer *t);
const float *difu_trainer_adam_m(const difu_trainer *t);
const float *difu_trainer_adam_v(const difu_trainer *t);

#ifdef __cplusplus
}
#endif

#endif /* DIFU_H */
