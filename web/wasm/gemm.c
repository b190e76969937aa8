/*
 * Matrix products and convolutions as one register-blocked kernel (an "indirect GEMM").
 *
 * B (k x n, the weights) is packed once at load into column panels of 8: panel p holds rows 0..k of
 * columns 8p..8p+7, zero-padded, so the kernel streams it with two aligned vector loads per k.
 * A is never copied: row r of A is found through a pointer per tap. For a matmul there is one tap and
 * row r starts at x + r * lda. For a convolution (NHWC) row r is output pixel o of image i, and tap t
 * reads the input pixel that the window puts there (table[o * taps + t], an element offset in the
 * image, or -1 for padding, read from a zero row), so the k = taps * kc sum runs tap by tap over kc
 * channels. That is im2col without the copy.
 *
 * Rows go MR at a time, and for each row tile every panel of B in turn: the tile's A rows stay in L1 while
 * B streams from L2. A tile keeps MR x 8 sums in 2 * MR vector registers. A single row (a batch of 1)
 * takes the wide kernel instead: one row against 4 panels at once, 8 independent sums, so the
 * multiply-adds overlap while the weights stream through.
 */
#include "epilogue.h"
#include "gemm.h"

#define NR 8           /* columns per panel */
#define MR 4           /* rows per tile (5 or 6 spill registers in V8 on x64: measured slower) */
#define WIDE 4         /* panels per wide (single-row) tile */
#define MAX_TAPS 1024  /* webexport sends larger windows to the JS kernel */

/* Pack B (k x n, rows ldb apart) into panels of NR columns at out (ceil(n / 8) * k * 8 floats). */
EXPORT("pack_panels") void pack_panels(const float *b, int32_t k, int32_t n, int32_t ldb, float *out) {
  for (int p = 0; p < n; p += NR) {
    const int nc = n - p < NR ? n - p : NR;
    for (int i = 0; i < k; i++, out += NR) {
      for (int j = 0; j < NR; j++) out[j] = j < nc ? b[i * ldb + p + j] : 0.f;
    }
  }
}

typedef struct {
  const float *x;
  int32_t lda;             /* matmul: row r at x + r * lda */
  const int32_t *table;    /* convolution: the window table (0 for a matmul) */
  int32_t out_plane, taps, image_stride, chan_off;
  const float *zeros;      /* kc zeros, read where a window tap falls on padding */
} Rows;

static const float *tap_rows[MAX_TAPS * MR]; /* tap_rows[t * MR + r]: row r's A pointer for tap t */

/* Point tap_rows at rows r0..r0+rows-1 (rows past the end repeat the last; their sums are not stored). */
static void find_rows(const Rows *g, int r0, int rows, int width) {
  for (int r = 0; r < width; r++) {
    const int row = r0 + (r < rows ? r : rows - 1);
    if (!g->table) {
      tap_rows[r] = g->x + row * g->lda;
      continue;
    }
    const int image = row / g->out_plane, o = row - image * g->out_plane;
    const float *base = g->x + image * g->image_stride + g->chan_off;
    const int32_t *entry = g->table + o * g->taps;
    for (int t = 0; t < g->taps; t++) tap_rows[t * width + r] = entry[t] < 0 ? g->zeros : base + entry[t];
  }
}

/* One MR x 8 tile against the panel at w. */
INLINE void tile(const int taps, const int kc, const float *w, const Epilogue *e, int r0, int rows, int col, int nc) {
  v128_t acc[MR][2];
  for (int r = 0; r < MR; r++) acc[r][0] = bias_at(e, col), acc[r][1] = bias_at(e, col + 4);
  for (int t = 0; t < taps; t++) {
    const float *a[MR];
    for (int r = 0; r < MR; r++) a[r] = tap_rows[t * MR + r];
    for (int k = 0; k < kc; k++, w += NR) {
      const v128_t b0 = LOAD(w), b1 = LOAD(w + 4);
      for (int r = 0; r < MR; r++) {
        const v128_t s = wasm_v128_load32_splat(a[r] + k);
        acc[r][0] = MADD(s, b0, acc[r][0]);
        acc[r][1] = MADD(s, b1, acc[r][1]);
      }
    }
  }
#pragma unroll  /* a constant index keeps every sum in a register */
  for (int r = 0; r < MR; r++) {
    if (r < rows) finish(e, acc[r][0], r0 + r, col, nc), finish(e, acc[r][1], r0 + r, col + 4, nc - 4);
  }
}

/* One row against `panels` (1..WIDE) panels starting at w, `stride` floats apart. */
INLINE void wide(const int panels, const int taps, const int kc, const float *w, int stride, const Epilogue *e,
                 int row, int col, int nc) {
  v128_t acc[WIDE][2];
  for (int j = 0; j < panels; j++) acc[j][0] = bias_at(e, col + 8 * j), acc[j][1] = bias_at(e, col + 8 * j + 4);
  for (int t = 0; t < taps; t++) {
    const float *a = tap_rows[t];
    for (int k = 0; k < kc; k++, w += NR) {
      const v128_t s = wasm_v128_load32_splat(a + k);
      for (int j = 0; j < panels; j++) {
        acc[j][0] = MADD(s, LOAD(w + j * stride), acc[j][0]);
        acc[j][1] = MADD(s, LOAD(w + j * stride + 4), acc[j][1]);
      }
    }
  }
#pragma unroll
  for (int j = 0; j < panels; j++) {
    finish(e, acc[j][0], row, col + 8 * j, nc - 8 * j), finish(e, acc[j][1], row, col + 8 * j + 4, nc - 8 * j - 4);
  }
}

static void run(const Rows *g, int m, int kc, const float *packed, int n, int col0, const Epilogue *e) {
  const int taps = g->taps, stride = taps * kc * NR; /* floats per panel */
  for (int r0 = 0; r0 < m; r0 += MR) {
    const int rows = m - r0 < MR ? m - r0 : MR;
    if (rows == 1) {
      find_rows(g, r0, 1, 1);
      for (int j = 0; j < n; j += NR * WIDE) {
        const int nc = n - j < NR * WIDE ? n - j : NR * WIDE, panels = (nc + NR - 1) / NR;
        const float *w = packed + (j / NR) * stride;
        switch (panels) {
          case 4: wide(4, taps, kc, w, stride, e, r0, col0 + j, nc); break;
          case 3: wide(3, taps, kc, w, stride, e, r0, col0 + j, nc); break;
          case 2: wide(2, taps, kc, w, stride, e, r0, col0 + j, nc); break;
          default: wide(1, taps, kc, w, stride, e, r0, col0 + j, nc);
        }
        if (e->program) run_program(e, r0, 1, col0 + j, nc);
      }
      continue;
    }
    find_rows(g, r0, rows, MR);
    for (int j = 0; j < n; j += NR) {
      const int nc = n - j < NR ? n - j : NR;
      tile(taps, kc, packed + (j / NR) * stride, e, r0, rows, col0 + j, nc);
      if (e->program) run_program(e, r0, rows, col0 + j, nc);
    }
  }
}

/*
 * c[r, j] = epilogue(sum_k x[r * lda + k] * B[k, j]) for r < m, j < n; B packed by pack_panels.
 * The epilogue: see epilogue.h (bias and residual 0 when absent, lo/hi -inf/inf for no clamp).
 */
EXPORT("matmul") void matmul(const float *x, int32_t m, int32_t k, int32_t lda, const float *packed, int32_t n,
                             float *c, int32_t ldc, const float *bias, const float *residual, float lo, float hi,
                             const int32_t *program) {
  const Rows g = {x, lda, 0, 0, 1, 0, 0, 0};
  const Epilogue e = epilogue(c, ldc, bias, residual, lo, hi, program);
  run(&g, m, k, packed, n, 0, &e);
}

/*
 * One group of an NHWC convolution: output pixel r (of m = images * out_plane) and column col0 + j
 * (j < n, the group's output channels) = epilogue(sum over taps t and channels i < kc of
 * x[image * image_stride + table[o * taps + t] + chan_off + i] * B[t * kc + i, j]), table entries of -1
 * reading `zeros`. The window table comes from window_table (conv.c).
 */
EXPORT("conv") void conv(const float *x, int32_t m, int32_t image_stride, int32_t chan_off, const int32_t *table,
                         int32_t out_plane, int32_t taps, int32_t kc, const float *zeros, const float *packed,
                         int32_t n, int32_t col0, float *c, int32_t ldc, const float *bias, const float *residual,
                         float lo, float hi, const int32_t *program) {
  const Rows g = {x, 0, table, out_plane, taps, image_stride, chan_off, zeros};
  const Epilogue e = epilogue(c, ldc, bias, residual, lo, hi, program);
  run(&g, m, kc, packed, n, col0, &e);
}
