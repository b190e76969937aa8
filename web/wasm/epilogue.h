/*
 * Epilogues of matmul and convolution steps (docs/internals.md §6, "cpu"): what happens to an output tile
 * between its accumulators and memory. The common chain runs in registers: the bias starts the sums, then
 * a residual tensor is added and the result clamped (relu is [0, inf], relu6 [0, 6]). Anything else in the
 * fused chain (GELU, sigmoid, a scaled residual, leaky relu...) is a small register program that runs over
 * the stored tile while it is still in L1.
 *
 * A program is a list of 5-word instructions {op, dst, a, b, x}: register dst = op(register a, register b),
 * x holding an immediate (a float's bits), a pointer, or where's condition register. Register 0 starts as
 * the tile; OP_END stores register a back. The JS executor assembles programs from the names webexport
 * writes (PROGRAM_OPS in web/src/cpuplan.js and webexport/validate_cpu.py list them in this order).
 */
#ifndef PYML_EPILOGUE_H
#define PYML_EPILOGUE_H
#include "simd.h"

enum {
  OP_END, OP_SCALAR, OP_COLUMN, OP_FULL, OP_ROW,
  OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MAXIMUM, OP_MINIMUM,
  OP_GREATER, OP_GREATER_EQUAL, OP_LESS, OP_LESS_EQUAL, OP_EQUAL, OP_NOT_EQUAL, OP_WHERE,
  OP_NEG, OP_ABS, OP_SQRT, OP_EXP, OP_LOG, OP_TANH, OP_SIGMOID, OP_ERF,
};

#define PROGRAM_REGISTERS 16
#define TILE_VECTORS 16 /* rows x vectors per row of the largest tile (6 x 2, 1 x 8, 1 x 16) */

typedef struct {
  float *c;               /* the output: row r, column j at c[r * ldc + j] */
  int32_t ldc;
  const float *bias;      /* indexed by column, or 0 */
  const float *residual;  /* laid out as the output, or 0 */
  float lo, hi;           /* the clamp */
  int32_t clamp;
  const int32_t *program; /* or 0 */
} Epilogue;

INLINE Epilogue epilogue(float *c, int32_t ldc, const float *bias, const float *residual, float lo, float hi,
                         const int32_t *program) {
  Epilogue e = {c, ldc, bias, residual, lo, hi, lo > -__builtin_inff() || hi < __builtin_inff(), program};
  return e;
}

/* The accumulators' starting value for columns j..j+3: the bias, or 0. */
INLINE v128_t bias_at(const Epilogue *e, int j) {
  return e->bias ? LOAD(e->bias + j) : wasm_f32x4_const_splat(0.f);
}

/*
 * Finish the sums v of row `row`, columns col..col+3 (n of them real; none when n <= 0): add the residual,
 * clamp, store. By value, so that callers' accumulators never need an address and stay in registers.
 */
INLINE void finish(const Epilogue *e, v128_t v, int row, int col, int n) {
  if (n <= 0) return;
  const int at = row * e->ldc + col;
  if (e->residual) v = wasm_f32x4_add(v, LOAD(e->residual + at));
  if (e->clamp) v = wasm_f32x4_min(wasm_f32x4_max(v, SPLAT(e->lo)), SPLAT(e->hi));
  store_part(e->c + at, v, n);
}

void run_program(const Epilogue *e, int row0, int rows, int col0, int nc);

#endif
