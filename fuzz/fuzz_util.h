/* fuzz_util.h: helpers shared by the libFuzzer harnesses (header-only, harness code only): one
 * engine per process, a private scratch folder (in /dev/shm when it exists, so the harnesses that
 * must hand the library a path do not wear the disk) and writing an input there. */
#ifndef DIFU_FUZZ_UTIL_H
#define DIFU_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "difu.h"

/* Stops the run with a message: libFuzzer records the input as a crash. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);       \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fputc('\n', stderr);                                                                  \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

/* The process's engine: 1 thread, so a run is reproducible. */
static inline difu_engine *fuzz_engine(void)
{
    static difu_engine *e = NULL;
    if (!e) {
        difu_engine_params p = difu_engine_params_default();
        p.threads = 1;
        char err[512];
        if (difu_engine_create(&p, &e, err, sizeof err) != DIFU_OK) {
            fprintf(stderr, "fuzz: cannot create an engine: %s\n", err);
            abort();
        }
    }
    return e;
}

/* The process's scratch folder (created once; left for the OS to clean when in /dev/shm). */
static inline const char *fuzz_dir(void)
{
    static char dir[256] = "";
    if (!dir[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/difu-fuzz-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
    }
    return dir;
}

/* dir/name in buf. */
static inline const char *fuzz_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", fuzz_dir(), name);
    return buf;
}

/* Writes n bytes to path (replacing it). */
static inline void fuzz_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* A message must say something: every failure path sets one. */
static inline void fuzz_check_message(const char *msg)
{
    FUZZ_CHECK(msg && msg[0], "a failure left no message");
}

#endif /* DIFU_FUZZ_UTIL_H */
