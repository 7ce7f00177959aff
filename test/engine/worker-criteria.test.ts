// The view's plan-time criteria as the worker handles them: a plan ranked by a data criterion
// (activation, apoz) is measured on the calibration images chosen in the view, with progress,
// shared by the requests waiting for it and stopped when they are all cancelled; its preview and a
// layer's removed channels are those the prune removes; the prune from the held model runs in ONNX
// Runtime and writes what `onnx-pruner prune --criterion activation --calib …` writes for the same
// plan. Without calibration data the criterion says what it needs. The handler table runs in-process.
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { loadModel } from '../../src/engine/index.ts';
import { prunePhase, type ViewPlan } from '../../src/shared/protocol.ts';
import type { HandlerContext } from '../../src/shared/rpc.ts';
import { workerHandlers } from '../../src/worker/handlers.ts';
import type { DataJob } from '../../src/worker/protocol.ts';
import { readArray, writeFmnistImageFolder } from '../helpers/imageFolder.ts';
import { runFirstOutput } from '../helpers/ort.ts';
import { fmnistBn, repoRoot, samplesDir, shared, skipWithoutShared, tempDir } from '../helpers/paths.ts';

const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const ctx = (stages: [string, number | undefined][] = [], signal = new AbortController().signal): HandlerContext => ({ signal, progress: (s, f) => stages.push([s, f]) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Waits until a request reported progress (it fails the test if the request ends first). */
async function started(stages: unknown[], request: Promise<unknown>): Promise<void> {
  let ended = false;
  request.then(() => { ended = true; }, () => { ended = true; });
  while (!stages.length) {
    if (ended) assert.fail(`the request ended before any progress: ${await request.then(() => 'answered', (e: Error) => e.message)}`);
    await sleep(5);
  }
}

describe('worker: data criteria in the view (measured on the chosen calibration images)', () => {
  const dir = tempDir();
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const model = path.join(dir, 'm.onnx');
  fs.copyFileSync(fmnistBn, model);
  // the bundled test images as PNG files in class folders: the calibration set the view chooses
  const x = readArray(path.join(samplesDir, 'fmnist', 'fmnist_test1000_x_1000x1x28x28.f32')) as Float32Array;
  const y = readArray(path.join(samplesDir, 'fmnist', 'fmnist_test1000_y.u8'));
  const calib = path.join(dir, 'calib-images');
  writeFmnistImageFolder(calib, x, y, 120);
  const data: DataJob = { preset: 'fmnist', recover: 'none', calibCount: 100, runs: 1, batch: 1, calibration: calib };
  const plan: ViewPlan = { criterion: 'activation', ratio: 0.5, scope: 'uniform' };
  const h = workerHandlers();

  test('without calibration data a data criterion says what it needs; with it the preview measures it, with progress, once', async () => {
    await h.open({ path: model }, ctx());
    await h.score({ path: model }, ctx());
    await assert.rejects(async () => h.previewPlan({ path: model, plan }, ctx()), /activation is measured on calibration inputs: choose them under Data and recovery/);
    await assert.rejects(async () => h.prune({ path: model, plan, out: path.join(dir, 'none.onnx'), validate: false, ep: 'cpu', data: { ...data, calibration: undefined } }, ctx()), /activation is measured on calibration inputs: choose them under Data and recovery.*nothing written/);
    assert.ok(!fs.existsSync(path.join(dir, 'none.onnx')));
    // sketch reads the weights only: no data
    const sketch = await h.previewPlan({ path: model, plan: { ...plan, criterion: 'sketch' } }, ctx());
    assert.ok(sketch.params.after < sketch.params.before);
    const stages: [string, number | undefined][] = [];
    const pv = await h.previewPlan({ path: model, plan, data }, ctx(stages));
    assert.ok(pv.params.after < pv.params.before, 'the plan removes channels');
    assert.ok(stages.some(([s]) => /^Measuring activation on 100 calibration inputs$/.test(s)), JSON.stringify(stages));
    assert.ok(stages.some(([, f]) => f === 1), 'progress reaches the end');
    // measured once: a second preview (another ratio) answers from the kept scores
    const again: [string, number | undefined][] = [];
    await h.previewPlan({ path: model, plan: { ...plan, ratio: 0.3 }, data }, ctx(again));
    assert.deepEqual(again, [], 'no second measurement');
  });

  let viewRemoved: Map<string, number[]> | undefined;
  test('a layer\'s removed channels by activation differ from L1\'s', async () => {
    const layers = (await h.listLayers({ path: model }, ctx())).filter((l) => l.prunable);
    viewRemoved = new Map();
    let differs = false;
    for (const l of layers) {
      const byAct = await h.getLayerDetail({ path: model, layer: l.name, plan, data }, ctx());
      const byL1 = await h.getLayerDetail({ path: model, layer: l.name, plan: { ...plan, criterion: 'l1' } }, ctx());
      assert.equal(byAct.removed.length, byL1.removed.length, `${l.name}: uniform 0.5 removes as many channels either way`);
      if (JSON.stringify(byAct.removed) !== JSON.stringify(byL1.removed)) differs = true;
      viewRemoved.set(l.name, byAct.removed);
    }
    assert.ok(differs, 'activation ranks channels otherwise than L1 somewhere');
  });

  let viewOut: string | undefined;
  test('the prune from the held model removes the channels the view showed and runs in ONNX Runtime', async () => {
    const stages: [string, number | undefined][] = [];
    const report = await h.prune({ path: model, plan, out: path.join(dir, 'view.onnx'), validate: false, ep: 'cpu', data }, ctx(stages));
    viewOut = report.output;
    assert.equal(report.plan.criterion, 'activation');
    assert.ok(stages.some(([s]) => /measuring activation on the calibration inputs/.test(s) && prunePhase(s) === 'statistics'), JSON.stringify(stages.map(([s]) => s)));
    const pruned = loadModel(report.output);
    // every layer lost exactly the channels the view showed as removed
    let compared = 0;
    for (const l of report.layers) {
      const shown = viewRemoved?.get(l.name);
      if (!shown) continue;
      const removed = Array.from({ length: l.channelsBefore }, (_, i) => i).filter((i) => !l.keptChannels.includes(i));
      assert.deepEqual(removed, [...shown].sort((p, q) => p - q), l.name);
      compared++;
    }
    assert.ok(compared > 0, 'the pruned layers were compared');
    assert.ok(pruned.sizeOnDisk < fs.statSync(model).size);
    const sample = x.subarray(0, 784 * 4);
    const a = await runFirstOutput(model, sample, [4, 1, 28, 28]);
    const b = await runFirstOutput(report.output, sample, [4, 1, 28, 28]);
    assert.deepEqual(b.dims, a.dims, 'the original\'s output shape');
    assert.ok(b.data.every(Number.isFinite));
  });

  test('the bytes equal the CLI\'s for the same plan and calibration images', () => {
    const out = path.join(dir, 'cli.onnx');
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'main.ts'), 'prune', model,
      '--criterion', 'activation', '--ratio', '0.5', '--calib', calib, '--calib-count', '100', '--preprocess', 'fmnist', '--recover', 'none', '--out', out], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(sha(out), sha(viewOut!));
  });

  test('a measurement no request waits for stops; one a new request joins goes on', async () => {
    await h.open({ path: model }, ctx());
    const apoz: ViewPlan = { ...plan, criterion: 'apoz' };
    // a request cancelled mid-way, replaced at once (the view moving a slider): the new one joins the measurement
    const c1 = new AbortController();
    const s1: [string, number | undefined][] = [];
    const first = Promise.resolve(h.previewPlan({ path: model, plan: apoz, data }, ctx(s1, c1.signal)));
    await started(s1, first);
    c1.abort();
    await assert.rejects(first, (e: Error) => e.name === 'CancelledError');
    const s2: [string, number | undefined][] = [];
    const pv = await h.previewPlan({ path: model, plan: { ...apoz, ratio: 0.4 }, data }, ctx(s2));
    assert.ok(pv.params.after < pv.params.before);
    assert.ok(!s2.some(([, f]) => f === 0), `the joined measurement did not start again: ${JSON.stringify(s2)}`);
    // cancelled with nobody joining: after the grace period (none here) it is stopped, and the next request starts again from 0
    const quick = workerHandlers({ planScoreGraceMs: 0 });
    await quick.open({ path: model }, ctx());
    await quick.score({ path: model }, ctx());
    const other: DataJob = { ...data, calibCount: 60 };
    // cancelled as soon as it reports its start (the measurement itself takes longer than that)
    const c3 = new AbortController();
    const s3: string[] = [];
    const third = Promise.resolve(quick.previewPlan({ path: model, plan: apoz, data: other }, { signal: c3.signal, progress: (st) => { s3.push(st); c3.abort(); } }));
    await started(s3, third);
    await assert.rejects(third, (e: Error) => e.name === 'CancelledError');
    await sleep(50);
    const s4: [string, number | undefined][] = [];
    await quick.previewPlan({ path: model, plan: apoz, data: other }, ctx(s4));
    assert.ok(s4.some(([s, f]) => f === 0 && /Measuring apoz on 60 calibration inputs/.test(s)), `measured again from the start: ${JSON.stringify(s4)}`);
  });
});

describe('worker: a data criterion with whole blocks removed (the shared Fashion-MNIST ResNet)', { skip: skipWithoutShared }, () => {
  test('the preview measures on the model without the blocks, as Prune does: the same widths, global ranking', async () => {
    const dir = tempDir();
    try {
      const model = path.join(dir, 'r.onnx');
      fs.copyFileSync(shared('trained/fmnist_resnet_bn.onnx'), model);
      const h = workerHandlers();
      await h.open({ path: model }, ctx());
      await h.score({ path: model }, ctx());
      const names = (await h.getBlocks({ path: model, measure: false }, ctx())).blocks.filter((b) => b.removable).slice(0, 1).map((b) => b.name);
      assert.equal(names.length, 1);
      const data: DataJob = { preset: 'auto', recover: 'none', calibCount: 64, runs: 1, batch: 1, calibration: shared('trained/fmnist_train_calib1000_x.npy') };
      const plan: ViewPlan = { criterion: 'activation', ratio: 0.5, scope: 'global', removeBlocks: { names } };
      const pv = await h.previewPlan({ path: model, plan, data }, ctx());
      assert.deepEqual(pv.removedBlocks, names);
      const report = await h.prune({ path: model, plan, out: path.join(dir, 'p.onnx'), validate: false, ep: 'cpu', data }, ctx());
      const widths = new Map(pv.layers.map((l) => [l.name, l.channelsAfter]));
      for (const l of report.layers) assert.equal(widths.get(l.name), l.channelsAfter, l.name);
      assert.equal(pv.params.after, report.params.after);
      const x = new Float32Array(2 * 784).fill(0.1);
      assert.deepEqual((await runFirstOutput(report.output, x, [2, 1, 28, 28])).dims, [2, 10]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
