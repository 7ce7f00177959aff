// What a resolved plan will do to the model's size and compute, without touching any weight.
//
// The figures are those of the cost model (graph/cost.ts) applied to the shapes the surgery will
// produce: every group member removes, along its axis, the indices its mapping gives for the
// removed group channels (block mappings remove `size` indices per channel), so a weight's new
// shape is its old one minus those counts; an activation's channel count drops by the removed
// channels of the groups it carries. From those:
//   - parameters: every learnable tensor the cost model counts (weights, biases, BN scale and bias,
//     each distinct value once, exactly as cost.ts decides), with its new element count;
//   - MACs of a weighted layer: its own formula on the new weight shape and output channel count
//     (spatial size and batch unchanged);
//   - BatchNormalization, activation and pooling terms: elements of the value scaled by its new
//     channel count (channels on axis 1). Which operator has which term is its registry entry
//     (graph/operators.ts), as for the cost model.
//   - compensation (unless the plan says `compensate: false`): a consuming layer with no bias and no
//     BatchNormalization right after it gets a new bias (compensate.ts, `compensationBiases`): its
//     output channels are counted as parameters and its bias adds as MACs, as the cost model will
//     count them in the written file.
// Everything shape-dependent is prepared once per model (`preparePreview`, cached by the
// DependencyAnalysis object); a preview is then a pass over a few arrays, fast enough to follow
// a slider.
import type { Graph } from '../graph/graph.ts';
import { attrInt } from '../graph/graph.ts';
import { biasInputIndex, nodeFacts } from '../graph/operators.ts';
import { batchBinding, computeCost, type CostSummary } from '../graph/cost.ts';
import { inferShapes, numericShape, type InputShapes } from '../graph/shapes.ts';
import { tensorDims } from '../onnx/model.ts';
import { isConstantLike, storedSource, storedTensor } from '../graph/quant.ts';
import type { DependencyAnalysis, GroupMember } from '../analysis/types.ts';
import type { ResolvedPlan } from './types.ts';
import { compensationBiases, prunedGroupsOf } from './compensate.ts';

export interface PreviewLayer {
  name: string;
  op: string;
  /** Output channels before and after. */
  channelsBefore: number;
  channelsAfter: number;
  paramsBefore: number;
  paramsAfter: number;
  macsBefore: number;
  macsAfter: number;
  /** The group whose channels are this layer's output channels, when there is one. */
  group?: number;
}

export interface PlanPreview {
  params: { before: number; after: number };
  /** `complete: false` when these are not the MACs of a real input (see macsCaveat). */
  macs: { before: number; after: number; complete?: false };
  layers: PreviewLayer[];
}

/** One way a tensor's axis shrinks: the removed channels of `group` within [start, start+span), `size` indices each. */
interface Cut {
  group: number;
  start: number;
  span: number;
  size: number;
}

interface TensorTerm {
  dims: number[];
  /** Cuts per axis. */
  cuts: Map<number, Cut[]>;
}

interface ParamTerm {
  tensor: string;
  /** Index in `layers`, or -1 for BatchNormalization parameters. */
  layer: number;
}

interface LayerTerm {
  name: string;
  op: string;
  group?: number;
  weight: string;
  /** Output axis of the weight; the reduced axes are the others (Conv-like) or `reduceAxis` (Gemm/MatMul). */
  outAxis: number;
  kind: 'conv' | 'convT' | 'gemm' | 'scale';
  /** Conv: output elements per output channel; Gemm: output elements per output feature; convT: input elements per input channel. */
  per: number;
  /** convT: output elements per output channel (bias adds). */
  perOut: number;
  reduceAxis: number;
  hasBias: boolean;
  /** Output channels per index of `outAxis`: the groups of a ConvTranspose (its weight holds C_out/group), else 1. */
  outScale: number;
  channelsBefore: number;
  paramsBefore: number;
  macsBefore: number;
}

interface ElementwiseTerm {
  /** 2 for BatchNormalization, 1 otherwise. */
  factor: number;
  /** Elements per channel of the value (batch 1). */
  perChannel: number;
  channels: number;
  /** Groups carried by the value: its channel count drops by their removed channels. */
  groups: number[];
  /** When the groups do not add up to the value's channels: shrink proportionally (not exact). */
  proportional: boolean;
  /** BatchNormalization: its scale tensor gives the new count directly. */
  scale?: string;
}

export interface PreviewModel {
  tensors: Map<string, TensorTerm>;
  params: ParamTerm[];
  layers: LayerTerm[];
  elementwise: ElementwiseTerm[];
  groupChannels: Map<number, number>;
  paramsBefore: number;
  macsBefore: number;
}

const cache = new WeakMap<DependencyAnalysis, PreviewModel>();

const prod = (a: readonly number[]) => a.reduce((x, y) => x * y, 1);

/** Everything a preview needs that depends only on the model (cached per DependencyAnalysis). */
export function preparePreview(graph: Graph, deps: DependencyAnalysis, cost?: CostSummary, inputShapes?: InputShapes): PreviewModel {
  const hit = cache.get(deps);
  if (hit && !cost) return hit;
  cost ??= computeCost(graph, { inputShapes });
  const tensors = new Map<string, TensorTerm>();
  // Tensors are keyed by the value name the node reads, as the cost model counts them: PyTorch's
  // exporter shares equal tensors (squeezenet's zero biases) behind one Identity per use, and the
  // surgery slices (a copy of) the tensor for each use.
  const term = (name: string): TensorTerm | undefined => {
    let t = tensors.get(name);
    if (!t) {
      const tp = storedTensor(graph, name);
      if (!tp) return undefined;
      t = { dims: tensorDims(tp), cuts: new Map() };
      tensors.set(name, t);
    }
    return t;
  };
  const addCut = (tensor: string, axis: number, m: GroupMember, group: number, channels: number) => {
    const t = term(tensor);
    if (!t) return;
    const list = t.cuts.get(axis) ?? [];
    const cut: Cut = { group, start: m.start ?? 0, span: m.span ?? channels, size: m.mapping.kind === 'block' ? m.mapping.size : 1 };
    if (!list.some((c) => c.group === cut.group && c.start === cut.start && c.span === cut.span && c.size === cut.size)) list.push(cut);
    t.cuts.set(axis, list);
  };
  /** The value name a member's node reads for its tensor (or bias). */
  const readName = (m: GroupMember, bias: boolean): string | undefined => {
    const node = graph.byName.get(m.node);
    if (bias) {
      const idx = biasInputIndex(m.op);
      const v = node?.input[idx];
      return v && (storedSource(graph, v) ?? v) === (graph.constantSource(m.bias!) ?? m.bias) ? v : m.bias;
    }
    const v = m.inputIndex !== undefined ? node?.input[m.inputIndex] : undefined;
    return v || m.tensor;
  };
  const groupChannels = new Map<number, number>();
  const valueGroups = new Map<string, number[]>();
  for (const g of deps.groups) {
    groupChannels.set(g.id, g.channels);
    for (const m of g.members) {
      if (m.role === 'shape') continue;
      const t = m.tensor ? readName(m, false) : undefined;
      if (t) addCut(t, m.axis, m, g.id, g.channels);
      const b = m.bias && (m.role === 'out' || m.role === 'depthwise') ? readName(m, true) : undefined;
      if (b) addCut(b, 0, m, g.id, g.channels);
    }
    for (const v of g.values) {
      const list = valueGroups.get(v) ?? [];
      if (!list.includes(g.id)) list.push(g.id);
      valueGroups.set(v, list);
    }
  }

  // Parameters, counted exactly as the cost model does (each value name once, in graph order).
  const costByName = new Map(cost.layers.map((l) => [l.name, l]));
  const counted = new Set<string>();
  const params: ParamTerm[] = [];
  const layers: LayerTerm[] = [];
  const elementwise: ElementwiseTerm[] = [];
  const take = (value: string | undefined, layer: number) => {
    if (!value || counted.has(value) || !storedTensor(graph, value)) return;
    counted.add(value);
    term(value);
    params.push({ tensor: value, layer });
  };
  const bound = batchBinding(graph, {}, inputShapes);
  const shapes = inferShapes(graph, { dims: bound.dims, inputShapes }).shapes;
  const chanTerm = (value: string, factor: number, scale?: string): ElementwiseTerm | undefined => {
    const s = numericShape(shapes.get(value));
    if (!s || s.length < 2) return undefined;
    const C = s[1];
    const groups = valueGroups.get(value) ?? [];
    const sum = groups.reduce((a, g) => a + (groupChannels.get(g) ?? 0), 0);
    return { factor, perChannel: prod(s) / C, channels: C, groups, proportional: groups.length > 0 && sum !== C, scale };
  };
  for (const node of graph.order) {
    const op = node.op_type ?? '';
    const facts = nodeFacts(node);
    if (!facts) continue;
    const wf = facts.weighted;
    if (wf) {
      const lc = costByName.get(node.name ?? '');
      if (!lc) continue;
      const wIdx = wf.weight === 3 ? 3 : isConstantLike(graph, node.input[1]) ? 1 : 0;
      const bIdx = wf.bias;
      const hasBias = bIdx >= 0 && !!node.input[bIdx];
      const li = layers.length;
      take(node.input[wIdx], li);
      if (hasBias) take(node.input[bIdx], li);
      const w = lc.weightShape;
      let kind: LayerTerm['kind'] = 'scale';
      let outAxis = 0;
      let reduceAxis = -1;
      let per = 0;
      let perOut = 0;
      const outS = numericShape(shapes.get(node.output[0] ?? ''));
      const inS = numericShape(shapes.get(node.input[wIdx === 0 ? 1 : 0] ?? ''));
      if (wf.kind === 'conv' && outS) {
        kind = 'conv';
        per = prod(outS) / (w[0] || 1);
      } else if (wf.kind === 'convTranspose') {
        // weight [C_in, C_out/group, k...]: the output channels are axis 1 (times the groups), whether or not the shapes are known
        outAxis = 1;
        if (inS && outS) {
          kind = 'convT';
          per = prod(inS) / (w[0] || 1);
          perOut = prod(outS) / (outS[1] || 1);
        }
      } else if ((wf.kind === 'gemm' || wf.kind === 'matmul') && !wf.quantized && wIdx === 1 && outS && w.length === 2) {
        kind = 'gemm';
        const transB = wf.kind === 'gemm' && attrInt(node, 'transB', 0) === 1;
        outAxis = transB ? 0 : 1;
        reduceAxis = transB ? 1 : 0;
        per = prod(outS) / (w[outAxis] || 1);
      }
      if (kind === 'convT' && attrInt(node, 'group', 1) !== 1) kind = 'scale';
      layers.push({
        name: lc.name,
        op,
        group: deps.groupOfLayer.get(lc.name),
        weight: node.input[wIdx] ?? '',
        outAxis,
        kind,
        per,
        perOut,
        reduceAxis,
        hasBias,
        outScale: wf.kind === 'convTranspose' ? attrInt(node, 'group', 1) : 1,
        channelsBefore: w[outAxis] * (wf.kind === 'convTranspose' ? attrInt(node, 'group', 1) : 1),
        paramsBefore: lc.params,
        macsBefore: lc.macs,
      });
    } else if (facts.cost === 'batchNorm') {
      take(node.input[1], -1);
      take(node.input[2], -1);
      const t = chanTerm(node.output[0] ?? '', 2, node.input[1] || undefined);
      if (t) elementwise.push(t);
    } else if (facts.cost === 'activation') {
      const t = chanTerm(node.output[0] ?? '', 1);
      if (t) elementwise.push(t);
    } else if (facts.cost === 'pool') {
      const t = chanTerm(node.input[0] ?? '', 1);
      if (t) elementwise.push(t);
    }
  }
  const model: PreviewModel = { tensors, params, layers, elementwise, groupChannels, paramsBefore: cost.params, macsBefore: cost.macs };
  if (!hit) cache.set(deps, model);
  return model;
}

/** Removed channels of each group, and a counter of removed channels within a range. */
function removedCounter(resolved: ResolvedPlan, groupChannels: Map<number, number>) {
  return (c: Cut): number => {
    const kept = resolved.kept.get(c.group);
    if (!kept) return 0;
    const C = groupChannels.get(c.group) ?? kept.length;
    if (c.start === 0 && c.span >= C) return (C - kept.length) * c.size;
    // kept is sorted: count the kept indices inside [start, start+span)
    const lo = lowerBound(kept, c.start);
    const hi = lowerBound(kept, c.start + c.span);
    return (c.span - (hi - lo)) * c.size;
  };
}

function lowerBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Parameters and MACs before and after a resolved plan, per weighted layer and in total. */
export function previewPlan(graph: Graph, deps: DependencyAnalysis, resolved: ResolvedPlan, cost?: CostSummary, inputShapes?: InputShapes): PlanPreview {
  const pm = preparePreview(graph, deps, cost, inputShapes);
  // Biases compensation will create (parameters the file will have that the model has not).
  const created = resolved.plan.compensate === false || resolved.kept.size === 0
    ? new Set<string>()
    : compensationBiases(graph, prunedGroupsOf(deps.groups, resolved.kept));
  const removed = removedCounter(resolved, pm.groupChannels);
  const newDims = new Map<string, number[]>();
  const dimsOf = (tensor: string): number[] | undefined => {
    let d = newDims.get(tensor);
    if (d) return d;
    const t = pm.tensors.get(tensor);
    if (!t) return undefined;
    d = t.dims.slice();
    for (const [axis, cuts] of t.cuts) for (const c of cuts) if (axis < d.length) d[axis] -= removed(c);
    newDims.set(tensor, d);
    return d;
  };

  const layerParams = new Float64Array(pm.layers.length);
  let paramsAfter = 0;
  for (const p of pm.params) {
    const d = dimsOf(p.tensor);
    const n = d ? prod(d) : 0;
    paramsAfter += n;
    if (p.layer >= 0) layerParams[p.layer] += n;
  }

  let macsAfter = 0;
  const layers: PreviewLayer[] = pm.layers.map((l, i) => {
    const w = dimsOf(l.weight);
    const w0 = pm.tensors.get(l.weight)?.dims;
    let macs = l.macsBefore;
    let channelsAfter = l.channelsBefore;
    const newBias = !l.hasBias && created.has(l.name) && (l.kind === 'conv' || l.kind === 'gemm');
    if (w && w0) {
      if (l.kind === 'conv') {
        channelsAfter = w[0];
        macs = l.per * w[0] * (prod(w) / (w[0] || 1)) + (l.hasBias || newBias ? l.per * w[0] : 0);
      } else if (l.kind === 'convT') {
        channelsAfter = w[1];
        macs = l.per * w[0] * (prod(w) / (w[0] || 1)) + (l.hasBias ? l.perOut * w[1] : 0);
      } else if (l.kind === 'gemm') {
        channelsAfter = w[l.outAxis];
        macs = l.per * w[l.outAxis] * w[l.reduceAxis] + (l.hasBias || newBias ? l.per * w[l.outAxis] : 0);
      } else {
        macs = Math.round((l.macsBefore * prod(w)) / (prod(w0) || 1));
        channelsAfter = w[l.outAxis] * l.outScale;
      }
    }
    if (newBias && w) {
      layerParams[i] += channelsAfter;
      paramsAfter += channelsAfter;
    }
    macsAfter += macs;
    const out: PreviewLayer = {
      name: l.name,
      op: l.op,
      channelsBefore: l.channelsBefore,
      channelsAfter,
      paramsBefore: l.paramsBefore,
      paramsAfter: layerParams[i],
      macsBefore: l.macsBefore,
      macsAfter: macs,
    };
    if (l.group !== undefined) out.group = l.group;
    return out;
  });

  for (const e of pm.elementwise) {
    let c = e.channels;
    if (e.scale && dimsOf(e.scale)) c = dimsOf(e.scale)![0];
    else if (e.groups.length) {
      let r = 0;
      for (const g of e.groups) r += removed({ group: g, start: 0, span: pm.groupChannels.get(g) ?? 0, size: 1 });
      if (e.proportional) {
        const total = e.groups.reduce((a, g) => a + (pm.groupChannels.get(g) ?? 0), 0);
        c = Math.round(e.channels * (1 - r / (total || 1)));
      } else c -= r;
    }
    macsAfter += e.factor * e.perChannel * c;
  }
  return { params: { before: pm.paramsBefore, after: paramsAfter }, macs: { before: pm.macsBefore, after: macsAfter }, layers };
}
