/* test_png_limits.c: the PNG reader refuses, from the header alone, images it cannot or should
 * not hold: a side over its limit, a decoded size over 2^28 bytes, and pixel data the file is
 * too small to contain compressed. Crafted files (valid signature, IHDR with its CRC, a tiny
 * IDAT) are read under an address-space limit only 64 MiB above what the process already maps,
 * so a reader that allocated what the header claims would fail with "out of memory" instead. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <criterion/criterion.h>
#include <zlib.h>

#include "difu.h"
#include "image_png.h"
#include "test_util.h"

/* Writes one chunk (length, type, data, CRC over type + data). */
static void put_chunk(FILE *f, const char *type, const unsigned char *data, uint32_t len)
{
    unsigned char head[8];
    tu_put_be32(head, len);
    memcpy(head + 4, type, 4);
    fwrite(head, 1, 8, f);
    if (len)
        fwrite(data, 1, len, f);
    uLong crc = crc32(0L, (const Bytef *)type, 4);
    if (len)
        crc = crc32(crc, data, len);
    unsigned char c[4];
    tu_put_be32(c, (uint32_t)crc);
    fwrite(c, 1, 4, f);
}

/* A PNG whose header claims w x h (colour type, bit depth) but whose IDAT holds only one
 * compressed row of zeros of at most 64 bytes. */
static void write_claim(const char *path, uint32_t w, uint32_t h, int color, int depth)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    static const unsigned char sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    fwrite(sig, 1, 8, f);
    unsigned char ihdr[13];
    tu_put_be32(ihdr, w);
    tu_put_be32(ihdr + 4, h);
    ihdr[8] = (unsigned char)depth;
    ihdr[9] = (unsigned char)color;
    ihdr[10] = ihdr[11] = ihdr[12] = 0; /* deflate, adaptive filters, no interlace */
    put_chunk(f, "IHDR", ihdr, 13);
    if (color == 3) {
        static const unsigned char plte[6] = {0, 0, 0, 255, 255, 255};
        put_chunk(f, "PLTE", plte, 6);
    }
    unsigned char raw[64] = {0}, z[128];
    uLongf zlen = sizeof z;
    cr_assert_eq(compress(z, &zlen, raw, sizeof raw), Z_OK);
    put_chunk(f, "IDAT", z, (uint32_t)zlen);
    put_chunk(f, "IEND", NULL, 0);
    cr_assert_eq(fclose(f), 0);
}

/* Address space: what the process maps now plus 64 MiB (not under ASan, which reserves
 * terabytes of shadow memory). */
static void limit_address_space(void)
{
#if !defined(__SANITIZE_ADDRESS__)
    FILE *f = fopen("/proc/self/status", "r");
    cr_assert_not_null(f);
    char line[256];
    unsigned long long vm_kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %llu kB", &vm_kb) == 1)
            break;
    fclose(f);
    cr_assert(vm_kb > 0, "no VmSize in /proc/self/status");
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_AS, &rl), 0);
    rl.rlim_cur = (rlim_t)(vm_kb * 1024 + (64ull << 20));
    cr_assert_eq(setrlimit(RLIMIT_AS, &rl), 0);
#endif
}

static void refused(const char *path, int max_side, const char *dims, const char *why)
{
    uint8_t *px = NULL;
    int h = 0, w = 0, c = 0;
    char err[512] = "";
    difu_status s = difu_png_read_u8(path, max_side, &px, &h, &w, &c, err, sizeof err);
    cr_assert_eq(s, DIFU_ERR_FORMAT, "%s: %s (%s)", dims, difu_status_name(s), err);
    cr_assert_null(px);
    cr_assert(strstr(err, path), "no file name: %s", err);
    cr_assert(strstr(err, dims), "no dimensions '%s': %s", dims, err);
    cr_assert(strstr(err, why), "'%s' lacks '%s'", err, why);
}

Test(png_limits, huge_headers_are_refused_before_allocating)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "pnglim");
    char path[256];
    snprintf(path, sizeof path, "%s/claim.png", dir);
    limit_address_space();
    /* 60000 x 60000 RGB: 10.8 GB decoded */
    write_claim(path, 60000, 60000, 2, 8);
    refused(path, 1000000, "60000 x 60000", "over the reader's cap of 268435456 bytes");
    refused(path, 16384, "60000 x 60000", "over the reader's limit of 16384");
    /* RGBA 16-bit at libpng's largest sides: w * h * channels overflows 32 and 40 bits */
    write_claim(path, 1000000, 1000000, 6, 16);
    refused(path, 1000000, "1000000 x 1000000", "decode to 4000000000000 bytes");
    /* 16384 x 16384 RGBA 16-bit: 1 GiB decoded, within the folder reader's side limit */
    write_claim(path, 16384, 16384, 6, 16);
    refused(path, 16384, "16384 x 16384", "over the reader's cap");
    /* 16384 x 16384 gray: exactly the cap, but a ~100-byte file cannot inflate to 256 MiB */
    write_claim(path, 16384, 16384, 0, 8);
    refused(path, 16384, "16384 x 16384", "truncated or corrupt");
    /* 4096 x 4096 RGBA 16-bit: 64 MiB decoded, 128 MiB of stored pixels */
    write_claim(path, 4096, 4096, 6, 16);
    refused(path, 4096, "4096 x 4096", "need at least 134217728 bytes");
    /* palette, 1 bit: 8 pixels a byte, still far more than the file can hold */
    write_claim(path, 8000, 8000, 3, 1);
    refused(path, 16384, "8000 x 8000", "truncated or corrupt");
    tu_rm_tree(dir);
}

Test(png_limits, folder_dataset_names_the_file_and_dimensions)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "pnglim");
    char good[256], bad[256], spec[300];
    snprintf(good, sizeof good, "%s/a.png", dir);
    snprintf(bad, sizeof bad, "%s/b.png", dir);
    uint8_t px[4 * 4] = {0};
    char err[512] = "";
    cr_assert_eq(difu_png_write_u8(good, px, 4, 4, 1, err, sizeof err), DIFU_OK, "%s", err);
    write_claim(bad, 16384, 16384, 2, 8);
    limit_address_space();
    snprintf(spec, sizeof spec, "folder:%s", dir);
    difu_dataset_params p = difu_dataset_params_default();
    p.size = 8;
    difu_dataset *d = NULL;
    difu_status s = difu_dataset_open(spec, &p, &d, err, sizeof err);
    cr_assert_eq(s, DIFU_ERR_FORMAT, "%s (%s)", difu_status_name(s), err);
    cr_assert_null(d);
    cr_assert(strstr(err, bad) && strstr(err, "16384 x 16384") && strstr(err, "cap"), "%s", err);
    tu_rm_tree(dir);
}

/* The bound is on what deflate can possibly produce, so real files that compress very well
 * still read: 2048 x 2048 zeros compress about 1000:1. */
Test(png_limits, highly_compressed_real_images_still_read)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "pnglim");
    char path[256];
    snprintf(path, sizeof path, "%s/zeros.png", dir);
    enum { S = 2048 };
    uint8_t *px = calloc((size_t)S * S, 1);
    cr_assert_not_null(px);
    char err[512] = "";
    cr_assert_eq(difu_png_write_u8(path, px, S, S, 1, err, sizeof err), DIFU_OK, "%s", err);
    free(px);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fclose(f);
    cr_log_info("2048 x 2048 zeros: %ld bytes (%.0f:1)", bytes, (double)S * S / (double)bytes);
    limit_address_space();
    uint8_t *back = NULL;
    int h = 0, w = 0, c = 0;
    cr_assert_eq(difu_png_read_u8(path, S, &back, &h, &w, &c, err, sizeof err), DIFU_OK, "%s",
                 err);
    cr_assert(h == S && w == S && c == 1);
    cr_assert(back[0] == 0 && back[(size_t)S * S - 1] == 0);
    free(back);
    tu_rm_tree(dir);
}
