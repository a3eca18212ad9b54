/* image_png.h: PNG reading and atomic PNG writing of 8-bit pixels (internal). The public writers
 * (grids, single images, loss plots) are in difu.h. */
#ifndef DIFU_IMAGE_PNG_H
#define DIFU_IMAGE_PNG_H

#include <stddef.h>
#include <stdint.h>

#include "difu.h"

/* Reads a PNG as 8-bit interleaved pixels [h, w, c]: c = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
 * (palettes expanded, tRNS turned into alpha, 16-bit scaled to 8, 1/2/4-bit gray expanded,
 * interlacing undone). Refuses, from the header and before allocating the pixels, images wider
 * or taller than max_side, images whose 8-bit pixels would take more than 2^28 bytes, and
 * headers claiming more pixel data than the file's size can hold compressed. On success *pixels
 * is malloc'ed and owned by the caller. */
difu_status difu_png_read_u8(const char *path, int max_side, uint8_t **pixels, int *h, int *w,
                             int *c, char *err, size_t errlen);

/* Writes interleaved 8-bit pixels [h, w, c] (c = 1 gray or 3 RGB) to path atomically: a
 * temporary file in the same folder, fsync, rename, fsync of the folder. */
difu_status difu_png_write_u8(const char *path, const uint8_t *pixels, int h, int w, int c,
                              char *err, size_t errlen);

/* A pixel in [-1, 1] as u8: clamped, round((v + 1) * 127.5); NaN gives 0. */
uint8_t difu_pixel_to_u8(float v);

#endif /* DIFU_IMAGE_PNG_H */
