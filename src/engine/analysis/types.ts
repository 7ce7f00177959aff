// The data the dependency analysis produces and the surgery consumes.
//
// A ChannelGroup is a set of channel spaces that must keep the same channel indices:
// pruning channel i of the group removes, in every member, the indices that the
// member's IndexMapping gives for i. Members are small records, applied mechanically.

/** How a group channel index maps to indices along a member tensor's axis. */
export type IndexMapping =
  /** channel i -> index i */
  | { kind: 'identity' }
  /** channel i -> index i + offset (Concat inputs, Split/Slice outputs seen from the whole) */
  | { kind: 'offset'; offset: number }
  /** channel i -> indices [offset + i*size, offset + (i+1)*size) (Flatten/Reshape into Gemm/MatMul: H*W features per channel) */
  | { kind: 'block'; size: number; offset: number };

/**
 * Indices along a member's axis that group channel `c` occupies (the one place an IndexMapping is
 * applied): empty when the member covers only the group channels [start, start + span) and c is
 * outside (a member behind a Split/Slice).
 */
export function mapChannel(m: Pick<GroupMember, 'mapping' | 'start' | 'span'>, c: number): number[] {
  const start = m.start ?? 0;
  if (c < start || (m.span !== undefined && c >= start + m.span)) return [];
  const mapping = m.mapping;
  switch (mapping.kind) {
    case 'identity':
      return [c];
    case 'offset':
      return [c + mapping.offset];
    case 'block': {
      const out: number[] = [];
      for (let k = 0; k < mapping.size; k++) out.push(mapping.offset + c * mapping.size + k);
      return out;
    }
  }
}

/** The channels of a group of `channels` that are not in `kept`, sorted (the one place removed is derived from kept). */
export function removedChannels(channels: number, kept: readonly number[]): number[] {
  const keep = new Set(kept);
  const out: number[] = [];
  for (let c = 0; c < channels; c++) if (!keep.has(c)) out.push(c);
  return out;
}

export type MemberRole =
  /** output channels of a weighted layer: its weight (axis 0 for Conv/Gemm transB=1, axis 1 for ConvTranspose / MatMul / Gemm transB=0) and its bias */
  | 'out'
  /** input channels of a consuming weighted layer (Conv weight axis 1, Gemm/MatMul input features) */
  | 'in'
  /** a per-channel parameter vector: BatchNormalization scale/B/mean/var, PRelu slope, per-channel Mul/Add constants, quantization scale/zero point */
  | 'param'
  /** a depthwise conv whose `group` attribute shrinks with the channels (weight axis 0, and the `bias` field's tensor axis 0) */
  | 'depthwise'
  /**
   * a constant shape/size input or attribute that must be rewritten (Reshape shape, Split sizes,
   * Slice starts/ends, Resize sizes): `axis` is the index of the ELEMENT in that 1-D vector; the element
   * decreases by the number of removed group channels in [start, start + span), times `size` for a
   * block mapping (1 otherwise). Elements holding 0 or -1 (Reshape conventions) are never emitted.
   * `node`/`inputIndex` say where the constant enters the graph: for a Reshape shape computed in the
   * graph (Concat(Shape(x)[0:1], [C*H*W])), that is the node consuming the literal (the Concat or a Cast),
   * not the Reshape. Several shape members may decrement the same element (one per group segment).
   */
  | 'shape';

export interface GroupMember {
  /** Node name (unique in the graph index). */
  node: string;
  op: string;
  role: MemberRole;
  /** Name of the tensor sliced or rewritten (initializer or Constant-node output), when there is one. */
  tensor?: string;
  /** Position of that tensor among the node's inputs, when it is an input. */
  inputIndex?: number;
  /** Axis of the tensor along which channels are removed. */
  axis: number;
  mapping: IndexMapping;
  /** Number of channels of the group this member spans (equal to the group's `channels` unless the member is a concat/split slice). */
  span?: number;
  /**
   * First group channel this member covers (default 0): the member covers group channels
   * [start, start + span). Set when the member sees only a slice of the group (behind a
   * Split/Slice). The mapping is applied to the absolute group channel index i, so for an
   * offset mapping the tensor index is i + offset (offset may be negative).
   */
  start?: number;
  /** The tensor is also used outside this member (another node, another input of this node, or a graph output): copy it before slicing. */
  shared?: boolean;
  /**
   * 'out' and 'depthwise' members: the bias (constant source name) sliced along axis 0 together with
   * the weight, when the layer has a 1-D bias. Only this field names a bias to slice: a bias of another
   * shape (Gemm C of shape [1, N]) is a separate 'param' member instead.
   */
  bias?: string;
  /** The bias is also used outside this member: copy it before slicing. */
  biasShared?: boolean;
  /**
   * 'shape' members kept in a node attribute rather than an input (Split `split` before opset 13,
   * Slice `starts`/`ends` before opset 10, Reshape `shape` before opset 5): the attribute's name.
   */
  attribute?: string;
}

export interface ChannelGroup {
  id: number;
  /** Number of channels in the group (the coupled channel space's width). */
  channels: number;
  members: GroupMember[];
  /** Weighted layers (node names) whose OUTPUT channels this group is: the layers a user thinks of as "pruned". */
  layers: string[];
  /** BatchNormalization nodes whose channels are this group (for the BN γ criterion). */
  bnNodes: string[];
  prunable: boolean;
  /** Why it is frozen, naming the node and operator, when prunable is false. */
  reason?: string;
  /** Grouped convolution: channels must be removed in equal numbers from each of this many equal blocks. */
  divisor?: number;
  /**
   * The group feeds a grouped convolution with this many groups: each group channel stands for `fold`
   * channels of its layers (r, r + channels, r + 2·channels ...), removed together. The layers' real
   * width is channels × fold; members carry one offset mapping per block.
   */
  fold?: number;
  /** Values (tensor names) of activations carrying this channel space, for display and debugging. */
  values: string[];
}

/** A run of consecutive channel positions of a tensor: channels [start, start + len) of a group (-1: no group owns them). */
export interface GroupSegment {
  group: number;
  start: number;
  len: number;
}

/**
 * A channel-moving pattern that the surgery cannot rewrite member by member and that is rewritten
 * as a whole after pruning (prune/permute.ts), from the kept channels of the groups its input carries:
 * - 'shuffle': Reshape [N, g, C/g, ...] → Transpose → Reshape [N, C, ...] (a channel shuffle, shapes
 *   constant or computed in the graph) with output position p = input position perm[p]: replaced by a
 *   Gather on axis 1 with constant indices;
 * - 'slice': a Slice of the channel axis whose starts/ends are computed in the graph (from Shape): its
 *   bounds become constants, lowered by the channels removed before them;
 * - 'gather': a Gather of channels by constant indices: the indices of kept channels, renumbered.
 */
export type ChannelRewrite =
  | { kind: 'shuffle'; nodes: string[]; input: string; output: string; perm: number[]; segs: GroupSegment[] }
  | { kind: 'slice'; node: string; axisIndex: number; starts: number[]; ends: number[]; segs: GroupSegment[] }
  /** A Gather on the channel axis with constant 1-D indices (a shuffle written by an earlier pruning): new indices. */
  | { kind: 'gather'; node: string; indices: number[]; segs: GroupSegment[] };

export interface DependencyAnalysis {
  groups: ChannelGroup[];
  /** Group id by layer (node name) for the layers whose output channels are a group. */
  groupOfLayer: Map<string, number>;
  /** Patterns rewritten whole after pruning (see ChannelRewrite); absent when there are none. */
  rewrites?: ChannelRewrite[];
}
