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
  const bins = edges.length - 1;
  const counts = new Array<number>(bins).fill(0);
  const e0 = edges[0];
  const width = (edges[bins] - e0) / bins;
  if (bins > 1 && width > 0 && edges.every((e, i) => Math.abs(e - (e0 + i * width)) <= 1e-9 * Math.abs(width))) {
    // Evenly spaced edges (linearEdges): the bin from the value, then moved to the last edge <= v,
    // the bin the search below finds (values off the ends, and NaN, in the end bins likewise).
    const inv = 1 / width;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      let b = Math.floor((v - e0) * inv);
      if (!(b >= 0)) b = 0;
      else if (b > bins - 1) b = bins - 1;
      while (b > 0 && edges[b] > v) b--;
      while (b < bins - 1 && edges[b + 1] <= v) b++;
      counts[b]++;
    }
    return { edges: [...edges], counts };
  }
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    // binary search for the last edge <= v
    let lo = 0;
    let hi = bins;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (edges[mid] <= v) lo = mid;
      else hi = mid;
    }
    counts[lo]++;
  }
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
  let b3 = 0;
  let b2 = 0;
  let b5 = 0;
  let min = Infinity;
  let max = -Infinity;
  let nan = false;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    sum += v;
    if (v < 1e-3) b3++;
    if (v < 1e-2) b2++;
    if (v < 5e-2) b5++;
    if (v < min) min = v;
    if (v > max) max = v;
    if (v !== v) nan = true;
  }
  // The quartiles by selection (linear time; a sort of every layer's scores was a tenth of
  // inspecting ResNet-50). With a NaN, the sorted order (NaN last) decides, as before.
  const copy = new Float64Array(values as ArrayLike<number>);
  if (nan) {
    copy.sort();
    min = n ? copy[0] : NaN;
    max = n ? copy[n - 1] : NaN;
  } else if (!n) {
    min = NaN;
    max = NaN;
  }
  const q = nan ? (p: number) => quantile(copy, p) : quartiles(copy);
  const edges = opts.edges ?? linearEdges(n ? min : 0, n ? max : 1, opts.bins ?? 20);
  const out: ScoreStats = {
    count: n,
    min,
    q1: q(0.25),
    median: q(0.5),
    q3: q(0.75),
    max,
    mean: n ? sum / n : NaN,
    below: { '1e-3': b3, '1e-2': b2, '5e-2': b5 },
    histogram: histogram(values, edges),
  };
  if (opts.logEdges) out.logHistogram = histogram(values, opts.logEdges);
  return out;
}

/**
 * `quantile` of the sorted values without sorting them: the order statistics it interpolates
 * between, found by selection in `a` (reordered in place, no NaN), in increasing order so each
 * selection searches only what lies above the previous one.
 */
export function quartiles(a: Float64Array): (q: number) => number {
  const n = a.length;
  const ranks = new Set<number>();
  for (const q of [0.25, 0.5, 0.75]) {
    const pos = (n - 1) * q;
    const lo = Math.floor(pos);
    ranks.add(lo);
    ranks.add(Math.min(n - 1, lo + 1));
  }
  const at = new Map<number, number>();
  let from = 0;
  for (const k of [...ranks].sort((x, y) => x - y)) {
    if (k < 0 || k >= n) continue;
    at.set(k, select(a, k, from, n - 1));
    from = k;
  }
  return (q: number) => {
    if (n === 0) return NaN;
    const pos = (n - 1) * q;
    const lo = Math.floor(pos);
    const hi = Math.min(n - 1, lo + 1);
    return at.get(lo)! + (at.get(hi)! - at.get(lo)!) * (pos - lo);
  };
}

/** The k-th smallest of a[left..right] (Hoare's selection; a is reordered so a[k] holds it). */
function select(a: Float64Array, k: number, left: number, right: number): number {
  while (right > left) {
    // median of three as the pivot
    const mid = (left + right) >> 1;
    const x = a[left], y = a[mid], z = a[right];
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = left;
    let j = right;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else return a[k];
  }
  return a[k];
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
