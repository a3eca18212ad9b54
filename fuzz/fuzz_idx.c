/* fuzz_idx.c: the IDX reader (raw and gzip, detected by magic) through difu_dataset_open("idx:DIR").
 * Input: an options byte (fuzz_dataset.h), a 2-byte little-endian length L, then L bytes of
 * train-images-idx3-ubyte and the rest as train-labels-idx1-ubyte (either may be gzip). */
#include "fuzz_dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    difu_dataset_params p = fuzz_dataset_params(data[0], 0);
    size_t len = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    size -= 3;
    if (len > size)
        len = size;
    char images[512], labels[512], spec[600];
    fuzz_write(fuzz_path(images, sizeof images, "train-images-idx3-ubyte"), data, len);
    fuzz_write(fuzz_path(labels, sizeof labels, "train-labels-idx1-ubyte"), data + len, size - len);
    snprintf(spec, sizeof spec, "idx:%s", fuzz_dir());
    fuzz_dataset_run(spec, &p);
    return 0;
}
