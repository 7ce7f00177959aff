// Calibration and evaluation data: .npy / .npz / raw .f32 readers streamed in batches, image folders
// with preprocessing, labels, and the evaluation of original and pruned models on them.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PrunerError } from '../../src/engine/errors.ts';
import { npyInputSet, rawF32InputSet } from '../../src/engine/data/arrays.ts';
import { halfToNumber, npzArrayNames, openArray, readArrayValues } from '../../src/engine/data/npy.ts';
import type { InputSet } from '../../src/engine/data/types.ts';
import { f32Bytes, npyBytes, writeNpy, writeNpz } from '../helpers/npy.ts';
import { shared, skipWithoutShared, tempDir } from '../helpers/paths.ts';

/** Every sample of a set, batch by batch, with the batch sizes seen. */
async function collect(set: InputSet, batch: number): Promise<{ values: number[]; sizes: number[] }> {
  const values: number[] = [];
  const sizes: number[] = [];
  for await (const b of set.batches(batch)) {
    assert.equal(b.offset, values.length / set.sampleShape.reduce((x, y) => x * y, 1));
    sizes.push(b.count);
    values.push(...b.data);
  }
  return { values, sizes };
}

const isPrunerError = (re: RegExp) => (e: unknown) => e instanceof PrunerError && re.test(e.message);

describe('array files', () => {
  test('.npy v1/v2/v3 and every dtype stream in batches as float32', async () => {
    const dir = tempDir();
    const vals = Array.from({ length: 5 * 6 }, (_, i) => i - 7);
    const cases: [string, (b: Buffer, v: number, i: number) => void, number][] = [
      ['<f4', (b, v, i) => b.writeFloatLE(v, i * 4), 4],
      ['>f4', (b, v, i) => b.writeFloatBE(v, i * 4), 4],
      ['<f8', (b, v, i) => b.writeDoubleLE(v, i * 8), 8],
      ['<i4', (b, v, i) => b.writeInt32LE(v, i * 4), 4],
      ['<i8', (b, v, i) => b.writeBigInt64LE(BigInt(v), i * 8), 8],
      ['|i1', (b, v, i) => b.writeInt8(v, i), 1],
      ['<i2', (b, v, i) => b.writeInt16LE(v, i * 2), 2],
    ];
    for (const [version, [descr, put, size]] of cases.map((c, i) => [((i % 3) + 1) as 1 | 2 | 3, c] as const)) {
      const body = Buffer.alloc(vals.length * size);
      vals.forEach((v, i) => put(body, v, i));
      const f = path.join(dir, `a${descr.replace(/\W/g, '_')}.npy`);
      writeNpy(f, descr, [5, 2, 3], body, { version });
      const set = await npyInputSet(f);
      assert.deepEqual(set.sampleShape, [2, 3]);
      assert.equal(set.count, 5);
      const { values, sizes } = await collect(set, 2);
      assert.deepEqual(sizes, [2, 2, 1], descr);
      assert.deepEqual(values, vals, `${descr} v${version}`);
    }
    // unsigned bytes and half floats
    const u1 = path.join(dir, 'u1.npy');
    writeNpy(u1, '|u1', [2, 2], Buffer.from([0, 1, 128, 255]));
    assert.deepEqual((await collect(await npyInputSet(u1), 8)).values, [0, 1, 128, 255]);
    const f2 = path.join(dir, 'f2.npy');
    const half = Buffer.alloc(8);
    [0x3c00, 0xc000, 0x3555, 0x0001].forEach((h, i) => half.writeUInt16LE(h, i * 2));
    writeNpy(f2, '<f2', [2, 2], half);
    const hv = (await collect(await npyInputSet(f2), 8)).values;
    assert.deepEqual(hv.slice(0, 2), [1, -2]);
    assert.ok(Math.abs(hv[2] - 0.33325) < 1e-4 && hv[3] === Math.fround(2 ** -24));
    assert.equal(halfToNumber(0x7c00), Infinity);
  });

  test('bad .npy files: one line naming the file', async () => {
    const dir = tempDir();
    const fortran = path.join(dir, 'fortran.npy');
    writeNpy(fortran, '<f4', [2, 2], f32Bytes([1, 2, 3, 4]), { fortran: true });
    await assert.rejects(npyInputSet(fortran), isPrunerError(/fortran\.npy: .*fortran_order.*np\.ascontiguousarray/));
    const cplx = path.join(dir, 'cplx.npy');
    writeNpy(cplx, '<c8', [1, 1], f32Bytes([1, 0]));
    await assert.rejects(npyInputSet(cplx), isPrunerError(/cplx\.npy: .*dtype <c8; use float16\/32\/64/));
    const trunc = path.join(dir, 'trunc.npy');
    writeNpy(trunc, '<f4', [10, 2], f32Bytes([1, 2]));
    await assert.rejects(npyInputSet(trunc), isPrunerError(/trunc\.npy: .*needs 80 data bytes, found 8/));
    const flat = path.join(dir, 'flat.npy');
    writeNpy(flat, '<f4', [3], f32Bytes([1, 2, 3]));
    await assert.rejects(npyInputSet(flat), isPrunerError(/flat\.npy: shape \(3\) has no sample dimension/));
    const junk = path.join(dir, 'junk.npy');
    fs.writeFileSync(junk, 'not numpy at all');
    await assert.rejects(npyInputSet(junk), isPrunerError(/junk\.npy: not a usable \.npy file \(no NUMPY magic\)/));
    await assert.rejects(npyInputSet(path.join(dir, 'missing.npy')), isPrunerError(/missing\.npy: cannot read \(ENOENT\)/));
  });

  test('.npz stored and deflated: the only array, or one by name', async () => {
    const dir = tempDir();
    const x = Array.from({ length: 4 * 3 }, (_, i) => i / 4);
    for (const level of [0, 6] as const) {
      const one = path.join(dir, `one${level}.npz`);
      writeNpz(one, { x: npyBytes('<f4', [4, 3], f32Bytes(x)) }, level);
      assert.deepEqual((await collect(await npyInputSet(one), 3)).values, x);
      const two = path.join(dir, `two${level}.npz`);
      const yb = Buffer.alloc(32);
      [3, 1, 4, 1].forEach((v, i) => yb.writeBigInt64LE(BigInt(v), i * 8));
      writeNpz(two, { x: npyBytes('<f4', [4, 3], f32Bytes(x)), y: npyBytes('<i8', [4], yb) }, level);
      assert.deepEqual(await npzArrayNames(two), ['x', 'y']);
      const set = await npyInputSet(`${two}:x`);
      assert.equal(set.source, `${two}:x`);
      assert.deepEqual((await collect(set, 3)).values, x);
      assert.deepEqual(Array.from(await readArrayValues(await openArray(`${two}:y`))), [3, 1, 4, 1]);
      await assert.rejects(npyInputSet(two), isPrunerError(new RegExp(`two${level}\\.npz: holds 2 arrays \\(x, y\\); choose one as .*:NAME`)));
      await assert.rejects(npyInputSet(`${two}:z`), isPrunerError(/two\d\.npz: no array "z" \(it has x, y\)/));
    }
    const notZip = path.join(dir, 'bad.npz');
    fs.writeFileSync(notZip, 'PK but not really');
    await assert.rejects(npyInputSet(notZip), isPrunerError(/bad\.npz: not a usable \.npz file/));
  });

  test('raw .f32 with a shape, or cut by the model sample shape', async () => {
    const dir = tempDir();
    const f = path.join(dir, 'x.f32');
    const v = Array.from({ length: 24 }, (_, i) => i * 0.5);
    fs.writeFileSync(f, f32Bytes(v));
    const a = rawF32InputSet(`${f}:6x1x2x2`);
    assert.equal(a.count, 6);
    assert.deepEqual(a.sampleShape, [1, 2, 2]);
    assert.deepEqual((await collect(a, 4)).values, v);
    assert.equal(rawF32InputSet(f, [3, 2]).count, 4);
    assert.throws(() => rawF32InputSet(`${f}:5x1x2x2`), isPrunerError(/x\.f32: shape 5x1x2x2 needs 20 float32 values, the file holds 24/));
    assert.throws(() => rawF32InputSet(f, [5]), isPrunerError(/x\.f32: 24 float32 values are not whole samples of \[5\]; give the shape as x\.f32:COUNTxCxHxW/));
  });

  test('the shared calibration arrays', { skip: skipWithoutShared }, async () => {
    const set = await npyInputSet(shared('trained/fmnist_train_calib1000_x.npy'));
    assert.deepEqual(set.sampleShape, [1, 28, 28]);
    assert.equal(set.count, 1000);
    let n = 0;
    let sum = 0;
    for await (const b of set.batches(128)) {
      n += b.count;
      for (const x of b.data) sum += x;
    }
    assert.equal(n, 1000);
    assert.ok(Number.isFinite(sum) && sum !== 0);
    const y = await readArrayValues(await openArray(shared('trained/fmnist_train_calib1000_y.npy')));
    assert.equal(y.length, 1000);
    assert.ok(y.every((c) => Number.isInteger(c) && c >= 0 && c <= 9));
  });
});
