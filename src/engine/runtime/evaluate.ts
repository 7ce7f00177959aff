// Evaluation on a data set in ONNX Runtime, in batches: with labels, top-1 / top-5 accuracy of the
// original and the pruned model; always, how far the pruned model's outputs are from the
// original's (top-1 agreement, cosine, relative error) — on an evaluation set, never the
// calibration set.
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { PrunerError, throwIfAborted } from '../errors.ts';
import type { InputSet } from '../data/types.ts';
import { runModel, type OutputTensor } from './run.ts';
import { createSession, shortenError, type CreatedSession, type CreateSessionOptions } from './session.ts';
import type { EvaluationReport, ExecutionProviderChoice, ModelAccuracy } from './types.ts';
import { arrayInputSet } from '../data/types.ts';

/** Default batch for models whose batch dimension is symbolic. */
export const EVAL_BATCH = 64;

/** The batch a session takes: its fixed batch dimension, else `wanted`. */
export function sessionBatch(session: CreatedSession['session'], wanted = EVAL_BATCH): { batch: number; fixed: boolean } {
  const meta = session.inputMetadata[0];
  const d = meta && meta.isTensor ? meta.shape[0] : undefined;
  if (typeof d === 'number' && d > 0) return { batch: d, fixed: true };
  return { batch: Math.max(1, Math.floor(wanted)), fixed: false };
}

/** Top-k hits of each row of [rows, K] scores against labels, for k = 1 and 5. */
function topHits(scores: ArrayLike<number>, rows: number, k: number, labels: Int32Array, first: number, hits: { top1: number; top5: number }): void {
  for (let r = 0; r < rows; r++) {
    const y = labels[first + r];
    const base = r * k;
    const target = scores[base + y];
    // Rank of the label's score: how many classes score higher (ties count for the label, the lower index first).
    let above = 0;
    for (let j = 0; j < k; j++) {
      const v = scores[base + j];
      if (v > target || (v === target && j < y)) above++;
    }
    if (y < k && Number.isFinite(target)) {
      if (above === 0) hits.top1++;
      if (above < 5) hits.top5++;
    }
  }
}

function argmax(scores: ArrayLike<number>, base: number, k: number): number {
  let best = 0;
  let bv = -Infinity;
  for (let j = 0; j < k; j++) if (scores[base + j] > bv) { bv = scores[base + j]; best = j; }
  return best;
}

interface Running {
  hitsA: { top1: number; top5: number };
  hitsB: { top1: number; top5: number };
  agree: number;
  cosSum: number;
  cosMin: number;
  diff2: number;
  norm2: number;
  absSum: number;
  absMax: number;
  values: number;
  nonFinite: number;
}

/**
 * The original's outputs on a data set, kept by one evaluateSessions run (`record`): later runs on
 * the same set compare a pruned model with them instead of running the original again.
 */
export interface RecordedOutputs {
  input: string;
  output: string;
  batch: number;
  fixed: boolean;
  /** The first output of each batch, in order. */
  outputs: OutputTensor[];
}

/**
 * Runs `a` (and `b`, when given: the pruned model) over every sample of `set` in batches and
 * measures accuracy (when the set has labels) and the outputs' agreement. The set must already fit
 * the models' first input; other inputs are not supported (one-input models only). `a` may be the
 * original's outputs recorded by an earlier run on the same set (`record` hands them over).
 */
export async function evaluateSessions(
  a: CreatedSession | RecordedOutputs,
  b: CreatedSession | undefined,
  set: InputSet,
  opts: { batch?: number; signal?: AbortSignal; onProgress?: (done: number, total: number) => void; files?: { original: string; pruned?: string }; record?: (r: RecordedOutputs) => void } = {},
): Promise<EvaluationReport> {
  const fileA = opts.files?.original ?? 'original model';
  const recorded = 'outputs' in a ? a : undefined;
  const sessionA = recorded ? undefined : (a as CreatedSession);
  if (sessionA && sessionA.session.inputNames.length !== 1) throw new PrunerError(`${path.basename(fileA)}: evaluation on a data set needs a model with one input, this one has ${sessionA.session.inputNames.length}`, { subject: fileA });
  const inName = recorded ? recorded.input : sessionA!.session.inputNames[0];
  const outName = recorded ? recorded.output : sessionA!.session.outputNames[0];
  const { batch, fixed } = recorded ?? sessionBatch(sessionA!.session, opts.batch);
  const keep: OutputTensor[] = [];
  let batchIndex = 0;
  const per = set.sampleShape.reduce((x, y) => x * y, 1);
  const labels = set.labels;
  const s: Running = { hitsA: { top1: 0, top5: 0 }, hitsB: { top1: 0, top5: 0 }, agree: 0, cosSum: 0, cosMin: 1, diff2: 0, norm2: 0, absSum: 0, absMax: 0, values: 0, nonFinite: 0 };
  let classes: number | undefined;
  let done = 0;
  const run = async (c: CreatedSession, file: string, data: Float32Array, n: number): Promise<OutputTensor> => {
    let out: Record<string, OutputTensor>;
    try {
      out = await runModel(c.session, { [inName]: { type: 'float32', dims: [n, ...set.sampleShape], data } }, c.ort);
    } catch (e) {
      throw new PrunerError(`${path.basename(file)}: ONNX Runtime failed on ${set.source} (${shortenError(e)})`, { subject: file, cause: e });
    }
    const o = out[outName];
    if (!o?.data || o.dims[0] !== n) throw new PrunerError(`${path.basename(file)}: output ${outName} is not per sample (got [${o?.dims.join(', ') ?? ''}] for a batch of ${n})`, { subject: file });
    return o;
  };
  for await (const chunk of set.batches(batch, opts.signal)) {
    throwIfAborted(opts.signal);
    const n = chunk.count;
    // A model with a fixed batch gets full batches: the last one is padded with its last sample.
    let data = chunk.data;
    const feedN = fixed ? batch : n;
    if (fixed && n < batch) {
      data = new Float32Array(batch * per);
      data.set(chunk.data);
      for (let i = n; i < batch; i++) data.copyWithin(i * per, (n - 1) * per, n * per);
    }
    let oa: OutputTensor;
    if (recorded) {
      oa = recorded.outputs[batchIndex];
      if (!oa) throw new PrunerError(`${set.source}: more inputs than the original's recorded outputs`, { subject: set.source });
    } else oa = await run(sessionA!, fileA, data, feedN);
    batchIndex++;
    if (opts.record) keep.push(oa);
    const ob = b ? await run(b, opts.files?.pruned ?? 'pruned model', data, feedN) : undefined;
    const width = oa.data!.length / feedN;
    if (ob && ob.data!.length !== oa.data!.length) throw new PrunerError(`${path.basename(opts.files?.pruned ?? 'pruned model')}: output ${outName} is [${ob.dims.join(', ')}], the original's [${oa.dims.join(', ')}]`);
    const classifier = oa.dims.length === 2 && oa.dims[1] > 1;
    if (classifier) classes = oa.dims[1];
    const x = oa.data as ArrayLike<number>;
    const y = ob?.data as ArrayLike<number> | undefined;
    if (labels && classifier) {
      for (let r = 0; r < n; r++) {
        if (labels[chunk.offset + r] >= width) {
          const where = set.labelsSource ?? set.source;
          throw new PrunerError(`${where}: label ${labels[chunk.offset + r]} of input ${chunk.offset + r}, the model has ${width} classes`, { subject: where });
        }
      }
      topHits(x, n, width, labels, chunk.offset, s.hitsA);
      if (y) topHits(y, n, width, labels, chunk.offset, s.hitsB);
    }
    if (y) {
      for (let r = 0; r < n; r++) {
        const base = r * width;
        if (classifier && argmax(x, base, width) === argmax(y, base, width)) s.agree++;
        let dot = 0;
        let na = 0;
        let nb = 0;
        for (let j = base; j < base + width; j++) {
          const p = Number(x[j]);
          const q = Number(y[j]);
          if (!Number.isFinite(p) || !Number.isFinite(q)) { s.nonFinite++; continue; }
          const d = Math.abs(p - q);
          s.absSum += d;
          if (d > s.absMax) s.absMax = d;
          s.diff2 += d * d;
          s.values++;
          dot += p * q;
          na += p * p;
          nb += q * q;
        }
        s.norm2 += na;
        const cos = na === 0 && nb === 0 ? 1 : na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
        s.cosSum += cos;
        if (cos < s.cosMin) s.cosMin = cos;
      }
    }
    done += n;
    opts.onProgress?.(done, set.count);
  }
  opts.record?.({ input: inName, output: outName, batch, fixed, outputs: keep });
  const r6 = (v: number) => Math.round(v * 1e6) / 1e6;
  const acc = (h: { top1: number; top5: number }): ModelAccuracy => ({ top1: r6(h.top1 / done), correct: h.top1, ...(classes !== undefined && classes > 5 ? { top5: r6(h.top5 / done) } : {}) });
  const report: EvaluationReport = {
    source: set.source,
    count: done,
    batch,
    output: outName,
    ...(set.labelsSource ? { labels: set.labelsSource } : {}),
    ...(set.preprocess ? { preprocess: set.preprocess } : {}),
    ...(labels && classes !== undefined ? { original: acc(s.hitsA), ...(b ? { pruned: acc(s.hitsB) } : {}) } : {}),
    warnings: [],
  };
  if (labels && classes === undefined) report.warnings.push(`output ${outName} is not [batch, classes]: no accuracy, only the comparison of outputs`);
  if (b) {
    report.comparison = {
      ...(classes !== undefined ? { top1Agreement: r6(s.agree / done) } : {}),
      meanCosine: r6(s.cosSum / done),
      minCosine: r6(s.cosMin),
      relativeError: s.norm2 > 0 ? Math.sqrt(s.diff2 / s.norm2) : s.diff2 > 0 ? 1 : 0,
      meanAbsDiff: s.values ? s.absSum / s.values : 0,
      maxAbsDiff: s.absMax,
      ...(s.nonFinite ? { nonFinite: s.nonFinite } : {}),
    };
  }
  return report;
}

/** SHA-256 of a set's samples (to tell identical data in different files). */
async function contentHash(set: InputSet, signal?: AbortSignal): Promise<string> {
  const h = createHash('sha256');
  for await (const b of set.batches(256, signal)) h.update(new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength));
  return h.digest('hex');
}

/** A warning when the evaluation set is the calibration set (the same file, or the same samples). */
export async function sameDataWarning(calibration: InputSet | undefined, evaluation: InputSet, signal?: AbortSignal): Promise<string | undefined> {
  if (!calibration) return undefined;
  const msg = (how: string) => `${evaluation.source}: the evaluation set is the calibration set (${how}); accuracy measured on calibration inputs overstates what recovery kept — evaluate on other inputs`;
  if (path.resolve(calibration.source) === path.resolve(evaluation.source)) return msg('the same file');
  const sameShape = calibration.count === evaluation.count && calibration.sampleShape.join() === evaluation.sampleShape.join();
  if (sameShape && (await contentHash(calibration, signal)) === (await contentHash(evaluation, signal))) return msg(`identical content in ${calibration.source}`);
  return undefined;
}

export interface ClassifierEvaluation {
  accuracy: number;
  correct: number;
  total: number;
  /** Batch actually used (the model's batch when it is fixed). */
  batch: number;
  provider: 'cuda' | 'cpu';
}

/**
 * Top-1 accuracy of a single-input classifier over images in memory (float32, concatenated, each
 * `imageShape`, e.g. [1, 28, 28]). Batches of `batch` (default 100) when the model's batch is dynamic.
 */
export async function evaluateClassifier(
  modelPath: string,
  images: Float32Array,
  labels: ArrayLike<number>,
  imageShape: number[],
  opts: { batch?: number; ep?: ExecutionProviderChoice; signal?: AbortSignal } & CreateSessionOptions = {},
): Promise<ClassifierEvaluation> {
  const set = arrayInputSet('images', imageShape, images, Int32Array.from(labels));
  const created = await createSession(modelPath, opts.ep ?? 'cpu', opts);
  try {
    const r = await evaluateSessions(created, undefined, set, { batch: opts.batch ?? 100, signal: opts.signal, files: { original: modelPath } });
    if (!r.original) throw new PrunerError(`${modelPath}: output ${r.output} is not [batch, classes]`, { subject: modelPath });
    return { accuracy: r.original.top1, correct: r.original.correct, total: r.count, batch: r.batch, provider: created.provider };
  } finally {
    await created.session.release();
  }
}
