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

#endif /* DIFU_SAFETENSORS_H */
