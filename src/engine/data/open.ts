// One entry point for calibration and evaluation data: a path the user gave (an image folder, a
// .npy, a .npz array, raw .f32 with a shape), fitted to the model input it feeds, with labels and a
// sample limit when asked.
import * as fs from 'node:fs';
import { PrunerError } from '../errors.ts';
import type { ModelInputSpec } from '../runtime/types.ts';
import { npyInputSet, rawF32InputSet } from './arrays.ts';
import { imageFolderInputSet } from './images.ts';
import { readLabels } from './labels.ts';
import { splitNpzArg } from './npy.ts';
import { parsePreprocess, proposePreprocess, type Preprocess } from './preprocess.ts';
import type { InputBatch, InputSet } from './types.ts';

export interface OpenInputOptions {
  /** The model input the samples feed (checks and fits the sample shape; sizes images). */
  spec?: ModelInputSpec;
  /** Preprocessing for image folders (default: proposed from the model input). */
  preprocess?: Preprocess;
  /** A labels file (.npy, .npz array, .u8), replacing the folder layout's labels. */
  labels?: string;
  /** Use at most this many samples (the first ones). */
  maxCount?: number;
}

function fmtDims(dims: readonly (number | string | null)[]): string {
  return `[${dims.map((d) => d ?? '?').join(', ')}]`;
}

/**
 * The set's samples for a model input: the same shape as the input without its batch dimension
 * (dimensions of size 1 may differ: [784] does not fit [1, 28, 28], but [28, 28] does). A PrunerError
 * naming the file when they do not fit.
 */
export function fitToInput(set: InputSet, spec: ModelInputSpec): InputSet {
  const want = spec.dims.slice(1);
  const sample = set.sampleShape;
  const same = want.length === sample.length && want.every((d, i) => typeof d !== 'number' || d === sample[i]);
  if (same) return set;
  const squeeze = (dims: readonly (number | string | null)[]) => dims.filter((d) => d !== 1);
  const a = squeeze(want);
  const b = squeeze(sample);
  if (a.length === b.length && a.every((d, i) => typeof d !== 'number' || d === b[i])) {
    let k = 0;
    const shape = want.map((d) => (d === 1 ? 1 : (b[k++] as number)));
    return { ...set, sampleShape: shape, batches: (n, s) => set.batches(n, s) };
  }
  const hint = sample.length === 3 && want.length === 3 && sample[2] === want[0] ? ' (channels last? the model takes channels first)' : '';
  throw new PrunerError(`${set.source}: samples are ${fmtDims(sample)}, model input ${spec.name} takes ${fmtDims(spec.dims)} per batch${hint}`, { subject: set.source });
}

/** The first `n` samples of a set. */
export function takeInputs(set: InputSet, n: number): InputSet {
  if (n >= set.count) return set;
  return {
    ...set,
    count: n,
    ...(set.labels ? { labels: set.labels.subarray(0, n) } : {}),
    async *batches(batchSize: number, signal?: AbortSignal): AsyncIterable<InputBatch> {
      const per = set.sampleShape.reduce((a, b) => a * b, 1);
      for await (const b of set.batches(Math.min(batchSize, n), signal)) {
        if (b.offset >= n) break;
        const count = Math.min(b.count, n - b.offset);
        yield count === b.count ? b : { data: b.data.subarray(0, count * per), count, offset: b.offset };
        if (b.offset + count >= n) break;
      }
    },
  };
}

/** Opens calibration or evaluation data for a model input (see OpenInputOptions). */
export async function openInputSet(arg: string, opts: OpenInputOptions = {}): Promise<InputSet> {
  const { file } = splitNpzArg(arg);
  let isDir = false;
  try {
    isDir = fs.statSync(file).isDirectory();
  } catch {
    // Not a plain path: a .f32 with a shape suffix, or missing (the reader says so).
  }
  let set: InputSet;
  const lower = file.toLowerCase();
  if (isDir) set = imageFolderInputSet(file, opts.preprocess ?? (opts.spec ? proposePreprocess(opts.spec) : parsePreprocess('unit')), opts.spec);
  else if (lower.endsWith('.npy') || lower.endsWith('.npz')) set = await npyInputSet(arg);
  else if (/\.(jpe?g|png)$/i.test(lower)) throw new PrunerError(`${file}: give the folder that holds the images, not one image`, { subject: file });
  else set = rawF32InputSet(arg, opts.spec?.dims.slice(1).every((d) => typeof d === 'number') ? (opts.spec.dims.slice(1) as number[]) : undefined);
  if (set.count === 0) throw new PrunerError(`${set.source}: no samples`, { subject: set.source });
  if (opts.spec) {
    if (opts.spec.type !== 'float32' && opts.spec.type !== undefined && !set.preprocess) {
      // Arrays are read as float32; integer model inputs are not data for calibration.
      throw new PrunerError(`${set.source}: model input ${opts.spec.name} takes ${opts.spec.type}; calibration and evaluation data feed float32 inputs`, { subject: set.source });
    }
    set = fitToInput(set, opts.spec);
  }
  if (opts.labels !== undefined) {
    const labels = await readLabels(opts.labels, set.count);
    set = { ...set, labels, labelsSource: opts.labels, batches: set.batches.bind(set) };
  } else if (set.labels) set = { ...set, labelsSource: `${set.source} (sub-folder per class)`, batches: set.batches.bind(set) };
  if (opts.maxCount !== undefined) set = takeInputs(set, opts.maxCount);
  return set;
}
