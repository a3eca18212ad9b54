/* fuzz_png.c: the PNG reader of folder: data. Each input is a one-file folder opened with
 * difu_dataset_open("folder:DIR") (decode through libpng, colour conversion, centre crop and
 * resize); the options byte (fuzz_dataset.h) picks channels, size and flips. The decoded pixels
 * from difu_png_read_u8 must have a consistent shape. */
#include "fuzz_dataset.h"
#include "image_png.h"

#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    difu_dataset_params p = fuzz_dataset_params(data[0], 1);
    char dir[512], path[600], spec[600];
    fuzz_path(dir, sizeof dir, "folder");
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/image.png", dir);
    fuzz_write(path, data + 1, size - 1);

    uint8_t *px = NULL;
    int h = 0, w = 0, c = 0;
    char err[512] = "";
    if (difu_png_read_u8(path, 4096, &px, &h, &w, &c, err, sizeof err) == DIFU_OK) {
        FUZZ_CHECK(h >= 1 && w >= 1 && h <= 4096 && w <= 4096 && c >= 1 && c <= 4, "%d x %d x %d",
                   h, w, c);
        /* the last pixel is inside the allocation */
        volatile uint8_t last = px[(size_t)h * w * c - 1];
        (void)last;
        free(px);
    } else {
        fuzz_check_message(err);
    }
    snprintf(spec, sizeof spec, "folder:%s", dir);
    fuzz_dataset_run(spec, &p);
    return 0;
}
