/* test_regressions.c: named tests for the failures the fuzzers found (their inputs are replayed
 * by the replay_fuzz_* tests from fuzz/regressions/; RELIABILITY.md lists them). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "model_config_json.h"
#include "test_util.h"

/* fuzz_model_config: "gn_eps": 1e106 is a finite double but not a finite float. It used to be
 * accepted as inf, and the encoder then wrote "i.nf": a checkpoint that could be saved but never
 * opened again. */
Test(regressions, config_json_float_out_of_float_range_is_refused)
{
    difu_engine *e = tu_engine(DIFU_ISA_REF, 1);
    difu_model_config c;
    cr_assert_eq(difu_model_preset(e, "tiny", &c), DIFU_OK);
    char *json = NULL;
    cr_assert_eq(difu_model_config_to_json(e, &c, &json), DIFU_OK);
    const char *keys[2] = {"\"gn_eps\":1e-06", "\"dropout\":0.0"};
    const char *bad[2] = {"\"gn_eps\":1e106", "\"dropout\":-3.5e38"};
    for (int k = 0; k < 2; k++) {
        char text[1024];
        const char *at = strstr(json, keys[k]);
        cr_assert_not_null(at, "%s not in %s", keys[k], json);
        snprintf(text, sizeof text, "%.*s%s%s", (int)(at - json), json, bad[k],
                 at + strlen(keys[k]));
        difu_model_config out;
        cr_assert_eq(difu_model_config_from_json(e, text, &out), DIFU_ERR_FORMAT, "%s", text);
        const char *msg = difu_engine_last_error(e);
        cr_assert(strstr(msg, k ? "dropout" : "gn_eps") && strstr(msg, "finite"),
                  "message does not name the key: %s", msg);
    }
    /* 3.4e38 still fits a float */
    char text[1024];
    const char *at = strstr(json, keys[0]);
    snprintf(text, sizeof text, "%.*s\"gn_eps\":3.4e38%s", (int)(at - json), json,
             at + strlen(keys[0]));
    difu_model_config out;
    cr_assert_eq(difu_model_config_from_json(e, text, &out), DIFU_OK, "%s",
                 difu_engine_last_error(e));
    cr_assert_eq(out.gn_eps, 3.4e38f);
    free(json);
    difu_engine_destroy(e);
}

/* The same through the API: a config with gn_eps = inf or NaN is invalid. */
Test(regressions, config_check_refuses_non_finite_gn_eps)
{
    difu_engine *e = tu_engine(DIFU_ISA_REF, 1);
    difu_model_config c;
    cr_assert_eq(difu_model_preset(e, "tiny", &c), DIFU_OK);
    float bad[2] = {INFINITY, NAN};
    for (int i = 0; i < 2; i++) {
        c.gn_eps = bad[i];
        cr_assert_eq(difu_model_config_check(e, &c), DIFU_ERR_INVALID_ARG, "gn_eps %g accepted",
                     (double)bad[i]);
        cr_assert(strstr(difu_engine_last_error(e), "gn_eps"), "%s", difu_engine_last_error(e));
    }
    difu_engine_destroy(e);
}
