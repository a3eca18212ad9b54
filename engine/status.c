/* status.c: names of status codes and the engine's last-error message. */
#include <stdio.h>

#include "engine_internal.h"

const char *difu_status_name(difu_status s)
{
    static const char *const names[DIFU_STATUS_COUNT] = {
        "ok", "invalid argument", "unsupported", "out of memory", "i/o error",
        "bad format", "non-finite value", "internal error",
    };
    return (s >= 0 && s < DIFU_STATUS_COUNT) ? names[s] : "unknown status";
}

difu_status difu_fail(difu_engine *e, difu_status status, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->last_error, sizeof e->last_error, fmt, ap);
        va_end(ap);
    }
    return status;
}

void difu_clear_error(difu_engine *e)
{
    e->last_error[0] = '\0';
}

const char *difu_engine_last_error(const difu_engine *e)
{
    return e ? e->last_error : "no engine";
}
