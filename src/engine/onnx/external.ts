// External data: tensors whose bytes live in a separate file beside the model
// (`data_location = EXTERNAL`, `external_data` entries `location`, `offset`, `length`).
// A location is untrusted input: it must stay inside the model's folder.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PrunerError } from '../errors.ts';
import { DataType, tensorMark, type TensorProto } from './proto.ts';

/** A byte range of a file: where an external tensor's bytes are. */
export interface FileRange {
  /** Absolute path of the data file. */
  file: string;
  offset: number;
  length: number;
}

export interface ExternalRef extends FileRange {
  /** The `location` as written in the model. */
  location: string;
}

export function isExternal(t: TensorProto): boolean {
  return t.data_location === 1;
}

const inFile = tensorMark<FileRange>('onnx-pruner.inFile');

/**
 * Marks an inline tensor whose raw_data was left in the .onnx file (loadModel with `weights:
 * 'file'`): its bytes are `range` of that file, read on demand like external data. The tensor stays
 * inline: it is written inline, and it is not external data.
 */
export const setInFile: (t: TensorProto, range: FileRange) => void = inFile.set;

/** Where the bytes of an inline tensor left in the .onnx file are; undefined for every other tensor. */
export const inFileRange: (t: TensorProto) => FileRange | undefined = inFile.get;

/** Per-model memo of resolved locations (realpath + size), so many tensors in one file cost one stat. */
export class ExternalResolver {
  private readonly files = new Map<string, { file: string; size: number } | PrunerError>();
  private dirReal?: string;

  /**
   * @param modelFile the .onnx file named in error messages
   * @param dir the folder locations are relative to
   */
  constructor(readonly modelFile: string, readonly dir: string) {}

  /** Resolves and checks a tensor's external reference; throws a PrunerError naming the model, tensor and location. */
  resolve(t: TensorProto): ExternalRef {
    const kv = new Map<string, string>();
    for (const e of t.external_data) kv.set(e.key ?? '', e.value ?? '');
    const location = kv.get('location') ?? '';
    const where = `${this.modelFile}: tensor ${JSON.stringify(t.name ?? '')}`;
    const fail = (why: string): never => {
      throw new PrunerError(`${where}: external data ${JSON.stringify(location)} ${why}`, { subject: this.modelFile });
    };
    if (!location) throw new PrunerError(`${where}: external data without a location`, { subject: this.modelFile });
    const entry = this.file(location);
    if (entry instanceof PrunerError) throw new PrunerError(`${where}: ${entry.message}`, { subject: this.modelFile });
    const offset = parseCount(kv.get('offset') ?? '0');
    if (offset === undefined) fail(`has an invalid offset ${JSON.stringify(kv.get('offset'))}`);
    let length: number | undefined;
    if (kv.has('length')) {
      length = parseCount(kv.get('length')!);
      if (length === undefined) fail(`has an invalid length ${JSON.stringify(kv.get('length'))}`);
    } else length = entry.size - offset!;
    if (offset! > entry.size || offset! + length! > entry.size) {
      fail(`range ${offset}+${length} is beyond the end of the file (${entry.size} bytes)`);
    }
    return { file: entry.file, offset: offset!, length: length!, location };
  }

  /** Absolute paths and sizes of the external files resolved so far. */
  resolvedFiles(): { file: string; size: number }[] {
    const out: { file: string; size: number }[] = [];
    for (const v of this.files.values()) if (!(v instanceof PrunerError)) out.push(v);
    return out;
  }

  private file(location: string): { file: string; size: number } | PrunerError {
    let hit = this.files.get(location);
    if (!hit) {
      hit = this.check(location);
      this.files.set(location, hit);
    }
    return hit;
  }

  private check(location: string): { file: string; size: number } | PrunerError {
    const bad = (why: string) => new PrunerError(`external data ${JSON.stringify(location)} ${why}`);
    if (location.includes('\0')) return bad('is not a valid file name');
    if (path.isAbsolute(location) || path.win32.isAbsolute(location)) return bad('is an absolute path: only locations inside the model folder are allowed');
    const norm = path.normalize(location.replace(/\\/g, '/'));
    if (norm === '..' || norm.startsWith(`..${path.sep}`) || norm.startsWith('../')) return bad('points outside the model folder');
    const target = path.resolve(this.dir, norm);
    let real: string;
    try {
      real = fs.realpathSync(target);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return bad(code === 'ENOENT' ? 'is missing' : `cannot be read (${code ?? (e as Error).message})`);
    }
    this.dirReal ??= safeRealpath(this.dir);
    const rel = path.relative(this.dirReal, real);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return bad('leads outside the model folder (symbolic link)');
    let st: fs.Stats;
    try {
      st = fs.statSync(real);
    } catch (e) {
      return bad(`cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    if (!st.isFile()) return bad('is not a file');
    stampFile(real, st);
    return { file: real, size: st.size };
  }
}

function safeRealpath(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/** A non-negative integer written as a decimal string, or undefined. */
function parseCount(s: string): number | undefined {
  if (!/^\s*\d{1,16}\s*$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A file's size and modification time, as it was when a model that reads it by range was loaded. */
export interface FileStamp {
  size: number;
  mtimeMs: number;
}

/**
 * The files models read by range (external data, weights left in the .onnx) with their stamps, by
 * absolute path: every read by range checks that its file is still the one the model was loaded
 * from, so a file replaced during a run is an error naming it, never a model mixing two versions.
 * Loading a model again stamps its files anew.
 */
const stamps = new Map<string, FileStamp>();

export function stampFile(file: string, st: FileStamp): void {
  stamps.set(file, { size: st.size, mtimeMs: st.mtimeMs });
}

/** The stamp a read of `file` checks (undefined: not a file read by range). */
export function fileStamp(file: string): FileStamp | undefined {
  return stamps.get(file);
}

/** The error for a file read by range that is no longer the one the model was loaded from. */
export function changedFileError(file: string): PrunerError {
  return new PrunerError(`${file}: changed while the model was in use (rewritten or replaced since it was loaded); nothing written from it: load the model again`, { subject: file });
}

/** Throws changedFileError when `current` (the fstat of the file just opened) no longer matches the stamp of `file`. */
export function checkStamp(file: string, current: { size: number; mtimeMs: number }): void {
  const want = stamps.get(file);
  if (want && (want.size !== current.size || want.mtimeMs !== current.mtimeMs)) throw changedFileError(file);
}

/** Reads a byte range synchronously (for on-demand tensor reads). */
export function readRangeSync(r: FileRange): Buffer {
  const out = Buffer.allocUnsafe(r.length);
  readRangeInto(r, out);
  return out;
}

/** Reads the first `into.length` bytes of a range into `into` (e.g. the memory of a Float32Array). */
export function readRangeInto(r: FileRange, into: Uint8Array): void {
  const reader = openRanges(r.file);
  try {
    reader.read(r, into);
  } finally {
    reader.close();
  }
}

/** Ranges of one file read through one open file descriptor (see openRanges). */
export interface RangeReader {
  /** readRangeInto for a range of this reader's file. */
  read(r: FileRange, into: Uint8Array): void;
  close(): void;
}

/**
 * Opens `file` once, checking its stamp, for reading many of its ranges (the blocks of a weight):
 * one open instead of one per block. Close it when done.
 */
export function openRanges(file: string): RangeReader {
  const fd = fs.openSync(file, 'r');
  try {
    checkStamp(file, fs.fstatSync(fd));
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  return {
    read(r, into) {
      const want = Math.min(r.length, into.length);
      let done = 0;
      while (done < want) {
        // at most 1 GiB per call (the kernel caps a read near 2 GiB)
        const n = fs.readSync(fd, into, done, Math.min(want - done, 2 ** 30), r.offset + done);
        if (n === 0) throw new PrunerError(`${r.file}: ended early while reading ${r.length} bytes at ${r.offset}`, { subject: r.file });
        done += n;
      }
    },
    close() {
      fs.closeSync(fd);
    },
  };
}

/** Bytes per element of fixed-size element types; undefined for STRING and sub-byte types. */
export function elementSize(dataType: number): number | undefined {
  switch (dataType) {
    case DataType.FLOAT: case DataType.INT32: case DataType.UINT32: return 4;
    case DataType.DOUBLE: case DataType.INT64: case DataType.UINT64: case DataType.COMPLEX64: return 8;
    case DataType.COMPLEX128: return 16;
    case DataType.FLOAT16: case DataType.BFLOAT16: case DataType.INT16: case DataType.UINT16: return 2;
    case DataType.INT8: case DataType.UINT8: case DataType.BOOL:
    case DataType.FLOAT8E4M3FN: case DataType.FLOAT8E4M3FNUZ: case DataType.FLOAT8E5M2: case DataType.FLOAT8E5M2FNUZ:
    case DataType.FLOAT8E8M0:
      return 1;
  }
  return undefined;
}

/** Bytes a tensor of `count` elements takes in raw_data (sub-byte types packed two per byte). */
export function rawByteLength(dataType: number, count: number): number | undefined {
  if (dataType === DataType.INT4 || dataType === DataType.UINT4 || dataType === DataType.FLOAT4E2M1) return Math.ceil(count / 2);
  const size = elementSize(dataType);
  return size === undefined ? undefined : size * count;
}
