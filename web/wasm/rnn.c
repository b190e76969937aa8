/*
 * rnn_scan: a SimpleRNN, LSTM or GRU cell over every time step (docs/internals.md §5.1; the equations are
 * Keras 3's, gate blocks LSTM i, f, c, o and GRU z, r, h).
 *
 * Per step the heavy part is h_prev @ u ([B, H] x [H, G*H]): the register-blocked GEMM of gemm.c on u packed
 * once at load into column panels, its sums stored into a scratch row block z (the GRU's recurrent bias
 * starting them, as a matmul's bias). Then one pass over the units adds the input projection xp[:, t],
 * applies the activations and updates the state, four units per vector. The state is never copied: step s
 * reads the previous step's h (and c) where it was stored, in the output (rows T * S * H apart), or h0/c0.
 * The GRU without reset_after needs r * h_prev before the candidate's product: a second GEMM per step over
 * the last H columns of u, packed apart.
 *
 * A masked step blends as the Python forward does: state = m * new + (1 - m) * previous.
 */
#include "gemm.h"
#include "simd.h"

enum { CELL_SIMPLE, CELL_LSTM, CELL_GRU };
enum { ACT_TANH, ACT_SIGMOID, ACT_RELU, ACT_LINEAR, ACT_HARD_SIGMOID, ACT_SOFTSIGN }; /* RNN_ACTIVATIONS in wasm.js */
enum { GO_BACKWARDS = 1, RESET_AFTER = 2, MASKED = 4 };

INLINE v128_t relu(v128_t x) { return wasm_f32x4_max(x, wasm_f32x4_const_splat(0.f)); }
INLINE v128_t softsign(v128_t x) { return wasm_f32x4_div(x, wasm_f32x4_add(SPLAT(1.f), wasm_f32x4_abs(x))); }
/* Keras 3: relu6(x + 3) / 6, computed as the Python forward does: clip(x / 6 + 0.5, 0, 1) */
INLINE v128_t hard_sigmoid(v128_t x) {
  const v128_t y = wasm_f32x4_add(wasm_f32x4_div(x, SPLAT(6.f)), SPLAT(0.5f));
  return wasm_f32x4_min(wasm_f32x4_max(y, wasm_f32x4_const_splat(0.f)), SPLAT(1.f));
}

/* 1 / (1 + e^-x); past |x| = 87 the result is 0 or 1 in float32 anyway. */
INLINE v128_t sigmoid(v128_t x) {
  const v128_t e = vexp_bounded(wasm_f32x4_min(wasm_f32x4_max(wasm_f32x4_neg(x), SPLAT(-87.f)), SPLAT(87.f)));
  return wasm_f32x4_div(SPLAT(1.f), wasm_f32x4_add(SPLAT(1.f), e));
}

/* sign(x) (1 - t) / (1 + t), t = e^(-2|x|); past |x| = 9 the result is +-1 in float32 anyway. */
INLINE v128_t tanh_(v128_t x) {
  const v128_t t = vexp_bounded(wasm_f32x4_mul(wasm_f32x4_min(wasm_f32x4_abs(x), SPLAT(9.f)), SPLAT(-2.f)));
  const v128_t y = wasm_f32x4_div(wasm_f32x4_sub(SPLAT(1.f), t), wasm_f32x4_add(SPLAT(1.f), t));
  return wasm_v128_or(y, wasm_v128_and(x, wasm_i32x4_splat((int32_t)0x80000000)));
}

/* x[i] = activation(x[i]) for i < n, in place; the switch outside the loops keeps one copy of each loop. */
static void activate(int code, float *x, int n) {
#define EACH(f) for (int i = 0; i < n; i += 4) store_part(x + i, f(LOAD(x + i)), n - i); break
  switch (code) {
    case ACT_TANH: EACH(tanh_);
    case ACT_SIGMOID: EACH(sigmoid);
    case ACT_RELU: EACH(relu);
    case ACT_HARD_SIGMOID: EACH(hard_sigmoid);
    case ACT_SOFTSIGN: EACH(softsign);
    default: break; /* linear */
  }
#undef EACH
}
/* m * new + (1 - m) * previous: the masked blend (m a splat). */
INLINE v128_t blend(v128_t m, v128_t next, v128_t previous) {
  return wasm_f32x4_add(wasm_f32x4_mul(m, next), wasm_f32x4_mul(wasm_f32x4_sub(SPLAT(1.f), m), previous));
}

/*
 * out[b, s] = the state after the s-th processed step (h, then c for the LSTM: S = 2) for b < batch.
 * xp [B, T, G*H]; u_panels: u's first G*H columns packed by pack_panels (2*H for a GRU without reset_after,
 * whose last H columns are u_h_panels); b_rec [G*H] or 0; h0, c0 [B, H] (c0 0 but for the LSTM); mask [B, T]
 * or 0; scratch: B * (G*H + H) floats.
 */
EXPORT("rnn_scan") void rnn_scan(const float *xp, int32_t batch, int32_t steps, int32_t units, int32_t cell,
                                 int32_t flags, int32_t act, int32_t ract, const float *u_panels,
                                 const float *u_h_panels, const float *b_rec, const float *h0, const float *c0,
                                 const float *mask, float *out, float *scratch) {
  const int H = units, G = cell == CELL_LSTM ? 4 : cell == CELL_GRU ? 3 : 1, GH = G * H;
  const int S = cell == CELL_LSTM ? 2 : 1, row = steps * S * H;
  const int classic = cell == CELL_GRU && !(flags & RESET_AFTER), width = classic ? 2 * H : GH;
  const int direct = cell == CELL_GRU ? 2 * H : GH; /* columns where xp adds straight to the product */
  float *z = scratch, *rh = scratch + batch * GH;
  for (int s = 0; s < steps; s++) {
    const int t = flags & GO_BACKWARDS ? steps - 1 - s : s;
    const float *h_prev = s ? out + (s - 1) * S * H : h0;
    const int ldh = s ? row : H;
    matmul(h_prev, batch, H, ldh, u_panels, width, z, width, cell == CELL_GRU && !classic ? b_rec : 0, 0,
           -__builtin_inff(), __builtin_inff(), 0);
    for (int b = 0; b < batch; b++) {
      const float *x = xp + (b * steps + t) * GH, *hp = h_prev + b * ldh;
      float *zb = z + b * width, *o = out + (b * steps + s) * S * H;
      const v128_t m = SPLAT(flags & MASKED ? mask[b * steps + t] : 1.f);
      for (int j = 0; j < direct; j += 4) store_part(zb + j, wasm_f32x4_add(LOAD(zb + j), LOAD(x + j)), direct - j);
      if (cell == CELL_SIMPLE) {
        activate(act, zb, H);
        for (int j = 0; j < H; j += 4) store_part(o + j, blend(m, LOAD(zb + j), LOAD(hp + j)), H - j);
      } else if (cell == CELL_LSTM) { /* zb: i, f, g, o; g's block then holds c, then act(c) */
        const float *cp = s ? hp + H : c0 + b * H;
        float *g = zb + 2 * H;
        activate(ract, zb, 2 * H);
        activate(act, g, H);
        activate(ract, zb + 3 * H, H);
        for (int j = 0; j < H; j += 4) {
          const v128_t c = MADD(LOAD(zb + H + j), LOAD(cp + j), wasm_f32x4_mul(LOAD(zb + j), LOAD(g + j)));
          store_part(g + j, c, H - j);
          store_part(o + H + j, blend(m, c, LOAD(cp + j)), H - j);
        }
        activate(act, g, H);
        for (int j = 0; j < H; j += 4) {
          store_part(o + j, blend(m, wasm_f32x4_mul(LOAD(zb + 3 * H + j), LOAD(g + j)), LOAD(hp + j)), H - j);
        }
      } else if (!classic) { /* zb: z, r, then the candidate's pre-activation over the recurrent h block */
        float *hh = zb + 2 * H;
        activate(ract, zb, 2 * H);
        for (int j = 0; j < H; j += 4) {
          store_part(hh + j, MADD(LOAD(zb + H + j), LOAD(hh + j), LOAD(x + 2 * H + j)), H - j);
        }
        activate(act, hh, H);
        for (int j = 0; j < H; j += 4) {
          const v128_t zg = LOAD(zb + j), h_old = LOAD(hp + j);
          const v128_t h = MADD(zg, wasm_f32x4_sub(h_old, LOAD(hh + j)), LOAD(hh + j)); /* z h + (1 - z) hh */
          store_part(o + j, blend(m, h, h_old), H - j);
        }
      } else { /* phase 1: z and r; r * h_prev for the candidate's product */
        activate(ract, zb, 2 * H);
        for (int j = 0; j < H; j += 4) store_part(rh + b * H + j, wasm_f32x4_mul(LOAD(zb + H + j), LOAD(hp + j)), H - j);
      }
    }
    if (!classic) continue;
    /* phase 2: the candidate from (r * h_prev) @ u_h, stored over r's columns of z */
    matmul(rh, batch, H, H, u_h_panels, H, z + H, width, 0, 0, -__builtin_inff(), __builtin_inff(), 0);
    for (int b = 0; b < batch; b++) {
      const float *x = xp + (b * steps + t) * GH, *hp = h_prev + b * ldh;
      float *zb = z + b * width, *hh = zb + H, *o = out + (b * steps + s) * H;
      const v128_t m = SPLAT(flags & MASKED ? mask[b * steps + t] : 1.f);
      for (int j = 0; j < H; j += 4) store_part(hh + j, wasm_f32x4_add(LOAD(hh + j), LOAD(x + 2 * H + j)), H - j);
      activate(act, hh, H);
      for (int j = 0; j < H; j += 4) {
        const v128_t zg = LOAD(zb + j), h_old = LOAD(hp + j);
        const v128_t h = MADD(zg, wasm_f32x4_sub(h_old, LOAD(hh + j)), LOAD(hh + j));
        store_part(o + j, blend(m, h, h_old), H - j);
      }
    }
  }
}
