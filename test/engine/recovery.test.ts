// Recovery on calibration inputs (src/engine/recovery): exactness on models built in code, run by
// the real prune pipeline and ONNX Runtime.
//   - ls: a layer whose removed input channels are exact linear combinations of kept ones is
//     reconstructed exactly (the original output within 1e-4 on inputs it was not fitted on);
//   - bn: recalibrating an unpruned model whose stored statistics are the true ones of the
//     calibration inputs gives those statistics back;
//   - bias: after measured bias correction, every output channel's mean on the calibration inputs
//     equals the original's;
//   - too few inputs: a one-line error saying how many the method needs;
//   - the blocked factorisation and solve of large systems (ONNX Runtime Gemms) equal the unblocked
//     JavaScript ones; activations that overflow stop the run with the layer named.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pruneModel } from '../../src/engine/prune/prune.ts';
import { loadModel } from '../../src/engine/onnx/model.ts';
import { Graph } from '../../src/engine/graph/graph.ts';
import { arrayInputSet } from '../../src/engine/data/types.ts';
import { seededNormal } from '../../src/engine/runtime/inputs.ts';
import { PrunerError } from '../../src/engine/errors.ts';
import { recoverPruned } from '../../src/engine/recovery/recover.ts';
import { BatchedTensor } from '../../src/engine/recovery/working.ts';
import { GramAccumulator, cholesky, choleskyBlocked, choleskySolve, choleskySolveBlocked, ridgeSolve } from '../../src/engine/recovery/linalg.ts';
import { ModelBuilder } from '../helpers/modelBuilder.ts';
import { tempDir } from '../helpers/paths.ts';
import { maxAbsDiff, runFirstOutput as run } from '../helpers/ort.ts';

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Per-channel mean of an [N, C, H, W] tensor. */
function channelMeans(t: Float32Array, dims: number[]): Float64Array {
  const [N, C] = dims;
  const inner = dims.slice(2).reduce((a, b) => a * b, 1);
  const out = new Float64Array(C);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let i = 0; i < inner; i++) out[c] += t[(n * C + c) * inner + i];
  return out.map((v) => v / (N * inner));
}

const floatsOf = (file: string, name: string): Float32Array => new Graph(loadModel(file)).constantFloats(name)!;

describe('least-squares reconstruction', () => {
  test('a layer whose removed inputs are linear combinations of kept ones is reconstructed exactly', async () => {
    const dir = tempDir();
    // conv1 (5→6, 1×1): channels 4 and 5 are linear combinations of channels 0–3 (weights and bias),
    // so with nothing non-linear between conv1 and conv2, conv2 can absorb them exactly.
    const b = new ModelBuilder({ seed: 5 });
    const x = b.input('x', ['N', 5, 8, 8]);
    const w1 = Float32Array.from({ length: 6 * 5 }, () => b.random());
    const b1 = Float32Array.from({ length: 6 }, () => b.random());
    const mix = [
      [0.5, -1, 0.25, 2],
      [-0.75, 0.3, 1.5, -0.2],
    ];
    for (let r = 0; r < 2; r++) {
      for (let c = 0; c < 5; c++) w1[(4 + r) * 5 + c] = mix[r].reduce((s, a, i) => s + a * w1[i * 5 + c], 0);
      b1[4 + r] = mix[r].reduce((s, a, i) => s + a * b1[i], 0);
    }
    b.init('conv1.weight', [6, 5, 1, 1], w1);
    b.init('conv1.bias', [6], b1);
    const y1 = b.node('Conv', [x, 'conv1.weight', 'conv1.bias'], { kernel_shape: [1, 1] }, 'conv1');
    const y2 = b.conv(y1, 6, 5, { k: 3, pad: 1, name: 'conv2' });
    b.output(y2, ['N', 5, 8, 8]);
    const file = b.save(path.join(dir, 'lin.onnx'));

    const calib = arrayInputSet('calib', [5, 8, 8], seededNormal(40 * 320, 1));
    const test1 = seededNormal(4 * 320, 2);
    const plan = { version: 1 as const, criterion: 'l1' as const, scope: 'uniform' as const, ratio: 0, overrides: { conv1: { keep: [0, 1, 2, 3] } } };
    const asCut = await pruneModel(file, plan, { out: path.join(dir, 'none.onnx'), recover: 'none', calibration: calib, ep: 'cpu' });
    const rec = await pruneModel(file, plan, { out: path.join(dir, 'ls.onnx'), recover: 'ls', calibration: calib, ep: 'cpu' });
    assert.deepEqual(rec.recovery.steps, ['ls']);
    const refit = rec.recovery.layers.filter((l) => l.step === 'ls' && l.status === 'refit').map((l) => l.name);
    assert.deepEqual(refit, ['conv2']);
    const want = await run(file, test1, [4, 5, 8, 8]);
    const cut = await run(asCut.output, test1, [4, 5, 8, 8]);
    const got = await run(rec.output, test1, [4, 5, 8, 8]);
    assert.deepEqual(got.dims, want.dims);
    assert.ok(maxAbsDiff(cut.data, want.data) > 0.1, 'cutting the channels must change the output (else the test proves nothing)');
    const err = maxAbsDiff(got.data, want.data);
    assert.ok(err < 1e-4, `reconstructed output differs by ${err} ${JSON.stringify(rec.recovery.layers)}`);
    const layer = rec.recovery.layers.find((l) => l.name === 'conv2')!;
    assert.ok(layer.errorAfter! < 1e-8 && layer.errorBefore! > 1e-3, JSON.stringify(layer));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('grouped and Gemm consumers are refit; depthwise per channel', async () => {
    const dir = tempDir();
    const b = new ModelBuilder({ seed: 9 });
    const x = b.input('x', ['N', 4, 6, 6]);
    let y = b.relu(b.conv(x, 4, 8, { k: 3, name: 'c1' }));
    y = b.relu(b.conv(y, 8, 8, { k: 3, group: 8, name: 'dw' }));
    y = b.relu(b.conv(y, 8, 8, { k: 1, pad: 0, name: 'c3' }));
    y = b.relu(b.conv(y, 8, 8, { k: 1, pad: 0, group: 2, name: 'g2' }));
    const out = b.gemm(b.flatten(b.gap(y)), 8, 3, 'fc');
    b.output(out, ['N', 3]);
    const file = b.save(path.join(dir, 'g.onnx'));
    const calib = arrayInputSet('calib', [4, 6, 6], seededNormal(64 * 144, 3));
    const plan = { version: 1 as const, criterion: 'l1' as const, scope: 'uniform' as const, ratio: 0.5 };
    const none = await pruneModel(file, plan, { out: path.join(dir, 'none.onnx'), recover: 'none', calibration: calib, ep: 'cpu' });
    const rec = await pruneModel(file, plan, { out: path.join(dir, 'ls.onnx'), recover: 'ls', calibration: calib, ep: 'cpu' });
    const refit = new Set(rec.recovery.layers.filter((l) => l.status === 'refit').map((l) => l.name));
    for (const n of ['dw', 'c3', 'g2', 'fc']) assert.ok(refit.has(n), `${n} refit: ${JSON.stringify(rec.recovery.layers)}`);
    const xs = seededNormal(16 * 144, 4);
    const want = await run(file, xs, [16, 4, 6, 6]);
    const a = await run(none.output, xs, [16, 4, 6, 6]);
    const r = await run(rec.output, xs, [16, 4, 6, 6]);
    assert.deepEqual(r.dims, want.dims);
    assert.ok(maxAbsDiff(r.data, want.data) < maxAbsDiff(a.data, want.data), 'reconstruction brings the output closer to the original');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  test('probes that start at the activations kept from the previous one give the same model as probes from the input', async () => {
    const dir = tempDir();
    // Two residual stages: the refit layers fall into several levels, and the later levels read a
    // residual input computed levels before (it must be kept across probes, not recomputed). Inputs
    // of 3×176×176 make the probes run in two batches (45 + 3), so the kept activations are
    // assembled from several batches.
    const b = new ModelBuilder({ seed: 21 });
    const x = b.input('x', ['N', 3, 176, 176]);
    let h = b.relu(b.bn(b.conv(x, 3, 8, { k: 4, stride: 16, pad: 0, name: 'stem' }), 8));
    for (let i = 0; i < 2; i++) {
      const a = b.relu(b.bn(b.conv(h, 8, 8, { k: 3, name: `b${i}.c1` }), 8));
      const c = b.bn(b.conv(a, 8, 8, { k: 3, name: `b${i}.c2` }), 8);
      h = b.relu(b.add(c, h));
    }
    const out = b.gemm(b.flatten(b.gap(h)), 8, 5, 'fc');
    b.output(out, ['N', 5]);
    const file = b.save(path.join(dir, 'res.onnx'));
    const calib = arrayInputSet('calib', [3, 176, 176], seededNormal(48 * 3 * 176 * 176, 6));
    const plan = { version: 1 as const, criterion: 'l1' as const, scope: 'uniform' as const, ratio: 0.5 };
    const kept = await pruneModel(file, plan, { out: path.join(dir, 'kept.onnx'), recover: 'ls', calibration: calib, ep: 'cpu' });
    const fromInput = await pruneModel(file, plan, { out: path.join(dir, 'input.onnx'), recover: 'ls', calibration: calib, ep: 'cpu', recoveryCutBytes: 0 });
    const refit = kept.recovery.layers.filter((l) => l.status === 'refit').map((l) => l.name);
    assert.ok(refit.length >= 4 && refit.includes('fc'), JSON.stringify(kept.recovery.layers));
    assert.deepEqual(refit, fromInput.recovery.layers.filter((l) => l.status === 'refit').map((l) => l.name));
    assert.ok(kept.recovery.passes >= 3, `several levels (${kept.recovery.passes} passes)`);
    const shape = [8, 3, 176, 176];
    const xs = seededNormal(8 * 3 * 176 * 176, 7);
    const want = await run(file, xs, shape);
    const a = await run(kept.output, xs, shape);
    const r = await run(fromInput.output, xs, shape);
    const none = await run((await pruneModel(file, plan, { out: path.join(dir, 'none.onnx'), recover: 'none', ep: 'cpu' })).output, xs, shape);
    assert.ok(maxAbsDiff(r.data, want.data) < maxAbsDiff(none.data, want.data), 'reconstruction helps (else the comparison proves little)');
    const d = maxAbsDiff(a.data, r.data);
    assert.ok(d < 1e-4 * Math.max(1, maxAbs(r.data)), `the two recovered models differ by ${d}`);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('BatchNorm recalibration', () => {
  test('an unpruned model whose stored statistics are those of the calibration inputs keeps them', async () => {
    const dir = tempDir();
    const N = 32;
    const xs = seededNormal(N * 3 * 5 * 5, 7).map((v, i) => v * (1 + (Math.floor(i / 25) % 3)) + 0.5);
    // True statistics of the BN's input (the model input itself), unbiased variance as PyTorch keeps.
    const C = 3;
    const mean = new Float64Array(C);
    const sq = new Float64Array(C);
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let i = 0; i < 25; i++) {
      const v = xs[(n * C + c) * 25 + i];
      mean[c] += v;
      sq[c] += v * v;
    }
    const cnt = N * 25;
    const m = Array.from(mean, (s) => s / cnt);
    const v = Array.from(sq, (s, c) => (s / cnt - m[c] * m[c]) * (cnt / (cnt - 1)));
    const build = (mean: number[], variance: number[], name: string): string => {
      const b = new ModelBuilder({ seed: 3 });
      const x = b.input('x', ['N', 3, 5, 5]);
      let y = b.relu(b.bn(x, 3, { name: 'bn1', mean, var: variance }));
      y = b.conv(y, 3, 4, { k: 1, pad: 0, name: 'c' });
      b.output(b.gap(y), ['N', 4, 1, 1]);
      return b.save(path.join(dir, name));
    };
    const model = loadModel(build(m, v, 'bn.onnx'));
    // The same model with wrong statistics, as the "pruned" model: recalibration must find the true ones.
    const wrong = loadModel(build([0, 0, 0], [1, 1, 1], 'wrong.onnx'));
    const calib = arrayInputSet('calib', [3, 5, 5], xs);
    // Nothing pruned (a plan must remove something): the recovery runs on the models as they are.
    for (const start of [model, wrong]) {
      const { model: out, report } = await recoverPruned({ model, graph: new Graph(model) }, start.proto, [], { mode: 'bn', calibration: calib, ep: 'cpu' });
      assert.deepEqual(report.layers.map((l) => [l.name, l.status]), [['bn1', 'refit']]);
      const g = new Graph({ ...model, proto: out });
      const gotMean = g.constantFloats(g.byName.get('bn1')!.input[3])!;
      const gotVar = g.constantFloats(g.byName.get('bn1')!.input[4])!;
      for (let c = 0; c < C; c++) {
        assert.ok(Math.abs(gotMean[c] - m[c]) < 1e-5, `mean ${c}: ${gotMean[c]} vs ${m[c]}`);
        assert.ok(Math.abs(gotVar[c] - v[c]) < 1e-5 * v[c], `var ${c}: ${gotVar[c]} vs ${v[c]}`);
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('after pruning, each BN gets the statistics of the recovered model (BNs before it recalibrated)', async () => {
    const dir = tempDir();
    const b = new ModelBuilder({ seed: 11 });
    const x = b.input('x', ['N', 3, 6, 6]);
    let y = b.relu(b.bn(b.conv(x, 3, 8, { k: 3, name: 'c1' }), 8, { name: 'bn1' }));
    const pre2 = b.conv(y, 8, 6, { k: 3, name: 'c2' });
    y = b.bn(pre2, 6, { name: 'bn2' });
    b.output(y, ['N', 6, 6, 6]);
    const file = b.save(path.join(dir, 'two.onnx'));
    const xs = seededNormal(24 * 108, 8);
    const plan = { version: 1 as const, criterion: 'l1' as const, scope: 'uniform' as const, ratio: 0.5 };
    const rep = await pruneModel(file, plan, { out: path.join(dir, 'r.onnx'), recover: 'bn', calibration: arrayInputSet('c', [3, 6, 6], xs), ep: 'cpu' });
    // bn2's input in the recovered model (bn1 recalibrated): its per-channel mean must be bn2's stored mean.
    const m = loadModel(rep.output);
    m.proto.graph!.output = [{ name: m.proto.graph!.node.find((n) => n.name === 'c2')!.output[0], type: { tensor_type: { elem_type: 1 } } } as never];
    const bytes = (await import('../../src/engine/onnx/proto.ts')).ModelProtoType.encode(m.proto as never).finish();
    const tmp = path.join(dir, 'probe.onnx');
    fs.writeFileSync(tmp, bytes);
    const out = await run(tmp, xs, [24, 3, 6, 6]);
    const means = channelMeans(out.data, out.dims);
    const stored = floatsOf(rep.output, 'bn2.running_mean');
    for (let c = 0; c < 6; c++) assert.ok(Math.abs(means[c] - stored[c]) < 1e-4 * (1 + Math.abs(means[c])), `bn2 mean ${c}: ${stored[c]} vs measured ${means[c]}`);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('measured bias correction', () => {
  test('every output channel of a corrected layer has the original mean on the calibration inputs', async () => {
    const dir = tempDir();
    const b = new ModelBuilder({ seed: 13 });
    const x = b.input('x', ['N', 3, 6, 6]);
    const y = b.relu(b.conv(x, 3, 8, { k: 3, name: 'c1' }));
    const out = b.conv(y, 8, 4, { k: 3, name: 'c2' });
    b.output(out, ['N', 4, 6, 6]);
    const file = b.save(path.join(dir, 'b.onnx'));
    const xs = seededNormal(30 * 108, 14);
    const calib = arrayInputSet('c', [3, 6, 6], xs);
    const plan = { version: 1 as const, criterion: 'l1' as const, scope: 'uniform' as const, ratio: 0.5 };
    const none = await pruneModel(file, plan, { out: path.join(dir, 'n.onnx'), recover: 'none', calibration: calib, ep: 'cpu' });
    const rep = await pruneModel(file, plan, { out: path.join(dir, 'r.onnx'), recover: 'bias', calibration: calib, ep: 'cpu' });
    assert.deepEqual(rep.recovery.steps, ['bias']);
    const want = channelMeans((await run(file, xs, [30, 3, 6, 6])).data, [30, 4, 6, 6]);
    const before = channelMeans((await run(none.output, xs, [30, 3, 6, 6])).data, [30, 4, 6, 6]);
    const after = channelMeans((await run(rep.output, xs, [30, 3, 6, 6])).data, [30, 4, 6, 6]);
    assert.ok(maxAbs(want.map((v, i) => v - before[i])) > 1e-2, 'pruning must shift the means (else the test proves nothing)');
    assert.ok(maxAbs(want.map((v, i) => v - after[i])) < 1e-4, `means after correction ${after} vs ${want}`);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('recovery: inputs and modes', () => {
  test('too few calibration inputs: the message says how many the method needs; nothing is written', async () => {
    const dir = tempDir();
    const b = new ModelBuilder({ seed: 2 });
    const x = b.input('x', ['N', 3, 4, 4]);
    b.output(b.conv(b.relu(b.bn(b.conv(x, 3, 4, { name: 'c1' }), 4, { name: 'bn' })), 4, 2, { name: 'c2' }), ['N', 2, 4, 4]);
    const file = b.save(path.join(dir, 'm.onnx'));
    const out = path.join(dir, 'out.onnx');
    const plan = { version: 1 as const, criterion: 'l1' as const, scope: 'uniform' as const, ratio: 0.5 };
    await assert.rejects(
      pruneModel(file, plan, { out, recover: 'bn', calibration: arrayInputSet('one.npy', [3, 4, 4], seededNormal(48, 1)), ep: 'cpu' }),
      (e: unknown) => e instanceof PrunerError && /one\.npy: --recover bn needs at least 2 calibration inputs, got 1/.test(e.message),
    );
    await assert.rejects(pruneModel(file, plan, { out, recover: 'ls', ep: 'cpu' }), (e: unknown) => e instanceof PrunerError && /needs calibration inputs/.test(e.message));
    assert.equal(fs.existsSync(out), false);
    // auto without data: data-free compensation only, and the report says so.
    const rep = await pruneModel(file, plan, { out, ep: 'cpu' });
    assert.deepEqual(rep.recovery.steps, ['compensation']);
    assert.match(rep.recovery.why, /no calibration inputs/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('activations that overflow float32 stop ls with the layer named; nothing is written', async () => {
    const dir = tempDir();
    const b = new ModelBuilder({ seed: 4 });
    const x = b.input('x', ['N', 3, 4, 4]);
    const y = b.conv(x, 3, 4, { k: 1, pad: 0, name: 'c1', weight: Float32Array.from({ length: 12 }, () => 3e38) });
    b.output(b.conv(y, 4, 2, { name: 'c2' }), ['N', 2, 4, 4]);
    const file = b.save(path.join(dir, 'm.onnx'));
    const out = path.join(dir, 'out.onnx');
    const plan = { version: 1 as const, criterion: 'l1' as const, scope: 'uniform' as const, ratio: 0.5 };
    const calib = arrayInputSet('calib', [3, 4, 4], seededNormal(8 * 48, 1).map((v) => Math.abs(v) + 1));
    await assert.rejects(
      pruneModel(file, plan, { out, recover: 'ls', calibration: calib, ep: 'cpu' }),
      (e: unknown) => e instanceof PrunerError && /^c2: .*overflow/.test(e.message),
    );
    assert.equal(fs.existsSync(out), false);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('cancelling during recovery leaves no file', async () => {
    const dir = tempDir();
    const b = new ModelBuilder({ seed: 2 });
    const x = b.input('x', ['N', 3, 8, 8]);
    b.output(b.conv(b.relu(b.bn(b.conv(x, 3, 8, { name: 'c1' }), 8, { name: 'bn' })), 8, 2, { name: 'c2' }), ['N', 2, 8, 8]);
    const file = b.save(path.join(dir, 'm.onnx'));
    const out = path.join(dir, 'out.onnx');
    const ac = new AbortController();
    const plan = { version: 1 as const, criterion: 'l1' as const, scope: 'uniform' as const, ratio: 0.5 };
    const p = pruneModel(file, plan, {
      out,
      recover: 'auto',
      calibration: arrayInputSet('c', [3, 8, 8], seededNormal(64 * 192, 1)),
      ep: 'cpu',
      signal: ac.signal,
      onProgress: (stage) => {
        if (stage.startsWith('recovery: reconstruction')) ac.abort();
      },
    });
    await assert.rejects(p, (e: unknown) => (e as Error).name === 'CancelledError');
    assert.deepEqual(fs.readdirSync(dir), ['m.onnx']);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('plan-time criteria', () => {
  /** x → c1 (3→6, 3×3) → relu → c2 (6→4) → output; c1's filter 2 always outputs 0 after the ReLU (bias −100). */
  function net(dir: string, opts: { deadChannel?: number; zeroConsumer?: number; duplicate?: [number, number] } = {}): string {
    const b = new ModelBuilder({ seed: 17 });
    const x = b.input('x', ['N', 3, 6, 6]);
    const w1 = Float32Array.from({ length: 6 * 27 }, () => b.random());
    const b1 = Float32Array.from({ length: 6 }, () => b.random() * 0.1);
    if (opts.deadChannel !== undefined) b1[opts.deadChannel] = -100;
    if (opts.duplicate) {
      const [a, d] = opts.duplicate;
      for (let i = 0; i < 27; i++) w1[a * 27 + i] = w1[d * 27 + i] = 3 * w1[a * 27 + i];
    }
    b.init('c1.weight', [6, 3, 3, 3], w1);
    b.init('c1.bias', [6], b1);
    const y = b.relu(b.node('Conv', [x, 'c1.weight', 'c1.bias'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'c1'));
    const w2 = Float32Array.from({ length: 4 * 6 * 9 }, () => b.random());
    if (opts.zeroConsumer !== undefined) for (let o = 0; o < 4; o++) for (let t = 0; t < 9; t++) w2[(o * 6 + opts.zeroConsumer) * 9 + t] = 0;
    b.init('c2.weight', [4, 6, 3, 3], w2);
    b.output(b.node('Conv', [y, 'c2.weight'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'c2'), ['N', 4, 6, 6]);
    return b.save(path.join(dir, 'crit.onnx'));
  }
  const calib = arrayInputSet('c', [3, 6, 6], seededNormal(16 * 108, 5));
  const removedBy = async (file: string, criterion: 'activation' | 'apoz' | 'thinet' | 'sketch' | 'l1', dir: string): Promise<number[]> => {
    const rep = await pruneModel(file, { version: 1, criterion, scope: 'uniform', ratio: 1 / 6 }, { out: path.join(dir, `${criterion}.onnx`), force: true, recover: 'none', calibration: calib, ep: 'cpu' });
    const kept = rep.layers.find((l) => l.name === 'c1')!.keptChannels;
    return [0, 1, 2, 3, 4, 5].filter((c) => !kept.includes(c));
  };

  test('activation and apoz remove a channel that is always zero after its ReLU', async () => {
    const dir = tempDir();
    const file = net(dir, { deadChannel: 2 });
    assert.deepEqual(await removedBy(file, 'activation', dir), [2]);
    assert.deepEqual(await removedBy(file, 'apoz', dir), [2]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('thinet removes the channel the next layer ignores', async () => {
    const dir = tempDir();
    const file = net(dir, { zeroConsumer: 4 });
    assert.deepEqual(await removedBy(file, 'thinet', dir), [4]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('sketch removes one of two identical filters (l1 keeps both: they are the largest)', async () => {
    const dir = tempDir();
    const file = net(dir, { duplicate: [1, 3] });
    const bySketch = await removedBy(file, 'sketch', dir);
    assert.equal(bySketch.length, 1);
    assert.ok(bySketch[0] === 1 || bySketch[0] === 3, `sketch removed ${bySketch}`);
    const byL1 = await removedBy(file, 'l1', dir);
    assert.ok(!byL1.includes(1) && !byL1.includes(3), `l1 removed ${byL1}`);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a data criterion without calibration inputs says what it needs', async () => {
    const dir = tempDir();
    const file = net(dir);
    await assert.rejects(
      pruneModel(file, { version: 1, criterion: 'apoz', scope: 'uniform', ratio: 0.5 }, { out: path.join(dir, 'o.onnx'), ep: 'cpu' }),
      (e: unknown) => e instanceof PrunerError && /criterion apoz is measured on calibration inputs/.test(e.message),
    );
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('kept activations', () => {
  test('a BatchedTensor serves its own batches without a copy and any other range assembled from them', () => {
    const t = new BatchedTensor([7, 2, 3]);
    const per = 6;
    const batches = [[0, 3], [3, 3], [6, 1]].map(([offset, count]) => ({ offset, data: Float32Array.from({ length: count * per }, (_, i) => offset * per + i) }));
    for (const b of batches) t.set(b.offset, b.data);
    assert.equal(t.bytes, 7 * per * 4);
    for (const b of batches) assert.equal(t.slice(b.offset, b.data.length / per), b.data, 'the kept array itself');
    for (const [offset, count] of [[0, 7], [2, 2], [1, 5], [6, 1], [5, 2]]) {
      const want = Float32Array.from({ length: count * per }, (_, i) => offset * per + i);
      assert.deepEqual(t.slice(offset, count), want, `inputs ${offset}…${offset + count - 1}`);
    }
  });
});

describe('least-squares linear algebra', () => {
  /** A symmetric positive definite n × n matrix: XᵀX of `rows` random rows plus a small ridge. */
  function spd(n: number, rows: number, seed: number): Float64Array {
    const x = seededNormal(rows * n, seed);
    const a = new Float64Array(n * n);
    for (let r = 0; r < rows; r++)
      for (let i = 0; i < n; i++) {
        const xi = x[r * n + i];
        for (let j = 0; j < n; j++) a[i * n + j] += xi * x[r * n + j];
      }
    for (let i = 0; i < n; i++) a[i * n + i] += 0.5;
    return a;
  }

  test('the blocked factorisation and solve (three blocks, the last partial) equal the unblocked ones; an indefinite matrix is refused', async () => {
    const n = 600;
    const o = 5;
    const a = spd(n, 150, 11);
    const l1 = Float64Array.from(a);
    const l2 = Float64Array.from(a);
    assert.equal(cholesky(l1, n), true);
    assert.equal(await choleskyBlocked(l2, n, 2), true);
    let d = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) d = Math.max(d, Math.abs(l1[i * n + j] - l2[i * n + j]));
    assert.ok(d < 1e-10, `factors differ by ${d}`);
    const rhs = Float64Array.from(seededNormal(n * o, 12));
    const x1 = Float64Array.from(rhs);
    const x2 = Float64Array.from(rhs);
    choleskySolve(l1, x1, n, o);
    await choleskySolveBlocked(l2, x2, n, o, 2);
    // A·x reproduces the right-hand side.
    let res = 0;
    for (let i = 0; i < n; i++)
      for (let c = 0; c < o; c++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += a[i * n + j] * x2[j * o + c];
        res = Math.max(res, Math.abs(s - rhs[i * o + c]));
      }
    assert.ok(res < 1e-8, `residual ${res}`);
    assert.ok(maxAbs(x1.map((v, i) => v - x2[i])) < 1e-10);
    // The factorisation hands the diagonal blocks' inverses to the solve: each is its block's inverse,
    // and the solve with them is the solve without.
    const l3 = Float64Array.from(a);
    const inverses: Float64Array[] = [];
    assert.equal(await choleskyBlocked(l3, n, 2, inverses), true);
    assert.deepEqual(inverses.map((v) => v.length), [256 * 256, 256 * 256, 88 * 88]);
    inverses.forEach((inv, bi) => {
      const p = Math.round(Math.sqrt(inv.length));
      const j0 = bi * 256;
      let e = 0;
      for (let i = 0; i < p; i++)
        for (let j = 0; j < p; j++) {
          let s = 0;
          for (let m = 0; m < p; m++) s += (m <= i ? l3[(j0 + i) * n + j0 + m] : 0) * inv[m * p + j];
          e = Math.max(e, Math.abs(s - (i === j ? 1 : 0)));
        }
      assert.ok(e < 1e-10, `block ${bi}: L·L⁻¹ differs from I by ${e}`);
    });
    const x3 = Float64Array.from(rhs);
    await choleskySolveBlocked(l3, x3, n, o, 2, inverses);
    assert.deepEqual(x3, x2);
    // A negative pivot in the second block: refused, like the unblocked loop.
    const bad = Float64Array.from(a);
    bad[300 * n + 300] = -1;
    assert.equal(cholesky(Float64Array.from(bad), n), false);
    assert.equal(await choleskyBlocked(bad, n, 2), false);
  });

  test('Gram products gathered for ONNX Runtime (full gatherings, a batch larger than the gathering, a partial one) equal the float64 sums', async () => {
    const k = 200;
    const o = 30;
    // Gathering of 100 rows (k + o = 230 floats a row): batches of 60, 60, 150 (too large to gather) and 45,
    // each large enough for ONNX Runtime (n·k·(k + o) ≥ 2·10⁶).
    const acc = new GramAccumulator(k, o, 100 * 4 * (k + o));
    const x = seededNormal(315 * k, 21);
    const y = seededNormal(315 * o, 22);
    const exact = new GramAccumulator(k, o, 0);
    let r0 = 0;
    for (const n of [60, 60, 150, 45]) {
      const xs = x.slice(r0 * k, (r0 + n) * k);
      const ys = y.slice(r0 * o, (r0 + n) * o);
      await acc.add(xs, ys, n, 2);
      xs.fill(NaN); // the caller may reuse its buffers
      ys.fill(NaN);
      r0 += n;
    }
    // The reference: the JavaScript float64 loop, row by row (each a product below the ONNX Runtime threshold).
    for (let r = 0; r < 315; r++) await exact.add(x.subarray(r * k, (r + 1) * k), y.subarray(r * o, (r + 1) * o), 1);
    const a = await acc.finish();
    const e = await exact.finish();
    assert.equal(acc.rows, 315);
    const rel = (u: Float64Array, v: Float64Array) => maxAbs(u.map((t, i) => t - v[i])) / maxAbs(v);
    assert.ok(rel(a.xtx, e.xtx) < 1e-5, `XᵀX differs by ${rel(a.xtx, e.xtx)}`);
    assert.ok(rel(a.xty, e.xty) < 1e-5, `XᵀY differs by ${rel(a.xty, e.xty)}`);
    for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) assert.equal(a.xtx[i * k + j], a.xtx[j * k + i]);
  });

  for (const k of [600, 1601]) {
    test(`Gram products of ${k} unknowns (by ${k < 1536 ? 'two' : 'four'} blocks of the columns in ONNX Runtime) equal the float64 sums`, async () => {
      const o = 7;
      const n = 40;
      const x = seededNormal(n * k, 31);
      const y = seededNormal(n * o, 32);
      const acc = new GramAccumulator(k, o);
      await acc.add(x, y, n, 2);
      const exact = new GramAccumulator(k, o, 0);
      for (let r = 0; r < n; r++) await exact.add(x.subarray(r * k, (r + 1) * k), y.subarray(r * o, (r + 1) * o), 1);
      const a = await acc.finish();
      const e = await exact.finish();
      const rel = (u: Float64Array, v: Float64Array) => maxAbs(u.map((t, i) => t - v[i])) / maxAbs(v);
      assert.ok(rel(a.xtx, e.xtx) < 1e-5, `XᵀX differs by ${rel(a.xtx, e.xtx)}`);
      assert.ok(rel(a.xty, e.xty) < 1e-5, `XᵀY differs by ${rel(a.xty, e.xty)}`);
      // every block, the lower-left one included (from the upper-right one)
      for (const [i, j] of [[3, 5], [5, 3], [10, 400], [400, 10], [450, 599], [599, 450], [0, k - 1], [k - 1, 0], [k - 1, k - 1]])
        assert.ok(Math.abs(a.xtx[i * k + j] - e.xtx[i * k + j]) < 1e-3, `(${i}, ${j})`);
    });
  }

  test('a rank-deficient large system is regularised (finite, pulled towards the prior)', async () => {
    const n = 600;
    const a = spd(n, 200, 13);
    for (let i = 0; i < n; i++) a[i * n + i] -= 0.5; // rank 200 of 600
    const b = Float64Array.from(seededNormal(n * 3, 14));
    const prior = new Float64Array(n * 3).fill(0.25);
    const r = await ridgeSolve(a, b, n, 3, 1e-9, [], prior, 2);
    assert.ok(r.w.every((v) => Number.isFinite(v)));
    assert.ok(r.lambda > 0);
  });
});
