// Row gathers for tensor slices (slice.ts): the kept byte ranges of a block of source rows, copied
// one after the other. The copy loop is a small WebAssembly kernel (gather.wat): a pruned weight's
// rows are mostly many short ranges (a 1×1 convolution keeping 70% of its input channels keeps runs
// of about three floats), and the kernel copies them two to four times faster than a typed-array loop
// would, for any element size and alignment. Source rows pass through the kernel's memory a block
// at a time (at most ROW_BLOCK bytes of source), so that memory stays small whatever the tensor;
// a row larger than a block is gathered range by range in JavaScript.
import { gatherWasm } from './gather.generated.ts';
import { lazyKernel } from '../wasm.ts';

/** Source bytes copied into the kernel's memory per call. */
const ROW_BLOCK = 2 ** 20;
/** Ranges at least this long are block copies in the JavaScript fallback. */
const SHORT_RANGE = 64;
const PAGE = 65536;

interface Kernel {
  memory: WebAssembly.Memory;
  gather: (src: number, rowBytes: number, rows: number, ranges: number, count: number, out: number) => number;
}

/** The kernel, instantiated on first use (one per thread). */
const gatherKernel = lazyKernel<Kernel>(gatherWasm);

/**
 * Copies the byte ranges `ranges` ([offset in the row, length] pairs, `outRow` bytes in all) of each
 * of `rows` consecutive rows of `src` (`rowBytes` each) into `dest` from byte `at`.
 */
export function gatherRanges(src: Uint8Array, rowBytes: number, rows: number, ranges: Int32Array, outRow: number, dest: Uint8Array, at: number): void {
  if (rows <= 0) return;
  const perCall = Math.min(rows, Math.floor(ROW_BLOCK / Math.max(1, rowBytes)));
  if (perCall === 0) return gatherInJs(src, rowBytes, rows, ranges, dest, at);
  const k = gatherKernel();
  // kernel memory: the ranges, then a block of source rows, then their gathered bytes
  const srcAt = ranges.byteLength;
  const outAt = srcAt + perCall * rowBytes;
  const need = outAt + perCall * outRow;
  if (k.memory.buffer.byteLength < need) k.memory.grow(Math.ceil((need - k.memory.buffer.byteLength) / PAGE));
  const buffer = k.memory.buffer;
  new Int32Array(buffer, 0, ranges.length).set(ranges);
  const mem = new Uint8Array(buffer);
  for (let r = 0; r < rows; r += perCall) {
    const n = Math.min(perCall, rows - r);
    mem.set(src.subarray(r * rowBytes, (r + n) * rowBytes), srcAt);
    k.gather(srcAt, rowBytes, n, 0, ranges.length / 2, outAt);
    dest.set(mem.subarray(outAt, outAt + n * outRow), at + r * outRow);
  }
}

/** gatherRanges for rows too large for a kernel block: long ranges by block copies, short ones byte by byte. */
function gatherInJs(src: Uint8Array, rowBytes: number, rows: number, ranges: Int32Array, dest: Uint8Array, at: number): void {
  let pos = at;
  for (let row = 0, base = 0; row < rows; row++, base += rowBytes) {
    for (let i = 0; i < ranges.length; i += 2) {
      const off = base + ranges[i];
      const len = ranges[i + 1];
      if (len >= SHORT_RANGE) dest.set(src.subarray(off, off + len), pos);
      else for (let b = 0; b < len; b++) dest[pos + b] = src[off + b];
      pos += len;
    }
  }
}
