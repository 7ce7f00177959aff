// Pruning to a target from the view, as the worker does it: the sensitivity scan on the
// calibration data chosen in the view (cached beside the model, so a model opened again answers
// at once), the plan for a MACs or parameter budget, and that plan pruned for real: the written
// model's MACs are within 2% of the budget and it runs in ONNX Runtime. The worker's handler table
// runs in-process on the bundled Fashion-MNIST model with a small .npy calibration set: 32 of the
// bundled test images (random inputs make a poor scan: every group "tolerates" any ratio at 0
// points of agreement, the allocation has nothing to rank by, and BN recalibration on noise breaks
// every group at the first ratio).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { computeCost, Graph, loadModel, SCAN_CACHE_SUFFIX } from '../../src/engine/index.ts';
import { seededNormal } from '../../src/engine/runtime/inputs.ts';
import { ModelBuilder } from '../helpers/modelBuilder.ts';
import type { HandlerContext } from '../../src/shared/rpc.ts';
import type { ViewPlan } from '../../src/shared/protocol.ts';
import { workerHandlers } from '../../src/worker/handlers.ts';
import type { DataJob } from '../../src/worker/protocol.ts';
import { f32Bytes, writeNpy } from '../helpers/npy.ts';
import { runFirstOutput } from '../helpers/ort.ts';
import { readArray } from '../helpers/imageFolder.ts';
import { fmnistBn, samplesDir, tempDir } from '../helpers/paths.ts';

const ctx = (progress: [string, number | undefined][] = [], signal = new AbortController().signal): HandlerContext => ({ signal, progress: (s, f) => progress.push([s, f]) });

describe('worker: scan and find a plan for a target (the view\'s Target control)', () => {
  const dir = tempDir();
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const model = path.join(dir, 'm.onnx');
  fs.copyFileSync(fmnistBn, model);
  const x = readArray(path.join(samplesDir, 'fmnist', 'fmnist_test1000_x_1000x1x28x28.f32')) as Float32Array;
  const calib = path.join(dir, 'calib.npy');
  writeNpy(calib, '<f4', [32, 1, 28, 28], f32Bytes(x.subarray(0, 32 * 784)));
  const data: DataJob = { preset: 'auto', recover: 'bn', calibCount: 32, runs: 1, batch: 4, calibration: calib };
  const plan: ViewPlan = { criterion: 'l1', scope: 'uniform', ratio: 0.3, exclude: [] };
  const h = workerHandlers();

  test('without calibration data the scan says so', async () => {
    await h.open({ path: model }, ctx());
    await assert.rejects(async () => h.scan({ path: model, plan, data: { ...data, calibration: undefined }, cachedOnly: false, ep: 'cpu' }, ctx()), /needs calibration data: choose it under Data and recovery/);
  });

  test('before any scan: no cached scan, and Find plan asks for a scan', async () => {
    assert.equal(await h.scan({ path: model, plan, data, cachedOnly: true }, ctx()), null);
    await assert.rejects(async () => h.findPlan({ path: model, plan, data, budget: { kind: 'macs', fraction: 0.5 } }, ctx()), /run Scan first/);
  });

  test('a scan cancelled half-way is reported cancelled; its measured part is cached, marked partial, and Find plan refuses it', async () => {
    const ac = new AbortController();
    const c: HandlerContext = { signal: ac.signal, progress: (_s, f) => { if ((f ?? 0) > 0.3) ac.abort(); } };
    await assert.rejects(async () => h.scan({ path: model, plan, data, cachedOnly: false, ep: 'cpu' }, c), (e: Error) => e.name === 'CancelledError' || /cancel/i.test(e.message));
    const partial = await h.scan({ path: model, plan, data, cachedOnly: true }, ctx());
    assert.equal(partial?.partial, true);
    assert.ok(partial!.groups.some((g) => g.points.length > 0) && partial!.groups.some((g) => g.points.length === 0), 'some groups measured, some not');
    await assert.rejects(async () => h.findPlan({ path: model, plan, data, budget: { kind: 'macs', fraction: 0.5 } }, ctx()), /partial/);
  });

  test('the scan measures every prunable group at the default ratios, with progress, and is cached beside the model', async () => {
    const progress: [string, number | undefined][] = [];
    const s = await h.scan({ path: model, plan, data, cachedOnly: false, ep: 'cpu' }, ctx(progress));
    assert.ok(s);
    assert.equal(s.source, 'computed');
    assert.equal(s.partial, false);
    assert.equal(s.inputs, 32);
    assert.equal(s.criterion, 'l1');
    assert.deepEqual(s.ratios, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]);
    const summary = await h.open({ path: model }, ctx());
    assert.equal(s.groups.length, summary.prunableGroupCount);
    for (const g of s.groups) {
      assert.ok(g.points.length >= 1, `${g.layer} measured`);
      for (const p of g.points) assert.ok(p.loss >= 0 && p.loss <= 100 && p.kept < g.channels, `${g.layer} @${p.ratio}: ${JSON.stringify(p)}`);
    }
    assert.ok(progress.some(([st, f]) => st.startsWith('Scan') && f !== undefined && f > 0 && f < 1), 'progress during the scan');
    assert.ok(fs.existsSync(model + SCAN_CACHE_SUFFIX), 'cache file beside the model');
    assert.ok(!JSON.stringify(s).includes(dir), 'no path reaches the view');
    // reopened (a fresh worker): answered from the cache without scanning
    const h2 = workerHandlers();
    await h2.open({ path: model }, ctx());
    const cached = await h2.scan({ path: model, plan, data, cachedOnly: true }, ctx());
    assert.equal(cached?.source, 'cache');
    assert.deepEqual(cached?.groups, s.groups);
    // another criterion is another scan
    assert.equal(await h2.scan({ path: model, plan: { ...plan, criterion: 'l2' }, data, cachedOnly: true }, ctx()), null);
  });

  test('Find plan for half the MACs: per-layer overrides; pruned, the written model has MACs within 2% of half and runs', async () => {
    const found = await h.findPlan({ path: model, plan, data, budget: { kind: 'macs', fraction: 0.5 } }, ctx());
    assert.equal(found.met, true);
    assert.equal(found.plan.scope, 'uniform');
    assert.equal(found.plan.ratio, 0);
    assert.equal(found.plan.criterion, 'l1');
    const overrides = Object.entries(found.plan.overrides ?? {});
    assert.ok(overrides.length >= 3, `overrides: ${JSON.stringify(found.plan.overrides)}`);
    assert.ok(new Set(overrides.map(([, o]) => o.ratio)).size >= 2, 'the ratios differ between layers');
    assert.ok(found.predicted.macs <= found.target && found.predicted.macs >= 0.98 * found.target, `predicted ${found.predicted.macs} for ${found.target}`);
    // the preview of the plan counts the same MACs
    const pv = await h.previewPlan({ path: model, plan: found.plan }, ctx());
    assert.equal(pv.macs.after, found.predicted.macs);
    const report = await h.prune({ path: model, plan: found.plan, out: path.join(dir, 'half.onnx'), validate: false, ep: 'cpu', data }, ctx());
    const frac = report.macs.after / report.macs.before;
    assert.ok(frac <= 0.5 && frac >= 0.49,  `written MACs ${report.macs.after} of ${report.macs.before} (${frac})`);
    const out = await runFirstOutput(report.output, new Float32Array(2 * 784).fill(0.5), [2, 1, 28, 28]);
    assert.deepEqual(out.dims, [2, 10]);
    assert.ok(out.data.every(Number.isFinite), 'finite outputs');
  });

  test('Find plan for a third of the parameters', async () => {
    const found = await h.findPlan({ path: model, plan, data, budget: { kind: 'params', fraction: 0.34 } }, ctx());
    assert.equal(found.met, true);
    assert.ok(found.predicted.params <= found.target && found.predicted.params >= 0.98 * found.target, `predicted ${found.predicted.params} for ${found.target}`);
  });

  test('a maximum loss of 5 points: candidates measured on the evaluation images; pruned, the written model loses at most 5 points there, and checkTarget says so', async () => {
    // evaluation: 200 other test images with their labels (accuracy points)
    const evalX = path.join(dir, 'eval.npy');
    const evalY = path.join(dir, 'eval_y.npy');
    writeNpy(evalX, '<f4', [200, 1, 28, 28], f32Bytes(x.subarray(500 * 784, 700 * 784)));
    const y = fs.readFileSync(path.join(samplesDir, 'fmnist', 'fmnist_test1000_y.u8')).subarray(500, 700);
    writeNpy(evalY, '<i8', [200], Buffer.from(BigInt64Array.from(y, (v) => BigInt(v)).buffer));
    const withEval: DataJob = { ...data, evaluation: evalX, labels: evalY };
    const progress: [string, number | undefined][] = [];
    const found = await h.findPlan({ path: model, plan, data: withEval, budget: { kind: 'loss', points: 5 } }, ctx(progress));
    assert.equal(found.met, true);
    assert.deepEqual(found.budget, { kind: 'loss', points: 5 });
    assert.equal(found.target, 5);
    assert.ok(found.measuredLoss && found.measuredLoss.on === 'evaluation' && found.measuredLoss.points <= 5, JSON.stringify(found.measuredLoss));
    assert.ok(found.predicted.macs < found.baseline.macs, 'something is pruned');
    assert.ok(progress.some(([st]) => /measuring a candidate/.test(st)), 'candidates measured');
    const report = await h.prune({ path: model, plan: found.plan, out: path.join(dir, 'max-loss.onnx'), validate: false, ep: 'cpu', data: withEval }, ctx());
    const check = await h.checkTarget({ path: model, pruned: report.output, budget: found.budget, data: withEval, macs: report.macs.after, params: report.params.after }, ctx());
    console.log(`--max-loss 5 from the view: candidate ${found.measuredLoss!.points} points, written model ${check.value} points on ${check.loss?.count} evaluation images; MACs ${(report.macs.after / report.macs.before * 100).toFixed(1)}% of the model`);
    assert.equal(check.unit, 'points');
    assert.equal(check.loss?.on, 'evaluation');
    assert.equal(check.loss?.unit, 'accuracy');
    assert.equal(check.loss?.count, 200);
    assert.ok(check.value <= 5, `measured loss ${check.value}`);
    assert.equal(check.met, true);
    assert.ok(check.miss <= 0);
    // a MACs target is checked on the written model's count
    const half = await h.checkTarget({ path: model, pruned: report.output, budget: { kind: 'macs', fraction: 0.5 }, data: withEval, macs: report.macs.after, params: report.params.after }, ctx());
    assert.equal(half.value, report.macs.after);
    assert.equal(half.met, report.macs.after <= 0.5 * report.macs.before);
  });

  test('a budget below what the scanned widths reach is not met: the best reachable and the plan reaching it', async () => {
    const found = await Promise.resolve(h.findPlan({ path: model, plan, data, budget: { kind: 'macs', fraction: 0.01 } }, ctx())).catch((e: Error) => e);
    if (found instanceof Error) assert.match(found.message, /below what any plan reaches/);
    else {
      assert.equal(found.met, false);
      assert.ok(found.bestReachable! > found.target);
      assert.match(found.notes[0]!, /cannot be reached/);
    }
  });

  test('out of reach because groups stopped at the break loss: a note names them and where to raise it (the view shows notes, not the CLI sentence)', async () => {
    const none: DataJob = { ...data, recover: 'none' };
    const settings = { breakLoss: 0.001 };
    const s = await h.scan({ path: model, plan, data: none, cachedOnly: false, ep: 'cpu', settings }, ctx());
    const stopped = s!.groups.filter((g) => g.stoppedEarly).length;
    assert.ok(stopped > 0, 'groups stopped at a break loss of 0.001 points');
    const found = await h.findPlan({ path: model, plan, data: none, budget: { kind: 'macs', fraction: 0.1 }, settings }, ctx());
    assert.equal(found.met, false);
    const note = `${stopped} of ${s!.groups.length} groups stopped before their largest ratio, their loss past the break loss (0.001 points): a larger break loss under Scan settings scans narrower widths.`;
    assert.ok(found.notes.includes(note), found.notes.join('\n'));
    // a latency no candidate meets: the same note (the candidates are the scanned widths)
    const fast = await h.findPlan({ path: model, plan, data: none, budget: { kind: 'latency', ms: 1e-6 }, settings }, ctx());
    assert.equal(fast.met, false);
    assert.match(fast.notes[0]!, /no candidate measured runs within 0.000001 ms/);
    assert.ok(fast.notes.includes(note), fast.notes.join('\n'));
  });
});

describe('worker: Find plan on a model whose input size is symbolic', () => {
  const dir = tempDir();
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // [N, 4, H, W] → two convs → GAP → Gemm: its MACs depend on H and W
  const b = new ModelBuilder({ seed: 4 });
  let y = b.relu(b.bn(b.conv(b.input('x', ['N', 4, 'H', 'W']), 4, 8, { name: 'convA' }), 8));
  y = b.relu(b.bn(b.conv(y, 8, 8, { k: 1, name: 'convB' }), 8));
  b.output(b.gemm(b.flatten(b.gap(y)), 8, 10, 'fc'), ['N', 10]);
  const model = b.save(path.join(dir, 'dyn.onnx'));
  const calib = path.join(dir, 'calib.npy');
  writeNpy(calib, '<f4', [16, 4, 16, 16], f32Bytes(seededNormal(16 * 4 * 256, 2)));
  const data: DataJob = { preset: 'auto', recover: 'none', calibCount: 16, runs: 1, batch: 4, calibration: calib };
  const plan: ViewPlan = { criterion: 'l1', scope: 'uniform', ratio: 0.3, exclude: [] };
  const settings = { ratios: [0.25, 0.5, 0.75] };
  const h = workerHandlers();

  test('a MACs or latency budget asks for the input size (the data\'s named); given, the plan counts MACs at that size, as the preview does', async () => {
    await h.open({ path: model }, ctx());
    assert.ok(await h.scan({ path: model, plan, data, settings, cachedOnly: false, ep: 'cpu' }, ctx()));
    for (const budget of [{ kind: 'macs', fraction: 0.6 }, { kind: 'latency', ms: 0.001 }] as const) {
      await assert.rejects(async () => h.findPlan({ path: model, plan, data, settings, budget }, ctx()), /input x has symbolic sizes \[N, 4, H, W\].*give the input size.*4×16×16/);
    }
    // a parameter budget does not depend on the size
    assert.equal((await h.findPlan({ path: model, plan, data, settings, budget: { kind: 'params', fraction: 0.6 } }, ctx())).met, true);
    await h.open({ path: model, inputShapes: { x: [1, 4, 16, 16] } }, ctx());
    const found = await h.findPlan({ path: model, plan, data, settings, budget: { kind: 'macs', fraction: 0.6 } }, ctx());
    assert.equal(found.baseline.macs, computeCost(new Graph(loadModel(model)), { inputShapes: { x: [1, 4, 16, 16] } }).macs);
    assert.ok(found.met && found.predicted.macs <= found.target, `predicted ${found.predicted.macs} for ${found.target}`);
    const pv = await h.previewPlan({ path: model, plan: found.plan }, ctx());
    assert.equal(pv.macs.after, found.predicted.macs);
  });

  test('a latency is timed at the size given (not 1×1), and timed again when another size is given', async () => {
    await h.open({ path: model, inputShapes: { x: [1, 4, 16, 16] } }, ctx());
    assert.deepEqual((await h.measureLatency({ path: model }, ctx())).inputs, { x: [1, 4, 16, 16] });
    const far = await h.findPlan({ path: model, plan, data, settings, budget: { kind: 'latency', ms: 1e-6 } }, ctx());
    assert.equal(far.met, false);
    assert.deepEqual(far.latency?.original.inputs, { x: [1, 4, 16, 16] });
    assert.deepEqual(far.latency?.plan.inputs, { x: [1, 4, 16, 16] });
    await h.open({ path: model, inputShapes: { x: [1, 4, 32, 32] } }, ctx());
    assert.deepEqual((await h.measureLatency({ path: model }, ctx())).inputs, { x: [1, 4, 32, 32] });
  });
});
