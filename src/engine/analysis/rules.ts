// Channel rules for the dependency analysis: the code of each channel-rule kind that the operator
// registry (graph/operators.ts) names. Which operator follows which rule, with which parameters, is
// the operator's entry there; this file holds only what each kind does (CHANNEL_RULES).
//
// Each rule says which inputs carry data (a channel-carrying activation arriving at any other
// input freezes its group) and how the channel layout of the inputs becomes the layout of the
// outputs, adding group members (weights, parameters, shape constants) on the way. Every freeze
// names the node and why. An operator whose entry has no channel rule (or that has no entry) is
// unknown: any channel space reaching it is frozen with that reason.
import { attr, attrInt, attrInts, attrString, type Graph } from '../graph/graph.ts';
import type { NodeProto } from '../onnx/proto.ts';
import { dequantizeOf } from '../graph/quant.ts';
import { OPERATORS, nodeFacts, type ChannelRule } from '../graph/operators.ts';
import type { ChannelRewrite, GroupMember, MemberRole } from './types.ts';

/** A ChannelRewrite before its segments are known in group coordinates (the analysis adds them from the layout). */
export type PendingRewrite = ChannelRewrite extends infer R ? (R extends ChannelRewrite ? Omit<R, 'segs'> : never) : never;

/** A run of consecutive channel positions of a tensor that belong to one channel space. */
export interface Segment {
  /** Channel space (union-find id), or -1 for channels no group owns (e.g. from a graph input). */
  space: number;
  /** First channel of the space covered (the space's coordinate of this run's first position). */
  start: number;
  len: number;
}

/** How the channels of an activation tensor are laid out along its channel axis. */
export interface ChannelLayout {
  /** Axis holding the channels. */
  axis: number;
  rank: number;
  /** Segments in position order along the axis. */
  segs: Segment[];
  /** Entries per channel along the axis: 1 for activations, H*W after a flatten; undefined when not yet known. */
  block: number | undefined;
  /** Sizes of the axes after the channel axis, where known. */
  spatial?: (number | undefined)[];
}

/** What a rule may do; implemented by the analysis (groups.ts). */
export interface RuleContext {
  readonly graph: Graph;
  layout(value: string): ChannelLayout | undefined;
  setLayout(value: string, layout: ChannelLayout, node: NodeProto): void;
  /** Width of a channel space. */
  widthOf(space: number): number;
  /** A new channel space of `width` channels whose output channels come from `node`. */
  newSpace(width: number, node: NodeProto): number;
  /** Channel spaces that must keep the same indices, aligned position by position. False (and both frozen) when not alignable. */
  unite(a: ChannelLayout, b: ChannelLayout, node: NodeProto): boolean;
  freeze(layout: ChannelLayout, reason: string): void;
  freezeSpace(space: number, reason: string): void;
  addMember(space: number, m: GroupMember): void;
  /** One member per owned segment of `layout` (mapping and span computed from the segment's position). */
  addSegmentMembers(layout: ChannelLayout, base: Omit<GroupMember, 'mapping' | 'span' | 'start'>, block?: number): void;
  addLayer(space: number, node: NodeProto): void;
  addBn(space: number, node: NodeProto): void;
  /** Channels of the space must be removed in equal numbers from `divisor` equal blocks; `by` names the node asking. */
  requireDivisor(space: number, divisor: number, by: string): void;
  /**
   * Ties channel r of the space with r + w/fold, r + 2w/fold ... (w its width): they are removed together,
   * so the group has w/fold channels and each member is repeated per block. `by` names the node asking.
   */
  requireFold(space: number, fold: number, by: string): void;
  /** Shape of any value where known (shapes option, value_info, constants). */
  shapeOf(value: string): (number | string)[] | undefined;
  /** Values of a small integer tensor computed in the graph (shape arithmetic), symbolic entries as strings. */
  constValue(value: string): (number | string)[] | undefined;
  /** A pattern rewritten whole after pruning, from the kept channels of `layout` (its input). */
  addRewrite(rewrite: PendingRewrite, layout: ChannelLayout): void;
  /** Constant source name of input `index` of `node` and whether that constant is used elsewhere. */
  constantInput(node: NodeProto, index: number): { tensor: string; dims: number[]; shared: boolean } | undefined;
}

export interface OpRule {
  /** Inputs that carry activations ('all' for variadic element-wise ops). */
  data: 'all' | number[];
  apply(ctx: RuleContext, node: NodeProto): void;
}

/** `Op 'name'`, the way reasons name a node. */
export function nodeLabel(node: NodeProto): string {
  return `${node.op_type ?? '?'} '${node.name ?? ''}'`;
}

export function layoutWidth(l: ChannelLayout): number {
  let n = 0;
  for (const s of l.segs) n += s.len;
  return n;
}

/** Entries along the channel axis (channels × block), undefined when the block is unknown. */
export function layoutEntries(l: ChannelLayout): number | undefined {
  return l.block === undefined ? undefined : layoutWidth(l) * l.block;
}

/** Positions [from, from+len) of a layout as segments. */
export function sliceSegments(segs: Segment[], from: number, len: number): Segment[] {
  const out: Segment[] = [];
  let pos = 0;
  const end = from + len;
  for (const s of segs) {
    const a = Math.max(pos, from);
    const b = Math.min(pos + s.len, end);
    if (b > a) out.push({ space: s.space, start: s.start + (a - pos), len: b - a });
    pos += s.len;
  }
  return out;
}

/** The segments of the positions `order` (in that order) of a layout, consecutive channels merged. */
function pickSegments(from: Segment[], order: readonly number[]): Segment[] {
  const segs: Segment[] = [];
  for (const q of order) {
    const [piece] = sliceSegments(from, q, 1);
    const last = segs[segs.length - 1];
    if (last && last.space === piece.space && (piece.space < 0 || last.start + last.len === piece.start)) last.len++;
    else segs.push({ ...piece });
  }
  return segs;
}

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Product of the sizes after the channel axis: tracked spatial sizes, else the value's known shape. */
function innerSize(ctx: RuleContext, value: string, l: ChannelLayout): number | undefined {
  const p = product(l.spatial);
  if (p !== undefined) return p;
  const s = ctx.shapeOf(value);
  if (!s || s.length !== l.rank) return undefined;
  return product(s.slice(l.axis + 1).map((d) => (typeof d === 'number' && d >= 0 ? d : undefined)));
}

function product(xs: (number | undefined)[] | undefined): number | undefined {
  if (!xs) return undefined;
  let p = 1;
  for (const x of xs) {
    if (x === undefined) return undefined;
    p *= x;
  }
  return p;
}

/** Integer values of a constant input (int64 shapes, axes, pads), or undefined when absent or not constant. */
function constInts(ctx: RuleContext, node: NodeProto, index: number): number[] | undefined {
  const name = node.input[index];
  if (!name) return undefined;
  return ctx.graph.constantInts(name);
}

function hasInput(node: NodeProto, index: number): boolean {
  return !!node.input[index];
}

function copyLayout(l: ChannelLayout, spatial: (number | undefined)[] | undefined = l.spatial): ChannelLayout {
  return { axis: l.axis, rank: l.rank, segs: l.segs, block: l.block, spatial };
}

/**
 * A rule on the channels of input 0, the only data input: `apply` runs when that input carries
 * channels (with the node's label for reasons), and nothing happens otherwise.
 */
function onChannels(apply: (ctx: RuleContext, node: NodeProto, l: ChannelLayout, label: string) => void): OpRule {
  return {
    data: [0],
    apply(ctx, node) {
      const l = ctx.layout(node.input[0]);
      if (l) apply(ctx, node, l, nodeLabel(node));
    },
  };
}

/**
 * A rule for a weighted layer: it runs whether or not input 0 carries channels (`l` undefined when
 * it does not), since the layer's output channels are a new space either way.
 */
function onLayer(apply: (ctx: RuleContext, node: NodeProto, l: ChannelLayout | undefined, label: string) => void): OpRule {
  return { data: [0], apply: (ctx, node) => apply(ctx, node, ctx.layout(node.input[0]), nodeLabel(node)) };
}

// ---------------------------------------------------------------- pass-through

/** The channel index passes through unchanged (element-wise unary ops). */
const passThrough = onChannels((ctx, node, l) => {
  if (node.output[0]) ctx.setLayout(node.output[0], copyLayout(l), node);
});

/** Element-wise with extra inputs that must be constants (Clip min/max). */
const passThroughConstInputs = onChannels((ctx, node, l) => {
  for (let i = 1; i < node.input.length; i++) {
    if (hasInput(node, i) && !ctx.graph.isConstant(node.input[i])) {
      ctx.freeze(l, `${nodeLabel(node)} has a non-constant input '${node.input[i]}'`);
      return;
    }
  }
  if (node.output[0]) ctx.setLayout(node.output[0], copyLayout(l), node);
});

/**
 * A constant operand broadcast against a channel-carrying layout: nothing when its channel
 * dimension is 1 or absent, a 'param' member sliced along that dimension when it is per channel.
 * Returns false (after freezing) when the shapes do not fit.
 */
function broadcastConstant(ctx: RuleContext, node: NodeProto, index: number, ref: ChannelLayout, outRank: number, role: MemberRole = 'param'): boolean {
  const c = ctx.constantInput(node, index);
  if (!c) return false;
  const entries = layoutEntries(ref);
  const chanOut = ref.axis + (outRank - ref.rank);
  const ci = chanOut - (outRank - c.dims.length);
  if (ci < 0 || c.dims[ci] === 1) return true;
  if (entries !== undefined && c.dims[ci] === entries) {
    ctx.addSegmentMembers(ref, { node: node.name!, op: node.op_type!, role, tensor: c.tensor, inputIndex: index, axis: ci, shared: c.shared }, ref.block);
    return true;
  }
  ctx.freeze(ref, `${nodeLabel(node)} broadcasts '${node.input[index]}' (dims [${c.dims.join(',')}]) against ${entries ?? '?'} channels`);
  return false;
}

// ---------------------------------------------------------------- element-wise n-ary (residual connections, gates)

const elementwise: OpRule = {
  data: 'all',
  apply(ctx, node) {
    const tracked: ChannelLayout[] = [];
    const constants: number[] = [];
    const others: number[] = [];
    let rank = 0;
    node.input.forEach((name, i) => {
      if (!name) return;
      const l = ctx.layout(name);
      if (l) {
        tracked.push(l);
        rank = Math.max(rank, l.rank);
      } else if (ctx.constantInput(node, i)) {
        constants.push(i);
        rank = Math.max(rank, ctx.constantInput(node, i)!.dims.length);
      } else {
        others.push(i);
        rank = Math.max(rank, ctx.shapeOf(name)?.length ?? 0);
      }
    });
    if (tracked.length === 0) return;
    const label = nodeLabel(node);
    const axes = new Set(tracked.map((l) => l.axis + (rank - l.rank)));
    if (axes.size > 1) {
      for (const l of tracked) ctx.freeze(l, `${label} combines tensors whose channel axes do not line up`);
      return;
    }
    const chanAxis = [...axes][0];
    let ref = tracked[0];
    for (const l of tracked) if ((layoutEntries(l) ?? 0) > (layoutEntries(ref) ?? 0)) ref = l;
    const width = layoutEntries(ref);
    let ok = width !== undefined;
    for (const l of tracked) {
      if (l === ref) continue;
      const w = layoutEntries(l);
      if (w === width && l.block === ref.block) ok = ctx.unite(ref, l, node) && ok;
      else if (w === 1) ctx.freeze(l, `${label} broadcasts its single channel across ${width} channels`);
      else {
        ctx.freeze(l, `${label} combines ${w ?? '?'} with ${width ?? '?'} channels`);
        ok = false;
      }
    }
    if (!ok) {
      ctx.freeze(ref, `${label} cannot align the channels of its inputs`);
      return;
    }
    for (const i of constants) if (!broadcastConstant(ctx, node, i, ref, rank)) return;
    for (const i of others) {
      // An input no group owns: fine only when provably broadcast along the channel axis (a spatial mask).
      const shape = ctx.shapeOf(node.input[i]);
      const d = shape ? shape[chanAxis - (rank - shape.length)] : undefined;
      if (shape && (d === undefined || d === 1)) continue;
      ctx.freeze(ref, shape
        ? `${label} combines the channels with input '${node.input[i]}' whose channels no group owns`
        : `${label}: cannot prove that input '${node.input[i]}' leaves the channels alone (unknown shape)`);
      return;
    }
    let spatial: (number | undefined)[] | undefined;
    if (tracked.every((l) => l.rank === rank && l.spatial)) {
      spatial = ref.spatial!.map((_, k) => {
        let v: number | undefined = 1;
        for (const l of tracked) {
          const d = l.spatial![k];
          if (d === undefined) v = undefined;
          else if (v !== undefined && d !== 1) v = d;
        }
        return v;
      });
    }
    if (node.output[0]) ctx.setLayout(node.output[0], { axis: chanAxis, rank, segs: ref.segs, block: ref.block, spatial }, node);
  },
};

// ---------------------------------------------------------------- normalization

function perChannelParams(params: readonly number[], batchNorm: boolean): OpRule {
  return onChannels((ctx, node, l) => {
    if (l.axis !== 1) {
      ctx.freeze(l, `${nodeLabel(node)} normalises axis 1, which is not the channel axis here`);
      return;
    }
    for (const i of params) {
      if (!hasInput(node, i)) continue;
      const c = ctx.constantInput(node, i);
      if (!c || c.dims.length !== 1) {
        ctx.freeze(l, `${nodeLabel(node)} has a non-constant or non-vector parameter '${node.input[i]}'`);
        return;
      }
    }
    for (const i of params) {
      if (!hasInput(node, i)) continue;
      const c = ctx.constantInput(node, i)!;
      ctx.addSegmentMembers(l, { node: node.name!, op: node.op_type!, role: 'param', tensor: c.tensor, inputIndex: i, axis: 0, shared: c.shared });
    }
    if (batchNorm) for (const s of l.segs) if (s.space >= 0) ctx.addBn(s.space, node);
    if (node.output[0]) ctx.setLayout(node.output[0], copyLayout(l), node);
  });
}

const prelu = onChannels((ctx, node, l) => {
  if (!ctx.constantInput(node, 1)) {
    ctx.freeze(l, `${nodeLabel(node)} has a non-constant slope '${node.input[1]}'`);
    return;
  }
  const rank = Math.max(l.rank, ctx.constantInput(node, 1)!.dims.length);
  if (!broadcastConstant(ctx, node, 1, l, rank)) return;
  if (node.output[0]) ctx.setLayout(node.output[0], copyLayout(l), node);
});

// ---------------------------------------------------------------- spatial ops

function spatialOut(node: NodeProto, inSp: (number | undefined)[] | undefined, kernel: number[] | undefined, opts: { transposed?: boolean; pool?: boolean } = {}): (number | undefined)[] | undefined {
  if (!inSp || !kernel || kernel.length !== inSp.length) return inSp ? inSp.map(() => undefined) : undefined;
  const n = inSp.length;
  const strides = attrInts(node, 'strides') ?? new Array<number>(n).fill(1);
  const dil = attrInts(node, 'dilations') ?? new Array<number>(n).fill(1);
  const pads = attrInts(node, 'pads') ?? new Array<number>(2 * n).fill(0);
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const ceil = opts.pool && attrInt(node, 'ceil_mode', 0) === 1;
  if (opts.transposed) {
    const outShape = attrInts(node, 'output_shape');
    if (outShape && outShape.length === n) return outShape;
    const outPad = attrInts(node, 'output_padding') ?? new Array<number>(n).fill(0);
    return inSp.map((d, i) => {
      if (d === undefined) return undefined;
      if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return d * strides[i];
      const p = autoPad === 'VALID' ? 0 : pads[i] + pads[i + n];
      return strides[i] * (d - 1) + outPad[i] + (kernel[i] - 1) * dil[i] + 1 - p;
    });
  }
  return inSp.map((d, i) => {
    if (d === undefined) return undefined;
    const ek = (kernel[i] - 1) * dil[i] + 1;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(d / strides[i]);
    const p = autoPad === 'VALID' ? 0 : pads[i] + pads[i + n];
    const v = (d + p - ek) / strides[i];
    return (ceil ? Math.ceil(v) : Math.floor(v)) + 1;
  });
}

/** Pooling keeps channel i at i; `outSpatial` gives the output's spatial sizes. */
function poolRule(outSpatial: (node: NodeProto, l: ChannelLayout) => (number | undefined)[] | undefined): OpRule {
  return onChannels((ctx, node, l) => {
    if (l.axis !== 1) {
      ctx.freeze(l, `${nodeLabel(node)} pools with channels on axis ${l.axis}, not 1`);
      return;
    }
    if (node.output[0]) ctx.setLayout(node.output[0], copyLayout(l, outSpatial(node, l)), node);
  });
}

const pool = poolRule((node, l) => spatialOut(node, l.spatial, attrInts(node, 'kernel_shape'), { pool: true }));
const globalPool = poolRule((_node, l) => new Array<number>(l.rank - 2).fill(1));

const pad = onChannels((ctx, node, l, label) => {
  const opset = ctx.graph.opset();
  const pads = opset >= 11 ? constInts(ctx, node, 1) : (attrInts(node, 'pads') ?? attrInts(node, 'paddings'));
  if (!pads) {
    ctx.freeze(l, `${label} has non-constant pads`);
    return;
  }
  let axes = Array.from({ length: l.rank }, (_, i) => i);
  if (opset >= 18 && hasInput(node, 3)) {
    const a = constInts(ctx, node, 3);
    if (!a) {
      ctx.freeze(l, `${label} has non-constant axes`);
      return;
    }
    axes = a.map((x) => normAxis(x, l.rank));
  }
  const k = axes.indexOf(l.axis);
  if (k >= 0 && (pads[k] !== 0 || pads[k + axes.length] !== 0)) {
    ctx.freeze(l, `${label} pads the channel axis (pads [${pads.join(',')}])`);
    return;
  }
  const spatial = l.spatial?.map((d, i) => {
    const ax = l.axis + 1 + i;
    const j = axes.indexOf(ax);
    return d === undefined || j < 0 ? d : d + pads[j] + pads[j + axes.length];
  });
  if (node.output[0]) ctx.setLayout(node.output[0], copyLayout(l, spatial), node);
});

/** Resize (opset 10+: roi, scales, sizes inputs) and Upsample (scales attribute before opset 9, input from 9). */
function resize(upsample: boolean): OpRule {
  return onChannels((ctx, node, l, label) => {
    const opset = ctx.graph.opset();
    let scales: number[] | undefined;
    let sizes: number[] | undefined;
    let sizesIndex = -1;
    if (upsample) {
      scales = opset < 9 ? attr(node, 'scales')?.floats : ctx.graph.constantFloats(node.input[1]) ? Array.from(ctx.graph.constantFloats(node.input[1])!) : undefined;
    } else if (opset < 11) {
      scales = ctx.graph.constantFloats(node.input[1]) ? Array.from(ctx.graph.constantFloats(node.input[1])!) : undefined;
    } else {
      if (hasInput(node, 3)) {
        sizes = constInts(ctx, node, 3);
        sizesIndex = 3;
        if (!sizes) {
          ctx.freeze(l, `${label} has non-constant sizes`);
          return;
        }
      } else if (hasInput(node, 2)) {
        const s = ctx.graph.constantFloats(node.input[2]);
        scales = s ? Array.from(s) : undefined;
      }
    }
    if (!scales && !sizes) {
      ctx.freeze(l, `${label} has non-constant or missing scales`);
      return;
    }
    const axesAttr = attrInts(node, 'axes');
    const axes = axesAttr ? axesAttr.map((a) => normAxis(a, l.rank)) : Array.from({ length: l.rank }, (_, i) => i);
    const k = axes.indexOf(l.axis);
    if (scales && k >= 0 && scales[k] !== 1) {
      ctx.freeze(l, `${label} scales the channel axis (scales [${scales.join(',')}])`);
      return;
    }
    if (sizes && k >= 0) {
      if (sizes[k] !== layoutEntries(l)) {
        ctx.freeze(l, `${label} resizes the channel axis (sizes [${sizes.join(',')}])`);
        return;
      }
      const c = ctx.constantInput(node, sizesIndex)!;
      ctx.addSegmentMembers(l, { node: node.name!, op: node.op_type!, role: 'shape', tensor: c.tensor, inputIndex: sizesIndex, axis: k, shared: c.shared });
    }
    const spatial = l.spatial?.map((d, i) => {
      const j = axes.indexOf(l.axis + 1 + i);
      if (j < 0) return d;
      if (sizes) return sizes[j];
      return d === undefined ? undefined : Math.floor(d * scales![j]);
    });
    if (node.output[0]) ctx.setLayout(node.output[0], copyLayout(l, spatial), node);
  });
}

// ---------------------------------------------------------------- weighted layers

/** Why a dequantised constant was not taken as one (read by several nodes), for a freeze reason; '' otherwise. */
function sharedDequantized(ctx: RuleContext, value: string | undefined): string {
  const dq = dequantizeOf(ctx.graph, value);
  return dq ? ` (dequantised by ${nodeLabel(dq.node)}, whose output other nodes read too)` : '';
}

function outMember(ctx: RuleContext, node: NodeProto, space: number, weightIndex: number, axis: number, bias: { index: number; width: number } | undefined): void {
  const w = ctx.constantInput(node, weightIndex)!;
  const m: GroupMember = { node: node.name!, op: node.op_type!, role: 'out', tensor: w.tensor, inputIndex: weightIndex, axis, mapping: { kind: 'identity' }, shared: w.shared };
  if (bias && hasInput(node, bias.index)) {
    const b = ctx.constantInput(node, bias.index);
    if (b && b.dims.length === 1 && b.dims[0] === bias.width) {
      m.bias = b.tensor;
      m.biasShared = b.shared;
    }
  }
  ctx.addMember(space, m);
}

/** Conv and ConvTranspose. Weight [C_out, C_in/group, k...] (Conv) or [C_in, C_out/group, k...] (ConvTranspose). */
function conv(transposed: boolean): OpRule {
  return onLayer((ctx, node, l, label) => {
    const x = node.input[0];
    const w = ctx.constantInput(node, 1);
    if (!w || w.dims.length < 3) {
      if (l) ctx.freeze(l, `${label} has a non-constant weight '${node.input[1]}'${sharedDequantized(ctx, node.input[1])}`);
      return;
    }
    if (hasInput(node, 2) && !ctx.constantInput(node, 2)) {
      if (l) ctx.freeze(l, `${label} has a non-constant bias '${node.input[2]}'${sharedDequantized(ctx, node.input[2])}`);
      return;
    }
    const group = attrInt(node, 'group', 1);
    const cin = transposed ? w.dims[0] : w.dims[1] * group;
    const cout = transposed ? w.dims[1] * group : w.dims[0];
    const kernel = attrInts(node, 'kernel_shape') ?? w.dims.slice(2);
    if (l && (l.axis !== 1 || layoutEntries(l) !== cin || l.block !== 1)) {
      ctx.freeze(l, `${label} expects ${cin} input channels on axis 1`);
      return;
    }
    let inSpatial = l?.spatial;
    if (!l) {
      const s = ctx.shapeOf(x);
      inSpatial = s?.slice(2).map((d) => (typeof d === 'number' && d > 0 ? d : undefined));
    }
    const spatial = spatialOut(node, inSpatial, kernel, { transposed });
    const rank = w.dims.length;
    const depthwise = group > 1 && group === cin && cout === cin;
    if (depthwise) {
      // The channel index flows through: filter i sees input channel i only.
      if (!l) return;
      const b = hasInput(node, 2) ? ctx.constantInput(node, 2) : undefined;
      ctx.addSegmentMembers(l, { node: node.name!, op: node.op_type!, role: 'depthwise', tensor: w.tensor, inputIndex: 1, axis: 0, shared: w.shared, ...(b ? { bias: b.tensor, biasShared: b.shared } : {}) });
      for (const s of l.segs) if (s.space >= 0) ctx.addLayer(s.space, node);
      if (node.output[0]) ctx.setLayout(node.output[0], { axis: 1, rank, segs: l.segs, block: 1, spatial }, node);
      return;
    }
    if (group > 1) {
      // Input channel j*a + r of block j meets weight column r, shared by every block's filters. An axis
      // slice stays valid when all blocks lose the same positions r: the input space is folded (its
      // channels r, r + a, r + 2a ... tied) and the weight loses column r once.
      const seg = l?.segs[0];
      if (l && !transposed && l.segs.length === 1 && seg!.space >= 0 && seg!.start === 0 && ctx.widthOf(seg!.space) === cin) {
        const a = cin / group;
        ctx.requireFold(seg!.space, group, `grouped ${label} (group ${group})`);
        for (let j = 0; j < group; j++) {
          ctx.addMember(seg!.space, { node: node.name!, op: node.op_type!, role: 'in', tensor: w.tensor, inputIndex: 1, axis: 1, mapping: { kind: 'offset', offset: -j * a }, span: a, ...(j ? { start: j * a } : {}), shared: w.shared });
        }
      } else if (l && !transposed) {
        const why = permutedFold(ctx, node, l, group, cin, w);
        if (why) ctx.freeze(l, `grouped ${label} (group ${group}) ${why}`);
      } else if (l) ctx.freeze(l, `grouped ${label} (group ${group}) takes channels from several groups or part of one; only a whole single group can be folded`);
    } else if (l) {
      ctx.addSegmentMembers(l, { node: node.name!, op: node.op_type!, role: 'in', tensor: w.tensor, inputIndex: 1, axis: transposed ? 0 : 1, shared: w.shared });
    }
    const space = ctx.newSpace(cout, node);
    if (group > 1) {
      if (transposed) ctx.freezeSpace(space, `grouped ${label} (group ${group}): its output channels are weight columns per group`);
      else ctx.requireDivisor(space, group, `grouped ${label} (group ${group})`);
    }
    outMember(ctx, node, space, 1, transposed ? 1 : 0, { index: 2, width: cout });
    ctx.addLayer(space, node);
    if (node.output[0]) ctx.setLayout(node.output[0], { axis: 1, rank, segs: [{ space, start: 0, len: cout }], block: 1, spatial }, node);
  });
}

/**
 * A grouped convolution reading a permutation of one whole channel space (ShuffleNet v1: a grouped 1×1
 * convolution after a channel shuffle). Its weight column r serves input position r + j·a of every
 * group j (a = cin / group), so a valid slice removes the same columns from every group: the channels
 * at positions r, r + a, r + 2a ... are removed together. Through the permutation those ties become a
 * fold of the space: the smallest F (dividing its width w) such that the channels of every tied set are
 * congruent modulo w / F, so that each group channel of the folded space stands for whole tied sets.
 * Adds the weight members (one per segment of each group's positions, column = position within the
 * group) and returns undefined, or why it cannot (a freeze reason without the node label).
 */
function permutedFold(ctx: RuleContext, node: NodeProto, l: ChannelLayout, group: number, cin: number, w: { tensor: string; shared: boolean }): string | undefined {
  const space = l.segs[0]?.space ?? -1;
  const width = space >= 0 ? ctx.widthOf(space) : 0;
  if (space < 0 || width !== cin || l.segs.some((s) => s.space !== space)) return 'takes channels from several groups or part of one; only a whole single group, in any order, can be folded';
  // channel of the space at each input position
  const channelAt: number[] = [];
  for (const s of l.segs) for (let c = s.start; c < s.start + s.len; c++) channelAt.push(c);
  if (new Set(channelAt).size !== cin) return 'reads some channels twice';
  const a = cin / group;
  let fold: number | undefined;
  for (let f = group; f < cin && fold === undefined; f++) {
    if (cin % f !== 0) continue;
    const m = cin / f;
    let ok = true;
    for (let r = 0; r < a && ok; r++) for (let j = 1; j < group && ok; j++) ok = channelAt[r + j * a] % m === channelAt[r] % m;
    if (ok) fold = f;
  }
  if (fold === undefined) return 'reads its channels in an order in which no equal removal from every group keeps the weight columns aligned';
  ctx.requireFold(space, fold, `grouped ${nodeLabel(node)} (group ${group}) after a channel permutation`);
  for (let j = 0; j < group; j++) {
    ctx.addSegmentMembers({ ...l, segs: sliceSegments(l.segs, j * a, a) }, { node: node.name!, op: node.op_type!, role: 'in', tensor: w.tensor, inputIndex: 1, axis: 1, shared: w.shared });
  }
  return undefined;
}

/** Input-feature side of Gemm / MatMul: the layout must run along the feature axis (rank 2 after a flatten). */
function featureMembers(ctx: RuleContext, node: NodeProto, l: ChannelLayout, features: number, weightIndex: number, axis: number): boolean {
  const label = nodeLabel(node);
  if (l.rank !== 2 || l.axis !== 1) {
    ctx.freeze(l, `${label} multiplies along an axis that is not the channel axis`);
    return false;
  }
  const width = layoutWidth(l);
  let block = l.block;
  if (block === undefined) {
    // Flatten of [N, C, spatial...] gives C * prod(spatial) features per sample: the block is K / C.
    if (features % width !== 0) {
      ctx.freeze(l, `${label} has ${features} input features, not a multiple of ${width} channels`);
      return false;
    }
    block = features / width;
  }
  if (width * block !== features) {
    ctx.freeze(l, `${label} has ${features} input features, ${width * block} expected`);
    return false;
  }
  const w = ctx.constantInput(node, weightIndex)!;
  ctx.addSegmentMembers(l, { node: node.name!, op: node.op_type!, role: 'in', tensor: w.tensor, inputIndex: weightIndex, axis, shared: w.shared }, block);
  return true;
}

const gemm = onLayer((ctx, node, l, label) => {
  const b = ctx.constantInput(node, 1);
  if (!b || b.dims.length !== 2 || (hasInput(node, 2) && !ctx.constantInput(node, 2))) {
    if (l) ctx.freeze(l, `${label} has a non-constant weight or bias${sharedDequantized(ctx, node.input[1]) || sharedDequantized(ctx, node.input[2])}`);
    return;
  }
  const transB = attrInt(node, 'transB', 0) === 1;
  const k = transB ? b.dims[1] : b.dims[0];
  const n = transB ? b.dims[0] : b.dims[1];
  if (l) {
    if (attrInt(node, 'transA', 0) === 1) ctx.freeze(l, `${label} transposes its input (transA)`);
    else featureMembers(ctx, node, l, k, 1, transB ? 1 : 0);
  }
  const space = ctx.newSpace(n, node);
  outMember(ctx, node, space, 1, transB ? 0 : 1, { index: 2, width: n });
  ctx.addLayer(space, node);
  if (hasInput(node, 2)) {
    // A bias of another shape than [N]: a broadcast parameter (a [1] or scalar bias needs nothing).
    const c = ctx.constantInput(node, 2)!;
    if (!(c.dims.length === 1 && c.dims[0] === n)) {
      const outLayout: ChannelLayout = { axis: 1, rank: 2, segs: [{ space, start: 0, len: n }], block: 1 };
      broadcastConstant(ctx, node, 2, outLayout, 2);
    }
  }
  if (node.output[0]) ctx.setLayout(node.output[0], { axis: 1, rank: 2, segs: [{ space, start: 0, len: n }], block: 1, spatial: [] }, node);
});

/** MatMul with a constant 2-D right operand [K, N]: a fully connected layer without bias. */
const matmul = onLayer((ctx, node, l) => {
  const b = ctx.constantInput(node, 1);
  if (!b || b.dims.length !== 2) {
    if (l) ctx.freeze(l, `${nodeLabel(node)} multiplies by a non-constant or non-matrix '${node.input[1]}'${sharedDequantized(ctx, node.input[1])}`);
    return;
  }
  if (l) featureMembers(ctx, node, l, b.dims[0], 1, 0);
  // Output channels are on the last axis; only a rank-2 input keeps them at axis 1.
  const inShape = l ? undefined : ctx.shapeOf(node.input[0]);
  const rank = l ? l.rank : inShape?.length;
  const space = ctx.newSpace(b.dims[1], node);
  outMember(ctx, node, space, 1, 1, undefined);
  ctx.addLayer(space, node);
  if (rank !== 2) {
    ctx.freezeSpace(space, `${nodeLabel(node)} output is not a [batch, features] matrix`);
    return;
  }
  if (node.output[0]) ctx.setLayout(node.output[0], { axis: 1, rank: 2, segs: [{ space, start: 0, len: b.dims[1] }], block: 1, spatial: [] }, node);
});

// ---------------------------------------------------------------- operator-oriented quantisation (QLinearConv, QLinearMatMul)

/** Per-channel weight scale and zero point (inputs 4 and 5) of a QLinear* layer along its output axis: 'param' members beside `m`. */
function qlinearWeightParams(ctx: RuleContext, node: NodeProto, width: number, add: (index: number, c: { tensor: string; shared: boolean }) => void): void {
  for (const index of [4, 5]) {
    const c = hasInput(node, index) ? ctx.constantInput(node, index) : undefined;
    if (c && c.dims.length === 1 && c.dims[0] === width && width > 1) add(index, c);
  }
}

/**
 * QLinearConv: x, x_scale, x_zero_point, w (input 3), w_scale, w_zero_point (per tensor, or per output
 * channel), y_scale, y_zero_point, int32 bias (input 8). Like Conv, on the integer weight; the per-channel
 * weight scale and zero point lose the removed output channels. Grouped (non-depthwise) ones freeze.
 */
const qlinearConv = onLayer((ctx, node, l, label) => {
  const w = ctx.constantInput(node, 3);
  const scalesConstant = [1, 2, 4, 5, 6, 7].every((i) => !hasInput(node, i) || ctx.constantInput(node, i));
  const b = hasInput(node, 8) ? ctx.constantInput(node, 8) : undefined;
  if (!w || w.dims.length < 3 || !scalesConstant || (hasInput(node, 8) && !b)) {
    if (l) ctx.freeze(l, `${label} has a non-constant weight, scale, zero point or bias`);
    return;
  }
  const group = attrInt(node, 'group', 1);
  const cin = w.dims[1] * group;
  const cout = w.dims[0];
  if (l && (l.axis !== 1 || layoutEntries(l) !== cin || l.block !== 1)) {
    ctx.freeze(l, `${label} expects ${cin} input channels on axis 1`);
    return;
  }
  const inSpatial = l ? l.spatial : ctx.shapeOf(node.input[0])?.slice(2).map((d) => (typeof d === 'number' && d > 0 ? d : undefined));
  const spatial = spatialOut(node, inSpatial, attrInts(node, 'kernel_shape') ?? w.dims.slice(2));
  const bias = b && b.dims.length === 1 && b.dims[0] === cout ? { bias: b.tensor, biasShared: b.shared } : {};
  if (group > 1 && group === cin && cout === cin) {
    if (!l) return;
    ctx.addSegmentMembers(l, { node: node.name!, op: node.op_type!, role: 'depthwise', tensor: w.tensor, inputIndex: 3, axis: 0, shared: w.shared, ...bias });
    qlinearWeightParams(ctx, node, cout, (index, c) => ctx.addSegmentMembers(l, { node: node.name!, op: node.op_type!, role: 'param', tensor: c.tensor, inputIndex: index, axis: 0, shared: c.shared }));
    for (const s of l.segs) if (s.space >= 0) ctx.addLayer(s.space, node);
    if (node.output[0]) ctx.setLayout(node.output[0], { axis: 1, rank: w.dims.length, segs: l.segs, block: 1, spatial }, node);
    return;
  }
  if (l) {
    if (group > 1) ctx.freeze(l, `grouped ${label} (group ${group}) is not supported`);
    else ctx.addSegmentMembers(l, { node: node.name!, op: node.op_type!, role: 'in', tensor: w.tensor, inputIndex: 3, axis: 1, shared: w.shared });
  }
  const space = ctx.newSpace(cout, node);
  if (group > 1) ctx.freezeSpace(space, `grouped ${label} (group ${group}) is not supported`);
  ctx.addMember(space, { node: node.name!, op: node.op_type!, role: 'out', tensor: w.tensor, inputIndex: 3, axis: 0, mapping: { kind: 'identity' }, shared: w.shared, ...bias });
  qlinearWeightParams(ctx, node, cout, (index, c) => ctx.addMember(space, { node: node.name!, op: node.op_type!, role: 'param', tensor: c.tensor, inputIndex: index, axis: 0, mapping: { kind: 'identity' }, shared: c.shared }));
  ctx.addLayer(space, node);
  if (node.output[0]) ctx.setLayout(node.output[0], { axis: 1, rank: w.dims.length, segs: [{ space, start: 0, len: cout }], block: 1, spatial }, node);
});

/** QLinearMatMul with a constant 2-D integer right operand [K, N] (input 3; scale and zero point per tensor or per column). */
const qlinearMatmul = onLayer((ctx, node, l) => {
  const b = ctx.constantInput(node, 3);
  const scalesConstant = [1, 2, 4, 5, 6, 7].every((i) => !hasInput(node, i) || ctx.constantInput(node, i));
  if (!b || b.dims.length !== 2 || !scalesConstant) {
    if (l) ctx.freeze(l, `${nodeLabel(node)} multiplies by a non-constant or non-matrix '${node.input[3]}', or its scales are not constant`);
    return;
  }
  if (l) featureMembers(ctx, node, l, b.dims[0], 3, 0);
  const inShape = l ? undefined : ctx.shapeOf(node.input[0]);
  const rank = l ? l.rank : inShape?.length;
  const n = b.dims[1];
  const space = ctx.newSpace(n, node);
  ctx.addMember(space, { node: node.name!, op: node.op_type!, role: 'out', tensor: b.tensor, inputIndex: 3, axis: 1, mapping: { kind: 'identity' }, shared: b.shared });
  qlinearWeightParams(ctx, node, n, (index, c) => ctx.addMember(space, { node: node.name!, op: node.op_type!, role: 'param', tensor: c.tensor, inputIndex: index, axis: 0, mapping: { kind: 'identity' }, shared: c.shared }));
  ctx.addLayer(space, node);
  if (rank !== 2) {
    ctx.freezeSpace(space, `${nodeLabel(node)} output is not a [batch, features] matrix`);
    return;
  }
  if (node.output[0]) ctx.setLayout(node.output[0], { axis: 1, rank: 2, segs: [{ space, start: 0, len: n }], block: 1, spatial: [] }, node);
});

// ---------------------------------------------------------------- reshaping

const flatten = onChannels((ctx, node, l) => {
  const axis = normAxis(attrInt(node, 'axis', 1), l.rank);
  if (axis !== 1 || l.axis !== 1) {
    ctx.freeze(l, `${nodeLabel(node)} (axis ${axis}) merges the channel axis with other axes`);
    return;
  }
  const inner = innerSize(ctx, node.input[0], l);
  const block = l.block !== undefined && inner !== undefined ? l.block * inner : undefined;
  if (node.output[0]) ctx.setLayout(node.output[0], { axis: 1, rank: 2, segs: l.segs, block, spatial: [] }, node);
});

/** One element of a shape vector computed in the graph: a literal from a constant, or a dimension of a value. */
type ShapeEntry =
  | { kind: 'literal'; value: number; tensor: string; element: number; consumer: NodeProto; inputIndex: number }
  | { kind: 'dim'; of: string; index: number };

/**
 * Where each element of a 1-D int vector comes from, through Shape, Gather, Slice, Concat, Cast,
 * Squeeze/Unsqueeze and Identity (how PyTorch exports `x.view(x.size(0), -1)`), found by their
 * shape rules in the operator registry. Undefined when an element is computed any other way
 * (arithmetic on shapes is not followed: never guessed).
 */
function traceVector(ctx: RuleContext, value: string, consumer: NodeProto, inputIndex: number, depth = 0): ShapeEntry[] | undefined {
  if (depth > 16 || !value) return undefined;
  const src = ctx.graph.constantSource(value);
  if (src) {
    const ints = ctx.graph.constantInts(src);
    return ints?.map((v, element) => ({ kind: 'literal', value: v, tensor: src, element, consumer, inputIndex }));
  }
  const p = ctx.graph.producer.get(value);
  if (!p || (p.domain ?? '') !== '') return undefined;
  const opset = ctx.graph.opset();
  const ints = (i: number) => ctx.graph.constantInts(p.input[i] ?? '');
  const rule = nodeFacts(p)?.shape;
  switch (rule?.kind) {
    case 'same':
      // values kept or cast (Identity, Cast); other same-shape operators compute new values
      if (!rule.values) return undefined;
      return traceVector(ctx, p.input[0], p, 0, depth + 1);
    case 'squeeze':
    case 'unsqueeze':
      // Squeeze/Unsqueeze only move a scalar to and from a 1-element vector in shape arithmetic.
      return traceVector(ctx, p.input[0], p, 0, depth + 1);
    case 'shape': {
      const shape = ctx.shapeOf(p.input[0]);
      if (!shape) return undefined;
      const r = shape.length;
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
      const start = clamp(attrInt(p, 'start', 0));
      const end = clamp(attrInt(p, 'end', r));
      return Array.from({ length: Math.max(0, end - start) }, (_, k) => ({ kind: 'dim', of: p.input[0], index: start + k }));
    }
    case 'concat': {
      if (attrInt(p, 'axis', 0) !== 0 && attrInt(p, 'axis', 0) !== -1) return undefined;
      const out: ShapeEntry[] = [];
      for (let i = 0; i < p.input.length; i++) {
        const t = traceVector(ctx, p.input[i], p, i, depth + 1);
        if (!t) return undefined;
        out.push(...t);
      }
      return out;
    }
    case 'gather': {
      const data = traceVector(ctx, p.input[0], p, 0, depth + 1);
      const idx = ints(1);
      if (!data || !idx || attrInt(p, 'axis', 0) !== 0) return undefined;
      const picked = idx.map((i) => data[i < 0 ? i + data.length : i]);
      return picked.every((e) => e) ? picked : undefined;
    }
    case 'slice': {
      const data = traceVector(ctx, p.input[0], p, 0, depth + 1);
      if (!data) return undefined;
      const starts = opset < 10 ? attrInts(p, 'starts') : ints(1);
      const ends = opset < 10 ? attrInts(p, 'ends') : ints(2);
      const steps = opset >= 10 && p.input[4] ? ints(4) : [1];
      if (!starts || !ends || !steps || starts.length !== 1 || steps[0] !== 1) return undefined;
      const n = data.length;
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + n : v, 0), n);
      return data.slice(clamp(starts[0]), clamp(ends[0]));
    }
  }
  return undefined;
}

/**
 * Reshape, provably one of two forms (respecting 0 = copy and -1 = infer), else frozen:
 * - a flatten into [batch, C * inner] (into Gemm / MatMul): the layout gets a block of `inner` per channel;
 * - [batch, C, rest...] keeping batch and channels, with the same number of elements per channel
 *   (e.g. an SE gate [N, C] -> [N, C, 1, 1], or [N, C, H, W] -> [N, C, H*W]).
 * A literal C (or C * inner) in the shape is a 'shape' member, rewritten by surgery.
 */
/** Integer entries of a shape input: a constant, else values computed in the graph (symbolic entries as strings). */
function shapeValues(ctx: RuleContext, node: NodeProto, index: number): (number | string)[] | undefined {
  return constInts(ctx, node, index) ?? (node.input[index] ? ctx.constValue(node.input[index]) : undefined);
}

/** The single consumer of a value, when it has exactly one and is not a graph output. */
function soleConsumer(ctx: RuleContext, value: string): NodeProto | undefined {
  const cs = ctx.graph.consumersOf(value);
  return cs.length === 1 && !ctx.graph.outputNames.has(value) ? cs[0] : undefined;
}

/**
 * A channel shuffle (a pattern of three operators, so the matcher names them: Reshape, Transpose, Reshape): this Reshape splits the channel axis into [g, C/g], its only consumer is a
 * Transpose swapping those two axes, whose only consumer is a Reshape merging them back ([N, C, ...] or
 * [N, -1, ...]). Output position j·g + i holds input position i·(C/g) + j. The output's layout is the
 * input's segments permuted; the three nodes are replaced by a Gather after pruning (a ChannelRewrite).
 * False (nothing done) when the pattern does not match.
 */
function channelShuffle(ctx: RuleContext, node: NodeProto, l: ChannelLayout): boolean {
  if (l.axis !== 1 || l.block !== 1 || l.rank < 2 || ctx.graph.opset() < 5) return false;
  const inShape = ctx.shapeOf(node.input[0]);
  const shape = shapeValues(ctx, node, 1);
  const width = layoutWidth(l);
  if (!inShape || inShape.length !== l.rank || !shape || shape.length !== l.rank + 1) return false;
  const batchOk = (d: number | string) => d === 0 || d === inShape[0];
  const [b, g, h] = shape;
  if (!batchOk(b) || typeof g !== 'number' || typeof h !== 'number' || g < 1 || h < 1 || g * h !== width) return false;
  if (!shape.slice(3).every((d, k) => d === inShape[k + 2])) return false;
  const tr = node.output[0] ? soleConsumer(ctx, node.output[0]) : undefined;
  if (!tr || tr.op_type !== 'Transpose' || (tr.domain ?? '') !== '') return false;
  const perm = attrInts(tr, 'perm');
  if (!perm || perm.length !== l.rank + 1 || perm[0] !== 0 || perm[1] !== 2 || perm[2] !== 1 || perm.slice(3).some((p, k) => p !== k + 3)) return false;
  const back = tr.output[0] ? soleConsumer(ctx, tr.output[0]) : undefined;
  if (!back || back.op_type !== 'Reshape' || (back.domain ?? '') !== '' || back.input[0] !== tr.output[0] || attrInt(back, 'allowzero', 0) === 1) return false;
  const out = shapeValues(ctx, back, 1);
  if (!out || out.length !== l.rank || !batchOk(out[0]) || (out[1] !== width && out[1] !== -1)) return false;
  if (!out.slice(2).every((d, k) => d === inShape[k + 2])) return false;
  const order: number[] = [];
  for (let j = 0; j < h; j++) for (let i = 0; i < g; i++) order.push(i * h + j);
  const segs = pickSegments(l.segs, order);
  if (back.output[0]) {
    ctx.setLayout(back.output[0], { axis: 1, rank: l.rank, segs, block: 1, spatial: l.spatial }, back);
    ctx.addRewrite({ kind: 'shuffle', nodes: [node.name!, tr.name!, back.name!], input: node.input[0], output: back.output[0], perm: order }, l);
  }
  return true;
}

const reshape = onChannels((ctx, node, l) => {
  if (channelShuffle(ctx, node, l)) return;
  const label = nodeLabel(node);
  const old = ctx.graph.opset() < 5;
  const inShape = ctx.shapeOf(node.input[0]);
  let shape = old ? attrInts(node, 'shape') : constInts(ctx, node, 1);
  /** Where the channel entry (element 1) of a computed shape comes from, when it is a literal. */
  let computedChannel: Extract<ShapeEntry, { kind: 'literal' }> | undefined;
  if (!shape && !old) {
    // A shape computed in the graph: dimensions of the input at their own position copy it (like 0),
    // other dimensions must not be channel axes; literals are rewritten where they are stored.
    const trace = traceVector(ctx, node.input[1], node, 1);
    shape = trace?.map((e, pos) => {
      if (e.kind === 'literal') return e.value;
      if (e.of === node.input[0] && e.index === pos) return 0;
      const other = ctx.layout(e.of);
      const d = ctx.shapeOf(e.of)?.[e.index];
      if ((other && other.axis === e.index) || (e.of === node.input[0] && e.index === l.axis)) return NaN;
      if (typeof d === 'number') return d;
      return pos === 0 && e.index === 0 && d !== undefined && d === inShape?.[0] ? 0 : NaN;
    });
    if (shape?.some((d) => Number.isNaN(d))) shape = undefined;
    const ch = trace?.[1];
    if (shape && ch?.kind === 'literal') computedChannel = ch;
  }
  if (!shape) {
    ctx.freeze(l, `${label} has a non-constant shape`);
    return;
  }
  const mixes = () => ctx.freeze(l, `${label} moves or mixes the channel axis (shape [${shape.join(',')}])`);
  if (l.axis !== 1 || (attrInt(node, 'allowzero', 0) === 1 && shape.includes(0))) {
    mixes();
    return;
  }
  const width = layoutWidth(l);
  const inner = innerSize(ctx, node.input[0], l);
  const perChannel = l.block !== undefined && inner !== undefined ? l.block * inner : undefined;
  const features = perChannel !== undefined ? perChannel * width : undefined;
  const batch = typeof inShape?.[0] === 'number' ? inShape[0] : undefined;
  const [s0, s1] = shape;
  const shapeMember = (block: number | undefined) => {
    let base: Omit<GroupMember, 'mapping' | 'span' | 'start'>;
    if (old) base = { node: node.name!, op: node.op_type!, role: 'shape', axis: 1, attribute: 'shape' };
    else {
      // The element to rewrite: element 1 of a constant shape, or the literal a computed shape took it from.
      const at = computedChannel ?? { consumer: node, inputIndex: 1, element: 1 };
      const c = ctx.constantInput(at.consumer, at.inputIndex)!;
      base = { node: at.consumer.name!, op: at.consumer.op_type!, role: 'shape', tensor: c.tensor, inputIndex: at.inputIndex, axis: at.element, shared: c.shared };
    }
    ctx.addSegmentMembers(l, base, block);
  };
  if (shape.length === 2) {
    let flat = false;
    let literal = false;
    if (s1 === -1 && (s0 === 0 || s0 === 1 || (batch !== undefined && s0 === batch))) flat = true;
    else if (features !== undefined && s1 === features && (s0 === 0 || s0 === -1 || s0 === 1 || s0 === batch)) flat = literal = true;
    if (flat) {
      if (literal) shapeMember(perChannel);
      if (node.output[0]) ctx.setLayout(node.output[0], { axis: 1, rank: 2, segs: l.segs, block: perChannel, spatial: [] }, node);
      return;
    }
  }
  // [batch, C, rest...]: channel c's elements stay channel c's when batch and C are kept and each
  // channel keeps its element count.
  const channelsKept = (s1 === 0 && l.block === 1 && l.rank > 1) || s1 === width;
  if (shape.length >= 2 && channelsKept && perChannel !== undefined) {
    const rest = shape.slice(2).map((d, i): number | undefined => {
      if (d !== 0) return d;
      const copied = l.rank === shape.length ? inShape?.[i + 2] : undefined;
      return typeof copied === 'number' ? copied : undefined;
    });
    const unknown = rest.filter((d) => d === -1 || d === undefined).length;
    const known = rest.reduce<number>((p, d) => (d !== undefined && d > 0 ? p * d : p), 1);
    let resolved: (number | undefined)[] | undefined;
    if (unknown === 0 && known === perChannel) resolved = rest;
    else if (unknown === 1 && rest.includes(-1) && perChannel % known === 0 && (s0 === 0 || (batch !== undefined && s0 === batch))) resolved = rest.map((d) => (d === -1 ? perChannel / known : d));
    const batchKept = s0 === 0 || (batch !== undefined && s0 === batch) || ((s0 === -1 || s0 === 1) && unknown === 0);
    if (resolved && batchKept) {
      if (s1 !== 0) shapeMember(undefined);
      if (node.output[0]) ctx.setLayout(node.output[0], { axis: 1, rank: shape.length, segs: l.segs, block: 1, spatial: resolved }, node);
      return;
    }
  }
  mixes();
});

const transpose = onChannels((ctx, node, l) => {
  const perm = attrInts(node, 'perm') ?? Array.from({ length: l.rank }, (_, i) => l.rank - 1 - i);
  if (perm[l.axis] !== l.axis) {
    ctx.freeze(l, `${nodeLabel(node)} moves the channel axis (perm [${perm.join(',')}])`);
    return;
  }
  const spatial = l.spatial ? perm.slice(l.axis + 1).map((p) => (p > l.axis ? l.spatial![p - l.axis - 1] : undefined)) : undefined;
  if (node.output[0]) ctx.setLayout(node.output[0], copyLayout(l, spatial), node);
});

function axesOf(ctx: RuleContext, node: NodeProto, inputSince: number): number[] | undefined | 'dynamic' {
  if (ctx.graph.opset() >= inputSince) {
    if (!hasInput(node, 1)) return undefined;
    return constInts(ctx, node, 1) ?? 'dynamic';
  }
  return attrInts(node, 'axes');
}

const squeeze = onChannels((ctx, node, l) => {
  const a = axesOf(ctx, node, 13);
  const label = nodeLabel(node);
  if (a === 'dynamic' || a === undefined) {
    ctx.freeze(l, `${label} has ${a === undefined ? 'implicit' : 'non-constant'} axes`);
    return;
  }
  const axes = a.map((x) => normAxis(x, l.rank));
  if (axes.includes(l.axis)) {
    ctx.freeze(l, `${label} removes the channel axis`);
    return;
  }
  const before = axes.filter((x) => x < l.axis).length;
  const spatial = l.spatial?.filter((_, i) => !axes.includes(l.axis + 1 + i));
  if (node.output[0]) ctx.setLayout(node.output[0], { axis: l.axis - before, rank: l.rank - axes.length, segs: l.segs, block: l.block, spatial }, node);
});

const unsqueeze = onChannels((ctx, node, l) => {
  const a = axesOf(ctx, node, 13);
  if (a === 'dynamic' || a === undefined) {
    ctx.freeze(l, `${nodeLabel(node)} has non-constant axes`);
    return;
  }
  const rank = l.rank + a.length;
  const axes = a.map((x) => normAxis(x, rank)).sort((x, y) => x - y);
  // Walk output positions: inserted axes are size 1, the others take the input's axes in order.
  let src = 0;
  let axis = -1;
  const spatial: (number | undefined)[] = [];
  for (let o = 0; o < rank; o++) {
    if (axes.includes(o)) {
      if (axis >= 0) spatial.push(1);
      continue;
    }
    if (src === l.axis) axis = o;
    else if (src > l.axis) spatial.push(l.spatial?.[src - l.axis - 1]);
    src++;
  }
  if (node.output[0]) ctx.setLayout(node.output[0], { axis, rank, segs: l.segs, block: l.block, spatial: l.spatial ? spatial : undefined }, node);
});

function reduce(axesInputSince: number): OpRule {
  return onChannels((ctx, node, l) => {
    const a = axesOf(ctx, node, axesInputSince);
    const label = nodeLabel(node);
    if (a === 'dynamic') {
      ctx.freeze(l, `${label} has non-constant axes`);
      return;
    }
    const axes = (a ?? Array.from({ length: l.rank }, (_, i) => i)).map((x) => normAxis(x, l.rank));
    if (axes.includes(l.axis)) {
      ctx.freeze(l, `${label} reduces over the channel axis`);
      return;
    }
    const keep = attrInt(node, 'keepdims', 1) === 1;
    const spatial = l.spatial?.map((d, i) => (axes.includes(l.axis + 1 + i) ? 1 : d)).filter((_, i) => keep || !axes.includes(l.axis + 1 + i));
    const before = keep ? 0 : axes.filter((x) => x < l.axis).length;
    if (node.output[0]) ctx.setLayout(node.output[0], { axis: l.axis - before, rank: keep ? l.rank : l.rank - axes.length, segs: l.segs, block: l.block, spatial }, node);
  });
}

/**
 * Normalisation along one axis (Softmax-like): fine unless that is the channel axis. Before opset
 * `coercedBefore` the input is coerced to 2-D at `axis` (default 1): every axis from there on is
 * normalised together.
 */
function alongAxis(defaultAxis: number, coercedBefore: number | undefined): OpRule {
  return onChannels((ctx, node, l, label) => {
    const old = coercedBefore !== undefined && ctx.graph.opset() < coercedBefore;
    const axis = normAxis(attrInt(node, 'axis', old ? 1 : defaultAxis), l.rank);
    if (old ? axis <= l.axis : axis === l.axis) {
      ctx.freeze(l, `${label} normalises across the channel axis`);
      return;
    }
    if (node.output[0]) ctx.setLayout(node.output[0], copyLayout(l), node);
  });
}

// ---------------------------------------------------------------- concat / split / slice

const concat: OpRule = {
  data: 'all',
  apply(ctx, node) {
    const layouts = node.input.map((n) => (n ? ctx.layout(n) : undefined));
    const tracked = layouts.filter((l): l is ChannelLayout => !!l);
    if (tracked.length === 0) return;
    const label = nodeLabel(node);
    const ref = tracked[0];
    const axis = normAxis(attrInt(node, 'axis', 1), ref.rank);
    const freezeAll = (reason: string) => {
      for (const l of tracked) ctx.freeze(l, reason);
    };
    if (tracked.some((l) => l.rank !== ref.rank || l.axis !== ref.axis)) {
      freezeAll(`${label} joins tensors whose channel axes differ`);
      return;
    }
    if (axis !== ref.axis) {
      // Concatenating along another axis: every input must keep the same channel indices.
      if (tracked.length !== node.input.filter((n) => n).length) {
        freezeAll(`${label} joins channels with an input no group owns`);
        return;
      }
      let ok = true;
      for (const l of tracked.slice(1)) {
        if (layoutEntries(l) !== layoutEntries(ref) || l.block !== ref.block) {
          freezeAll(`${label} joins tensors of different channel counts along axis ${axis}`);
          return;
        }
        ok = ctx.unite(ref, l, node) && ok;
      }
      if (ok && node.output[0]) ctx.setLayout(node.output[0], { axis: ref.axis, rank: ref.rank, segs: ref.segs, block: ref.block, spatial: ref.spatial?.map((d, i) => (ref.axis + 1 + i === axis ? undefined : d)) }, node);
      return;
    }
    if (tracked.some((l) => l.block !== ref.block)) {
      freezeAll(`${label} joins tensors with different entries per channel`);
      return;
    }
    const segs: Segment[] = [];
    for (let i = 0; i < node.input.length; i++) {
      const name = node.input[i];
      if (!name) continue;
      const l = layouts[i];
      if (l) {
        segs.push(...l.segs);
        continue;
      }
      // An input no group owns still occupies positions: its width must be known.
      const s = ctx.shapeOf(name);
      const d = s?.[axis];
      if (typeof d !== 'number' || d < 0 || ref.block !== 1) {
        freezeAll(`${label}: unknown channel count of input '${name}'`);
        return;
      }
      segs.push({ space: -1, start: 0, len: d });
    }
    const spatial = ref.spatial?.map((d, k) => (tracked.every((l) => l.spatial?.[k] === d) ? d : undefined));
    if (node.output[0]) ctx.setLayout(node.output[0], { axis: ref.axis, rank: ref.rank, segs, block: ref.block, spatial }, node);
  },
};

const split = onChannels((ctx, node, l, label) => {
  const axis = normAxis(attrInt(node, 'axis', 0), l.rank);
  if (axis !== l.axis) {
    const spatial = l.spatial?.map((d, i) => (l.axis + 1 + i === axis ? undefined : d));
    for (const o of node.output) if (o) ctx.setLayout(o, copyLayout(l, spatial), node);
    return;
  }
  if (l.block !== 1) {
    ctx.freeze(l, `${label} splits a flattened channel axis`);
    return;
  }
  const width = layoutWidth(l);
  const n = node.output.length;
  const opset = ctx.graph.opset();
  let sizes: number[] | undefined;
  let source: { tensor?: string; inputIndex?: number; attribute?: string; shared?: boolean } | undefined;
  if (opset >= 13 && hasInput(node, 1)) {
    const c = ctx.constantInput(node, 1);
    sizes = constInts(ctx, node, 1);
    if (!c || !sizes) {
      ctx.freeze(l, `${label} has non-constant split sizes`);
      return;
    }
    source = { tensor: c.tensor, inputIndex: 1, shared: c.shared };
  } else if (opset < 13 && attr(node, 'split')) {
    sizes = attrInts(node, 'split');
    source = { attribute: 'split' };
  }
  if (!sizes) {
    // Equal parts (implicit, or num_outputs in opset 18): they stay equal when each part loses
    // the same number of channels, which is a divisor on a single space covering all parts.
    if (width % n !== 0 || l.segs.length !== 1 || l.segs[0].space < 0 || l.segs[0].start !== 0 || ctx.widthOf(l.segs[0].space) !== width) {
      ctx.freeze(l, `${label} splits into equal parts that cannot stay equal`);
      return;
    }
    sizes = new Array<number>(n).fill(width / n);
    ctx.requireDivisor(l.segs[0].space, n, `${label} (${n} equal parts)`);
  }
  if (sizes.reduce((a, b) => a + b, 0) !== width || sizes.length !== n) {
    ctx.freeze(l, `${label} split sizes [${sizes.join(',')}] do not add up to ${width} channels`);
    return;
  }
  let pos = 0;
  sizes.forEach((size, k) => {
    const part: ChannelLayout = { axis: l.axis, rank: l.rank, segs: sliceSegments(l.segs, pos, size), block: 1, spatial: l.spatial };
    if (source) ctx.addSegmentMembers({ ...part, segs: part.segs }, { node: node.name!, op: node.op_type!, role: 'shape', axis: k, ...source });
    if (node.output[k]) ctx.setLayout(node.output[k], part, node);
    pos += size;
  });
});

const slice = onChannels((ctx, node, l, label) => {
  const old = ctx.graph.opset() < 10;
  let starts = old ? attrInts(node, 'starts') : constInts(ctx, node, 1);
  let ends = old ? attrInts(node, 'ends') : constInts(ctx, node, 2);
  // Bounds computed in the graph from the input's shape (PyTorch's x.chunk / x[:, :c//2]): numeric
  // values are enough to follow the channels; the Slice gets constant bounds after pruning.
  const computed = !old && (!starts || !ends);
  if (computed) {
    const num = (v: (number | string)[] | undefined) => (v && v.every((d) => typeof d === 'number') ? (v as number[]) : undefined);
    starts ??= num(ctx.constValue(node.input[1]));
    ends ??= num(ctx.constValue(node.input[2]));
  }
  const axesRaw = old ? attrInts(node, 'axes') : hasInput(node, 3) ? constInts(ctx, node, 3) : undefined;
  const steps = !old && hasInput(node, 4) ? constInts(ctx, node, 4) : undefined;
  if (!starts || !ends || (!old && hasInput(node, 3) && !axesRaw) || (!old && hasInput(node, 4) && !steps)) {
    ctx.freeze(l, `${label} has non-constant bounds`);
    return;
  }
  const axes = (axesRaw ?? starts.map((_, i) => i)).map((a) => normAxis(a, l.rank));
  const k = axes.indexOf(l.axis);
  if (k < 0) {
    const spatial = l.spatial?.map((d, i) => (axes.includes(l.axis + 1 + i) ? undefined : d));
    if (node.output[0]) ctx.setLayout(node.output[0], copyLayout(l, spatial), node);
    return;
  }
  const width = layoutWidth(l);
  const b = starts[k];
  const e = Math.min(ends[k], width);
  if ((steps && steps[k] !== 1) || b < 0 || ends[k] < 0 || l.block !== 1 || e <= b) {
    ctx.freeze(l, `${label} slices the channel axis with negative, stepped or empty bounds`);
    return;
  }
  // starts/ends shrink by the channels removed before them.
  const rewrite = (index: number, value: number, name: 'starts' | 'ends') => {
    if (value === 0 || (name === 'ends' && ends[k] >= width)) return;
    const before: ChannelLayout = { ...l, segs: sliceSegments(l.segs, 0, value) };
    if (old) ctx.addSegmentMembers(before, { node: node.name!, op: node.op_type!, role: 'shape', axis: k, attribute: name });
    else {
      const c = ctx.constantInput(node, index)!;
      ctx.addSegmentMembers(before, { node: node.name!, op: node.op_type!, role: 'shape', tensor: c.tensor, inputIndex: index, axis: k, shared: c.shared });
    }
  };
  if (computed) ctx.addRewrite({ kind: 'slice', node: node.name!, axisIndex: k, starts, ends }, l);
  else {
    rewrite(1, b, 'starts');
    rewrite(2, e, 'ends');
  }
  if (node.output[0]) ctx.setLayout(node.output[0], { ...l, segs: sliceSegments(l.segs, b, e - b) }, node);
});

/** Gather of channels by constant 1-D indices (a permutation or selection, as a pruned shuffle is written). */
const gather = onChannels((ctx, node, l, label) => {
  const axis = normAxis(attrInt(node, 'axis', 0), l.rank);
  const c = ctx.constantInput(node, 1);
  const indices = constInts(ctx, node, 1);
  const width = layoutWidth(l);
  if (axis !== l.axis || l.block !== 1 || !c || !indices || c.dims.length !== 1) {
    ctx.freeze(l, `${label} gathers along the channel axis with non-constant or non-vector indices, or along another axis`);
    return;
  }
  const norm = indices.map((q) => (q < 0 ? q + width : q));
  if (norm.some((q) => q < 0 || q >= width)) {
    ctx.freeze(l, `${label} has indices outside the ${width} channels`);
    return;
  }
  const segs = pickSegments(l.segs, norm);
  ctx.addRewrite({ kind: 'gather', node: node.name!, indices: norm }, l);
  if (node.output[0]) ctx.setLayout(node.output[0], { axis: l.axis, rank: l.rank, segs, block: 1, spatial: l.spatial }, node);
});

// ---------------------------------------------------------------- quantisation (QDQ)

/**
 * QuantizeLinear / DequantizeLinear of an activation: the channel index passes through. A per-tensor
 * scale and zero point (scalars) need nothing; per-channel ones along the channel axis lose the removed
 * channels with it ('param' members); per-channel along another axis, blocked quantisation or a
 * non-constant scale freeze the group. (A DequantizeLinear of a constant weight or bias has no
 * channel-carrying input: the layer consuming it treats it as that constant, see graph/quant.ts.)
 */
const quantizeLinear = onChannels((ctx, node, l, label) => {
  if (attrInt(node, 'block_size', 0) !== 0) {
    ctx.freeze(l, `${label} uses blocked quantisation (block_size)`);
    return;
  }
  const scale = ctx.constantInput(node, 1);
  const zp = hasInput(node, 2) ? ctx.constantInput(node, 2) : undefined;
  if (!scale || (hasInput(node, 2) && !zp)) {
    ctx.freeze(l, `${label} has a non-constant scale or zero point`);
    return;
  }
  const n = scale.dims.reduce((a, b) => a * b, 1);
  const perTensor = scale.dims.length === 0 || (scale.dims.length === 1 && n === 1 && layoutEntries(l) !== 1);
  if (!perTensor) {
    const axis = normAxis(attrInt(node, 'axis', 1), l.rank);
    if (scale.dims.length !== 1 || axis !== l.axis || n !== layoutEntries(l) || (zp && (zp.dims.length !== 1 || zp.dims[0] !== n))) {
      ctx.freeze(l, `${label} quantises per channel along axis ${axis} with ${n} scales, not the ${layoutEntries(l) ?? '?'} channels on axis ${l.axis}`);
      return;
    }
    for (const [index, c] of [[1, scale], [2, zp]] as const) {
      if (c) ctx.addSegmentMembers(l, { node: node.name!, op: node.op_type!, role: 'param', tensor: c.tensor, inputIndex: index, axis: 0, shared: c.shared }, l.block);
    }
  }
  if (node.output[0]) ctx.setLayout(node.output[0], copyLayout(l), node);
});

/** Ops that read only the shape of their input: they constrain nothing. */
const shapeOnly: OpRule = { data: 'all', apply() {} };

type RuleOfKind<K extends ChannelRule['kind']> = OpRule | ((r: Extract<ChannelRule, { kind: K }>) => OpRule);

/**
 * The code of every channel-rule kind the registry names (graph/operators.ts): the rule itself, or for a
 * kind with parameters a function building the rule from the entry's data. The mapped type makes a kind
 * without code a compile error.
 */
const CHANNEL_RULES: { [K in ChannelRule['kind']]: RuleOfKind<K> } = {
  passThrough, pool, globalPool, pad, elementwise, gemm, matmul, qlinearConv, qlinearMatmul, flatten, reshape,
  transpose, squeeze, unsqueeze, concat, split, slice, gather, shapeOnly,
  constantInputs: passThroughConstInputs,
  slope: prelu,
  quantize: quantizeLinear,
  perChannelParams: (r) => perChannelParams(r.params, r.batchNorm === true),
  resize: (r) => resize(r.upsample === true),
  conv: (r) => conv(r.transposed),
  reduce: (r) => reduce(r.axesInputSince),
  alongAxis: (r) => alongAxis(r.defaultAxis, r.coercedBefore),
};

function ruleOf<K extends ChannelRule['kind']>(r: Extract<ChannelRule, { kind: K }>): OpRule {
  const code = CHANNEL_RULES[r.kind] as RuleOfKind<K>;
  return typeof code === 'function' ? code(r) : code;
}

/** The rule of every operator whose registry entry has a channel rule (default ONNX domain), by type. */
export const RULES: Readonly<Record<string, OpRule>> = Object.fromEntries(
  [...OPERATORS].flatMap(([op, facts]) => (facts.channel ? [[op, ruleOf(facts.channel)]] : [])),
);

/** The rule for a node, or undefined when the analysis does not model its operator. */
export function ruleFor(node: NodeProto): OpRule | undefined {
  const op = nodeFacts(node);
  return op?.channel ? RULES[node.op_type!] : undefined;
}
