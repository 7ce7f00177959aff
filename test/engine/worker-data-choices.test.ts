// The data choices the view makes beyond picking a file, as the worker handles them: a custom
// preprocessing (the user's fields) is what image folders are read with, and a crop that does not
// fit the model is named; a .npz of several arrays lists them with their shapes, reads the chosen
// one, and takes labels from an integer array of the same file; a raw .f32 file (no shape) feeding
// an input with symbolic sizes asks for the input size, and is cut by it once given.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import type { HandlerContext } from '../../src/shared/rpc.ts';
import { workerHandlers } from '../../src/worker/handlers.ts';
import type { DataJob } from '../../src/worker/protocol.ts';
import { openData } from '../../src/worker/data.ts';
import { AnalysedModel } from '../../src/engine/index.ts';
import { FMNIST_MEAN, FMNIST_STD, readArray, writeFmnistImageFolder } from '../helpers/imageFolder.ts';
import { ModelBuilder } from '../helpers/modelBuilder.ts';
import { f32Bytes, npyBytes, writeNpz } from '../helpers/npy.ts';
import { runFirstOutput } from '../helpers/ort.ts';
import { fmnistBn, samplesDir, tempDir } from '../helpers/paths.ts';

const ctx = (): HandlerContext => ({ signal: new AbortController().signal, progress: () => {} });

/** Every sample of a set, concatenated. */
async function allSamples(set: { batches(n: number): AsyncIterable<{ data: Float32Array }> }): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  for await (const b of set.batches(64)) parts.push(Float32Array.from(b.data));
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe('worker: custom preprocessing, .npz arrays and raw .f32 from the view', () => {
  const dir = tempDir();
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const model = path.join(dir, 'm.onnx');
  fs.copyFileSync(fmnistBn, model);
  const x = readArray(path.join(samplesDir, 'fmnist', 'fmnist_test1000_x_1000x1x28x28.f32')) as Float32Array;
  const y = readArray(path.join(samplesDir, 'fmnist', 'fmnist_test1000_y.u8')) as Uint8Array;
  const images = path.join(dir, 'images');
  writeFmnistImageFolder(images, x, y, 40);
  const base: DataJob = { preset: 'auto', recover: 'none', calibCount: 100, runs: 1, batch: 4 };
  const h = workerHandlers();

  test('custom preprocessing: the user\'s fields read the images (the same samples as the preset with those values); a crop that does not fit is named', async () => {
    await h.open({ path: model }, ctx());
    const custom = { scale: 1 / 255, mean: [FMNIST_MEAN], std: [FMNIST_STD], channels: 'rgb' as const, layout: 'nchw' as const };
    const s = await h.describeData({ path: model, data: { ...base, preset: 'custom', custom, calibration: images } }, ctx());
    assert.deepEqual(s.errors, []);
    assert.equal(s.preset, 'custom');
    assert.deepEqual(s.custom, custom, 'the custom fields come back (remembered by the host with the options)');
    assert.deepEqual(s.preprocess, custom, 'images are read with the custom fields as given');
    assert.equal(s.calibration?.count, 40);
    const graph = AnalysedModel.load(model).graph;
    const mine = await openData({ ...base, preset: 'custom', custom, calibration: images }, graph);
    const preset = await openData({ ...base, preset: 'fmnist', calibration: images }, graph);
    const a = await allSamples(mine.opened.calibration!);
    const b = await allSamples(preset.opened.calibration!);
    assert.equal(a.length, 40 * 784);
    assert.deepEqual(a, b, 'the fmnist preset\'s values given as custom fields give the same samples');
    // other fields, other samples: the custom values are used, not ignored
    const shifted = await openData({ ...base, preset: 'custom', custom: { ...custom, mean: [0] }, calibration: images }, graph);
    const c = await allSamples(shifted.opened.calibration!);
    assert.ok(Math.abs((c[300]! - a[300]!) - FMNIST_MEAN / FMNIST_STD) < 1e-4, 'the mean moved every value by mean/std');
    const wrong = await h.describeData({ path: model, data: { ...base, preset: 'custom', custom: { ...custom, crop: [32, 32] }, calibration: images } }, ctx());
    assert.equal(wrong.calibration, undefined);
    assert.match(wrong.errors.join('\n'), /calibration data: .*images.*crops 32x32, model input .* takes 28x28/);
  });

  const npz = path.join(dir, 'fmnist.npz');
  const n = 50;
  writeNpz(npz, {
    y: npyBytes('<i8', [n], Buffer.from(BigInt64Array.from(Array.from(y.subarray(0, n), (v) => BigInt(v))).buffer)),
    x: npyBytes('<f4', [n, 1, 28, 28], f32Bytes(x.subarray(0, n * 784))),
    scores: npyBytes('<f4', [n], f32Bytes(new Float32Array(n).fill(0.5))),
  });

  test('a .npz lists its arrays with their shapes; the inputs are the first with a sample axis until one is chosen', async () => {
    const s = await h.describeData({ path: model, data: { ...base, evaluation: npz } }, ctx());
    assert.deepEqual(s.errors, []);
    assert.deepEqual(s.npz?.evaluation, {
      file: 'fmnist.npz',
      arrays: [
        { name: 'y', shape: [n], dtype: '<i8', labels: true },
        { name: 'x', shape: [n, 1, 28, 28], dtype: '<f4', labels: false },
        { name: 'scores', shape: [n], dtype: '<f4', labels: false },
      ],
      array: 'x',
    });
    assert.equal(s.evaluation?.count, n);
    assert.ok(!JSON.stringify(s).includes(dir), 'no path reaches the view');
    // the labels array chosen as inputs is named, with why
    const asInputs = await h.describeData({ path: model, data: { ...base, evaluation: `${npz}:y` } }, ctx());
    assert.equal(asInputs.npz?.evaluation?.array, 'y');
    assert.match(asInputs.errors.join('\n'), /fmnist\.npz:y: shape \(50\) has no sample dimension/);
    // a float array is not labels
    const floatLabels = await h.describeData({ path: model, data: { ...base, evaluation: `${npz}:x`, labels: `${npz}:scores` } }, ctx());
    assert.match(floatLabels.errors.join('\n'), /fmnist\.npz:scores: labels must be integers/);
  });

  test('labels from an integer array of the same .npz: a prune reports accuracy before and after on it', async () => {
    const data: DataJob = { ...base, evaluation: `${npz}:x`, labels: `${npz}:y` };
    const s = await h.describeData({ path: model, data }, ctx());
    assert.deepEqual(s.errors, []);
    assert.equal(s.npz?.evaluation?.array, 'x');
    assert.equal(s.npz?.evaluation?.labels, 'y');
    assert.equal(s.evaluation?.labels, 'fmnist.npz:y');
    const report = await h.prune({ path: model, plan: { criterion: 'l1', ratio: 0.2, scope: 'uniform' }, out: path.join(dir, 'p.onnx'), validate: true, ep: 'cpu', data }, ctx());
    const e = report.validation?.evaluation;
    assert.equal(e?.count, n);
    assert.ok(e?.original && e.pruned, 'accuracy before and after (labels found)');
    // the accuracy is that of the labels in the file: count it here from the original model's outputs
    const out = await runFirstOutput(model, x.subarray(0, n * 784), [n, 1, 28, 28]);
    let correct = 0;
    for (let i = 0; i < n; i++) {
      const row = out.data.subarray(i * 10, i * 10 + 10);
      if (row.indexOf(Math.max(...row)) === Number(y[i])) correct++;
    }
    assert.equal(e.original.correct, correct);
  });

  test('a raw .f32 file for an input with symbolic sizes: asks for the input size, then is cut by it', async () => {
    const b = new ModelBuilder({ seed: 3 });
    const inp = b.input('x', ['N', 3, 'height', 'width']);
    let t = b.relu(b.bn(b.conv(inp, 3, 8, { k: 3, pad: 1 }), 8));
    t = b.relu(b.bn(b.conv(t, 8, 8, { k: 3, pad: 1 }), 8));
    b.output(b.gemm(b.flatten(b.gap(t)), 8, 4));
    const dyn = b.save(path.join(dir, 'dyn.onnx'));
    const raw = path.join(dir, 'calib.f32');
    const values = Float32Array.from({ length: 24 * 3 * 8 * 8 }, (_, i) => Math.sin(i * 0.37));
    fs.writeFileSync(raw, f32Bytes(values));
    const data: DataJob = { ...base, recover: 'ls', calibration: raw };
    await h.open({ path: dyn }, ctx());
    const before = await h.describeData({ path: dyn, data }, ctx());
    assert.match(before.f32NeedsSize ?? '', /model input x is \[N, 3, height, width\]: a \.f32 file has no shape, so give the input size/);
    assert.equal(before.calibration, undefined);
    assert.match(before.errors.join('\n'), /calibration data: calib\.f32: .*give the input size/);
    // the size given in the view (setInputShapes opens the model again with it)
    await h.open({ path: dyn, inputShapes: { x: [1, 3, 8, 8] } }, ctx());
    const after = await h.describeData({ path: dyn, data }, ctx());
    assert.deepEqual(after.errors, []);
    assert.equal(after.f32NeedsSize, undefined);
    assert.deepEqual(after.calibration, { name: 'calib.f32', kind: 'array', count: 24, total: 24, sampleShape: [3, 8, 8] });
    // a size whose samples do not divide the file is named
    await h.open({ path: dyn, inputShapes: { x: [1, 3, 7, 7] } }, ctx());
    const odd = await h.describeData({ path: dyn, data }, ctx());
    assert.match(odd.errors.join('\n'), /calib\.f32: 4608 float32 values are not whole samples of \[3, 7, 7\]/);
    // recovery runs on the samples cut by the given size, and the model runs in ONNX Runtime
    await h.open({ path: dyn, inputShapes: { x: [1, 3, 8, 8] } }, ctx());
    await h.score({ path: dyn }, ctx());
    const report = await h.prune({ path: dyn, plan: { criterion: 'l1', ratio: 0.5, scope: 'uniform' }, out: path.join(dir, 'dyn-p.onnx'), validate: false, ep: 'cpu', data }, ctx());
    assert.equal(report.recovery.calibration?.count, 24);
    const r = await runFirstOutput(report.output, values.subarray(0, 2 * 192), [2, 3, 8, 8]);
    assert.deepEqual(r.dims, [2, 4]);
  });
});
