// Weighted layers: convolutions and matrix products, float and quantised. Where their weight and
// bias are, which weight axis holds the output channels (surgery slices it, a created bias follows
// it), how their MACs are counted, and how channels flow through them.
import { attrInt } from '../graph.ts';
import type { OperatorTable } from './types.ts';

const axis0 = () => 0;
const axis1 = () => 1;

export const WEIGHTED: OperatorTable = {
  // Weight [C_out, C_in/group, k...]; a depthwise one maps a uniform plane to const · Σ W + b.
  Conv: { channel: { kind: 'conv', transposed: false }, shape: { kind: 'conv' }, weighted: { kind: 'conv', weight: 1, bias: 2, outAxis: axis0 }, constant: { kind: 'depthwise' } },
  // Weight [C_in, C_out/group, k...].
  ConvTranspose: { channel: { kind: 'conv', transposed: true }, shape: { kind: 'convTranspose' }, weighted: { kind: 'convTranspose', weight: 1, bias: 2, outAxis: axis1 } },
  // B [K, N], or [N, K] with transB.
  Gemm: { channel: { kind: 'gemm' }, shape: { kind: 'gemm' }, weighted: { kind: 'gemm', weight: 1, bias: 2, outAxis: (n) => (attrInt(n, 'transB', 0) ? 0 : 1) } },
  MatMul: { channel: { kind: 'matmul' }, shape: { kind: 'matmul' }, weighted: { kind: 'matmul', weight: 1, bias: -1, outAxis: axis1 } },
  // Integer arithmetic: costed, not modelled by the analysis.
  ConvInteger: { shape: { kind: 'conv' }, weighted: { kind: 'conv', weight: 1, bias: -1, quantized: 'integer', outAxis: axis0 } },
  MatMulInteger: { shape: { kind: 'matmul' }, weighted: { kind: 'matmul', weight: 1, bias: -1, quantized: 'integer', outAxis: axis1 } },
  // x, x_scale, x_zero_point, w (input 3), w_scale, w_zero_point, y_scale, y_zero_point[, int32 bias (input 8)].
  QLinearConv: { channel: { kind: 'qlinearConv' }, shape: { kind: 'conv' }, weighted: { kind: 'conv', weight: 3, bias: 8, quantized: 'qlinear', outAxis: axis0 } },
  QLinearMatMul: { channel: { kind: 'qlinearMatmul' }, shape: { kind: 'matmul' }, weighted: { kind: 'matmul', weight: 3, bias: -1, quantized: 'qlinear', outAxis: axis1 } },
};
