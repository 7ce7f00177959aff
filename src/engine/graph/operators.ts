// Facts about ONNX operators that more than one part of the engine needs (the cost model, the
// preview, the importance scores): which operators carry weights, where their weight and bias
// inputs are, which are elementwise activations and which are pools. One list each, here; the
// per-operator channel rules of the dependency analysis live in analysis/rules.ts.

/** Operators with a weight tensor whose output channels can be pruned or whose MACs are counted (float and quantized). */
export const WEIGHTED_OPS: ReadonlySet<string> = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'ConvInteger', 'QLinearConv', 'MatMulInteger', 'QLinearMatMul']);

/** The float weighted operators: the ones whose weights the importance criteria score. */
export const FLOAT_WEIGHTED_OPS: ReadonlySet<string> = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

/** Elementwise activations: one operation per element (cost), the channel passes through unchanged. */
export const ACTIVATION_OPS: ReadonlySet<string> = new Set(['Relu', 'Clip', 'LeakyRelu', 'PRelu', 'Elu', 'Selu', 'Celu', 'HardSwish', 'HardSigmoid', 'Sigmoid', 'Tanh', 'Softplus', 'Gelu', 'Mish']);

/** Pooling operators: per-channel, counted per input element. */
export const POOL_OPS: ReadonlySet<string> = new Set(['MaxPool', 'AveragePool', 'LpPool', 'GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool']);

/** Index of the weight input of a weighted operator (QLinear* take scale and zero point before it). */
export function weightInputIndex(op: string): number {
  return op === 'QLinearConv' || op === 'QLinearMatMul' ? 3 : 1;
}

/** Index of the bias input of a weighted operator, or -1 when it has none. */
export function biasInputIndex(op: string): number {
  if (op === 'QLinearConv') return 8;
  if (op === 'Conv' || op === 'ConvTranspose' || op === 'Gemm') return 2;
  return -1;
}
