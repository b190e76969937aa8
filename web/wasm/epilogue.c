/* The epilogue program interpreter (see epilogue.h): one dispatch per instruction per tile. */
#include "epilogue.h"

static v128_t reg[PROGRAM_REGISTERS][TILE_VECTORS];

#define EACH(expr) for (int i = 0; i < n; i++) d[i] = (expr)

void run_program(const Epilogue *e, int row0, int rows, int col0, int nc) {
  const int nv = (nc + 3) >> 2, n = rows * nv, ldc = e->ldc;
  float *c = e->c + row0 * ldc + col0;
  for (int r = 0; r < rows; r++)
    for (int v = 0; v < nv; v++) reg[0][r * nv + v] = LOAD(c + r * ldc + 4 * v);
  for (const int32_t *p = e->program;; p += 5) {
    v128_t *d = reg[p[1]], *a = reg[p[2]], *b = reg[p[3]];
    const float *q = (const float *)(uintptr_t)p[4];
    switch (p[0]) {
      case OP_END:
        for (int r = 0; r < rows; r++)
          for (int v = 0; v < nv; v++) store_part(c + r * ldc + 4 * v, a[r * nv + v], nc - 4 * v);
        return;
      case OP_SCALAR: {
        union { int32_t i; float f; } bits = {p[4]};
        EACH(SPLAT(bits.f));
        break;
      }
      case OP_COLUMN:
        for (int r = 0; r < rows; r++)
          for (int v = 0; v < nv; v++) d[r * nv + v] = LOAD(q + col0 + 4 * v);
        break;
      case OP_FULL:
        for (int r = 0; r < rows; r++)
          for (int v = 0; v < nv; v++) d[r * nv + v] = LOAD(q + (row0 + r) * ldc + col0 + 4 * v);
        break;
      case OP_ROW:
        for (int r = 0; r < rows; r++)
          for (int v = 0; v < nv; v++) d[r * nv + v] = SPLAT(q[row0 + r]);
        break;
      case OP_ADD: EACH(wasm_f32x4_add(a[i], b[i])); break;
      case OP_SUB: EACH(wasm_f32x4_sub(a[i], b[i])); break;
      case OP_MUL: EACH(wasm_f32x4_mul(a[i], b[i])); break;
      case OP_DIV: EACH(wasm_f32x4_div(a[i], b[i])); break;
      case OP_MAXIMUM: EACH(wasm_f32x4_max(a[i], b[i])); break;
      case OP_MINIMUM: EACH(wasm_f32x4_min(a[i], b[i])); break;
      case OP_GREATER: EACH(wasm_f32x4_gt(a[i], b[i])); break;
      case OP_GREATER_EQUAL: EACH(wasm_f32x4_ge(a[i], b[i])); break;
      case OP_LESS: EACH(wasm_f32x4_lt(a[i], b[i])); break;
      case OP_LESS_EQUAL: EACH(wasm_f32x4_le(a[i], b[i])); break;
      case OP_EQUAL: EACH(wasm_f32x4_eq(a[i], b[i])); break;
      case OP_NOT_EQUAL: EACH(wasm_f32x4_ne(a[i], b[i])); break;
      case OP_WHERE: {
        const v128_t *cond = reg[p[4]];
        EACH(wasm_v128_bitselect(a[i], b[i], cond[i]));
        break;
      }
      case OP_NEG: EACH(wasm_f32x4_neg(a[i])); break;
      case OP_ABS: EACH(wasm_f32x4_abs(a[i])); break;
      case OP_SQRT: EACH(wasm_f32x4_sqrt(a[i])); break;
      case OP_EXP: EACH(vexp(a[i])); break;
      case OP_LOG: EACH(vlog(a[i])); break;
      case OP_TANH: EACH(vtanh(a[i])); break;
      case OP_SIGMOID: EACH(vsigmoid(a[i])); break;
      case OP_ERF: EACH(verf(a[i])); break;
      default: __builtin_trap();
    }
  }
}
