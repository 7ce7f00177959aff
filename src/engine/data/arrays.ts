// Input sets from array files: `.npy`, an array of a `.npz`, and raw little-endian `.f32` with a
// shape (`x.f32:1000x1x28x28`). The first dimension counts the samples; batches are read from the
// file as byte ranges, so memory holds one batch, not the file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CancelledError, PrunerError } from '../errors.ts';
import { parseInputArg } from '../runtime/inputs.ts';
import { decodeInto, fileRangeReader, openArray, parseDtype, type ByteReader, type NpyDtype } from './npy.ts';
import { inputSet, type InputSet } from './types.ts';

const F32: NpyDtype = parseDtype('<f4')!;

/** An InputSet whose samples are read in order from a byte stream of `dtype` elements, converted to float32. */
export function streamedInputSet(
  source: string,
  sampleShape: readonly number[],
  count: number,
  dtype: NpyDtype,
  open: () => Promise<ByteReader>,
  labels?: Int32Array,
): InputSet {
  const sampleSize = sampleShape.reduce((a, b) => a * b, 1);
  return inputSet(
    source,
    sampleShape,
    count,
    async function* (size, signal) {
      const reader = await open();
      try {
        for (let offset = 0; offset < count; offset += size) {
          if (signal?.aborted) throw new CancelledError();
          const n = Math.min(size, count - offset);
          const bytes = await reader.read(n * sampleSize * dtype.size);
          if (bytes.length < n * sampleSize * dtype.size) throw new PrunerError(`${source}: the file ended before sample ${offset + n}`, { subject: source });
          const data = new Float32Array(n * sampleSize);
          decodeInto(bytes, dtype, n * sampleSize, data);
          yield { data, count: n, offset };
        }
      } finally {
        await reader.close();
      }
    },
    labels,
  );
}

/** A .npy file or a .npz array (`file.npz[:name]`) as an InputSet: dimension 0 counts the samples. */
export async function npyInputSet(arg: string): Promise<InputSet> {
  const a = await openArray(arg);
  const { shape, dtype } = a.header;
  if (shape.length < 2) throw new PrunerError(`${a.source}: shape (${shape.join(', ')}) has no sample dimension; inputs are [count, ...sample shape]`, { subject: a.source });
  if (dtype.kind === 'b') throw new PrunerError(`${a.source}: dtype ${dtype.descr} (bool) is not model input data`, { subject: a.source });
  return streamedInputSet(a.source, shape.slice(1), shape[0], dtype, a.open);
}

/**
 * Raw little-endian float32 with its shape (`x.f32:1000x1x28x28`, dimension 0 counts the samples),
 * or without one when `sampleShape` (one sample's shape, from the model) says how to cut it.
 */
export function rawF32InputSet(arg: string, sampleShape?: readonly number[]): InputSet {
  const { file, shape } = parseInputArg(arg);
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch (e) {
    throw new PrunerError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { subject: file, cause: e });
  }
  if (size === 0 || size % 4 !== 0) throw new PrunerError(`${file}: ${size} bytes is not a whole number of float32 values`, { subject: file });
  const values = size / 4;
  let sample: number[];
  let count: number;
  if (shape) {
    if (shape.length < 2) throw new PrunerError(`${file}: shape ${shape.join('x')} has no sample dimension; give [count]x[sample shape], e.g. ${path.basename(file)}:1000x1x28x28`, { subject: file });
    const need = shape.reduce((a, b) => a * b, 1);
    if (need !== values) throw new PrunerError(`${file}: shape ${shape.join('x')} needs ${need} float32 values, the file holds ${values}`, { subject: file });
    sample = shape.slice(1);
    count = shape[0];
  } else {
    const per = sampleShape?.reduce((a, b) => a * b, 1);
    if (!sampleShape || !per || values % per !== 0) {
      throw new PrunerError(`${file}: ${values} float32 values${sampleShape ? ` are not whole samples of [${sampleShape.join(', ')}]` : ''}; give the shape as ${path.basename(file)}:COUNTxCxHxW`, { subject: file });
    }
    sample = [...sampleShape];
    count = values / per;
  }
  return streamedInputSet(file, sample, count, F32, () => fileRangeReader(file, 0, size));
}
