/* arena.c: aligned arenas (huge pages advised when large) and tensor views over them. */
/* MADV_HUGEPAGE is a Linux extension: the project's _POSIX_C_SOURCE alone hides it */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__linux__) && !defined(MADV_HUGEPAGE)
#error "MADV_HUGEPAGE is not visible: large arenas would silently run on 4 KiB pages"
#endif

#include "difu.h"

#define ARENA_ALIGN ((size_t)2 << 20) /* 2 MiB: lets the kernel back large arenas with huge pages */
#define SMALL_ALIGN 64

difu_status difu_arena_alloc(difu_arena *a, size_t bytes)
{
    a->base = NULL;
    a->size = 0;
    if (bytes == 0)
        return DIFU_OK;
    size_t align = bytes >= ARENA_ALIGN ? ARENA_ALIGN : SMALL_ALIGN;
    size_t rounded = (bytes + align - 1) & ~(align - 1);
    void *p = NULL;
    if (posix_memalign(&p, align, rounded) != 0)
        return DIFU_ERR_NO_MEMORY;
#ifdef MADV_HUGEPAGE
    if (align == ARENA_ALIGN)
        madvise(p, rounded, MADV_HUGEPAGE); /* advice only: failure is harmless */
#endif
    a->base = p;
    a->size = rounded;
    return DIFU_OK;
}

void difu_arena_free(difu_arena *a)
{
    free(a->base);
    a->base = NULL;
    a->size = 0;
}

int64_t difu_tensor_numel(const difu_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}
