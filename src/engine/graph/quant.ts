// Quantised constants in QDQ models (ONNX Runtime's static quantisation, QDQ format): a weight or bias
// stored as an integer initializer behind a DequantizeLinear, y = (x − zero_point) × scale, with
// the scale and zero point per tensor (scalars) or per channel (1-D vectors along the `axis`
// attribute, default 1). The dependency analysis, the cost model, the importance scores and the
// surgery see such a value as the constant it stands for: its channels are the integer tensor's
// indices, its values the dequantised ones.
import { attrInt, type Graph } from './graph.ts';
import { tensorDims, tensorToFloat32 } from '../onnx/model.ts';
import { DataType, type NodeProto, type TensorProto } from '../onnx/proto.ts';
import { weightedFacts } from './operators.ts';

/** A value computed by DequantizeLinear from constants. */
export interface Dequantized {
  node: NodeProto;
  /** Constant source names of the integer tensor, its scale and its zero point (absent: 0). */
  q: string;
  scale: string;
  zeroPoint?: string;
  /** Dims of the integer tensor. */
  dims: number[];
  /** Axis of the per-channel scale (normalised to the tensor's rank); undefined when per tensor. */
  axis?: number;
}

/** Integer element types whose tensors the engine dequantises and slices element by element. */
const QUANT_TYPES = new Set<number>([DataType.INT8, DataType.UINT8, DataType.INT16, DataType.UINT16, DataType.INT32]);

/**
 * The DequantizeLinear behind `value` when it dequantises a constant integer tensor with constant
 * scale and zero point (through Identity chains on each), per tensor or per channel; undefined
 * otherwise (an activation, blocked quantisation, 4-bit or float8 types, a custom domain).
 */
export function dequantizeOf(graph: Graph, value: string | undefined): Dequantized | undefined {
  if (!value) return undefined;
  const node = graph.producer.get(value);
  if (!node || node.op_type !== 'DequantizeLinear' || ((node.domain ?? '') !== '' && node.domain !== 'ai.onnx')) return undefined;
  if (attrInt(node, 'block_size', 0) !== 0) return undefined;
  const c = quantizedConstants(graph, node, 0);
  if (!c) return undefined;
  const { q, scale, zeroPoint, dims } = c;
  const sDims = tensorDims(graph.constantTensor(scale)!);
  const n = sDims.reduce((a, b) => a * b, 1);
  const out: Dequantized = { node, q, scale, dims, ...(zeroPoint ? { zeroPoint } : {}) };
  if (sDims.length === 0 || (n === 1 && sDims.length === 1 && dims.length !== 1)) return out;
  if (sDims.length !== 1) return undefined;
  const raw = attrInt(node, 'axis', 1);
  const axis = raw < 0 ? raw + dims.length : raw;
  if (axis < 0 || axis >= dims.length || dims[axis] !== n) return undefined;
  if (zeroPoint) {
    const zDims = tensorDims(graph.constantTensor(zeroPoint)!);
    if (zDims.length !== 1 || zDims[0] !== n) return undefined;
  }
  out.axis = axis;
  return out;
}

/** The stored tensor behind a value: the constant itself, or the integer tensor of a dequantised constant. */
export function storedTensor(graph: Graph, value: string | undefined): TensorProto | undefined {
  if (!value) return undefined;
  const t = graph.constantTensor(value);
  if (t) return t;
  const dq = dequantizeOf(graph, value);
  return dq ? graph.constantTensor(dq.q) : undefined;
}

/** The constant source name behind a value, through a DequantizeLinear of a constant (its integer tensor). */
export function storedSource(graph: Graph, value: string | undefined): string | undefined {
  if (!value) return undefined;
  return graph.constantSource(value) ?? dequantizeOf(graph, value)?.q;
}

/** The index (from 2 on) at which a layer reads its bias `bias` (the constant itself, through Identity chains or a DequantizeLinear), or -1. */
export function biasInputOf(graph: Graph, node: NodeProto, bias: string): number {
  return node.input.findIndex((v, i) => i >= 2 && v !== '' && (v === bias || storedSource(graph, v) === bias));
}

/** A constant, or a constant dequantised from one. */
export function isConstantLike(graph: Graph, value: string | undefined): boolean {
  return storedTensor(graph, value) !== undefined;
}

/** The dequantised values (x − zero_point) × scale of a DequantizeLinear of constants, in float32. */
export function dequantizedFloats(graph: Graph, dq: Dequantized): Float32Array {
  const q = tensorToFloat32(graph.model, graph.constantTensor(dq.q)!);
  const scale = tensorToFloat32(graph.model, graph.constantTensor(dq.scale)!);
  const zp = dq.zeroPoint ? tensorToFloat32(graph.model, graph.constantTensor(dq.zeroPoint)!) : undefined;
  const out = new Float32Array(q.length);
  if (dq.axis === undefined) {
    const s = scale[0];
    const z = zp?.[0] ?? 0;
    for (let i = 0; i < q.length; i++) out[i] = (q[i] - z) * s;
    return out;
  }
  const n = dq.dims[dq.axis];
  const inner = dq.dims.slice(dq.axis + 1).reduce((a, b) => a * b, 1);
  for (let i = 0; i < q.length; i++) {
    const c = Math.floor(i / inner) % n;
    out[i] = (q[i] - (zp?.[c] ?? 0)) * scale[c];
  }
  return out;
}

/**
 * The constant integer tensor, scale and optional zero point a node reads at inputs `at`, `at + 1`,
 * `at + 2` (through Identity chains), with the integer tensor's dims; undefined when one is not a
 * constant or the integer type is not one this module slices.
 */
function quantizedConstants(graph: Graph, node: NodeProto, at: number): { q: string; scale: string; zeroPoint?: string; dims: number[] } | undefined {
  const source = (i: number) => (node.input[i] ? graph.constantSource(node.input[i]) : undefined);
  const [q, scale, zeroPoint] = [source(at), source(at + 1), source(at + 2)];
  if (!q || !scale || (node.input[at + 2] && !zeroPoint)) return undefined;
  const qt = graph.constantTensor(q)!;
  if (!QUANT_TYPES.has(qt.data_type ?? 0)) return undefined;
  return { q, scale, dims: tensorDims(qt), ...(zeroPoint ? { zeroPoint } : {}) };
}

/**
 * The integer weight of a QLinearConv (axis 0 per channel) or QLinearMatMul (axis 1 per column) with its
 * scale and zero point (inputs 3, 4, 5), in the shape of a DequantizeLinear, or undefined.
 */
export function qlinearWeight(graph: Graph, node: NodeProto): Dequantized | undefined {
  const facts = weightedFacts(node.op_type);
  if (facts?.quantized !== 'qlinear') return undefined;
  const c = quantizedConstants(graph, node, 3);
  if (!c) return undefined;
  const { q, scale, zeroPoint, dims } = c;
  const n = tensorDims(graph.constantTensor(scale)!).reduce((a, b) => a * b, 1);
  const axis = facts.outAxis(node);
  const out: Dequantized = { node, q, scale, dims, ...(zeroPoint ? { zeroPoint } : {}) };
  if (n > 1) {
    if (dims[axis] !== n) return undefined;
    out.axis = axis;
  }
  return out;
}
