// A latency budget: the plan is found by measuring real candidates, never by assuming latency
// from MACs. The search runs over the MACs fraction f handed to the allocation (the least-loss
// plan at f MACs, allocate.ts): each candidate is pruned in memory (the surgery only; recovery
// changes weights, not the work an inference does) and timed in ONNX Runtime (warm-up, median of
// N runs, the same input as the original). The bracket [largest f meeting the target, smallest f
// missing it] shrinks by interpolating the measured latencies (a guess for the next f only) until
// it is narrower than `tolerance` or `maxCandidates` models were timed; the largest f that met the
// target is chosen (the least loss among the plans measured to meet it).
import { PrunerError, throwIfAborted } from '../errors.ts';
import { encodeInline } from '../onnx/save.ts';
import { resolvePlan } from '../prune/plan.ts';
import { pruneGraph } from '../prune/surgery.ts';
import { latencyInputs, measureModelLatency, type LatencyMeasurement, type LatencyOptions } from '../runtime/latency.ts';
import type { InputTensor } from '../runtime/types.ts';
import { allocate, leastCost, type AllocateOptions, type Allocation, type AllocationModel } from './allocate.ts';
import type { SensitivityScan } from './types.ts';

export interface LatencySearchOptions extends AllocateOptions, Omit<LatencyOptions, 'signal'> {
  /** Candidate models timed at most (default 7, the original not counted). */
  maxCandidates?: number;
  /** Stop when the MACs-fraction bracket is narrower than this (default 0.02). */
  tolerance?: number;
  /** The original's latency when already measured (same options). */
  original?: LatencyMeasurement;
  onProgress?: (message: string) => void;
}

export interface LatencyCandidate {
  /** MACs fraction asked of the allocation. */
  fraction: number;
  macs: number;
  params: number;
  predictedLoss: number;
  latency: LatencyMeasurement;
  meets: boolean;
}

export interface LatencyPlan {
  targetMs: number;
  original: LatencyMeasurement;
  candidates: LatencyCandidate[];
  /** The chosen allocation (the largest MACs fraction measured to meet the target), or the fastest measured when none met it. */
  allocation: Allocation;
  /** Its measured latency. */
  latency: LatencyMeasurement;
  met: boolean;
}

/** The pruned model of a plan, in memory (surgery and compensation; no recovery), as ONNX bytes. */
export function candidateBytes(model: AllocationModel, allocation: Allocation, signal?: AbortSignal): Uint8Array {
  const resolved = resolvePlan(allocation.plan, model.deps, model.importance);
  const result = pruneGraph(model.graph, model.deps, resolved, { compensate: allocation.plan.compensate ?? true, lazy: false, ...(signal ? { signal } : {}) });
  return encodeInline(model.graph.model, result.model);
}

/** Searches the MACs fraction whose least-loss plan runs within `targetMs` (median) on this machine. */
export async function findLatencyPlan(model: AllocationModel, scan: SensitivityScan, targetMs: number, opts: LatencySearchOptions & { signal?: AbortSignal } = {}): Promise<LatencyPlan> {
  if (!(targetMs > 0)) throw new PrunerError(`--target-latency must be a positive number of milliseconds, got ${targetMs}`);
  const { signal } = opts;
  const progress = opts.onProgress ?? (() => {});
  const lat: LatencyOptions = { runs: opts.runs, warmup: opts.warmup, threads: opts.threads, ep: opts.ep ?? 'cpu', dims: opts.dims, ...(opts.ort ? { ort: opts.ort } : {}), ...(signal ? { signal } : {}) };
  const feeds: Record<string, InputTensor> = latencyInputs(model.graph, opts.dims, opts.shapes);
  const name = model.graph.model.path;
  progress('timing the original model');
  const original = opts.original ?? (await measureModelLatency(name, feeds, lat));
  if (original.medianMs <= targetMs)
    throw new PrunerError(`the model already runs within ${targetMs} ms (median ${original.medianMs.toFixed(2)} ms on ${original.provider.toUpperCase()}, ${original.threads} thread(s)): nothing to prune for this target`);
  const maxCandidates = opts.maxCandidates ?? 7;
  const tolerance = opts.tolerance ?? 0.02;
  const candidates: LatencyCandidate[] = [];
  const allocations = new Map<LatencyCandidate, Allocation>();
  const measure = async (fraction: number): Promise<LatencyCandidate> => {
    throwIfAborted(signal);
    const a = allocate(model, scan, { kind: 'macs', fraction }, opts);
    const bytes = candidateBytes(model, a, signal);
    progress(`timing a candidate at ${(fraction * 100).toFixed(1)}% of the MACs`);
    const latency = await measureModelLatency({ bytes, name: `${name} (candidate)` }, feeds, lat);
    const c: LatencyCandidate = { fraction, macs: a.predicted.macs, params: a.predicted.params, predictedLoss: a.predicted.loss, latency, meets: latency.medianMs <= targetMs };
    candidates.push(c);
    allocations.set(c, a);
    return c;
  };
  let good: LatencyCandidate | undefined;
  let bad: { fraction: number; ms: number } = { fraction: 1, ms: original.medianMs };
  // no candidate below the MACs every group at its least width keeps
  const least = leastCost(model, scan, opts);
  const floor = least.baseline.macs > 0 ? Math.min(1, (least.macs / least.baseline.macs) * (1 + 1e-9)) : 0;
  // first guess: proportional (latency rarely falls as fast as MACs; the next steps correct it)
  let f = Math.max(floor, 0.02, Math.min(0.98, (targetMs / original.medianMs) * 0.95));
  for (let i = 0; i < maxCandidates; i++) {
    const c = await measure(f);
    const reached = allocations.get(c)!;
    if (c.meets) good = !good || c.fraction > good.fraction ? c : good;
    else if (c.fraction < bad.fraction) bad = { fraction: c.fraction, ms: c.latency.medianMs };
    if (!reached.met) break; // the scan's narrowest widths: no smaller candidate exists
    if (good && bad.fraction - good.fraction < tolerance) break;
    if (good) {
      const g = good.latency.medianMs;
      const t = g === bad.ms ? 0.5 : (targetMs - g) / (bad.ms - g);
      const w = Math.max(0.25, Math.min(0.75, t));
      f = good.fraction + w * (bad.fraction - good.fraction);
    } else {
      f = Math.max(0.01, bad.fraction * (targetMs / bad.ms) * 0.95);
      if (bad.fraction - f < tolerance / 2) f = bad.fraction - tolerance;
      if (f < floor) {
        // the least width is the last candidate to try
        if (bad.fraction <= floor || candidates.some((x) => x.fraction === floor)) break;
        f = floor;
      }
      if (f <= 0) break;
    }
  }
  const chosen = good ?? [...candidates].sort((x, y) => x.latency.medianMs - y.latency.medianMs)[0];
  if (!chosen) throw new PrunerError(`no candidate could be built for ${targetMs} ms: the MACs it would take are below what any plan reaches`);
  return { targetMs, original, candidates, allocation: allocations.get(chosen)!, latency: chosen.latency, met: chosen.meets };
}

/** One width's timing: median and interquartile range, ms. */
export interface WidthTiming { medianMs: number; iqrMs: number }

export interface RoundToProposal {
  /** The channel multiple the timings support (1: none). */
  step: number;
  /** The step each pass of timings found on its own. */
  perPass: number[];
  /** Every pass found the same step. */
  stable: boolean;
}

const STEPS = [2, 4, 8, 16, 32];

/**
 * The `--round-to` a set of timings of one layer by output width supports: the largest step s
 * such that, for every multiple M of s measured with its s − 1 narrower widths, none of those
 * narrower widths runs faster than M (within the noise: the larger of the two interquartile
 * ranges) — rounding up to M never costs time —, and at least one runs slower than M by more than
 * the noise (else nothing is gained by rounding). None: 1. A step too large makes rounding up
 * slower (time grows with the width) and is refused by the first condition. Each pass (an independent set of timings) is judged alone; the
 * proposal is stable when every pass finds the same step. A proposal, not a default: timings on a
 * loaded machine move by more than these steps.
 */
export function proposeRoundTo(passes: readonly Record<number, WidthTiming>[]): RoundToProposal {
  const one = (t: Record<number, WidthTiming>): number => {
    const widths = Object.keys(t).map(Number);
    for (const s of [...STEPS].reverse()) {
      let checked = 0;
      let gain = false;
      let ok = true;
      for (const M of widths.filter((w) => w % s === 0)) {
        const below = Array.from({ length: s - 1 }, (_, i) => M - 1 - i);
        if (!below.every((w) => t[w])) continue;
        checked++;
        for (const w of below) {
          const noise = Math.max(t[w].iqrMs, t[M].iqrMs);
          if (t[w].medianMs < t[M].medianMs - noise) ok = false;
          if (t[w].medianMs > t[M].medianMs + noise) gain = true;
        }
      }
      if (checked && ok && gain) return s;
    }
    return 1;
  };
  const perPass = passes.map(one);
  return { step: perPass[0] ?? 1, perPass, stable: perPass.length > 1 && perPass.every((s) => s === perPass[0]) };
}
