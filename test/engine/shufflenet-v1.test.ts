// ShuffleNet v1: grouped 1×1 convolutions (g = 3) fed by a channel shuffle. A grouped convolution
// reading a shuffled tensor keeps valid weights when every group of it loses the same weight columns:
// the analysis ties the channels the shuffle brings to one column of every group (a fold of the
// channel space), so each group of the grouped convolution loses the same number of channels and the
// shuffle, rewritten as a Gather, stays valid. Pruned models run in ONNX Runtime; dead channels pruned
// exactly give the original's output.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Graph } from '../../src/engine/graph/graph.ts';
import { computeCost } from '../../src/engine/graph/cost.ts';
import { loadModel, tensorDims } from '../../src/engine/onnx/model.ts';
import { analyzeDependencies } from '../../src/engine/analysis/groups.ts';
import { pruneModel } from '../../src/engine/prune/prune.ts';
import { parsePlan } from '../../src/engine/prune/plan.ts';
import { seededNormal } from '../../src/engine/runtime/inputs.ts';
import { ModelBuilder } from '../helpers/modelBuilder.ts';
import { tempDir } from '../helpers/paths.ts';
import { maxAbsDiff, runFirstOutput as run } from '../helpers/ort.ts';

const G = 3;

/** Scalar dimension `i` of x, computed in the graph (Shape → Gather with a scalar index). */
function dim(b: ModelBuilder, x: string, i: number): string {
  const shape = b.node('Shape', [x]);
  const idx = b.initTensor({ ...b.int64Tensor(`idx_${x}_${i}`, [i], []) });
  return b.node('Gather', [shape, idx], { axis: 0 });
}
const unsq = (b: ModelBuilder, s: string) => b.node('Unsqueeze', [s, b.initInt64(`axes_${s}`, [0])]);

/** PyTorch's channel_shuffle(x, 3) as exported with a dynamic batch (shapes computed from Shape). */
function shuffle(b: ModelBuilder, x: string): string {
  const n = dim(b, x, 0);
  const c = dim(b, x, 1);
  const h = dim(b, x, 2);
  const w = dim(b, x, 3);
  const per = b.node('Cast', [b.node('Div', [c, b.initInt64(`g_div_${x}`, [G], [])])], { to: 7 });
  const shape5 = b.node('Concat', [unsq(b, n), b.initInt64(`g_${x}`, [G]), unsq(b, per), unsq(b, h), unsq(b, w)], { axis: 0 });
  const t = b.node('Transpose', [b.node('Reshape', [x, shape5])], { perm: [0, 2, 1, 3, 4] });
  const shape4 = b.node('Concat', [unsq(b, n), b.initInt64(`m1_${x}`, [-1]), unsq(b, h), unsq(b, w)], { axis: 0 });
  return b.node('Reshape', [t, shape4]);
}

/** γ and β with zeros at `dead` (those channels output exactly 0 after the BN, whatever the input). */
function bnZero(b: ModelBuilder, x: string, c: number, name: string, dead: number[] = []): string {
  const gamma = Array.from({ length: c }, (_, i) => (dead.includes(i) ? 0 : 0.5 + Math.abs(b.random())));
  const beta = Array.from({ length: c }, (_, i) => (dead.includes(i) ? 0 : b.random() * 0.2));
  return b.bn(x, c, { name, gamma, beta });
}

/**
 * stem (3→12) → unit 1 (Add, identity shortcut): gconv1 g=3 12→36, BN, ReLU, shuffle, dw 3×3, BN,
 * gconv2 g=3 36→12, BN, + x, ReLU → unit 2 (Concat with AvgPool shortcut, stride 2): gconv1 12→36,
 * shuffle, dw stride 2, gconv2 36→12, concat(avgpool(x), branch), ReLU → GAP → Gemm 24→5.
 * `dead` names BNs and their channels with γ = β = 0.
 */
function shuffleNetV1(file: string, dead: Record<string, number[]> = {}): string {
  const b = new ModelBuilder({ opset: 13, seed: 7 });
  const bn = (x: string, c: number, name: string) => bnZero(b, x, c, name, dead[name]);
  const x = b.input('x', ['N', 3, 8, 8]);
  let h = b.relu(bn(b.conv(x, 3, 12, { name: 'stem', bias: false }), 12, 'stem_bn'));
  // unit 1
  let u = b.relu(bn(b.conv(h, 12, 36, { name: 'u1_g1', k: 1, group: G, bias: false }), 36, 'u1_g1_bn'));
  u = shuffle(b, u);
  u = bn(b.conv(u, 36, 36, { name: 'u1_dw', group: 36, bias: false }), 36, 'u1_dw_bn');
  u = bn(b.conv(u, 36, 12, { name: 'u1_g2', k: 1, group: G, bias: false }), 12, 'u1_g2_bn');
  h = b.relu(b.node('Add', [h, u], {}, 'u1_add'));
  // unit 2: stride 2, concatenated with the average-pooled input
  let v = b.relu(bn(b.conv(h, 12, 36, { name: 'u2_g1', k: 1, group: G, bias: false }), 36, 'u2_g1_bn'));
  v = shuffle(b, v);
  v = bn(b.conv(v, 36, 36, { name: 'u2_dw', group: 36, stride: 2, bias: false }), 36, 'u2_dw_bn');
  v = bn(b.conv(v, 36, 12, { name: 'u2_g2', k: 1, group: G, bias: false }), 12, 'u2_g2_bn');
  const pool = b.node('AveragePool', [h], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, 'u2_pool');
  h = b.relu(b.concat([pool, v]));
  b.output(b.gemm(b.flatten(b.gap(h)), 24, 5, 'fc'));
  return b.save(file);
}

const weightDims = (file: string, node: string) => {
  const g = new Graph(loadModel(file));
  return tensorDims(g.initializers.get(g.byName.get(node)!.input[1])!);
};

describe('ShuffleNet v1: grouped 1×1 convolutions fed by a channel shuffle', () => {
  test('the analysis: the shuffled space is prunable in 9-channel steps (3 groups × 3 shuffle groups), the grouped convolutions keep their groups', () => {
    const dir = tempDir();
    const deps = analyzeDependencies(new Graph(loadModel(shuffleNetV1(path.join(dir, 'v1.onnx')))));
    const mid = deps.groups.find((g) => g.layers.includes('u1_g1'))!;
    assert.ok(mid.prunable, mid.reason);
    assert.equal(mid.fold, 9);
    assert.equal(mid.channels, 4);
    assert.ok(mid.layers.includes('u1_dw'));
    const mid2 = deps.groups.find((g) => g.layers.includes('u2_g1'))!;
    assert.ok(mid2.prunable, mid2.reason);
    const trunk = deps.groups.find((g) => g.layers.includes('stem'))!;
    assert.ok(trunk.prunable, trunk.reason);
    assert.ok(trunk.layers.includes('u1_g2'));
  });

  test('dead channels of the shuffled space pruned exactly: output within 1e-5 in ONNX Runtime, widths and groups as planned', async () => {
    const dir = tempDir();
    // one tied class of unit 1's shuffled space (channels ≡ 1 mod 4), dead in both of its BNs
    const cls = Array.from({ length: 9 }, (_, k) => 1 + 4 * k);
    // after the shuffle, position p holds channel (p mod 3)·12 + ⌊p / 3⌋
    const shuffled = Array.from({ length: 36 }, (_, p) => p).filter((p) => cls.includes((p % 3) * 12 + Math.floor(p / 3)));
    const file = shuffleNetV1(path.join(dir, 'v1.onnx'), { u1_g1_bn: cls, u1_dw_bn: shuffled });
    const out = path.join(dir, 'v1.pruned.onnx');
    const report = await pruneModel(file, parsePlan({ version: 1, criterion: 'bn-gamma', scope: 'global', threshold: 1e-6 }), { out });
    assert.deepEqual(weightDims(out, 'u1_g1'), [27, 4, 1, 1]);
    assert.deepEqual(weightDims(out, 'u1_dw'), [27, 1, 3, 3]);
    assert.deepEqual(weightDims(out, 'u1_g2'), [12, 9, 1, 1]);
    const g = new Graph(loadModel(out));
    assert.equal(g.byName.get('u1_g2')!.attribute.find((a) => a.name === 'group')!.i?.toString(), '3');
    assert.equal(g.byName.get('u1_dw')!.attribute.find((a) => a.name === 'group')!.i?.toString(), '27');
    assert.ok(g.order.some((n) => n.op_type === 'Gather' && n.output[0] === new Graph(loadModel(file)).byName.get('u1_dw')!.input[0]), 'the shuffle is a Gather');
    const before = computeCost(new Graph(loadModel(file))).params;
    assert.equal(report.params.before, before);
    assert.equal(report.params.after, before - 9 * (4 + 2) - 9 * (9 + 2) - 12 * 3 * 1);
    const x = seededNormal(2 * 192, 5);
    const a = await run(file, x, [2, 3, 8, 8]);
    const p = await run(out, x, [2, 3, 8, 8]);
    assert.deepEqual(p.dims, [2, 5]);
    assert.ok(maxAbsDiff(a.data, p.data) < 1e-5, `max |Δ| ${maxAbsDiff(a.data, p.data)}`);
  });

  test('l1 uniform and global 0.5 prune every group and run in ONNX Runtime with the original\'s output shape', async () => {
    const dir = tempDir();
    const file = shuffleNetV1(path.join(dir, 'v1.onnx'));
    for (const scope of ['uniform', 'global'] as const) {
      const out = path.join(dir, `v1.${scope}.onnx`);
      const report = await pruneModel(file, parsePlan({ version: 1, criterion: 'l1', scope, ratio: 0.5 }), { out, validate: true, ep: 'cpu' });
      assert.ok(report.params.after < report.params.before);
      const w = weightDims(out, 'u1_g2');
      assert.equal(w[1] * 3, weightDims(out, 'u1_dw')[0], 'the grouped convolution reads the depthwise output in 3 equal groups');
      assert.equal(weightDims(out, 'u1_g1')[0] % 3, 0);
      assert.ok(report.validation!.outputs[0].comparable);
      const y = await run(out, seededNormal(192, 1), [1, 3, 8, 8]);
      assert.deepEqual(y.dims, [1, 5]);
    }
  });
});
