// Whole residual blocks (Sparse Structure Selection, Huang & Wang 2018).
//
// A residual block computes out = x' + branch(x), where x' is x itself (identity shortcut) or a
// projection of x (a Conv + BN on the skip path). When the branch ends in a BatchNormalization
// whose every |γ| is (nearly) zero, the branch outputs (nearly) the constant β, whatever x is:
// the whole branch can go, and the Add gets β as a constant of shape [1, C, 1, 1]. Exact when γ = 0;
// with a small γ the removed term is γ·(x̂ − μ)/σ, whose expected value is 0 (β is the branch's
// mean output under the BN's running statistics).
//
// Finding blocks: for every Add of two activations, the branch side is the set of nodes that are
// ancestors of that input but not of the other (the shortcut). It is a removable block when that set
// reads exactly one activation from outside (the block's input x, itself an ancestor of, or equal to,
// the shortcut), none of its values is used outside the set or is a graph output, and it ends in a
// BatchNormalization. When both sides qualify (a projection shortcut is a Conv + BN too), the side
// with more nodes is the branch and the shortcut stays.
//
// The pattern is defined by its operators (an Add of two activations, a branch ending in a
// BatchNormalization whose γ scores it), so the matcher names them; the facts it counts with
// (a BatchNorm's parameters) come from the operator registry (graph/operators.ts).
import { PrunerError } from '../errors.ts';
import { Graph } from '../graph/graph.ts';
import { nodeFacts } from '../graph/operators.ts';
import { inferShapes } from '../graph/shapes.ts';
import { tensorElementCount, type OnnxModel } from '../onnx/model.ts';
import type { GraphProto, ModelProto, NodeProto, StringStringEntry, TensorProto } from '../onnx/proto.ts';
import { floatTensor } from '../onnx/tensors.ts';
import type { BlockSelection } from './types.ts';

/** Default |γ| below which a block's branch counts as constant. */
export const DEFAULT_BLOCK_THRESHOLD = 1e-2;


export interface ResidualBlock {
  /** The block's Add node (its id). */
  name: string;
  /** Nodes of the branch, in graph order: removed with the block. */
  nodes: string[];
  /** The branch's last BatchNormalization. */
  lastBn?: string;
  /** The block's contribution: max |γ| of the branch's last BatchNormalization (Infinity without one). */
  score: number;
  /** 'identity' (x + branch(x)) or 'projection' (a layer on the skip path, kept). */
  shortcut: 'identity' | 'projection';
  /** Channels of the branch's output. */
  channels: number;
  /** Whether the block can be removed (its branch is self-contained and ends in a BatchNormalization). */
  removable: boolean;
  /** Why it cannot be removed, when it cannot. */
  reason?: string;
  /** Internal: the Add input index of the branch, and the branch's output value. */
  branchInput: number;
  branchValue: string;
}

/** Ancestor nodes of a value (every node it is computed from), by node name. */
function ancestors(graph: Graph, value: string, stopAt?: Set<string>): Set<string> {
  const seen = new Set<string>();
  const stack = [value];
  while (stack.length) {
    const v = stack.pop()!;
    const p = graph.producer.get(v);
    if (!p || seen.has(p.name!) || stopAt?.has(p.name!)) continue;
    seen.add(p.name!);
    for (const i of p.input) if (i) stack.push(i);
  }
  return seen;
}

/**
 * Every residual block of the graph (one per Add of two activations that has a branch side), in
 * graph order, with its score and whether it can be removed.
 */
export function findResidualBlocks(graph: Graph): ResidualBlock[] {
  const out: ResidualBlock[] = [];
  const position = new Map(graph.order.map((n, i) => [n.name!, i]));
  for (const add of graph.order) {
    if (add.op_type !== 'Add' || (add.domain ?? '') !== '' || add.input.length !== 2) continue;
    const [a, b] = add.input;
    if (!a || !b || a === b || graph.isConstant(a) || graph.isConstant(b)) continue;
    const sides = [0, 1].map((k) => describeSide(graph, add, k));
    const ok = sides.filter((s) => s.removable);
    let pick: ResidualBlock | undefined;
    if (ok.length === 2) pick = ok[0].nodes.length >= ok[1].nodes.length ? ok[0] : ok[1];
    else if (ok.length === 1) pick = ok[0];
    else {
      // Not removable: report the side that looks like a branch (ends in a BN, or the longer one).
      const withBn = sides.filter((s) => s.lastBn);
      pick = withBn.length === 1 ? withBn[0] : sides[0].nodes.length >= sides[1].nodes.length ? sides[0] : sides[1];
      if (pick.nodes.length === 0) continue; // a plain sum of two values, no branch at all
    }
    pick.nodes.sort((x, y) => (position.get(x) ?? 0) - (position.get(y) ?? 0));
    out.push(pick);
  }
  return out;
}

function describeSide(graph: Graph, add: NodeProto, k: number): ResidualBlock {
  const branchValue = add.input[k];
  const shortcutValue = add.input[1 - k];
  const shortcutAnc = ancestors(graph, shortcutValue);
  const nodes = ancestors(graph, branchValue, shortcutAnc);
  const block: ResidualBlock = {
    name: add.name!, nodes: [...nodes], score: Infinity, shortcut: 'identity',
    channels: 0, removable: false, branchInput: k, branchValue,
  };
  const fail = (reason: string) => {
    block.reason = reason;
    return block;
  };
  if (nodes.size === 0) return fail('no branch');
  const last = graph.producer.get(branchValue)!;
  if (last.op_type === 'BatchNormalization') {
    block.lastBn = last.name!;
    const gamma = graph.constantFloats(last.input[1]);
    if (gamma) {
      block.channels = gamma.length;
      let m = 0;
      for (const g of gamma) m = Math.max(m, Math.abs(g));
      block.score = m;
    }
  }
  // The branch reads one activation from outside: the block's input.
  const outside = new Set<string>();
  for (const name of nodes) {
    const n = graph.byName.get(name)!;
    for (const i of n.input) {
      if (!i || graph.isConstant(i)) continue;
      const p = graph.producer.get(i);
      if (p && nodes.has(p.name!)) continue;
      outside.add(i);
    }
    for (const o of n.output) {
      if (!o) continue;
      if (graph.outputNames.has(o)) return fail(`${n.op_type} '${name}' in the branch is a graph output`);
      for (const c of graph.consumersOf(o)) {
        if (!nodes.has(c.name!) && c !== add) return fail(`${n.op_type} '${name}' in the branch is also used by ${c.op_type} '${c.name}'`);
      }
    }
  }
  if (outside.size !== 1) return fail(`the branch reads ${outside.size} activations from outside, not one`);
  const x = [...outside][0];
  const xProducer = graph.producer.get(x);
  const reachesShortcut = x === shortcutValue || (xProducer ? shortcutAnc.has(xProducer.name!) : graphInputFeeds(graph, x, shortcutAnc, shortcutValue));
  if (!reachesShortcut) return fail(`the branch input '${x}' does not feed the shortcut`);
  block.shortcut = x === shortcutValue ? 'identity' : 'projection';
  if (!block.lastBn) return fail(`the branch does not end in a BatchNormalization (${last.op_type} '${last.name}')`);
  if (!Number.isFinite(block.score)) return fail(`BatchNormalization '${block.lastBn}' has a non-constant scale`);
  if (!graph.constantFloats(last.input[2])) return fail(`BatchNormalization '${block.lastBn}' has a non-constant bias`);
  block.removable = true;
  return block;
}

/** A graph input `x` feeds the shortcut when some shortcut ancestor reads it. */
function graphInputFeeds(graph: Graph, x: string, shortcutAnc: Set<string>, shortcutValue: string): boolean {
  if (x === shortcutValue) return true;
  return graph.consumersOf(x).some((c) => shortcutAnc.has(c.name!));
}

/** Blocks a selection removes, weakest first (by name: in the order named). */
export function selectBlocks(blocks: readonly ResidualBlock[], sel: BlockSelection): ResidualBlock[] {
  if ('names' in sel) {
    const byName = new Map(blocks.map((b) => [b.name, b]));
    return sel.names.map((n) => {
      const b = byName.get(n);
      if (!b) throw new PrunerError(`removeBlocks names "${n}", which is not a residual block's Add node (blocks: ${blocks.map((x) => x.name).join(', ') || 'none'})`, { subject: n });
      if (!b.removable) throw new PrunerError(`residual block ${n} cannot be removed: ${b.reason ?? 'not removable'}`, { subject: n });
      return b;
    });
  }
  const removable = blocks.filter((b) => b.removable).sort((x, y) => x.score - y.score);
  if ('count' in sel) return removable.slice(0, sel.count);
  return removable.filter((b) => b.score < sel.threshold);
}

/**
 * The model without the given blocks: each branch's nodes are gone, the Add reads the branch's BN β as
 * a constant [1, C, 1, …] (rank of the branch output), and initializers used by no remaining node are
 * dropped. The original model is not modified.
 */
export function removeBlocks(graph: Graph, blocks: readonly ResidualBlock[]): OnnxModel {
  if (blocks.length === 0) return graph.model;
  const g = graph.model.proto.graph as GraphProto;
  const shapes = inferShapes(graph).shapes;
  const drop = new Set<string>();
  const replaceInput = new Map<string, { index: number; value: string }>();
  const newInits: TensorProto[] = [];
  const used = new Set<string>([...graph.initializers.keys(), ...graph.producer.keys(), ...g.input.map((v) => v.name ?? '')]);
  for (const b of blocks) {
    if (!b.removable || !b.lastBn) throw new PrunerError(`residual block ${b.name} cannot be removed: ${b.reason ?? 'not removable'}`, { subject: b.name });
    for (const n of b.nodes) drop.add(n);
    const bn = graph.byName.get(b.lastBn)!;
    const beta = graph.constantFloats(bn.input[2])!;
    const rank = shapes.get(b.branchValue)?.length ?? 4;
    const dims = [1, beta.length, ...new Array<number>(Math.max(0, rank - 2)).fill(1)];
    let name = `${b.name}.block_constant`;
    for (let i = 2; used.has(name); i++) name = `${b.name}.block_constant_${i}`;
    used.add(name);
    newInits.push(floatTensor(name, dims, beta));
    replaceInput.set(b.name, { index: b.branchInput, value: name });
  }
  const node: NodeProto[] = [];
  for (const n of g.node) {
    if (drop.has(n.name!)) continue;
    const r = replaceInput.get(n.name!);
    if (!r) {
      node.push(n);
      continue;
    }
    const input = [...n.input];
    input[r.index] = r.value;
    node.push({ ...n, input });
  }
  const stillUsed = new Set<string>();
  for (const n of node) for (const i of n.input) if (i) stillUsed.add(i);
  for (const o of g.output) if (o.name) stillUsed.add(o.name);
  const initializer = [...g.initializer.filter((t) => stillUsed.has(t.name ?? '')), ...newInits];
  const removedValues = new Set<string>();
  for (const n of g.node) if (drop.has(n.name!)) for (const o of n.output) if (o) removedValues.add(o);
  const droppedInit = new Set(g.initializer.filter((t) => !stillUsed.has(t.name ?? '')).map((t) => t.name ?? ''));
  const input = g.input.filter((v) => !droppedInit.has(v.name ?? ''));
  const value_info = g.value_info.filter((v) => !removedValues.has(v.name ?? ''));
  const meta: StringStringEntry[] = graph.model.proto.metadata_props.filter((e) => e.key !== 'onnx_pruner.removed_blocks');
  meta.push({ key: 'onnx_pruner.removed_blocks', value: JSON.stringify(blocks.map((b) => b.name)) });
  const proto: ModelProto = { ...graph.model.proto, graph: { ...g, node, initializer, input, value_info }, metadata_props: meta };
  return { ...graph.model, proto };
}

/** How much the output changes when the block alone is removed, measured on calibration inputs (target/block-scan.ts). */
export interface BlockDataScore {
  /** Points of top-1 agreement with the original lost (of top-1 accuracy, with labels). */
  loss: number;
  /** Top-1 agreement with the original. */
  agreement: number;
  /** Mean output drift ‖Δy‖/‖y‖. */
  drift: number;
  /** Top-1 accuracy without the block (with labels). */
  accuracy?: number;
}

/** A block as reports show it. */
export interface BlockReport {
  name: string;
  nodes: string[];
  lastBn?: string;
  score: number | null;
  shortcut: 'identity' | 'projection';
  channels: number;
  removable: boolean;
  reason?: string;
  /** The data score, when the blocks were measured on calibration inputs. */
  data?: BlockDataScore;
}

/**
 * Blocks ranked by contribution (weakest first; blocks that cannot be removed last), JSON-safe: by
 * the data score (loss, then drift) when `scores` are given, else by the last BN's max |γ|.
 */
export function blockRanking(blocks: readonly ResidualBlock[], scores?: Readonly<Record<string, BlockDataScore>>): BlockReport[] {
  const byData = (x: ResidualBlock, y: ResidualBlock) => {
    const a = scores?.[x.name];
    const b = scores?.[y.name];
    if (!a || !b) return Number(!!b) - Number(!!a);
    return a.loss - b.loss || a.drift - b.drift;
  };
  const sorted = [...blocks].sort((x, y) => Number(y.removable) - Number(x.removable) || (scores ? byData(x, y) : 0) || x.score - y.score);
  return sorted.map((b) => ({
    name: b.name,
    nodes: b.nodes,
    ...(b.lastBn ? { lastBn: b.lastBn } : {}),
    score: Number.isFinite(b.score) ? b.score : null,
    shortcut: b.shortcut,
    channels: b.channels,
    removable: b.removable,
    ...(b.reason ? { reason: b.reason } : {}),
    ...(scores?.[b.name] ? { data: scores[b.name] } : {}),
  }));
}

/** The graph with a plan's blocks removed (the same graph when it removes none), and the removed blocks. */
export function applyBlockSelection(graph: Graph, sel: BlockSelection | undefined): { graph: Graph; removed: ResidualBlock[] } {
  if (!sel) return { graph, removed: [] };
  const removed = selectBlocks(findResidualBlocks(graph), sel);
  if (removed.length === 0) return { graph, removed };
  return { graph: new Graph(removeBlocks(graph, removed)), removed };
}

/**
 * Parameters a block's branch holds, counted as the model's parameters are (graph/cost.ts): the
 * weights and biases of its weighted layers (`layerParams`, by node name) and its BatchNorms' scale
 * and bias.
 */
export function blockParams(graph: Graph, block: ResidualBlock, layerParams: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const name of block.nodes) {
    const node = graph.byName.get(name);
    if (!node) continue;
    if (nodeFacts(node)?.cost === 'batchNorm') {
      // scale and bias (inputs 1 and 2), as the model's cost counts them
      for (const i of [node.input[1], node.input[2]]) {
        const t = i ? graph.initializers.get(i) : undefined;
        if (t) n += tensorElementCount(t);
      }
    } else n += layerParams.get(name) ?? 0;
  }
  return n;
}
