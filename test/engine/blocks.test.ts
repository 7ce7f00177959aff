// Whole residual blocks (Sparse Structure Selection): finding blocks, ranking them, removing those
// whose branch ends in a BatchNorm with γ = 0, and the pruned model running in ONNX Runtime with the
// original's output.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import * as ort from 'onnxruntime-node';
import { Graph } from '../../src/engine/graph/graph.ts';
import { computeCost } from '../../src/engine/graph/cost.ts';
import { loadModel } from '../../src/engine/onnx/model.ts';
import { findResidualBlocks, selectBlocks } from '../../src/engine/prune/blocks.ts';
import { pruneModel, previewPrune } from '../../src/engine/prune/prune.ts';
import { parsePlan } from '../../src/engine/prune/plan.ts';
import { ModelBuilder } from '../helpers/modelBuilder.ts';
import { repoRoot, shared, skipWithoutShared, tempDir } from '../helpers/paths.ts';

/**
 * stem → block A (identity shortcut, last BN γ = 0) → block B (projection 8→16, last BN γ = 0)
 * → block C (identity, γ normal) → GAP → Gemm. A and B are removable and constant; C is not.
 */
function blockNet(file: string): string {
  const b = new ModelBuilder({ opset: 13, seed: 3 });
  const x = b.input('x', ['N', 3, 8, 8]);
  let h = b.relu(b.bn(b.conv(x, 3, 8, { name: 'stem' }), 8, { name: 'stem_bn' }));
  const zero8 = new Array<number>(8).fill(0);
  const zero16 = new Array<number>(16).fill(0);
  // block A
  let a = b.relu(b.bn(b.conv(h, 8, 8, { name: 'a1' }), 8, { name: 'a1_bn' }));
  a = b.bn(b.conv(a, 8, 8, { name: 'a2' }), 8, { name: 'a2_bn', gamma: zero8 });
  h = b.relu(b.node('Add', [a, h], {}, 'blockA'));
  // block B: projection shortcut
  let br = b.relu(b.bn(b.conv(h, 8, 16, { name: 'b1' }), 16, { name: 'b1_bn' }));
  br = b.bn(b.conv(br, 16, 16, { name: 'b2' }), 16, { name: 'b2_bn', gamma: zero16 });
  const sc = b.bn(b.conv(h, 8, 16, { name: 'bproj', k: 1 }), 16, { name: 'bproj_bn' });
  h = b.relu(b.node('Add', [sc, br], {}, 'blockB'));
  // block C: a live branch
  let c = b.relu(b.bn(b.conv(h, 16, 16, { name: 'c1' }), 16, { name: 'c1_bn' }));
  c = b.bn(b.conv(c, 16, 16, { name: 'c2' }), 16, { name: 'c2_bn' });
  h = b.relu(b.node('Add', [h, c], {}, 'blockC'));
  const y = b.gemm(b.flatten(b.gap(h)), 16, 5, 'fc');
  b.output(y);
  return b.save(file);
}

async function runFile(file: string, x: Float32Array, dims: number[]): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(file, { logSeverityLevel: 4 });
  try {
    const r = await s.run({ x: new ort.Tensor('float32', x, dims) });
    return r[s.outputNames[0]].data as Float32Array;
  } finally {
    await s.release();
  }
}

function input(n: number): Float32Array {
  let a = 11;
  return Float32Array.from({ length: n }, () => {
    a = (a * 1103515245 + 12345) % 2147483648;
    return (a / 2147483648) * 4 - 2;
  });
}

describe('residual blocks', () => {
  test('finds the blocks of a model built in code, with shortcut kind, nodes and score', () => {
    const dir = tempDir();
    const g = new Graph(loadModel(blockNet(path.join(dir, 'blocks.onnx'))));
    const blocks = findResidualBlocks(g);
    assert.deepEqual(blocks.map((b) => b.name), ['blockA', 'blockB', 'blockC']);
    const [a, bb, c] = blocks;
    assert.equal(a.nodes.length, 5);
    assert.ok(a.nodes.includes('a1') && a.nodes.includes('a2_bn') && !a.nodes.includes('stem'));
    assert.equal(a.shortcut, 'identity');
    assert.equal(a.score, 0);
    assert.equal(bb.shortcut, 'projection');
    assert.ok(bb.nodes.includes('b2_bn') && !bb.nodes.includes('bproj') && !bb.nodes.includes('bproj_bn'), 'the projection stays');
    assert.equal(bb.score, 0);
    assert.ok(c.score > 0.1 && c.removable);
    assert.deepEqual(selectBlocks(blocks, { threshold: 1e-2 }).map((b) => b.name), ['blockA', 'blockB']);
    assert.deepEqual(selectBlocks(blocks, { count: 1 }).map((b) => b.name), ['blockA']);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('--remove-blocks removes exactly the γ = 0 blocks: nodes and parameters gone, output equal within 1e-5 in ONNX Runtime', async () => {
    const dir = tempDir();
    const file = blockNet(path.join(dir, 'blocks.onnx'));
    const original = new Graph(loadModel(file));
    const out = path.join(dir, 'blocks.pruned.onnx');
    const report = await pruneModel(file, parsePlan({ version: 1, criterion: 'bn-gamma', ratio: 0, removeBlocks: { threshold: 1e-2 } }), { out });
    assert.deepEqual(report.removedBlocks?.map((b) => b.name), ['blockA', 'blockB']);
    const pruned = new Graph(loadModel(out));
    const gone = ['a1', 'a1_bn', 'a2', 'a2_bn', 'b1', 'b1_bn', 'b2', 'b2_bn'];
    for (const n of gone) assert.ok(!pruned.byName.has(n), `${n} removed`);
    for (const n of ['stem', 'bproj', 'bproj_bn', 'c1', 'c2_bn', 'blockA', 'blockB', 'blockC', 'fc']) assert.ok(pruned.byName.has(n), `${n} kept`);
    // 5 nodes per branch removed (conv, bn, relu, conv, bn).
    assert.equal(pruned.nodes.length, original.nodes.length - 10);
    for (const t of ['a1.weight', 'a2_bn.weight', 'b1.weight', 'b2_bn.running_var']) assert.ok(!pruned.initializers.has(t), `${t} dropped`);
    // Parameters: the branch convs (weight + bias) and BNs (γ, β) go; the Adds get β as [1, C, 1, 1] constants (not parameters).
    const branchParams = 8 * 8 * 9 + 8 + 16 + 8 * 8 * 9 + 8 + 16 + 8 * 16 * 9 + 16 + 32 + 16 * 16 * 9 + 16 + 32;
    assert.equal(computeCost(pruned).params, computeCost(original).params - branchParams);
    assert.equal(report.params.before - report.params.after, branchParams);
    const constA = pruned.initializers.get(pruned.byName.get('blockA')!.input[0])!;
    assert.deepEqual(constA.dims.map(Number), [1, 8, 1, 1]);
    const xIn = input(2 * 3 * 8 * 8);
    const yo = await runFile(file, xIn, [2, 3, 8, 8]);
    const yp = await runFile(out, xIn, [2, 3, 8, 8]);
    let m = 0;
    for (let i = 0; i < yo.length; i++) m = Math.max(m, Math.abs(yo[i] - yp[i]));
    assert.ok(m < 1e-5, `max |Δ| ${m}`);
    // The preview counts the removed blocks.
    const p = await previewPrune(file, parsePlan({ version: 1, criterion: 'bn-gamma', ratio: 0, removeBlocks: { threshold: 1e-2 } }));
    assert.equal(p.preview.params.before - p.preview.params.after, branchParams);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('blocks and channels together: remove the weakest block, then prune channels 50%; runs in ONNX Runtime', async () => {
    const dir = tempDir();
    const file = blockNet(path.join(dir, 'blocks.onnx'));
    const out = path.join(dir, 'both.onnx');
    const report = await pruneModel(file, parsePlan({ version: 1, criterion: 'l1', ratio: 0.5, removeBlocks: { count: 1 } }), { out, validate: true, ep: 'cpu' });
    assert.deepEqual(report.removedBlocks?.map((b) => b.name), ['blockA']);
    assert.ok(report.layers.length > 0);
    assert.equal(report.params.after, computeCost(new Graph(loadModel(out))).params);
    assert.deepEqual(report.validation?.outputs[0].prunedShape, report.validation?.outputs[0].originalShape);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('plans: removeBlocks is validated, saved and read back', () => {
    assert.deepEqual(parsePlan({ version: 1, criterion: 'l1', ratio: 0, removeBlocks: { count: 2 } }).removeBlocks, { count: 2 });
    assert.throws(() => parsePlan({ version: 1, criterion: 'l1', ratio: 0, removeBlocks: { count: 0 } }), /removeBlocks/);
    assert.throws(() => parsePlan({ version: 1, criterion: 'l1', ratio: 0, removeBlocks: { threshold: 0.1, count: 2 } }), /removeBlocks/);
  });

  test('inspect --json ranks the blocks of the shared ResNet-18', { skip: skipWithoutShared }, () => {
    const cli = path.join(repoRoot, 'src', 'cli', 'main.ts');
    const json = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', cli, 'inspect', shared('synthetic/resnet18_bn.onnx'), '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 }));
    const blocks = json.blocks as { name: string; nodes: string[]; score: number; removable: boolean; shortcut: string }[];
    assert.equal(blocks.length, 8);
    assert.ok(blocks.every((b) => b.removable && b.nodes.length === 5));
    assert.equal(blocks.filter((b) => b.shortcut === 'projection').length, 3);
    for (let i = 1; i < blocks.length; i++) assert.ok(blocks[i - 1].score <= blocks[i].score, 'weakest first');
  });
});
