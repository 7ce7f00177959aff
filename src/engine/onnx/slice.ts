// Tensor slices that keep some indices along several axes at once, read straight from the source
// bytes (a view of the .onnx file or a byte range of its external data). A slice is either
// materialised in one copy (`sliceBytes`) or streamed in bounded chunks to a writer
// (`streamSlice`): the pruned model's weights are written to disk without ever being held in
// memory, and a source in external data is read in blocks of whole rows (at most 16 MiB, or one
// row when a row is bigger).
import * as fs from 'node:fs';
import { PrunerError } from '../errors.ts';
import type { FileRange } from './external.ts';
import type { TensorProto } from './proto.ts';

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

const LAZY = Symbol('onnx-pruner.lazySlice');
type Lazy = TensorProto & { [LAZY]?: SliceSpec };

/** Marks `t` (a new tensor with no data) as holding the slice `spec`; its bytes are produced when read or written. */
export function setLazySlice(t: TensorProto, spec: SliceSpec): void {
  (t as Lazy)[LAZY] = spec;
}

/** The slice a tensor stands for, when it is a lazy slice. */
export function lazySliceOf(t: TensorProto): SliceSpec | undefined {
  return (t as Lazy)[LAZY];
}

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

/** Ranges shorter than this many bytes are copied element by element rather than by `set`. */
const SHORT_RANGE = 256;
/** Ranges averaging fewer units than this are copied through an index of every kept unit (rows of at most INDEX_MAX units). */
const INDEXED_RUN = 16;
const INDEX_MAX = 2 ** 20;

type Units = Uint8Array | Uint16Array | Uint32Array;

/**
 * The kept units of `rows` source rows (`rowUnits` apart from `src[0]`) into `out` from `pos`: each
 * row through `index` (the unit offset of every kept unit), or through its ranges (`r`: [offset,
 * length] pairs in units; those of at least `short` units by block copies). One loop over all the
 * rows, so a slice costs one call, not one per row.
 */
function gatherUnits(src: Units, rowUnits: number, rows: number, out: Units, pos: number, index: Int32Array | undefined, r: Int32Array, short: number): void {
  if (index) {
    const n = index.length;
    for (let row = 0, base = 0; row < rows; row++, base += rowUnits, pos += n) {
      for (let i = 0; i < n; i++) out[pos + i] = src[base + index[i]];
    }
    return;
  }
  for (let row = 0, base = 0; row < rows; row++, base += rowUnits) {
    for (let i = 0; i < r.length; i += 2) {
      const off = base + r[i];
      const len = r[i + 1];
      if (len >= short) out.set(src.subarray(off, off + len) as never, pos);
      else for (let k = 0; k < len; k++) out[pos + k] = src[off + k];
      pos += len;
    }
  }
}

/**
 * How source rows become rows of the slice: each row's kept byte ranges ([offset, length] pairs,
 * `rowRanges`) copied in order. One range: one block copy per row. Several: long ranges by block
 * copies, short ones unit by unit through 4- or 2-byte integer views (bit for bit, whatever the
 * element type) of the rows and of the destination, the rows first copied to aligned memory when
 * their bytes are not aligned (one block copy costs less than a byte-by-byte gather); byte by byte
 * when the ranges are not whole units.
 */
function rowGatherer(ranges: number[], outRow: number, rowBytes: number, elementSize: number): Gather {
  if (ranges.length === 2) {
    const [off, len] = ranges;
    // whole rows: the run in one block copy
    if (off === 0 && len === rowBytes) return (src, rows, dest, at) => dest.set(src.subarray(0, rows * rowBytes), at);
    return (src, rows, dest, at) => {
      for (let i = 0; i < rows; i++) dest.set(src.subarray(i * rowBytes + off, i * rowBytes + off + len), at + i * outRow);
    };
  }
  const es = elementSize % 4 === 0 ? 4 : elementSize % 2 === 0 ? 2 : 1;
  const unit = ranges.every((v) => v % es === 0) && rowBytes % es === 0 ? es : 1;
  const view = (b: ArrayBufferLike, off: number, bytes: number): Units =>
    unit === 4 ? new Uint32Array(b, off, bytes / 4) : unit === 2 ? new Uint16Array(b, off, bytes / 2) : new Uint8Array(b, off, bytes);
  // ranges in units; when they are short on average, the unit index of every kept unit instead (one
  // tight indexed copy per unit rather than a loop per range)
  const r = Int32Array.from(ranges, (v) => v / unit);
  const short = SHORT_RANGE / unit;
  const rowUnits = rowBytes / unit;
  const outUnits = outRow / unit;
  let index: Int32Array | undefined;
  if (outUnits < (r.length / 2) * INDEXED_RUN && outUnits <= INDEX_MAX) {
    index = new Int32Array(outUnits);
    let n = 0;
    for (let i = 0; i < r.length; i += 2) for (let k = 0; k < r[i + 1]; k++) index[n++] = r[i] + k;
  }
  // an aligned copy of a source row whose bytes are not aligned, and an output row for a
  // destination that is not aligned
  let rowCopy: Uint8Array | undefined;
  let outCopy: Uint8Array | undefined;
  return (src, rows, dest, at) => {
    if (unit === 1) return gatherUnits(src, rowUnits, rows, dest, at, index, r, short);
    const destAligned = (dest.byteOffset + at) % unit === 0;
    if (src.byteOffset % unit === 0 && destAligned) {
      gatherUnits(view(src.buffer, src.byteOffset, rows * rowBytes), rowUnits, rows, view(dest.buffer, dest.byteOffset + at, rows * outRow), 0, index, r, short);
      return;
    }
    // unaligned rows or destination: row by row through aligned copies
    rowCopy ??= new Uint8Array(rowBytes);
    outCopy ??= new Uint8Array(outRow);
    for (let i = 0; i < rows; i++) {
      let row = src.subarray(i * rowBytes, (i + 1) * rowBytes);
      if (row.byteOffset % unit !== 0) {
        rowCopy.set(row);
        row = rowCopy;
      }
      const out = destAligned ? dest.subarray(at + i * outRow, at + (i + 1) * outRow) : outCopy;
      gatherUnits(view(row.buffer, row.byteOffset, rowBytes), rowUnits, 1, view(out.buffer, out.byteOffset, outRow), 0, index, r, short);
      if (!destAligned) dest.set(outCopy, at + i * outRow);
    }
  };
}

/** The geometry of a slice: the source rows (of axis 0) it keeps, and how each is gathered. */
function sliceRows(s: SliceSpec): { keep0: number[]; rowBytes: number; outRow: number; ranges: number[]; gather: Gather } {
  const rows = s.dims.length ? s.dims[0] : 1;
  const rowBytes = s.dims.reduce((n, d) => n * d, s.elementSize) / Math.max(1, rows);
  const ranges = rowRanges(s);
  const keep0 = s.keep[0] ?? Array.from({ length: rows }, (_, i) => i);
  let outRow = 0;
  for (let r = 1; r < ranges.length; r += 2) outRow += ranges[r];
  return { keep0, rowBytes, outRow, ranges, gather: rowGatherer(ranges, outRow, rowBytes, s.elementSize) };
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
  const fd = inMemory ? undefined : fs.openSync((s.src as FileRange).file, 'r');
  try {
    for (let k = 0; k < keep0.length; ) {
      // a run of consecutive kept rows, at most one block
      let e = k + 1;
      while (e < keep0.length && e - k < perBlock && keep0[e] === keep0[e - 1] + 1) e++;
      const want = (e - k) * rowBytes;
      if (!('file' in s.src)) yield { bytes: s.src.subarray(keep0[k] * rowBytes, keep0[k] * rowBytes + want), rows: e - k };
      else {
        const at = s.src.offset + keep0[k] * rowBytes;
        for (let done = 0; done < want; ) {
          const n = fs.readSync(fd!, buf!, done, want - done, at + done);
          if (n === 0) throw new PrunerError(`${s.src.file}: ended early while reading ${want} bytes at ${at}`, { subject: s.src.file });
          done += n;
        }
        yield { bytes: buf!.subarray(0, want), rows: e - k };
      }
      k = e;
    }
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
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
