/* fuzz_cifar.c: the CIFAR-10 batch reader through difu_dataset_open("cifar10:DIR"). Input: an
 * options byte (fuzz_dataset.h), then data_batch_1.bin. Options bit 7 pads the file with zeros to
 * a whole number of 3073-byte records, so mutations reach the record checks (labels) as well as
 * the size check. */
#include "fuzz_dataset.h"

#define RECORD 3073

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t opt = data[0];
    difu_dataset_params p = fuzz_dataset_params(opt, 0);
    data++;
    size--;
    size_t n = size;
    if ((opt >> 7) & 1)
        n = (size + RECORD - 1) / RECORD * RECORD;
    uint8_t *file = calloc(n ? n : 1, 1);
    FUZZ_CHECK(file, "out of memory");
    if (size)
        memcpy(file, data, size);
    char path[512], spec[600];
    fuzz_write(fuzz_path(path, sizeof path, "data_batch_1.bin"), file, n);
    free(file);
    snprintf(spec, sizeof spec, "cifar10:%s", fuzz_dir());
    fuzz_dataset_run(spec, &p);
    return 0;
}
