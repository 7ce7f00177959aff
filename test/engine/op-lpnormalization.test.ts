// LpNormalization (F.normalize / l2_normalize as exported): it divides each vector along `axis` by its
// norm, so the channels pass through it unchanged unless that axis holds them. Known to the engine
// through its one entry in the operator registry; here a model built with it is analysed, pruned and
// run in ONNX Runtime.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Graph } from '../../src/engine/graph/graph.ts';
import { computeCost } from '../../src/engine/graph/cost.ts';
import { inferShapes } from '../../src/engine/graph/shapes.ts';
import { loadModel } from '../../src/engine/onnx/model.ts';
import { analyzeDependencies } from '../../src/engine/analysis/groups.ts';
import { pruneModel, previewPrune } from '../../src/engine/prune/prune.ts';
import { parsePlan } from '../../src/engine/prune/plan.ts';
import { ModelBuilder, prng } from '../helpers/modelBuilder.ts';
import { tempDir } from '../helpers/paths.ts';
import { maxAbsDiff, runFirstOutput as run } from '../helpers/ort.ts';

const DEAD = [1, 4, 6];

/**
 * x [N, 3, 8, 8] → conv a (8) → BN (γ = β = 0 at DEAD: those channels are exactly 0) → Relu →
 * LpNormalization (axis, p) → conv b (6) → BN → Relu → global pool → Gemm (4).
 */
function model(file: string, axis: number, p = 2): string {
  const b = new ModelBuilder({ opset: 13, seed: 11 });
  const x = b.input('x', ['N', 3, 8, 8]);
  const gamma = Array.from({ length: 8 }, (_, i) => (DEAD.includes(i) ? 0 : 0.5 + Math.abs(b.random())));
  const beta = Array.from({ length: 8 }, (_, i) => (DEAD.includes(i) ? 0 : b.random() * 0.2));
  const a = b.relu(b.bn(b.conv(x, 3, 8, { name: 'a', bias: false }), 8, { name: 'a_bn', gamma, beta }));
  const n = b.node('LpNormalization', [a], { axis, p }, 'norm');
  const c = b.relu(b.bn(b.conv(n, 8, 6, { name: 'b', bias: false }), 6, { name: 'b_bn' }));
  b.output(b.gemm(b.flatten(b.gap(c)), 6, 4, 'fc'));
  return b.save(file);
}

/** Seeded inputs in [-2, 2). */
function input(n: number): Float32Array {
  const r = prng(5);
  return Float32Array.from({ length: n }, () => r() * 4 - 2);
}

/** Parameters of the model with conv a keeping `a` channels and conv b keeping `c`. */
const params = (a: number, c: number) => a * 3 * 9 + 2 * a + c * a * 9 + 2 * c + c * 4 + 4;

describe('LpNormalization', () => {
  test('along the last axis the channels pass through: shape inferred, group prunable; along the channel axis the group is frozen, naming the node', () => {
    const dir = tempDir();
    const g = new Graph(loadModel(model(path.join(dir, 'w.onnx'), -1)));
    const shapes = inferShapes(g);
    assert.deepEqual(shapes.shapes.get(g.byName.get('norm')!.output[0]), ['N', 8, 8, 8]);
    assert.deepEqual(shapes.unsupportedOps, []);
    assert.equal(computeCost(g).params, params(8, 6));
    const a = analyzeDependencies(g).groups.find((x) => x.layers.includes('a'))!;
    assert.equal(a.prunable, true, a.reason);
    assert.ok(a.members.some((m) => m.node === 'b' && m.role === 'in'), 'conv b reads the group through the normalisation');

    const frozen = analyzeDependencies(new Graph(loadModel(model(path.join(dir, 'c.onnx'), 1)))).groups.find((x) => x.layers.includes('a'))!;
    assert.equal(frozen.prunable, false);
    assert.equal(frozen.reason, "LpNormalization 'norm' normalises across the channel axis");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const p of [1, 2]) {
    test(`p = ${p}: pruning the dead channels (γ = β = 0) through it is exact in ONNX Runtime; l1 at 0.5 runs with the original output shape and the preview's parameters`, async () => {
      const dir = tempDir();
      const file = model(path.join(dir, `lp${p}.onnx`), -1, p);
      const out = path.join(dir, `lp${p}.pruned.onnx`);
      const report = await pruneModel(file, parsePlan({ version: 1, criterion: 'bn-gamma', threshold: 1e-6, scope: 'global' }), { out });
      assert.deepEqual(Object.fromEntries(report.layers.map((l) => [l.name, l.channelsAfter])), { a: 5 }, 'only conv a loses channels');
      const pruned = new Graph(loadModel(out));
      assert.equal(pruned.nodes.filter((n) => n.op_type === 'LpNormalization').length, 1);
      assert.equal(report.params.after, params(5, 6));
      assert.equal(computeCost(pruned).params, params(5, 6));
      const xIn = input(2 * 3 * 8 * 8);
      const yo = await run(file, xIn, [2, 3, 8, 8]);
      const yp = await run(out, xIn, [2, 3, 8, 8]);
      assert.deepEqual(yp.dims, [2, 4]);
      assert.ok(yo.data.every(Number.isFinite));
      const d = maxAbsDiff(yo.data, yp.data);
      assert.ok(d < 1e-5, `max |Δ| ${d}`);

      const plan = parsePlan({ version: 1, criterion: 'l1', ratio: 0.5, scope: 'uniform' });
      const half = path.join(dir, `lp${p}.half.onnx`);
      const r2 = await pruneModel(file, plan, { out: half });
      assert.deepEqual(Object.fromEntries(r2.layers.map((l) => [l.name, l.channelsAfter])), { a: 4, b: 3 });
      assert.equal(r2.params.after, params(4, 3));
      assert.equal((await previewPrune(file, plan)).preview.params.after, r2.params.after);
      const yh = await run(half, xIn, [2, 3, 8, 8]);
      assert.deepEqual(yh.dims, [2, 4]);
      assert.ok(yh.data.every(Number.isFinite));
      fs.rmSync(dir, { recursive: true, force: true });
    });
  }
});
