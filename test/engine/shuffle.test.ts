// ShuffleNet v2: the channel split (Slice with bounds computed from Shape) and the channel shuffle
// (Reshape [N, g, C/g, H, W] → Transpose → Reshape, shapes computed from Shape/Gather/Div/Concat, as
// PyTorch exports them with a dynamic batch) are followed by the analysis and rewritten after pruning
// (the shuffle as a Gather with constant indices, the Slice with constant bounds).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { Graph } from '../../src/engine/graph/graph.ts';
import { computeCost } from '../../src/engine/graph/cost.ts';
import { loadModel } from '../../src/engine/onnx/model.ts';
import { analyzeDependencies } from '../../src/engine/analysis/groups.ts';
import { pruneModel, previewPrune } from '../../src/engine/prune/prune.ts';
import { parsePlan } from '../../src/engine/prune/plan.ts';
import { ModelBuilder } from '../helpers/modelBuilder.ts';
import { shared, skipWithoutShared, tempDir } from '../helpers/paths.ts';
import { runFirstOutput as run } from '../helpers/ort.ts';

/** γ (and β) vectors with zeros at `dead`: those channels output exactly 0 after the BN. */
function zeroAt(b: ModelBuilder, c: number, dead: number[]): { gamma: number[]; beta: number[] } {
  const gamma = Array.from({ length: c }, (_, i) => (dead.includes(i) ? 0 : 0.5 + Math.abs(b.random())));
  const beta = Array.from({ length: c }, (_, i) => (dead.includes(i) ? 0 : b.random() * 0.2));
  return { gamma, beta };
}

/** Scalar dimension `i` of x, computed in the graph (Shape → Gather with a scalar index). */
function dim(b: ModelBuilder, x: string, i: number): string {
  const shape = b.node('Shape', [x]);
  const idx = b.initTensor({ ...b.int64Tensor(`idx_${x}_${i}`, [i], []) });
  return b.node('Gather', [shape, idx], { axis: 0 });
}

function unsq(b: ModelBuilder, s: string): string {
  return b.node('Unsqueeze', [s, b.initInt64(`axes_${s}`, [0])]);
}

/** PyTorch's channel_shuffle(x, 2) as exported with a dynamic batch. */
function shuffle(b: ModelBuilder, x: string): string {
  const n = dim(b, x, 0);
  const c = dim(b, x, 1);
  const h = dim(b, x, 2);
  const w = dim(b, x, 3);
  const half = b.node('Cast', [b.node('Div', [c, b.initInt64(`two_${x}`, [2], [])])], { to: 7 });
  const shape5 = b.node('Concat', [unsq(b, n), b.initInt64(`g_${x}`, [2]), unsq(b, half), unsq(b, h), unsq(b, w)], { axis: 0 });
  const r = b.node('Reshape', [x, shape5]);
  const t = b.node('Transpose', [r], { perm: [0, 2, 1, 3, 4] });
  const shape4 = b.node('Concat', [unsq(b, n), b.initInt64(`m1_${x}`, [-1]), unsq(b, h), unsq(b, w)], { axis: 0 });
  return b.node('Reshape', [t, shape4]);
}

/** x.chunk(2, dim=1) as exported: Slice bounds computed from Shape. */
function chunk(b: ModelBuilder, x: string): [string, string] {
  const c = dim(b, x, 1);
  const mid = b.node('Div', [b.node('Add', [c, b.initInt64(`one_${x}`, [1], [])]), b.initInt64(`two2_${x}`, [2], [])]);
  const e1 = b.node('Mul', [mid, b.initInt64(`m1v_${x}`, [1])]);
  const e2 = b.node('Mul', [mid, b.initInt64(`m2v_${x}`, [2])]);
  const axes = b.initInt64(`ax_${x}`, [1]);
  return [b.node('Slice', [x, b.initInt64(`z_${x}`, [0]), e1, axes]), b.node('Slice', [x, e1, e2, axes])];
}

/** A two-unit ShuffleNet v2 (a down-sampling unit, a basic unit), channels with γ = β = 0 at the given indices. */
function miniShuffleNet(file: string, dead: Record<string, number[]> = {}): string {
  const b = new ModelBuilder({ opset: 13, seed: 5 });
  const bn = (x: string, c: number, name: string) => b.bn(x, c, { name, ...zeroAt(b, c, dead[name] ?? []) });
  const x = b.input('x', ['N', 3, 8, 8]);
  const stem = b.relu(bn(b.conv(x, 3, 8, { name: 'stem', bias: false }), 8, 'stem_bn'));
  // down-sampling unit: two branches, concatenated and shuffled
  let b1 = bn(b.conv(stem, 8, 8, { name: 'u1_b1_dw', group: 8, stride: 2, bias: false }), 8, 'u1_b1_dw_bn');
  b1 = b.relu(bn(b.conv(b1, 8, 8, { name: 'u1_b1_pw', k: 1, bias: false }), 8, 'u1_b1_pw_bn'));
  let b2 = b.relu(bn(b.conv(stem, 8, 8, { name: 'u1_b2_pw1', k: 1, bias: false }), 8, 'u1_b2_pw1_bn'));
  b2 = bn(b.conv(b2, 8, 8, { name: 'u1_b2_dw', group: 8, stride: 2, bias: false }), 8, 'u1_b2_dw_bn');
  b2 = b.relu(bn(b.conv(b2, 8, 8, { name: 'u1_b2_pw2', k: 1, bias: false }), 8, 'u1_b2_pw2_bn'));
  let h = shuffle(b, b.concat([b1, b2]));
  // basic unit: split, one branch, concatenated and shuffled
  const [x1, x2] = chunk(b, h);
  let c2 = b.relu(bn(b.conv(x2, 8, 8, { name: 'u2_pw1', k: 1, bias: false }), 8, 'u2_pw1_bn'));
  c2 = bn(b.conv(c2, 8, 8, { name: 'u2_dw', group: 8, bias: false }), 8, 'u2_dw_bn');
  c2 = b.relu(bn(b.conv(c2, 8, 8, { name: 'u2_pw2', k: 1, bias: false }), 8, 'u2_pw2_bn'));
  h = shuffle(b, b.concat([x1, c2]));
  h = b.relu(bn(b.conv(h, 16, 12, { name: 'conv5', k: 1, bias: false }), 12, 'conv5_bn'));
  b.output(b.gemm(b.flatten(b.gap(h)), 12, 5, 'fc'));
  return b.save(file);
}

function input(n: number): Float32Array {
  let a = 3;
  return Float32Array.from({ length: n }, () => {
    a = (a * 1103515245 + 12345) % 2147483648;
    return (a / 2147483648) * 4 - 2;
  });
}

describe('channel split and shuffle (ShuffleNet v2)', () => {
  test('the analysis follows computed Slice bounds and the shuffle: every group but the output is prunable', () => {
    const dir = tempDir();
    const g = new Graph(loadModel(miniShuffleNet(path.join(dir, 'shuffle.onnx'))));
    const deps = analyzeDependencies(g);
    const frozen = deps.groups.filter((x) => !x.prunable);
    assert.deepEqual(frozen.map((x) => x.layers), [['fc']]);
    assert.equal(deps.rewrites?.filter((r) => r.kind === 'shuffle').length, 2);
    assert.equal(deps.rewrites?.filter((r) => r.kind === 'slice').length, 2);
    // conv5 reads the second shuffle: one input-channel member per interleaved position run.
    const c5 = deps.groups.filter((x) => x.members.some((m) => m.node === 'conv5' && m.role === 'in'));
    assert.ok(c5.length >= 3, 'conv5 reads channels of several groups');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('pruning dead channels (γ = β = 0) on both sides of the shuffles is exact: output equal within 1e-5 in ONNX Runtime', async () => {
    const dir = tempDir();
    const dead = {
      stem_bn: [1, 5], u1_b1_dw_bn: [1, 5], u1_b1_pw_bn: [0, 6], u1_b2_pw1_bn: [3], u1_b2_dw_bn: [3],
      u1_b2_pw2_bn: [2, 7, 4], u2_pw1_bn: [0, 4], u2_dw_bn: [0, 4], u2_pw2_bn: [1, 2, 3], conv5_bn: [5],
    };
    const file = miniShuffleNet(path.join(dir, 'shuffle.onnx'), dead);
    const out = path.join(dir, 'shuffle.pruned.onnx');
    const report = await pruneModel(file, parsePlan({ version: 1, criterion: 'bn-gamma', threshold: 1e-6, scope: 'global' }), { out });
    const widths = Object.fromEntries(report.layers.map((l) => [l.name, l.channelsAfter]));
    assert.deepEqual(widths, { stem: 6, u1_b1_dw: 6, u1_b1_pw: 6, u1_b2_pw1: 7, u1_b2_dw: 7, u1_b2_pw2: 5, u2_pw1: 6, u2_dw: 6, u2_pw2: 5, conv5: 11 });
    const pruned = new Graph(loadModel(out));
    assert.equal(pruned.nodes.filter((n) => n.op_type === 'Transpose').length, 0, 'the shuffles became Gathers');
    assert.equal(pruned.nodes.filter((n) => n.op_type === 'Gather' && n.name?.endsWith('_channel_shuffle')).length, 2);
    const xIn = input(2 * 3 * 8 * 8);
    const yo = await run(file, xIn, [2, 3, 8, 8]);
    const yp = await run(out, xIn, [2, 3, 8, 8]);
    assert.deepEqual(yp.dims, yo.dims);
    let m = 0;
    for (let i = 0; i < yo.data.length; i++) m = Math.max(m, Math.abs(yo.data[i] - yp.data[i]));
    assert.ok(m < 1e-5, `max |Δ| ${m}`);
    assert.equal(report.params.after, computeCost(pruned).params);
    // The pruned model (its shuffles now Gathers) can be pruned again: the Gathers are followed too.
    const deps = analyzeDependencies(pruned);
    assert.deepEqual(deps.groups.filter((x) => !x.prunable).map((x) => x.layers), [['fc']]);
    assert.equal(deps.rewrites?.filter((r) => r.kind === 'gather').length, 2);
    const again = path.join(dir, 'again.onnx');
    await pruneModel(out, parsePlan({ version: 1, criterion: 'l1', ratio: 0.3, scope: 'uniform' }), { out: again });
    assert.deepEqual((await run(again, xIn, [2, 3, 8, 8])).dims, yo.dims);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('l1 uniform and global, 0.3 and 0.5: the pruned models run with the original output shape; the preview equals the file', async () => {
    const dir = tempDir();
    const file = miniShuffleNet(path.join(dir, 'shuffle.onnx'));
    const xIn = input(3 * 8 * 8);
    const yo = await run(file, xIn, [1, 3, 8, 8]);
    for (const scope of ['uniform', 'global'] as const) {
      for (const ratio of [0.3, 0.5]) {
        const plan = parsePlan({ version: 1, criterion: 'l1', ratio, scope });
        const out = path.join(dir, `s-${scope}-${ratio}.onnx`);
        const report = await pruneModel(file, plan, { out });
        assert.ok(report.params.after < report.params.before);
        const yp = await run(out, xIn, [1, 3, 8, 8]);
        assert.deepEqual(yp.dims, yo.dims);
        const p = await previewPrune(file, plan);
        assert.equal(p.preview.params.after, report.params.after, `${scope} ${ratio}: preview params`);
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('shared ShuffleNet v2 x1.0: l1 uniform and global 0.3 and 0.5 run in ONNX Runtime with the original output shape', { skip: skipWithoutShared }, async () => {
    const file = shared('synthetic/shufflenet_v2_x1_0_bn.onnx');
    const g = new Graph(loadModel(file));
    const deps = analyzeDependencies(g);
    const frozen = deps.groups.filter((x) => !x.prunable);
    assert.equal(deps.groups.length, 38);
    assert.deepEqual(frozen.map((x) => x.layers), [['/fc/Gemm']], 'only the classifier (graph output) is frozen');
    const dir = tempDir();
    const xIn = new Float32Array(fs.readFileSync(shared('synthetic/input_1x3x224x224_seed0.f32')).buffer.slice(0));
    for (const scope of ['uniform', 'global'] as const) {
      for (const ratio of [0.3, 0.5]) {
        const out = path.join(dir, `shufflenet-${scope}-${ratio}.onnx`);
        // A global ranking may leave one half of a channel split with no channel of its own: the plan
        // keeps that half's best channel, so every layer still reads at least one.
        const report = await pruneModel(file, parsePlan({ version: 1, criterion: 'l1', ratio, scope }), { out });
        assert.ok(report.params.after < report.params.before);
        const s = await ort.InferenceSession.create(out, { logSeverityLevel: 4 });
        const r = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', xIn, [1, 3, 224, 224]) });
        assert.deepEqual(r[s.outputNames[0]].dims, [1, 1000]);
        await s.release();
        fs.rmSync(out, { force: true });
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
