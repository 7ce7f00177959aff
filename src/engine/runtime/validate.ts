// Validation of a pruned model against its original in ONNX Runtime: same inputs into both,
// per-output differences, latency, session-creation time and size on disk.
import * as path from 'node:path';
import { PrunerError, throwIfAborted } from '../errors.ts';
import { Graph } from '../graph/graph.ts';
import { loadModel, type OnnxModel } from '../onnx/model.ts';
import { coerce, inputShape, inputSpecsOf, inputsFromFiles, randomInputs, unsizedAxes } from './inputs.ts';
import { argmaxRows, measureLatency, runModel, type OutputTensor } from './run.ts';
import { createSession, loadOrt, probeCuda, shortenError, type CreatedSession, type OrtModule } from './session.ts';
import type { InputSet } from '../data/types.ts';
import { evaluateSessions, sameDataWarning } from './evaluate.ts';
import type {
  EvaluationReport,
  ExecutionProviderChoice,
  InputDescription,
  InputTensor,
  ModelInputSpec,
  ModelRunInfo,
  OutputComparison,
  ValidationReport,
} from './types.ts';

export { runModel, readImagesAndLabels, measureLatency, latencyStats } from './run.ts';
export type { OutputTensor } from './run.ts';
export { evaluateClassifier, type ClassifierEvaluation } from './evaluate.ts';

export interface ValidateOptions {
  ep?: ExecutionProviderChoice;
  /** Input files (`[name=]file[:AxBxC]`, .f32 or .npy), or tensors / float arrays by input name. Random when absent. */
  inputs?: string[] | Record<string, InputTensor | Float32Array>;
  /** Where given tensors came from (a data set): the report's input description names it. */
  inputsSource?: string;
  /** Sizes of symbolic dims for random or array inputs, e.g. `{ N: 4 }`; others are 1. */
  dims?: Record<string, number>;
  /** Whole shapes of random or array inputs by input name, e.g. `{ x: [1, 3, 48, 192] }` (for inputs with unnamed dynamic dims). */
  shapes?: Record<string, number[]>;
  /** Timed runs per model (default 10). */
  runs?: number;
  /** Untimed runs before timing (default 2). */
  warmup?: number;
  /** Seed of random inputs (default 0). */
  seed?: number;
  /** Intra-op threads (default 1). */
  threads?: number;
  /** An evaluation data set (fitted to the models' input): accuracy or agreement over all of it. */
  evaluation?: InputSet;
  /** The calibration set, to warn when the evaluation set is the same data. */
  calibration?: InputSet;
  /** Inputs per run during the evaluation (default 64; a model's fixed batch wins). */
  evalBatch?: number;
  signal?: AbortSignal;
  onProgress?: (msg: string) => void;
  /** Inject an ONNX Runtime module (tests). */
  ort?: OrtModule;
}

/** Bytes on disk of a model: the .onnx file and each distinct external-data file it references. */
export function modelSizeOnDisk(modelPath: string): number {
  return loadModel(modelPath, { weights: 'file' }).sizeOnDisk;
}

/** Element-wise comparison of one output of the original and pruned models. */
export function compareOutputs(name: string, a: OutputTensor, b: OutputTensor | undefined): OutputComparison {
  const base: OutputComparison = { name, originalShape: a.dims, ...(b ? { prunedShape: b.dims } : {}), comparable: false };
  if (!b) return { ...base, note: 'the pruned model has no output of this name' };
  if (a.dims.length !== b.dims.length || a.dims.some((d, i) => d !== b.dims[i])) return { ...base, note: 'shapes differ' };
  if (!a.data || !b.data) return { ...base, note: `non-numeric output (${a.type})` };
  const n = a.data.length;
  const x = a.data as ArrayLike<number | bigint>;
  const y = b.data as ArrayLike<number | bigint>;
  let maxAbs = 0;
  let sumAbs = 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  let finite = 0;
  let nonFinite = 0;
  for (let i = 0; i < n; i++) {
    const p = Number(x[i]);
    const q = Number(y[i]);
    if (!Number.isFinite(p) || !Number.isFinite(q)) {
      nonFinite += (Number.isFinite(p) ? 0 : 1) + (Number.isFinite(q) ? 0 : 1);
      continue;
    }
    const d = Math.abs(p - q);
    if (d > maxAbs) maxAbs = d;
    sumAbs += d;
    dot += p * q;
    na += p * p;
    nb += q * q;
    finite++;
  }
  // Two all-zero vectors are identical; one all-zero vector against a non-zero one is orthogonal.
  const cosine = na === 0 && nb === 0 ? 1 : na === 0 || nb === 0 ? 0 : Math.min(1, Math.max(-1, dot / Math.sqrt(na * nb)));
  const out: OutputComparison = {
    ...base,
    comparable: true,
    maxAbsDiff: maxAbs,
    meanAbsDiff: finite ? sumAbs / finite : 0,
    cosine,
    ...(nonFinite ? { nonFinite } : {}),
  };
  if (a.dims.length === 2 && a.dims[1] > 1 && a.dims[0] > 0) {
    const [rows, k] = a.dims;
    const pa = argmaxRows(Array.from(x, Number), rows, k);
    const pb = argmaxRows(Array.from(y, Number), rows, k);
    let agree = 0;
    for (let r = 0; r < rows; r++) if (pa[r] === pb[r]) agree++;
    out.top1Agreement = agree / rows;
  }
  return out;
}

/** Builds the feeds both models receive, and says where each came from. */
function buildFeeds(specs: ModelInputSpec[], opts: ValidateOptions): { feeds: Record<string, InputTensor>; described: InputDescription[]; notes: string[] } {
  const seed = opts.seed ?? 0;
  let feeds: Record<string, InputTensor>;
  const source: Record<string, Pick<InputDescription, 'source' | 'file'>> = {};
  if (Array.isArray(opts.inputs) && opts.inputs.length > 0) {
    const r = inputsFromFiles(opts.inputs, specs);
    feeds = r.feeds;
    for (const [name, file] of Object.entries(r.files)) source[name] = { source: 'file', file };
  } else if (opts.inputs && !Array.isArray(opts.inputs)) {
    const given = opts.inputs;
    feeds = {};
    for (const spec of specs) {
      const v = given[spec.name];
      if (v === undefined) throw new PrunerError(`no value given for model input ${spec.name}`);
      let t: InputTensor;
      if (v instanceof Float32Array) {
        const dims = inputShape(spec, opts.dims, opts.shapes);
        const want = dims.reduce((a, b) => a * b, 1);
        if (want !== v.length) throw new PrunerError(`input ${spec.name}: ${v.length} values given, shape [${dims.join(', ')}] needs ${want}`);
        t = { type: 'float32', dims, data: v };
      } else t = v;
      feeds[spec.name] = spec.type ? coerce(t, spec.type) : t;
      source[spec.name] = { source: 'given', ...(opts.inputsSource ? { file: opts.inputsSource } : {}) };
    }
  } else {
    feeds = randomInputs(specs, { seed, dims: opts.dims, shapes: opts.shapes });
    for (const s of specs) source[s.name] = { source: 'random' };
  }
  const described = specs.map((s) => ({ name: s.name, type: feeds[s.name].type, dims: feeds[s.name].dims, ...source[s.name] }));
  // random inputs take 1 for sizes nobody fixed
  const unsized = specs.filter((s) => source[s.name].source === 'random').flatMap((s) => unsizedAxes(s, opts.dims, opts.shapes));
  const notes = unsized.length
    ? [`the inputs fed are not a real input: ${unsized.join(', ')} ${unsized.length === 1 ? 'is' : 'are'} not fixed by the model and no size was given, so 1 was used; give the input sizes`]
    : [];
  return { feeds, described, notes };
}

/** A run that ONNX Runtime rejects (wrong input shape, a broken pruned graph) is the user's to fix: say which model. */
async function runOrExplain<T>(file: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    throw new PrunerError(`${path.basename(file)}: ONNX Runtime failed to run the model (${shortenError(e)})`, {
      subject: file,
      details: e instanceof Error ? e.stack : String(e),
      cause: e,
    });
  }
}

async function timedSession(file: string, ep: ExecutionProviderChoice, opts: ValidateOptions): Promise<{ created: CreatedSession; ms: number }> {
  const t0 = performance.now();
  const created = await createSession(file, ep, { threads: opts.threads, ort: opts.ort });
  return { created, ms: performance.now() - t0 };
}

/**
 * Runs the original and the pruned model on the same inputs and reports how far the outputs moved,
 * how fast each runs and how big each is. Both run on the same provider: when `auto` falls back to
 * CPU for the original, the pruned model is created on CPU directly.
 */
export async function validatePruned(originalPath: string, prunedPath: string, opts: ValidateOptions = {}): Promise<ValidationReport> {
  const progress = opts.onProgress ?? (() => {});
  const runs = opts.runs ?? 10;
  const warmup = opts.warmup ?? 2;
  const requested = opts.ep ?? 'auto';
  if (!Number.isInteger(runs) || runs < 1) throw new PrunerError(`runs must be a positive integer, got ${runs}`);
  if (!Number.isInteger(warmup) || warmup < 0) throw new PrunerError(`warmup must be a non-negative integer, got ${warmup}`);

  const origModel = loadModel(originalPath, { weights: 'file' });
  const prunedModel = loadModel(prunedPath, { weights: 'file' });
  const origSpecs = inputSpecsOf(new Graph(origModel));
  const prunedSpecs = inputSpecsOf(new Graph(prunedModel));
  const missing = origSpecs.filter((s) => !prunedSpecs.some((p) => p.name === s.name));
  if (missing.length) throw new PrunerError(`${prunedModel.path}: input(s) ${missing.map((s) => s.name).join(', ')} of the original model are missing`, { subject: prunedModel.path });
  const extra = prunedSpecs.filter((p) => !origSpecs.some((s) => s.name === p.name));
  if (extra.length) throw new PrunerError(`${prunedModel.path}: input(s) ${extra.map((s) => s.name).join(', ')} are not inputs of the original model`, { subject: prunedModel.path });
  for (const p of prunedSpecs) {
    const o = origSpecs.find((s) => s.name === p.name)!;
    const fixedDiffer = o.dims.length !== p.dims.length || o.dims.some((d, i) => typeof d === 'number' && typeof p.dims[i] === 'number' && d !== p.dims[i]);
    if (fixedDiffer) {
      const fmt = (d: (number | string | null)[]) => `[${d.map((x) => x ?? '?').join(', ')}]`;
      throw new PrunerError(`${prunedModel.path}: input ${p.name} is ${fmt(p.dims)}, the original's is ${fmt(o.dims)}`, { subject: prunedModel.path });
    }
  }
  const { feeds, described, notes } = buildFeeds(origSpecs, opts);
  throwIfAborted(opts.signal);

  // Load the native module and settle the CUDA question first, so session times measure the model alone.
  const ort = opts.ort ?? (await loadOrt());
  if (requested !== 'cpu') await probeCuda(ort);
  opts = { ...opts, ort };
  progress('creating the original model session');
  const a = await timedSession(origModel.path, requested, opts);
  let b: { created: CreatedSession; ms: number } | undefined;
  try {
    throwIfAborted(opts.signal);
    progress(`creating the pruned model session (${a.created.provider})`);
    b = await timedSession(prunedModel.path, a.created.provider, opts);
    const ortA = a.created.ort;
    const ortB = b.created.ort;
    const sessionB = b.created.session;

    progress('running both models');
    const outA = await runOrExplain(origModel.path, () => runModel(a.created.session, feeds, ortA));
    throwIfAborted(opts.signal);
    const prunedFeeds = Object.fromEntries(prunedSpecs.map((s) => [s.name, feeds[s.name]]));
    const outB = await runOrExplain(prunedModel.path, () => runModel(sessionB, prunedFeeds, ortB));
    const outputs = a.created.session.outputNames.map((name) => compareOutputs(name, outA[name], outB[name]));

    progress(`timing the original model (${warmup} warm-up, ${runs} runs)`);
    const latA = await measureLatency(a.created.session, feeds, ortA, { runs, warmup, signal: opts.signal });
    progress(`timing the pruned model (${warmup} warm-up, ${runs} runs)`);
    const latB = await measureLatency(b.created.session, prunedFeeds, ortB, { runs, warmup, signal: opts.signal });

    let evaluation: EvaluationReport | undefined;
    if (opts.evaluation) {
      const set = opts.evaluation;
      progress(`evaluating both models on ${set.count} inputs of ${set.source}`);
      evaluation = await evaluateSessions(a.created, b.created, set, {
        batch: opts.evalBatch,
        signal: opts.signal,
        files: { original: origModel.path, pruned: prunedModel.path },
      });
      const same = await sameDataWarning(opts.calibration, set, opts.signal);
      if (same) evaluation.warnings.unshift(same);
    }

    const info = (model: OnnxModel, ms: number, latency: ModelRunInfo['latency']): ModelRunInfo => ({
      path: model.path,
      sizeBytes: model.sizeOnDisk,
      sessionMs: Math.round(ms * 1000) / 1000,
      latency,
    });
    return {
      requestedProvider: requested,
      provider: a.created.provider,
      ...(a.created.fallbackReason ? { fallbackReason: a.created.fallbackReason } : {}),
      intraOpThreads: opts.threads ?? 1,
      warmup,
      ...(described.some((d) => d.source === 'random') ? { seed: opts.seed ?? 0 } : {}),
      inputs: described,
      outputs,
      original: info(origModel, a.ms, latA),
      pruned: info(prunedModel, b.ms, latB),
      ...(evaluation ? { evaluation } : {}),
      ...(notes.length ? { notes } : {}),
    };
  } finally {
    await a.created.session.release();
    if (b) await b.created.session.release();
  }
}
