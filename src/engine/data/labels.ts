// Class labels for an evaluation set: a .npy (or .npz array) of integers, or raw bytes (`.u8`, one
// label per byte, as the bundled Fashion-MNIST test set stores them).
import * as fs from 'node:fs';
import { PrunerError } from '../errors.ts';
import { openArray, readArrayValues, splitNpzArg } from './npy.ts';

/** Reads integer class labels; `count`, when given, must match. */
export async function readLabels(arg: string, count?: number): Promise<Int32Array> {
  const { file } = splitNpzArg(arg);
  const lower = file.toLowerCase();
  let labels: Int32Array;
  let source = arg;
  if (lower.endsWith('.npy') || lower.endsWith('.npz')) {
    const a = await openArray(arg);
    source = a.source;
    const { shape, dtype } = a.header;
    if (dtype.kind !== 'i' && dtype.kind !== 'u') throw new PrunerError(`${source}: labels must be integers, the array is ${dtype.descr}`, { subject: file });
    if (shape.length !== 1 && !(shape.length === 2 && shape[1] === 1)) throw new PrunerError(`${source}: labels must be one integer per input, the array is (${shape.join(', ')})`, { subject: file });
    labels = Int32Array.from(await readArrayValues(a));
  } else if (lower.endsWith('.u8')) {
    try {
      labels = Int32Array.from(fs.readFileSync(file));
    } catch (e) {
      throw new PrunerError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { subject: file, cause: e });
    }
  } else throw new PrunerError(`${file}: labels are read from .npy, .npz or .u8 (one byte per label) files`, { subject: file });
  if (labels.some((v) => v < 0)) throw new PrunerError(`${source}: negative class labels`, { subject: file });
  if (count !== undefined && labels.length !== count) throw new PrunerError(`${source}: ${labels.length} labels for ${count} inputs`, { subject: file });
  return labels;
}
