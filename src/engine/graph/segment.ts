// A segment of a model as a model of its own: the nodes that compute some of its values, starting
// from values already computed (the "cut"), for ONNX Runtime to run. Used by recovery (probes that
// read intermediate tensors, segments of the pruned model after the last probe) and by the
// sensitivity scan (the part of a pruned model after a group's cut).
//
// Contract. `segmentModel(model, graph, proto, outputs, cut, modelInputs)` walks back from
// `outputs` through their producers in `graph` (which describes `proto`), stopping at the values
// of `cut`, which become inputs of the segment with the types given. It keeps:
//   - the nodes reached, in the model's order; their Constant tensors and the initializers they
//     read, with external data and the surgery's lazy slices (onnx/slice.ts) written inline, since
//     ONNX Runtime reads the segment from its bytes (onnx/save.ts' encoder: each weight is copied
//     once, straight into the bytes);
//   - the model's own graph inputs: every one (`'all'`), those a kept node reads (`'used'`) or none
//     (`'none'`: the cut holds every input the segment needs); an initializer listed as a graph
//     input (old IR versions) is kept only when its initializer is;
//   - the value_info of the values the kept nodes produce, outputs excepted;
//   - the outputs, typed by element type only (a pruned model's shapes may still carry the old
//     widths): the type the model declares for the value, float where it declares none.
// An output listed in `sampled` ([batch, C, spatial...]) is returned at a few positions only: the
// segment computes it, flattens its spatial axes and gathers, per input and channel, the positions
// fed to a new int32 input ([batch, C, P]), and outputs that ([batch, C, P]) under the name given
// instead of the value (a probe that needs some positions of many large activations then copies
// those positions, not the activations). GatherElements needs the default domain at opset
// SAMPLED_MIN_OPSET or later: callers sample only such models.
import Long from 'long';
import type { OnnxModel } from '../onnx/model.ts';
import { encodeInline } from '../onnx/save.ts';
import { intTensor } from '../onnx/tensors.ts';
import { AttributeType, DataType, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../onnx/proto.ts';
import type { Graph } from './graph.ts';

/** The type of a value (a ValueInfoProto's `type`). */
export type ValueType = NonNullable<ValueInfoProto['type']>;

export interface Segment {
  /** The segment as an encoded ModelProto. */
  bytes: Uint8Array;
  /** The names of its nodes. */
  nodes: Set<string>;
  /** The values of the cut it reads (its inputs besides the model's own). */
  inputs: string[];
}

/** A float tensor type: element type, and the dims of one sample after a symbolic batch axis when given. */
export function floatType(sampleDims?: readonly number[], elemType: number = DataType.FLOAT): ValueType {
  if (!sampleDims) return { tensor_type: { elem_type: elemType } } as ValueType;
  return { tensor_type: { elem_type: elemType, shape: { dim: [{ dim_param: 'batch' }, ...sampleDims.map((d) => ({ dim_value: Long.fromNumber(d) }))] } } } as ValueType;
}

/** An output returned at sampled positions: the segment's int32 input of positions and its output of the values there. */
export interface SampledOutput {
  positions: string;
  output: string;
}

/** The default domain's opset from which a segment can return sampled outputs (GatherElements-11). */
export const SAMPLED_MIN_OPSET = 11;

/** A value name that `graph` does not use, from `base`. */
export function unusedName(graph: Graph, base: string): string {
  const taken = (n: string) => graph.producer.has(n) || graph.initializers.has(n) || graph.inputs.some((v) => v.name === n) || graph.consumersOf(n).length > 0;
  let name = base;
  for (let i = 2; taken(name); i++) name = `${base}_${i}`;
  return name;
}

export function segmentModel(
  model: OnnxModel,
  graph: Graph,
  proto: ModelProto,
  outputs: readonly string[],
  cut: ReadonlyMap<string, ValueType>,
  modelInputs: 'all' | 'used' | 'none',
  sampled: ReadonlyMap<string, SampledOutput> = new Map(),
): Segment {
  const needed = new Set<NodeProto>();
  const inputs = new Set<string>();
  const stack = [...outputs];
  const seen = new Set<string>();
  while (stack.length) {
    const v = stack.pop()!;
    if (!v || seen.has(v)) continue;
    seen.add(v);
    if (cut.has(v)) {
      inputs.add(v);
      continue;
    }
    const p = graph.producer.get(v);
    if (!p || needed.has(p)) continue;
    needed.add(p);
    for (const i of p.input) if (i) stack.push(i);
  }
  const g = proto.graph!;
  const nodes = g.node.filter((n) => needed.has(n));
  const used = new Set<string>();
  for (const n of nodes) for (const i of n.input) if (i) used.add(i);
  const initializer = g.initializer.filter((t) => used.has(t.name ?? '') && !cut.has(t.name ?? ''));
  const inits = new Set(initializer.map((t) => t.name ?? ''));
  const own = g.input.filter((v) => {
    const name = v.name ?? '';
    if (cut.has(name)) return false;
    if (graph.initializers.has(name)) return inits.has(name);
    return modelInputs === 'all' || (modelInputs === 'used' && used.has(name));
  });
  const input = [...own, ...[...inputs].map((name) => ({ name, type: cut.get(name) }) as ValueInfoProto)];
  const produced = new Set(nodes.flatMap((n) => n.output));
  const value_info = g.value_info.filter((v) => produced.has(v.name ?? '') && !outputs.includes(v.name ?? ''));
  const elemType = (name: string) =>
    (g.value_info.find((v) => v.name === name) ?? g.output.find((v) => v.name === name))?.type?.tensor_type?.elem_type ?? DataType.FLOAT;
  const output = outputs.map((name) => ({ name: sampled.get(name)?.output ?? name, type: floatType(undefined, elemType(name)) }) as ValueInfoProto);
  const extra = sampledNodes(graph, sampled);
  const segment: ModelProto = {
    ...proto,
    graph: { ...g, node: [...nodes, ...extra.node], initializer: [...initializer, ...extra.initializer], input: [...input, ...extra.input], output, value_info },
  };
  return { bytes: encodeInline(model, segment), nodes: new Set(nodes.map((n) => n.name ?? '')), inputs: [...inputs] };
}

/** The nodes, initializer and inputs that return each sampled value at its fed positions (see the contract). */
function sampledNodes(graph: Graph, sampled: ReadonlyMap<string, SampledOutput>): { node: NodeProto[]; initializer: TensorProto[]; input: ValueInfoProto[] } {
  if (!sampled.size) return { node: [], initializer: [], input: [] };
  const shape = unusedName(graph, 'sampled_positions_shape');
  // [0, 0, -1]: batch and channels kept, the spatial axes flattened
  const initializer: TensorProto[] = [intTensor(shape, [3], [0, 0, -1], DataType.INT64)];
  const node: NodeProto[] = [];
  const input: ValueInfoProto[] = [];
  for (const [v, s] of sampled) {
    const flat = unusedName(graph, `${s.output}_flat`);
    node.push({ name: flat, op_type: 'Reshape', input: [v, shape], output: [flat] } as NodeProto);
    node.push({ name: s.output, op_type: 'GatherElements', input: [flat, s.positions], output: [s.output], attribute: [{ name: 'axis', type: AttributeType.INT, i: Long.fromNumber(2) }] } as NodeProto);
    input.push({ name: s.positions, type: { tensor_type: { elem_type: DataType.INT32, shape: { dim: [{ dim_param: 'batch' }, { dim_param: 'channels' }, { dim_param: 'positions' }] } } } } as ValueInfoProto);
  }
  return { node, initializer, input };
}
