/* trainer.h: the trainer object shared by trainer.c (the step and the run loop), train_state.c
 * (checkpoint save / resume) and train_log.c (output folder, loss.csv) (internal). */
#ifndef DIFU_TRAINER_H
#define DIFU_TRAINER_H

#include <stdio.h>

#include "engine_internal.h"
#include "schedule.h"

#define DIFU_TRAIN_PATH_LEN 4096

struct difu_trainer {
    difu_engine *e;
    difu_train_params p;       /* strings point at the copies below */
    char *data, *model_name, *out_dir;
    difu_dataset *d;
    difu_dataset_info info;
    difu_model *m;
    difu_schedule sched;
    int64_t per_image;         /* in_ch * S * S */
    size_t n_floats;           /* length of every parameter-shaped block */
    float *params, *grads;     /* the model's blocks */
    difu_arena ema, adam_m, adam_v;
    /* batch buffers */
    float *x0, *eps, *xt, *a, *b;
    int64_t *labels, *t, *y;
    /* state that a checkpoint keeps */
    int64_t step;              /* steps done (skipped ones included) */
    int64_t adam_t;            /* updates applied: Adam's bias-correction count */
    int64_t skipped_total;
    float *loss_hist;          /* [step]: the loss of every step (NaN when skipped) */
    int64_t loss_cap;
    /* this run */
    int bad_in_row;
    int64_t first_step;
    double t_start;
    double loss_smooth;
    int64_t smooth_n;
    FILE *csv;
    char ckpt_path[DIFU_TRAIN_PATH_LEN];
    char anomaly[DIFU_ERROR_LEN]; /* detect_anomaly: the last step's report, "" when none */
};

/* Seconds from a monotonic clock. */
double difu_train_now(void);

/* train_log.c: creates out_dir (and its parents) when missing and proves it writable by creating
 * and removing a file in it. */
difu_status difu_train_prepare_dir(difu_engine *e, const char *dir);
/* Opens DIR/loss.csv for appending rows after step `from`: a fresh file with its header when
 * from == 0 or the file is missing; otherwise the rows with step <= from are kept and later ones
 * (written after the checkpoint being resumed) dropped. */
difu_status difu_train_open_csv(difu_trainer *t, int64_t from);
void difu_train_csv_row(difu_trainer *t, int64_t step, float loss, float lr, float grad_norm,
                        double img_per_s);

/* train_state.c: the checkpoint's trainer state. */
difu_status difu_train_state_save(difu_trainer *t, const char *path);
/* Loads weights, EMA, moments and state from path into t (created with the same settings); the
 * settings stored in the file must equal t->p's. */
difu_status difu_train_state_load(difu_trainer *t, const char *path);
/* Grows loss_hist to hold at least n values. */
difu_status difu_train_reserve_loss(difu_trainer *t, int64_t n);

#endif /* DIFU_TRAINER_H */
