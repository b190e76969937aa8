/**
 * The primitives this runtime knows, by CPU kernel family (docs/internals.md §5): what the loader accepts in
 * a graph, without importing any kernel (a WebGPU page never downloads the CPU kernels).
 * @module ops
 */

/**
 * The primitives each CPU kernel family defines (the keys of `kernels` in cpu/<family>.js, checked by
 * tests/browser/test_runtime.py).
 * @example
 *   KERNEL_FAMILIES.linalg; // ["matmul"]
 */
export const KERNEL_FAMILIES = Object.freeze({
  elementwise: ["neg", "exp", "log", "sqrt", "abs", "sign", "tanh", "sigmoid", "erf", "sin", "cos", "add", "sub",
    "mul", "div", "pow", "maximum", "minimum", "equal", "not_equal", "less", "less_equal", "greater",
    "greater_equal", "where", "cast"],
  reduction: ["sum", "mean", "max", "min", "argmax"],
  movement: ["reshape", "transpose", "broadcast_to", "slice", "pad", "concatenate", "stack", "take", "one_hot"],
  linalg: ["matmul"],
  conv: ["conv", "conv_transpose", "conv_filter_grad", "max_pool", "avg_pool", "max_pool_grad", "max_pool_gather"],
  recurrent: ["rnn_scan"],
  image: ["resize"],
});

/**
 * Every primitive name the runtime can run.
 * @example
 *   OP_NAMES.includes("matmul"); // true
 */
export const OP_NAMES = Object.freeze(Object.values(KERNEL_FAMILIES).flat());
