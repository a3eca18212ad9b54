/* dataset.h: the dataset handle and the loaders each source format provides (internal).
 *
 * Every loader fills a difu_u8_set: the whole set as u8 [count, c, h, w] (planar, row-major) plus
 * u8 labels, already at the shape the caller asked for. Loaders report failures through
 * (err, errlen) with the file name, what was wrong and where; they never allocate before checking
 * that a header's counts agree with the file's length.
 */
#ifndef DIFU_DATASET_H
#define DIFU_DATASET_H

#include <stdarg.h>
#include <stdint.h>

#include "difu.h"

#define DIFU_DATASET_ERROR_LEN 512
#define DIFU_DATASET_CLASSES 10

/* A loaded set: pixels [count, c, h, w] u8, labels [count] u8 (NULL when unlabelled). */
typedef struct difu_u8_set {
    int64_t count;
    int c, h, w;
    int classes;         /* 10, or 0 when unlabelled */
    uint8_t *pixels;
    uint8_t *labels;
} difu_u8_set;

void difu_u8_set_free(difu_u8_set *s);

struct difu_dataset {
    difu_u8_set set;
    difu_dataset_params params;
    difu_dataset_pos pos;
    uint32_t *perm;             /* order of epoch perm_epoch, [count] */
    uint64_t perm_epoch;
    int perm_valid;
    float to_float[256];        /* u8 -> [-1, 1] */
    char last_error[DIFU_DATASET_ERROR_LEN];
};

/* Formats a message into err (when non-NULL) and returns status. */
difu_status difu_errf(char *err, size_t errlen, difu_status status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* IDX pair (images magic 0x803 u8 [n, rows, cols], labels magic 0x801 u8 [n], gzip or raw):
 * loads into a set of 1 x rows x cols images with 10 classes. */
difu_status difu_load_idx(const char *images_path, const char *labels_path, difu_u8_set *out,
                          char *err, size_t errlen);
/* Finds DIR/name or DIR/name.gz; writes the path found into path (pathlen bytes). */
difu_status difu_idx_find(const char *dir, const char *name, char *path, size_t pathlen,
                          char *err, size_t errlen);

/* CIFAR-10 binary batches: records of 1 label byte + 3x32x32 u8. Loads DIR/data_batch_1..5.bin
 * (those present, in order) or DIR/cifar-10-batches-bin/ likewise. */
difu_status difu_load_cifar(const char *dir, difu_u8_set *out, char *err, size_t errlen);

/* Every *.png in DIR sorted by name, converted to `channels` (1 or 3) and resized to
 * size x size. Unlabelled. */
difu_status difu_load_folder(const char *dir, int channels, int size, difu_u8_set *out,
                             char *err, size_t errlen);

/* Resamples one u8 image with sc channels (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA), planar
 * [sc, sh, sw] or, when interleaved, [sh, sw, sc], to planar [dc, dh, dw] (dc = 1 or 3): alpha
 * composited over black, gray<->RGB (BT.601 luma), the centred crop with the output's aspect
 * ratio, area-averaged when shrinking, bilinear when growing, copied when equal.
 * tmp holds at least difu_resample_tmp_floats(sh, sw, dh, dw) floats. */
size_t difu_resample_tmp_floats(int sh, int sw, int dh, int dw);
void difu_resample_u8(const uint8_t *src, int sc, int sh, int sw, int interleaved, uint8_t *dst,
                      int dc, int dh, int dw, float *tmp);

#endif /* DIFU_DATASET_H */
