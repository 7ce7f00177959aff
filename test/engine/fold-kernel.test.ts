// The compensation's fold kernel (prune/fold.wat through fold-kernel.ts) against a plain loop: for
// each filter, Σ over the channels of v·Σ_j w², the same over the lost channels, and the lost
// channels' Σ w·mean per tap, every sum in the channels' order in double precision. The kernel
// must give these values to the last bit (the pruned model's bytes do not depend on it), for 1×1
// and k×k kernels, filter counts that are and are not multiples of four, blocks of any size and
// order (a block larger than one kernel call too), weights with zeros, negatives and tiny values, and channel counts that leave the kernel's
// memory unaligned after the mask.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { foldWithAllVariance } from '../../src/engine/prune/fold-kernel.ts';

/** Deterministic values in [-1, 1) (xorshift32), some exactly 0 and some tiny. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const u = (s >>> 0) / 2 ** 32;
    out[i] = i % 17 === 0 ? 0 : i % 29 === 0 ? u * 1e-30 : 2 * u - 1;
  }
  return out;
}

function reference(w: Float32Array, O: number, C: number, k: number, mask: Uint8Array, means: Float64Array, v: Float64Array) {
  const kern = new Float64Array(O * k);
  const lostVar = new Float64Array(O);
  const allVar = new Float64Array(O);
  for (let o = 0; o < O; o++) {
    let l = 0;
    let a = 0;
    for (let c = 0; c < C; c++) {
      let q = 0;
      for (let j = 0; j < k; j++) {
        const x = w[(o * C + c) * k + j];
        if (mask[c]) kern[o * k + j] += x * means[c];
        q += x * x;
      }
      const t = v[c] * q;
      a += t;
      if (mask[c]) l += t;
    }
    lostVar[o] = l;
    allVar[o] = a;
  }
  return { kern, lostVar, allVar };
}

const bits = (a: Float64Array) => Array.from(new BigUint64Array(a.buffer, a.byteOffset, a.length));

for (const [O, C, k] of [
  [8, 16, 1],
  [7, 13, 1],
  [11, 5, 9],
  [4, 3, 9],
  [3, 64, 9],
  [37, 129, 1],
  [10, 21, 25],
  // more than a kernel call takes (2^20 floats): the block goes through in parts
  [9, 512, 256],
]) {
  test(`fold kernel equals the plain loop to the bit: ${O} filters, ${C} channels, ${k} taps`, () => {
    const w = values(O * C * k, O * 1000 + C * 10 + k);
    const mask = new Uint8Array(C);
    for (let c = 0; c < C; c++) mask[c] = c % 3 === 1 || c === C - 1 ? 1 : 0;
    const means = Float64Array.from(values(C, 7 + C), (x) => x * 3);
    const v = Float64Array.from(values(C, 11 + C), (x) => Math.abs(x) + 0.5);
    const want = reference(w, O, C, k, mask, means, v);
    // blocks of every size from one filter to all of them, taken last block first
    for (const per of new Set([1, 2, 3, 4, 5, O])) {
      const kern = new Float64Array(O * k).fill(NaN);
      const lostVar = new Float64Array(O).fill(NaN);
      const allVar = new Float64Array(O).fill(NaN);
      const fold = foldWithAllVariance(C, k, mask, means, v, kern, lostVar, allVar);
      const starts: number[] = [];
      for (let first = 0; first < O; first += per) starts.push(first);
      for (const first of starts.reverse()) {
        const rows = Math.min(per, O - first);
        fold.block(w.subarray(first * C * k, (first + rows) * C * k), first, rows);
      }
      assert.deepEqual(bits(kern), bits(want.kern), `kern, blocks of ${per}`);
      assert.deepEqual(bits(lostVar), bits(want.lostVar), `lost variance, blocks of ${per}`);
      assert.deepEqual(bits(allVar), bits(want.allVar), `all variance, blocks of ${per}`);
    }
  });
}

test('fold kernel: a second weight after a larger one uses its own channel data', () => {
  // the kernel's memory keeps the first weight's data past the second's: nothing of it may leak in
  const big = { C: 300, k: 9, O: 6 };
  const small = { C: 5, k: 1, O: 9 };
  for (const { C, k, O } of [big, small]) {
    const w = values(O * C * k, C + k);
    const mask = Uint8Array.from({ length: C }, (_, c) => (c % 2 ? 1 : 0));
    const means = Float64Array.from(values(C, 3 * C), (x) => x + 1);
    const v = Float64Array.from(values(C, 5 * C), (x) => x * x + 0.1);
    const want = reference(w, O, C, k, mask, means, v);
    const kern = new Float64Array(O * k);
    const lostVar = new Float64Array(O);
    const allVar = new Float64Array(O);
    foldWithAllVariance(C, k, mask, means, v, kern, lostVar, allVar).block(w, 0, O);
    assert.deepEqual(bits(kern), bits(want.kern));
    assert.deepEqual(bits(lostVar), bits(want.lostVar));
    assert.deepEqual(bits(allVar), bits(want.allVar));
  }
});
