// Statistics of channel scores for the tables, the histograms of the view and `inspect --json`.
// Everything returned here is plain JSON (numbers, arrays, objects): it crosses to the webview.
//
// Quartiles use linear interpolation between order statistics (numpy's default). Histograms have
// fixed edges, returned with the counts: bin k counts edges[k] <= x < edges[k+1], the last bin
// also counts x == its upper edge; values below the first edge fall in the first bin and values
// above the last edge in the last bin (so counts always sum to the number of values). Layer
// histograms share the model's edges per criterion, so layers compare bin for bin. The log-scale
// histogram (for BN γ) has log10 edges at whole and half decades from 1e-4 (zero and anything
// smaller fall in the first bin).
import { CRITERIA, type Criterion } from './criteria.ts';
import type { LayerImportance, ModelImportance } from './importance.ts';

/** What identifies a weighted layer in tables and reports (the fields of LayerImportance without its scores). */
export type LayerInfo = Pick<LayerImportance, 'name' | 'op' | 'channels' | 'group' | 'bn' | 'gammaFrom' | 'bnFused'>;

export interface Histogram {
  edges: number[];
  counts: number[];
}

export interface ScoreStats {
  count: number;
  min: number;
  q1: number;
  median: number;
  q3: number;
  max: number;
  mean: number;
  /** Number of values strictly below 1e-3, 1e-2 and 5e-2. */
  below: { '1e-3': number; '1e-2': number; '5e-2': number };
  histogram: Histogram;
  /** log10-spaced histogram (bn-gamma only). */
  logHistogram?: Histogram;
}

export interface LayerStats extends LayerInfo {
  criteria: Partial<Record<Criterion, ScoreStats>>;
}

export interface ModelStats {
  hasBn: boolean;
  advice: string[];
  /** Statistics over every channel of every layer, per criterion. */
  model: Partial<Record<Criterion, ScoreStats>>;
  layers: LayerStats[];
}

export interface StatsOptions {
  /** Number of linear bins (default 20). */
  bins?: number;
}


/** `bins` equal-width edges from lo to hi (a unit-wide range when lo == hi). */
export function linearEdges(lo: number, hi: number, bins: number): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const w = (hi - lo) / bins;
  return Array.from({ length: bins + 1 }, (_, k) => (k === bins ? hi : lo + k * w));
}

/** log10 edges: 10^e for e from minExp to maxExp in steps of 1/perDecade. */
export function logEdges(minExp: number, maxExp: number, perDecade = 2): number[] {
  const n = Math.max(1, Math.round((maxExp - minExp) * perDecade));
  return Array.from({ length: n + 1 }, (_, k) => 10 ** (minExp + k / perDecade));
}

/** Counts per bin for fixed edges (see the module comment for the edge rules). */
export function histogram(values: ArrayLike<number>, edges: number[]): Histogram {
  return sortedHistogram(new Float64Array(values).sort(), edges);
}

/** The first index of sorted[0..end) holding a value >= x (end when none does). */
function lowerBound(sorted: Float64Array, end: number, x: number): number {
  let lo = 0;
  let hi = end;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The numbers (not NaN) of values sorted by Float64Array.sort: NaN sorts last. */
function numbersIn(sorted: Float64Array): number {
  let n = sorted.length;
  while (n > 0 && sorted[n - 1] !== sorted[n - 1]) n--;
  return n;
}

/**
 * histogram of values already sorted by Float64Array.sort, by a binary search per edge: bin k
 * (not an end bin) holds the values from the first >= edges[k] to the first >= edges[k + 1]; the
 * first bin also holds everything below and NaN, the last everything above.
 */
function sortedHistogram(sorted: Float64Array, edges: number[]): Histogram {
  const bins = edges.length - 1;
  const nums = numbersIn(sorted);
  const counts = new Array<number>(bins).fill(0);
  let from = 0;
  for (let k = 0; k < bins - 1; k++) {
    const to = lowerBound(sorted, nums, edges[k + 1]);
    counts[k] = to - from;
    from = to;
  }
  counts[bins - 1] = nums - from;
  counts[0] += sorted.length - nums;
  return { edges: [...edges], counts };
}

/** Quantile q in [0, 1] of sorted values, linear interpolation. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Summary statistics of values, with a histogram on the given edges (default: min..max linear). */
export function scoreStats(values: ArrayLike<number>, opts: { edges?: number[]; logEdges?: number[]; bins?: number } = {}): ScoreStats {
  const n = values.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i];
  // One native sort (NaN last) gives the rest: min, max, quartiles, the counts below and the
  // histograms by binary search. Per-value loops over every layer's scores (a selection for the
  // quartiles, a bin per value) were a fifth of inspecting ResNet-50: short runs of JavaScript that
  // the process ran once each, mostly before they were compiled.
  const sorted = new Float64Array(values).sort();
  const nums = numbersIn(sorted);
  const min = n ? sorted[0] : NaN;
  const max = n ? sorted[n - 1] : NaN;
  const edges = opts.edges ?? linearEdges(n ? min : 0, n ? max : 1, opts.bins ?? 20);
  const out: ScoreStats = {
    count: n,
    min,
    q1: quantile(sorted, 0.25),
    median: quantile(sorted, 0.5),
    q3: quantile(sorted, 0.75),
    max,
    mean: n ? sum / n : NaN,
    below: { '1e-3': lowerBound(sorted, nums, 1e-3), '1e-2': lowerBound(sorted, nums, 1e-2), '5e-2': lowerBound(sorted, nums, 5e-2) },
    histogram: sortedHistogram(sorted, edges),
  };
  if (opts.logEdges) out.logHistogram = sortedHistogram(sorted, opts.logEdges);
  return out;
}

/** Log edges covering values up to `max`: from 1e-4 to the half decade at or above max. */
export function gammaLogEdges(max: number): number[] {
  const top = max > 0 ? Math.ceil(Math.log10(max) * 2) / 2 : 0;
  return logEdges(-4, Math.max(top, -3.5), 2);
}

/** Statistics per layer and for the whole model, per criterion; layer histograms share the model's edges. */
export function importanceStats(imp: ModelImportance, opts: StatsOptions = {}): ModelStats {
  const bins = opts.bins ?? 20;
  const layers = [...imp.layers.values()];
  const model: Partial<Record<Criterion, ScoreStats>> = {};
  const edgesOf: Partial<Record<Criterion, { edges: number[]; log?: number[] }>> = {};
  for (const c of CRITERIA) {
    const arrays = layers.map((l) => l.scores[c]).filter((a): a is Float32Array => a !== undefined);
    if (arrays.length === 0) continue;
    const total = arrays.reduce((a, b) => a + b.length, 0);
    const all = new Float64Array(total);
    let o = 0;
    let hi = -Infinity;
    for (const a of arrays) {
      all.set(a, o);
      o += a.length;
      for (let i = 0; i < a.length; i++) if (a[i] > hi) hi = a[i];
    }
    // Scores are non-negative: linear edges start at 0 so a histogram shows how close to zero they are.
    const edges = linearEdges(0, hi, bins);
    const log = c === 'bn-gamma' ? gammaLogEdges(hi) : undefined;
    edgesOf[c] = { edges, log };
    model[c] = scoreStats(all, { edges, logEdges: log });
  }
  return {
    hasBn: imp.hasBn,
    advice: [...imp.advice],
    model,
    layers: layers.map((l) => layerStats(l, edgesOf)),
  };
}

function layerStats(l: LayerImportance, edgesOf: Partial<Record<Criterion, { edges: number[]; log?: number[] }>>): LayerStats {
  const criteria: Partial<Record<Criterion, ScoreStats>> = {};
  for (const c of CRITERIA) {
    const s = l.scores[c];
    if (s) criteria[c] = scoreStats(s, { edges: edgesOf[c]?.edges, logEdges: edgesOf[c]?.log });
  }
  const out: LayerStats = { name: l.name, op: l.op, channels: l.channels, bnFused: l.bnFused, criteria };
  if (l.group !== undefined) out.group = l.group;
  if (l.bn) out.bn = l.bn;
  if (l.gammaFrom) out.gammaFrom = [...l.gammaFrom];
  return out;
}

export interface ChannelScoreRow {
  channel: number;
  /** A criterion's score, present when it was computed (and, for γ, when a BN scores the layer). */
  'bn-gamma'?: number;
  l1?: number;
  l2?: number;
  fpgm?: number;
  /** 0-based rank of the channel within the layer by each criterion (0 = least important). */
  rank: Partial<Record<Criterion, number>>;
}

export interface LayerChannelScores extends LayerInfo {
  rows: ChannelScoreRow[];
}

/** Every channel's scores for one layer (for `inspect --layer` and the view's inline inspection); undefined for an unknown layer. */
export function layerChannelScores(imp: ModelImportance, layer: string): LayerChannelScores | undefined {
  const l = imp.layers.get(layer);
  if (!l) return undefined;
  const ranks: Partial<Record<Criterion, Int32Array>> = {};
  for (const c of CRITERIA) {
    const s = l.scores[c];
    if (!s) continue;
    const idx = Array.from({ length: s.length }, (_, i) => i).sort((a, b) => s[a] - s[b] || a - b);
    const r = new Int32Array(s.length);
    idx.forEach((ch, k) => (r[ch] = k));
    ranks[c] = r;
  }
  const rows: ChannelScoreRow[] = [];
  for (let i = 0; i < l.channels; i++) {
    const row = { channel: i } as ChannelScoreRow;
    for (const c of CRITERIA) {
      const s = l.scores[c];
      if (s) row[c] = s[i];
    }
    row.rank = {};
    for (const c of CRITERIA) if (ranks[c]) row.rank[c] = ranks[c][i];
    rows.push(row);
  }
  const out: LayerChannelScores = { name: l.name, op: l.op, channels: l.channels, bnFused: l.bnFused, rows };
  if (l.group !== undefined) out.group = l.group;
  if (l.bn) out.bn = l.bn;
  if (l.gammaFrom) out.gammaFrom = [...l.gammaFrom];
  return out;
}
