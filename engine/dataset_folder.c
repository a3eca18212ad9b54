/* dataset_folder.c: a folder of PNG images of any size and colour type, unlabelled.
 *
 * Files ending in .png (any case) are taken in strcmp order of their names, so the file order
 * does not depend on the filesystem. Each is decoded (in parallel), converted to the wanted
 * channel count and centre-cropped and resized to size x size. A file that cannot be read fails
 * the whole load with its name; with several bad files the first in name order is reported.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "dataset.h"
#include "image_png.h"

#define FOLDER_MAX_SIDE 16384
#define FOLDER_MAX_FILES 2147483647

typedef struct name_list {
    char **names;
    int64_t count, cap;
} name_list;

static void names_free(name_list *l)
{
    for (int64_t i = 0; i < l->count; i++)
        free(l->names[i]);
    free(l->names);
}

static int has_png_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcasecmp(name + n - 4, ".png") == 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static difu_status list_pngs(const char *dir, name_list *l, char *err, size_t errlen)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return difu_errf(err, errlen, DIFU_ERR_IO, "folder: cannot open folder %s: %s", dir,
                         strerror(errno));
    difu_status st = DIFU_OK;
    struct dirent *ent;
    while (st == DIFU_OK && (ent = readdir(dp)) != NULL) {
        if (ent->d_name[0] == '.' || !has_png_suffix(ent->d_name))
            continue;
        if (l->count == l->cap) {
            int64_t cap = l->cap ? 2 * l->cap : 256;
            char **grown = cap <= FOLDER_MAX_FILES ? realloc(l->names, (size_t)cap * sizeof *grown)
                                                   : NULL;
            if (!grown) {
                st = difu_errf(err, errlen, DIFU_ERR_NO_MEMORY,
                               "folder: %s: too many files (%" PRId64 ")", dir, l->count);
                break;
            }
            l->names = grown;
            l->cap = cap;
        }
        l->names[l->count] = strdup(ent->d_name);
        if (!l->names[l->count])
            st = difu_errf(err, errlen, DIFU_ERR_NO_MEMORY, "folder: %s: out of memory", dir);
        else
            l->count++;
    }
    closedir(dp);
    if (st == DIFU_OK && l->count == 0)
        st = difu_errf(err, errlen, DIFU_ERR_FORMAT, "folder: %s holds no .png files", dir);
    if (st == DIFU_OK)
        qsort(l->names, (size_t)l->count, sizeof *l->names, cmp_names);
    return st;
}

/* Decodes and resamples one file into dst [channels, size, size]. */
static difu_status load_one(const char *dir, const char *name, int channels, int size,
                            uint8_t *dst, char *err, size_t errlen)
{
    char path[4096];
    int len = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (len < 0 || (size_t)len >= sizeof path)
        return difu_errf(err, errlen, DIFU_ERR_INVALID_ARG, "folder: path too long: %s/%s", dir,
                         name);
    uint8_t *px = NULL;
    int h = 0, w = 0, c = 0;
    difu_status st = difu_png_read_u8(path, FOLDER_MAX_SIDE, &px, &h, &w, &c, err, errlen);
    if (st != DIFU_OK)
        return st;
    float *tmp = malloc(difu_resample_tmp_floats(h, w, size, size) * sizeof *tmp);
    if (!tmp) {
        free(px);
        return difu_errf(err, errlen, DIFU_ERR_NO_MEMORY, "folder: %s: out of memory resizing "
                         "%d x %d", path, w, h);
    }
    difu_resample_u8(px, c, h, w, 1, dst, channels, size, size, tmp);
    free(tmp);
    free(px);
    return DIFU_OK;
}

difu_status difu_load_folder(const char *dir, int channels, int size, difu_u8_set *out,
                             char *err, size_t errlen)
{
    name_list l = {0};
    difu_status st = list_pngs(dir, &l, err, errlen);
    difu_u8_set s = {0};
    size_t per = (size_t)channels * size * size;
    if (st == DIFU_OK) {
        s.pixels = malloc((size_t)l.count * per);
        if (!s.pixels)
            st = difu_errf(err, errlen, DIFU_ERR_NO_MEMORY,
                           "folder: %s: cannot allocate %" PRId64 " images of %d x %d x %d", dir,
                           l.count, channels, size, size);
    }
    if (st == DIFU_OK) {
        /* Each file writes its own slot; the first failure in name order is kept. */
        int64_t first_bad = l.count;
        difu_status bad_status = DIFU_OK;
        char bad_msg[DIFU_DATASET_ERROR_LEN] = "";
        #pragma omp parallel for schedule(dynamic, 8)
        for (int64_t i = 0; i < l.count; i++) {
            char msg[DIFU_DATASET_ERROR_LEN];
            difu_status one = load_one(dir, l.names[i], channels, size, s.pixels + i * per, msg,
                                       sizeof msg);
            if (one != DIFU_OK) {
                #pragma omp critical(difu_folder_error)
                if (i < first_bad) {
                    first_bad = i;
                    bad_status = one;
                    memcpy(bad_msg, msg, sizeof msg);
                }
            }
        }
        if (first_bad < l.count)
            st = difu_errf(err, errlen, bad_status, "%s", bad_msg);
    }
    if (st != DIFU_OK) {
        names_free(&l);
        difu_u8_set_free(&s);
        return st;
    }
    s.count = l.count;
    s.c = channels;
    s.h = s.w = size;
    s.classes = 0;
    names_free(&l);
    *out = s;
    return DIFU_OK;
}
