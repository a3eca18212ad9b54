/* dataset_cifar.c: CIFAR-10 binary batches (data_batch_1..5.bin).
 *
 * Each file is a sequence of 3073-byte records: one label byte in [0, 10), then the image as
 * 3 x 32 x 32 u8 (R plane, G plane, B plane, rows top to bottom), which is already CHW.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset.h"

#define CIFAR_SIDE 32
#define CIFAR_PIXELS (3 * CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_RECORD (1 + CIFAR_PIXELS)
#define CIFAR_BATCHES 5

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Which batch files exist: under dir itself, or under dir/cifar-10-batches-bin. */
static int find_batches(const char *dir, char paths[CIFAR_BATCHES][4096], uint64_t *sizes)
{
    const char *subs[2] = {"", "/cifar-10-batches-bin"};
    for (int s = 0; s < 2; s++) {
        int found = 0;
        for (int b = 0; b < CIFAR_BATCHES; b++) {
            paths[found][0] = '\0';
            int len = snprintf(paths[found], 4096, "%s%s/data_batch_%d.bin", dir, subs[s], b + 1);
            struct stat st;
            if (len > 0 && len < 4096 && is_file(paths[found]) && stat(paths[found], &st) == 0) {
                sizes[found] = (uint64_t)st.st_size;
                found++;
            }
        }
        if (found > 0)
            return found;
    }
    return 0;
}

static difu_status read_batch(const char *path, uint64_t bytes, uint8_t *pixels, uint8_t *labels,
                              char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return difu_errf(err, errlen, DIFU_ERR_IO, "cifar10: cannot open %s: %s", path,
                         strerror(errno));
    uint64_t records = bytes / CIFAR_RECORD;
    unsigned char rec[CIFAR_RECORD];
    difu_status st = DIFU_OK;
    for (uint64_t r = 0; r < records && st == DIFU_OK; r++) {
        if (fread(rec, 1, CIFAR_RECORD, fp) != CIFAR_RECORD)
            st = difu_errf(err, errlen, DIFU_ERR_IO, "cifar10: %s: read failed at byte offset %"
                           PRIu64 " (file changed while reading?)", path, r * CIFAR_RECORD);
        else if (rec[0] >= DIFU_DATASET_CLASSES)
            st = difu_errf(err, errlen, DIFU_ERR_FORMAT,
                           "cifar10: %s: label %u of record %" PRIu64 " (byte offset %" PRIu64
                           ") is out of range [0, %d)", path, rec[0], r, r * CIFAR_RECORD,
                           DIFU_DATASET_CLASSES);
        else {
            labels[r] = rec[0];
            memcpy(pixels + r * CIFAR_PIXELS, rec + 1, CIFAR_PIXELS);
        }
    }
    fclose(fp);
    return st;
}

difu_status difu_load_cifar(const char *dir, difu_u8_set *out, char *err, size_t errlen)
{
    char (*found_paths)[4096] = malloc(sizeof(char[CIFAR_BATCHES][4096]));
    if (!found_paths)
        return difu_errf(err, errlen, DIFU_ERR_NO_MEMORY, "cifar10: out of memory");
    uint64_t sizes[CIFAR_BATCHES];
    int nfiles = find_batches(dir, found_paths, sizes);
    difu_status st = DIFU_OK;
    if (nfiles == 0)
        st = difu_errf(err, errlen, DIFU_ERR_IO,
                       "cifar10: no data_batch_1..5.bin in %s or %s/cifar-10-batches-bin", dir,
                       dir);
    uint64_t total = 0;
    for (int i = 0; st == DIFU_OK && i < nfiles; i++) {
        if (sizes[i] == 0 || sizes[i] % CIFAR_RECORD != 0)
            st = difu_errf(err, errlen, DIFU_ERR_FORMAT,
                           "cifar10: %s: size %" PRIu64 " is not a positive multiple of the "
                           "%d-byte record (last record cut at byte offset %" PRIu64 ")",
                           found_paths[i], sizes[i], CIFAR_RECORD,
                           sizes[i] - sizes[i] % CIFAR_RECORD);
        total += sizes[i] / CIFAR_RECORD;
    }
    if (st == DIFU_OK && total > 2147483647u)   /* orders are u32 */
        st = difu_errf(err, errlen, DIFU_ERR_FORMAT, "cifar10: %s: %" PRIu64 " records, more "
                       "than 2^31 - 1", dir, total);
    difu_u8_set s = {0};
    if (st == DIFU_OK) {
        s.pixels = malloc(total * CIFAR_PIXELS);
        s.labels = malloc(total);
        if (!s.pixels || !s.labels)
            st = difu_errf(err, errlen, DIFU_ERR_NO_MEMORY,
                           "cifar10: cannot allocate %" PRIu64 " images", total);
    }
    uint64_t at = 0;
    for (int i = 0; st == DIFU_OK && i < nfiles; i++) {
        st = read_batch(found_paths[i], sizes[i], s.pixels + at * CIFAR_PIXELS, s.labels + at, err,
                        errlen);
        at += sizes[i] / CIFAR_RECORD;
    }
    free(found_paths);
    if (st != DIFU_OK) {
        difu_u8_set_free(&s);
        return st;
    }
    s.count = (int64_t)total;
    s.c = 3;
    s.h = s.w = CIFAR_SIDE;
    s.classes = DIFU_DATASET_CLASSES;
    *out = s;
    return DIFU_OK;
}
