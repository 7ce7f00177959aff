// Weighted layers: convolutions and matrix products, float and quantised. Where their weight and
// bias are, which weight axis holds the output channels (surgery slices it, a created bias follows
// it), how their MACs are counted, and how channels flow through them.
import { attrFloat, attrInt } from '../graph.ts';
import type { NodeProto } from '../../onnx/proto.ts';
import type { OperatorTable, WeightLayout } from './types.ts';

const axis0 = () => 0;
const axis1 = () => 1;

/** [C_out, C_in/group, k...]: filters on axis 0, each reading its group's inputs. */
const convLayout = (node: NodeProto, dims: readonly number[]): WeightLayout | undefined => {
  const groups = attrInt(node, 'group', 1);
  return dims.length >= 3 ? { outAxis: 0, inAxis: 1, groups, outChannels: dims[0], inChannels: dims[1] * groups } : undefined;
};
/** [C_in, C_out/group, k...]: each group's input rows hold its C_out/group filters along axis 1. */
const convTransposeLayout = (node: NodeProto, dims: readonly number[]): WeightLayout | undefined => {
  const groups = attrInt(node, 'group', 1);
  return dims.length >= 3 ? { outAxis: 1, inAxis: 0, groups, outChannels: dims[1] * groups, inChannels: dims[0] } : undefined;
};
/** A matrix [K, N] (filters on the last axis), or with batch axes before it [..., K, N]. */
const matrixLayout = (outAxis: number, inAxis: number, dims: readonly number[]): WeightLayout =>
  ({ outAxis, inAxis, groups: 1, outChannels: dims[outAxis], inChannels: dims[inAxis] });
const matmulLayout = (_node: NodeProto, dims: readonly number[]) => (dims.length >= 2 ? matrixLayout(dims.length - 1, dims.length - 2, dims) : undefined);

export const WEIGHTED: OperatorTable = {
  // Weight [C_out, C_in/group, k...]; a depthwise one maps a uniform plane to const · Σ W + b.
  Conv: { channel: { kind: 'conv', transposed: false }, shape: { kind: 'conv' }, weighted: { kind: 'conv', weight: 1, bias: 2, outAxis: axis0, layout: convLayout }, constant: { kind: 'depthwise' } },
  // Weight [C_in, C_out/group, k...].
  ConvTranspose: { channel: { kind: 'conv', transposed: true }, shape: { kind: 'convTranspose' }, weighted: { kind: 'convTranspose', weight: 1, bias: 2, outAxis: axis1, layout: convTransposeLayout } },
  // B [K, N], or [N, K] with transB; Y = α·A·B + β·C.
  Gemm: {
    channel: { kind: 'gemm' },
    shape: { kind: 'gemm' },
    weighted: {
      kind: 'gemm', weight: 1, bias: 2, outAxis: (n) => (attrInt(n, 'transB', 0) ? 0 : 1),
      layout: (n, dims) => (dims.length === 2 ? (attrInt(n, 'transB', 0) ? matrixLayout(0, 1, dims) : matrixLayout(1, 0, dims)) : undefined),
      biasScale: (n) => attrFloat(n, 'beta', 1),
    },
  },
  MatMul: { channel: { kind: 'matmul' }, shape: { kind: 'matmul' }, weighted: { kind: 'matmul', weight: 1, bias: -1, outAxis: axis1, layout: matmulLayout } },
  // Integer arithmetic: costed, not modelled by the analysis.
  ConvInteger: { shape: { kind: 'conv' }, weighted: { kind: 'conv', weight: 1, bias: -1, quantized: 'integer', outAxis: axis0, layout: convLayout } },
  MatMulInteger: { shape: { kind: 'matmul' }, weighted: { kind: 'matmul', weight: 1, bias: -1, quantized: 'integer', outAxis: axis1, layout: matmulLayout } },
  // x, x_scale, x_zero_point, w (input 3), w_scale, w_zero_point, y_scale, y_zero_point[, int32 bias (input 8)].
  QLinearConv: { channel: { kind: 'qlinearConv' }, shape: { kind: 'conv' }, weighted: { kind: 'conv', weight: 3, bias: 8, quantized: 'qlinear', outAxis: axis0, layout: convLayout } },
  // Weight [K, N] only.
  QLinearMatMul: { channel: { kind: 'qlinearMatmul' }, shape: { kind: 'matmul' }, weighted: { kind: 'matmul', weight: 3, bias: -1, quantized: 'qlinear', outAxis: axis1, layout: (_n, dims) => (dims.length === 2 ? matrixLayout(1, 0, dims) : undefined) } },
};
