// Plan-time criteria: group scores computed when a plan ranks by them (higher = more important),
// added to the model's importance next to the weight criteria.
//
// Measured on calibration inputs, at the inputs of the group's consuming layers (a Conv with one
// group, or a Gemm; what the next layers actually see, after BN and activation), in one ONNX Runtime
// pass of the original model (working.ts):
//   - activation: mean |a| of the channel (mean over its consumers' inputs);
//   - apoz:       1 − APoZ, APoZ = the share of zeros of the channel after its activation (Hu et al.
//                 2016), so that the channels most often zero rank lowest;
//   - thinet:     ThiNet's greedy choice (Luo et al. 2017): with sampled rows of the consumers' outputs
//                 (10 positions and one random output channel per input and consumer), v_s[c] is channel
//                 c's contribution to that output; channels are removed one by one, each time the one
//                 that keeps Σ_s (Σ_{removed} v_s)² smallest. The score is the step at which a channel
//                 would be removed (the first removed scores 0). Computed from Q = VᵀV (accumulated
//                 batch by batch), so memory is C² per group whatever the number of inputs. A global
//                 ranking of these ranks (normalised per group) spreads removals about evenly.
// Data-free:
//   - sketch:     a FilterSketch-like selection (Lin et al. 2020). The paper builds a smaller, new filter
//                 set whose covariance matches the original's (Frequent Directions) and then fine-tunes,
//                 and leaves branch points (residual groups) unpruned. Without fine-tuning the product
//                 keeps a SUBSET of the original filters instead: each filter scores its ridge leverage
//                 in the layer's filter Gram matrix G = F·Fᵀ, diag(G(G + λI)⁻¹) with λ = 0.01·trace(G)/C —
//                 how much of the filters' covariance only that filter carries. Filters lying in
//                 directions shared with others score low and go first. Coupled groups (residual) are
//                 pruned too: the score is the mean over the group's layers.
import { PrunerError, throwIfAborted } from '../errors.ts';
import { attrInt, type Graph } from '../graph/graph.ts';
import type { OnnxModel } from '../onnx/model.ts';
import { mapChannel, type ChannelGroup, type DependencyAnalysis, type GroupMember } from '../analysis/types.ts';
import { filterMatrix, readFloats, type ModelImportance } from '../analysis/importance.ts';
import { storedTensor } from '../graph/quant.ts';
import { weightedFacts, weightLayout } from '../graph/operators.ts';
import { DATA_CRITERIA, type DataCriterion, type PlanCriterion } from '../prune/types.ts';
import { mulberry32 } from '../runtime/inputs.ts';
import type { ExecutionProviderChoice } from '../runtime/types.ts';
import type { InputSet } from '../data/types.ts';
import { dataInput, probeModel, streamProbe, type ProbeTensor } from './working.ts';
import { GramAccumulator, cholesky } from './linalg.ts';

export interface PlanCriterionOptions {
  calibration?: InputSet;
  ep?: ExecutionProviderChoice;
  threads?: number;
  signal?: AbortSignal;
  /** The share of the calibration inputs measured so far (data criteria only). */
  onProgress?: (fraction: number) => void;
}

export function isDataCriterion(c: PlanCriterion): c is DataCriterion {
  return (DATA_CRITERIA as readonly string[]).includes(c);
}

/**
 * Group scores of a plan-time criterion (`sketch` or a data criterion), by group id; undefined for
 * the weight criteria (importance.ts scores those). PrunerError when a data criterion has no data.
 */
export async function planCriterionScores(
  criterion: PlanCriterion,
  model: OnnxModel,
  graph: Graph,
  deps: DependencyAnalysis,
  opts: PlanCriterionOptions = {},
): Promise<Map<number, Float32Array> | undefined> {
  if (criterion === 'sketch') return sketchScores(graph, deps, opts.signal);
  if (!isDataCriterion(criterion)) return undefined;
  const data = opts.calibration;
  if (!data || data.count === 0) throw new PrunerError(`criterion ${criterion} is measured on calibration inputs: give them (--calib), or choose a weight criterion (bn-gamma, l1, l2, fpgm, sketch)`);
  return measuredScores(criterion, model, graph, deps, data, opts);
}

/**
 * A consumer the data criteria measure at: a float convolution with one group or a Gemm (the
 * registry's kinds) reading the group's channels. ThiNet's sampled rows are the arithmetic of
 * these two kinds (a dense window, a matrix product without transA), so it names their attributes.
 */
interface Consumer {
  group: ChannelGroup;
  member: GroupMember;
  node: string;
  kind: 'conv' | 'gemm';
  tensor: string;
}

function consumersOf(graph: Graph, deps: DependencyAnalysis): Consumer[] {
  const out: Consumer[] = [];
  for (const group of deps.groups) {
    if (!group.prunable) continue;
    for (const m of group.members) {
      const f = weightedFacts(m.op);
      const kind = f && !f.quantized ? f.kind : undefined;
      if (m.role !== 'in' || (kind !== 'conv' && kind !== 'gemm')) continue;
      const n = graph.byName.get(m.node);
      if (!n || !n.input[0] || !n.input[1]) continue;
      if (kind === 'conv' && attrInt(n, 'group', 1) !== 1) continue;
      if (kind === 'gemm' && attrInt(n, 'transA', 0)) continue;
      out.push({ group, member: m, node: m.node, kind, tensor: n.input[0] });
    }
  }
  return out;
}

async function measuredScores(criterion: DataCriterion, model: OnnxModel, graph: Graph, deps: DependencyAnalysis, data: InputSet, opts: PlanCriterionOptions): Promise<Map<number, Float32Array>> {
  const consumers = consumersOf(graph, deps);
  const tensors = [...new Set(consumers.map((c) => c.tensor))];
  const out = new Map<number, Float32Array>();
  if (!tensors.length) return out;
  const input = dataInput(graph, model.path);
  const sums = new Map<string, { abs: Float64Array; zeros: Float64Array; n: number }>();
  // ThiNet: Q = VᵀV per group (C × C).
  const q = new Map<number, Float64Array>();
  const weights = new Map<string, Float32Array>();
  if (criterion === 'thinet') for (const c of consumers) weights.set(c.node, readFloats(graph, graph.byName.get(c.node)!.input[1])!);
  const bytes = probeModel({ model, graph, proto: model.proto }, tensors);
  await streamProbe(bytes, `${model.path} (${criterion})`, input.name, input.dynamicBatch, data, (outs, offset) => {
    throwIfAborted(opts.signal);
    if (criterion !== 'thinet') {
      for (const t of tensors) addAbsZeros(sums, t, outs.get(t)!);
      return;
    }
    consumers.forEach((c, ci) => {
      const x = outs.get(c.tensor)!;
      let Q = q.get(c.group.id);
      if (!Q) q.set(c.group.id, (Q = new Float64Array(c.group.channels * c.group.channels)));
      thinetRows(graph, c, ci, weights.get(c.node)!, x, offset, Q);
    });
  }, { ep: opts.ep ?? 'auto', ...(opts.threads ? { threads: opts.threads } : {}), ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onProgress ? { onBatch: opts.onProgress } : {}) });

  if (criterion === 'thinet') {
    for (const [gid, Q] of q) out.set(gid, greedyOrder(Q, Math.round(Math.sqrt(Q.length))));
    return out;
  }
  const acc = new Map<number, { sum: Float64Array; n: Float64Array }>();
  for (const c of consumers) {
    const s = sums.get(c.tensor)!;
    const C = c.group.channels;
    let a = acc.get(c.group.id);
    if (!a) acc.set(c.group.id, (a = { sum: new Float64Array(C), n: new Float64Array(C) }));
    for (let ch = 0; ch < C; ch++) {
      const idx = mapChannel(c.member, ch);
      if (!idx.length) continue;
      let v = 0;
      for (const i of idx) v += criterion === 'activation' ? s.abs[i] / s.n : 1 - s.zeros[i] / s.n;
      a.sum[ch] += v / idx.length;
      a.n[ch] += 1;
    }
  }
  for (const [gid, a] of acc) if (a.n.every((n) => n > 0)) out.set(gid, Float32Array.from(a.sum, (v, i) => v / a.n[i]));
  return out;
}

/** Per-feature Σ|x| and zero counts of a [N, C, ...] tensor (channel axis 1; a Gemm input [N, K] per feature). */
function addAbsZeros(sums: Map<string, { abs: Float64Array; zeros: Float64Array; n: number }>, name: string, t: ProbeTensor): void {
  const [N, C] = t.dims;
  const inner = t.dims.slice(2).reduce((a, b) => a * b, 1);
  let s = sums.get(name);
  if (!s) sums.set(name, (s = { abs: new Float64Array(C), zeros: new Float64Array(C), n: 0 }));
  for (let b = 0; b < N; b++)
    for (let c = 0; c < C; c++) {
      const base = (b * C + c) * inner;
      let a = 0;
      let z = 0;
      for (let i = 0; i < inner; i++) {
        const v = t.data[base + i];
        a += Math.abs(v);
        if (v === 0) z++;
      }
      s.abs[c] += a;
      s.zeros[c] += z;
    }
  s.n += N * inner;
}

const THINET_POSITIONS = 10;

/** Adds ThiNet's sampled contribution rows of one consumer, for one batch, to the group's Q = VᵀV. */
function thinetRows(graph: Graph, c: Consumer, ci: number, w: Float32Array, x: ProbeTensor, offset: number, Q: Float64Array): void {
  const C = c.group.channels;
  const n = graph.byName.get(c.node)!;
  const t = storedTensor(graph, n.input[1])!;
  const wd = t.dims.map((d) => Number(d));
  const v = new Float64Array(C);
  const B = x.dims[0];
  const idxOf = Array.from({ length: C }, (_, ch) => mapChannel(c.member, ch));
  for (let b = 0; b < B; b++) {
    const rnd = mulberry32((ci + 1) * 92821 + (offset + b) * 31);
    for (let r = 0; r < (c.kind === 'conv' ? THINET_POSITIONS : 1); r++) {
      v.fill(0);
      if (c.kind === 'conv') {
        const [O, Cin, kh, kw] = wd;
        const [, XC, H, W] = x.dims;
        const o = Math.floor(rnd() * O);
        // a random interior-ish output position of a stride-1-like sampling over the input grid
        const cy = Math.floor(rnd() * H);
        const cx = Math.floor(rnd() * W);
        for (let ch = 0; ch < C; ch++) {
          let s = 0;
          for (const i of idxOf[ch]) {
            if (i >= Cin || i >= XC) continue;
            for (let a = 0; a < kh; a++) {
              const iy = cy - (kh >> 1) + a;
              if (iy < 0 || iy >= H) continue;
              for (let bb = 0; bb < kw; bb++) {
                const ix = cx - (kw >> 1) + bb;
                if (ix < 0 || ix >= W) continue;
                s += w[((o * Cin + i) * kh + a) * kw + bb] * x.data[((b * XC + i) * H + iy) * W + ix];
              }
            }
          }
          v[ch] = s;
        }
      } else {
        const layout = weightLayout(n, wd)!;
        const transB = layout.outAxis === 0;
        const K = x.dims[1];
        const Nout = layout.outChannels;
        const o = Math.floor(rnd() * Nout);
        for (let ch = 0; ch < C; ch++) {
          let s = 0;
          for (const i of idxOf[ch]) if (i < K) s += (transB ? w[o * K + i] : w[i * Nout + o]) * x.data[b * K + i];
          v[ch] = s;
        }
      }
      for (let i = 0; i < C; i++) {
        const vi = v[i];
        if (vi === 0) continue;
        for (let j = 0; j < C; j++) Q[i * C + j] += vi * v[j];
      }
    }
  }
}

/** ThiNet's greedy removal order from Q = VᵀV: score = the step at which each channel goes. */
export function greedyOrder(Q: Float64Array, C: number): Float32Array {
  const removed = new Uint8Array(C);
  const acc = new Float64Array(C); // Σ_{d removed} Q[d, c]
  const score = new Float32Array(C);
  for (let step = 0; step < C; step++) {
    let best = -1;
    let bestCost = Infinity;
    for (let c = 0; c < C; c++) {
      if (removed[c]) continue;
      const cost = 2 * acc[c] + Q[c * C + c];
      if (cost < bestCost) {
        bestCost = cost;
        best = c;
      }
    }
    removed[best] = 1;
    score[best] = step;
    for (let c = 0; c < C; c++) acc[c] += Q[best * C + c];
  }
  return score;
}

/** FilterSketch-like scores: ridge leverage of each filter in its layer's filter Gram matrix, mean over the group's layers. */
async function sketchScores(graph: Graph, deps: DependencyAnalysis, signal?: AbortSignal): Promise<Map<number, Float32Array>> {
  const out = new Map<number, Float32Array>();
  for (const group of deps.groups) {
    if (!group.prunable) continue;
    const C = group.channels;
    const sum = new Float64Array(C);
    let layers = 0;
    for (const name of group.layers) {
      throwIfAborted(signal);
      const node = graph.byName.get(name);
      const m = node ? filterMatrix(graph, node) : undefined;
      if (!m || m.rows !== C) continue;
      const lev = await ridgeLeverage(m.data, m.rows, m.cols);
      for (let i = 0; i < C; i++) sum[i] += lev[i];
      layers++;
    }
    if (layers) out.set(group.id, Float32Array.from(sum, (v) => v / layers));
  }
  return out;
}

/**
 * λ relative to the mean filter energy: filters far below it (negligible energy) score low, filters
 * above it score by how unique their direction is (a duplicated filter shares its leverage).
 */
const SKETCH_RIDGE = 1e-2;

/** diag(G(G + λI)⁻¹) for G = F·Fᵀ (F: rows × cols), λ = SKETCH_RIDGE · trace(G)/rows. */
export async function ridgeLeverage(f: Float32Array, rows: number, cols: number): Promise<Float64Array> {
  // G = F·Fᵀ as the Gram matrix of Fᵀ (cols × rows).
  const ft = new Float32Array(cols * rows);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) ft[c * rows + r] = f[r * cols + c];
  const acc = new GramAccumulator(rows, 1);
  await acc.add(ft, new Float32Array(cols), cols);
  const { xtx: G } = await acc.finish();
  let trace = 0;
  for (let i = 0; i < rows; i++) trace += G[i * rows + i];
  const lambda = (SKETCH_RIDGE * trace) / rows || 1;
  const L = Float64Array.from(G);
  for (let i = 0; i < rows; i++) L[i * rows + i] += lambda;
  if (!cholesky(L, rows)) return new Float64Array(rows).fill(1);
  // diag((G + λI)⁻¹)_i = Σ_k (L⁻¹)[k, i]²: invert L column by column (forward substitution).
  const diagInv = new Float64Array(rows);
  const col = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    col.fill(0);
    col[i] = 1 / L[i * rows + i];
    diagInv[i] += col[i] * col[i];
    for (let k = i + 1; k < rows; k++) {
      let s = 0;
      for (let j = i; j < k; j++) s -= L[k * rows + j] * col[j];
      col[k] = s / L[k * rows + k];
      diagInv[i] += col[k] * col[k];
    }
  }
  return diagInv.map((d) => 1 - lambda * d);
}

/** Adds a plan-time criterion's group scores to a model's importance (what resolvePlan ranks). */
export function addPlanScores(importance: ModelImportance, criterion: PlanCriterion, scores: Map<number, Float32Array> | undefined): void {
  if (!scores) return;
  for (const [gid, s] of scores) {
    const gi = importance.groups.get(gid);
    if (gi) gi.scores[criterion] = s;
  }
}
