// Channel dependency analysis: which channel spaces of a graph must keep the same indices.
//
// Every weighted layer (Conv, ConvTranspose, Gemm, MatMul with a constant weight) opens a channel
// space for its output channels. Walking the graph in topological order, each node's rule
// (rules.ts) carries the channel layout of its inputs to its outputs: spaces that meet (a residual
// Add, an SE gate) are united with a union-find, consumers add members (weights, BN parameters,
// shape constants), and anything that cannot be proven freezes the space with a reason naming the
// node. Each final union is one ChannelGroup.
import { PrunerError, throwIfAborted } from '../errors.ts';
import type { Graph } from '../graph/graph.ts';
import { dimOf, inferShapes } from '../graph/shapes.ts';
import { biasInputOf, dequantizeOf } from '../graph/quant.ts';
import { tensorDims } from '../onnx/model.ts';
import { type NodeProto, type GraphProto } from '../onnx/proto.ts';
import { nodeLabel, ruleFor, type ChannelLayout, type PendingRewrite, type RuleContext } from './rules.ts';
import type { ChannelGroup, ChannelRewrite, DependencyAnalysis, GroupMember, IndexMapping } from './types.ts';

export interface AnalysisOptions {
  /** Known value shapes; when absent, inferShapes(graph) is run. value_info and constants fill the gaps. */
  shapes?: Map<string, (number | string)[]>;
  signal?: AbortSignal;
}

/**
 * Channels kept when pruning `ratio` of a group of `channels`: floor(channels × (1 − ratio)),
 * Torch-Pruning's rule (its uniform pruning keeps int(C × (1 − r)), e.g. 32 → 22 at r = 0.3),
 * with a 1e-9 tolerance so that float noise (100 × 0.7 = 69.999…) does not drop a channel.
 * Then at least `minChannels` (default 1), rounded UP to a multiple of `roundTo` and of `divisor`
 * (grouped convolution), never more than `channels`.
 */
export function channelsToKeep(channels: number, ratio: number, opts: { roundTo?: number; minChannels?: number; divisor?: number } = {}): number {
  if (!(ratio >= 0 && ratio < 1)) throw new PrunerError(`pruning ratio ${ratio} is outside [0, 1)`);
  let keep = Math.floor(channels * (1 - ratio) + 1e-9);
  keep = Math.max(keep, Math.min(opts.minChannels ?? 1, channels));
  const step = lcm(Math.max(1, opts.roundTo ?? 1), Math.max(1, opts.divisor ?? 1));
  if (step > 1) keep = Math.ceil(keep / step) * step;
  return Math.min(keep, channels);
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

/** Builds the coupled channel groups of a graph. Pure: reads the graph, returns data. */
export function analyzeDependencies(graph: Graph, opts: AnalysisOptions = {}): DependencyAnalysis {
  const a = new Analysis(graph, opts);
  a.run();
  return a.result();
}

interface Owned<T> {
  space: number;
  item: T;
}

class Analysis implements RuleContext {
  readonly graph: Graph;
  private readonly opts: AnalysisOptions;
  private readonly parent: number[] = [];
  private readonly width: number[] = [];
  private readonly frozen: (string | undefined)[] = [];
  private readonly divisor: number[] = [];
  private readonly divisorBy: string[] = [];
  private readonly fold: number[] = [];
  private readonly foldBy: string[] = [];
  private readonly layouts = new Map<string, ChannelLayout>();
  private readonly members: Owned<GroupMember>[] = [];
  private readonly layers: Owned<string>[] = [];
  private readonly bns: Owned<string>[] = [];
  private readonly values: Owned<string>[] = [];
  /** Non-Identity uses of each constant source: the nodes reading it (once per input slot), and whether it is a graph output. */
  private readonly uses = new Map<string, { nodes: NodeProto[]; output: boolean }>();

  private readonly shapes: Map<string, (number | string)[]>;
  private constValues: Map<string, (number | string)[]> | undefined;
  private readonly rewrites: { rewrite: PendingRewrite; layout: ChannelLayout }[] = [];

  constructor(graph: Graph, opts: AnalysisOptions) {
    this.graph = graph;
    this.opts = opts;
    if (opts.shapes) this.shapes = opts.shapes;
    else {
      const inferred = inferShapes(graph);
      this.shapes = inferred.shapes;
      this.constValues = inferred.constValues;
    }
  }

  run(): void {
    const order = this.graph.order;
    // Values read inside subgraphs (If/Loop/Scan bodies) are implicit inputs: the topological order
    // does not see them, so they are checked once every layout is known.
    const captured: { node: NodeProto; value: string }[] = [];
    for (let i = 0; i < order.length; i++) {
      if ((i & 63) === 0) throwIfAborted(this.opts.signal);
      const node = order[i];
      const label = nodeLabel(node);
      const rule = ruleFor(node);
      for (const value of subgraphInputs(node)) captured.push({ node, value });
      if (!rule) {
        node.input.forEach((v) => {
          const l = v ? this.layouts.get(v) : undefined;
          if (l) this.freeze(l, `${label} is an operator the analysis does not model`);
        });
        continue;
      }
      if (rule.data !== 'all') {
        const data = rule.data;
        node.input.forEach((v, k) => {
          const l = v ? this.layouts.get(v) : undefined;
          if (l && !data.includes(k)) this.freeze(l, `${label} takes channels at input ${k} ('${v}'), which the analysis does not model`);
        });
      }
      rule.apply(this, node);
    }
    for (const { node, value } of captured) {
      const l = this.layouts.get(value);
      if (l) this.freeze(l, `${nodeLabel(node)} uses '${value}' inside a subgraph`);
    }
  }

  result(): DependencyAnalysis {
    const groups: ChannelGroup[] = [];
    const byRoot = new Map<number, ChannelGroup>();
    for (let s = 0; s < this.parent.length; s++) {
      const r = this.find(s);
      if (byRoot.has(r)) continue;
      const f = this.fold[r];
      const width = this.width[r];
      const g: ChannelGroup = { id: groups.length, channels: width % f === 0 ? width / f : width, members: [], layers: [], bnNodes: [], prunable: true, values: [] };
      let d = this.divisor[r];
      // A divisor whose blocks are unions of fold blocks is met by any tied removal.
      if (f > 1 && d > 1 && f % d === 0) d = 1;
      if (d > 1) g.divisor = d;
      if (f > 1 && width % f === 0) g.fold = f;
      const reason =
        this.frozen[r] ??
        (f > 1 && width % f !== 0 ? `${this.foldBy[r]} needs ${width} channels in ${f} equal blocks` : undefined) ??
        (f > 1 && d > 1 ? `${this.foldBy[r]} and ${this.divisorBy[r]} ask for incompatible equal blocks` : undefined) ??
        (d > 1 && g.channels % d !== 0 ? `${this.divisorBy[r]} needs ${g.channels} channels in ${d} equal blocks` : undefined);
      if (reason) {
        g.prunable = false;
        g.reason = reason;
      }
      byRoot.set(r, g);
      groups.push(g);
    }
    const groupOf = (space: number) => byRoot.get(this.find(space))!;
    for (const { space, item } of this.members) {
      const r = this.find(space);
      const f = this.fold[r];
      if (f > 1 && this.width[r] % f === 0) pushUnique(groupOf(space).members, foldMember(item, this.width[r] / f, this.width[r]));
      else groupOf(space).members.push(item);
    }
    const addUnique = (list: Owned<string>[], pick: (g: ChannelGroup) => string[]) => {
      for (const { space, item } of list) {
        const arr = pick(groupOf(space));
        if (!arr.includes(item)) arr.push(item);
      }
    };
    addUnique(this.layers, (g) => g.layers);
    addUnique(this.bns, (g) => g.bnNodes);
    addUnique(this.values, (g) => g.values);
    const groupOfLayer = new Map<string, number>();
    for (const { space, item } of this.layers) if (!groupOfLayer.has(item)) groupOfLayer.set(item, groupOf(space).id);
    const rewrites: ChannelRewrite[] = this.rewrites.map(({ rewrite, layout }) => ({
      ...rewrite,
      segs: layout.segs.map((s) => ({ group: s.space >= 0 ? groupOf(s.space).id : -1, start: s.start, len: s.len })),
    }));
    return rewrites.length ? { groups, groupOfLayer, rewrites } : { groups, groupOfLayer };
  }

  // ------------------------------------------------------------ union-find

  private find(s: number): number {
    let r = s;
    while (this.parent[r] !== r) r = this.parent[r];
    while (this.parent[s] !== r) {
      const next = this.parent[s];
      this.parent[s] = r;
      s = next;
    }
    return r;
  }

  private union(a: number, b: number): void {
    let ra = this.find(a);
    let rb = this.find(b);
    if (ra === rb) return;
    if (rb < ra) [ra, rb] = [rb, ra]; // the older space stays the root: ids follow first appearance
    this.parent[rb] = ra;
    this.frozen[ra] ??= this.frozen[rb];
    if (this.divisor[rb] > 1) this.requireDivisor(ra, this.divisor[rb], this.divisorBy[rb]);
    if (this.fold[rb] > 1) this.requireFold(ra, this.fold[rb], this.foldBy[rb]);
  }

  // ------------------------------------------------------------ RuleContext

  layout(value: string): ChannelLayout | undefined {
    return this.layouts.get(value);
  }

  setLayout(value: string, layout: ChannelLayout, node: NodeProto): void {
    this.layouts.set(value, layout);
    for (const s of layout.segs) if (s.space >= 0) this.values.push({ space: s.space, item: value });
    if (this.graph.outputNames.has(value)) this.freeze(layout, `reaches graph output '${value}' through ${nodeLabel(node)}`);
  }

  widthOf(space: number): number {
    return this.width[this.find(space)];
  }

  newSpace(width: number, node: NodeProto): number {
    const id = this.parent.length;
    this.parent.push(id);
    this.width.push(width);
    this.frozen.push(undefined);
    this.divisor.push(1);
    this.divisorBy.push('');
    this.fold.push(1);
    this.foldBy.push('');
    if (width < 1) this.frozen[id] = `${nodeLabel(node)} has no output channels`;
    return id;
  }

  unite(a: ChannelLayout, b: ChannelLayout, node: NodeProto): boolean {
    const label = nodeLabel(node);
    let ok = true;
    let i = 0;
    let j = 0;
    let oa = 0;
    let ob = 0;
    while (i < a.segs.length && j < b.segs.length) {
      const sa = a.segs[i];
      const sb = b.segs[j];
      const len = Math.min(sa.len - oa, sb.len - ob);
      if (sa.space >= 0 && sb.space >= 0) {
        // Same positions must be the same channel of spaces of the same width, else the indices differ.
        if (sa.start + oa !== sb.start + ob || this.width[this.find(sa.space)] !== this.width[this.find(sb.space)]) {
          const reason = `${label} adds channels at different positions of their groups`;
          this.freezeSpace(sa.space, reason);
          this.freezeSpace(sb.space, reason);
          ok = false;
        } else this.union(sa.space, sb.space);
      } else if (sa.space >= 0 || sb.space >= 0) {
        this.freezeSpace(Math.max(sa.space, sb.space), `${label} combines the channels with channels no group owns`);
        ok = false;
      }
      oa += len;
      ob += len;
      if (oa === sa.len) {
        i++;
        oa = 0;
      }
      if (ob === sb.len) {
        j++;
        ob = 0;
      }
    }
    return ok;
  }

  freeze(layout: ChannelLayout, reason: string): void {
    for (const s of layout.segs) if (s.space >= 0) this.freezeSpace(s.space, reason);
  }

  freezeSpace(space: number, reason: string): void {
    const r = this.find(space);
    this.frozen[r] ??= reason;
  }

  addMember(space: number, m: GroupMember): void {
    this.members.push({ space, item: m });
    for (const q of this.quantParams(m)) this.members.push({ space, item: q });
  }

  /**
   * Members for the per-channel scale and zero point of a member's tensor (and of its bias) when that
   * tensor is dequantised from an integer constant along the axis the member slices: the vectors lose
   * the same indices. Per-tensor scales, and per-channel ones along another axis, stay as they are.
   */
  private quantParams(m: GroupMember): GroupMember[] {
    const out: GroupMember[] = [];
    if (m.role === 'shape') return out;
    const node = this.graph.byName.get(m.node);
    if (!node) return out;
    const add = (value: string | undefined, axis: number) => {
      const dq = dequantizeOf(this.graph, value);
      if (!dq || dq.axis === undefined || dq.axis !== axis) return;
      for (const idx of [1, 2]) {
        const c = dq.node.input[idx] ? this.constantInput(dq.node, idx) : undefined;
        if (!c) continue;
        const q: GroupMember = { node: dq.node.name!, op: 'DequantizeLinear', role: 'param', tensor: c.tensor, inputIndex: idx, axis: 0, mapping: m.mapping, shared: c.shared };
        if (m.span !== undefined) q.span = m.span;
        if (m.start !== undefined) q.start = m.start;
        out.push(q);
      }
    };
    if (m.inputIndex !== undefined) add(node.input[m.inputIndex], m.axis);
    if (m.bias) {
      const bi = biasInputOf(this.graph, node, m.bias);
      if (bi >= 0) add(node.input[bi], 0);
    }
    return out;
  }

  addSegmentMembers(layout: ChannelLayout, base: Omit<GroupMember, 'mapping' | 'span' | 'start'>, block?: number): void {
    let pos = 0;
    for (const s of layout.segs) {
      if (s.space >= 0) {
        const m: GroupMember = { ...base, mapping: { kind: 'identity' }, span: s.len };
        if (block !== undefined && block > 1) m.mapping = { kind: 'block', size: block, offset: (pos - s.start) * block };
        else if (pos !== s.start) m.mapping = { kind: 'offset', offset: pos - s.start };
        if (s.start !== 0) m.start = s.start;
        this.addMember(s.space, m);
      }
      pos += s.len;
    }
  }

  addLayer(space: number, node: NodeProto): void {
    this.layers.push({ space, item: node.name! });
  }

  addBn(space: number, node: NodeProto): void {
    this.bns.push({ space, item: node.name! });
  }

  requireDivisor(space: number, divisor: number, by: string): void {
    const r = this.find(space);
    this.divisor[r] = lcm(this.divisor[r], divisor);
    this.divisorBy[r] ||= by;
  }

  requireFold(space: number, fold: number, by: string): void {
    const r = this.find(space);
    this.fold[r] = lcm(this.fold[r], fold);
    this.foldBy[r] ||= by;
  }

  constValue(value: string): (number | string)[] | undefined {
    this.constValues ??= inferShapes(this.graph).constValues;
    return this.constValues.get(value);
  }

  addRewrite(rewrite: PendingRewrite, layout: ChannelLayout): void {
    this.rewrites.push({ rewrite, layout });
  }

  shapeOf(value: string): (number | string)[] | undefined {
    const known = this.shapes.get(value);
    if (known) return known;
    const vi = this.graph.valueInfo.get(value);
    const dims = vi?.type?.tensor_type?.shape?.dim;
    if (dims) return dims.map(dimOf);
    const t = this.graph.constantTensor(value);
    return t ? tensorDims(t) : undefined;
  }

  constantInput(node: NodeProto, index: number): { tensor: string; dims: number[]; shared: boolean } | undefined {
    const name = node.input[index];
    if (!name) return undefined;
    const dq = this.graph.constantSource(name) ? undefined : dequantizeOf(this.graph, name);
    if (dq) {
      // A dequantised constant stands for its integer tensor; the surgery slices that tensor (and the
      // scale and zero point through quantParams). Only when this node alone reads the dequantised value.
      const readers = this.graph.consumersOf(name);
      if (readers.length !== 1 || node.input.filter((v) => v === name).length !== 1 || this.graph.outputNames.has(name)) return undefined;
      const u = this.usesOf(dq.q);
      return { tensor: dq.q, dims: dq.dims, shared: u.output || u.nodes.some((n) => n !== dq.node) || u.nodes.length > 1 };
    }
    const src = this.graph.constantSource(name);
    const t = src ? this.graph.constantTensor(src) : undefined;
    if (!src || !t) return undefined;
    const u = this.usesOf(src);
    const shared = u.output || u.nodes.some((n) => n !== node) || u.nodes.length > 1;
    return { tensor: src, dims: tensorDims(t), shared };
  }

  private usesOf(src: string): { nodes: NodeProto[]; output: boolean } {
    let u = this.uses.get(src);
    if (u) return u;
    u = { nodes: [], output: false };
    const walk = (v: string, depth: number) => {
      if (this.graph.outputNames.has(v)) u!.output = true;
      for (const c of this.graph.consumersOf(v)) {
        if (c.op_type === 'Identity' && depth < 16) walk(c.output[0], depth + 1);
        else for (const inp of c.input) if (inp === v) u!.nodes.push(c);
      }
    };
    walk(src, 0);
    this.uses.set(src, u);
    return u;
  }
}

/**
 * A member in the coordinates of a folded group of `a` channels: its range of unfolded channels is cut
 * at every block boundary (multiples of a), and each piece becomes a member whose group channel r stands
 * for unfolded channel r + j*a of block j.
 */
function foldMember(m: GroupMember, a: number, width: number): GroupMember[] {
  const out: GroupMember[] = [];
  const start = m.start ?? 0;
  const end = start + (m.span ?? width);
  for (let j = Math.floor(start / a); j * a < end; j++) {
    const lo = Math.max(start, j * a);
    const hi = Math.min(end, (j + 1) * a);
    if (hi <= lo) continue;
    const shift = j * a; // unfolded i = r + shift
    const mapping: IndexMapping =
      m.mapping.kind === 'identity' ? (shift ? { kind: 'offset', offset: shift } : { kind: 'identity' })
      : m.mapping.kind === 'offset' ? (m.mapping.offset + shift ? { kind: 'offset', offset: m.mapping.offset + shift } : { kind: 'identity' })
      : { kind: 'block', size: m.mapping.size, offset: m.mapping.offset + shift * m.mapping.size };
    const piece: GroupMember = { ...m, mapping, span: hi - lo };
    if (lo - shift) piece.start = lo - shift;
    else delete piece.start;
    out.push(piece);
  }
  return out;
}

/** Appends members, skipping exact duplicates (a grouped conv's shared weight column seen from every block). */
function pushUnique(list: GroupMember[], items: GroupMember[]): void {
  for (const m of items) {
    const key = JSON.stringify(m);
    if (!list.some((x) => JSON.stringify(x) === key)) list.push(m);
  }
}

/** Values a node's subgraphs (If/Loop/Scan bodies) read from the enclosing scope. */
function subgraphInputs(node: NodeProto): string[] {
  const out: string[] = [];
  const visit = (g: GraphProto) => {
    const local = new Set<string>([...g.input.map((v) => v.name ?? ''), ...g.initializer.map((t) => t.name ?? '')]);
    for (const n of g.node) {
      for (const v of n.input) if (v && !local.has(v)) out.push(v);
      for (const o of n.output) local.add(o);
      for (const a of n.attribute) {
        if (a.g) visit(a.g);
        for (const sg of a.graphs ?? []) visit(sg);
      }
    }
  };
  for (const a of node.attribute) {
    if (a.g) visit(a.g);
    for (const sg of a.graphs ?? []) visit(sg);
  }
  return out;
}
