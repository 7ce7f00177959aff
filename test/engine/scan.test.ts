// The sensitivity scan (src/engine/target/scan.ts) on models built in code, run in ONNX Runtime:
//   - a cut that changes nothing the output sees costs 0 points; the loss and drift of a group whose
//     channels matter grow with the ratio;
//   - running only the graph after a group (on cached activations) measures exactly what running
//     the whole pruned model measures;
//   - the cache beside the model: a second scan is read back without running anything; a changed
//     model file is scanned again; a cancelled scan is kept marked partial, leaves no temporary
//     file, and the next scan completes it to what an uninterrupted scan gives;
// and on the shared Fashion-MNIST ResNet: the scan runs, every group has points, `scan --json` parses.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { AnalysedModel } from '../../src/engine/analysed-model.ts';
import { arrayInputSet, type InputSet } from '../../src/engine/data/types.ts';
import { planCriterionScores } from '../../src/engine/recovery/criteria.ts';
import { seededNormal } from '../../src/engine/runtime/inputs.ts';
import { atDataSize, scanSensitivity } from '../../src/engine/target/scan.ts';
import { findLatencyPlan } from '../../src/engine/target/latency.ts';
import { preparePreview } from '../../src/engine/prune/preview.ts';
import { pruneToTarget } from '../../src/engine/target/run.ts';
import { computeCost, Graph, loadModel } from '../../src/engine/index.ts';
import { readScanCache, scanCachePath } from '../../src/engine/target/scan-cache.ts';
import type { OrtModule } from '../../src/engine/runtime/session.ts';
import { ModelBuilder } from '../helpers/modelBuilder.ts';
import { fmnistBn, repoRoot, samplesDir, shared, skipWithoutShared, tempDir } from '../helpers/paths.ts';
import { readArray } from '../helpers/imageFolder.ts';
import { f32Bytes, writeNpy } from '../helpers/npy.ts';

/**
 * x [N,4,8,8] → convA 4→8 (3×3) → BN → ReLU → convB 8→8 (1×1) → BN → ReLU → Flatten → Gemm 512→10.
 * Channels 6 and 7 of bnA have γ = 0: their output is the constant ReLU(β), which compensation
 * folds exactly into bnB (convB is 1×1 without padding), so removing them changes nothing.
 * Two groups: convA (8), convB (8).
 */
function buildModel(file: string, seed = 3): string {
  const b = new ModelBuilder({ seed });
  const x = b.input('x', ['N', 4, 8, 8]);
  const gamma = Array.from({ length: 8 }, (_, c) => (c >= 6 ? 0 : 0.5 + b.random()));
  let y = b.relu(b.bn(b.conv(x, 4, 8, { name: 'convA' }), 8, { name: 'bnA', gamma }));
  y = b.relu(b.bn(b.conv(y, 8, 8, { k: 1, name: 'convB' }), 8, { name: 'bnB' }));
  const out = b.gemm(b.flatten(y), 512, 10, 'fc');
  b.output(out, ['N', 10]);
  return b.save(file);
}

const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const inputs = (n: number, seed = 1) => arrayInputSet('scan-inputs', [4, 8, 8], seededNormal(n * 256, seed));

/** An ONNX Runtime that fails the test when anything touches it. */
const noOrt = new Proxy({}, {
  get() {
    throw new Error('ONNX Runtime was used');
  },
}) as unknown as OrtModule;


/** Two convs and a classifier on an input of symbolic height and width, [N, 4, H, W]. */
function symbolicSizeModel(dir: string): string {
  const b = new ModelBuilder({ seed: 4 });
  const x = b.input('x', ['N', 4, 'H', 'W']);
  let y = b.relu(b.bn(b.conv(x, 4, 8, { name: 'convA' }), 8));
  y = b.relu(b.bn(b.conv(y, 8, 8, { k: 1, name: 'convB' }), 8));
  b.output(b.gemm(b.flatten(b.gap(y)), 8, 10, 'fc'), ['N', 10]);
  return b.save(path.join(dir, 'dyn.onnx'));
}
describe('sensitivity scan', () => {
  test('a cut that changes nothing costs 0 points; a group whose channels matter loses more as the ratio grows', async () => {
    const dir = tempDir();
    const file = buildModel(path.join(dir, 'm.onnx'));
    const before = sha(file);
    const scan = await scanSensitivity(AnalysedModel.load(file), inputs(64), { criterion: 'bn-gamma', recover: 'none', ratios: [0.25, 0.5, 0.75], breakLoss: 100, cache: false, ep: 'cpu' });
    assert.equal(scan.partial, false);
    assert.equal(scan.source, 'computed');
    assert.deepEqual(scan.groups.map((g) => g.layers[0]).sort(), ['convA', 'convB']);
    const a = scan.groups.find((g) => g.layers[0] === 'convA')!;
    assert.deepEqual(a.points.map((p) => p.kept), [6, 4, 2]);
    // 0.25 removes the two channels with γ = 0: exactly compensated.
    assert.equal(a.points[0].loss, 0);
    assert.equal(a.points[0].agreement, 1);
    assert.ok(a.points[0].drift < 1e-5, `drift ${a.points[0].drift}`);
    // removing real channels moves the output, more with more removed
    assert.ok(a.points[1].drift > 1e-3, `drift at 0.5: ${a.points[1].drift}`);
    assert.ok(a.points[2].drift > a.points[1].drift, `drift 0.75 ${a.points[2].drift} > 0.5 ${a.points[1].drift}`);
    assert.ok(a.points[2].loss > 0, `loss at 0.75: ${a.points[2].loss}`);
    assert.ok(a.points[2].loss >= a.points[0].loss);
    // MACs and parameters shrink with the ratio
    assert.ok(a.points[0].macs < scan.baseline.macs && a.points[2].macs < a.points[1].macs);
    assert.ok(a.points[2].params < a.points[1].params);
    assert.equal(sha(file), before, 'the model file is unchanged');
    assert.deepEqual(fs.readdirSync(dir), ['m.onnx'], 'no cache file with cache: false');
  });

  test('running only the graph after the group, on cached activations, measures what the whole pruned model gives', async () => {
    const dir = tempDir();
    const file = buildModel(path.join(dir, 'm.onnx'));
    const model = AnalysedModel.load(file);
    const opts = { criterion: 'l1' as const, recover: 'none' as const, ratios: [0.3, 0.6], breakLoss: 100, cache: false, ep: 'cpu' as const };
    const cut = await scanSensitivity(model, inputs(32), { ...opts, cut: true });
    const whole = await scanSensitivity(model, inputs(32), { ...opts, cut: false });
    assert.ok(cut.stats!.cutRuns > 0, 'convB is scanned on cached activations');
    assert.equal(whole.stats!.cutRuns, 0);
    for (const g of cut.groups) {
      const w = whole.groups.find((x) => x.group === g.group)!;
      assert.equal(g.points.length, w.points.length);
      g.points.forEach((p, i) => {
        assert.equal(p.agreement, w.points[i].agreement);
        assert.ok(Math.abs(p.drift - w.points[i].drift) < 1e-5, `${g.layers[0]} at ${p.ratio}: ${p.drift} vs ${w.points[i].drift}`);
      });
    }
  });

  test('the tensors at each cut are computed from the previous cut\'s: the runs before the cuts cost one pass of the original in all', async () => {
    // x → c1 → c2 → c3 → c4 → c5 (3×3 convs with BN and ReLU, 8 channels) → Flatten → Gemm
    const b = new ModelBuilder({ seed: 5 });
    let y = b.input('x', ['N', 4, 8, 8]);
    let cin = 4;
    for (let i = 1; i <= 5; i++) {
      y = b.relu(b.bn(b.conv(y, cin, 8, { name: `c${i}` }), 8));
      cin = 8;
    }
    b.output(b.gemm(b.flatten(y), 512, 10, 'fc'), ['N', 10]);
    const file = b.save(path.join(tempDir(), 'chain.onnx'));
    const model = AnalysedModel.load(file);
    const opts = { criterion: 'l1' as const, recover: 'none' as const, ratios: [0.5], breakLoss: 100, cache: false, ep: 'cpu' as const };
    const cut = await scanSensitivity(model, inputs(16), { ...opts, cut: true });
    const whole = await scanSensitivity(model, inputs(16), { ...opts, cut: false });
    assert.ok(cut.stats!.cutRuns >= 3, `points on cached activations: ${cut.stats!.cutRuns}`);
    // from the model input each time, the prefixes of c2…c4 would cost 1/5 + 2/5 + 3/5 of a pass
    assert.ok(cut.stats!.prefixPasses > 0 && cut.stats!.prefixPasses <= 0.9, `the runs before the cuts: ${cut.stats!.prefixPasses} passes`);
    for (const g of cut.groups) {
      const w = whole.groups.find((x) => x.group === g.group)!;
      assert.equal(g.points[0].agreement, w.points[0].agreement, g.layers[0]);
      assert.ok(Math.abs(g.points[0].drift - w.points[0].drift) < 1e-5, `${g.layers[0]}: ${g.points[0].drift} vs ${w.points[0].drift}`);
    }
  });

  test('a second scan comes from the cache without running anything; a changed model is scanned again', async () => {
    const dir = tempDir();
    const file = buildModel(path.join(dir, 'm.onnx'));
    const opts = { criterion: 'l2' as const, recover: 'none' as const, ratios: [0.5], cache: true, ep: 'cpu' as const };
    const first = await scanSensitivity(AnalysedModel.load(file), inputs(16), opts);
    assert.equal(first.source, 'computed');
    assert.ok(fs.existsSync(scanCachePath(file)), 'cache written beside the model');
    assert.equal(path.basename(scanCachePath(file)), 'm.onnx.sensitivity.json');
    const second = await scanSensitivity(AnalysedModel.load(file), inputs(16), { ...opts, ort: noOrt });
    assert.equal(second.source, 'cache');
    assert.equal(second.seconds, 0);
    assert.equal(second.partial, false);
    assert.deepEqual(second.groups, first.groups);
    assert.deepEqual(second.baseline, first.baseline);
    // other settings: not the cached entry
    await assert.rejects(scanSensitivity(AnalysedModel.load(file), inputs(16), { ...opts, ratios: [0.4], ort: noOrt }), /ONNX Runtime was used/);
    // the same name, other weights: scanned again
    buildModel(file, 11);
    const third = await scanSensitivity(AnalysedModel.load(file), inputs(16), opts);
    assert.equal(third.source, 'computed');
    assert.notEqual(third.modelHash, first.modelHash);
    assert.notDeepEqual(third.groups.map((g) => g.points[0].drift), first.groups.map((g) => g.points[0].drift));
  });

  test('a cancelled scan is kept marked partial, leaves no temporary file, and the next scan completes it', async () => {
    const dir = tempDir();
    const file = buildModel(path.join(dir, 'm.onnx'));
    const before = sha(file);
    const opts = { criterion: 'l1' as const, recover: 'none' as const, ratios: [0.25, 0.5, 0.75], breakLoss: 100, ep: 'cpu' as const };
    const ac = new AbortController();
    let points = 0;
    const cancelled = await scanSensitivity(AnalysedModel.load(file), inputs(16), {
      ...opts,
      signal: ac.signal,
      onProgress: (_f, what) => {
        // stop after the fourth point started: the first group is done, the second half-way
        if (/ at /.test(what) && ++points === 5) ac.abort();
      },
    });
    assert.equal(cancelled.partial, true);
    const measured = cancelled.groups.reduce((n, g) => n + g.points.length, 0);
    assert.ok(measured >= 3 && measured < 6, `points measured before the cancel: ${measured}`);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['m.onnx', 'm.onnx.sensitivity.json'], 'only the model and the cache');
    assert.equal(sha(file), before);
    // the cached entry is the partial scan
    const stored = JSON.parse(fs.readFileSync(scanCachePath(file), 'utf8')) as { entries: { scan: { partial: boolean } }[] };
    assert.equal(stored.entries.length, 1);
    assert.equal(stored.entries[0].scan.partial, true);

    const completed = await scanSensitivity(AnalysedModel.load(file), inputs(16), opts);
    assert.equal(completed.partial, false);
    assert.equal(completed.source, 'computed');
    assert.ok(completed.stats!.runs < 1 + 6, `only the missing points ran (${completed.stats!.runs} runs)`);
    const fresh = await scanSensitivity(AnalysedModel.load(file), inputs(16), { ...opts, cache: false });
    assert.deepEqual(completed.groups.map((g) => g.points.map((p) => [p.ratio, p.kept, p.agreement])), fresh.groups.map((g) => g.points.map((p) => [p.ratio, p.kept, p.agreement])));
    for (const g of completed.groups) g.points.forEach((p, i) => assert.ok(Math.abs(p.drift - fresh.groups.find((x) => x.group === g.group)!.points[i].drift) < 1e-5));
    // and it is now a complete cache entry
    const hit = await scanSensitivity(AnalysedModel.load(file), inputs(16), { ...opts, ort: noOrt });
    assert.equal(hit.source, 'cache');
    assert.equal(hit.partial, false);
  });

  test('with --round-to, a ratio that removes nothing and one that keeps the same channels as the previous ratio run nothing', async () => {
    const dir = tempDir();
    const file = buildModel(path.join(dir, 'm.onnx'));
    const scan = await scanSensitivity(AnalysedModel.load(file), inputs(16), { criterion: 'l1', recover: 'none', ratios: [0.3, 0.5, 0.6], roundTo: 4, breakLoss: 100, cache: false, ep: 'cpu' });
    for (const g of scan.groups) {
      assert.deepEqual(g.points.map((p) => p.kept), [8, 4, 4], g.layers[0]);
      assert.deepEqual(g.points[0], { ratio: 0.3, kept: 8, macs: scan.baseline.macs, params: scan.baseline.params, loss: 0, agreement: 1, drift: 0 });
      assert.deepEqual({ ...g.points[2], ratio: 0.5 }, g.points[1]);
    }
    assert.equal(scan.stats!.unchanged, 4);
    assert.equal(scan.stats!.cutRuns + scan.stats!.fullRuns, 2, 'one run per group');
  });

  test('a model with a symbolic input size is scanned at the data\'s size (MACs counted there)', async () => {
    const file = symbolicSizeModel(tempDir());
    const scan = await scanSensitivity(AnalysedModel.load(file), arrayInputSet('x', [4, 16, 16], seededNormal(8 * 4 * 256, 2)), { recover: 'none', ratios: [0.5], cache: false, ep: 'cpu' });
    // convA alone at 16×16: 8·4·9·256 MACs (+ bias)
    assert.ok(scan.baseline.macs > 8 * 4 * 9 * 256, `MACs at 16×16: ${scan.baseline.macs}`);
    assert.equal(scan.groups.length, 2);
    assert.ok(scan.groups.every((g) => g.points.length === 1));
  });

  test('a target on a model with a symbolic input size counts the plan\'s MACs at the data\'s size, as the scan does (or at the size given)', async () => {
    const file = symbolicSizeModel(tempDir());
    const data = arrayInputSet('x', [4, 16, 16], seededNormal(8 * 4 * 256, 2));
    const opts = { calibration: data, recover: 'none' as const, scanRatios: [0.25, 0.5], noCache: true, dryRun: true, ep: 'cpu' as const };
    const atData = computeCost(new Graph(loadModel(file)), { inputShapes: { x: [1, 4, 16, 16] } }).macs;
    const r = await pruneToTarget(AnalysedModel.load(file), { kind: 'macs', fraction: 0.8 }, opts);
    assert.equal(r.allocation.baseline.macs, atData, 'the baseline at 16×16');
    assert.ok(r.allocation.predicted.macs <= 0.8 * atData && r.allocation.predicted.macs > 0.3 * atData, `predicted ${r.allocation.predicted.macs} of ${atData}`);
    // a size given wins over the data's
    const at32 = computeCost(new Graph(loadModel(file)), { inputShapes: { x: [1, 4, 32, 32] } }).macs;
    const given = await pruneToTarget(AnalysedModel.load(file, { inputShapes: { x: [1, 4, 32, 32] } }), { kind: 'macs', fraction: 0.8 }, opts);
    assert.equal(given.allocation.baseline.macs, at32);
  });

  test('a latency target on a model with a symbolic input size times every model at the size the plan is counted at, not 1×1', async () => {
    const file = symbolicSizeModel(tempDir());
    const data = arrayInputSet('x', [4, 16, 16], seededNormal(8 * 4 * 256, 2));
    const opts = { calibration: data, recover: 'none' as const, scanRatios: [0.25, 0.5], noCache: true, out: path.join(path.dirname(file), 'out.onnx'), ep: 'cpu' as const, latencyRuns: 3 };
    // unreachable: the error says so, and nothing is written
    await assert.rejects(pruneToTarget(AnalysedModel.load(file), { kind: 'latency', ms: 1e-6 }, opts), /no plan found that runs within/);
    // the search itself: the original and each candidate timed on [1, 4, 16, 16] (the data's size), or the size given
    for (const [given, shape] of [[undefined, [1, 4, 16, 16]], [{ x: [1, 4, 32, 32] }, [1, 4, 32, 32]]] as const) {
      const m = atDataSize(given ? AnalysedModel.load(file, { inputShapes: { x: [...given.x] } }) : AnalysedModel.load(file), data.sampleShape);
      const scan = await scanSensitivity(m, data, { recover: 'none', ratios: [0.25, 0.5], cache: false, ep: 'cpu' });
      const deps = m.dependencies();
      preparePreview(m.graph, deps, m.cost(), m.inputShapes);
      const found = await findLatencyPlan({ graph: m.graph, deps, importance: await m.scores(['l1']) }, scan, 1e-6, { shapes: m.inputShapes, runs: 3, maxCandidates: 2 });
      assert.equal(found.met, false);
      assert.deepEqual(found.original.inputs, { x: shape });
      assert.ok(found.candidates.length > 0);
      for (const c of found.candidates) assert.deepEqual(c.latency.inputs, { x: shape });
    }
  });
});

describe('the break loss of a target run', () => {
  test('is passed to the scan and given in the report; the CLI flag checks its value and goes with a target', async () => {
    const dir = tempDir();
    const file = buildModel(path.join(dir, 'bl.onnx'));
    const opts = { calibration: inputs(8), recover: 'none' as const, scanRatios: [0.25, 0.5], noCache: true, dryRun: true, ep: 'cpu' as const };
    const wide = await pruneToTarget(AnalysedModel.load(file), { kind: 'macs', fraction: 0.9 }, { ...opts, scanBreakLoss: 100 });
    assert.equal(wide.scan.breakLoss, 100);
    assert.equal((await pruneToTarget(AnalysedModel.load(file), { kind: 'macs', fraction: 0.9 }, opts)).scan.breakLoss, 30, 'the default');
    const calib = path.join(dir, 'calib.npy');
    writeNpy(calib, '<f4', [8, 4, 8, 8], f32Bytes(seededNormal(8 * 256, 1)));
    const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'main.ts'), 'prune', file, ...args], { cwd: repoRoot, encoding: 'utf8' });
    const r = cli('--target-macs', '0.9', '--calib', calib, '--recover', 'none', '--scan-break-loss', '100', '--no-scan-cache', '--dry-run', '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { scan: { breakLoss: number } }).scan.breakLoss, 100);
    const bad = cli('--target-macs', '0.9', '--calib', calib, '--scan-break-loss', 'lots');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--scan-break-loss expects a number of points ≥ 0, got "lots"/);
    const alone = cli('--ratio', '0.5', '--scan-break-loss', '50');
    assert.equal(alone.status, 1);
    assert.match(alone.stderr, /--scan-break-loss goes with a target/);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['bl.onnx', 'calib.npy'], 'nothing written');
  });

  test('a latency out of reach says when groups stopped at the break loss, as a MACs target does, else to scan larger ratios', async () => {
    const dir = tempDir();
    const file = buildModel(path.join(dir, 'lat.onnx'));
    const opts = { calibration: inputs(8), recover: 'none' as const, scanRatios: [0.25, 0.5], noCache: true, out: path.join(dir, 'out.onnx'), ep: 'cpu' as const, latencyRuns: 3 };
    // no model runs in a nanosecond
    const stopped = await pruneToTarget(AnalysedModel.load(file), { kind: 'latency', ms: 1e-6 }, { ...opts, scanBreakLoss: 0 }).catch((e: Error) => e);
    assert.ok(stopped instanceof Error);
    assert.match(stopped.message, /no plan found that runs within 0\.000001 ms: the fastest candidate measured ran in [\d.]+ ms .*; \d+ of 2 groups stopped before their largest ratio, their loss past the break loss \(0 points\): scan again with a larger one \(scan --break-loss, prune --scan-break-loss, or the view's scan settings\), or ask for at least [\d.]+ ms; nothing written$/);
    const wide = await pruneToTarget(AnalysedModel.load(file), { kind: 'latency', ms: 1e-6 }, { ...opts, scanBreakLoss: 100 }).catch((e: Error) => e);
    assert.ok(wide instanceof Error);
    assert.match(wide.message, /; scan larger ratios or ask for at least [\d.]+ ms; nothing written$/);
    assert.deepEqual(fs.readdirSync(dir), ['lat.onnx'], 'nothing written');
  });
});

describe('a data criterion in a target run', () => {
  /** The set, with a count of the passes made over it (each `batches` call reads it through). */
  const counted = (set: InputSet) => {
    const reads = { n: 0 };
    return { reads, set: { ...set, source: set.source, sampleShape: set.sampleShape, count: set.count, batches: (size: number, signal?: AbortSignal) => (reads.n++, set.batches(size, signal)) } as InputSet };
  };

  test('is measured once per model and data set: the scan, the allocation and the prune share it', async () => {
    const dir = tempDir();
    const file = buildModel(path.join(dir, 'm.onnx'));
    const data = inputs(16);
    const once = counted(data);
    const direct = AnalysedModel.load(file);
    const scores = await planCriterionScores('activation', direct.model, direct.graph, direct.dependencies(), { calibration: once.set, ep: 'cpu' });
    assert.ok(once.reads.n >= 1);
    const run = async (criterion: 'activation' | 'l1') => {
      const c = counted(data);
      const model = AnalysedModel.load(file);
      const out = path.join(dir, `${criterion}.onnx`);
      const r = await pruneToTarget(model, { kind: 'macs', fraction: 0.8 }, { calibration: c.set, criterion, recover: 'none', scanRatios: [0.25, 0.5], noCache: true, out, force: true, ep: 'cpu' });
      assert.ok(fs.existsSync(out) && r.result!.macs <= r.target);
      return { reads: c.reads.n, model, set: c.set };
    };
    const weight = await run('l1');
    const measured = await run('activation');
    assert.equal(measured.reads - weight.reads, once.reads.n, `passes over the data: ${measured.reads} ranking by activation, ${weight.reads} by l1, ${once.reads.n} for the criterion alone`);
    // kept on the model: the same scores as measured afresh; another data set is measured again
    const kept = measured.model.planScores('activation', { calibration: measured.set });
    assert.equal(kept, measured.model.planScores('activation', { calibration: measured.set }));
    assert.deepEqual(await kept, scores);
    const other = await measured.model.planScores('activation', { calibration: inputs(16, 9) });
    assert.notDeepEqual(other, scores);
  });
});

describe('recovery inside the scan: the original\'s tensors kept per group', () => {
  // The bundled Fashion-MNIST CNN (a depthwise + pointwise block, a residual block) on 48 of its
  // test images, least-squares recovery at five ratios: with the per-group cache, recovery runs the
  // original once per group (its targets and its refit layers' inputs in one pass) and its later
  // ratios read them; the points are what the scan without the cache measures.
  const x = readArray(path.join(samplesDir, 'fmnist', 'fmnist_test1000_x_1000x1x28x28.f32')) as Float32Array;
  const data = arrayInputSet('fmnist48', [1, 28, 28], x.slice(0, 48 * 784));
  const opts = { criterion: 'l1' as const, recover: 'ls' as const, ratios: [0.1, 0.3, 0.5, 0.7, 0.9], breakLoss: 100, cache: false, ep: 'cpu' as const };

  test('one pass of the original per group; the same points as without the cache (and with a cache too small to hold anything)', async () => {
    const model = AnalysedModel.load(fmnistBn);
    const cached = await scanSensitivity(model, data, opts);
    const plain = await scanSensitivity(model, data, { ...opts, recoveryCache: false });
    const groups = cached.groups.length;
    assert.ok(groups >= 4, `${groups} groups`);
    const measured = cached.groups.filter((g) => g.points.length > 0).length;
    assert.equal(cached.stats!.recoveryFills, measured, 'one pass of the original per group');
    assert.equal(plain.stats!.recoveryFills, 0);
    assert.ok(cached.stats!.recoveryServed >= measured * (opts.ratios.length - 1), `probes read from the cache: ${cached.stats!.recoveryServed}`);
    assert.ok(cached.stats!.runs < plain.stats!.runs, `ONNX Runtime passes: ${cached.stats!.runs} with the cache, ${plain.stats!.runs} without`);
    console.log(`recovery in the scan: ${cached.stats!.runs} passes with the per-group cache (${cached.stats!.recoveryFills} to fill it, ${cached.stats!.recoveryServed} probes read from it), ${plain.stats!.runs} without`);
    // a cache too small for any tensor: one attempt per group, then recovery runs as without it
    const tiny = await scanSensitivity(model, data, { ...opts, recoveryCacheBytes: 1 });
    assert.equal(tiny.stats!.recoveryFills, measured, 'one attempt per group, never repeated');
    assert.equal(tiny.stats!.recoveryServed, 0);
    assert.equal(tiny.stats!.runs, plain.stats!.runs + measured, `passes with a cache that holds nothing: ${tiny.stats!.runs}`);
    for (const [scan, what] of [[cached, 'cached'], [tiny, 'tiny cache']] as const) for (const g of scan.groups) {
      const p = plain.groups.find((h) => h.group === g.group)!;
      assert.deepEqual(g.points.map((q) => q.kept), p.points.map((q) => q.kept), g.layers[0]);
      g.points.forEach((q, i) => {
        const r = p.points[i];
        assert.equal(q.agreement, r.agreement, `${what}: ${g.layers[0]} at ${q.ratio}: agreement`);
        assert.equal(q.loss, r.loss, `${what}: ${g.layers[0]} at ${q.ratio}: loss`);
        assert.ok(Math.abs(q.drift - r.drift) <= 1e-4 * Math.max(1e-3, r.drift), `${what}: ${g.layers[0]} at ${q.ratio}: drift ${q.drift} vs ${r.drift}`);
      });
    }
  });
});

describe('sensitivity scan on the shared Fashion-MNIST ResNet', { skip: skipWithoutShared }, () => {
  const calib = () => shared('trained/fmnist_train_calib1000_x.npy');
  const labels = () => shared('trained/fmnist_train_calib1000_y.npy');

  test('scan --json: every prunable group has points, the cache is written beside the model, a second run reads it', { skip: !fs.existsSync(shared('trained/fmnist_train_calib1000_x.npy')) && 'calibration inputs absent' }, () => {
    const dir = tempDir();
    const model = path.join(dir, 'resnet.onnx');
    fs.copyFileSync(shared('trained/fmnist_resnet_bn.onnx'), model);
    const args = ['scan', model, '--calib', calib(), '--labels', labels(), '--recover', 'none', '--ratios', '0.3,0.6,0.9', '--count', '32', '--ep', 'cpu', '--json'];
    const run = () => spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'main.ts'), ...args], { cwd: repoRoot, encoding: 'utf8' });
    const r = run();
    assert.equal(r.status, 0, r.stderr);
    const scan = JSON.parse(r.stdout);
    assert.equal(scan.source, 'computed');
    assert.equal(scan.partial, false);
    assert.deepEqual(scan.settings.ratios, [0.3, 0.6, 0.9]);
    assert.equal(scan.settings.inputs, 32);
    assert.equal(scan.settings.labelled, true);
    assert.ok(scan.baseline.accuracy > 0.8, `baseline top-1 on 32 calibration inputs: ${scan.baseline.accuracy}`);
    assert.equal(scan.groups.length, 9);
    for (const g of scan.groups) {
      assert.ok(g.points.length >= 1, `${g.layers[0]} has points`);
      for (const p of g.points) assert.ok(p.macs < scan.baseline.macs && p.accuracy !== undefined);
    }
    assert.equal(scan.cacheFile, `${model}.sensitivity.json`);
    const again = run();
    assert.equal(again.status, 0, again.stderr);
    const cached = JSON.parse(again.stdout);
    assert.equal(cached.source, 'cache');
    assert.deepEqual(cached.groups, scan.groups);
    const table = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'main.ts'), ...args.slice(0, -1)], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /from the cache/);
    assert.match(table.stdout, /\/layer3\/layer3\.1\/conv1\/Conv/);
  });

  test('on the residual network too, the graph after the cut measures what the whole pruned model gives', { skip: !fs.existsSync(shared('trained/fmnist_train_calib1000_x.npy')) && 'calibration inputs absent' }, async () => {
    const { openInputSet } = await import('../../src/engine/data/open.ts');
    const data = await openInputSet(calib(), { maxCount: 32 });
    const model = AnalysedModel.load(shared('trained/fmnist_resnet_bn.onnx'));
    const opts = { criterion: 'l1' as const, recover: 'none' as const, ratios: [0.5], breakLoss: 100, cache: false, ep: 'cpu' as const };
    const cut = await scanSensitivity(model, data, { ...opts, cut: true });
    const whole = await scanSensitivity(model, data, { ...opts, cut: false });
    assert.ok(cut.stats!.cutRuns >= 6, `groups scanned after their cut: ${cut.stats!.cutRuns}`);
    for (const g of cut.groups) {
      const p = g.points[0];
      const w = whole.groups.find((x) => x.group === g.group)!.points[0];
      assert.equal(p.agreement, w.agreement, g.layers[0]);
      assert.ok(Math.abs(p.drift - w.drift) < 1e-4, `${g.layers[0]}: drift ${p.drift} after the cut, ${w.drift} whole`);
      assert.ok(p.drift > 0, `${g.layers[0]}: pruning half of it changes the output`);
    }
  });

  test('the engine scan with the default recovery runs and every group has points', { skip: !fs.existsSync(shared('trained/fmnist_train_calib1000_x.npy')) && 'calibration inputs absent' }, async () => {
    const dir = tempDir();
    const model = path.join(dir, 'resnet.onnx');
    fs.copyFileSync(shared('trained/fmnist_resnet_bn.onnx'), model);
    const { openInputSet } = await import('../../src/engine/data/open.ts');
    const data = await openInputSet(calib(), { labels: labels(), maxCount: 64 });
    const scan = await scanSensitivity(AnalysedModel.load(model), data, { ratios: [0.5], count: 32, cache: false, ep: 'cpu' });
    assert.equal(scan.settings.recover, 'auto');
    assert.equal(scan.groups.length, 9);
    for (const g of scan.groups) assert.equal(g.points.length, 1, g.layers[0]);
    assert.ok(readScanCache(model, 'x') === undefined);
  });
});
