// Latency of a whole model, measured in ONNX Runtime on this machine: one session (created once,
// its creation not timed), warm-up runs, then N timed runs of the same fixed input; the median is
// the figure, the spread (min, p90, max, interquartile range) says how far to trust it, and the
// execution provider and thread count that ran are stated. Nothing is assumed from MACs: a
// per-layer latency is never derived from a layer's arithmetic.
import { Graph } from '../graph/graph.ts';
import { modelFromBuffer } from '../onnx/model.ts';
import { PrunerError } from '../errors.ts';
import { inputSpecsOf, randomInputs } from './inputs.ts';
import { latencyStats, timeRuns } from './run.ts';
import { createSession, type CreateSessionOptions } from './session.ts';
import type { ExecutionProvider, ExecutionProviderChoice, InputTensor, LatencyStats } from './types.ts';
import type { InputShapes } from '../graph/shapes.ts';

/** Timed runs by default: the median of 20 is stable to a few percent on an idle machine. */
export const DEFAULT_LATENCY_RUNS = 20;
/** Untimed runs first (allocations, kernel selection, caches). */
export const DEFAULT_LATENCY_WARMUP = 5;

export interface LatencyOptions extends CreateSessionOptions {
  /** Timed runs (default 20). */
  runs?: number;
  /** Untimed runs before (default 5). */
  warmup?: number;
  /** Execution provider (default cpu: a latency target is a CPU figure unless CUDA is asked for). */
  ep?: ExecutionProviderChoice;
  /** Sizes of symbolic input dimensions (default 1: batch 1). */
  dims?: Record<string, number>;
  /** Whole input shapes by input name (win over `dims`): the sizes the model is analysed at. */
  shapes?: InputShapes;
  signal?: AbortSignal;
}

export interface LatencyMeasurement extends LatencyStats {
  maxMs: number;
  /** Interquartile range (p75 − p25), ms. */
  iqrMs: number;
  warmup: number;
  provider: ExecutionProvider;
  /** Intra-op threads of the session. */
  threads: number;
  /** Why `auto` did not use CUDA. */
  fallbackReason?: string;
  /** Input shapes fed, by input name. */
  inputs: Record<string, number[]>;
}

/** The quantile q of sorted values (linear interpolation). */
function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return 0;
  const p = (sorted.length - 1) * q;
  const lo = Math.floor(p);
  const hi = Math.ceil(p);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (p - lo);
}

/**
 * Inputs for timing: N(0, 1) floats of the model's input shapes, whole shapes from `shapes` (an
 * analysed model's `inputShapes`), symbolic sizes from `dims`, else 1.
 */
export function latencyInputs(model: Uint8Array | Graph, dims: Record<string, number> = {}, shapes: InputShapes = {}): Record<string, InputTensor> {
  const graph = model instanceof Graph ? model : new Graph(modelFromBuffer(model, 'candidate.onnx'));
  return randomInputs(inputSpecsOf(graph), { seed: 7, dims, shapes });
}

/**
 * Measures `model` (a file, or bytes in memory with a name for messages): warm-up, then `runs`
 * timed runs, each timed alone. The same inputs are used for every model compared.
 */
export async function measureModelLatency(
  model: string | { bytes: Uint8Array; name: string },
  feeds: Record<string, InputTensor>,
  opts: LatencyOptions = {},
): Promise<LatencyMeasurement> {
  const runs = opts.runs ?? DEFAULT_LATENCY_RUNS;
  const warmup = opts.warmup ?? DEFAULT_LATENCY_WARMUP;
  if (!Number.isInteger(runs) || runs < 1) throw new PrunerError(`latency runs must be an integer ≥ 1, got ${runs}`);
  if (!Number.isInteger(warmup) || warmup < 0) throw new PrunerError(`latency warm-up runs must be an integer ≥ 0, got ${warmup}`);
  const threads = opts.threads ?? 1;
  const created = await createSession(model, opts.ep ?? 'cpu', { threads, ...(opts.ort ? { ort: opts.ort } : {}) });
  try {
    const times = await timeRuns(created.session, feeds, created.ort, { runs, warmup, ...(opts.signal ? { signal: opts.signal } : {}) });
    const s = [...times].sort((a, b) => a - b);
    const r3 = (v: number) => Math.round(v * 1000) / 1000;
    return {
      ...latencyStats(times),
      maxMs: r3(s[s.length - 1]),
      iqrMs: r3(quantile(s, 0.75) - quantile(s, 0.25)),
      warmup,
      provider: created.provider,
      threads,
      ...(created.fallbackReason ? { fallbackReason: created.fallbackReason } : {}),
      inputs: Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, v.dims])),
    };
  } finally {
    await created.session.release();
  }
}

/** One line: median, spread, runs, provider and threads. */
export function describeLatency(m: LatencyMeasurement): string {
  return `median ${m.medianMs.toFixed(2)} ms (min ${m.minMs.toFixed(2)}, p90 ${m.p90Ms.toFixed(2)}, max ${m.maxMs.toFixed(2)}, IQR ${m.iqrMs.toFixed(2)}) over ${m.runs} runs after ${m.warmup} warm-up, ${m.provider.toUpperCase()} EP, ${m.threads} thread${m.threads === 1 ? '' : 's'}`;
}
