/* safetensors.h: reading the safetensors format (internal): 8-byte little-endian header length N,
 * N bytes of JSON {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets"}, ...},
 * then the raw little-endian data. The reader validates strictly: header length in range, a JSON
 * object without duplicate names, exactly the three fields per tensor, known dtypes, non-negative
 * integer shapes, sizes that match numel * itemsize, and tensors that tile the data buffer
 * exactly (no gaps, no overlap, nothing after). Errors name the file and the tensor. */
#ifndef DIFU_SAFETENSORS_H
#define DIFU_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "engine_internal.h"

typedef enum difu_st_dtype { DIFU_ST_F32 = 0, DIFU_ST_F64, DIFU_ST_I64, DIFU_ST_I32, DIFU_ST_DTYPE_COUNT } difu_st_dtype;

const char *difu_st_dtype_name(difu_st_dtype d); /* "F32", ... */
size_t difu_st_dtype_size(difu_st_dtype d);

#define DIFU_ST_MAX_DIMS 8

typedef struct difu_st_tensor {
    char *name;
    difu_st_dtype dtype;
    int ndim;
    int64_t shape[DIFU_ST_MAX_DIMS];
    size_t begin, end; /* bytes into the data buffer */
} difu_st_tensor;

typedef struct difu_st_meta {
    char *key, *value;
} difu_st_meta;

typedef struct difu_safetensors {
    unsigned char *bytes; /* the whole file */
    size_t size;
    size_t data_start;    /* 8 + header length */
    difu_st_tensor *tensors; /* in header order */
    int n_tensors;
    difu_st_meta *meta;
    int n_meta;
} difu_safetensors;

/* Reads and validates a file. On failure *out is NULL and the message (on e) names the file and
 * what is wrong (DIFU_ERR_IO: cannot read; DIFU_ERR_FORMAT: malformed). */
difu_status difu_st_read(difu_engine *e, const char *path, difu_safetensors **out);
/* The same from bytes already in memory (copied); `source` names them in messages. */
difu_status difu_st_parse(difu_engine *e, const void *bytes, size_t size, const char *source,
                          difu_safetensors **out);
void difu_st_free(difu_safetensors *s);

const difu_st_tensor *difu_st_find(const difu_safetensors *s, const char *name);
/* The tensor's bytes (little-endian; aligned only as the file aligns them). */
const void *difu_st_data(const difu_safetensors *s, const difu_st_tensor *t);
int64_t difu_st_numel(const difu_st_tensor *t);
/* A metadata value, or NULL. */
const char *difu_st_meta_get(const difu_safetensors *s, const char *key);


/* ---------------------------------------------------------------- writing (safetensors_write.c)
 * Files are written atomically: a temporary file next to the target (same folder), all bytes,
 * fsync, rename over the target, fsync of the folder. On any failure the temporary is removed,
 * the previous file (if any) is untouched and the message names the file and the reason (missing
 * or read-only folder, no space, file size limit...). A process that may hit RLIMIT_FSIZE should
 * ignore SIGXFSZ, so the write fails with EFBIG instead of killing it. A successful write also
 * removes temporaries of the same target left by writers killed before their rename (so two
 * processes must not write the same file at once). */

/* One tensor to write: numel * itemsize bytes of little-endian data. */
typedef struct difu_st_out {
    const char *name;
    difu_st_dtype dtype;
    int ndim;
    int64_t shape[DIFU_ST_MAX_DIMS];
    const void *data;
} difu_st_out;

typedef struct difu_st_kv {
    const char *key, *value;
} difu_st_kv;

/* Writes the tensors in order (names unique, non-empty, not "__metadata__"; data packed in the
 * same order) with the metadata pairs (keys unique). The header is compact JSON padded with
 * spaces so the data starts at a multiple of 8. */
difu_status difu_st_write(difu_engine *e, const char *path, const difu_st_out *tensors, int n,
                          const difu_st_kv *meta, int n_meta);

/* Checks that the folder that would hold `path` exists and accepts new files (creates and
 * removes a temporary there), so a long job can fail before it starts rather than at its first
 * save. */
difu_status difu_st_check_writable(difu_engine *e, const char *path);

/* XXH3-64 of a buffer (the digest checkpoints store per tensor). */
uint64_t difu_st_digest(const void *data, size_t bytes);

#endif /* DIFU_SAFETENSORS_H */
