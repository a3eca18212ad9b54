/* cmd_train.c: `difu train`: flags -> difu_train_params, a progress bar on stderr, SIGINT /
 * SIGTERM -> checkpoint and a clean exit. The work is difu_trainer_* in the library. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "difu.h"

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* The engine's last message without the library's own "train: " prefix. */
static const char *message(const difu_engine *e)
{
    const char *m = difu_engine_last_error(e);
    return strncmp(m, "train: ", 7) == 0 ? m + 7 : m;
}

static const char usage_text[] =
    "usage: difu train --steps N --out DIR [options]\n"
    "  --data SPEC          fashion-mnist (default), fashion-mnist:test, idx:DIR, cifar10:DIR,\n"
    "                       folder:DIR\n"
    "  --model NAME         fmnist-t (default), fmnist-s, tiny\n"
    "  --steps N            train until N steps are done (required)\n"
    "  --batch B            images per step (128)\n"
    "  --out DIR            output folder: checkpoint.safetensors, loss.csv, loss.png,\n"
    "                       samples-STEP.png (required unless --resume: then its folder)\n"
    "  --lr LR              Adam learning rate (2e-4)\n"
    "  --warmup N           linear lr warm-up steps (0)\n"
    "  --weight-decay W     decoupled (AdamW) weight decay (0)\n"
    "  --clip C             gradient-norm clip, 0 = none (1)\n"
    "  --ema-decay D        EMA decay (0.999 below 50000 steps, else 0.9999), with warm-up\n"
    "                       min(D, (1+s)/(10+s))\n"
    "  --cond               class-conditional, labels dropped to the null class with p 0.1\n"
    "  --label-dropout P    that p (0.1)\n"
    "  --schedule KIND      linear (default) or cosine\n"
    "  --T N                diffusion steps (1000)\n"
    "  --seed S             model init, data order and every random draw (0)\n"
    "  --flip               random horizontal flips\n"
    "  --limit N            use only the first N images\n"
    "  --threads T          worker threads (all cores)\n"
    "  --ckpt-every K       checkpoint every K steps (and at the end)\n"
    "  --sample-every K     samples-STEP.png every K steps (EMA weights, DDIM 50 steps)\n"
    "  --sample-steps K     DDIM steps of those grids (50)\n"
    "  --log-every K        a progress line every K steps when stderr is not a terminal (50)\n"
    "  --max-bad-steps N    stop after N non-finite steps in a row (10)\n"
    "  --detect-anomaly     check every node's outputs (forward and backward) for NaN / inf\n"
    "                       after it runs; report the first (node, op, tensor) and skip the\n"
    "                       step. Same results, slower; for debugging\n"
    "  --resume FILE        continue a run from its checkpoint (same data, model, batch, seed)\n";

/* The flags that were given, so --resume can take the rest from the checkpoint. */
typedef struct given {
    int data, model, batch, seed, cond, flip, limit, schedule, T, lr, warmup, wd, clip, ema, drop;
} given;

typedef struct progress_state {
    int tty;
    int64_t log_every;
    double last_draw;
    int drawn;
    double t0;
} progress_state;

static void on_progress(const difu_train_progress *p, void *ctx)
{
    progress_state *ps = ctx;
    char eta[32], el[32];
    if (p->event != DIFU_TRAIN_STEP) {
        if (ps->drawn)
            fputc('\n', stderr);
        ps->drawn = 0;
        fprintf(stderr, "difu train: step %lld: wrote %s\n", (long long)p->step, p->path);
        return;
    }
    double left = p->img_per_s > 0 ? (double)(p->steps - p->step) * (p->elapsed_s /
                                       (double)(p->step - p->first_step)) : -1;
    cli_format_duration(left, eta, sizeof eta);
    cli_format_duration(p->elapsed_s, el, sizeof el);
    int last = p->step == p->steps;
    if (p->anomaly) {
        if (ps->drawn)
            fputc('\n', stderr);
        ps->drawn = 0;
        fprintf(stderr, "difu train: %s\n", p->anomaly);
    }
    if (ps->tty) {
        if (!last && p->elapsed_s - ps->last_draw < 0.2 && ps->drawn)
            return;
        ps->last_draw = p->elapsed_s;
        char bar[21];
        int fill = (int)(20 * p->step / (p->steps > 0 ? p->steps : 1));
        for (int i = 0; i < 20; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[20] = 0;
        fprintf(stderr, "\r\033[Kstep %lld/%lld [%s] loss %.4f  %.1f img/s  %s elapsed  ETA %s",
                (long long)p->step, (long long)p->steps, bar, (double)p->loss_smooth,
                p->img_per_s, el, eta);
        if (p->skipped_total)
            fprintf(stderr, "  skipped %lld", (long long)p->skipped_total);
        ps->drawn = 1;
        if (last) {
            fputc('\n', stderr);
            ps->drawn = 0;
        }
    } else if (p->step % ps->log_every == 0 || last || p->step == p->first_step + 1) {
        fprintf(stderr, "step %lld/%lld loss %.4f (smoothed %.4f) lr %.3g grad_norm %.3g %.1f img/s "
                "elapsed %s ETA %s%s\n", (long long)p->step, (long long)p->steps, (double)p->loss,
                (double)p->loss_smooth, (double)p->lr, (double)p->grad_norm, p->img_per_s, el, eta,
                p->skipped ? " (skipped: non-finite)" : "");
    }
    fflush(stderr);
}

/* Parses argv into p; returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, difu_train_params *p, given *g, const char **resume,
                 int *threads, int64_t *log_every, int *ema_given)
{
    const char *cmd = "train";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        long long n;
        double f;
#define INT(lo, hi) (cli_int(cmd, a, v, lo, hi, &n) ? 1 : 0)
#define NUM(lo, hi) (cli_float(cmd, a, v, lo, hi, &f) ? 1 : 0)
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strcmp(a, "--data") == 0) {
            CLI_VALUE();
            p->data = v;
            g->data = 1;
        } else if (strcmp(a, "--model") == 0) {
            CLI_VALUE();
            p->model = v;
            g->model = 1;
        } else if (strcmp(a, "--out") == 0) {
            CLI_VALUE();
            p->out_dir = v;
        } else if (strcmp(a, "--resume") == 0) {
            CLI_VALUE();
            *resume = v;
        } else if (strcmp(a, "--steps") == 0) {
            CLI_VALUE();
            if (!INT(1, (long long)1e12))
                return 2;
            p->steps = n;
        } else if (strcmp(a, "--batch") == 0) {
            CLI_VALUE();
            if (!INT(1, 65536))
                return 2;
            p->batch = (int)n;
            g->batch = 1;
        } else if (strcmp(a, "--lr") == 0) {
            CLI_VALUE();
            if (!NUM(0, 10))
                return 2;
            p->lr = (float)f;
            g->lr = 1;
        } else if (strcmp(a, "--warmup") == 0) {
            CLI_VALUE();
            if (!INT(0, (long long)1e12))
                return 2;
            p->warmup = n;
            g->warmup = 1;
        } else if (strcmp(a, "--weight-decay") == 0) {
            CLI_VALUE();
            if (!NUM(0, 100))
                return 2;
            p->weight_decay = (float)f;
            g->wd = 1;
        } else if (strcmp(a, "--clip") == 0) {
            CLI_VALUE();
            if (!NUM(0, 1e6))
                return 2;
            p->clip = (float)f;
            g->clip = 1;
        } else if (strcmp(a, "--ema-decay") == 0) {
            CLI_VALUE();
            if (!NUM(0, 0.999999999))
                return 2;
            p->ema_decay = (float)f;
            g->ema = 1;
            *ema_given = 1;
        } else if (strcmp(a, "--cond") == 0) {
            p->cond = 1;
            g->cond = 1;
        } else if (strcmp(a, "--label-dropout") == 0) {
            CLI_VALUE();
            if (!NUM(0, 1))
                return 2;
            p->label_dropout = (float)f;
            g->drop = 1;
        } else if (strcmp(a, "--schedule") == 0) {
            CLI_VALUE();
            int k = difu_schedule_kind_parse(v);
            if (k < 0) {
                fprintf(stderr, "difu train: --schedule takes linear or cosine, got '%s'\n", v);
                return 2;
            }
            p->schedule = (difu_schedule_kind)k;
            g->schedule = 1;
        } else if (strcmp(a, "--T") == 0) {
            CLI_VALUE();
            if (!INT(2, 100000))
                return 2;
            p->T = (int)n;
            g->T = 1;
        } else if (strcmp(a, "--seed") == 0) {
            CLI_VALUE();
            if (!cli_u64(cmd, a, v, &p->seed))
                return 2;
            g->seed = 1;
        } else if (strcmp(a, "--flip") == 0) {
            p->flip = 1;
            g->flip = 1;
        } else if (strcmp(a, "--limit") == 0) {
            CLI_VALUE();
            if (!INT(1, (long long)1e12))
                return 2;
            p->limit = n;
            g->limit = 1;
        } else if (strcmp(a, "--threads") == 0) {
            CLI_VALUE();
            if (!INT(1, 4096))
                return 2;
            *threads = (int)n;
        } else if (strcmp(a, "--ckpt-every") == 0) {
            CLI_VALUE();
            if (!INT(0, (long long)1e12))
                return 2;
            p->ckpt_every = n;
        } else if (strcmp(a, "--sample-every") == 0) {
            CLI_VALUE();
            if (!INT(0, (long long)1e12))
                return 2;
            p->sample_every = n;
        } else if (strcmp(a, "--sample-steps") == 0) {
            CLI_VALUE();
            if (!INT(1, 100000))
                return 2;
            p->sample_steps = (int)n;
        } else if (strcmp(a, "--log-every") == 0) {
            CLI_VALUE();
            if (!INT(1, (long long)1e12))
                return 2;
            *log_every = n;
        } else if (strcmp(a, "--max-bad-steps") == 0) {
            CLI_VALUE();
            if (!INT(1, 1000000))
                return 2;
            p->max_bad_steps = (int)n;
        } else if (strcmp(a, "--detect-anomaly") == 0) {
            p->detect_anomaly = 1;
        } else {
            fprintf(stderr, "difu train: unknown option '%s' (see difu train --help)\n", a);
            return 2;
        }
#undef INT
#undef NUM
    }
    return -1;
}

/* With --resume: the checkpoint's settings, then the flags given on top. */
static int merge_resume(difu_engine *e, const char *resume, difu_train_params *p, const given *g,
                        char **owned_data, char **owned_model)
{
    difu_train_params r = *p;
    if (difu_train_params_from_checkpoint(e, resume, &r) != DIFU_OK) {
        fprintf(stderr, "difu train: %s\n", message(e));
        return 1;
    }
    *owned_data = (char *)r.data;
    *owned_model = (char *)r.model;
#define KEEP(flag, field)                                                                         \
    if (g->flag)                                                                                  \
        r.field = p->field;
    KEEP(data, data)
    KEEP(model, model)
    KEEP(batch, batch)
    KEEP(seed, seed)
    KEEP(cond, cond)
    KEEP(flip, flip)
    KEEP(limit, limit)
    KEEP(schedule, schedule)
    KEEP(T, T)
    KEEP(lr, lr)
    KEEP(warmup, warmup)
    KEEP(wd, weight_decay)
    KEEP(clip, clip)
    KEEP(ema, ema_decay)
    KEEP(drop, label_dropout)
#undef KEEP
    *p = r;
    return -1;
}

int difu_cmd_train(int argc, char **argv)
{
    difu_train_params p = difu_train_params_default();
    p.data = "fashion-mnist";
    p.model = "fmnist-t";
    p.steps = 0;
    given g;
    memset(&g, 0, sizeof g);
    const char *resume = NULL;
    int threads = 0, ema_given = 0;
    int64_t log_every = 50;
    int rc = parse(argc, argv, &p, &g, &resume, &threads, &log_every, &ema_given);
    if (rc >= 0)
        return rc;
    if (p.steps < 1) {
        fprintf(stderr, "difu train: --steps N is required (see difu train --help)\n");
        return 2;
    }
    char resume_dir[4096];
    if (!p.out_dir && resume) {
        snprintf(resume_dir, sizeof resume_dir, "%s", resume);
        char *slash = strrchr(resume_dir, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(resume_dir, sizeof resume_dir, ".");
        p.out_dir = resume_dir;
    }
    if (!p.out_dir) {
        fprintf(stderr, "difu train: --out DIR is required (see difu train --help)\n");
        return 2;
    }
    if (!ema_given && !resume)
        p.ema_decay = p.steps < 50000 ? 0.999f : 0.9999f;

    difu_engine_params ep = difu_engine_params_default();
    if (threads > 0)
        ep.threads = threads;
    difu_engine *e = NULL;
    char err[512];
    if (difu_engine_create(&ep, &e, err, sizeof err) != DIFU_OK) {
        fprintf(stderr, "difu train: %s\n", err);
        return 1;
    }
    char *owned_data = NULL, *owned_model = NULL;
    difu_trainer *t = NULL;
    rc = 1;
    if (resume && (rc = merge_resume(e, resume, &p, &g, &owned_data, &owned_model)) >= 0)
        goto done;
    rc = 1;
    progress_state ps = {isatty(STDERR_FILENO), log_every, 0, 0, 0};
    p.progress = on_progress;
    p.progress_ctx = &ps;
    p.stop = &stop_requested;
    if (difu_trainer_create(e, &p, resume, &t) != DIFU_OK) {
        fprintf(stderr, "difu train: %s\n", message(e));
        goto done;
    }
    fprintf(stderr, "difu train: %s on %s, %lld params, batch %d, %s schedule T %d, lr %g, EMA %g, "
            "%s, %d threads, isa %s, conv %s%s; from step %lld to %lld -> %s\n", p.model, p.data,
            (long long)difu_model_param_count(difu_trainer_model(t)), p.batch,
            difu_schedule_kind_name(p.schedule), p.T, (double)p.lr, (double)p.ema_decay,
            p.cond ? "class-conditional" : "unconditional", difu_engine_threads(e),
            difu_isa_name(difu_engine_isa(e)), difu_conv_backend_name(difu_engine_conv_backend(e)),
            p.detect_anomaly ? ", detect-anomaly" : "", (long long)difu_trainer_steps_done(t),
            (long long)p.steps, p.out_dir);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND; /* a second signal ends the process at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int interrupted = 0;
    difu_status s = difu_trainer_run(t, &interrupted);
    if (ps.drawn)
        fputc('\n', stderr);
    if (s != DIFU_OK) {
        fprintf(stderr, "difu train: %s\n", message(e));
        goto done;
    }
    if (interrupted)
        fprintf(stderr, "difu train: interrupted at step %lld; the checkpoint %s/checkpoint.safetensors "
                "is written; continue with: difu train --resume %s/checkpoint.safetensors --steps "
                "%lld\n", (long long)difu_trainer_steps_done(t), p.out_dir, p.out_dir,
                (long long)p.steps);
    else
        fprintf(stderr, "difu train: done, %lld steps; outputs in %s\n",
                (long long)difu_trainer_steps_done(t), p.out_dir);
    rc = 0;
done:
    difu_trainer_destroy(t);
    free(owned_data);
    free(owned_model);
    difu_engine_destroy(e);
    return rc;
}
