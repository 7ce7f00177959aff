// Calibration and evaluation inputs: what the recovery methods, the data-driven criteria and the
// evaluation read. A set is streamed in batches so memory does not grow with the number of inputs;
// loaders (image folders, .npy/.npz, raw .f32) produce one, and tests build one from arrays.
import { CancelledError, PrunerError } from '../errors.ts';
import type { Preprocess } from './preprocess.ts';

/** One batch of consecutive samples of an InputSet. */
export interface InputBatch {
  /** `count` samples, each `sampleShape` elements in the set's layout, packed one after another. */
  readonly data: Float32Array;
  readonly count: number;
  /** Index of the batch's first sample in the set. */
  readonly offset: number;
}

/** A set of inputs for one model input, read lazily, batch by batch. */
export interface InputSet {
  /** Where the inputs came from (a file or folder), for reports and error messages. */
  readonly source: string;
  /** Shape of one sample, without the batch dimension (e.g. [1, 28, 28] for NCHW). */
  readonly sampleShape: readonly number[];
  /** Number of samples. */
  readonly count: number;
  /** Integer class labels, one per sample, when known. */
  readonly labels?: Int32Array;
  /** Where the labels came from (a file, or the folder layout), when they are known. */
  readonly labelsSource?: string;
  /** Class names by label (the sub-folder names of an ImageFolder layout). */
  readonly classes?: readonly string[];
  /** How images were turned into samples (image folders only). */
  readonly preprocess?: Preprocess;
  /** Samples in order, at most `batchSize` per batch. Throws CancelledError when `signal` fires. */
  batches(batchSize: number, signal?: AbortSignal): AsyncIterable<InputBatch>;
}

/**
 * An InputSet of `count` samples whose batches `read(size, signal)` yields (`size` at least 1);
 * PrunerError naming `source` when the labels' count differs.
 */
export function inputSet(
  source: string,
  sampleShape: readonly number[],
  count: number,
  read: (size: number, signal?: AbortSignal) => AsyncIterable<InputBatch>,
  labels?: Int32Array,
): InputSet {
  if (labels && labels.length !== count) {
    throw new PrunerError(`${source}: ${labels.length} labels for ${count} inputs`, { subject: source });
  }
  return {
    source,
    sampleShape: [...sampleShape],
    count,
    ...(labels ? { labels } : {}),
    batches: (batchSize: number, signal?: AbortSignal) => read(Math.max(1, Math.floor(batchSize)), signal),
  };
}

/** An InputSet over samples already in memory (tests, random inputs, small arrays). */
export function arrayInputSet(source: string, sampleShape: readonly number[], data: Float32Array, labels?: Int32Array): InputSet {
  const sampleSize = sampleShape.reduce((a, b) => a * b, 1);
  if (sampleSize <= 0 || data.length % sampleSize !== 0) {
    throw new PrunerError(`${source}: ${data.length} values do not make whole samples of shape [${sampleShape.join(', ')}]`, { subject: source });
  }
  const count = data.length / sampleSize;
  return inputSet(
    source,
    sampleShape,
    count,
    async function* (size, signal) {
      for (let offset = 0; offset < count; offset += size) {
        if (signal?.aborted) throw new CancelledError();
        const n = Math.min(size, count - offset);
        yield { data: data.subarray(offset * sampleSize, (offset + n) * sampleSize), count: n, offset };
      }
    },
    labels,
  );
}
