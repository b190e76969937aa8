/* The matrix product of gemm.c, for kernels that run it inside their own loop (rnn.c). */
#ifndef PYML_GEMM_H
#define PYML_GEMM_H
#include <stdint.h>

void matmul(const float *x, int32_t m, int32_t k, int32_t lda, const float *packed, int32_t n, float *c, int32_t ldc,
            const float *bias, const float *residual, float lo, float hi, const int32_t *program);

#endif
