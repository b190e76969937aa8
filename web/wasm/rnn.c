/*
 * rnn_scan: a SimpleRNN, LSTM or GRU cell over every time step (docs/internals.md §5.1; the equations are
 * Keras 3's, gate blocks LSTM i, f, c, o and GRU z, r, h).
 *
 * Per step the heavy part is h_prev @ u ([B, H] x [H, G*H]). u is packed once at load by pack_gates into
 * blocks of UB units: block j0, row k holds gate 0's columns j0..j0+UB-1, then gate 1's, ... (G * UB floats,
 * zero past H), so one block is a contiguous stream and its sums are all the gates of UB units. A block's
 * product for one batch row keeps those G * UB sums in 8 (GRU: 6) vector registers, and the cell's epilogue
 * (input projection xp[:, t], activations, state update, mask) runs on them in registers: no scratch, no
 * pass over the gate sums. At a batch of B the block (16 KiB for an LSTM of 128 units) serves the B rows from L1.
 * The state is never copied: step s reads the previous step's h (and c) where it was stored, in the output
 * (rows T * S * H apart), or h0/c0.
 * The GRU without reset_after needs r * h_prev of every unit before its candidate's product: it runs the
 * register-blocked GEMM of gemm.c twice a step on u packed by pack_panels (first 2 * H columns, then the last
 * H apart) into a scratch of B * (3 * H) floats, then passes over the gate blocks.
 *
 * A masked step blends as the Python forward does: state = m * new + (1 - m) * previous.
 */
#include "gemm.h"
#include "simd.h"

#define NOINLINE static __attribute__((noinline))

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

/*
 * e^x for x in [-87, 88] (NaN stays NaN): simd.h's vexp without its handling of the float range's ends, which
 * the gates never reach (they clamp first). Same polynomial, same error (< 2e-7 relative).
 */
INLINE v128_t exp_bounded(v128_t x) {
  const v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(x, SPLAT(1.44269504f)));
  v128_t r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, SPLAT(0.693145752f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, SPLAT(1.42860677e-6f)));
  v128_t p = SPLAT(1.f / 720);
  p = MADD(p, r, SPLAT(1.f / 120));
  p = MADD(p, r, SPLAT(1.f / 24));
  p = MADD(p, r, SPLAT(1.f / 6));
  p = MADD(p, r, SPLAT(0.5f));
  p = MADD(p, r, SPLAT(1.f));
  p = MADD(p, r, SPLAT(1.f));
  const v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  return wasm_f32x4_mul(p, scale);
}

/* 1 / (1 + e^-x); past |x| = 87 the result is 0 or 1 in float32 anyway. */
INLINE v128_t sigmoid(v128_t x) {
  const v128_t e = exp_bounded(wasm_f32x4_min(wasm_f32x4_max(wasm_f32x4_neg(x), SPLAT(-87.f)), SPLAT(87.f)));
  return wasm_f32x4_div(SPLAT(1.f), wasm_f32x4_add(SPLAT(1.f), e));
}

/* sign(x) (1 - t) / (1 + t), t = e^(-2|x|); past |x| = 9 the result is +-1 in float32 anyway. */
INLINE v128_t tanh_(v128_t x) {
  const v128_t t = exp_bounded(wasm_f32x4_mul(wasm_f32x4_min(wasm_f32x4_abs(x), SPLAT(9.f)), SPLAT(-2.f)));
  const v128_t y = wasm_f32x4_div(wasm_f32x4_sub(SPLAT(1.f), t), wasm_f32x4_add(SPLAT(1.f), t));
  return wasm_v128_or(y, wasm_v128_and(x, wasm_i32x4_splat((int32_t)0x80000000)));
}

/* activation(x) for one vector: the switch is on a constant of the whole call, so it predicts perfectly. */
INLINE v128_t apply(int code, v128_t x) {
  switch (code) {
    case ACT_TANH: return tanh_(x);
    case ACT_SIGMOID: return sigmoid(x);
    case ACT_RELU: return relu(x);
    case ACT_HARD_SIGMOID: return hard_sigmoid(x);
    case ACT_SOFTSIGN: return softsign(x);
    default: return x; /* linear */
  }
}

/* x[i] = activation(x[i]) for i < n, in place (the GRU without reset_after). */
static void activate(int code, float *x, int n) {
  for (int i = 0; i < n; i += 4) store_part(x + i, apply(code, LOAD(x + i)), n - i);
}

/* m * new + (1 - m) * previous: the masked blend (m a splat). */
INLINE v128_t blend(v128_t m, v128_t next, v128_t previous) {
  return wasm_f32x4_add(wasm_f32x4_mul(m, next), wasm_f32x4_mul(wasm_f32x4_sub(SPLAT(1.f), m), previous));
}

/* Units per block of pack_gates: G * UB columns make 8 vectors of sums (6 for the GRU's 3 gates of 8). */
INLINE int block_units(int gates) { return gates == 1 ? 32 : 8; }

/*
 * Pack u ([H, G*H], rows G*H apart) for the fused cells: blocks of UB units, each row k of a block the G gates'
 * UB columns in gate order, zero past H. out: ceil(H / UB) * UB * G * H floats.
 */
EXPORT("pack_gates") void pack_gates(const float *u, int32_t units, int32_t gates, float *out) {
  const int UB = block_units(gates);
  for (int j0 = 0; j0 < units; j0 += UB) {
    for (int k = 0; k < units; k++) {
      for (int g = 0; g < gates; g++, out += UB) {
        for (int v = 0; v < UB; v++) out[v] = j0 + v < units ? u[k * gates * units + g * units + j0 + v] : 0.f;
      }
    }
  }
}

typedef struct {
  int act, ract, H, G, S, steps, flags;
  const float *b_rec, *xp, *h0, *c0, *mask;
  float *out;
  int s, t;                 /* the step and the time index it reads */
} Cell;

typedef struct {
  const float *hp, *cp, *x; /* the previous h and c, the input projection xp[b, t] */
  v128_t m;                 /* the mask value */
  float *o;                 /* where h (and at o + H, c) go */
} Row;

/*
 * A pass over one block (w: its first row, from vector v0 of each gate) for R rows, pv vectors of each of the G
 * gates: acc[(r * G + g) * pv + v] += sum_k h_r[k] * u[k, gate g, units j0 + 4 (v0 + v) ...]. The R * G * pv
 * (<= 8) sums stay in registers while the block streams by; each load of u serves R rows.
 */
INLINE void dot(const int R, const int G, const int pv, const Row *rows, int H, const float *w, v128_t *acc) {
  const int UB = block_units(G);
  v128_t sum[8];
#pragma unroll
  for (int a = 0; a < R * G * pv; a++) sum[a] = acc[a];
  for (int k = 0; k < H; k++, w += G * UB) {
    v128_t s[2];
#pragma unroll
    for (int r = 0; r < R; r++) s[r] = wasm_v128_load32_splat(rows[r].hp + k);
#pragma unroll
    for (int a = 0; a < G * pv; a++) {
      const v128_t u = LOAD(w + (a / pv) * UB + 4 * (a % pv));
#pragma unroll
      for (int r = 0; r < R; r++) sum[r * G * pv + a] = MADD(s[r], u, sum[r * G * pv + a]);
    }
  }
#pragma unroll
  for (int a = 0; a < R * G * pv; a++) acc[a] = sum[a];
}
/* Kept out of line: inlined into the passes, whose updates branch a lot, V8 spilled the sums in the loop. */
#define DOT(R, G, PV) NOINLINE void dot_##R##_##G(const Row *rows, int H, const float *w, \
                                                                          v128_t *acc) { dot(R, G, PV, rows, H, w, acc); }
DOT(1, 1, 8) DOT(1, 3, 2) DOT(1, 4, 2) DOT(2, 1, 4) DOT(2, 3, 1) DOT(2, 4, 1)
#undef DOT

/*
 * The cells' updates of units j.. (left of them valid, up to 4) of one row from their gates' recurrent sums:
 * the input projection added, the activations, the new state stored (masked steps blend with the previous).
 * Out of line: inlined at every pass they would triple the module.
 */
NOINLINE void update1(const Cell *p, const Row *q, v128_t a, int j, int left) {
  store_part(q->o + j, blend(q->m, apply(p->act, wasm_f32x4_add(a, LOAD(q->x + j))), LOAD(q->hp + j)), left);
}
NOINLINE void update3(const Cell *p, const Row *q, v128_t az, v128_t ar, v128_t ah, int j, int left) {
  const float *x = q->x + j; /* GRU, reset_after: the candidate's recurrent sum is scaled by r */
  const int H = p->H;
  const v128_t z = apply(p->ract, wasm_f32x4_add(az, LOAD(x))), r = apply(p->ract, wasm_f32x4_add(ar, LOAD(x + H)));
  const v128_t hh = apply(p->act, MADD(r, ah, LOAD(x + 2 * H))), h_old = LOAD(q->hp + j);
  store_part(q->o + j, blend(q->m, MADD(z, wasm_f32x4_sub(h_old, hh), hh), h_old), left); /* z h + (1 - z) hh */
}
NOINLINE void update4(const Cell *p, const Row *q, v128_t ai, v128_t af, v128_t ag, v128_t ao, int j, int left) {
  const float *x = q->x + j;
  const int H = p->H;
  const v128_t i = apply(p->ract, wasm_f32x4_add(ai, LOAD(x))), f = apply(p->ract, wasm_f32x4_add(af, LOAD(x + H)));
  const v128_t g = apply(p->act, wasm_f32x4_add(ag, LOAD(x + 2 * H)));
  const v128_t o = apply(p->ract, wasm_f32x4_add(ao, LOAD(x + 3 * H)));
  const v128_t c_old = LOAD(q->cp + j), c = MADD(f, c_old, wasm_f32x4_mul(i, g));
  store_part(q->o + j, blend(q->m, wasm_f32x4_mul(o, apply(p->act, c)), LOAD(q->hp + j)), left);
  store_part(q->o + H + j, blend(q->m, c, c_old), left);
}

/*
 * R rows (1 or 2) of one block of units j0.. (n of them valid), vectors v0.. of each gate: the sums h_prev @ u
 * (the GRU's recurrent bias starting them), then the cell's update from the input projection, the previous
 * state and the mask, stored as h at o and c at o + H. G (the cell) and R are constants at every call.
 */
INLINE void pass(const int G, const int R, const Cell *p, const Row *rows, const float *w, int j0, int v0, int n) {
  const int H = p->H, pv = R == 1 ? block_units(G) / 4 : G == 1 ? 4 : 1; /* vectors per gate in this pass */
  v128_t acc[8];
#pragma unroll
  for (int a = 0; a < R * G * pv; a++) {
    const int g = (a / pv) % G, j = j0 + 4 * (v0 + a % pv);
    acc[a] = p->b_rec && j < H ? LOAD(p->b_rec + g * H + j) : wasm_f32x4_const_splat(0.f);
  }
  w += 4 * v0;
  if (G == 1) R == 1 ? dot_1_1(rows, H, w, acc) : dot_2_1(rows, H, w, acc);
  else if (G == 3) R == 1 ? dot_1_3(rows, H, w, acc) : dot_2_3(rows, H, w, acc);
  else R == 1 ? dot_1_4(rows, H, w, acc) : dot_2_4(rows, H, w, acc);
#pragma unroll
  for (int r = 0; r < R; r++) {
#pragma unroll
    for (int v = 0; v < pv; v++) {
      const int left = n - 4 * (v0 + v);
      if (left <= 0) break;
      const v128_t *z = acc + r * G * pv + v;
      if (G == 1) update1(p, rows + r, z[0], j0 + 4 * (v0 + v), left);
      else if (G == 3) update3(p, rows + r, z[0], z[pv], z[2 * pv], j0 + 4 * (v0 + v), left);
      else update4(p, rows + r, z[0], z[pv], z[2 * pv], z[3 * pv], j0 + 4 * (v0 + v), left);
    }
  }
}

/* Batch row b at step p->s. */
INLINE Row row_at(const Cell *p, int b) {
  const int H = p->H, s = p->s, t = p->t, T = p->steps, flags = p->flags;
  const float *hp = s ? p->out + (b * T + s - 1) * p->S * H : p->h0 + b * H;
  const Row q = {hp, s ? hp + H : p->c0 + b * H, p->xp + (b * T + t) * p->G * H,
                 SPLAT(flags & MASKED ? p->mask[b * T + t] : 1.f), p->out + (b * T + s) * p->S * H};
  return q;
}

/* Every row of one block for one step: rows in pairs (each load of u serving both), the odd one alone. */
INLINE void rows_of_block(const int G, const Cell *p, int batch, const float *w, int j0) {
  const int per = block_units(G) / 4, pv = G == 1 ? 4 : 1, n = p->H - j0;
  int b = 0;
  for (; b + 1 < batch; b += 2) {
    const Row rows[2] = {row_at(p, b), row_at(p, b + 1)};
    for (int v0 = 0; v0 < per; v0 += pv) pass(G, 2, p, rows, w, j0, v0, n);
  }
  if (b < batch) {
    const Row rows[1] = {row_at(p, b)};
    pass(G, 1, p, rows, w, j0, 0, n);
  }
}

/* The GRU without reset_after: two GEMMs a step (see the top of the file). */
static void classic_gru(const float *xp, int batch, int steps, int H, int flags, int act, int ract,
                        const float *u_panels, const float *u_h_panels, const float *h0, const float *mask,
                        float *out, float *scratch) {
  float *z = scratch, *rh = scratch + batch * 2 * H;
  for (int s = 0; s < steps; s++) {
    const int t = flags & GO_BACKWARDS ? steps - 1 - s : s;
    const float *h_prev = s ? out + (s - 1) * H : h0;
    const int ldh = s ? steps * H : H;
    /* phase 1: z and r; r * h_prev for the candidate's product */
    matmul(h_prev, batch, H, ldh, u_panels, 2 * H, z, 2 * H, 0, 0, -__builtin_inff(), __builtin_inff(), 0);
    for (int b = 0; b < batch; b++) {
      const float *x = xp + (b * steps + t) * 3 * H, *hp = h_prev + b * ldh;
      float *zb = z + b * 2 * H;
      for (int j = 0; j < 2 * H; j += 4) store_part(zb + j, wasm_f32x4_add(LOAD(zb + j), LOAD(x + j)), 2 * H - j);
      activate(ract, zb, 2 * H);
      for (int j = 0; j < H; j += 4) store_part(rh + b * H + j, wasm_f32x4_mul(LOAD(zb + H + j), LOAD(hp + j)), H - j);
    }
    /* phase 2: the candidate from (r * h_prev) @ u_h, stored over r's columns of z */
    matmul(rh, batch, H, H, u_h_panels, H, z + H, 2 * H, 0, 0, -__builtin_inff(), __builtin_inff(), 0);
    for (int b = 0; b < batch; b++) {
      const float *x = xp + (b * steps + t) * 3 * H, *hp = h_prev + b * ldh;
      float *zb = z + b * 2 * H, *hh = zb + H, *o = out + (b * steps + s) * H;
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

/*
 * out[b, s] = the state after the s-th processed step (h, then c for the LSTM: S = 2) for b < batch.
 * xp [B, T, G*H]; u_panels: u packed by pack_gates, or for a GRU without reset_after u's first 2*H columns
 * packed by pack_panels and its last H columns apart in u_h_panels; b_rec [G*H] or 0; h0, c0 [B, H] (c0 0 but
 * for the LSTM); mask [B, T] or 0; scratch: B * 3 * H floats for a GRU without reset_after, else unused.
 */
EXPORT("rnn_scan") void rnn_scan(const float *xp, int32_t batch, int32_t steps, int32_t units, int32_t cell,
                                 int32_t flags, int32_t act, int32_t ract, const float *u_panels,
                                 const float *u_h_panels, const float *b_rec, const float *h0, const float *c0,
                                 const float *mask, float *out, float *scratch) {
  if (cell == CELL_GRU && !(flags & RESET_AFTER)) {
    classic_gru(xp, batch, steps, units, flags, act, ract, u_panels, u_h_panels, h0, mask, out, scratch);
    return;
  }
  const int H = units, G = cell == CELL_LSTM ? 4 : cell == CELL_GRU ? 3 : 1, UB = block_units(G);
  Cell p = {act, ract, H, G, cell == CELL_LSTM ? 2 : 1, steps, flags, cell == CELL_GRU ? b_rec : 0, xp, h0, c0,
            mask, out, 0, 0};
  for (p.s = 0; p.s < steps; p.s++) {
    p.t = flags & GO_BACKWARDS ? steps - 1 - p.s : p.s;
    const float *w = u_panels;
    for (int j0 = 0; j0 < H; j0 += UB, w += UB * G * H) {
      switch (G) {
        case 1: rows_of_block(1, &p, batch, w, j0); break;
        case 3: rows_of_block(3, &p, batch, w, j0); break;
        default: rows_of_block(4, &p, batch, w, j0);
      }
    }
  }
}
