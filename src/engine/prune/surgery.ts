// Graph surgery: applies a resolved pruning plan to a model and returns a NEW ModelProto.
//
// The original model's objects and tensor buffers are never mutated: every node, tensor and
// list that changes is copied; everything else is shared with the source (so the result is
// cheap to build and must be treated as read-only too).
//
// How it works. Every member of every pruned group contributes one edit to one
// (node, input) slot or node attribute: "remove these indices along this axis" (weights,
// biases, BN vectors, quantisation scales) or "lower this entry of a shape vector by n"
// (Reshape shape, Split sizes, Resize sizes). Edits from different groups on the same slot
// combine (a conv weight loses rows through its own group and columns through its input's).
// A constant used by several slots whose edits differ is copied per distinct edit set under
// a new unique name, and each slot is repointed to its copy.
//
// Nodes that were unnamed in the file (the Graph gives them `<op>_<index>` display names, listed in
// `graph.synthesizedNames`) are written unnamed again; the report and `onnx_pruner.widths` use the
// display names, which the same rule reproduces when the pruned model is opened.
import Long from 'long';
import { PrunerError, throwIfAborted } from '../errors.ts';
import { mapChannel, removedChannels, type ChannelGroup, type DependencyAnalysis, type GroupMember } from '../analysis/types.ts';
import { attr, attrInt, type Graph } from '../graph/graph.ts';
import { tensorDims, tensorFileRange, tensorRawBytes, tensorToFloat32, tensorToInts } from '../onnx/model.ts';
import { floatTensor, intTensor, tensorShell } from '../onnx/tensors.ts';
import type { FileRange } from '../onnx/external.ts';
import { lazySliceOf, setLazySlice, sliceBytes, type SliceSpec } from '../onnx/slice.ts';
import {
  AttributeType,
  DataType,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type StringStringEntry,
  type TensorProto,
  type ValueInfoProto,
} from '../onnx/proto.ts';
import type { ResolvedPlan } from './types.ts';
import { applyChannelRewrites } from './permute.ts';
import { biasInputOf, dequantizeOf } from '../graph/quant.ts';
import { weightOutAxis } from '../graph/operators.ts';
import { planCompensation, type CompensationOptions, type CompensationSummary } from './compensate.ts';

export { mapChannel, removedChannels };

export const PRUNER_VERSION = '0.1.0';

export interface SurgeryOptions extends CompensationOptions {
  /** Fold removed channels' constant outputs into the consumers' biases (default: the plan's `compensate`, else true). */
  compensate?: boolean;
  /** Extra `metadata_props` (e.g. `onnx_pruner.source`); the surgery adds criterion, ratio, scope, widths and version. */
  metadata?: Record<string, string>;
  /**
   * Leave sliced weights as lazy slices of the source (onnx/slice.ts): nothing is copied until the
   * model is saved, which streams them from the source file. The source model must stay readable
   * (its buffer or external-data files) while the result is used. Default false (bytes in memory).
   */
  lazy?: boolean;
  signal?: AbortSignal;
}

/** One pruned layer as a user sees it: output channels before and after. */
export interface PrunedLayer {
  /** Node name in the ONNX graph. */
  name: string;
  /** Operator type (Conv, Gemm, ...). */
  op: string;
  /** Channel group the layer's output channels belong to (layers of one group are pruned together). */
  group: number;
  channelsBefore: number;
  channelsAfter: number;
  /** Kept output-channel indices (sorted, in the original numbering). */
  keptChannels: number[];
}

export interface SurgeryResult {
  model: ModelProto;
  layers: PrunedLayer[];
  compensation: CompensationSummary;
  warnings: string[];
}

/** Bytes per element of the ONNX element types that can be sliced element by element. */
const ELEMENT_SIZE: Record<number, number> = {
  [DataType.FLOAT]: 4, [DataType.UINT8]: 1, [DataType.INT8]: 1, [DataType.UINT16]: 2, [DataType.INT16]: 2,
  [DataType.INT32]: 4, [DataType.INT64]: 8, [DataType.BOOL]: 1, [DataType.FLOAT16]: 2, [DataType.DOUBLE]: 8,
  [DataType.UINT32]: 4, [DataType.UINT64]: 8, [DataType.COMPLEX64]: 8, [DataType.COMPLEX128]: 16, [DataType.BFLOAT16]: 2,
  [DataType.FLOAT8E4M3FN]: 1, [DataType.FLOAT8E4M3FNUZ]: 1, [DataType.FLOAT8E5M2]: 1, [DataType.FLOAT8E5M2FNUZ]: 1,
  [DataType.FLOAT8E8M0]: 1,
};

/** Attribute rewrites of one node: depthwise `group`, and shape-like INTS attributes (entry -> decrement). */
interface AttrEdit {
  node: NodeProto;
  group?: number;
  ints: Map<string, Map<number, number>>;
}

type SliceEdit = { kind: 'slice'; axis: number; removed: Set<number> };
type ShapeEdit = { kind: 'shape'; entry: number; decrement: number };

/** What happens to one (node, input) slot. */
interface SlotEdit {
  node: NodeProto;
  inputIndex: number;
  slices: Map<number, Set<number>>;
  shapes: Map<number, number>;
  /** Added (in float) to the tensor before slicing: compensation deltas on a bias. */
  add?: Float64Array;
  /** Multiplies the tensor (before `add`, before slicing): compensation's running-variance factors. */
  scale?: Float64Array;
  /** The slot has no tensor yet: create this bias (length = the layer's output channels) before editing. */
  createLength?: number;
  createType?: number;
}

function slotKey(node: string, inputIndex: number): string {
  return `${node}\u0000${inputIndex}`;
}

/** Prunes the graph by the plan; see the file comment. Throws PrunerError for a plan the model cannot take. */
export function pruneGraph(graph: Graph, deps: DependencyAnalysis, resolved: ResolvedPlan, opts: SurgeryOptions = {}): SurgeryResult {
  const model = graph.model;
  const g = model.proto.graph as GraphProto;
  const warnings: string[] = [];
  const slots = new Map<string, SlotEdit>();
  const attrEdits = new Map<string, AttrEdit>();
  const layers: PrunedLayer[] = [];
  const pruned: { group: ChannelGroup; kept: number[]; removed: number[] }[] = [];

  const slot = (node: NodeProto, inputIndex: number): SlotEdit => {
    const key = slotKey(node.name ?? '', inputIndex);
    let s = slots.get(key);
    if (!s) slots.set(key, (s = { node, inputIndex, slices: new Map(), shapes: new Map() }));
    return s;
  };
  // A weight, bias or parameter dequantised from an integer constant (QDQ): its integer tensor is
  // edited, at the DequantizeLinear's input 0 (its per-channel scale and zero point are members of
  // their own, named by the analysis).
  const resolve = (node: NodeProto, inputIndex: number): [NodeProto, number] => {
    const v = node.input[inputIndex];
    if (!v || graph.constantSource(v)) return [node, inputIndex];
    const dq = dequantizeOf(graph, v);
    return dq ? [dq.node, 0] : [node, inputIndex];
  };
  const addSlice = (n0: NodeProto, i0: number, e: SliceEdit) => {
    const [node, inputIndex] = resolve(n0, i0);
    const s = slot(node, inputIndex);
    let set = s.slices.get(e.axis);
    if (!set) s.slices.set(e.axis, (set = new Set()));
    for (const i of e.removed) set.add(i);
  };
  const addShape = (n0: NodeProto, i0: number, e: ShapeEdit) => {
    const [node, inputIndex] = resolve(n0, i0);
    const s = slot(node, inputIndex);
    s.shapes.set(e.entry, (s.shapes.get(e.entry) ?? 0) + e.decrement);
  };
  const nodeOf = (m: GroupMember): NodeProto => {
    const n = graph.byName.get(m.node);
    if (!n) throw new PrunerError(`channel group member ${m.node} is not a node of ${model.path}`, { subject: m.node });
    return n;
  };

  // ---- 1. Collect edits from every group the plan prunes ----
  const groupsById = new Map(deps.groups.map((gr) => [gr.id, gr]));
  for (const [id, keptIn] of resolved.kept) {
    const group = groupsById.get(id);
    if (!group) throw new PrunerError(`the plan refers to channel group ${id}, which ${model.path} does not have`);
    const kept = [...keptIn].sort((a, b) => a - b);
    if (kept.length === group.channels) continue;
    if (!group.prunable) throw new PrunerError(`layer group of ${group.layers[0] ?? group.values[0] ?? id} cannot be pruned: ${group.reason ?? 'frozen'}`, { subject: group.layers[0] });
    if (kept.length === 0) throw new PrunerError(`the plan keeps no channel of ${group.layers.join(', ') || `group ${id}`}`, { subject: group.layers[0] });
    if (kept.some((k) => !Number.isInteger(k) || k < 0 || k >= group.channels) || new Set(kept).size !== kept.length) {
      throw new PrunerError(`kept channels of ${group.layers.join(', ') || `group ${id}`} must be distinct integers in [0, ${group.channels})`, { subject: group.layers[0] });
    }
    if (group.divisor && group.divisor > 1) {
      const per = group.channels / group.divisor;
      const counts = new Array<number>(group.divisor).fill(0);
      for (const k of kept) counts[Math.floor(k / per)]++;
      if (counts.some((c) => c !== counts[0])) throw new PrunerError(`grouped layer ${group.layers[0] ?? id} must keep the same number of channels in each of its ${group.divisor} groups`, { subject: group.layers[0] });
    }
    const removed = removedChannels(group.channels, kept);
    pruned.push({ group, kept, removed });
    for (const layer of group.layers) {
      const n = graph.byName.get(layer);
      layers.push({ name: layer, op: n?.op_type ?? '?', group: id, channelsBefore: group.channels, channelsAfter: kept.length, keptChannels: kept });
    }
    for (const m of group.members) collectMemberEdits(graph, m, nodeOf(m), removed, addSlice, addShape, attrEdits);
  }
  const position = new Map(graph.order.map((n, i) => [n.name ?? '', i]));
  layers.sort((a, b) => (position.get(a.name) ?? 0) - (position.get(b.name) ?? 0));
  throwIfAborted(opts.signal);

  // ---- 2. Compensation: constant outputs of removed channels folded into the next BN's running mean or the consumer's bias ----
  const compensate = opts.compensate ?? resolved.plan.compensate ?? true;
  const comp = planCompensation(graph, pruned, { ...opts, enabled: compensate });
  for (const [nodeName, delta] of comp.biasDeltas) {
    const node = graph.byName.get(nodeName)!;
    const biasIndex = 2;
    const s = slot(node, biasIndex);
    s.add = delta;
    if (!node.input[biasIndex]) {
      s.createLength = delta.length;
      // The new bias has the weight's element type (compensation only folds into float layers: FLOAT, DOUBLE, FLOAT16, BFLOAT16).
      s.createType = graph.constantTensor(node.input[1])?.data_type ?? DataType.FLOAT;
    }
  }
  // Constants folded into a BatchNormalization's running mean (input 3), on the unsliced vector.
  for (const [bnName, delta] of comp.meanDeltas) {
    const s = slot(graph.byName.get(bnName)!, 3);
    s.add = delta;
  }
  // The running variance scaled to the share the kept inputs carry.
  for (const [bnName, scale] of comp.varScales) {
    const s = slot(graph.byName.get(bnName)!, 4);
    s.scale = scale;
  }
  // A bias created for compensation gets the same row removals as its layer's weight.
  for (const s of slots.values()) {
    if (s.createLength === undefined) continue;
    const rows = slots.get(slotKey(s.node.name ?? '', 1))?.slices.get(weightOutAxis(s.node));
    if (rows) s.slices.set(0, new Set(rows));
  }
  throwIfAborted(opts.signal);

  // ---- 3. Apply: new tensors, copies for shared constants with different edits ----
  const newInits: TensorProto[] = [];
  const replacedInit = new Map<string, TensorProto>();
  const replacedConstNode = new Map<string, TensorProto>(); // Constant node output -> new value
  const repoint = new Map<string, Map<number, string>>(); // node -> input index -> new value name
  const usedNames = new Set<string>([...graph.initializers.keys(), ...graph.producer.keys(), ...g.input.map((v) => v.name ?? '')]);
  const freshName = (base: string): string => {
    for (let i = 1; ; i++) {
      const n = `${base}__pruned${i === 1 ? '' : `_${i}`}`;
      if (!usedNames.has(n)) {
        usedNames.add(n);
        return n;
      }
    }
  };

  // Slots by the constant they read; the number of uses of each constant in the whole graph.
  const bySource = new Map<string, SlotEdit[]>();
  const created: SlotEdit[] = [];
  for (const s of slots.values()) {
    const value = s.node.input[s.inputIndex];
    if (!value) {
      if (s.createLength !== undefined) created.push(s);
      continue;
    }
    const src = graph.constantSource(value);
    if (!src) throw new PrunerError(`${s.node.name}: input ${s.inputIndex} (${value}) must be a constant to be pruned`, { subject: s.node.name });
    let list = bySource.get(src);
    if (!list) bySource.set(src, (list = []));
    list.push(s);
  }
  // Uses of each constant by real consumers (Identity nodes over a constant are transparent).
  const uses = new Map<string, number>();
  for (const n of g.node) {
    if (n.op_type === 'Identity' || n.op_type === 'Constant') continue;
    for (const inp of n.input) {
      const src = inp ? graph.constantSource(inp) : undefined;
      if (src) uses.set(src, (uses.get(src) ?? 0) + 1);
    }
  }

  for (const [src, list] of bySource) {
    throwIfAborted(opts.signal);
    const original = graph.constantTensor(src)!;
    const otherUses = (uses.get(src) ?? 0) - list.length;
    // (one slot needs no signature: it is the same edit as itself; long index lists make signatures costly)
    const sigOf = new Map(list.map((s) => [s, list.length > 1 ? signature(s) : '']));
    // In place when every use of the constant gets the same edit.
    if (otherUses <= 0 && new Set(sigOf.values()).size === 1) {
      const t = editTensor(graph, original, list[0], opts.lazy);
      if (graph.initializers.has(src)) replacedInit.set(src, t);
      else replacedConstNode.set(src, t);
      continue;
    }
    // Otherwise a renamed copy per edit and per value read: uses that read the constant through
    // different Identity nodes stay distinct tensors, as they were.
    const copies = new Map<string, SlotEdit[]>();
    for (const s of list) {
      const key = `${sigOf.get(s)}\u0000${s.node.input[s.inputIndex]}`;
      let l = copies.get(key);
      if (!l) copies.set(key, (l = []));
      l.push(s);
    }
    for (const group of copies.values()) {
      const t = editTensor(graph, original, group[0], opts.lazy);
      t.name = freshName(src);
      newInits.push(t);
      for (const s of group) setRepoint(repoint, s, t.name);
    }
  }
  for (const s of created) {
    const name = freshName(`${s.node.name}.bias`);
    const t = editTensor(graph, undefined, s);
    t.name = name;
    newInits.push(t);
    setRepoint(repoint, s, name);
  }

  // ---- 4. Assemble the new graph ----
  const setRepointOutput = new Map<string, string>();
  // value_info of every activation whose shape may have changed is dropped (ONNX Runtime rejects stale
  // shapes and infers them anyway): the group's values, its members' outputs, and everything computed
  // from them up to the consuming weighted layers.
  const droppedInfo = new Set<string>();
  for (const p of pruned) {
    const stop = new Set(p.group.members.filter((m) => m.role === 'in').map((m) => m.node));
    const queue: string[] = [...p.group.values];
    for (const m of p.group.members) if (m.role !== 'in') queue.push(...(graph.byName.get(m.node)?.output ?? []));
    while (queue.length) {
      const v = queue.pop()!;
      if (!v || droppedInfo.has(v)) continue;
      droppedInfo.add(v);
      for (const c of graph.consumersOf(v)) if (!stop.has(c.name ?? '')) queue.push(...c.output);
    }
  }
  for (const o of g.output) {
    if (pruned.some((p) => p.group.values.includes(o.name ?? ''))) {
      throw new PrunerError(`graph output ${o.name} would lose channels: its group must be frozen`, { subject: o.name });
    }
  }

  // Border corrections: the conv's output is renamed and an Add of the constant correction takes its name.
  const borderAdds = new Map<string, NodeProto>();
  for (const [nodeName, b] of comp.borders) {
    const node = graph.byName.get(nodeName)!;
    const rows = slots.get(slotKey(nodeName, 1))?.slices.get(0);
    let t = floatTensor('', b.dims, b.data, graph.constantTensor(node.input[1])?.data_type ?? DataType.FLOAT);
    if (rows?.size) t = sliceTensor(graph, t, 0, rows, nodeName);
    t.name = freshName(`${nodeName}.compensation`);
    newInits.push(t);
    const raw = freshName(`${node.output[0]}__uncompensated`);
    setRepointOutput.set(nodeName, raw);
    borderAdds.set(nodeName, {
      name: freshName(`${nodeName}_compensation`),
      op_type: 'Add',
      domain: '',
      input: [raw, t.name],
      output: [node.output[0]],
      attribute: [],
    });
  }

  const nodes = g.node.flatMap((n) => {
    const add = borderAdds.get(n.name ?? '');
    const m = mapNode(n);
    if (!add) return [m];
    return [{ ...m, output: [setRepointOutput.get(n.name ?? '')!, ...m.output.slice(1)] }, add];
  });
  function mapNode(n: NodeProto): NodeProto {
    const rp = repoint.get(n.name ?? '');
    const ae = attrEdits.get(n.name ?? '');
    const constT = n.op_type === 'Constant' && n.output[0] ? replacedConstNode.get(n.output[0]) : undefined;
    // A node that had no name in the file goes out without the display name the Graph gave it.
    const synthesized = graph.synthesizedNames.has(n);
    if (!rp && !ae && !constT) {
      if (!synthesized) return n;
      const unnamed: NodeProto = { ...n };
      delete unnamed.name;
      return unnamed;
    }
    const copy: NodeProto = { ...n, input: [...n.input], output: [...n.output], attribute: [...n.attribute] };
    if (synthesized) delete copy.name;
    if (rp) for (const [i, name] of rp) {
      while (copy.input.length <= i) copy.input.push('');
      copy.input[i] = name;
    }
    if (ae?.group !== undefined) setIntAttr(copy, 'group', ae.group);
    for (const [name, entries] of ae?.ints ?? []) {
      const a = attr(n, name)!;
      // Elements holding 0 or -1 (Reshape conventions) adapt by themselves.
      const ints = a.ints.map((v, i) => (Number(v) > 0 ? Long.fromNumber(Number(v) - (entries.get(i) ?? 0)) : v));
      copy.attribute = copy.attribute.map((x) => (x === a ? ({ ...a, ints } as AttributeProto) : x));
    }
    if (constT) copy.attribute = copy.attribute.map((x) => (x.name === 'value' ? ({ ...x, t: constT } as AttributeProto) : x));
    return copy;
  }
  const initializer = [...g.initializer.map((t) => replacedInit.get(t.name ?? '') ?? t), ...newInits];
  const newDims = new Map<string, TensorProto>([...replacedInit]);
  // IR < 4 lists initializers among the graph inputs: their declared shapes must follow.
  const input = g.input.map((v) => (v.name && newDims.has(v.name) ? withDims(v, tensorDims(newDims.get(v.name)!)) : v));
  const value_info = g.value_info.filter((v) => !droppedInfo.has(v.name ?? ''));

  const newGraph: GraphProto = { ...g, node: nodes, initializer, input, value_info };
  const widths: Record<string, [number, number]> = {};
  for (const l of layers) widths[l.name] = [l.channelsBefore, l.channelsAfter];
  const plan = resolved.plan;
  const meta: Record<string, string> = {
    ...(opts.metadata ?? {}),
    'onnx_pruner.criterion': plan.criterion,
    ...(plan.ratio !== undefined ? { 'onnx_pruner.ratio': String(plan.ratio) } : {}),
    ...(plan.threshold !== undefined ? { 'onnx_pruner.threshold': String(plan.threshold) } : {}),
    'onnx_pruner.scope': plan.scope,
    'onnx_pruner.compensate': String(compensate),
    'onnx_pruner.widths': JSON.stringify(widths),
    'onnx_pruner.version': PRUNER_VERSION,
  };
  const metadata_props: StringStringEntry[] = model.proto.metadata_props.filter((e) => !(e.key && e.key in meta));
  for (const [key, value] of Object.entries(meta)) metadata_props.push({ key, value });
  // Channel shuffles and channel slices with computed bounds are rewritten whole (permute.ts).
  const out: ModelProto = applyChannelRewrites(graph, deps, resolved.kept, { ...model.proto, graph: newGraph, metadata_props });
  warnings.push(...comp.warnings);
  return { model: out, layers, compensation: comp.summary, warnings };
}

/** The pruned model alone (see pruneGraph for the details of the run). */
export function applyPlan(graph: Graph, deps: DependencyAnalysis, resolved: ResolvedPlan, opts: SurgeryOptions = {}): ModelProto {
  return pruneGraph(graph, deps, resolved, opts).model;
}

function setRepoint(repoint: Map<string, Map<number, string>>, s: SlotEdit, name: string): void {
  const key = s.node.name ?? '';
  let m = repoint.get(key);
  if (!m) repoint.set(key, (m = new Map()));
  m.set(s.inputIndex, name);
}

function collectMemberEdits(
  graph: Graph,
  m: GroupMember,
  node: NodeProto,
  removedGroup: number[],
  addSlice: (n: NodeProto, i: number, e: SliceEdit) => void,
  addShape: (n: NodeProto, i: number, e: ShapeEdit) => void,
  attrEdits: Map<string, AttrEdit>,
): void {
  const removed = new Set<number>();
  let covered = 0;
  for (const c of removedGroup) {
    const idx = mapChannel(m, c);
    if (idx.length) covered++;
    for (const i of idx) removed.add(i);
  }
  if (covered === 0) return;
  const inputIndex = m.inputIndex ?? inputIndexOf(node, m.tensor);
  const biasSlot = (): void => {
    // Only a bias the analysis names is sliced along with the weight (a Gemm C of shape [1, N] is a 'param' member).
    if (!m.bias) return;
    const bi = biasInputOf(graph, node, m.bias);
    addSlice(node, bi >= 0 ? bi : 2, { kind: 'slice', axis: 0, removed });
  };
  switch (m.role) {
    case 'out':
      addSlice(node, inputIndex ?? 1, { kind: 'slice', axis: m.axis, removed });
      biasSlot();
      return;
    case 'depthwise': {
      addSlice(node, inputIndex ?? 1, { kind: 'slice', axis: m.axis, removed });
      biasSlot();
      const e: AttrEdit = attrEdits.get(node.name ?? '') ?? { node, ints: new Map() };
      // A depthwise conv fed by several groups (a Concat, a channel shuffle) loses channels through each.
      e.group = (e.group ?? attrInt(node, 'group', 1)) - covered;
      attrEdits.set(node.name ?? '', e);
      return;
    }
    case 'in':
    case 'param':
      if (inputIndex === undefined) throw new PrunerError(`${node.name}: channel group member has no tensor to slice`, { subject: node.name });
      addSlice(node, inputIndex, { kind: 'slice', axis: m.axis, removed });
      return;
    case 'shape': {
      // The element shrinks by the removed channels this member covers, times the block size.
      const decrement = covered * (m.mapping.kind === 'block' ? m.mapping.size : 1);
      if (m.attribute) {
        if (!attr(node, m.attribute)) throw new PrunerError(`${node.name}: ${node.op_type} has no attribute ${m.attribute} to rewrite`, { subject: node.name });
        const e: AttrEdit = attrEdits.get(node.name ?? '') ?? { node, ints: new Map() };
        let entries = e.ints.get(m.attribute);
        if (!entries) e.ints.set(m.attribute, (entries = new Map()));
        entries.set(m.axis, (entries.get(m.axis) ?? 0) + decrement);
        attrEdits.set(node.name ?? '', e);
      } else if (inputIndex !== undefined) {
        addShape(node, inputIndex, { kind: 'shape', entry: m.axis, decrement });
      } else {
        throw new PrunerError(`${node.name}: ${node.op_type} has no constant shape to rewrite`, { subject: node.name });
      }
      return;
    }
  }
}

function inputIndexOf(node: NodeProto, tensor: string | undefined): number | undefined {
  if (!tensor) return undefined;
  const i = node.input.indexOf(tensor);
  return i >= 0 ? i : undefined;
}

function signature(s: SlotEdit): string {
  const slices = [...s.slices.entries()].sort((a, b) => a[0] - b[0]).map(([axis, set]) => `${axis}:${[...set].sort((a, b) => a - b).join(',')}`);
  const shapes = [...s.shapes.entries()].sort((a, b) => a[0] - b[0]).map(([e, d]) => `${e}-${d}`);
  // A compensated bias is specific to its layer.
  return `${slices.join('|')}#${shapes.join('|')}#${s.add || s.scale ? `add:${s.node.name}` : ''}`;
}

/** The edited copy of a tensor (or a new zero bias when `t` is undefined): float deltas, shape rewrites, slices. */
function editTensor(graph: Graph, t: TensorProto | undefined, s: SlotEdit, lazy = false): TensorProto {
  let cur: TensorProto;
  if (!t) {
    cur = floatTensor('', [s.createLength!], new Float64Array(s.createLength!), s.createType ?? DataType.FLOAT);
  } else cur = t;
  if (s.add || s.scale) {
    const dt = cur.data_type ?? 0;
    if (!FLOAT_TYPES.has(dt)) throw new PrunerError(`${s.node.name}: compensation needs a float bias (${cur.name} has element type ${dt})`, { subject: s.node.name });
    const v = t ? tensorToFloat32(graph.model, cur) : new Float32Array(s.createLength!);
    const sum = new Float64Array(v.length);
    const { scale, add } = s;
    for (let i = 0; i < v.length; i++) sum[i] = v[i] * (scale?.[i] ?? 1) + (add?.[i] ?? 0);
    cur = floatTensor(cur.name ?? '', tensorDims(cur), sum, dt);
  }
  if (s.shapes.size) {
    const vals = tensorToInts(graph.model, cur);
    for (const [entry, dec] of s.shapes) {
      if (entry < 0 || entry >= vals.length) throw new PrunerError(`${s.node.name}: shape entry ${entry} out of range in ${cur.name}`, { subject: s.node.name });
      // 0 (copy the input dim) and -1 (inferred) adapt by themselves.
      if (vals[entry] > 0) vals[entry] -= dec;
    }
    cur = intTensor(cur.name ?? '', tensorDims(cur), vals, cur.data_type ?? DataType.INT64);
  }
  const slices = [...s.slices.entries()].filter(([, removed]) => removed.size > 0);
  // all pruned axes in one copy; a source tensor's slice stays lazy when asked (written by streaming)
  if (slices.length) cur = sliceAxes(graph, cur, new Map(slices), s.node.name ?? '', lazy && cur === t);
  return cur === t ? { ...t } : cur;
}

/** A copy of `t` without the given indices along `axis`; bytes are copied by element size, whatever the type. */
export function sliceTensor(graph: Graph, t: TensorProto, axis: number, removed: Set<number>, where = ''): TensorProto {
  return sliceAxes(graph, t, new Map([[axis, removed]]), where, false);
}

/**
 * A copy of `t` without the given indices along each axis of `removedByAxis`, in one pass over the
 * source bytes (raw data or external data, read by row blocks). With `lazy`, raw bytes are not
 * copied at all: the new tensor is a lazy slice (onnx/slice.ts), materialised when read and
 * streamed from the source when the model is saved.
 */
function sliceAxes(graph: Graph, t: TensorProto, removedByAxis: Map<number, Set<number>>, where: string, lazy: boolean): TensorProto {
  const dims = tensorDims(t);
  const keep: (number[] | undefined)[] = dims.map(() => undefined);
  for (const [axis, removed] of removedByAxis) {
    if (axis < 0 || axis >= dims.length) throw new PrunerError(`${where}: cannot remove channels along axis ${axis} of ${t.name} (shape [${dims.join(', ')}])`, { subject: where });
    const len = dims[axis];
    for (const r of removed) if (r < 0 || r >= len) throw new PrunerError(`${where}: channel ${r} is out of range for ${t.name} (shape [${dims.join(', ')}], axis ${axis})`, { subject: where });
    const k: number[] = [];
    for (let i = 0; i < len; i++) if (!removed.has(i)) k.push(i);
    // Possible when a layer reads part of groups (a channel split): every channel of that part removed.
    if (k.length === 0) throw new PrunerError(`${where}: the plan removes all ${len} channels that ${t.name} reads along axis ${axis}; keep more channels (--min-channels, a lower ratio, or exclude the layer)`, { subject: where });
    keep[axis] = k;
  }
  const newDims = dims.map((d, i) => keep[i]?.length ?? d);
  const dt = t.data_type ?? 0;
  const base = tensorShell(t, newDims);
  const src = tensorSource(graph, t);
  if (src) {
    const es = ELEMENT_SIZE[dt];
    if (!es) throw new PrunerError(`${where}: tensor ${t.name} has element type ${dt}, which cannot be sliced`, { subject: where });
    const spec: SliceSpec = { src, dims, elementSize: es, keep };
    if (lazy) setLazySlice(base, spec);
    else base.raw_data = sliceBytes(spec);
    return base;
  }
  // typed fields (float_data, int64_data, ...): element by element, one axis after the other
  const per = dt === DataType.COMPLEX64 || dt === DataType.COMPLEX128 ? 2 : 1;
  const sliceArr = <T>(arr: T[], unit: number): T[] => {
    let cur = arr;
    let curDims = [...dims];
    for (const [axis] of [...removedByAxis].sort((a, b) => a[0] - b[0])) {
      const k = keep[axis]!;
      const len = curDims[axis];
      const outer = curDims.slice(0, axis).reduce((a, b) => a * b, 1);
      const inner = curDims.slice(axis + 1).reduce((a, b) => a * b, 1) * unit;
      const out: T[] = [];
      for (let o = 0; o < outer; o++) for (const i of k) for (let j = 0; j < inner; j++) out.push(cur[(o * len + i) * inner + j]);
      cur = out;
      curDims = curDims.map((d, i) => (i === axis ? k.length : d));
    }
    return cur;
  };
  if (t.float_data.length) base.float_data = sliceArr(t.float_data, per);
  else if (t.int32_data.length) base.int32_data = sliceArr(t.int32_data, 1);
  else if (t.int64_data.length) base.int64_data = sliceArr(t.int64_data, 1);
  else if (t.double_data.length) base.double_data = sliceArr(t.double_data, per);
  else if (t.uint64_data.length) base.uint64_data = sliceArr(t.uint64_data, 1);
  else if (t.string_data.length) base.string_data = sliceArr(t.string_data, 1);
  else if (dims.reduce((a, b) => a * b, 1) !== 0) throw new PrunerError(`${where}: tensor ${t.name} has no data to slice`, { subject: where });
  return base;
}

/** Where a tensor's raw bytes are without reading them: its raw_data, its external range, or a lazy slice's bytes. */
function tensorSource(graph: Graph, t: TensorProto): Uint8Array | FileRange | undefined {
  if (lazySliceOf(t)) return tensorRawBytes(graph.model, t);
  const range = tensorFileRange(graph.model, t);
  if (range) return range;
  return t.raw_data && t.raw_data.length > 0 ? t.raw_data : undefined;
}

/** The floating-point element types compensation reads and writes. */
const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

function setIntAttr(node: NodeProto, name: string, value: number): void {
  const a = node.attribute.find((x) => x.name === name);
  const next = { ...(a ?? { floats: [], ints: [], strings: [], tensors: [], graphs: [] }), name, type: AttributeType.INT, i: Long.fromNumber(value) } as AttributeProto;
  node.attribute = a ? node.attribute.map((x) => (x === a ? next : x)) : [...node.attribute, next];
}

function withDims(v: ValueInfoProto, dims: number[]): ValueInfoProto {
  const tt = v.type?.tensor_type;
  if (!tt) return v;
  return { ...v, type: { ...v.type, tensor_type: { ...tt, shape: { dim: dims.map((d) => ({ dim_value: Long.fromNumber(d) })) } } } };
}
