// The view's data (calibration, evaluation, labels, validation inputs) as the worker handles it:
// opened against the model's input and described to the view by name and count only; a prune
// with it recovers on the calibration images, evaluates on the separate set and validates on a
// batch of real inputs with the asked run count; data that cannot be used stops the run naming
// the file, before anything is written. The worker's handler table runs in-process.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { latencyWithinNoise, prunePhase } from '../../src/shared/protocol.ts';
import type { HandlerContext } from '../../src/shared/rpc.ts';
import { workerHandlers } from '../../src/worker/handlers.ts';
import type { DataJob } from '../../src/worker/protocol.ts';
import { readArray, writeFmnistImageFolder } from '../helpers/imageFolder.ts';
import { f32Bytes, writeNpy } from '../helpers/npy.ts';
import { runFirstOutput } from '../helpers/ort.ts';
import { fmnistBn, samplesDir, tempDir } from '../helpers/paths.ts';

const ctx = (stages: string[] = []): HandlerContext => ({ signal: new AbortController().signal, progress: (s) => stages.push(s) });
const onnxFiles = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort();

describe('worker: calibration, evaluation and validation data from the view', () => {
  const dir = tempDir();
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const model = path.join(dir, 'm.onnx');
  fs.copyFileSync(fmnistBn, model);
  const x = readArray(path.join(samplesDir, 'fmnist', 'fmnist_test1000_x_1000x1x28x28.f32')) as Float32Array;
  const y = readArray(path.join(samplesDir, 'fmnist', 'fmnist_test1000_y.u8'));
  // calibration: the first 120 images as a .npy; evaluation: the next 150 as PNG files in class folders
  const calib = path.join(dir, 'calib.npy');
  writeNpy(calib, '<f4', [120, 1, 28, 28], f32Bytes(x.subarray(0, 120 * 784)));
  const evalDir = path.join(dir, 'eval-images');
  const evalLabels = writeFmnistImageFolder(evalDir, x.subarray(120 * 784), y.subarray(120), 150);
  const h = workerHandlers();
  let prunedFile: string | undefined;
  const base: DataJob = { preset: 'fmnist', recover: 'ls', calibCount: 100, runs: 7, batch: 5 };

  test('the view gets names, counts, shapes and the preprocessing; never a path', async () => {
    await h.open({ path: model }, ctx());
    const s = await h.describeData({ path: model, data: { ...base, calibration: calib, evaluation: evalDir } }, ctx());
    assert.deepEqual(s.errors, []);
    assert.equal(s.imageInput, true);
    assert.deepEqual(s.calibration, { name: 'calib.npy', kind: 'array', count: 100, total: 120, sampleShape: [1, 28, 28] });
    assert.deepEqual(s.evaluation, { name: 'eval-images', kind: 'images', count: 150, total: 150, sampleShape: [1, 28, 28], labels: 'folder layout', classes: new Set(evalLabels).size });
    assert.equal(s.proposed?.preset, 'unit', 'a 1-channel 28×28 input is proposed [0, 1]');
    assert.equal(s.preprocess?.preset, 'fmnist');
    assert.deepEqual(s.preprocess?.crop, [28, 28]);
    assert.ok(!JSON.stringify(s).includes(dir), `no path reaches the view: ${JSON.stringify(s)}`);
  });

  test('a prune with the data recovers by ls, reports accuracy before and after on the evaluation set, validates on a real batch', async () => {
    const stages: string[] = [];
    const report = await h.prune({ path: model, plan: { criterion: 'l1', ratio: 0.3, scope: 'uniform' }, validate: true, ep: 'cpu', data: { ...base, calibration: calib, evaluation: evalDir } }, ctx(stages));
    assert.deepEqual(report.recovery.steps, ['ls']);
    assert.equal(report.recovery.calibration?.count, 100, 'the calibration count is applied');
    assert.ok(report.recovery.layers.some((l) => l.status === 'refit'), 'layers were refit');
    const e = report.validation?.evaluation;
    assert.ok(e?.original && e.pruned, 'accuracy before and after');
    assert.equal(e.count, 150);
    assert.equal(e.original.correct, Math.round(e.original.top1 * 150));
    // the unpruned sample model is ~91% accurate; on images decoded from 8-bit PNGs it stays far above chance
    assert.ok(e.original.top1 > 0.8, `original top-1 ${e.original.top1}`);
    const v = report.validation!;
    assert.equal(v.original.latency.runs, 7);
    assert.equal(v.pruned.latency.runs, 7);
    assert.deepEqual(v.inputs[0]!.dims, [5, 1, 28, 28], 'a batch of 5 real inputs');
    assert.equal(v.inputs[0]!.source, 'given');
    assert.match(v.inputs[0]!.file ?? '', /^eval-images \(first 5 of 150\)$/);
    assert.equal(report.plan.preprocess?.preset, 'fmnist', 'the preprocessing is saved with the plan');
    // the phases the view shows
    const phases = new Set(stages.map(prunePhase));
    for (const p of ['preparing', 'statistics', 'reconstruction', 'writing', 'evaluation'] as const) assert.ok(phases.has(p), `phase ${p} among ${[...phases].join(', ')}`);
    // the written model runs in ONNX Runtime with the original's output shape
    const sample = x.subarray(0, 784 * 2);
    const a = await runFirstOutput(model, sample, [2, 1, 28, 28]);
    const b = await runFirstOutput(report.output, sample, [2, 1, 28, 28]);
    assert.deepEqual(b.dims, a.dims);
    prunedFile = report.output;
  });

  test('validating a pruned model with the data: the evaluation set, a batch of real inputs, the asked run count', async () => {
    assert.ok(prunedFile, 'the previous test wrote a pruned model');
    const v = await h.validate({ original: model, pruned: prunedFile, ep: 'cpu', data: { ...base, runs: 4, batch: 3, evaluation: evalDir } }, ctx());
    assert.equal(v.original.latency.runs, 4);
    assert.deepEqual(v.inputs[0]!.dims, [3, 1, 28, 28]);
    assert.match(v.inputs[0]!.file ?? '', /^eval-images \(first 3 of 150\)$/);
    assert.equal(v.evaluation?.count, 150);
    assert.ok(v.evaluation?.original && v.evaluation.pruned, 'accuracy of both');
  });

  test('data that cannot be used stops the run naming the file, and nothing is written', async () => {
    const empty = path.join(dir, 'no-images');
    fs.mkdirSync(empty);
    const badLabels = path.join(dir, 'labels.npy');
    writeNpy(badLabels, '<i8', [3], Buffer.alloc(24));
    const before = onnxFiles(dir);
    const s = await h.describeData({ path: model, data: { ...base, calibration: empty, evaluation: calib, labels: badLabels } }, ctx());
    assert.equal(s.errors.length, 2, JSON.stringify(s.errors));
    assert.match(s.errors[0]!, /calibration data: .*no-images/);
    assert.match(s.errors[1]!, /evaluation data: .*labels\.npy.*3/);
    await assert.rejects(
      async () => h.prune({ path: model, plan: { criterion: 'l1', ratio: 0.3, scope: 'uniform' }, validate: true, ep: 'cpu', data: { ...base, calibration: empty } }, ctx()),
      (e: Error) => /no-images/.test(e.message) && /nothing written/.test(e.message),
    );
    const gone = path.join(dir, 'moved.npy');
    await assert.rejects(
      async () => h.prune({ path: model, plan: { criterion: 'l1', ratio: 0.3, scope: 'uniform' }, validate: true, ep: 'cpu', data: { ...base, calibration: gone } }, ctx()),
      (e: Error) => /moved\.npy: no such file or folder/.test(e.message),
    );
    assert.deepEqual(onnxFiles(dir), before, 'no model written');
  });

  test('the same set as calibration and evaluation is warned about; ls without calibration data is warned about', async () => {
    const same = await h.describeData({ path: model, data: { ...base, calibration: calib, evaluation: calib } }, ctx());
    assert.ok(same.warnings.some((w) => /evaluation set is the calibration set/.test(w)), JSON.stringify(same.warnings));
    const none = await h.describeData({ path: model, data: { ...base } }, ctx());
    assert.ok(none.warnings.some((w) => /ls needs calibration data/.test(w)), JSON.stringify(none.warnings));
  });
});

describe('what the view derives from a run', () => {
  test('engine progress stages map to the phases shown', () => {
    const cases: [string, string][] = [
      ['analysing', 'preparing'], ['scoring', 'preparing'], ['planning', 'preparing'], ['pruning', 'preparing'],
      ['recovery: original outputs', 'statistics'], ['recovery: BatchNorm statistics', 'statistics'], ['recovery: bias correction', 'statistics'],
      ['recovery: reconstruction', 'reconstruction'], ['writing', 'writing'], ['validating', 'evaluation'], ['done', 'evaluation'],
    ];
    for (const [stage, phase] of cases) assert.equal(prunePhase(stage), phase, stage);
  });

  test('a latency difference within the run-to-run spread is noise; one beyond it is not', () => {
    const lat = (medianMs: number, minMs: number, p90Ms: number, runs = 20) => ({ runs, medianMs, minMs, p90Ms, meanMs: medianMs });
    assert.equal(latencyWithinNoise(lat(10, 9, 12), lat(9, 8.5, 11)), true, '1 ms apart, spread 3 ms');
    assert.equal(latencyWithinNoise(lat(10, 9.8, 10.3), lat(5, 4.9, 5.2)), false, 'halved, spread under 1 ms');
    assert.equal(latencyWithinNoise(lat(10, 10, 10, 1), lat(5, 5, 5, 1)), true, 'one run has no spread to judge by');
  });
});
