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
import { spawnSync } from 'node:child_process';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { imageFolderInputSet } from '../../src/engine/data/images.ts';
import { readLabels } from '../../src/engine/data/labels.ts';
import { openInputSet } from '../../src/engine/data/open.ts';
import { parsePreprocess, parsePreprocessArg, proposePreprocess } from '../../src/engine/data/preprocess.ts';
import { parsePlan } from '../../src/engine/prune/plan.ts';
import { modelInputSpecs } from '../../src/engine/runtime/inputs.ts';
import { validatePruned } from '../../src/engine/runtime/validate.ts';
import { main } from '../../src/cli/main.ts';
import { arrayInputSet } from '../../src/engine/data/types.ts';
import { createSession } from '../../src/engine/runtime/session.ts';
import { evaluateSessions, sameDataWarning } from '../../src/engine/runtime/evaluate.ts';
import { ModelBuilder } from '../helpers/modelBuilder.ts';
import type { ModelInputSpec } from '../../src/engine/runtime/types.ts';
import { f32Bytes, npyBytes, writeNpy, writeNpz } from '../helpers/npy.ts';
import { fmnistBn, fmnistFused, repoRoot, samplesDir, shared, skipWithoutShared, tempDir } from '../helpers/paths.ts';

const fmnistImages = path.join(samplesDir, 'fmnist', 'fmnist_test1000_x_1000x1x28x28.f32');
const fmnistLabels = path.join(samplesDir, 'fmnist', 'fmnist_test1000_y.u8');
const spec = (dims: (number | string)[]): ModelInputSpec => ({ name: 'x', type: 'float32', onnxType: 1, dims });

/** A PNG of `w`×`h` RGBA pixels from a function of (x, y) → [r, g, b]. */
function writePng(file: string, w: number, h: number, rgb: (x: number, y: number) => [number, number, number]): void {
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const [r, g, b] = rgb(x, y);
    png.data.set([r, g, b, 255], (y * w + x) * 4);
  }
  fs.writeFileSync(file, PNG.sync.write(png));
}

function writeJpeg(file: string, w: number, h: number, rgb: (x: number, y: number) => [number, number, number]): void {
  const data = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([...rgb(x, y), 255], (y * w + x) * 4);
  fs.writeFileSync(file, jpeg.encode({ data, width: w, height: h }, 100).data);
}

const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'main.ts'), ...args], { cwd: repoRoot, encoding: 'utf8' });

/** The CLI in this process (no start-up cost): exit status and what it printed. */
async function cliHere(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const [w1, w2] = [process.stdout.write, process.stderr.write];
  // Only the CLI's text: the test runner's own (binary) reports pass through.
  process.stdout.write = ((c: unknown, ...rest: unknown[]) => (typeof c === 'string' ? out.push(c) > 0 : (w1 as (...a: unknown[]) => boolean).call(process.stdout, c, ...rest))) as typeof process.stdout.write;
  process.stderr.write = ((c: unknown, ...rest: unknown[]) => (typeof c === 'string' ? err.push(c) > 0 : (w2 as (...a: unknown[]) => boolean).call(process.stderr, c, ...rest))) as typeof process.stderr.write;
  try {
    const status = await main(args);
    return { status, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = w1;
    process.stderr.write = w2;
  }
}

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

describe('image folders and preprocessing', () => {
  test('ImageFolder layout: labels by sorted class folder, values as the preset says, sizes and channels fitted', async () => {
    const root = tempDir();
    for (const c of ['b_shirt', 'a_boot']) fs.mkdirSync(path.join(root, c));
    // a_boot (class 0): a grey 8x8 PNG and a 16x16 one of 2x2 blocks (resized by half: the same image);
    // b_shirt (class 1): an RGB JPEG.
    writePng(path.join(root, 'a_boot', '1.png'), 8, 8, (x, y) => [x * 30, x * 30, x * 30 + y * 0]);
    writePng(path.join(root, 'a_boot', '2.png'), 16, 16, (x) => [Math.floor(x / 2) * 30, Math.floor(x / 2) * 30, Math.floor(x / 2) * 30]);
    writeJpeg(path.join(root, 'b_shirt', 'x.jpg'), 8, 8, () => [200, 100, 50]);
    fs.writeFileSync(path.join(root, 'b_shirt', 'notes.txt'), 'ignored');

    const gray = imageFolderInputSet(root, parsePreprocess('fmnist'), spec(['N', 1, 8, 8]));
    assert.equal(gray.count, 3);
    assert.deepEqual(Array.from(gray.labels!), [0, 0, 1]);
    assert.deepEqual(gray.classes, ['a_boot', 'b_shirt']);
    assert.deepEqual(gray.sampleShape, [1, 8, 8]);
    const { values } = await collect(gray, 2);
    for (let x = 0; x < 8; x++) {
      const want = ((x * 30) / 255 - 0.286) / 0.353;
      assert.ok(Math.abs(values[3 * 8 + x] - want) < 1e-5, `pixel ${x}: ${values[3 * 8 + x]} vs ${want}`);
      assert.ok(Math.abs(values[64 + 3 * 8 + x] - want) < 1e-5, `resized pixel ${x}`);
    }
    // 1-channel model: the colour JPEG's luminance (JPEG at quality 100 is within a few levels).
    const lum = 0.299 * 200 + 0.587 * 100 + 0.114 * 50;
    assert.ok(Math.abs((values[128] * 0.353 + 0.286) * 255 - lum) < 3, `luminance ${(values[128] * 0.353 + 0.286) * 255}`);

    // 3-channel NHWC model, BGR, raw 0-255: grey images repeat in every channel, colour is reordered.
    const rgb = imageFolderInputSet(root, parsePreprocess({ preset: 'raw255', channels: 'bgr' }), spec(['N', 8, 8, 3]));
    assert.deepEqual(rgb.sampleShape, [8, 8, 3]);
    const v = (await collect(rgb, 8)).values;
    assert.deepEqual(v.slice(3 * 3, 3 * 3 + 3), [90, 90, 90]);
    const jp = v.slice(128 * 3, 128 * 3 + 3);
    assert.ok(Math.abs(jp[0] - 50) < 4 && Math.abs(jp[1] - 100) < 4 && Math.abs(jp[2] - 200) < 4, `BGR ${jp}`);

    // A flat folder: no labels.
    const flat = tempDir();
    writePng(path.join(flat, 'a.png'), 10, 6, (x) => [x, x, x]);
    const f = imageFolderInputSet(flat, parsePreprocess('raw255'), spec(['N', 1, 4, 4]));
    assert.equal(f.labels, undefined);
    // Not square: the shorter side (6) covers the crop at scale 4/6, then the centre 4x4.
    assert.equal((await collect(f, 1)).values.length, 16);
  });

  test('presets, JSON, proposal from the model input, and the plan field', () => {
    const img = parsePreprocess('imagenet');
    assert.deepEqual([img.resize, img.crop, img.mean, img.std, img.channels, img.layout], [256, [224, 224], [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], 'rgb', 'nchw']);
    const bgr = parsePreprocessArg('{"preset":"imagenet","channels":"bgr","mean":[103.9,116.8,123.7],"std":1,"scale":1}');
    assert.deepEqual([bgr.channels, bgr.mean, bgr.std, bgr.scale, bgr.resize], ['bgr', [103.9, 116.8, 123.7], [1], 1, 256]);
    assert.throws(() => parsePreprocessArg('imagenett'), isPrunerError(/--preprocess: unknown preset "imagenett"/));
    assert.throws(() => parsePreprocessArg('{"std":[0]}'), isPrunerError(/std must be a positive number/));
    assert.throws(() => parsePreprocessArg('{"layout":"chw"}'), isPrunerError(/layout must be "nchw" or "nhwc"/));
    assert.throws(() => parsePreprocessArg('{oops'), isPrunerError(/--preprocess: not a preset name nor valid JSON/));
    const r = proposePreprocess(spec(['N', 3, 224, 224]));
    assert.deepEqual([r.preset, r.resize, r.crop], ['imagenet', 256, [224, 224]]);
    const m = proposePreprocess(spec(['N', 1, 28, 28]));
    assert.deepEqual([m.preset, m.crop, m.layout], ['unit', [28, 28], 'nchw']);
    assert.equal(proposePreprocess(spec([1, 160, 160, 3])).layout, 'nhwc');
    // Saved with a plan, validated when read.
    const plan = parsePlan({ version: 1, criterion: 'l1', ratio: 0.3, preprocess: { preset: 'fmnist', crop: [28, 28] } });
    assert.deepEqual(plan.preprocess?.crop, [28, 28]);
    assert.throws(() => parsePlan({ version: 1, criterion: 'l1', ratio: 0.3, preprocess: { scale: -1 } }, 'p.json'), isPrunerError(/p\.json: preprocess: scale must be a positive number/));
  });

  test('bad input: one line naming the file', async () => {
    const root = tempDir();
    // A folder with no images.
    const empty = path.join(root, 'empty');
    fs.mkdirSync(path.join(empty, 'cls'), { recursive: true });
    assert.throws(() => imageFolderInputSet(empty, parsePreprocess('unit'), spec(['N', 1, 8, 8])), isPrunerError(/empty: no JPEG or PNG images in the folder or its sub-folders/));
    // A corrupt PNG and a file that is no image at all: found when read.
    const bad = path.join(root, 'bad');
    fs.mkdirSync(bad);
    writePng(path.join(bad, 'a.png'), 8, 8, () => [1, 2, 3]);
    const good = fs.readFileSync(path.join(bad, 'a.png'));
    fs.writeFileSync(path.join(bad, 'b.png'), good.subarray(0, good.length - 30));
    await assert.rejects(collect(imageFolderInputSet(bad, parsePreprocess('unit'), spec(['N', 1, 8, 8])), 4), isPrunerError(/bad[\\/]b\.png: not a readable image/));
    fs.writeFileSync(path.join(bad, 'b.png'), 'text');
    await assert.rejects(collect(imageFolderInputSet(bad, parsePreprocess('unit'), spec(['N', 1, 8, 8])), 4), isPrunerError(/b\.png: not a JPEG or PNG image/));
    fs.writeFileSync(path.join(bad, 'b.png'), Buffer.from([0xff, 0xd8, 0xff, 0, 1, 2, 3]));
    await assert.rejects(collect(imageFolderInputSet(bad, parsePreprocess('unit'), spec(['N', 1, 8, 8])), 4), isPrunerError(/b\.png: not a readable image/));
    // Channels a picture cannot give; no fixed size and no crop; a crop the model does not take.
    assert.throws(() => imageFolderInputSet(bad, parsePreprocess('unit'), spec(['N', 4, 8, 8])), isPrunerError(/bad: model input x takes 4 channels; images give 1 \(luminance\) or 3/));
    assert.throws(() => imageFolderInputSet(bad, parsePreprocess('unit'), spec(['N', 3, 'H', 'W'])), isPrunerError(/bad: the model input has no fixed height and width; give them with --preprocess/));
    assert.throws(() => imageFolderInputSet(bad, parsePreprocess('imagenet'), spec(['N', 3, 32, 32])), isPrunerError(/bad: preprocessing crops 224x224, model input x takes 32x32/));
    // A .npy of the wrong shape or dtype for the model.
    const wrong = path.join(root, 'wrong.npy');
    writeNpy(wrong, '<f4', [2, 3, 8, 8], Buffer.alloc(2 * 3 * 64 * 4));
    await assert.rejects(openInputSet(wrong, { spec: spec(['N', 1, 8, 8]) }), isPrunerError(/wrong\.npy: samples are \[3, 8, 8\], model input x takes \[N, 1, 8, 8\]/));
    const nhwc = path.join(root, 'nhwc.npy');
    writeNpy(nhwc, '<f4', [2, 8, 8, 3], Buffer.alloc(2 * 3 * 64 * 4));
    await assert.rejects(openInputSet(nhwc, { spec: spec(['N', 3, 8, 8]) }), isPrunerError(/nhwc\.npy: .*channels last\?/));
    const squeezed = path.join(root, 'sq.npy');
    writeNpy(squeezed, '<f4', [2, 8, 8], Buffer.alloc(2 * 64 * 4));
    assert.deepEqual((await openInputSet(squeezed, { spec: spec(['N', 1, 8, 8]) })).sampleShape, [1, 8, 8]);
    const bools = path.join(root, 'bools.npy');
    writeNpy(bools, '|b1', [2, 1, 8, 8], Buffer.alloc(128));
    await assert.rejects(openInputSet(bools, { spec: spec(['N', 1, 8, 8]) }), isPrunerError(/bools\.npy: dtype \|b1 \(bool\) is not model input data/));
    // Labels that do not match the count, or are not integers.
    const y3 = path.join(root, 'y3.u8');
    fs.writeFileSync(y3, Buffer.from([0, 1, 2]));
    await assert.rejects(openInputSet(squeezed, { spec: spec(['N', 1, 8, 8]), labels: y3 }), isPrunerError(/y3\.u8: 3 labels for 2 inputs/));
    const yf = path.join(root, 'yf.npy');
    writeNpy(yf, '<f4', [2], f32Bytes([0, 1]));
    await assert.rejects(readLabels(yf, 2), isPrunerError(/yf\.npy: labels must be integers, the array is <f4/));
    await assert.rejects(readLabels(path.join(root, 'y.txt'), 2), isPrunerError(/y\.txt: labels are read from \.npy, \.npz or \.u8/));
    // The evaluation set equal to the calibration set: same file, or the same samples in another file.
    const copy = path.join(root, 'copy.npy');
    fs.copyFileSync(squeezed, copy);
    const a = await openInputSet(squeezed);
    assert.match((await sameDataWarning(a, await openInputSet(squeezed)))!, /sq\.npy: the evaluation set is the calibration set \(the same file\)/);
    assert.match((await sameDataWarning(a, await openInputSet(copy)))!, /copy\.npy: the evaluation set is the calibration set \(identical content in .*sq\.npy\)/);
    assert.equal(await sameDataWarning(a, await openInputSet(wrong)), undefined);
  });
});

describe('evaluation', () => {
  test('batches: 64 for a symbolic batch, the fixed batch otherwise (a last partial batch padded), same results', async () => {
    const dir = tempDir();
    const model = (batch: number | string) => {
      const b = new ModelBuilder({ seed: 3 });
      const x = b.input('x', [batch, 1, 4, 4]);
      b.output(b.gemm(b.flatten(x), 16, 7), [batch, 7]);
      return b.save(path.join(dir, `m${batch}.onnx`));
    };
    const data = Float32Array.from({ length: 10 * 16 }, (_, i) => Math.sin(i * 1.7));
    const labels = Int32Array.from({ length: 10 }, (_, i) => i % 7);
    const results = [];
    for (const batch of ['N', 1, 4]) {
      const c = await createSession(model(batch), 'cpu');
      try {
        results.push(await evaluateSessions(c, c, arrayInputSet('x', [1, 4, 4], data, labels)));
      } finally {
        await c.session.release();
      }
    }
    assert.deepEqual(results.map((r) => r.batch), [64, 1, 4]);
    assert.deepEqual(results.map((r) => r.count), [10, 10, 10]);
    for (const r of results) {
      assert.deepEqual(r.original, results[0].original);
      assert.equal(r.comparison!.top1Agreement, 1);
      assert.equal(r.comparison!.relativeError, 0);
    }
    assert.ok(results[0].original!.top5! >= results[0].original!.top1);
    // Labels beyond the model's classes are the labels' fault, named.
    const c = await createSession(path.join(dir, 'mN.onnx'), 'cpu');
    try {
      const bad = arrayInputSet('x', [1, 4, 4], data, Int32Array.from(labels, (l) => l + 3));
      await assert.rejects(evaluateSessions(c, undefined, { ...bad, labelsSource: 'y.npy' }), isPrunerError(/y\.npy: label 7 of input 4, the model has 7 classes/));
    } finally {
      await c.session.release();
    }
  });

  test('validate --eval with labels: the sample model scores its known 92.1% on the 1000 bundled test images', async () => {
    const r = cli('validate', fmnistBn, fmnistFused, '--ep', 'cpu', '--runs', '1', '--json', '--eval', fmnistImages, '--labels', fmnistLabels);
    assert.equal(r.status, 0, r.stderr);
    const e = JSON.parse(r.stdout).evaluation;
    assert.equal(e.count, 1000);
    assert.equal(e.batch, 64);
    assert.ok(Math.abs(e.original.top1 - 0.921) <= 0.001, `top-1 ${e.original.top1}`);
    assert.equal(e.original.correct, e.pruned.correct, 'BN and BN-folded exports classify alike');
    assert.ok(e.original.top5 > e.original.top1);
    assert.equal(e.comparison.top1Agreement, 1);
    assert.ok(e.comparison.meanCosine > 0.99999 && e.comparison.relativeError < 1e-4);
    const text = await cliHere('validate', fmnistBn, fmnistFused, '--ep', 'cpu', '--runs', '1', '--eval', fmnistImages, '--labels', fmnistLabels);
    assert.match(text.stdout, /original +top-1 92\.1%/);
  });

  test('the demo (scripts/demo.sh) prints the accuracy of the original and the pruned model on the 1000 test images, the figures the README states', async () => {
    const script = fs.readFileSync(path.join(repoRoot, 'scripts', 'demo.sh'), 'utf8');
    const vars = Object.fromEntries([...script.matchAll(/^([A-Z]+)=(\S+)$/gm)].map((m) => [m[1]!, path.join(repoRoot, m[2]!)]));
    // the demo's prune command, its variables filled in, written to a temporary file instead of beside the sample
    const line = /^node dist\/cli\.js (prune [^\n]*\\\n[^\n]*)$/m.exec(script)![1]!.replace(/\\\n/, ' ');
    const args = line.split(/\s+/).filter(Boolean).map((a) => a.replace(/^"\$([A-Z]+)"$/, (_, v: string) => vars[v]!)).filter((a) => a !== '--force');
    assert.deepEqual(args.filter((a) => a.startsWith('--')), ['--criterion', '--threshold', '--eval', '--labels']);
    const r = await cliHere(...args, '--out', path.join(tempDir(), 'demo.pruned.onnx'), '--ep', 'cpu');
    assert.equal(r.status, 0, r.stderr);
    const original = /^ {2}original +top-1 (\d+\.\d)%/m.exec(r.stdout)?.[1];
    const pruned = /^ {2}pruned +top-1 (\d+\.\d)%/m.exec(r.stdout)?.[1];
    assert.ok(original && pruned, r.stdout);
    const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    assert.ok(readme.includes(`(it prints the accuracy of both: ${original}% and ${pruned}%)`), `README states the demo's ${original}% and ${pruned}%`);
  });

  test('PNG folder made from the test images gives the same predictions as the arrays; without labels, agreement only', async () => {
    const root = tempDir();
    const n = 60;
    const buf = fs.readFileSync(fmnistImages);
    const labels = fs.readFileSync(fmnistLabels);
    for (let i = 0; i < n; i++) {
      const dir = path.join(root, `class${labels[i]}`);
      fs.mkdirSync(dir, { recursive: true });
      const px = (x: number, y: number) => Math.round((buf.readFloatLE((i * 784 + y * 28 + x) * 4) * 0.353 + 0.286) * 255);
      writePng(path.join(dir, `${String(i).padStart(3, '0')}.png`), 28, 28, (x, y) => [px(x, y), px(x, y), px(x, y)]);
    }
    // Class folders for labels that did not occur would shift the indices; every class 0-9 occurs in the first 60.
    assert.equal(fs.readdirSync(root).length, 10);
    const inputSpec = modelInputSpecs(fmnistBn)[0];
    const folder = await openInputSet(root, { spec: inputSpec, preprocess: parsePreprocess('fmnist') });
    const rFolder = await validatePruned(fmnistBn, fmnistBn, { ep: 'cpu', runs: 1, warmup: 0, evaluation: folder });
    const arrays = await openInputSet(`${fmnistImages}:1000x1x28x28`, { spec: inputSpec, labels: fmnistLabels, maxCount: n });
    const rArrays = await validatePruned(fmnistBn, fmnistBn, { ep: 'cpu', runs: 1, warmup: 0, evaluation: arrays });
    // The folder is ordered by class; the same images, so the same number right.
    assert.equal(rFolder.evaluation!.original!.correct, rArrays.evaluation!.original!.correct);
    assert.ok(rFolder.evaluation!.original!.top1 > 0.8);
    assert.equal(rFolder.evaluation!.preprocess?.preset, 'fmnist');
    // prune with the folder as calibration: the preprocessing used is saved with the plan; a corrupt
    // image in the evaluation folder stops the run after the write, and the written model is removed.
    const planFile = path.join(tempDir(), 'plan.json');
    const p = await cliHere('prune', fmnistBn, '--criterion', 'l1', '--ratio', '0.3', '--dry-run', '--calib', root, '--preprocess', 'fmnist', '--save-plan', planFile);
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stderr, /calibration: 60 inputs \[1, 28, 28\] from .*; preprocessing fmnist, crop 28x28, scale 0\.00392157, mean 0\.286, std 0\.353, rgb, nchw/);
    const saved = JSON.parse(fs.readFileSync(planFile, 'utf8'));
    assert.deepEqual([saved.preprocess.preset, saved.preprocess.crop, saved.preprocess.std], ['fmnist', [28, 28], [0.353]]);
    fs.writeFileSync(path.join(root, 'class9', 'zz.png'), 'broken');
    const out = path.join(tempDir(), 'p.onnx');
    const bad = await cliHere('prune', fmnistBn, '--criterion', 'l1', '--ratio', '0.3', '--out', out, '--plan', planFile, '--eval', root, '--json');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^onnx-pruner: .*class9[\\/]zz\.png: not a JPEG or PNG image\n$/);
    assert.ok(!fs.existsSync(out), 'nothing written');
    // Without labels: no accuracy, the agreement of a model with itself is perfect.
    const unlabelled = await openInputSet(fmnistImages, { spec: inputSpec, maxCount: 100 });
    const r = await validatePruned(fmnistBn, fmnistFused, { ep: 'cpu', runs: 1, warmup: 0, evaluation: unlabelled });
    assert.equal(r.evaluation!.original, undefined);
    assert.equal(r.evaluation!.count, 100);
    assert.equal(r.evaluation!.comparison!.top1Agreement, 1);
  });

  test('prune --calib --recover ls: the text report says what recovery ran, on what, and which layer had too few rows', async () => {
    const dir = tempDir();
    const out = path.join(dir, 'ls.onnx');
    const r = await cliHere('prune', fmnistBn, '--criterion', 'l1', '--ratio', '0.3', '--out', out,
      '--calib', `${fmnistImages}:1000x1x28x28`, '--calib-count', '16', '--recover', 'ls');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Recovery: ls \(ls asked\): least-squares reconstruction on the calibration inputs$/m);
    assert.match(r.stdout, /^ {2}on {11}16 calibration inputs of .*fmnist_test1000_x_1000x1x28x28\.f32, \d+ ONNX Runtime passes on cpu, /m);
    assert.match(r.stdout, /^ {2}layers {7}\d+ refit$/m);
    // the classifier has more inputs than 16 rows: refit towards the pruned weights, and said
    assert.match(r.stdout, /^ {2}note {9}\S+ \(ls\): under-determined \(16 rows for \d+ unknowns\)/m);
    const none = await cliHere('prune', fmnistBn, '--criterion', 'l1', '--ratio', '0.3', '--out', path.join(dir, 'none.onnx'), '--recover', 'none');
    assert.equal(none.status, 0, none.stderr);
    assert.doesNotMatch(none.stdout, /^Recovery/m);
  });

  test('prune --calib --eval: evaluation after the write in the report; bad data writes nothing', async () => {
    const dir = tempDir();
    const out = path.join(dir, 'p.onnx');
    const r = await cliHere('prune', fmnistBn, '--criterion', 'bn-gamma', '--threshold', '0.01', '--out', out, '--ep', 'cpu', '--json',
      '--calib', `${fmnistImages}:1000x1x28x28`, '--calib-count', '200', '--recover', 'none', '--eval', fmnistImages, '--labels', fmnistLabels);
    assert.equal(r.status, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.ok(fs.existsSync(out));
    assert.ok(Math.abs(rep.validation.evaluation.original.top1 - 0.921) <= 0.001);
    assert.ok(rep.validation.evaluation.pruned.top1 > 0.9, `pruned ${rep.validation.evaluation.pruned.top1}`);
    assert.match(rep.validation.evaluation.warnings[0], /the evaluation set is the calibration set \(the same file\)/);

    const wrong = path.join(dir, 'wrong.npy');
    writeNpy(wrong, '<f4', [4, 3, 28, 28], Buffer.alloc(4 * 3 * 784 * 4));
    const out2 = path.join(dir, 'q.onnx');
    for (const args of [
      ['--eval', wrong],
      ['--calib', wrong],
      ['--eval', fmnistImages, '--labels', path.join(dir, 'none.u8')],
      ['--recover', 'magic'],
      ['--labels', fmnistLabels],
    ]) {
      const b = await cliHere('prune', fmnistBn, '--criterion', 'l1', '--ratio', '0.3', '--out', out2, ...args);
      assert.equal(b.status, 1, `${args.join(' ')}: ${b.stderr}`);
      assert.equal(b.stderr.trim().split('\n').length, 1, b.stderr);
      assert.ok(!fs.existsSync(out2), `${args.join(' ')} wrote a file`);
    }
    assert.match((await cliHere('prune', fmnistBn, '--criterion', 'l1', '--ratio', '0.3', '--out', out2, '--eval', wrong)).stderr, /wrong\.npy: samples are \[3, 28, 28\], model input input takes \[N, 1, 28, 28\]/);
  });
});
