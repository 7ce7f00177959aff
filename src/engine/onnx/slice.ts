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
 * The slice's bytes in order, in pieces: views of the source, or of one read buffer that is reused
 * for the next block (use each piece before asking for the next).
 */
function* pieces(s: SliceSpec): Generator<Uint8Array> {
  const rows = s.dims.length ? s.dims[0] : 1;
  const rowBytes = s.dims.reduce((n, d) => n * d, s.elementSize) / Math.max(1, rows);
  const ranges = rowRanges(s);
  const keep0 = s.keep[0] ?? Array.from({ length: rows }, (_, i) => i);
  // One kept range per row: rows are yielded as they are. Otherwise each row's kept ranges are
  // gathered into one scratch row (short ranges byte by byte: a view per 4-byte element is slow).
  const whole = ranges.length === 2;
  let outRow = 0;
  for (let r = 1; r < ranges.length; r += 2) outRow += ranges[r];
  const scratch = whole ? undefined : Buffer.allocUnsafe(Math.max(1, outRow));
  const gather = (row: Uint8Array): Uint8Array => {
    if (!scratch) return row.subarray(ranges[0], ranges[0] + ranges[1]);
    let pos = 0;
    for (let r = 0; r < ranges.length; r += 2) {
      const off = ranges[r];
      const len = ranges[r + 1];
      if (len >= 256) scratch.set(row.subarray(off, off + len), pos);
      else for (let k = 0; k < len; k++) scratch[pos + k] = row[off + k];
      pos += len;
    }
    return scratch;
  };
  if (!('file' in s.src)) {
    for (const i of keep0) yield gather(s.src.subarray(i * rowBytes, (i + 1) * rowBytes));
    return;
  }
  const range = s.src;
  const perBlock = Math.max(1, Math.floor(READ_BLOCK / Math.max(1, rowBytes)));
  const buf = Buffer.allocUnsafe(Math.max(1, Math.min(perBlock, keep0.length) * rowBytes));
  const fd = fs.openSync(range.file, 'r');
  try {
    for (let k = 0; k < keep0.length; ) {
      // a run of consecutive kept rows, at most one block
      let e = k + 1;
      while (e < keep0.length && e - k < perBlock && keep0[e] === keep0[e - 1] + 1) e++;
      const want = (e - k) * rowBytes;
      const at = range.offset + keep0[k] * rowBytes;
      for (let done = 0; done < want; ) {
        const n = fs.readSync(fd, buf, done, want - done, at + done);
        if (n === 0) throw new PrunerError(`${range.file}: ended early while reading ${want} bytes at ${at}`, { subject: range.file });
        done += n;
      }
      for (let r = 0; r < e - k; r++) yield gather(buf.subarray(r * rowBytes, (r + 1) * rowBytes));
      k = e;
    }
  } finally {
    fs.closeSync(fd);
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
  checkSource(s);
  const out = Buffer.allocUnsafe(sliceLength(s));
  let pos = 0;
  for (const p of pieces(s)) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/**
 * Streams the slice to `write` in chunks of at most 16 MiB (each chunk is a fresh view of one reused
 * buffer: `write` must be done with it when its promise resolves).
 */
export async function streamSlice(s: SliceSpec, write: (chunk: Uint8Array) => Promise<void>): Promise<number> {
  checkSource(s);
  const total = sliceLength(s);
  const out = Buffer.allocUnsafe(Math.max(1, Math.min(OUT_CHUNK, total)));
  let fill = 0;
  let written = 0;
  const flush = async () => {
    if (!fill) return;
    await write(out.subarray(0, fill));
    written += fill;
    fill = 0;
  };
  for (const p of pieces(s)) {
    for (let off = 0; off < p.length; ) {
      const n = Math.min(out.length - fill, p.length - off);
      out.set(p.subarray(off, off + n), fill);
      fill += n;
      off += n;
      if (fill === out.length) await flush();
    }
  }
  await flush();
  return written;
}
