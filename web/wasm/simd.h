/*
 * Shared by every kernel file: exports, the multiply-add of the build variant, partial loads/stores, and
 * the vector maths (exp, log, tanh, sigmoid, erf) that epilogues and softmax need without a libm.
 *
 * Two binaries are built from these sources (scripts/build_wasm.py): plain SIMD128, where a*b+c is a
 * multiply then an add, and relaxed SIMD (-DPYML_RELAXED), where it is one fused multiply-add on CPUs
 * that have one. Both agree with numpy within the op suite's 1e-5.
 *
 * Pointers are byte offsets into the module's memory; the JS executor (web/src/wasm.js) owns all
 * allocation. Loads may read up to 12 bytes past a row's end (the executor leaves slack after every
 * region); stores never write past it.
 */
#ifndef PYML_SIMD_H
#define PYML_SIMD_H
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(name)))
#define INLINE static inline __attribute__((always_inline))

#ifdef PYML_RELAXED
#define MADD(a, b, c) wasm_f32x4_relaxed_madd(a, b, c) /* a * b + c, fused where the CPU can */
#else
#define MADD(a, b, c) wasm_f32x4_add(wasm_f32x4_mul(a, b), c)
#endif

#define SPLAT wasm_f32x4_splat
#define LOAD(p) wasm_v128_load(p)

/* Store the first n (1..4) lanes of v at p. */
INLINE void store_part(float *p, v128_t v, int n) {
  if (n >= 4) {
    wasm_v128_store(p, v);
  } else if (n == 3) {
    wasm_v128_store64_lane(p, v, 0);
    wasm_v128_store32_lane(p + 2, v, 2);
  } else if (n == 2) {
    wasm_v128_store64_lane(p, v, 0);
  } else if (n == 1) {
    wasm_v128_store32_lane(p, v, 0);
  }
}

/* Horizontal max / sum of the four lanes (max propagates NaN, as numpy's). */
INLINE float hmax(v128_t v) {
  v = wasm_f32x4_max(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  v = wasm_f32x4_max(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
  return wasm_f32x4_extract_lane(v, 0);
}

INLINE float hsum(v128_t v) {
  v = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  v = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
  return wasm_f32x4_extract_lane(v, 0);
}

/*
 * e^r for x = n ln2 + r, |r| <= ln2/2, by r's Taylor series to r^6 (error < 2e-7 relative); *n receives n.
 * vexp and vexp_bounded scale it by 2^n.
 */
INLINE v128_t exp_reduced(v128_t x, v128_t *n) {
  *n = wasm_f32x4_nearest(wasm_f32x4_mul(x, SPLAT(1.44269504f)));
  v128_t r = wasm_f32x4_sub(x, wasm_f32x4_mul(*n, SPLAT(0.693145752f)));  /* ln2, split for exactness */
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(*n, SPLAT(1.42860677e-6f)));
  v128_t p = SPLAT(1.f / 720);
  p = MADD(p, r, SPLAT(1.f / 120));
  p = MADD(p, r, SPLAT(1.f / 24));
  p = MADD(p, r, SPLAT(1.f / 6));
  p = MADD(p, r, SPLAT(0.5f));
  p = MADD(p, r, SPLAT(1.f));
  return MADD(p, r, SPLAT(1.f));
}

/*
 * e^x with 2^n built in the exponent bits. Past the float range: +inf above 88.72, 0 below -87.3 (numpy gives
 * subnormals there, all below 1.2e-38); NaN stays NaN.
 */
INLINE v128_t vexp(v128_t x) {
  const v128_t hi = SPLAT(88.7228f), lo = SPLAT(-87.33f);
  v128_t n, p = exp_reduced(wasm_f32x4_min(wasm_f32x4_max(x, lo), hi), &n);
  /* 2^n for n in [-126, 128]: n = 128 (x near 88.72) is split as 2^127 * 2 */
  v128_t ni = wasm_i32x4_trunc_sat_f32x4(n);
  v128_t big = wasm_i32x4_gt(ni, wasm_i32x4_splat(127));
  ni = wasm_i32x4_sub(ni, wasm_v128_and(big, wasm_i32x4_splat(1)));
  v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(ni, wasm_i32x4_splat(127)), 23);
  p = wasm_f32x4_mul(p, scale);
  p = wasm_v128_bitselect(wasm_f32x4_add(p, p), p, big);
  p = wasm_v128_bitselect(SPLAT(__builtin_inff()), p, wasm_f32x4_gt(x, hi));
  return wasm_v128_andnot(p, wasm_f32x4_lt(x, lo));  /* 0 below the range (NaN compares false: kept) */
}

/* e^x for x in [-87, 88] (NaN stays NaN): vexp without its handling of the float range's ends, for callers
 * that clamp first (the recurrent gates). */
INLINE v128_t vexp_bounded(v128_t x) {
  v128_t n, p = exp_reduced(x, &n);
  return wasm_f32x4_mul(p, wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23));
}

/*
 * log x: x = m 2^e with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.172, by
 * its series to s^9. Subnormals are scaled up first; log 0 = -inf, log(<0) = NaN, log inf = inf.
 */
INLINE v128_t vlog(v128_t x) {
  v128_t tiny = wasm_f32x4_lt(x, SPLAT(1.17549435e-38f));
  v128_t xs = wasm_v128_bitselect(wasm_f32x4_mul(x, SPLAT(8388608.f)), x, tiny);  /* * 2^23 */
  v128_t bits = xs;
  v128_t e = wasm_i32x4_sub(wasm_u32x4_shr(bits, 23), wasm_i32x4_splat(127));
  v128_t m = wasm_v128_or(wasm_v128_and(bits, wasm_i32x4_splat(0x007fffff)), wasm_i32x4_splat(0x3f800000));
  v128_t up = wasm_f32x4_gt(m, SPLAT(1.41421356f));
  m = wasm_v128_bitselect(wasm_f32x4_mul(m, SPLAT(0.5f)), m, up);
  e = wasm_i32x4_sub(e, up);  /* up is -1 where true */
  e = wasm_i32x4_sub(e, wasm_v128_and(tiny, wasm_i32x4_splat(23)));
  v128_t s = wasm_f32x4_div(wasm_f32x4_sub(m, SPLAT(1.f)), wasm_f32x4_add(m, SPLAT(1.f)));
  v128_t s2 = wasm_f32x4_mul(s, s);
  v128_t p = SPLAT(2.f / 9);
  p = MADD(p, s2, SPLAT(2.f / 7));
  p = MADD(p, s2, SPLAT(2.f / 5));
  p = MADD(p, s2, SPLAT(2.f / 3));
  p = MADD(p, s2, SPLAT(2.f));
  v128_t ef = wasm_f32x4_convert_i32x4(e);
  v128_t y = MADD(ef, SPLAT(0.693147181f), wasm_f32x4_mul(p, s));
  y = wasm_v128_bitselect(SPLAT(-__builtin_inff()), y, wasm_f32x4_eq(x, SPLAT(0.f)));
  y = wasm_v128_bitselect(x, y, wasm_f32x4_eq(x, SPLAT(__builtin_inff())));
  y = wasm_v128_bitselect(x, y, wasm_f32x4_ne(x, x));  /* NaN in, NaN out */
  return wasm_v128_or(y, wasm_f32x4_lt(x, SPLAT(0.f)));  /* all ones: a NaN */
}

/* tanh x = sign(x) (1 - t) / (1 + t), t = e^(-2|x|). */
INLINE v128_t vtanh(v128_t x) {
  v128_t t = vexp(wasm_f32x4_mul(wasm_f32x4_abs(x), SPLAT(-2.f)));
  v128_t y = wasm_f32x4_div(wasm_f32x4_sub(SPLAT(1.f), t), wasm_f32x4_add(SPLAT(1.f), t));
  return wasm_v128_or(y, wasm_v128_and(x, wasm_i32x4_splat((int32_t)0x80000000)));
}

INLINE v128_t vsigmoid(v128_t x) {
  return wasm_f32x4_div(SPLAT(1.f), wasm_f32x4_add(SPLAT(1.f), vexp(wasm_f32x4_neg(x))));
}

/* erf by Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7), odd in x. */
INLINE v128_t verf(v128_t x) {
  v128_t a = wasm_f32x4_abs(x);
  v128_t t = wasm_f32x4_div(SPLAT(1.f), MADD(a, SPLAT(0.3275911f), SPLAT(1.f)));
  v128_t p = SPLAT(1.061405429f);
  p = MADD(p, t, SPLAT(-1.453152027f));
  p = MADD(p, t, SPLAT(1.421413741f));
  p = MADD(p, t, SPLAT(-0.284496736f));
  p = MADD(p, t, SPLAT(0.254829592f));
  p = wasm_f32x4_mul(p, t);
  v128_t y = wasm_f32x4_sub(SPLAT(1.f), wasm_f32x4_mul(p, vexp(wasm_f32x4_neg(wasm_f32x4_mul(a, a)))));
  return wasm_v128_or(y, wasm_v128_and(x, wasm_i32x4_splat((int32_t)0x80000000)));
}

#endif
