// Tensor slices that keep some indices along several axes at once, read straight from the source
// bytes (a view of the .onnx file or a byte range of its external data). A slice is either
// materialised in one copy (`sliceBytes`) or streamed in bounded chunks to a writer
// (`streamSlice`): the pruned model's weights are written to disk without ever being held in
// memory, and a source in external data is read in blocks of whole rows (at most 16 MiB, or one
// row when a row is bigger).
import { PrunerError } from '../errors.ts';
import { gatherRanges } from './gather.ts';
import { openRanges, type FileRange } from './external.ts';
import { tensorMark, type TensorProto } from './proto.ts';

/** What a sliced tensor's bytes are: `keep[axis]` indices of every axis of the source `dims` (undefined: all). */
export interface SliceSpec {
  /** The source tensor's bytes: in memory, or a range of an external-data file. */
  src: Uint8Array | FileRange;
  dims: number[];
  elementSize: number;
  keep: (number[] | undefined)[];
}

/** Bytes read from a file source per block of rows. */
const READ_BLOCK = 16 * 2 ** 20;
/** Output chunk size when streaming. */
const OUT_CHUNK = 16 * 2 ** 20;

const lazy = tensorMark<SliceSpec>('onnx-pruner.lazySlice');

/** Marks `t` (a new tensor with no data) as holding the slice `spec`; its bytes are produced when read or written. */
export const setLazySlice: (t: TensorProto, spec: SliceSpec) => void = lazy.set;

/** The slice a tensor stands for, when it is a lazy slice. */
export const lazySliceOf: (t: TensorProto) => SliceSpec | undefined = lazy.get;

/** Bytes of the sliced tensor. */
export function sliceLength(s: SliceSpec): number {
  return s.dims.reduce((n, d, i) => n * (s.keep[i]?.length ?? d), s.elementSize);
}

/** Byte ranges [offset, length] of one axis-0 row of the source that the slice keeps, adjacent ranges merged. */
function rowRanges(s: SliceSpec): number[] {
  const out: number[] = [];
  const push = (off: number, len: number) => {
    const n = out.length;
    if (n && out[n - 2] + out[n - 1] === off) out[n - 1] += len;
    else out.push(off, len);
  };
  const strides: number[] = new Array(s.dims.length);
  let acc = s.elementSize;
  for (let a = s.dims.length - 1; a >= 0; a--) {
    strides[a] = acc;
    acc *= s.dims[a];
  }
  // last axis that is sliced (below axis 0); everything after it is one contiguous run
  let last = 0;
  for (let a = s.dims.length - 1; a >= 1; a--) if (s.keep[a]) {
    last = a;
    break;
  }
  if (last === 0) {
    push(0, s.dims.length ? strides[0] : s.elementSize);
    return out;
  }
  const walk = (axis: number, base: number) => {
    const keep = s.keep[axis];
    const n = keep ? keep.length : s.dims[axis];
    for (let k = 0; k < n; k++) {
      const i = keep ? keep[k] : k;
      if (axis === last) push(base + i * strides[axis], strides[axis]);
      else walk(axis + 1, base + i * strides[axis]);
    }
  };
  walk(1, 0);
  return out;
}

/**
 * Writes the kept bytes of source rows into `dest` at byte `at`: `rows` consecutive rows of `src`
 * (one row, or a block of rows of one buffer), `outRow` bytes each.
 */
type Gather = (src: Uint8Array, rows: number, dest: Uint8Array, at: number) => void;

/**
 * How source rows become rows of the slice: each row's kept byte ranges ([offset, length] pairs,
 * `rowRanges`) copied in order. One range: one block copy per row (or per run of rows, when rows are
 * kept whole). Several: the WebAssembly gather (gather.ts), whatever the element size and alignment.
 */
function rowGatherer(ranges: number[], outRow: number, rowBytes: number): Gather {
  if (ranges.length === 2) {
    const [off, len] = ranges;
    // whole rows: the run in one block copy
    if (off === 0 && len === rowBytes) return (src, rows, dest, at) => dest.set(src.subarray(0, rows * rowBytes), at);
    return (src, rows, dest, at) => {
      for (let i = 0; i < rows; i++) dest.set(src.subarray(i * rowBytes + off, i * rowBytes + off + len), at + i * outRow);
    };
  }
  const r = Int32Array.from(ranges);
  return (src, rows, dest, at) => gatherRanges(src, rowBytes, rows, r, outRow, dest, at);
}

/** The geometry of a slice: the source rows (of axis 0) it keeps, and how each is gathered. */
function sliceRows(s: SliceSpec): { keep0: number[]; rowBytes: number; outRow: number; ranges: number[]; gather: Gather } {
  const rows = s.dims.length ? s.dims[0] : 1;
  const rowBytes = s.dims.reduce((n, d) => n * d, s.elementSize) / Math.max(1, rows);
  const ranges = rowRanges(s);
  const keep0 = s.keep[0] ?? Array.from({ length: rows }, (_, i) => i);
  let outRow = 0;
  for (let r = 1; r < ranges.length; r += 2) outRow += ranges[r];
  return { keep0, rowBytes, outRow, ranges, gather: rowGatherer(ranges, outRow, rowBytes) };
}

/**
 * The kept source rows in order, as runs of consecutive rows: views of the source, or of one read
 * buffer (at most one block) that is reused for the next run (use each run before asking for the
 * next).
 */
function* sourceRuns(s: SliceSpec, keep0: number[], rowBytes: number): Generator<{ bytes: Uint8Array; rows: number }> {
  const inMemory = !('file' in s.src);
  const perBlock = inMemory ? keep0.length : Math.max(1, Math.floor(READ_BLOCK / Math.max(1, rowBytes)));
  const buf = inMemory ? undefined : Buffer.allocUnsafe(Math.max(1, Math.min(perBlock, keep0.length) * rowBytes));
  const reader = inMemory ? undefined : openRanges((s.src as FileRange).file);
  try {
    for (let k = 0; k < keep0.length; ) {
      // a run of consecutive kept rows, at most one block
      let e = k + 1;
      while (e < keep0.length && e - k < perBlock && keep0[e] === keep0[e - 1] + 1) e++;
      const want = (e - k) * rowBytes;
      if (!('file' in s.src)) yield { bytes: s.src.subarray(keep0[k] * rowBytes, keep0[k] * rowBytes + want), rows: e - k };
      else {
        reader!.read({ file: s.src.file, offset: s.src.offset + keep0[k] * rowBytes, length: want }, buf!.subarray(0, want));
        yield { bytes: buf!.subarray(0, want), rows: e - k };
      }
      k = e;
    }
  } finally {
    reader?.close();
  }
}

function checkSource(s: SliceSpec): void {
  const need = s.dims.reduce((n, d) => n * d, s.elementSize);
  if (s.src.length < need) {
    const where = 'file' in s.src ? s.src.file : 'tensor data';
    throw new PrunerError(`${where}: ${s.src.length} bytes of data, the tensor's shape needs ${need}`, { subject: where });
  }
}

/** The slice in one new buffer (one copy from the source). */
export function sliceBytes(s: SliceSpec): Buffer {
  const out = Buffer.allocUnsafe(sliceLength(s));
  sliceInto(s, out);
  return out;
}

/** Copies the slice into `out` from `offset` (`sliceLength(s)` bytes; one copy from the source). */
export function sliceInto(s: SliceSpec, out: Uint8Array, offset = 0): void {
  checkSource(s);
  const { keep0, rowBytes, outRow, gather } = sliceRows(s);
  let pos = offset;
  for (const run of sourceRuns(s, keep0, rowBytes)) {
    gather(run.bytes, run.rows, out, pos);
    pos += run.rows * outRow;
  }
}

/**
 * Streams the slice to `write` in chunks of at most 16 MiB (each chunk is a fresh view of one reused
 * buffer: `write` must be done with it when its promise resolves). Rows are gathered straight into
 * the chunk; a row longer than a chunk goes through a row buffer.
 */
export async function streamSlice(s: SliceSpec, write: (chunk: Uint8Array) => Promise<void>): Promise<number> {
  checkSource(s);
  const total = sliceLength(s);
  const { keep0, rowBytes, outRow, ranges, gather } = sliceRows(s);
  const big = outRow > OUT_CHUNK;
  const size = Math.max(1, Math.min(big || outRow === 0 ? OUT_CHUNK : Math.floor(OUT_CHUNK / outRow) * outRow, total));
  // big slices take the reused chunk, small ones a buffer of their own
  const pooled = size >= POOL_MIN ? takeChunk() : undefined;
  const out = pooled ? pooled.subarray(0, size) : Buffer.allocUnsafe(size);
  // a row longer than a chunk: its one kept range is a view of it; several are gathered first
  const rowBuf = big && ranges.length > 2 ? Buffer.allocUnsafe(outRow) : undefined;
  let fill = 0;
  let written = 0;
  const flush = async () => {
    if (!fill) return;
    await write(out.subarray(0, fill));
    written += fill;
    fill = 0;
  };
  try {
    for (const run of sourceRuns(s, keep0, rowBytes)) {
      if (!big) {
        // as many of the run's rows as the chunk holds, then the rest into the next chunk
        for (let r = 0; r < run.rows; ) {
          if (fill + outRow > out.length) await flush();
          const n = Math.min(run.rows - r, Math.floor((out.length - fill) / outRow));
          gather(run.bytes.subarray(r * rowBytes, (r + n) * rowBytes), n, out, fill);
          fill += n * outRow;
          r += n;
        }
        continue;
      }
      for (let r = 0; r < run.rows; r++) {
        const row = run.bytes.subarray(r * rowBytes, (r + 1) * rowBytes);
        let piece: Uint8Array;
        if (rowBuf) {
          gather(row, 1, rowBuf, 0);
          piece = rowBuf;
        } else piece = row.subarray(ranges[0], ranges[0] + ranges[1]);
        for (let off = 0; off < outRow; ) {
          const n = Math.min(out.length - fill, outRow - off);
          out.set(piece.subarray(off, off + n), fill);
          fill += n;
          off += n;
          if (fill === out.length) await flush();
        }
      }
    }
    await flush();
  } finally {
    if (pooled) giveChunk(pooled);
  }
  return written;
}

/** Slices of at least this many bytes stream through the reused chunk. */
const POOL_MIN = 2 ** 20;

/**
 * The output chunk of streamSlice, reused from slice to slice (a fresh 16 MiB buffer per tensor
 * costs page faults and garbage collection); a chunk is taken for one streamSlice call, so
 * concurrent calls get their own. One is kept.
 */
const chunkPool: Buffer[] = [];

function takeChunk(): Buffer {
  return chunkPool.pop() ?? Buffer.allocUnsafeSlow(OUT_CHUNK);
}

function giveChunk(b: Buffer): void {
  if (chunkPool.length < 1) chunkPool.push(b);
}
