/* conv2d_winograd_avx512.c: the Winograd tile transforms (conv2d_winograd_xform.h) built with
 * avx512 flags; the tile transposes are AVX2's (8 x 8 blocks fit the tiles). */
#define WINO_INPUT_FN difu_wino_input_avx512
#define WINO_OUTPUT_FN difu_wino_output_avx512
#define WINO_DY_FN difu_wino_dy_avx512
#include "conv2d_winograd_xform.h"

const difu_wino_xforms difu_wino_xforms_avx512 = {difu_wino_input_avx512, difu_wino_output_avx512,
                                                  difu_wino_dy_avx512, difu_wino_transpose_avx2};
