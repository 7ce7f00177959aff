// Channel importance: one score per output channel of every weighted layer, and one per channel
// of every channel group, for the four criteria of the product.
//
// Per layer (a Conv/ConvTranspose/Gemm/MatMul with a constant weight; "filter i" is the slice of
// the weight that produces output channel i: axis 0 of a Conv weight, axis 1 of a ConvTranspose,
// MatMul or Gemm transB=0 weight):
//   - 'bn-gamma': |γ_i| of the BatchNormalization that follows the layer (directly, or through
//     pass-through activations when that BN is one of the group's bnNodes). Network Slimming.
//   - 'l1':   sum |W_i|            (Li et al. 2017)
//   - 'l2':   sqrt(sum W_i²)       (Soft Filter Pruning)
//   - 'fpgm': sum_j ||W_i − W_j||₂ over the layer's other filters (He et al. 2019, geometric median).
//     Computed with the Gram identity ||a−b||² = |a|²+|b|²−2a·b: a register-blocked double-precision
//     loop for small layers; for large ones ONNX Runtime GEMMs (A·Bᵀ over the row blocks on and
//     above the diagonal), ~20× faster than JavaScript on a 2048×1024 layer. Sums in double precision.
// Which layers are scored (float weighted layers as stored, QLinear* on their dequantised weight) and
// which operators a BatchNormalization may sit behind and still score a layer come from the operator
// registry (graph/operators.ts: `weighted`, `transparentToBn`).
// A Conv with no BatchNormalization after it is flagged `bnFused`: in an eval-mode export its
// weights already contain γ/√(var+ε), so its norms are those of the folded weights.
//
// Group score (what a plan ranks; the channels of a group are pruned together). Chosen to match
// Torch-Pruning 1.5 (the DepGraph reference), so that the same plan keeps the same channels:
//   - 'bn-gamma': mean of |γ_i| over the group's BatchNormalization nodes (BNScaleImportance).
//   - 'l1':  "group L1": mean over the group's weighted parameter slices of sum |w| — the output
//     filters of its layers, the input-channel slices of every consuming layer (all block elements
//     for a Flatten into Gemm), and the BN γ (MagnitudeImportance(p=1)). A channel whose consumers
//     ignore it is unimportant even when its own filter is large.
//   - 'l2':  the group L2 norm: sqrt of the mean over the same slices of sum w² (MagnitudeImportance(p=2)
//     ranks by the mean of sum w², so the order inside a group is the same).
//   - 'fpgm': mean of the layers' FPGM scores over the group's layers. (Torch-Pruning's FPGMImportance
//     measures distances between |W|² element-wise, not between the filters; we keep the paper's
//     definition, so FPGM choices differ from that reference by design.)
// `firstLayer` names the group's layer nearest the input (smallest depth, e.g. a residual stage's
// downsample conv): ranking by that layer's own scores is the classic single-layer criterion
// (Torch-Pruning's `l1_first` on ResNet), offered by resolvePlan's `groupScore: 'first'`.
// Depthwise convs carried by a group contribute to nothing but FPGM/norms of their own layer entry:
// Torch-Pruning leaves them out of group magnitudes too.
import type { Graph } from '../graph/graph.ts';
import type { NodeProto } from '../onnx/proto.ts';
import { forEachRowBlock, LITTLE_ENDIAN, tensorDims, tensorFileRange, tensorFloatsFast } from '../onnx/model.ts';
import { throwIfAborted } from '../errors.ts';
import * as os from 'node:os';
import Long from 'long';
import { ModelProtoType, DataType } from '../onnx/proto.ts';
import { computeGraph } from '../runtime/session.ts';
import { CRITERIA, type Criterion } from './criteria.ts';
import { normsPass } from './norms.ts';
import { parallelBlockedNorms, parallelNorms } from './parallel-norms.ts';
import { isBatchNorm, isFloatConv, isFloatWeighted, operatorFacts, weightedFacts, weightInputIndex, weightLayout } from '../graph/operators.ts';
import { mapChannel, type ChannelGroup, type DependencyAnalysis, type GroupMember } from './types.ts';
import { dequantizeOf, dequantizedFloats, isConstantLike, qlinearWeight, storedTensor, type Dequantized } from '../graph/quant.ts';

/** An operator-oriented quantised layer (QLinearConv, QLinearMatMul), scored on its dequantised weight. */
const isQLinear = (op: string): boolean => weightedFacts(op)?.quantized === 'qlinear';

/**
 * Scores per criterion; a criterion that was not asked for (or does not apply, e.g. γ without BN)
 * is absent. The plan-time criteria (src/engine/recovery/criteria.ts) are on groups only, when a
 * plan asks for them.
 */
export type Scores = Partial<Record<Criterion, Float32Array>> & {
  sketch?: Float32Array;
  activation?: Float32Array;
  apoz?: Float32Array;
  thinet?: Float32Array;
};

export interface LayerImportance {
  name: string;
  op: string;
  /** Output channels of the layer. */
  channels: number;
  /** Group whose channels are this layer's output channels, when the analysis has one. */
  group?: number;
  /** The BatchNormalization node whose γ scores this layer. */
  bn?: string;
  /**
   * No BatchNormalization right after the layer, but these BNs of its channel group scale its
   * channels elsewhere (DenseNet's BN → ReLU → Conv after a Concat): its 'bn-gamma' score is the
   * group's mean |γ| over them, what a bn-gamma plan ranks its channels by.
   */
  gammaFrom?: string[];
  /** No BatchNormalization scores this conv (none after it, none in its group): its weights may have BN folded in. */
  bnFused: boolean;
  scores: Scores;
}

export interface GroupImportance {
  id: number;
  channels: number;
  /** Group scores per criterion (see the module comment); 'bn-gamma' only when the group has a BN. */
  scores: Scores;
  /** The group's first layer in topological order (for the single-layer "first" ranking). */
  firstLayer?: string;
}

export interface ModelImportance {
  layers: Map<string, LayerImportance>;
  groups: Map<number, GroupImportance>;
  /** The model has at least one BatchNormalization node. */
  hasBn: boolean;
  /** Advice for people (e.g. how to re-export with BatchNormalization kept). */
  advice: string[];
  /** The criteria that were computed (see ImportanceOptions.criteria). */
  criteria: Criterion[];
  /** Milliseconds spent, for benchmarks. */
  ms: number;
}

export interface ImportanceOptions {
  /**
   * The criteria to compute (default: all four). 'l1' and 'l2' come from one pass over the
   * weights and are computed together; 'bn-gamma' reads only the BatchNormalization scales;
   * 'fpgm' (pairwise filter distances) is the costly one: ask for it only when it is used.
   */
  criteria?: readonly Criterion[];
  signal?: AbortSignal;
  /** FPGM backend: 'auto' (ONNX Runtime for large layers when it loads, else JavaScript) or 'js'. */
  fpgmBackend?: 'auto' | 'js';
  /** ONNX Runtime threads for FPGM (default: every core, at most 4). The editor leaves one core to the UI. */
  threads?: number;
}


/** Criteria that cost one pass over the weights at most (what `inspect` and the editor compute first). */
export const CHEAP_CRITERIA: readonly Criterion[] = ['bn-gamma', 'l1', 'l2'];
const EVERY_CRITERION: readonly Criterion[] = ['bn-gamma', 'l1', 'l2', 'fpgm'];


export const REEXPORT_ADVICE =
  'This model has no BatchNormalization, so BN γ is not available. If the network was trained with BN, BN was folded into its convolutions at export (an eval-mode export) and the norms are those of the folded weights. ' +
  'To prune by γ, re-export from PyTorch with torch.onnx.export(..., training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False).';


/**
 * A constant's values as float32, to be read, never written: FLOAT tensors stored in `raw_data`
 * are a view of the file's bytes when aligned, else copied in one block; external FLOAT data is
 * read straight into the result, FLOAT16/BFLOAT16 decoded in one pass (tensorFloatsFast);
 * other types element by element (graph.constantFloats).
 * `cache` (per analysis run) avoids decoding a weight twice.
 */
export function readFloats(graph: Graph, value: string, cache?: Map<string, Float32Array>): Float32Array | undefined {
  const key = graph.constantSource(value) ?? value;
  const hit = cache?.get(key);
  if (hit) return hit;
  const t = graph.constantTensor(key);
  if (!t) {
    // a weight dequantised from an integer constant (QDQ): its values (q − zero_point) × scale
    const dq = dequantizeOf(graph, value);
    if (!dq) return undefined;
    const out = dequantizedFloats(graph, dq);
    cache?.set(key, out);
    return out;
  }
  let out: Float32Array | undefined;
  const raw = t.raw_data;
  const external = (t.data_location ?? 0) === 1;
  if (!external && LITTLE_ENDIAN && t.data_type === DataType.FLOAT && raw && raw.length > 0) {
    const n = tensorDims(t).reduce((a, b) => a * b, 1);
    // a view when 4-byte aligned (read-only use); otherwise a copy in one block (new Uint8Array(typedArray) copies)
    if (raw.length === n * 4)
      out = raw.byteOffset % 4 === 0 ? new Float32Array(raw.buffer, raw.byteOffset, n) : new Float32Array(new Uint8Array(raw).buffer, 0, n);
  }
  out ??= tensorFloatsFast(graph.model, t) ?? graph.constantFloats(key);
  if (out) cache?.set(key, out);
  return out;
}

/** A weight as a [rows = output channels, cols = K] row-major matrix: row i is filter i. */
export interface FilterMatrix {
  rows: number;
  cols: number;
  data: Float32Array;
}

/**
 * The filters of a weighted layer as a matrix, or undefined when the weight is not a constant
 * (or the layer is not one this criterion understands).
 */
export function filterMatrix(graph: Graph, node: NodeProto, cache?: Map<string, Float32Array>): FilterMatrix | undefined {
  const op = node.op_type ?? '';
  if (!isFloatWeighted(op)) return undefined;
  const wName = node.input[1];
  if (!wName) return undefined;
  const t = storedTensor(graph, wName);
  if (!t) return undefined;
  const w = readFloats(graph, wName, cache);
  if (!w) return undefined;
  return filterMatrixOf(node, w, tensorDims(t));
}

/** filterMatrix of a weight already read (`w` with shape `dims`), as the registry's weight layout says. */
function filterMatrixOf(node: NodeProto, w: Float32Array, dims: number[]): FilterMatrix | undefined {
  const layout = weightLayout(node, dims);
  if (!layout) return undefined;
  if (layout.outChannels === dims[layout.outAxis]) return axisMatrix(w, dims, layout.outAxis);
  // the filter axis holds one group's (ConvTranspose [C_in, C_out/g, k...]): output channel gi*(C_out/g)+j is rows of block gi, column j
  const g = layout.groups;
  const coutG = dims[layout.outAxis];
  const inner = dims.slice(2).reduce((a, b) => a * b, 1);
  const cinG = dims[layout.inAxis] / g;
  const rows = coutG * g;
  const cols = cinG * inner;
  const data = new Float32Array(rows * cols);
  for (let gi = 0; gi < g; gi++)
    for (let j = 0; j < coutG; j++) {
      const r = gi * coutG + j;
      for (let c = 0; c < cinG; c++) {
        const src = ((gi * cinG + c) * coutG + j) * inner;
        data.set(w.subarray(src, src + inner), r * cols + c * inner);
      }
    }
  return { rows, cols, data };
}

/** A weighted layer's output channel count (the rows of its filterMatrix) from its weight's dims alone. */
export function layerChannels(graph: Graph, name: string): number | undefined {
  const node = graph.byName.get(name);
  const op = node?.op_type ?? '';
  if (!node) return undefined;
  const ql = qlinearWeight(graph, node);
  if (ql) return weightLayout(node, ql.dims)?.outChannels;
  if (!isFloatWeighted(op) || !node.input[1]) return undefined;
  const t = storedTensor(graph, node.input[1]);
  return t ? weightLayout(node, tensorDims(t))?.outChannels : undefined;
}

/** Rows of `w` (shape `dims`) along `axis`: a copy unless axis is 0. */
function axisMatrix(w: Float32Array, dims: number[], axis: number): FilterMatrix {
  const rows = dims[axis];
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const cols = outer * inner;
  if (outer === 1) return { rows, cols, data: w };
  const data = new Float32Array(rows * cols);
  for (let o = 0; o < outer; o++)
    for (let r = 0; r < rows; r++) data.set(w.subarray((o * rows + r) * inner, (o * rows + r + 1) * inner), r * cols + o * inner);
  return { rows, cols, data };
}

/** L1 and L2 norms and squared norms of every row (normsPass without the magnitudes). */
export function rowNorms(m: FilterMatrix): { l1: Float32Array; l2: Float32Array; sq: Float64Array } {
  const r = { l1: new Float32Array(m.rows), l2: new Float32Array(m.rows), sq: new Float64Array(m.rows) };
  normsPass(m.data, m.rows, m.cols, 1, 0, r.l1, r.l2, r.sq);
  return r;
}

type BlockedNorms = { l1: Float32Array; l2: Float32Array; sq: Float64Array; mags: Map<number, { l1: Float64Array; sq: Float64Array }> };

/**
 * blockedNorms of a large FLOAT weight in external data, on several cores (parallel-norms.ts): the
 * same values. Undefined where that does not apply (the caller runs blockedNorms).
 */
async function parallelNormsOf(graph: Graph, node: NodeProto, key: string, axes: Set<number> | undefined): Promise<BlockedNorms | undefined> {
  const t = graph.constantTensor(key);
  const range = t ? tensorFileRange(graph.model, t) : undefined;
  if (!t || !range || t.data_type !== DataType.FLOAT || !LITTLE_ENDIAN) return undefined;
  if ([...(axes ?? [])].some((a) => a > 1)) return undefined;
  const dims = tensorDims(t);
  const layout = isFloatWeighted(node.op_type) ? weightLayout(node, dims) : undefined;
  if (layout?.outAxis !== 0 || layout.outChannels !== dims[0] || dims[0] === 0) return undefined;
  const rows = dims[0];
  const mid = dims.length > 1 ? dims[1] : 1;
  const inner = dims.slice(2).reduce((a, b) => a * b, 1);
  if (range.length < rows * mid * inner * 4) return undefined;
  const perBlock = Math.max(1, Math.floor(parallelNorms.blockFloats / (mid * inner)));
  const r = await parallelBlockedNorms(range, rows, mid, inner, perBlock, axes?.has(1) === true);
  if (!r) return undefined;
  const mags = new Map<number, { l1: Float64Array; sq: Float64Array }>();
  if (r.part) mags.set(1, r.part);
  if (axes?.has(0)) mags.set(0, { l1: Float64Array.from(r.l1), sq: Float64Array.from(r.sq) });
  return { l1: r.l1, l2: r.l2, sq: r.sq, mags };
}

/**
 * Row norms of a layer whose filters are the rows of axis 0 of its weight (Conv, Gemm transB=1),
 * and the per-index magnitudes along `axes` that the groups need, computed by blocks of rows
 * (forEachRowBlock): the weight is never whole in memory. Undefined for other layouts and types
 * (the caller reads the weight whole).
 */
function blockedNorms(graph: Graph, node: NodeProto, key: string, axes: Set<number> | undefined): { l1: Float32Array; l2: Float32Array; sq: Float64Array; mags: Map<number, { l1: Float64Array; sq: Float64Array }> } | undefined {
  const t = graph.constantTensor(key);
  if (!t) return undefined;
  const dims = tensorDims(t);
  const layout = isFloatWeighted(node.op_type) ? weightLayout(node, dims) : undefined;
  if (layout?.outAxis !== 0 || layout.outChannels !== dims[0]) return undefined;
  const rows = dims[0];
  const l1 = new Float32Array(rows);
  const l2 = new Float32Array(rows);
  const sq = new Float64Array(rows);
  const mags = new Map<number, { l1: Float64Array; sq: Float64Array }>();
  for (const axis of axes ?? []) if (axis >= 1 && axis < dims.length) mags.set(axis, { l1: new Float64Array(dims[axis]), sq: new Float64Array(dims[axis]) });
  // axis 1 (a consumer's input channels: the common case) in the same pass as the rows; other axes after
  const mid = dims.length > 1 ? dims[1] : 1;
  const inner = dims.slice(2).reduce((a, b) => a * b, 1);
  const acc1 = mags.get(1);
  const part = acc1 ? { l1: new Float64Array(mid), sq: new Float64Array(mid) } : undefined;
  const ok = forEachRowBlock(graph.model, t, (block, first, n) => {
    normsPass(block, n, mid, inner, first, l1, l2, sq, part);
    if (acc1 && part)
      for (let i = 0; i < mid; i++) {
        acc1.l1[i] += part.l1[i];
        acc1.sq[i] += part.sq[i];
      }
    for (const [axis, acc] of mags) {
      if (axis === 1) continue;
      const p = sliceMagnitudes(block, [n, ...dims.slice(1)], axis);
      for (let i = 0; i < acc.l1.length; i++) {
        acc.l1[i] += p.l1[i];
        acc.sq[i] += p.sq[i];
      }
    }
  });
  if (!ok) return undefined;
  // magnitudes along axis 0 are the rows' own
  if (axes?.has(0)) mags.set(0, { l1: Float64Array.from(l1), sq: Float64Array.from(sq) });
  return { l1, l2, sq, mags };
}

/** Gram-matrix product count below which FPGM runs in JavaScript (ORT's session overhead dominates below). */
const FPGM_ORT_MIN_MACS = 1 << 22;

/**
 * FPGM scores, score_i = sum_j ||W_i − W_j||₂, in JavaScript (double precision): a 4×4
 * register-blocked Gram product over the upper triangle, then the distances.
 */
export function fpgmScores(m: FilterMatrix, sq: Float64Array = rowNorms(m).sq, signal?: AbortSignal): Float32Array {
  const { rows: C, cols: K, data } = m;
  const score = new Float64Array(C);
  const g = new Float64Array(16);
  const pair = (i: number, j: number, dot: number) => {
    const d = Math.sqrt(Math.max(0, sq[i] + sq[j] - 2 * dot));
    score[i] += d;
    score[j] += d;
  };
  for (let i0 = 0; i0 < C; i0 += 4) {
    if ((i0 & 63) === 0) throwIfAborted(signal);
    const iN = Math.min(4, C - i0);
    for (let j0 = i0; j0 < C; j0 += 4) {
      const jN = Math.min(4, C - j0);
      if (iN === 4 && jN === 4) {
        const a0 = i0 * K, a1 = a0 + K, a2 = a1 + K, a3 = a2 + K;
        const b0 = j0 * K, b1 = b0 + K, b2 = b1 + K, b3 = b2 + K;
        let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
        let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
        for (let k = 0; k < K; k++) {
          const x0 = data[a0 + k], x1 = data[a1 + k], x2 = data[a2 + k], x3 = data[a3 + k];
          const y0 = data[b0 + k], y1 = data[b1 + k], y2 = data[b2 + k], y3 = data[b3 + k];
          s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
          s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
          s20 += x2 * y0; s21 += x2 * y1; s22 += x2 * y2; s23 += x2 * y3;
          s30 += x3 * y0; s31 += x3 * y1; s32 += x3 * y2; s33 += x3 * y3;
        }
        g[0] = s00; g[1] = s01; g[2] = s02; g[3] = s03; g[4] = s10; g[5] = s11; g[6] = s12; g[7] = s13;
        g[8] = s20; g[9] = s21; g[10] = s22; g[11] = s23; g[12] = s30; g[13] = s31; g[14] = s32; g[15] = s33;
        for (let a = 0; a < 4; a++)
          for (let b = 0; b < 4; b++) if (j0 + b > i0 + a) pair(i0 + a, j0 + b, g[a * 4 + b]);
      } else {
        for (let a = 0; a < iN; a++)
          for (let b = 0; b < jN; b++) {
            const i = i0 + a;
            const j = j0 + b;
            if (j <= i) continue;
            let s = 0;
            const oi = i * K;
            const oj = j * K;
            for (let k = 0; k < K; k++) s += data[oi + k] * data[oj + k];
            pair(i, j, s);
          }
      }
    }
  }
  return Float32Array.from(score);
}

/** Rows per block of the blocked ONNX Runtime product. */
const GRAM_BLOCK = 256;

/**
 * FPGM with ONNX Runtime, by row blocks of the filter matrix, only the blocks on and above the
 * diagonal (about 5/8 of the full product for 2048 filters). Each block runs one small graph that
 * does the whole block in native code on every intra-op thread: D = sqrt(max(0, |a|² + |b|² − 2·a·bᵀ)),
 * then D's row sums and column sums. Off the diagonal, a block adds its row sums to its rows' scores
 * and its column sums to its columns'; on it, the row sums alone cover both halves of the block, and
 * the diagonal of D is masked to exactly 0. Block sums are accumulated in double precision.
 */
async function fpgmOrt(m: FilterMatrix, sq: Float64Array, fpgm: FpgmBlockFn, signal?: AbortSignal): Promise<Float32Array> {
  const { rows: C, cols: K, data } = m;
  const score = new Float64Array(C);
  const sq32 = Float32Array.from(sq);
  for (let a0 = 0; a0 < C; a0 += GRAM_BLOCK) {
    const ma = Math.min(GRAM_BLOCK, C - a0);
    const A = data.subarray(a0 * K, (a0 + ma) * K);
    for (let b0 = a0; b0 < C; b0 += GRAM_BLOCK) {
      throwIfAborted(signal);
      const nb = Math.min(GRAM_BLOCK, C - b0);
      const diagonal = b0 === a0;
      const { rowSums, colSums } = await fpgm(
        A,
        sq32.subarray(a0, a0 + ma),
        ma,
        data.subarray(b0 * K, (b0 + nb) * K),
        sq32.subarray(b0, b0 + nb),
        nb,
        K,
        diagonal,
      );
      for (let i = 0; i < ma; i++) score[a0 + i] += rowSums[i];
      if (!diagonal) for (let j = 0; j < nb; j++) score[b0 + j] += colSums[j];
    }
  }
  return Float32Array.from(score);
}

/** Layers with more filters than this, and a full distance matrix above FPGM_SAMPLE_MIN_MACS, get sampled FPGM. */
export const FPGM_SAMPLE_MIN_ROWS = 2048;
const FPGM_SAMPLE_MIN_MACS = 2 ** 35;
/** Filters sampled for the estimate. */
export const FPGM_SAMPLE_SIZE = 512;

/** `n` distinct indices of [0, C), evenly strided from a seeded offset (deterministic: the same model gives the same scores). */
export function fpgmSample(C: number, n: number): Int32Array {
  const out = new Int32Array(Math.min(n, C));
  const step = C / out.length;
  for (let k = 0; k < out.length; k++) out[k] = Math.min(C - 1, Math.floor(k * step + step / 2));
  return out;
}

/**
 * Sampled FPGM for very wide layers: score_i ≈ (C / S) · Σ_{j ∈ sample} ‖W_i − W_j‖₂ over S filters
 * spread evenly over the layer, instead of all C (C·S·K products instead of C²·K/2). An unbiased
 * estimate of the sum when filter order carries no structure; the error is measured in the tests.
 * With ONNX Runtime (`fpgm`) by row blocks against the sample, else in JavaScript.
 */
export async function fpgmSampled(m: FilterMatrix, sq: Float64Array, sampleSize: number, fpgm?: FpgmBlockFn, signal?: AbortSignal): Promise<Float32Array> {
  const { rows: C, cols: K, data } = m;
  const idx = fpgmSample(C, sampleSize);
  const S = idx.length;
  const B = new Float32Array(S * K);
  const sqb = new Float32Array(S);
  idx.forEach((r, k) => {
    B.set(data.subarray(r * K, (r + 1) * K), k * K);
    sqb[k] = sq[r];
  });
  const score = new Float64Array(C);
  const scale = C / S;
  if (fpgm) {
    const sq32 = Float32Array.from(sq);
    for (let a0 = 0; a0 < C; a0 += GRAM_BLOCK) {
      throwIfAborted(signal);
      const ma = Math.min(GRAM_BLOCK, C - a0);
      const { rowSums } = await fpgm(data.subarray(a0 * K, (a0 + ma) * K), sq32.subarray(a0, a0 + ma), ma, B, sqb, S, K, false);
      for (let i = 0; i < ma; i++) score[a0 + i] = rowSums[i] * scale;
    }
    return Float32Array.from(score);
  }
  for (let i = 0; i < C; i++) {
    if ((i & 63) === 0) throwIfAborted(signal);
    const oi = i * K;
    let sum = 0;
    for (let k = 0; k < S; k++) {
      const ob = k * K;
      let dot = 0;
      for (let c = 0; c < K; c++) dot += data[oi + c] * B[ob + c];
      sum += Math.sqrt(Math.max(0, sq[i] + sqb[k] - 2 * dot));
    }
    score[i] = sum * scale;
  }
  return Float32Array.from(score);
}

/**
 * One block of FPGM distances from ONNX Runtime: for row-major A [m, k] and B [n, k] with squared
 * row norms, the row and column sums of the [m, n] distance matrix (`diagonal`: A is B, the
 * diagonal is zeroed).
 */
type FpgmBlockFn = (
  a: Float32Array,
  sqa: Float32Array,
  m: number,
  b: Float32Array,
  sqb: Float32Array,
  n: number,
  k: number,
  diagonal: boolean,
) => Promise<{ rowSums: Float32Array; colSums: Float32Array }>;


/** The distance graph of one FPGM block (opset 13), as ONNX bytes. */
function fpgmBlockGraph(diagonal: boolean): Uint8Array {
  const vi = (name: string, dims: (string | number)[]) => ({
    name,
    type: {
      tensor_type: {
        elem_type: DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: Long.fromNumber(d) } : { dim_param: d })) },
      },
    },
  });
  const ints = (name: string, values: number[]) => ({
    name,
    data_type: DataType.INT64,
    dims: [Long.fromNumber(values.length)],
    int64_data: values.map((v) => Long.fromNumber(v)),
  });
  const node = (op_type: string, input: string[], output: string, attribute: object[] = []) => ({ op_type, name: output, input, output: [output], attribute });
  const nodes = [
    // −2·a·bᵀ + |a|² (column vector), then + |b|² (row vector)
    node('Gemm', ['a', 'b', 'sqa'], 'g', [
      { name: 'transB', type: 2, i: Long.fromNumber(1) },
      { name: 'alpha', type: 1, f: -2 },
    ]),
    node('Add', ['g', 'sqb'], 'd2'),
    node('Relu', ['d2'], 'd2p'),
    node('Sqrt', ['d2p'], 'd'),
  ];
  let dist = 'd';
  if (diagonal) {
    nodes.push(node('EyeLike', ['d'], 'eye'), node('Mul', ['d', 'eye'], 'dd'), node('Sub', ['d', 'dd'], 'dz'));
    dist = 'dz';
  }
  nodes.push(
    node('ReduceSum', [dist, 'axis1'], 'rows', [{ name: 'keepdims', type: 2, i: Long.fromNumber(0) }]),
    node('ReduceSum', [dist, 'axis0'], 'cols', [{ name: 'keepdims', type: 2, i: Long.fromNumber(0) }]),
  );
  const model = {
    ir_version: Long.fromNumber(7),
    opset_import: [{ domain: '', version: Long.fromNumber(13) }],
    graph: {
      name: diagonal ? 'fpgm_diagonal_block' : 'fpgm_block',
      node: nodes,
      input: [vi('a', ['m', 'k']), vi('sqa', ['m', 1]), vi('b', ['n', 'k']), vi('sqb', [1, 'n'])],
      output: [vi('rows', ['m']), vi('cols', ['n'])],
      initializer: [ints('axis1', [1]), ints('axis0', [0])],
    },
  };
  return ModelProtoType.encode(ModelProtoType.fromObject(model)).finish();
}

/** Default ONNX Runtime threads for FPGM: every core, at most 4. */
export function defaultFpgmThreads(): number {
  return Math.max(1, Math.min(4, os.availableParallelism()));
}

/** The two FPGM block sessions (off-diagonal and diagonal) on `threads` threads; undefined when ONNX Runtime cannot be loaded. */
function ortFpgm(threads: number): Promise<FpgmBlockFn | undefined> {
  return computeGraph('fpgm_block', threads, () => [fpgmBlockGraph(false), fpgmBlockGraph(true)], (ort, [off, diag]): FpgmBlockFn => async (a, sqa, m, b, sqb, n, k, diagonal) => {
    const out = await (diagonal ? diag : off).run({
      a: new ort.Tensor('float32', a, [m, k]),
      sqa: new ort.Tensor('float32', sqa, [m, 1]),
      b: new ort.Tensor('float32', b, [n, k]),
      sqb: new ort.Tensor('float32', sqb, [1, n]),
    });
    return { rowSums: out.rows.data as Float32Array, colSums: out.cols.data as Float32Array };
  });
}

/** Every weighted layer with a constant weight, in topological order. */
export function weightedLayers(graph: Graph): NodeProto[] {
  return graph.order.filter((n) => (isFloatWeighted(n.op_type) && !!n.input[1] && isConstantLike(graph, n.input[1])) || qlinearWeight(graph, n) !== undefined);
}

/** The BatchNormalization scoring a layer: directly after it, or through pass-through ops to one of `allowed`. */
export function followingBn(graph: Graph, node: NodeProto, allowed?: readonly string[]): NodeProto | undefined {
  let value = node.output[0];
  for (let hops = 0; hops < 4 && value; hops++) {
    const cons = graph.consumersOf(value);
    if (cons.length !== 1 || graph.outputNames.has(value)) return undefined;
    const c = cons[0];
    if (isBatchNorm(c.op_type) && c.input[0] === value) {
      if (hops === 0 || !allowed || allowed.includes(c.name ?? '')) return c;
      return undefined;
    }
    if (!operatorFacts(c.op_type)?.transparentToBn || !allowed) return undefined;
    value = c.output[0];
  }
  return undefined;
}

/** |γ| of a BatchNormalization node. */
function bnGamma(graph: Graph, bn: NodeProto): Float32Array | undefined {
  const g = bn.input[1] ? readFloats(graph, bn.input[1]) : undefined;
  if (!g) return undefined;
  return g.map(Math.abs);
}

/** Per-index sum|w| and sum w² over all other axes, for each index along `axis` (one pass). */
export function sliceMagnitudes(w: Float32Array, dims: number[], axis: number): { l1: Float64Array; sq: Float64Array } {
  const n = dims[axis];
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  // the weight seen as [outer, n, inner]: normsPass's per-index sums along its middle axis
  const part = { l1: new Float64Array(n), sq: new Float64Array(n) };
  normsPass(w, outer, n, inner, 0, new Float32Array(outer), new Float32Array(outer), new Float64Array(outer), part);
  return part;
}

/**
 * Group L1 and group L2 over the group's weighted slices: out filters of its layers, input slices of
 * its consuming layers, BN γ. L1 is the mean over contributing members of sum|w|; L2 is the square
 * root of the mean of sum w².
 */
function groupMagnitudes(
  graph: Graph,
  group: ChannelGroup,
  layers: Map<string, LayerImportance>,
  filterSq: Map<string, Float64Array>,
  sliceMags: Map<string, { l1: Float64Array; sq: Float64Array }>,
): { l1: Float32Array; l2: Float32Array } {
  const C = group.channels;
  const sumL1 = new Float64Array(C);
  const sumSq = new Float64Array(C);
  let n = 0;
  for (const m of group.members) {
    if (m.role === 'out' && layers.has(m.node)) {
      const l1 = layers.get(m.node)!.scores.l1;
      const sq = filterSq.get(m.node);
      if (l1 && l1.length === C && sq) {
        for (let i = 0; i < C; i++) {
          sumL1[i] += l1[i];
          sumSq[i] += sq[i];
        }
        n++;
      }
      continue;
    }
    const isIn = m.role === 'in' && (isFloatWeighted(m.op) || isQLinear(m.op));
    const isBnScale = m.role === 'param' && isBatchNorm(m.op) && m.inputIndex === 1;
    if ((!isIn && !isBnScale) || !m.tensor) continue;
    const node = isQLinear(m.op) ? graph.byName.get(m.node) : undefined;
    const per = memberMagnitudes(graph, memberValue(graph, m), m.axis, sliceMags, node ? qlinearWeight(graph, node) : undefined);
    if (!per) continue;
    const len = per.l1.length;
    let any = false;
    for (let i = 0; i < C; i++) {
      for (const idx of mapChannel(m, i))
        if (idx >= 0 && idx < len) {
          sumL1[i] += per.l1[idx];
          sumSq[i] += per.sq[idx];
          any = true;
        }
    }
    if (any) n++;
  }
  const l1 = new Float32Array(C);
  const l2 = new Float32Array(C);
  if (n === 0) return { l1, l2 };
  for (let i = 0; i < C; i++) {
    l1[i] = sumL1[i] / n;
    l2[i] = Math.sqrt(sumSq[i] / n);
  }
  return { l1, l2 };
}

const magKey = (tensor: string, axis: number) => `${tensor}\u0000${axis}`;

/**
 * The value a member's node reads for its tensor: the constant itself, or the DequantizeLinear output
 * of a quantised one (whose magnitudes are those of the dequantised weights).
 */
function memberValue(graph: Graph, m: GroupMember): string {
  const v = m.inputIndex !== undefined ? graph.byName.get(m.node)?.input[m.inputIndex] : undefined;
  return v || m.tensor!;
}

/** Per-index magnitudes of a constant along an axis: precomputed while its layer was scored, else read now. */
function memberMagnitudes(
  graph: Graph,
  tensor: string,
  axis: number,
  sliceMags: Map<string, { l1: Float64Array; sq: Float64Array }>,
  qlinear?: Dequantized,
): { l1: Float64Array; sq: Float64Array } | undefined {
  const key = graph.constantSource(tensor) ?? tensor;
  const hit = sliceMags.get(magKey(key, axis));
  if (hit) return hit;
  if (qlinear) {
    // a QLinearConv / QLinearMatMul weight: the magnitudes of its dequantised values
    if (axis >= qlinear.dims.length) return undefined;
    const per = sliceMagnitudes(dequantizedFloats(graph, qlinear), qlinear.dims, axis);
    sliceMags.set(magKey(key, axis), per);
    return per;
  }
  const t = storedTensor(graph, key);
  if (!t) return undefined;
  const dims = tensorDims(t);
  if (axis >= dims.length) return undefined;
  const w = readFloats(graph, key);
  if (!w) return undefined;
  const per = sliceMagnitudes(w, dims, axis);
  sliceMags.set(magKey(key, axis), per);
  return per;
}

/** Mean of |γ| over the group's BN nodes (through their scale members' mappings). */
function groupGamma(graph: Graph, group: ChannelGroup): Float32Array | undefined {
  const C = group.channels;
  const sum = new Float64Array(C);
  let n = 0;
  for (const bnName of group.bnNodes) {
    const bn = graph.byName.get(bnName);
    if (!bn) continue;
    const gamma = bnGamma(graph, bn);
    if (!gamma) continue;
    const member = group.members.find((m) => m.node === bnName && m.role === 'param' && m.inputIndex === 1);
    for (let i = 0; i < C; i++) {
      const idx = member ? mapChannel(member, i) : [i];
      for (const k of idx) if (k >= 0 && k < gamma.length) sum[i] += gamma[k];
    }
    n++;
  }
  if (n === 0) return undefined;
  return Float32Array.from(sum, (v) => v / n);
}

/**
 * Scores every weighted layer and every channel group of a model by the criteria asked for
 * (`opts.criteria`, default all four). Layer by layer: each weight is read once (a view of the
 * file's bytes, or its byte range of the external data), gives its norms, the per-channel
 * magnitudes its groups need, and FPGM when asked, and is released before the next layer: memory
 * holds one layer's weights at a time, whatever the model's size. Long for big models with FPGM:
 * accepts an AbortSignal.
 */
export async function computeImportance(graph: Graph, deps: DependencyAnalysis, opts: ImportanceOptions = {}): Promise<ModelImportance> {
  const t0 = performance.now();
  const { signal } = opts;
  const want = new Set<Criterion>(opts.criteria ?? EVERY_CRITERION);
  const norms = want.has('l1') || want.has('l2');
  const wantFpgm = want.has('fpgm');
  const wantGamma = want.has('bn-gamma');
  const layers = new Map<string, LayerImportance>();
  const filterSq = new Map<string, Float64Array>();
  const hasBn = graph.nodes.some((n) => isBatchNorm(n.op_type));
  const groupById = new Map(deps.groups.map((g) => [g.id, g]));
  const groupGammas = new Map<number, Float32Array | undefined>();
  // Axes along which the groups' L1/L2 need each weighted constant's per-index magnitudes (input
  // slices of consuming layers): computed while the weight is in memory for its own layer.
  const magAxes = new Map<string, Set<number>>();
  const sliceMags = new Map<string, { l1: Float64Array; sq: Float64Array }>();
  if (norms)
    for (const g of deps.groups)
      for (const m of g.members) {
        if (m.role !== 'in' || !isFloatWeighted(m.op) || !m.tensor) continue;
        const v = memberValue(graph, m);
        const key = graph.constantSource(v) ?? v;
        let axes = magAxes.get(key);
        if (!axes) magAxes.set(key, (axes = new Set()));
        axes.add(m.axis);
      }
  let fpgmBlock: FpgmBlockFn | undefined;
  let gramTried = opts.fpgmBackend === 'js';
  /** Layers whose FPGM was estimated from sampled filters. */
  const sampled: string[] = [];
  // Lets other work on this thread run every ~15 ms (in the extension's worker: the view's requests).
  let lastYield = performance.now();
  const breathe = async () => {
    if (performance.now() - lastYield < 15) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    lastYield = performance.now();
  };

  for (const node of weightedLayers(graph)) {
    throwIfAborted(signal);
    await breathe();
    const name = node.name ?? '';
    const scores: Scores = {};
    let channels: number | undefined;
    const ql = qlinearWeight(graph, node);
    const wName = node.input[ql ? weightInputIndex(node.op_type ?? '') : 1]!;
    const key = graph.constantSource(wName) ?? wName;
    const blocked = norms && !wantFpgm ? ((await parallelNormsOf(graph, node, key, magAxes.get(key))) ?? blockedNorms(graph, node, key, magAxes.get(key))) : undefined;
    if (blocked) {
      // norms alone, by blocks of filters: one block of the weight in memory at a time
      channels = blocked.l1.length;
      if (channels === 0) continue;
      filterSq.set(name, blocked.sq);
      if (want.has('l1')) scores.l1 = blocked.l1;
      if (want.has('l2')) scores.l2 = blocked.l2;
      for (const [axis, mags] of blocked.mags) sliceMags.set(magKey(key, axis), mags);
    } else if (norms || wantFpgm) {
      const t = storedTensor(graph, key)!;
      const dims = tensorDims(t);
      const w = ql ? dequantizedFloats(graph, ql) : readFloats(graph, key);
      const m = w ? filterMatrixOf(node, w, dims) : undefined;
      if (!w || !m || m.rows === 0) continue;
      channels = m.rows;
      const { l1, l2, sq } = rowNorms(m);
      if (norms) {
        filterSq.set(name, sq);
        if (want.has('l1')) scores.l1 = l1;
        if (want.has('l2')) scores.l2 = l2;
        for (const axis of magAxes.get(key) ?? []) {
          if (axis < dims.length && !sliceMags.has(magKey(key, axis))) sliceMags.set(magKey(key, axis), sliceMagnitudes(w, dims, axis));
        }
      }
      if (wantFpgm) {
        if (m.rows * m.rows * m.cols >= FPGM_ORT_MIN_MACS && !gramTried) {
          gramTried = true;
          fpgmBlock = await ortFpgm(Math.max(1, Math.floor(opts.threads ?? defaultFpgmThreads())));
        }
        if (m.rows > FPGM_SAMPLE_MIN_ROWS && m.rows * m.rows * m.cols >= FPGM_SAMPLE_MIN_MACS) {
          scores.fpgm = await fpgmSampled(m, sq, FPGM_SAMPLE_SIZE, fpgmBlock, signal);
          sampled.push(name);
        } else if (fpgmBlock && m.rows * m.rows * m.cols >= FPGM_ORT_MIN_MACS) scores.fpgm = await fpgmOrt(m, sq, fpgmBlock, signal);
        else scores.fpgm = fpgmScores(m, sq, signal);
      }
    } else {
      channels = layerChannels(graph, name);
      if (!channels) continue;
    }
    const gid = deps.groupOfLayer.get(name);
    const group = gid !== undefined ? groupById.get(gid) : undefined;
    const bn = followingBn(graph, node, group?.bnNodes ?? []);
    // γ is read whatever was asked (a few floats per layer): it tells whether BN was folded
    const gamma = bn ? bnGamma(graph, bn) : undefined;
    const hasGamma = gamma !== undefined && gamma.length === channels;
    if (wantGamma && hasGamma) scores['bn-gamma'] = gamma;
    // No BN right after the layer, but its group has BNs elsewhere (DenseNet's BN → ReLU → Conv after
    // a Concat, an SE gate's Mul): the group's mean |γ| over them is what a bn-gamma plan ranks its channels by.
    let gammaFrom: string[] | undefined;
    if (!hasGamma && group?.bnNodes.length && group.channels === channels) {
      if (!groupGammas.has(group.id)) groupGammas.set(group.id, groupGamma(graph, group));
      const g = groupGammas.get(group.id);
      if (g) {
        gammaFrom = group.bnNodes.filter((b) => graph.byName.has(b));
        if (wantGamma) scores['bn-gamma'] = g;
      }
    }
    const op = node.op_type ?? '';
    layers.set(name, {
      name,
      op,
      channels,
      group: gid,
      bn: hasGamma ? bn!.name ?? undefined : undefined,
      ...(gammaFrom ? { gammaFrom } : {}),
      bnFused: !hasGamma && !gammaFrom && isFloatConv(op),
      scores,
    });
  }

  const groups = new Map<number, GroupImportance>();
  const depth = nodeDepths(graph);
  for (const group of deps.groups) {
    throwIfAborted(signal);
    await breathe();
    const own = group.layers.filter((l) => layers.get(l)?.channels === group.channels);
    const firstLayer = [...own].sort((a, b) => depth.get(a)! - depth.get(b)!)[0];
    const scores: Scores = {};
    if (wantFpgm) {
      const fpgm = new Float32Array(group.channels);
      for (const l of own) {
        const s = layers.get(l)!.scores.fpgm;
        if (s) for (let i = 0; i < fpgm.length; i++) fpgm[i] += s[i] / own.length;
      }
      scores.fpgm = fpgm;
    }
    if (norms) {
      const { l1, l2 } = groupMagnitudes(graph, group, layers, filterSq, sliceMags);
      if (want.has('l1')) scores.l1 = l1;
      if (want.has('l2')) scores.l2 = l2;
    }
    if (wantGamma) {
      const gamma = groupGamma(graph, group);
      if (gamma) scores['bn-gamma'] = gamma;
    }
    groups.set(group.id, { id: group.id, channels: group.channels, scores, firstLayer });
  }

  const advice: string[] = [];
  const convs = [...layers.values()].filter((l) => isFloatConv(l.op));
  if (!hasBn && convs.length > 0) advice.push(REEXPORT_ADVICE);
  else if (hasBn) {
    const fused = convs.filter((l) => l.bnFused);
    if (fused.length > 0)
      advice.push(
        `${fused.length} of ${convs.length} convolutions have no BatchNormalization after them (e.g. ${fused[0].name}): for those, BN γ is not available and their norms are of the folded weights.`,
      );
  }
  if (sampled.length)
    advice.push(
      `FPGM of ${sampled.length} layer${sampled.length > 1 ? 's' : ''} with more than ${FPGM_SAMPLE_MIN_ROWS} filters (e.g. ${sampled[0]}) is estimated from ${FPGM_SAMPLE_SIZE} filters spread over the layer instead of all of them (the full distance matrix would cost minutes).`,
    );
  const criteria = EVERY_CRITERION.filter((c) => want.has(c));
  return { layers, groups, hasBn, advice, criteria, ms: performance.now() - t0 };
}

/**
 * Adds the criteria of `criteria` that `imp` lacks (e.g. FPGM when the editor's user asks for
 * it): computed as computeImportance would and merged into `imp`'s layers and groups in place.
 * Returns whether anything was added.
 */
export async function addCriteria(graph: Graph, deps: DependencyAnalysis, imp: ModelImportance, criteria: readonly Criterion[], opts: Omit<ImportanceOptions, 'criteria'> = {}): Promise<boolean> {
  const missing = criteria.filter((c) => !imp.criteria.includes(c));
  if (!missing.length) return false;
  const more = await computeImportance(graph, deps, { ...opts, criteria: missing });
  for (const [name, l] of more.layers) {
    const cur = imp.layers.get(name);
    if (cur) Object.assign(cur.scores, l.scores);
  }
  for (const [id, g] of more.groups) {
    const cur = imp.groups.get(id);
    if (cur) Object.assign(cur.scores, g.scores);
  }
  for (const a of more.advice) if (!imp.advice.includes(a)) imp.advice.push(a);
  imp.criteria = EVERY_CRITERION.filter((c) => imp.criteria.includes(c) || missing.includes(c));
  imp.ms += more.ms;
  return true;
}

/**
 * Depth of every node: 1 + the largest depth among the producers of its inputs (graph inputs and
 * constants are depth 0). A residual shortcut conv is shallower than the main branch's last conv.
 */
export function nodeDepths(graph: Graph): Map<string, number> {
  const byValue = new Map<string, number>();
  const out = new Map<string, number>();
  for (const n of graph.order) {
    let d = 0;
    for (const i of n.input) if (i) d = Math.max(d, byValue.get(i) ?? 0);
    d += 1;
    out.set(n.name ?? '', d);
    for (const o of n.output) if (o) byValue.set(o, d);
  }
  return out;
}

/** The criteria a layer has scores for. */
export function layerCriteria(l: LayerImportance): Criterion[] {
  return CRITERIA.filter((c) => l.scores[c] !== undefined);
}
