// The compensation's fold of a consumer's filters with the lost channels' variance and means
// (compensate.ts), block by block, in a small WebAssembly kernel (fold.wat): compiled code from the
// first block on, and the same double-precision operations in the same order as a plain loop (see
// the .wat). A weight's channel data (mask, means, variances) is copied into the kernel's memory
// once; each block of filters is copied in, folded, and its sums copied out.
import { foldWasm } from './fold.generated.ts';
import { lazyKernel } from '../wasm.ts';

const PAGE = 65536;

interface Kernel {
  memory: WebAssembly.Memory;
  foldAllVar: (w: number, rows: number, C: number, k: number, mask: number, means: number, v: number, kern: number, lostVar: number, allVar: number) => void;
}

/** The kernel, instantiated on first use (one per thread). */
const foldKernel = lazyKernel<Kernel>(foldWasm);

const align8 = (n: number) => (n + 7) & ~7;

/**
 * Folds the blocks of one weight [O, C, k...] (k taps per channel): for each filter o, with
 * q = Σ_j w[o,c,j]² and t = v[c]·q, allVar[o] = Σ_c t and lostVar[o] = Σ over the lost c of t, and
 * kern[o·k + j] = Σ over the lost c of w[o,c,j]·means[c] (the channels in order; kern's rows are
 * overwritten). Call `block` once per block of filters, in any order, from one thread, before
 * the next call of foldWithAllVariance (the kernel's memory holds one weight's channel data).
 */
export function foldWithAllVariance(C: number, k: number, lostMask: Uint8Array, means: Float64Array, v: Float64Array, kern: Float64Array, lostVar: Float64Array, allVar: Float64Array): { block: (w: Float32Array, first: number, rows: number) => void } {
  const K = foldKernel();
  // memory: means, v, mask, then a block's weights, kernel rows, lost and all variances
  const meansAt = 0;
  const vAt = meansAt + C * 8;
  const maskAt = vAt + C * 8;
  const wAt = align8(maskAt + C);
  const ensure = (bytes: number) => {
    if (K.memory.buffer.byteLength < bytes) K.memory.grow(Math.ceil((bytes - K.memory.buffer.byteLength) / PAGE));
  };
  ensure(wAt);
  new Float64Array(K.memory.buffer, meansAt, C).set(means.subarray(0, C));
  new Float64Array(K.memory.buffer, vAt, C).set(v.subarray(0, C));
  new Uint8Array(K.memory.buffer, maskAt, C).set(lostMask.subarray(0, C));
  const rowFloats = C * k;
  // rows per kernel call: a block larger than this (a weight the caller could not read by blocks)
  // goes through in parts, so the kernel's memory (kept for the process) stays small
  const perCall = Math.max(1, Math.floor(CALL_FLOATS / Math.max(1, rowFloats)));
  const run = (w: Float32Array, first: number, rows: number) => {
    const floats = rows * rowFloats;
    const kernAt = align8(wAt + floats * 4);
    const lostAt = kernAt + rows * k * 8;
    const allAt = lostAt + rows * 8;
    ensure(allAt + rows * 8);
    const buffer = K.memory.buffer;
    new Float32Array(buffer, wAt, floats).set(w.subarray(0, floats));
    const kernRows = new Float64Array(buffer, kernAt, rows * k);
    kernRows.fill(0);
    K.foldAllVar(wAt, rows, C, k, maskAt, meansAt, vAt, kernAt, lostAt, allAt);
    kern.set(kernRows, first * k);
    lostVar.set(new Float64Array(buffer, lostAt, rows), first);
    allVar.set(new Float64Array(buffer, allAt, rows), first);
  };
  return {
    block(w, first, rows) {
      for (let r = 0; r < rows; r += perCall) {
        const n = Math.min(perCall, rows - r);
        run(w.subarray(r * rowFloats, (r + n) * rowFloats), first + r, n);
      }
    },
  };
}

/** Weights copied into the kernel's memory per call (4 MiB). */
const CALL_FLOATS = 2 ** 20;
