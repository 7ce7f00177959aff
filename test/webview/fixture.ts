// Fixture data for the model view's preview harness: what the host would answer for one
// model (summary, layer rows, per-channel scores, groups), computed from a real .onnx file
// with the engine's loader, graph index and shape inference. Grouping here is a simple
// stand-in (residual Adds and depthwise convolutions couple; reaching a graph output
// freezes) so the view has realistic data before the full analysis is wired in.
import * as path from 'node:path';
import type { Criterion, GroupInfo, LayerRow, PlanPreview, ScoreStats, ViewPlan, ViewSummary } from '../../src/shared/protocol.ts';
import { Graph, attrInt } from '../../src/engine/graph/graph.ts';
import { inferShapes, numel, valueInfoShape } from '../../src/engine/graph/shapes.ts';
import { loadModel, tensorDims, tensorElementCount, tensorToFloat32 } from '../../src/engine/onnx/model.ts';
import { toNumber } from '../../src/engine/onnx/proto.ts';
import { workerHandlers } from '../../src/worker/handlers.ts';

export interface ViewFixture {
  summary: ViewSummary;
  layers: LayerRow[];
  /** Per layer, every channel's score per criterion. */
  scores: Record<string, Partial<Record<Criterion, number[]>>>;
  groups: GroupInfo[];
  /** The engine's preview of the view's default plan (workerFixture): the fake host answers it for any plan. */
  preview?: PlanPreview;
  /** Per layer, the channels the default plan removes (workerFixture). */
  removed?: Record<string, number[]>;
}

/**
 * A fixture computed by the real worker (the extension's answers) for a model: summary, rows, every
 * layer's channel scores, groups, and the preview of `plan` (the view's default plan: the fake
 * host's default settings) with the channels it removes.
 */
export async function workerFixture(file: string, plan: ViewPlan = { criterion: 'bn-gamma', ratio: 0.5, scope: 'uniform', compensate: true }): Promise<ViewFixture> {
  const h = workerHandlers();
  const ctx = { signal: new AbortController().signal, progress: () => {} };
  try {
    await h.open({ path: file }, ctx);
    await h.score({ path: file }, ctx);
    const summary = { ...(await h.open({ path: file }, ctx)), providers: ['cpu'], trusted: true, scored: true };
    const layers = (await h.getLayers({ path: file, query: { offset: 0, limit: 10_000 } }, ctx)).rows;
    const scores: ViewFixture['scores'] = {};
    const removed: Record<string, number[]> = {};
    for (const l of layers) {
      const d = await h.getLayerDetail({ path: file, layer: l.name, plan }, ctx);
      scores[l.name] = d.scores;
      removed[l.name] = d.removed;
    }
    const groups = await h.getGroups({ path: file }, ctx);
    const preview = await h.previewPlan({ path: file, plan }, ctx);
    return { summary, layers, scores, groups, preview, removed };
  } finally {
    await h.close({ path: file }, ctx);
  }
}

const PASS_THROUGH = new Set(['BatchNormalization', 'Relu', 'Clip', 'LeakyRelu', 'Sigmoid', 'HardSwish', 'Dropout', 'Identity', 'MaxPool', 'AveragePool']);
const ELEM_TYPES: Record<number, string> = { 1: 'float32', 10: 'float16', 11: 'float64', 7: 'int64', 6: 'int32', 2: 'uint8', 3: 'int8' };

export function statsOf(values: number[]): ScoreStats {
  const s = [...values].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))] ?? 0;
  const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length);
  return {
    min: s[0] ?? 0, q1: q(0.25), median: q(0.5), q3: q(0.75), max: s[s.length - 1] ?? 0, mean,
    below: { '1e-3': s.filter((v) => v < 1e-3).length, '1e-2': s.filter((v) => v < 1e-2).length, '5e-2': s.filter((v) => v < 5e-2).length },
  };
}

class UnionFind {
  private parent = new Map<string, string>();
  find(a: string): string {
    let p = this.parent.get(a) ?? a;
    if (p !== a) {
      p = this.find(p);
      this.parent.set(a, p);
    }
    return p;
  }
  union(a: string, b: string): void {
    const ra = this.find(a), rb = this.find(b);
    if (ra !== rb) this.parent.set(ra, rb);
  }
}

function filterNorms(w: Float32Array, out: number, per: number): { l1: number[]; l2: number[]; fpgm: number[] } {
  const l1: number[] = [], l2: number[] = [], fpgm: number[] = [];
  for (let i = 0; i < out; i++) {
    let a = 0, b = 0;
    for (let k = 0; k < per; k++) {
      const v = w[i * per + k]!;
      a += Math.abs(v);
      b += v * v;
    }
    l1.push(a);
    l2.push(Math.sqrt(b));
  }
  for (let i = 0; i < out; i++) {
    let sum = 0;
    for (let j = 0; j < out; j++) {
      if (i === j) continue;
      let d = 0;
      for (let k = 0; k < per; k++) {
        const x = w[i * per + k]! - w[j * per + k]!;
        d += x * x;
      }
      sum += Math.sqrt(d);
    }
    fpgm.push(sum);
  }
  return { l1, l2, fpgm };
}

export function buildFixture(file: string): ViewFixture {
  const model = loadModel(file);
  const g = new Graph(model);
  const shapes = inferShapes(g, { dims: {} });
  const uf = new UnionFind();
  const layers: LayerRow[] = [];
  const scores: ViewFixture['scores'] = {};
  let totalMacs = 0;

  for (const n of g.order) {
    const op = n.op_type ?? '';
    if (PASS_THROUGH.has(op) || op === 'Add') for (const i of n.input.slice(0, op === 'Add' ? 2 : 1)) if (i && !g.isConstant(i)) uf.union(i, n.output[0]!);
    if (op !== 'Conv' && op !== 'Gemm' && op !== 'MatMul') continue;
    const wName = n.input[1];
    const wt = wName ? g.constantTensor(wName) : undefined;
    if (!wt) continue;
    const dims = tensorDims(wt);
    const w = tensorToFloat32(model, wt);
    const transB = op === 'Gemm' ? attrInt(n, 'transB', 0) === 1 : false;
    const out = op === 'Conv' ? dims[0]! : transB ? dims[0]! : dims[dims.length - 1]!;
    let per = w.length / out;
    let wRows = w;
    if (op !== 'Conv' && !transB) {
      // [K, N] weights: transpose so each output's weights are contiguous.
      const k = dims[0]!;
      wRows = new Float32Array(w.length);
      for (let r = 0; r < k; r++) for (let c = 0; c < out; c++) wRows[c * k + r] = w[r * out + c]!;
      per = k;
    }
    let params = tensorElementCount(wt);
    const bias = n.input[2] ? g.constantTensor(n.input[2]) : undefined;
    if (bias) params += tensorElementCount(bias);
    const outShape = shapes.shapes.get(n.output[0]!);
    const spatial = outShape ? (numel(outShape.slice(2).map((d) => (typeof d === 'number' ? d : 1))) ?? 1) : 1;
    const macs = out * per * spatial;
    totalMacs += macs;
    const group = attrInt(n, 'group', 1);
    if (op === 'Conv' && group > 1 && group === out) uf.union(n.input[0]!, n.output[0]!);

    const norms = filterNorms(wRows, out, per);
    const sc: Partial<Record<Criterion, number[]>> = { l1: norms.l1, l2: norms.l2, fpgm: norms.fpgm };
    const cons = g.consumersOf(n.output[0]!);
    const bnNode = cons.length === 1 && cons[0]!.op_type === 'BatchNormalization' ? cons[0]! : undefined;
    if (bnNode) {
      const gamma = g.constantFloats(bnNode.input[1]!);
      if (gamma) {
        sc['bn-gamma'] = Array.from(gamma, Math.abs);
        params += gamma.length * 4;
      }
    }
    scores[n.name!] = sc;
    const stats: LayerRow['stats'] = {};
    for (const [c, v] of Object.entries(sc) as [Criterion, number[]][]) stats[c] = statsOf(v);
    layers.push({ name: n.name!, op, channels: out, params, macs, groupId: null, prunable: true, bn: bnNode?.name ?? undefined, bnFused: !bnNode, stats });
  }

  // Groups: layers whose outputs meet (through pass-through ops and Adds) share one.
  const byRoot = new Map<string, LayerRow[]>();
  for (const l of layers) {
    const r = uf.find(g.byName.get(l.name)!.output[0]!);
    byRoot.set(r, [...(byRoot.get(r) ?? []), l]);
  }
  const outputsByRoot = new Map<string, string>();
  for (const o of g.outputNames) outputsByRoot.set(uf.find(o), o);
  const groups: GroupInfo[] = [];
  for (const [root, members] of byRoot) {
    const id = groups.length;
    const out = outputsByRoot.get(root);
    const reason = out !== undefined ? `its output is the graph output '${out}'` : undefined;
    for (const l of members) {
      l.groupId = id;
      if (reason) {
        l.prunable = false;
        l.frozenReason = reason;
      }
    }
    const memberNodes = members.flatMap((l) => {
      const node = g.byName.get(l.name)!;
      const list = [{ node: l.name, op: l.op, role: 'producer' }];
      for (const c of g.consumersOf(node.output[0]!)) if (c.op_type === 'BatchNormalization') list.push({ node: c.name!, op: 'BatchNormalization', role: 'bn' });
      return list;
    });
    groups.push({ id, channels: members[0]!.channels, prunable: !reason, reason, layers: members.map((l) => l.name), members: memberNodes });
  }

  let params = 0;
  for (const t of g.initializers.values()) params += tensorElementCount(t);
  const sig = (v: (typeof g.inputs)[number]) => ({ name: v.name ?? '', elemType: ELEM_TYPES[v.type?.tensor_type?.elem_type ?? 0] ?? 'unknown', shape: valueInfoShape(v) ?? [] });
  const bnCount = g.nodes.filter((n) => n.op_type === 'BatchNormalization').length;
  const bnFused = bnCount === 0 && layers.some((l) => l.op === 'Conv');
  const p = model.proto;
  const summary: ViewSummary = {
    file,
    fileName: path.basename(file),
    sizeOnDisk: model.sizeOnDisk,
    irVersion: toNumber(p.ir_version),
    opsets: [...g.opsets].map(([domain, version]) => ({ domain: domain || 'ai.onnx', version })),
    producer: [p.producer_name, p.producer_version].filter(Boolean).join(' '),
    inputs: g.inputs.map(sig),
    outputs: g.outputs.map(sig),
    params,
    macs: totalMacs,
    batchAssumed: shapes.symbolicBatch,
    macsComplete: true,
    inputShapes: {},
    nodeCount: g.nodes.length,
    layerCount: layers.length,
    prunableLayerCount: layers.filter((l) => l.prunable).length,
    groupCount: groups.length,
    prunableGroupCount: groups.filter((x) => x.prunable).length,
    bnCount,
    bnFused,
    advice: bnFused ? ['No BatchNormalization: BN was folded into the convolutions at export. Re-export with training=TrainingMode.PRESERVE and do_constant_folding=False to keep BN γ for Network Slimming.'] : [],
    providers: ['cpu'],
    trusted: true,
    scored: true,
  };
  return { summary, layers, scores, groups };
}
