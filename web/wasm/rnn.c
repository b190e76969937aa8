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

/* Not inlined: one copy of the polynomial maths serves every call (the module stays small). */
__attribute__((noinline)) static v128_t activate(int code, v128_t x) {
  switch (code) {
    case ACT_TANH: return vtanh(x);
    case ACT_SIGMOID: return vsigmoid(x);
    case ACT_RELU: return wasm_f32x4_max(x, wasm_f32x4_const_splat(0.f));
    case ACT_HARD_SIGMOID: /* Keras 3: relu6(x + 3) / 6, as clip(x / 6 + 0.5, 0, 1) */
      return wasm_f32x4_min(wasm_f32x4_max(wasm_f32x4_add(wasm_f32x4_div(x, SPLAT(6.f)), SPLAT(0.5f)),
                                           wasm_f32x4_const_splat(0.f)), SPLAT(1.f));
    case ACT_SOFTSIGN: return wasm_f32x4_div(x, wasm_f32x4_add(SPLAT(1.f), wasm_f32x4_abs(x)));
    default: return x;
  }
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
  float *z = scratch, *rh = scratch + batch * GH;
  for (int s = 0; s < steps; s++) {
    const int t = flags & GO_BACKWARDS ? steps - 1 - s : s;
    const float *h_prev = s ? out + (s - 1) * S * H : h0;
    const int ldh = s ? row : H;
    matmul(h_prev, batch, H, ldh, u_panels, width, z, width, cell == CELL_GRU && !classic ? b_rec : 0, 0,
           -__builtin_inff(), __builtin_inff(), 0);
    for (int b = 0; b < batch; b++) {
      const float *x = xp + (b * steps + t) * GH, *hp = h_prev + b * ldh;
      const float *cp = cell == CELL_LSTM ? (s ? hp + H : c0 + b * H) : 0;
      float *zb = z + b * width, *o = out + (b * steps + s) * S * H;
      const v128_t m = SPLAT(flags & MASKED ? mask[b * steps + t] : 1.f);
      for (int j = 0; j < H; j += 4) {
        const int n = H - j;
        const v128_t h_old = LOAD(hp + j);
        v128_t h;
        if (cell == CELL_SIMPLE) {
          h = activate(act, wasm_f32x4_add(LOAD(x + j), LOAD(zb + j)));
        } else if (cell == CELL_LSTM) {
          const v128_t i = activate(ract, wasm_f32x4_add(LOAD(x + j), LOAD(zb + j)));
          const v128_t f = activate(ract, wasm_f32x4_add(LOAD(x + H + j), LOAD(zb + H + j)));
          const v128_t g = activate(act, wasm_f32x4_add(LOAD(x + 2 * H + j), LOAD(zb + 2 * H + j)));
          const v128_t og = activate(ract, wasm_f32x4_add(LOAD(x + 3 * H + j), LOAD(zb + 3 * H + j)));
          const v128_t c_old = LOAD(cp + j);
          const v128_t c = wasm_f32x4_add(wasm_f32x4_mul(f, c_old), wasm_f32x4_mul(i, g));
          h = wasm_f32x4_mul(og, activate(act, c));
          store_part(o + H + j, blend(m, c, c_old), n);
        } else if (!classic) {
          const v128_t zg = activate(ract, wasm_f32x4_add(LOAD(x + j), LOAD(zb + j)));
          const v128_t r = activate(ract, wasm_f32x4_add(LOAD(x + H + j), LOAD(zb + H + j)));
          const v128_t hh = activate(act, wasm_f32x4_add(LOAD(x + 2 * H + j), wasm_f32x4_mul(r, LOAD(zb + 2 * H + j))));
          h = wasm_f32x4_add(wasm_f32x4_mul(zg, h_old), wasm_f32x4_mul(wasm_f32x4_sub(SPLAT(1.f), zg), hh));
        } else { /* phase 1: z kept in place, r * h_prev for the second product */
          store_part(zb + j, activate(ract, wasm_f32x4_add(LOAD(x + j), LOAD(zb + j))), n);
          const v128_t r = activate(ract, wasm_f32x4_add(LOAD(x + H + j), LOAD(zb + H + j)));
          store_part(rh + b * H + j, wasm_f32x4_mul(r, h_old), n);
          continue;
        }
        store_part(o + j, blend(m, h, h_old), n);
      }
    }
    if (!classic) continue;
    /* phase 2: the candidate from (r * h_prev) @ u_h, stored over r's columns of z */
    matmul(rh, batch, H, H, u_h_panels, H, z + H, width, 0, 0, -__builtin_inff(), __builtin_inff(), 0);
    for (int b = 0; b < batch; b++) {
      const float *x = xp + (b * steps + t) * GH, *hp = h_prev + b * ldh, *zb = z + b * width;
      float *o = out + (b * steps + s) * H;
      const v128_t m = SPLAT(flags & MASKED ? mask[b * steps + t] : 1.f);
      for (int j = 0; j < H; j += 4) {
        const v128_t zg = LOAD(zb + j), h_old = LOAD(hp + j);
        const v128_t hh = activate(act, wasm_f32x4_add(LOAD(x + 2 * H + j), LOAD(zb + H + j)));
        const v128_t h = wasm_f32x4_add(wasm_f32x4_mul(zg, h_old), wasm_f32x4_mul(wasm_f32x4_sub(SPLAT(1.f), zg), hh));
        store_part(o + j, blend(m, h, h_old), H - j);
      }
    }
  }
}
