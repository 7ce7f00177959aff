// Compensation: the data-free `bias` recovery. Every removed channel whose output the model's own
// statistics describe is replaced by its expected value, folded into the next layer; and the
// BatchNormalization after that layer is told how much of its input variance is gone.
//
// Entry point for recovery (`--recover bias` without calibration data; `--recover none` is
// `compensate: false`):
//   planCompensation(graph: Graph, pruned: PrunedGroup[], opts?: CompensationOptions & { enabled?: boolean }): CompensationPlan
// on the ORIGINAL graph, with `prunedGroupsOf(deps.groups, resolved.kept)`; it returns the deltas on the
// original (unsliced) tensors, which `pruneGraph` (surgery.ts) applies when its `compensate` option (or the
// plan's `compensate` field, default true) is on, and a CompensationSummary for the report.
//
// Where the values come from. A BatchNormalization computes, for channel c,
//   y_c = γ_c · (x_c − μ_c) / sqrt(σ²_c + ε) + β_c.
// Its running statistics normalise the input to mean 0 and variance 1 on the data it was trained on, so
// y_c is taken as N(β_c, γ_c²), and a removed channel contributes its expected value after the activation
// that follows (Nagel et al., "Data-Free Quantization", ICCV 2019):
//   ReLU:  E[max(z, 0)] = β·Φ(β/|γ|) + |γ|·φ(β/|γ|);  Clip/ReLU6: the clipped-normal mean (clippedNormalMoments);
//   other element-wise activations: numerical integration over N(β, γ²) (normalMoments); none: β.
// With γ_c = 0 this is exactly act(β_c) (exact, the report says so); otherwise it is an expected value
// (approximate, the report says which BN). A Conv whose filter c is entirely zero (a BN with γ_c = 0 folded
// into the conv) outputs the constant bias_c: exact. A channel with neither is not compensated.
//
// How they travel. Each removed channel's value is a normal N(mean, std²) (std 0: a constant), followed in
// topological order through ops whose effect is known: element-wise activations (expected value and spread
// of the activation), BatchNormalization (an exactly known constant input stays exact; otherwise the BN's
// own N(β, γ²) replaces what came in), pooling, Resize, Flatten/Reshape, Concat, depthwise Conv
// (mean · Σ W_c + b_c), and residual Add/Sub/Mul/Div of two removed channels (means add exactly; spreads
// as independent) or with a scalar / per-channel constant. Which operator passes a value, and how, is its
// `constant` rule in the operator registry (graph/operators.ts: the activation's function, 'move',
// 'averagePool', 'arithmetic', ...); this file holds what each kind does. Anything else stops the value:
// the channel is then not compensated through that path, and the summary says where and why.
//
// Where they land. At a consuming layer that the group lists as an 'in' member, the removed
// channels add a constant d to the layer's output:
//   Conv (group 1): d[o] = Σ_{kh,kw} W[o, c, kh, kw] · k_c   (exact when the conv has no zero padding)
//   Gemm:           d[n] = (α/β) · Σ_{i ∈ block(c)} B'[i, n] · k_c
// That constant goes, in this order of preference, so that the pruned model keeps the original's
// structure and parameter count (`foldTarget`):
//   1. into the running mean of the BatchNormalization that is the layer's output's only consumer:
//      BN(x + d) with μ' = μ − d is BN(x) exactly, and running statistics are not parameters;
//   2. into the layer's existing bias;
//   3. into a bias created for the layer (the one case that adds parameters: `compensationBiases`
//      tells the plan preview which layers get one, so that it counts them).
// Variance. Removing channels removes their variance too: the BN after a consuming Conv would divide by
// the original variance and hand every later layer a shrunken signal (measured: the pruned networks
// collapse towards one class, and a mean correction alone made that worse). So that BN's running variance
// is scaled by the share the kept inputs carry, Σ_kept V / Σ_all V with V(o, c) = std_c² · Σ_k W[o, c, k]²
// (input channels and positions taken as independent; std_c from the same data-free moments,
// `momentsOf`), computed as (Σ_all V − Σ_lost V) / Σ_all V, with Σ_all V kept per analysed model so that a
// later plan reads only the lost channels' weights. A channel with γ = 0 carries no variance, so exact folds stay exact.
// Zero padding: the constant input contributes only the kernel taps inside the image, so at the
// borders of a padded Conv the uniform fold is approximate (the summary says where). With
// `borderCorrection: true` (opt-in) an Add of a constant [O, H_out, W_out] correction after the conv
// makes it exact, at the cost of a new node and tensor.
// Element types: FLOAT, DOUBLE, FLOAT16 and BFLOAT16 weights, biases and BN statistics are read and
// written in their own type. QDQ models: nothing is folded through a QuantizeLinear or into a layer
// whose weight or bias is dequantised from integers (not exact; the summary says so).
import { mapChannel, removedChannels, type ChannelGroup, type GroupMember } from '../analysis/types.ts';
import { attrFloat, attrInt, attrInts, attrString, type Graph } from '../graph/graph.ts';
import { forEachRowBlock, LITTLE_ENDIAN, tensorDims, tensorRawBytes, tensorToFloat32 } from '../onnx/model.ts';
import { DataType, type NodeProto, type TensorProto } from '../onnx/proto.ts';
import { batchBinding } from '../graph/cost.ts';
import { dequantizeOf } from '../graph/quant.ts';
import { inferShapes, numericShape, type ShapeInference } from '../graph/shapes.ts';
import { nodeFacts, weightedFacts, type ConstantRule } from '../graph/operators.ts';
import { foldWithAllVariance } from './fold-kernel.ts';

export interface CompensationOptions {
  /**
   * For a consuming Conv with zero padding, add the exact border correction (a constant tensor
   * [O, H_out, W_out] added after the conv) when its spatial shape is static. Default false: the
   * uniform fold only (approximate at the borders, the graph keeps its nodes).
   */
  borderCorrection?: boolean;
}

/** A constant [O, H_out, W_out] to add after a padded consumer conv so that compensation is exact at the borders. */
export interface BorderCorrection {
  dims: number[];
  data: Float64Array;
}

/** One layer whose bias absorbed removed channels' constants. */
export interface CompensatedLayer {
  name: string;
  op: string;
  /** Removed channels folded into this layer. */
  channels: number;
  /** True when the fold reproduces the removed channels' contribution exactly (up to float rounding). */
  exact: boolean;
  /** Why it is approximate, when it is. */
  reason?: string;
  /** Whether a bias had to be created. */
  createdBias?: boolean;
  /** The BatchNormalization whose running mean took the constant (instead of a bias). */
  foldedIntoBn?: string;
  /** Whether a constant border correction (an Add after the conv) makes a padded conv exact. */
  borderCorrection?: boolean;
  /** Whether the running variance of the BatchNormalization after it was scaled to the kept inputs' share. */
  varianceScaled?: boolean;
}

export interface CompensationSummary {
  enabled: boolean;
  /** Removed channels whose output is exactly a constant (BN γ = 0, or an all-zero filter of a conv with BN folded in). */
  constantChannels: number;
  /** Removed channels with a BN γ ≠ 0, compensated by their expected output. */
  estimatedChannels: number;
  /** Of those, channels folded into at least one consumer. */
  channelsCompensated: number;
  layers: CompensatedLayer[];
  /** Paths along which a constant could not be followed (node and reason). */
  skipped: { node: string; channels: number; reason: string }[];
}

export interface PrunedGroup {
  group: ChannelGroup;
  kept: number[];
  removed: number[];
}

/**
 * A removed channel's value on a tensor, as a normal distribution N(mean, std²): std 0 is a constant.
 * `why` says why `mean` is only an estimate of what the original computes there (undefined: exact).
 */
interface ChannelValue {
  mean: number;
  std: number;
  why?: string;
}
type ChannelConsts = Map<number, ChannelValue>;

export interface CompensationPlan {
  /** Per consumer node: the delta to add to its full (unsliced) bias vector. */
  biasDeltas: Map<string, Float64Array>;
  /** Per BatchNormalization node: the delta to add to its full running mean (−d of the layer before it). */
  meanDeltas: Map<string, Float64Array>;
  /** Per BatchNormalization node: the factor of its full running variance (the share of the variance the kept inputs carry). */
  varScales: Map<string, Float64Array>;
  /** Per padded consumer Conv: the border correction (what the bias delta over-counts where padding enters the window). */
  borders: Map<string, BorderCorrection>;
  summary: CompensationSummary;
  warnings: string[];
}

/** Standard normal density φ. */
function normPdf(t: number): number {
  return Math.exp(-0.5 * t * t) / Math.sqrt(2 * Math.PI);
}

/** Standard normal distribution function Φ (through erfc, accurate in the tails). */
function normCdf(t: number): number {
  return t >= 0 ? 1 - 0.5 * erfc(t / Math.SQRT2) : 0.5 * erfc(-t / Math.SQRT2);
}

function erfc(x: number): number {
  // Numerical Recipes erfcc (Chebyshev fit, relative error < 1.2e-7 everywhere), x >= 0 here.
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? r : 2 - r;
}

/**
 * Mean and standard deviation of clip(z, lo, hi) for z ~ N(m, s²), s > 0 (lo, hi may be infinite).
 * ReLU is clip(z, 0, ∞): E = m·Φ(m/s) + s·φ(m/s), the expected value Nagel et al. (2019) fold.
 *   E[clip]  = lo·Φ(A) + hi·(1 − Φ(B)) + m·(Φ(B) − Φ(A)) + s·(φ(A) − φ(B))
 *   E[clip²] = lo²·Φ(A) + hi²·(1 − Φ(B)) + (m² + s²)·(Φ(B) − Φ(A)) + 2ms·(φ(A) − φ(B)) + s²·(A·φ(A) − B·φ(B))
 * with A = (lo − m)/s, B = (hi − m)/s.
 */
export function clippedNormalMoments(m: number, s: number, lo: number, hi: number): { mean: number; std: number } {
  const A = (lo - m) / s;
  const B = (hi - m) / s;
  const pA = lo === -Infinity ? 0 : normCdf(A);
  const pB = hi === Infinity ? 1 : normCdf(B);
  const dA = lo === -Infinity ? 0 : normPdf(A);
  const dB = hi === Infinity ? 0 : normPdf(B);
  const tailLo = pA === 0 ? 0 : lo * pA;
  const tailHi = pB === 1 ? 0 : hi * (1 - pB);
  const mean = tailLo + tailHi + m * (pB - pA) + s * (dA - dB);
  const second = (pA === 0 ? 0 : lo * lo * pA) + (pB === 1 ? 0 : hi * hi * (1 - pB)) + (m * m + s * s) * (pB - pA) + 2 * m * s * (dA - dB) + s * s * ((dA === 0 ? 0 : A * dA) - (dB === 0 ? 0 : B * dB));
  return { mean, std: Math.sqrt(Math.max(0, second - mean * mean)) };
}

/** Mean and standard deviation of f(z) for z ~ N(m, s²), by Simpson's rule over m ± 8s (kinks cost O(h²)). */
export function normalMoments(f: (x: number) => number, m: number, s: number): { mean: number; std: number } {
  const n = 1600;
  const h = 16 / n;
  let e1 = 0;
  let e2 = 0;
  for (let i = 0; i <= n; i++) {
    const t = -8 + i * h;
    const w = (i === 0 || i === n ? 1 : i % 2 ? 4 : 2) * normPdf(t);
    const y = f(m + s * t);
    e1 += w * y;
    e2 += w * y * y;
  }
  e1 *= h / 3;
  e2 *= h / 3;
  return { mean: e1, std: Math.sqrt(Math.max(0, e2 - e1 * e1)) };
}

/** The constant rule of a node's operator (from the registry), or undefined when compensation stops at it. */
function constantRule(node: NodeProto): ConstantRule | undefined {
  return nodeFacts(node)?.constant;
}

/**
 * The expected value (and spread) of an element-wise activation of z ~ N(m, s²): closed form for the
 * activations that clip (Relu, Clip), numerical integration for the others; an operator that moves values
 * (identity, pooling, reshaping) passes both. s = 0 gives f(m) exactly. Undefined for an op whose registry
 * entry is neither.
 */
export function expectedActivation(node: NodeProto, graph: Graph, m: number, s: number): { mean: number; std: number } | undefined {
  return activationMoments(node, graph)?.(m, s);
}

/**
 * expectedActivation for one node, its operator's rule and clipping bounds looked up once: for
 * the channels of a tensor, one lookup instead of one per channel.
 */
function activationMoments(node: NodeProto, graph: Graph): ((m: number, s: number) => { mean: number; std: number } | undefined) | undefined {
  const rule = constantRule(node);
  if (rule?.kind === 'move') return (m, s) => ({ mean: m, std: s });
  if (rule?.kind !== 'activation') return undefined;
  const f = rule.f;
  const clip = rule.clip?.(node, graph);
  const clips = clip !== undefined && !Number.isNaN(clip[0]) && !Number.isNaN(clip[1]) && clip[0] < clip[1];
  return (m, s) => {
    if (s === 0) return { mean: f(m, node, graph), std: s };
    if (clips) return clippedNormalMoments(m, s, clip![0], clip![1]);
    const r = normalMoments((x) => f(x, node, graph), m, s);
    return Number.isFinite(r.mean) && Number.isFinite(r.std) ? r : undefined;
  };
}

/** The arithmetic of a float weighted layer (registry), or undefined for any other operator. */
function floatLayerKind(op: string): 'conv' | 'convTranspose' | 'gemm' | 'matmul' | undefined {
  const w = weightedFacts(op);
  return w && !w.quantized ? w.kind : undefined;
}

/** True when expectedActivation knows the operator: an element-wise activation, or an operator that moves values. */
function followsValues(rule: ConstantRule | undefined): boolean {
  return rule?.kind === 'activation' || rule?.kind === 'move';
}

function hasZeroPadding(n: NodeProto): string | undefined {
  const autoPad = attrString(n, 'auto_pad', 'NOTSET');
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return `${n.op_type} ${n.name} pads with zeros (auto_pad ${autoPad}): approximate at the borders`;
  const pads = attrInts(n, 'pads') ?? [];
  if (pads.some((p) => p !== 0)) return `${n.op_type} ${n.name} pads with zeros (pads [${pads.join(', ')}]): approximate at the borders`;
  return undefined;
}

/** A (group, channel) pair as one number: group id · CHANNEL_KEYS + channel (channels are fewer). */
const CHANNEL_KEYS = 2 ** 24;

/**
 * Works out, for every pruned group, which removed channels output a constant, follows those constants
 * to the consuming layers and returns the bias deltas (on the original, unsliced biases) with a summary.
 */
export function planCompensation(graph: Graph, pruned: PrunedGroup[], opts: CompensationOptions & { enabled?: boolean } = {}): CompensationPlan {
  const summary: CompensationSummary = { enabled: opts.enabled !== false, constantChannels: 0, estimatedChannels: 0, channelsCompensated: 0, layers: [], skipped: [] };
  const biasDeltas = new Map<string, Float64Array>();
  const meanDeltas = new Map<string, Float64Array>();
  const varScales = new Map<string, Float64Array>();
  // Input channels each consuming Conv loses (its 'in' member's indices), for the variance correction.
  const lostInputs = new Map<string, Set<number>>();
  const borders = new Map<string, BorderCorrection>();
  let shapes: ShapeInference | undefined;
  const shapeOf = (v: string): number[] | undefined => {
    shapes ??= inferShapes(graph, { dims: batchBinding(graph).dims });
    return numericShape(shapes.shapes.get(v));
  };
  const warnings: string[] = [];
  if (opts.enabled === false) return { biasDeltas, meanDeltas, varScales, borders, summary, warnings };
  const layerInfo = new Map<string, CompensatedLayer & { reasons: Set<string>; folded: Set<number> }>();
  const li0 = (name: string) => {
    let li = layerInfo.get(name);
    if (!li) {
      const node = graph.byName.get(name)!;
      const target = foldTarget(graph, node);
      layerInfo.set(name, (li = {
        name, op: node.op_type ?? '', channels: 0, exact: true, reasons: new Set(), folded: new Set(),
        ...(target.kind === 'create' ? { createdBias: true } : target.kind === 'bn' ? { foldedIntoBn: target.bn.name ?? '' } : {}),
      }));
    }
    return li;
  };
  const skipped = new Map<string, { node: string; channels: Set<string>; reason: string }>();
  const skip = (node: NodeProto, gid: number, c: number, reason: string) => {
    const key = `${node.name}\u0000${reason}`;
    let s = skipped.get(key);
    if (!s) skipped.set(key, (s = { node: node.name ?? '', channels: new Set(), reason }));
    s.channels.add(`${gid}:${c}`);
  };

  const moments = momentsOf(graph);
  // Per consuming Conv: the lost channels' variance terms computed while folding (keptVarianceShare
  // reads them instead of the weight again), and how many lost channels they cover.
  const foldedVariance = new Map<string, { sum: Float64Array; channels: number }>();
  let position: Map<string, number> | undefined;
  // Per value, the position of its last consumer: a group's walk ends past the last one of its constants.
  let lastUse: Map<string, number> | undefined;
  for (const { group, removed } of pruned) {
    const removedSet = new Set(removed);
    const consts = new Map<string, ChannelConsts>();
    const memberOf = new Map<string, GroupMember[]>();
    for (const m of group.members) {
      let l = memberOf.get(m.node);
      if (!l) memberOf.set(m.node, (l = []));
      l.push(m);
    }
    for (const m of group.members) {
      if (m.role !== 'in' || floatLayerKind(m.op) !== 'conv') continue;
      let l = lostInputs.get(m.node);
      if (!l) lostInputs.set(m.node, (l = new Set()));
      for (const c of removed) for (const i of mapChannel(m, c)) l.add(i);
    }
    const bnSet = new Set(group.bnNodes);
    const layerSet = new Set(group.layers);
    const constantChannels = new Set<number>();
    const estimated = new Set<number>();
    const foldedChannels = new Set<number>();

    // Constants start at the group's BatchNormalizations and layers: nothing before the first of them carries one.
    const at = position ?? (position = new Map(graph.order.map((n, i) => [n.name ?? '', i])));
    const uses = lastUse ?? (lastUse = lastUses(graph));
    let from = graph.order.length;
    let until = -1;
    for (const n of [...bnSet, ...layerSet]) {
      from = Math.min(from, at.get(n) ?? 0);
      until = Math.max(until, at.get(n) ?? graph.order.length);
    }
    const carry = (value: string, c: ChannelConsts) => {
      consts.set(value, c);
      until = Math.max(until, uses.get(value) ?? -1);
    };
    for (let i = from; i < graph.order.length && i <= until; i++) {
      const node = graph.order[i];
      const op = node.op_type ?? '';
      const name = node.name ?? '';
      const inputs = node.input.map((i) => (i ? consts.get(i) : undefined));
      const anyIn = inputs.findIndex((x) => x !== undefined && x.size > 0);

      // Origins: BN with near-zero γ, conv with an all-zero filter.
      if (op === 'BatchNormalization' && bnSet.has(name)) {
        const out = bnConsts(graph, node, removedSet, inputs[0], estimated);
        if (out.size) {
          for (const c of out.keys()) constantChannels.add(c);
          carry(node.output[0], out);
        }
        continue;
      }
      if (anyIn < 0) {
        // A BN folded into the conv (no BN in the group) leaves an all-zero filter where γ was 0.
        if (!bnSet.size && layerSet.has(name) && floatLayerKind(op) === 'conv' && attrInt(node, 'group', 1) === 1) {
          const out = zeroFilterConsts(graph, node, removedSet);
          if (out.size) {
            for (const c of out.keys()) constantChannels.add(c);
            carry(node.output[0], out);
          }
        }
        continue;
      }
      const x = inputs[anyIn]!;
      const members = memberOf.get(name) ?? [];
      const inMember = members.find((m) => m.role === 'in');
      const consumer = floatLayerKind(op);
      if (inMember && anyIn === 0 && (consumer === 'conv' || consumer === 'gemm' || consumer === 'matmul')) {
        const target = foldTarget(graph, node);
        const variance = consumer === 'conv' && target.kind === 'bn' ? lostVarianceOf(graph, node, inMember, removed, moments) : undefined;
        const r = foldInto(graph, node, inMember, x, opts.borderCorrection === true ? shapeOf : undefined, variance);
        if ('skip' in r) {
          for (const c of x.keys()) skip(node, group.id, c, r.skip);
          continue;
        }
        if (r.allVariance) varianceCache(graph).set(name, r.allVariance);
        if (r.lostVariance) {
          const known = foldedVariance.get(name);
          if (!known) foldedVariance.set(name, { sum: r.lostVariance, channels: variance!.lost.length });
          else {
            for (let i = 0; i < known.sum.length; i++) known.sum[i] += r.lostVariance[i];
            known.channels += variance!.lost.length;
          }
        }
        if (target.kind === 'bn') {
          // BN(x + d) = BN(x) with the running mean lowered by d.
          const bnName = target.bn.name ?? '';
          let delta = meanDeltas.get(bnName);
          if (!delta) meanDeltas.set(bnName, (delta = new Float64Array(r.delta.length)));
          for (let i = 0; i < delta.length; i++) delta[i] -= r.delta[i];
        } else {
          let delta = biasDeltas.get(name);
          if (!delta) biasDeltas.set(name, (delta = new Float64Array(r.delta.length)));
          for (let i = 0; i < delta.length; i++) delta[i] += r.delta[i];
        }
        if (r.border) {
          li0(name).borderCorrection = true;
          const b = borders.get(name);
          if (!b) borders.set(name, r.border);
          else for (let i = 0; i < b.data.length; i++) b.data[i] += r.border.data[i];
        }
        const li = li0(name);
        for (const [c, cv] of x) {
          li.folded.add(group.id * CHANNEL_KEYS + c);
          foldedChannels.add(c);
          if (cv.why) li.reasons.add(cv.why);
        }
        if (r.why) li.reasons.add(r.why);
        continue;
      }
      const out = propagate(graph, node, inputs, anyIn, members, (c, reason) => skip(node, group.id, c, reason));
      if (out) {
        const o = node.output[0];
        const prev = consts.get(o);
        carry(o, prev ? new Map([...prev, ...out]) : out);
      }
    }
    summary.constantChannels += [...constantChannels].filter((c) => !estimated.has(c)).length;
    summary.estimatedChannels += [...constantChannels].filter((c) => estimated.has(c)).length;
    summary.channelsCompensated += foldedChannels.size;
  }

  // The running variance of the BatchNormalization after each consumer that lost inputs.
  for (const [name, lost] of lostInputs) {
    const node = graph.byName.get(name)!;
    const target = foldTarget(graph, node);
    if (target.kind !== 'bn' || attrInt(node, 'group', 1) !== 1) continue;
    const folded = foldedVariance.get(name);
    const scale = keptVarianceShare(graph, node, lost, moments, folded?.channels === lost.size ? folded.sum : undefined);
    if (!scale) continue;
    varScales.set(target.bn.name ?? '', scale);
    li0(name).varianceScaled = true;
  }

  for (const li of layerInfo.values()) {
    const reasons = [...li.reasons];
    summary.layers.push({
      name: li.name,
      op: li.op,
      channels: li.folded.size,
      exact: reasons.length === 0,
      ...(reasons.length ? { reason: reasons.join('; ') } : {}),
      ...(li.createdBias ? { createdBias: true } : {}),
      ...(li.foldedIntoBn !== undefined ? { foldedIntoBn: li.foldedIntoBn } : {}),
      ...(li.borderCorrection ? { borderCorrection: true } : {}),
      ...(li.varianceScaled ? { varianceScaled: true } : {}),
    });
  }
  for (const s of skipped.values()) summary.skipped.push({ node: s.node, channels: s.channels.size, reason: s.reason });
  if (summary.skipped.length) warnings.push(`compensation could not follow ${summary.skipped.length} path(s); see compensation.skipped`);
  return { biasDeltas, meanDeltas, varScales, borders, summary, warnings };
}

/** Per value, the position in `graph.order` of the last node that reads it (none: not in the map). */
function lastUses(graph: Graph): Map<string, number> {
  const out = new Map<string, number>();
  graph.order.forEach((n, i) => {
    for (const v of n.input) if (v) out.set(v, i);
  });
  return out;
}

/** Where a consuming layer's constant output delta goes (see the file comment). */
export type FoldTarget = { kind: 'bn'; bn: NodeProto } | { kind: 'bias' } | { kind: 'create' };

/**
 * The fold target of a consuming layer: the running mean of the BatchNormalization that is the only
 * consumer of its output (inference mode, float running mean, one value per output channel), else its
 * bias, else a bias to create.
 */
export function foldTarget(graph: Graph, node: NodeProto): FoldTarget {
  const out = node.output[0];
  const consumers = out ? graph.consumersOf(out) : [];
  const isGraphOutput = graph.model.proto.graph?.output.some((o) => o.name === out) ?? false;
  if (consumers.length === 1 && !isGraphOutput) {
    const bn = consumers[0];
    if (bn.op_type === 'BatchNormalization' && (bn.domain ?? '') === '' && bn.input[0] === out && bn.input.filter((v) => v === out).length === 1 && attrInt(bn, 'training_mode', 0) === 0 && bn.input[3]) {
      const mt = graph.constantTensor(bn.input[3]);
      const gt = graph.constantTensor(bn.input[1] ?? '');
      if (mt && gt && isFloat(mt) && tensorDims(mt).length === 1 && tensorDims(mt)[0] === tensorDims(gt)[0]) return { kind: 'bn', bn };
    }
  }
  return node.input[2] ? { kind: 'bias' } : { kind: 'create' };
}

/** The pruned groups of a resolved plan (groups whose kept list is shorter than the group). */
export function prunedGroupsOf(groups: readonly ChannelGroup[], kept: ReadonlyMap<number, readonly number[]>): PrunedGroup[] {
  const out: PrunedGroup[] = [];
  for (const group of groups) {
    const k = kept.get(group.id);
    if (!k || k.length >= group.channels) continue;
    out.push({ group, kept: [...k].sort((a, b) => a - b), removed: removedChannels(group.channels, k) });
  }
  return out;
}

/**
 * The consuming layers compensation will give a new bias (no bias of their own and no BatchNormalization
 * right after), for the preview's parameter count. Cheap when no consumer of a pruned group could need one
 * (the usual conv → BN network); otherwise it follows the constants exactly as planCompensation does.
 */
export function compensationBiases(graph: Graph, pruned: PrunedGroup[]): Set<string> {
  const out = new Set<string>();
  const candidate = pruned.some(({ group }) =>
    group.members.some((m) => {
      if (m.role !== 'in' || (floatLayerKind(m.op) !== 'conv' && floatLayerKind(m.op) !== 'gemm')) return false;
      const n = graph.byName.get(m.node);
      return !!n && !n.input[2] && foldTarget(graph, n).kind === 'create';
    }),
  );
  if (!candidate) return out;
  for (const l of planCompensation(graph, pruned).summary.layers) if (l.createdBias) out.add(l.name);
  return out;
}

function bnConsts(graph: Graph, node: NodeProto, removed: Set<number>, input: ChannelConsts | undefined, estimated: Set<number>): ChannelConsts {
  const out: ChannelConsts = new Map();
  const gamma = graph.constantFloats(node.input[1]);
  const beta = graph.constantFloats(node.input[2]);
  const mean = graph.constantFloats(node.input[3]);
  const variance = graph.constantFloats(node.input[4]);
  if (!gamma || !beta || !mean || !variance) return out;
  const eps = attrFloat(node, 'epsilon', 1e-5);
  const why = `${node.name}: expected value of channels with γ ≠ 0`;
  for (const c of removed) {
    const known = input?.get(c);
    if (gamma[c] === 0) {
      // γ = 0: the output is exactly β whatever the input was.
      out.set(c, { mean: beta[c], std: 0 });
    } else if (known && known.std === 0 && !known.why) {
      // An exactly known constant input: so is the output.
      out.set(c, { mean: (gamma[c] * (known.mean - mean[c])) / Math.sqrt(variance[c] + eps) + beta[c], std: 0 });
    } else {
      // The running statistics normalise the input to mean 0, variance 1: the output is taken as N(β, γ²).
      out.set(c, { mean: beta[c], std: Math.abs(gamma[c]), why });
      estimated.add(c);
    }
  }
  return out;
}

/** Per-channel means and standard deviations of a tensor where the model's own statistics give them. */
type Moments = (value: string) => { mean: Float64Array; std: Float64Array } | undefined;

/** The moments of each graph, kept with it: they depend on the model only, not on the plan (a held model is pruned many times). */
const graphMoments = new WeakMap<Graph, Moments>();

/**
 * Data-free per-channel moments, memoised (per graph, across runs): a BatchNormalization's output is
 * N(β, γ²) (its running statistics normalise the input), element-wise activations take the expected
 * value and spread of that, identity-like and pooling ops pass them, a residual Add/Sub sums them
 * (independent operands), Concat joins them. Undefined wherever this does not hold or is unknown.
 */
function momentsOf(graph: Graph): Moments {
  let m = graphMoments.get(graph);
  if (!m) graphMoments.set(graph, (m = computeMoments(graph)));
  return m;
}

function computeMoments(graph: Graph): Moments {
  const memo = new Map<string, { mean: Float64Array; std: Float64Array } | undefined>();
  const get: Moments = (value) => {
    if (memo.has(value)) return memo.get(value);
    memo.set(value, undefined); // cycles cannot occur in a valid graph; this also bounds recursion on odd ones
    const r = compute(value);
    memo.set(value, r);
    return r;
  };
  const compute: Moments = (value) => {
    const node = graph.producer.get(value);
    if (!node || node.output[0] !== value) return undefined;
    const op = node.op_type ?? '';
    if ((node.domain ?? '') !== '') return undefined;
    if (op === 'BatchNormalization') {
      if (attrInt(node, 'training_mode', 0)) return undefined;
      const gamma = graph.constantFloats(node.input[1]);
      const beta = graph.constantFloats(node.input[2]);
      if (!gamma || !beta || gamma.length !== beta.length) return undefined;
      return { mean: Float64Array.from(beta), std: Float64Array.from(gamma, Math.abs) };
    }
    const rule = constantRule(node);
    if (followsValues(rule)) {
      const x = get(node.input[0]);
      const act = activationMoments(node, graph);
      if (!x || !act) return undefined;
      const mean = new Float64Array(x.mean.length);
      const std = new Float64Array(x.mean.length);
      for (let c = 0; c < mean.length; c++) {
        const e = act(x.mean[c], x.std[c]);
        if (!e) return undefined;
        mean[c] = e.mean;
        std[c] = e.std;
      }
      return { mean, std };
    }
    if (rule?.kind === 'averagePool') return get(node.input[0]);
    if (rule?.kind === 'arithmetic' && (rule.op === 'Add' || rule.op === 'Sub')) {
      const a = get(node.input[0]);
      const b = get(node.input[1]);
      if (!a || !b || a.mean.length !== b.mean.length) return undefined;
      const mean = new Float64Array(a.mean.length);
      const std = new Float64Array(a.mean.length);
      for (let c = 0; c < mean.length; c++) {
        const r = combine(rule.op, { mean: a.mean[c], std: a.std[c] }, { mean: b.mean[c], std: b.std[c] })!;
        mean[c] = r.mean;
        std[c] = r.std;
      }
      return { mean, std };
    }
    if (rule?.kind === 'concat' && attrInt(node, 'axis', 0) === 1) {
      const parts = node.input.map((i) => get(i));
      if (parts.some((p) => !p)) return undefined;
      const n = parts.reduce((a, p) => a + p!.mean.length, 0);
      const mean = new Float64Array(n);
      const std = new Float64Array(n);
      let o = 0;
      for (const p of parts) {
        mean.set(p!.mean, o);
        std.set(p!.std, o);
        o += p!.mean.length;
      }
      return { mean, std };
    }
    return undefined;
  };
  return get;
}

/**
 * The share of a Conv's output variance that its kept input channels carry, per output channel, for the
 * BatchNormalization after it: var' = var · Σ_kept V / Σ_all V with V(o, c) = std_c² · Σ_k W[o, c, k]²
 * (input channels taken as independent). Removing channels removes their variance as well as their mean;
 * without this the BN divides by the original variance and every later layer sees a shrunken signal.
 * Undefined when the input channels' moments are not known.
 */
function keptVarianceShare(graph: Graph, node: NodeProto, lost: Set<number>, moments: Moments, lostSums?: Float64Array): Float64Array | undefined {
  const m = moments(node.input[0]);
  const wt = graph.constantTensor(node.input[1]);
  if (!m || !wt) return undefined;
  const dims = tensorDims(wt);
  const [O, C] = dims;
  if (m.std.length !== C) return undefined;
  const k = dims.slice(2).reduce((a, b) => a * b, 1);
  const v = new Float64Array(C);
  for (let c = 0; c < C; c++) v[c] = m.std[c] * m.std[c];
  // Σ_kept V is computed as Σ_all V − Σ_lost V: Σ_all V per filter depends on the model only and is
  // kept for the graph, so a later plan on the same analysed model reads the lost channels' weights
  // only, and not at all when the fold already summed them (lostSums).
  const cached = varianceCache(graph);
  const known = cached.get(node.name ?? '');
  if (known && lostSums?.length === O) return varianceScale(known, lostSums);
  const all = known ?? new Float64Array(O);
  const lostSum = new Float64Array(O);
  const lostIdx = Int32Array.from([...lost].filter((c) => c >= 0 && c < C).sort((a, b) => a - b));
  // Each filter's sums run over the channels in order (all channels, and the lost ones); without
  // Σ_all V yet, both in one pass over the weight.
  const lostMask = new Uint8Array(C);
  for (const c of lostIdx) lostMask[c] = 1;
  forEachFilter(graph, wt, (w, first, rows) => {
    if (!known) filtersVariance(w, first, rows, C, k, v, all, { mask: lostMask, idx: lostIdx, out: lostSum });
    else filtersLostVariance(w, first, rows, C, k, v, lostIdx, lostSum);
  });
  if (!known) cached.set(node.name ?? '', all);
  return varianceScale(all, lostSum);
}

/** (Σ_all V − Σ_lost V) / Σ_all V per filter, never below 1% (a BN left with almost no input variance would amplify rounding noise). */
function varianceScale(all: Float64Array, lostSum: Float64Array): Float64Array {
  const scale = new Float64Array(all.length);
  for (let o = 0; o < all.length; o++) scale[o] = all[o] > 0 ? Math.max((all[o] - lostSum[o]) / all[o], 1e-2) : 1;
  return scale;
}

/** What foldInto needs to sum a consuming Conv's lost variance terms: V's channel weights (std²) and the member's lost channels, in order. */
interface LostVariance {
  v: Float64Array;
  lost: Int32Array;
  /** Σ_all V is not known yet for this Conv: sum it in the same pass (every channel is read). */
  all: boolean;
}

/** The lost variance terms' inputs for `node` (a Conv whose BN takes the variance correction) losing `removed` through member `m`, when its input moments are known. */
function lostVarianceOf(graph: Graph, node: NodeProto, m: GroupMember, removed: readonly number[], moments: Moments): LostVariance | undefined {
  if (attrInt(node, 'group', 1) !== 1) return undefined;
  const std = moments(node.input[0])?.std;
  const wt = graph.constantTensor(node.input[1]);
  if (!std || !wt || tensorDims(wt)[1] !== std.length) return undefined;
  const lost = new Set<number>();
  for (const c of removed) for (const i of mapChannel(m, c)) if (i >= 0 && i < std.length) lost.add(i);
  const v = new Float64Array(std.length);
  for (let c = 0; c < std.length; c++) v[c] = std[c] * std[c];
  return { v, lost: Int32Array.from([...lost].sort((a, b) => a - b)), all: !graphVariance.get(graph)?.has(node.name ?? '') };
}

/** Whether two index lists are equal, element by element. */
function sameIndices(a: readonly number[], b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * `filterVariance` over all C channels of each of `rows` filters (a block of w starting at filter
 * `first`), into out[first + r], and over the `lost` channels into lost.out[first + r]; four filters
 * side by side, each filter's sums over the channels in order (the same values as filterVariance).
 */
function filtersVariance(
  w: Float32Array, first: number, rows: number, C: number, k: number, v: Float64Array, out: Float64Array,
  lost: { mask: Uint8Array; idx: Int32Array; out: Float64Array },
): void {
  let r = 0;
  const stride = C * k;
  const mask = lost.mask;
  for (; r + 4 <= rows; r += 4) {
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    let l0 = 0, l1 = 0, l2 = 0, l3 = 0;
    const b0 = r * stride;
    const b1 = b0 + stride;
    const b2 = b1 + stride;
    const b3 = b2 + stride;
    for (let c = 0, o = 0; c < C; c++, o += k) {
      let q0: number, q1: number, q2: number, q3: number;
      if (k === 1) {
        // 1×1 kernels (most consumers of a bottleneck network): one weight per channel, no kernel loop
        const x0 = w[b0 + c], x1 = w[b1 + c], x2 = w[b2 + c], x3 = w[b3 + c];
        q0 = x0 * x0; q1 = x1 * x1; q2 = x2 * x2; q3 = x3 * x3;
      } else {
        q0 = 0; q1 = 0; q2 = 0; q3 = 0;
        for (let j = o; j < o + k; j++) {
          q0 += w[b0 + j] * w[b0 + j];
          q1 += w[b1 + j] * w[b1 + j];
          q2 += w[b2 + j] * w[b2 + j];
          q3 += w[b3 + j] * w[b3 + j];
        }
      }
      const vc = v[c];
      const t0 = vc * q0, t1 = vc * q1, t2 = vc * q2, t3 = vc * q3;
      a0 += t0; a1 += t1; a2 += t2; a3 += t3;
      if (mask[c]) {
        l0 += t0; l1 += t1; l2 += t2; l3 += t3;
      }
    }
    const i = first + r;
    out[i] = a0; out[i + 1] = a1; out[i + 2] = a2; out[i + 3] = a3;
    lost.out[i] = l0; lost.out[i + 1] = l1; lost.out[i + 2] = l2; lost.out[i + 3] = l3;
  }
  for (; r < rows; r++) {
    out[first + r] = filterVariance(w, r * stride, k, v, undefined, C);
    lost.out[first + r] = filterVariance(w, r * stride, k, v, lost.idx, lost.idx.length);
  }
}

/**
 * filterVariance over the channels `idx` of each of `rows` filters (a block of w from filter `first`),
 * into out[first + r]: four filters side by side, each channel's Σ_j w² and the filter's sum in the
 * same order (the same values).
 */
function filtersLostVariance(w: Float32Array, first: number, rows: number, C: number, k: number, v: Float64Array, idx: Int32Array, out: Float64Array): void {
  const stride = C * k;
  const n = idx.length;
  const whole = rows - (rows % 4);
  for (let r = 0; r < whole; r += 4) {
    const base = r * stride;
    let l0 = 0, l1 = 0, l2 = 0, l3 = 0;
    if (k === 1)
      // one tap: a channel's Σ_j w² is its one weight squared (0 + x² = x², the same sum)
      for (let t = 0; t < n; t++) {
        const c = idx[t];
        const x0 = w[base + c], x1 = w[base + stride + c], x2 = w[base + 2 * stride + c], x3 = w[base + 3 * stride + c];
        const vc = v[c];
        l0 += vc * (x0 * x0); l1 += vc * (x1 * x1); l2 += vc * (x2 * x2); l3 += vc * (x3 * x3);
      }
    else
      for (let t = 0; t < n; t++) {
        const c = idx[t];
        const at = base + c * k;
        let q0 = 0, q1 = 0, q2 = 0, q3 = 0;
        for (let j = at; j < at + k; j++) {
          const x0 = w[j], x1 = w[j + stride], x2 = w[j + 2 * stride], x3 = w[j + 3 * stride];
          q0 += x0 * x0; q1 += x1 * x1; q2 += x2 * x2; q3 += x3 * x3;
        }
        const vc = v[c];
        l0 += vc * q0; l1 += vc * q1; l2 += vc * q2; l3 += vc * q3;
      }
    out[first + r] = l0; out[first + r + 1] = l1; out[first + r + 2] = l2; out[first + r + 3] = l3;
  }
  for (let r = whole; r < rows; r++) out[first + r] = filterVariance(w, r * stride, k, v, idx, n);
}

/** Σ_c V[c] · Σ_j w[row + c·k + j]² over the channels `idx` (all `n` channels in order without it). */
function filterVariance(w: Float32Array, row: number, k: number, v: Float64Array, idx: Int32Array | undefined, n: number): number {
  let sum = 0;
  if (k === 1) {
    for (let t = 0; t < n; t++) {
      const c = idx ? idx[t] : t;
      const x = w[row + c];
      sum += v[c] * (x * x);
    }
    return sum;
  }
  for (let t = 0; t < n; t++) {
    const c = idx ? idx[t] : t;
    const at = row + c * k;
    let q = 0;
    for (let j = at; j < at + k; j++) q += w[j] * w[j];
    sum += v[c] * q;
  }
  return sum;
}

/** Per graph, per consumer Conv: Σ_c V(o, c) over all input channels, for keptVarianceShare. */
const graphVariance = new WeakMap<Graph, Map<string, Float64Array>>();

/** The graph's Σ_all V per consumer Conv (created empty on first use). */
function varianceCache(graph: Graph): Map<string, Float64Array> {
  let cached = graphVariance.get(graph);
  if (!cached) graphVariance.set(graph, (cached = new Map()));
  return cached;
}

function zeroFilterConsts(graph: Graph, node: NodeProto, removed: Set<number>): ChannelConsts {
  const out: ChannelConsts = new Map();
  const wt = graph.constantTensor(node.input[1]);
  if (!wt || !isFloat(wt)) return out;
  const dims = tensorDims(wt);
  const per = dims.slice(1).reduce((a, b) => a * b, 1);
  const bias = node.input[2] ? graph.constantFloats(node.input[2]) : undefined;
  const zero = new Set<number>();
  forEachFilter(graph, wt, (w, first, rows) => {
    for (let r = 0; r < rows; r++) {
      if (!removed.has(first + r)) continue;
      let all = true;
      for (let i = r * per; i < (r + 1) * per && all; i++) if (w[i] !== 0) all = false;
      if (all) zero.add(first + r);
    }
  });
  for (const c of removed) if (zero.has(c)) out.set(c, { mean: bias?.[c] ?? 0, std: 0 });
  return out;
}

/** FLOAT, DOUBLE, FLOAT16 or BFLOAT16: the element types compensation reads and writes. */
function isFloat(t: TensorProto): boolean {
  const dt = t.data_type ?? 0;
  return dt === DataType.FLOAT || dt === DataType.DOUBLE || dt === DataType.FLOAT16 || dt === DataType.BFLOAT16;
}

/** Floats per block of filters (256 KiB): a copied block is still in the CPU cache when it is used. */
const FILTER_BLOCK_FLOATS = 2 ** 16;

/**
 * Calls `fn` with the weight's filters (its rows along axis 0) a block at a time, so a large weight
 * is never copied whole: `block` holds `rows` filters from `first` on, row-major. Falls back to the
 * whole tensor as one block where the tensor cannot be read by rows (DOUBLE, a lazy slice).
 */
function forEachFilter(graph: Graph, t: TensorProto, fn: (block: Float32Array, first: number, rows: number) => void): void {
  if (forEachRowBlock(graph.model, t, fn, FILTER_BLOCK_FLOATS)) return;
  const dims = tensorDims(t);
  fn(floats(graph, t), 0, dims.length ? dims[0] : 1);
}

/** A float tensor's values, read only: a view of the raw bytes when they are aligned (little-endian host), else a copy. */
function floats(graph: Graph, t: TensorProto): Float32Array {
  const raw = t.data_type === 1 ? tensorRawBytes(graph.model, t) : undefined;
  if (raw && raw.byteLength % 4 === 0) {
    if (raw.byteOffset % 4 === 0 && LITTLE_ENDIAN) return new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    const out = new Float32Array(raw.byteLength / 4);
    new Uint8Array(out.buffer).set(raw);
    return out;
  }
  return tensorToFloat32(graph.model, t);
}

/** Constants on a node's first output from its inputs' constants, or undefined when they stop here. */
function propagate(
  graph: Graph,
  node: NodeProto,
  inputs: (ChannelConsts | undefined)[],
  anyIn: number,
  members: GroupMember[],
  skip: (c: number, reason: string) => void,
): ChannelConsts | undefined {
  const op = node.op_type ?? '';
  const x = inputs[anyIn]!;
  const rule = constantRule(node);
  switch (rule?.kind) {
    case 'activation':
    case 'move': {
      if (anyIn !== 0) break;
      const out: ChannelConsts = new Map();
      const act = activationMoments(node, graph);
      for (const [c, cv] of x) {
        const e = act?.(cv.mean, cv.std);
        if (e) out.set(c, { mean: e.mean, std: e.std, why: cv.why });
        else skip(c, `${op} ${node.name}: no expected value for this channel's distribution`);
      }
      return out;
    }
    case 'averagePool': {
      if (anyIn !== 0) break;
      const pad = hasZeroPadding(node);
      const why = pad && attrInt(node, 'count_include_pad', 0) ? pad : undefined;
      return mapConsts(x, why);
    }
    case 'pad': {
      if (anyIn !== 0) break;
      const mode = attrString(node, 'mode', 'constant');
      return mapConsts(x, mode === 'constant' ? `Pad ${node.name} adds constant borders` : undefined);
    }
    case 'concat':
      if (inputs.filter((i) => i && i.size).length !== 1) {
        for (const c of x.keys()) skip(c, `Concat ${node.name} joins several constant inputs`);
        return undefined;
      }
      return x;
    case 'depthwise': {
      if (!members.some((m) => m.role === 'depthwise') || anyIn !== 0) break;
      const wt = graph.constantTensor(node.input[1]);
      const w = wt ? floats(graph, wt) : undefined;
      if (!w || !wt) return undefined;
      const per = w.length / tensorDims(wt)[0];
      const b = node.input[2] ? graph.constantFloats(node.input[2]) : undefined;
      const why = hasZeroPadding(node);
      const out: ChannelConsts = new Map();
      for (const [c, cv] of x) {
        let s = 0;
        for (let i = c * per; i < (c + 1) * per; i++) s += w[i];
        // A uniform plane through the filter: const · Σ W + b (a distribution's spread scales the same way).
        out.set(c, { mean: cv.mean * s + (b?.[c] ?? 0), std: cv.std * Math.abs(s), why: cv.why ?? why });
      }
      return out;
    }
    case 'arithmetic': {
      const other = 1 - anyIn;
      const otherName = node.input[other];
      const otherConsts = inputs[other];
      const constVals = otherName ? graph.constantFloats(otherName) : undefined;
      const out: ChannelConsts = new Map();
      const channelDim = graph.constantTensor(otherName ?? '') ? tensorDims(graph.constantTensor(otherName)!) : undefined;
      for (const [c, cv] of x) {
        let o: ChannelValue | undefined;
        if (otherConsts?.has(c)) o = otherConsts.get(c);
        else if (constVals && constVals.length === 1) o = { mean: constVals[0], std: 0 };
        else if (constVals && channelDim && channelDim.filter((d) => d !== 1).length === 1 && c < constVals.length) o = { mean: constVals[c], std: 0 };
        if (!o) {
          skip(c, `${op} ${node.name}: the other operand of this channel is not known`);
          continue;
        }
        const a = anyIn === 0 ? cv : o;
        const b = anyIn === 0 ? o : cv;
        const r = combine(rule.op, a, b);
        if (!r) {
          skip(c, `${op} ${node.name}: divides by a channel that is not a constant`);
          continue;
        }
        out.set(c, { mean: r.mean, std: r.std, why: cv.why ?? o.why });
      }
      return out;
    }
    case 'quantize':
      for (const c of x.keys()) skip(c, QUANTIZED_REASON(`${op} ${node.name}`));
      return undefined;
  }
  for (const c of x.keys()) skip(c, `${op} ${node.name} is not followed by compensation`);
  return undefined;
}

/**
 * Why nothing is folded in a QDQ model: a quantised activation rounds the constant to its scale and
 * clips it, and a consumer's int32 bias (scale = input scale × weight scale) would round the fold again.
 */
const QUANTIZED_REASON = (where: string) =>
  `${where}: quantised (QDQ); a removed channel's constant is rounded by the activation's quantisation and a quantised consumer's int32 bias cannot take it exactly, so it is not compensated`;

/**
 * Where zero padding enters a conv's window, the constant input contributes only the kernel taps
 * that fall inside the image: correction[o, y, x] = Σ_{valid taps} K[o, tap] − Σ_{all taps} K[o, tap].
 * 2-D convs with static input and output shapes only; undefined otherwise.
 */
function borderCorrection(node: NodeProto, wDims: number[], kern: Float64Array, shapeOf: (v: string) => number[] | undefined): BorderCorrection | undefined {
  if (wDims.length !== 4) return undefined;
  const inShape = shapeOf(node.input[0]);
  const outShape = shapeOf(node.output[0]);
  if (!inShape || !outShape || inShape.length !== 4 || outShape.length !== 4) return undefined;
  const [O, , kh, kw] = wDims;
  const [, , H, W] = inShape;
  const [, , Ho, Wo] = outShape;
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const strides = attrInts(node, 'strides') ?? [1, 1];
  const dil = attrInts(node, 'dilations') ?? [1, 1];
  let pads = attrInts(node, 'pads') ?? [0, 0, 0, 0];
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const total = [0, 1].map((i) => Math.max(0, ([Ho, Wo][i] - 1) * strides[i] + ((i ? kw : kh) - 1) * dil[i] + 1 - (i ? W : H)));
    const lo = total.map((t) => (autoPad === 'SAME_UPPER' ? Math.floor(t / 2) : Math.ceil(t / 2)));
    pads = [lo[0], lo[1], total[0] - lo[0], total[1] - lo[1]];
  }
  // the kernel taps of output position o along spatial axis i that read inside the input (not padding)
  const validTaps = (i: 0 | 1, o: number): number[] => {
    const out: number[] = [];
    for (let a = 0; a < (i ? kw : kh); a++) {
      const at = o * strides[i] - pads[i] + a * dil[i];
      if (at >= 0 && at < (i ? W : H)) out.push(a);
    }
    return out;
  };
  const rows = Array.from({ length: Ho }, (_, y) => validTaps(0, y));
  const cols = Array.from({ length: Wo }, (_, xx) => validTaps(1, xx));
  const data = new Float64Array(O * Ho * Wo);
  const k = kh * kw;
  for (let o = 0; o < O; o++) {
    let full = 0;
    for (let j = 0; j < k; j++) full += kern[o * k + j];
    for (let y = 0; y < Ho; y++) {
      const ry = rows[y];
      for (let xx = 0; xx < Wo; xx++) {
        const cx = cols[xx];
        if (ry.length === kh && cx.length === kw) continue; // interior: the bias is exact
        let s = 0;
        for (const a of ry) for (const b of cx) s += kern[o * k + a * kw + b];
        data[(o * Ho + y) * Wo + xx] = s - full;
      }
    }
  }
  return { dims: [O, Ho, Wo], data };
}

function mapConsts(x: ChannelConsts, why?: string): ChannelConsts {
  const out: ChannelConsts = new Map();
  for (const [c, cv] of x) out.set(c, { mean: cv.mean, std: cv.std, why: cv.why ?? why });
  return out;
}

/**
 * a ∘ b for two channel values taken as independent (a residual Add of two removed channels: the means add
 * exactly, whatever the dependence; the spread assumes independence). Undefined for a division by a
 * channel that is not a constant.
 */
function combine(op: 'Add' | 'Sub' | 'Mul' | 'Div', a: ChannelValue, b: ChannelValue): { mean: number; std: number } | undefined {
  switch (op) {
    case 'Add':
      return { mean: a.mean + b.mean, std: Math.hypot(a.std, b.std) };
    case 'Sub':
      return { mean: a.mean - b.mean, std: Math.hypot(a.std, b.std) };
    case 'Mul': {
      const mean = a.mean * b.mean;
      const second = (a.mean * a.mean + a.std * a.std) * (b.mean * b.mean + b.std * b.std);
      return { mean, std: Math.sqrt(Math.max(0, second - mean * mean)) };
    }
    case 'Div':
      return b.std === 0 ? { mean: a.mean / b.mean, std: a.std / Math.abs(b.mean) } : undefined;
  }
  return undefined;
}

/** The bias delta of a consuming layer for the constants reaching its data input. */
/** The removed channels' constants as the consumer's input indices and means, in the channels' order (zero means left out). */
function foldTerms(x: ChannelConsts, m: GroupMember): { index: number[]; mean: number[] } {
  const index: number[] = [];
  const mean: number[] = [];
  for (const [c, cv] of x) {
    if (cv.mean === 0) continue;
    for (const idx of mapChannel(m, c)) {
      index.push(idx);
      mean.push(cv.mean);
    }
  }
  return { index, mean };
}

/**
 * The constants' kernel K[o, j] = Σ_t mean[t] · W[o, idx[t] + j] of `rows` filters (a block of w
 * from filter `first`, C·k weights each) into kern: four filters at a time, their sums side by
 * side, each in the channels' order.
 */
function foldFilters(w: Float32Array, first: number, rows: number, C: number, k: number, idx: Int32Array, mean: Float64Array, kern: Float64Array): void {
  const nt = idx.length;
  const stride = C * k;
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    const out = (first + r) * k;
    const b0 = r * stride, b1 = b0 + stride, b2 = b1 + stride, b3 = b2 + stride;
    for (let j = 0; j < k; j++) {
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let t = 0; t < nt; t++) {
        const at = idx[t] + j;
        const mt = mean[t];
        s0 += w[b0 + at] * mt;
        s1 += w[b1 + at] * mt;
        s2 += w[b2 + at] * mt;
        s3 += w[b3 + at] * mt;
      }
      kern[out + j] = s0;
      kern[out + k + j] = s1;
      kern[out + 2 * k + j] = s2;
      kern[out + 3 * k + j] = s3;
    }
  }
  for (; r < rows; r++) {
    const out = (first + r) * k;
    const row = r * stride;
    for (let j = 0; j < k; j++) {
      let acc = 0;
      for (let t = 0; t < nt; t++) acc += w[row + idx[t] + j] * mean[t];
      kern[out + j] = acc;
    }
  }
}

function foldInto(
  graph: Graph,
  node: NodeProto,
  m: GroupMember,
  x: ChannelConsts,
  shapeOf?: (v: string) => number[] | undefined,
  variance?: LostVariance,
): { delta: Float64Array; border?: BorderCorrection; why?: string; lostVariance?: Float64Array; allVariance?: Float64Array } | { skip: string } {
  const op = node.op_type ?? '';
  if (dequantizeOf(graph, node.input[1]) || dequantizeOf(graph, node.input[2])) return { skip: QUANTIZED_REASON(`${op} ${node.name}`) };
  const wt = graph.constantTensor(node.input[1]);
  if (!wt) return { skip: `${op} ${node.name}: weight is not a constant` };
  if (!isFloat(wt)) return { skip: `${op} ${node.name}: weight is not float` };
  const dims = tensorDims(wt);
  const kind = floatLayerKind(op);
  if (kind === 'matmul') return { skip: `MatMul ${node.name} has no bias to fold into` };
  if (node.input[2]) {
    const bt = graph.constantTensor(node.input[2]);
    if (!bt) return { skip: `${op} ${node.name}: bias is not a constant` };
    if (!isFloat(bt)) return { skip: `${op} ${node.name}: bias is not float` };
  }
  if (kind === 'conv') {
    if (attrInt(node, 'group', 1) !== 1) return { skip: `grouped Conv ${node.name}: not compensated` };
    const [O, C] = dims;
    const k = dims.slice(2).reduce((a, b) => a * b, 1);
    // The constants' kernel per output channel: K[o, j] = Σ_c k_c · W[o, c, j]; the bias takes Σ_j K[o, j].
    const kern = new Float64Array(O * k);
    const terms = foldTerms(x, m);
    if (terms.index.some((idx) => idx >= C)) return { skip: `Conv ${node.name}: channel index out of range` };
    // Filter by filter; each K[o, j] sums its terms in the channels' order. The work is one
    // multiply-add per (filter, removed channel, kernel tap): the removed channels' weights only.
    const nt = terms.index.length;
    const idx = Int32Array.from(terms.index, (c) => c * k);
    const mean = Float64Array.from(terms.mean);
    // The lost channels' share of each filter's output variance (keptVarianceShare) from the same
    // blocks of weights, when the folded channels are exactly the lost ones (in the same order).
    const lostVar = variance && sameIndices(terms.index, variance.lost) ? new Float64Array(O) : undefined;
    // On the first plan for this Conv, Σ_all V as well, in the same pass (one read of every weight
    // instead of the lost channels' twice and every channel once).
    const allVar = lostVar && variance!.all ? new Float64Array(O) : undefined;
    // Nothing to read when every constant is zero.
    if (nt > 0) {
      if (lostVar && allVar) {
        const lostMask = new Uint8Array(C);
        for (const c of terms.index) lostMask[c] = 1;
        const means = new Float64Array(C);
        for (let t = 0; t < nt; t++) means[terms.index[t]] = mean[t];
        const fold = foldWithAllVariance(C, k, lostMask, means, variance!.v, kern, lostVar, allVar);
        forEachFilter(graph, wt, fold.block);
      } else if (lostVar) {
        // the kernel, then each filter's lost variance from the same block (still in the CPU cache)
        const lost = Int32Array.from(terms.index);
        forEachFilter(graph, wt, (w, first, rows) => {
          foldFilters(w, first, rows, C, k, idx, mean, kern);
          filtersLostVariance(w, first, rows, C, k, variance!.v, lost, lostVar);
        });
      } else forEachFilter(graph, wt, (w, first, rows) => foldFilters(w, first, rows, C, k, idx, mean, kern));
    }
    const delta = new Float64Array(O);
    for (let o = 0; o < O; o++) for (let j = 0; j < k; j++) delta[o] += kern[o * k + j];
    if (node.input[2] && graph.constantFloats(node.input[2])!.length !== O) return { skip: `Conv ${node.name}: bias is not one value per output channel` };
    const withVar = lostVar && nt > 0 ? { lostVariance: lostVar, ...(allVar ? { allVariance: allVar } : {}) } : {};
    const padded = hasZeroPadding(node);
    if (!padded) return { delta, ...withVar };
    const border = shapeOf ? borderCorrection(node, dims, kern, shapeOf) : undefined;
    return border ? { delta, border, ...withVar } : { delta, why: padded, ...withVar };
  }
  if (kind === 'gemm') {
    if (attrInt(node, 'transA', 0)) return { skip: `Gemm ${node.name}: transA is not supported by compensation` };
    const transB = attrInt(node, 'transB', 0) !== 0;
    const alpha = attrFloat(node, 'alpha', 1);
    const beta = attrFloat(node, 'beta', 1);
    if (beta === 0) return { skip: `Gemm ${node.name}: beta is 0, the bias is unused` };
    const [r, cols] = dims;
    const N = transB ? r : cols;
    const K = transB ? cols : r;
    if (node.input[2] && graph.constantFloats(node.input[2])!.length !== N) return { skip: `Gemm ${node.name}: bias is broadcast, not one value per output` };
    const delta = new Float64Array(N);
    const terms = foldTerms(x, m);
    if (terms.index.some((i) => i >= K)) return { skip: `Gemm ${node.name}: feature index out of range` };
    // output by output, the sum over the features in the channels' order; with transB an output is a
    // row of W, read a block of rows at a time
    // (W[n, i] is at n·K + i with transB, else at i·N + n)
    const sum = (w: Float32Array, at: number, stride: number) => {
      let d = 0;
      for (let t = 0; t < terms.index.length; t++) d += ((alpha / beta) * w[at + terms.index[t] * stride]) * terms.mean[t];
      return d;
    };
    if (transB && alpha === beta) {
      // an output is a row of W, as a 1×1 Conv's filter: foldFilters' loop (the same products, (1·w)·m = w·m, in the same order)
      const idx = Int32Array.from(terms.index);
      const mean = Float64Array.from(terms.mean);
      forEachFilter(graph, wt, (w, first, rows) => foldFilters(w, first, rows, K, 1, idx, mean, delta));
    } else if (transB) {
      forEachFilter(graph, wt, (w, first, rows) => {
        for (let r = 0; r < rows; r++) delta[first + r] = sum(w, r * K, 1);
      });
    } else {
      const w = floats(graph, wt);
      for (let n = 0; n < N; n++) delta[n] = sum(w, n, N);
    }
    return { delta };
  }
  return { skip: `${op} ${node.name} is not a supported consumer` };
}
