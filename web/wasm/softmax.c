/* Row softmax and log-softmax over the last axis: y = e / sum(e) or (x - max) - log(sum(e)), e = exp(x - max). */
#include "simd.h"

/* The lanes of x + i that lie before n, the others set to `fill`. */
INLINE v128_t load_row(const float *x, int i, int n, v128_t fill) {
  const v128_t lanes = wasm_i32x4_make(0, 1, 2, 3);
  return wasm_v128_bitselect(LOAD(x + i), fill, wasm_i32x4_lt(lanes, wasm_i32x4_splat(n - i)));
}

EXPORT("softmax") void softmax(const float *x, int32_t rows, int32_t n, int32_t log, float *y) {
  const v128_t minus_inf = SPLAT(-__builtin_inff()), zero = wasm_f32x4_const_splat(0.f);
  for (int r = 0; r < rows; r++, x += n, y += n) {
    v128_t top = minus_inf;
    for (int i = 0; i < n; i += 4) top = wasm_f32x4_max(top, load_row(x, i, n, minus_inf));
    const v128_t max = SPLAT(hmax(top));
    v128_t sum = zero;
    for (int i = 0; i < n; i += 4) {
      const v128_t e = vexp(wasm_f32x4_sub(load_row(x, i, n, minus_inf), max)); /* padding lanes: e^-inf = 0 */
      sum = wasm_f32x4_add(sum, e);
      if (!log) store_part(y + i, e, n - i);
    }
    const v128_t total = SPLAT(hsum(sum));
    if (log) {
      /* (x - max) - log(sum), in that order: folding max + log(sum) into one shift first rounds it to the ulp
       * of max (about 1e-3 at 1e4), which the small log-probabilities then carry. */
      const v128_t log_total = vlog(total);
      for (int i = 0; i < n; i += 4)
        store_part(y + i, wasm_f32x4_sub(wasm_f32x4_sub(LOAD(x + i), max), log_total), n - i);
    } else {
      for (int i = 0; i < n; i += 4) store_part(y + i, wasm_f32x4_div(LOAD(y + i), total), n - i);
    }
  }
}
