// Patterns rewritten whole after the member-by-member surgery (analysis/types.ts, ChannelRewrite):
//
// - a channel shuffle (Reshape [N, g, C/g, ...] → Transpose → Reshape) computes its permutation from
//   the channel count at run time, which after pruning would shuffle the wrong channels (or fail when
//   C' is not a multiple of g). It becomes a Gather on axis 1 whose constant indices are the original
//   permutation restricted to the kept channels, renumbered: each half of the shuffle is pruned on its
//   own merits, and the pruned model computes exactly the original's kept channels.
// - a Slice of the channel axis whose bounds are computed from Shape (x.chunk(2, dim=1)) would split the
//   pruned tensor at half its new width, not where the kept channels of each part end: its bounds become
//   constants, lowered by the removed channels before them.
//
// The shape arithmetic that only fed the replaced inputs is removed with them. The patterns are
// recognised by the channel analysis (analysis/rules.ts: channelShuffle, the Slice rule) and defined
// by their operators; this file only writes their replacements (a Gather, constant bounds).
import type { ChannelGroup, ChannelRewrite, DependencyAnalysis, GroupSegment } from '../analysis/types.ts';
import type { Graph } from '../graph/graph.ts';
import { AttributeType, DataType, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from '../onnx/proto.ts';
import Long from 'long';
import { intTensor } from '../onnx/tensors.ts';

/** Original channel positions (along the tensor's channel axis) that stay, given the kept channels per group. */
export function keptPositions(segs: readonly GroupSegment[], groups: ReadonlyMap<number, ChannelGroup>, kept: ReadonlyMap<number, readonly number[]>): boolean[] {
  const out: boolean[] = [];
  for (const s of segs) {
    const g = s.group >= 0 ? groups.get(s.group) : undefined;
    const k = g ? kept.get(g.id) : undefined;
    const set = k && k.length !== g!.channels ? new Set(k) : undefined;
    for (let c = s.start; c < s.start + s.len; c++) out.push(!set || set.has(g!.fold ? c % g!.channels : c));
  }
  return out;
}

/** A 1-D INT64 initializer of `values`. */
function int64Tensor(name: string, values: number[]): TensorProto {
  return intTensor(name, [values.length], values, DataType.INT64);
}

function touched(r: ChannelRewrite, groups: ReadonlyMap<number, ChannelGroup>, kept: ReadonlyMap<number, readonly number[]>): boolean {
  return r.segs.some((s) => {
    const k = s.group >= 0 ? kept.get(s.group) : undefined;
    return k !== undefined && k.length !== groups.get(s.group)?.channels;
  });
}

/**
 * The pruned model with every touched rewrite applied. `graph`/`deps` describe the ORIGINAL model; node
 * and value names are the same in `pruned` (the surgery keeps them). Returns `pruned` unchanged when no
 * rewrite is touched by the plan.
 */
export function applyChannelRewrites(graph: Graph, deps: DependencyAnalysis, kept: ReadonlyMap<number, readonly number[]>, pruned: ModelProto): ModelProto {
  const groups = new Map(deps.groups.map((g) => [g.id, g]));
  const todo = (deps.rewrites ?? []).filter((r) => touched(r, groups, kept));
  if (todo.length === 0) return pruned;
  const g = pruned.graph as GraphProto;
  const used = new Set<string>([...g.initializer.map((t) => t.name ?? ''), ...g.node.flatMap((n) => n.output), ...g.input.map((v) => v.name ?? '')]);
  const fresh = (base: string) => {
    let n = base;
    for (let i = 2; used.has(n); i++) n = `${base}_${i}`;
    used.add(n);
    return n;
  };
  const newInits: TensorProto[] = [];
  const removeNodes = new Set<string>();
  const replaceNode = new Map<string, NodeProto>(); // node name -> node that takes its place
  const newInputs = new Map<string, Map<number, string>>();
  /** Values whose producers may now be dead shape arithmetic. */
  const released: string[] = [];
  const byName = new Map(g.node.map((n) => [n.name ?? '', n]));

  for (const r of todo) {
    const keep = keptPositions(r.segs, groups, kept);
    const rank: number[] = [];
    let n = 0;
    for (const k of keep) rank.push(k ? n++ : -1);
    if (r.kind === 'shuffle') {
      const indices = r.perm.filter((q) => keep[q]).map((q) => rank[q]);
      const idx = fresh(`${r.nodes[2]}.indices`);
      newInits.push(int64Tensor(idx, indices));
      for (const name of r.nodes) {
        removeNodes.add(name);
        const node = byName.get(name);
        if (node?.input[1]) released.push(node.input[1]);
      }
      replaceNode.set(r.nodes[2], {
        name: fresh(`${r.nodes[2]}_channel_shuffle`), op_type: 'Gather', domain: '', input: [r.input, idx], output: [r.output],
        attribute: [{ name: 'axis', type: AttributeType.INT, i: Long.fromNumber(1), floats: [], ints: [], strings: [], tensors: [], graphs: [] } as never],
      } as NodeProto);
    } else if (r.kind === 'gather') {
      const node = byName.get(r.node);
      if (!node) continue;
      const idx = fresh(`${r.node}.indices`);
      newInits.push(int64Tensor(idx, r.indices.filter((q) => keep[q]).map((q) => rank[q])));
      newInputs.set(r.node, new Map([[1, idx]]));
      released.push(node.input[1]);
    } else {
      const node = byName.get(r.node);
      if (!node) continue;
      const width = keep.length;
      const lower = (v: number) => (v >= width ? v : keep.slice(0, Math.max(0, v)).filter(Boolean).length);
      const starts = r.starts.map((v, i) => (i === r.axisIndex ? lower(v) : v));
      const ends = r.ends.map((v, i) => (i === r.axisIndex ? lower(v) : v));
      const s = fresh(`${r.node}.starts`);
      const e = fresh(`${r.node}.ends`);
      newInits.push(int64Tensor(s, starts), int64Tensor(e, ends));
      newInputs.set(r.node, new Map([[1, s], [2, e]]));
      released.push(node.input[1], node.input[2]);
    }
  }

  let nodes: NodeProto[] = [];
  for (const node of g.node) {
    const name = node.name ?? '';
    const rep = replaceNode.get(name);
    if (rep) nodes.push(rep);
    if (removeNodes.has(name)) continue;
    const ni = newInputs.get(name);
    nodes.push(ni ? { ...node, input: node.input.map((v, i) => ni.get(i) ?? v) } : node);
  }
  // Dead shape arithmetic: producers of released values whose outputs nothing reads any more.
  const candidates = new Set<NodeProto>();
  const producer = new Map<string, NodeProto>();
  for (const node of nodes) for (const o of node.output) producer.set(o, node);
  const walk = (v: string, depth: number) => {
    const p = producer.get(v);
    if (!p || candidates.has(p) || depth > 32) return;
    candidates.add(p);
    for (const i of p.input) if (i) walk(i, depth + 1);
  };
  for (const v of released) if (v) walk(v, 0);
  const outputs = new Set(g.output.map((o) => o.name ?? ''));
  for (let changed = true; changed; ) {
    changed = false;
    const read = new Set<string>();
    for (const node of nodes) for (const i of node.input) read.add(i);
    const next = nodes.filter((node) => !candidates.has(node) || node.output.some((o) => o && (read.has(o) || outputs.has(o))));
    if (next.length !== nodes.length) {
      changed = true;
      nodes = next;
    }
  }
  const live = new Set<string>(nodes.flatMap((node) => node.input));
  const stay = new Set(nodes);
  const gone = g.node.filter((node) => !stay.has(node));
  const removedValues = new Set(gone.flatMap((node) => node.output));
  // Initializers read only by removed nodes (or replaced inputs) go with them.
  const orphaned = new Set([...gone.flatMap((node) => node.input), ...released]);
  const initializer = [...g.initializer.filter((t) => live.has(t.name ?? '') || !orphaned.has(t.name ?? '') || outputs.has(t.name ?? '')), ...newInits];
  const value_info = g.value_info.filter((v) => !removedValues.has(v.name ?? ''));
  return { ...pruned, graph: { ...g, node: nodes, initializer, value_info } };
}

