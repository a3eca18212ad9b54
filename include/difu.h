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
 * up to the last bit of the transcendental approximations. dst[j] for j in [0, n). */
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
 * Writes eps and xt. */
difu_status difu_q_sample(difu_engine *e, int images, int64_t per_image, const float *x0,
                          const float *a, const float *b, uint64_t seed, uint64_t step,
                          uint64_t first_image, float *eps, float *xt);

/* One reverse step for a batch at a common timestep, in place on x:
 *   x0  = clip_x0 ? clamp(c_x0_xt * x - c_x0_eps * eps, -1, 1) : c_x0_xt * x - c_x0_eps * eps
 *   dir = clip_x0 ? (x - sqrt_ab * x0) / sqrt_1mab : eps  (the eps consistent with x0)
 *   x   = c_x0 * x0 + c_xt * x + c_dir * dir + sigma * z,  z = N(0,1) from (seed, step, first_image + i)
 * DDPM posterior mean and DDIM both take this form; the caller sets the coefficients. */
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
 * bc1 = 1 - b1^t, bc2 = 1 - b2^t are given by the caller. */
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

#ifdef __cplusplus
}
#endif

#endif /* DIFU_H */
