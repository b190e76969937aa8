/*
 * Window tables, depthwise convolution and pooling (NHWC, 1 to 3 spatial dims). Each kernel walks output
 * pixels and, per pixel, the taps of its window through a table built once per step at load:
 * table[o * taps + t] is the element offset in an image of the input pixel that tap t of output pixel o
 * reads, or -1 where the window falls on padding. Channels are the vector lanes.
 */
#include "epilogue.h"

/*
 * Fill table (out_plane * taps entries) for geometry g = {rank, in[3], out[3], window[3], strides[3],
 * dilation[3], pad_lo[3]} (each list padded to 3), offsets in units of `channels` floats.
 */
EXPORT("window_table") void window_table(const int32_t *g, int32_t channels, int32_t *table) {
  const int rank = g[0];
  const int32_t *in = g + 1, *out = g + 4, *window = g + 7, *strides = g + 10, *dilation = g + 13, *pad = g + 16;
  int out_plane = 1, taps = 1;
  for (int d = 0; d < rank; d++) out_plane *= out[d], taps *= window[d];
  for (int o = 0; o < out_plane; o++) {
    for (int t = 0; t < taps; t++) {
      int orest = o, trest = t, flat = 0, scale = 1;
      for (int d = rank - 1; d >= 0; d--) {
        const int od = orest % out[d], td = trest % window[d];
        orest /= out[d], trest /= window[d];
        const int p = od * strides[d] + td * dilation[d] - pad[d];
        if (p < 0 || p >= in[d]) {
          flat = -1;
          break;
        }
        flat += p * scale;
        scale *= in[d];
      }
      table[o * taps + t] = flat < 0 ? -1 : flat * channels;
    }
  }
}

#define CHUNK 16 /* output channels per depthwise tile: 4 vectors */

/*
 * Depthwise convolution (groups = input channels, `mult` output channels each): output channel co of
 * pixel r = epilogue(sum over taps t of x[pixel(r, t), co / mult] * w[t * cout + co]), w in the layer's
 * own layout [*window, 1, cout].
 */
EXPORT("depthwise") void depthwise(const float *x, int32_t m, int32_t image_stride, const int32_t *table,
                                   int32_t out_plane, int32_t taps, int32_t mult, const float *w, float *c,
                                   int32_t cout, const float *bias, const float *residual, float lo, float hi,
                                   const int32_t *program) {
  const Epilogue e = epilogue(c, cout, bias, residual, lo, hi, program);
  for (int row = 0; row < m; row++) {
    const int image = row / out_plane, o = row - image * out_plane;
    const float *base = x + image * image_stride;
    const int32_t *entry = table + o * taps;
    for (int co = 0; co < cout; co += CHUNK) {
      const int nc = cout - co < CHUNK ? cout - co : CHUNK;
      v128_t acc[4];
      for (int v = 0; v < 4; v++) acc[v] = bias_at(&e, co + 4 * v);
      for (int t = 0; t < taps; t++) {
        if (entry[t] < 0) continue;
        const float *xp = base + entry[t], *wp = w + t * cout + co;
        for (int v = 0; v < 4; v++) {
          const int j = co + 4 * v;
          const v128_t xv = mult == 1 ? LOAD(xp + j)
              : wasm_f32x4_make(xp[j / mult], xp[(j + 1) / mult], xp[(j + 2) / mult], xp[(j + 3) / mult]);
          acc[v] = MADD(xv, LOAD(wp + 4 * v), acc[v]);
        }
      }
#pragma unroll
      for (int v = 0; v < 4; v++) finish(&e, acc[v], row, co + 4 * v, nc - 4 * v);
      if (program) run_program(&e, row, 1, co, nc);
    }
  }
}

/* The maximum of each window (padding never counts; a NaN in the window gives NaN, as numpy's max). */
EXPORT("max_pool") void max_pool(const float *x, int32_t m, int32_t image_stride, const int32_t *table,
                                 int32_t out_plane, int32_t taps, int32_t channels, float *y) {
  for (int row = 0; row < m; row++) {
    const int image = row / out_plane, o = row - image * out_plane;
    const float *base = x + image * image_stride;
    const int32_t *entry = table + o * taps;
    for (int ch = 0; ch < channels; ch += 4) {
      v128_t best = SPLAT(-__builtin_inff());
      for (int t = 0; t < taps; t++) {
        if (entry[t] >= 0) best = wasm_f32x4_max(best, LOAD(base + entry[t] + ch));
      }
      store_part(y + row * channels + ch, best, channels - ch);
    }
  }
}

/* The mean of each window's input elements (padding not counted, as Keras). */
EXPORT("avg_pool") void avg_pool(const float *x, int32_t m, int32_t image_stride, const int32_t *table,
                                 int32_t out_plane, int32_t taps, int32_t channels, float *y) {
  for (int row = 0; row < m; row++) {
    const int image = row / out_plane, o = row - image * out_plane;
    const float *base = x + image * image_stride;
    const int32_t *entry = table + o * taps;
    int count = 0;
    for (int t = 0; t < taps; t++) count += entry[t] >= 0;
    for (int ch = 0; ch < channels; ch += 4) {
      v128_t sum = wasm_f32x4_const_splat(0.f);
      for (int t = 0; t < taps; t++) {
        if (entry[t] >= 0) sum = wasm_f32x4_add(sum, LOAD(base + entry[t] + ch));
      }
      store_part(y + row * channels + ch, wasm_f32x4_div(sum, SPLAT((float)count)), channels - ch);
    }
  }
}
