/* train_log.c: the trainer's output folder (created, proven writable before training starts) and
 * its loss.csv (header, one row per step; on resume, rows after the checkpoint are dropped). */
#include "trainer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CSV_HEADER "step,loss,lr,grad_norm,img_per_s\n"

/* mkdir -p. */
static int make_dirs(const char *dir)
{
    char buf[DIFU_TRAIN_PATH_LEN];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf)
        return ENAMETOOLONG;
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0)
            continue;
        char c = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return errno;
        buf[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0)
        return errno;
    return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

difu_status difu_train_prepare_dir(difu_engine *e, const char *dir)
{
    int err = make_dirs(dir);
    if (err)
        return difu_fail(e, DIFU_ERR_IO, "train: cannot create the output folder '%s': %s", dir,
                         strerror(err));
    char probe[DIFU_TRAIN_PATH_LEN + 64];
    snprintf(probe, sizeof probe, "%s/.difu-write-test-%ld", dir, (long)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0 || write(fd, "ok", 2) != 2) {
        err = errno;
        if (fd >= 0) {
            close(fd);
            unlink(probe);
        }
        return difu_fail(e, DIFU_ERR_IO, "train: the output folder '%s' is not writable: %s", dir,
                         strerror(err));
    }
    close(fd);
    unlink(probe);
    return DIFU_OK;
}

/* Reads the whole file (NULL when missing). */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *nb = realloc(buf, 2 * cap + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (buf)
        buf[n] = 0;
    *len = n;
    return buf;
}

difu_status difu_train_open_csv(difu_trainer *t, int64_t from)
{
    char path[DIFU_TRAIN_PATH_LEN + 16];
    snprintf(path, sizeof path, "%s/loss.csv", t->out_dir);
    size_t len = 0;
    char *old = from > 0 ? slurp(path, &len) : NULL;
    t->csv = fopen(path, "w");
    if (!t->csv) {
        free(old);
        return difu_fail(t->e, DIFU_ERR_IO, "train: cannot write '%s': %s", path, strerror(errno));
    }
    fputs(CSV_HEADER, t->csv);
    if (old) {
        /* Keep the data rows of steps 1..from; drop the header and anything later. */
        char *line = old;
        while (line && *line) {
            char *next = strchr(line, '\n');
            if (next)
                *next++ = 0;
            char *end = NULL;
            long long step = strtoll(line, &end, 10);
            if (end != line && *end == ',' && step >= 1 && step <= from)
                fprintf(t->csv, "%s\n", line);
            line = next;
        }
        free(old);
    }
    fflush(t->csv);
    return DIFU_OK;
}

void difu_train_csv_row(difu_trainer *t, int64_t step, float loss, float lr, float grad_norm,
                        double img_per_s)
{
    fprintf(t->csv, "%lld,%.7g,%.6g,%.6g,%.2f\n", (long long)step, (double)loss, (double)lr,
            (double)grad_norm, img_per_s);
    fflush(t->csv); /* a row per step is cheap next to the step, and `tail -f` works */
}
