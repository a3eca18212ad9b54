/* fuzz_dataset.h: the part the dataset harnesses share (harness code only): the options byte that
 * opens the input's files through difu_dataset_open, and the batch reads that must succeed on any
 * dataset it accepts, with every pixel in [-1, 1] and every label a class or -1. */
#ifndef DIFU_FUZZ_DATASET_H
#define DIFU_FUZZ_DATASET_H

#include <math.h>

#include "fuzz_util.h"

/* opt bits 0-1: channels {0, 1, 3, 0}; bits 2-3: size {0, 5, 8, 28} (0 becomes 8 when the format
 * needs a size); bit 4: flip; bit 5: limit 2; bit 6: no shuffle. */
static inline difu_dataset_params fuzz_dataset_params(uint8_t opt, int needs_size)
{
    static const int channels[4] = {0, 1, 3, 0}, sizes[4] = {0, 5, 8, 28};
    difu_dataset_params p = difu_dataset_params_default();
    p.channels = channels[opt & 3];
    p.size = sizes[(opt >> 2) & 3];
    if (needs_size && p.size == 0)
        p.size = 8;
    p.flip = (opt >> 4) & 1;
    p.limit = (opt >> 5) & 1 ? 2 : 0;
    p.shuffle = !((opt >> 6) & 1);
    p.seed = opt;
    return p;
}

static inline void fuzz_dataset_run(const char *spec, const difu_dataset_params *p)
{
    difu_dataset *d = (difu_dataset *)1;
    char err[512] = "";
    if (difu_dataset_open(spec, p, &d, err, sizeof err) != DIFU_OK) {
        FUZZ_CHECK(d == NULL, "failure left an output");
        fuzz_check_message(err);
        return;
    }
    difu_dataset_info info = difu_dataset_get_info(d);
    FUZZ_CHECK(info.count >= 1 && info.channels >= 1 && info.height >= 1 && info.width >= 1,
               "info %lld x %d x %d x %d", (long long)info.count, info.channels, info.height,
               info.width);
    if (p->limit)
        FUZZ_CHECK(info.count <= p->limit, "limit %lld, count %lld", (long long)p->limit,
                   (long long)info.count);
    size_t per = (size_t)info.channels * (size_t)info.height * (size_t)info.width;
    enum { BATCH = 3 };
    float *img = malloc(BATCH * per * sizeof *img);
    int64_t labels[BATCH];
    FUZZ_CHECK(img, "out of memory for %zu floats", BATCH * per);
    FUZZ_CHECK(difu_dataset_next_batch(d, BATCH, img, labels) == DIFU_OK, "next_batch: %s",
               difu_dataset_last_error(d));
    for (size_t i = 0; i < BATCH * per; i++)
        FUZZ_CHECK(img[i] >= -1.0f && img[i] <= 1.0f, "pixel %zu is %g", i, (double)img[i]);
    for (int i = 0; i < BATCH; i++)
        FUZZ_CHECK(info.classes ? labels[i] >= 0 && labels[i] < info.classes : labels[i] == -1,
                   "label %lld with %d classes", (long long)labels[i], info.classes);
    int64_t label = 0;
    FUZZ_CHECK(difu_dataset_get(d, info.count - 1, img, &label) == DIFU_OK, "get: %s",
               difu_dataset_last_error(d));
    FUZZ_CHECK(difu_dataset_get(d, info.count, img, &label) != DIFU_OK, "get past the end");
    free(img);
    difu_dataset_close(d);
}

#endif /* DIFU_FUZZ_DATASET_H */
