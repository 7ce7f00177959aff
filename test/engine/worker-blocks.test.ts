// Whole residual blocks from the view, as the worker does them: the blocks of the held model ranked
// by γ, then measured on the calibration data chosen in the view (each removed alone, run in ONNX
// Runtime); a plan naming blocks previewed (parameters and MACs without them, their layers at 0
// channels) and pruned from the held model: the blocks' nodes are gone and, the removed block having
// γ = 0, the output equals the original's within 1e-5 in ONNX Runtime.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { loadModel } from '../../src/engine/index.ts';
import { seededNormal } from '../../src/engine/runtime/inputs.ts';
import type { HandlerContext } from '../../src/shared/rpc.ts';
import { parseViewPlan, VIEW_VALIDATORS, type ViewPlan } from '../../src/shared/protocol.ts';
import { workerHandlers } from '../../src/worker/handlers.ts';
import type { DataJob } from '../../src/worker/protocol.ts';
import { scoredBlockNet } from '../helpers/blockNets.ts';
import { f32Bytes, writeNpy } from '../helpers/npy.ts';
import { maxAbsDiff, runFirstOutput } from '../helpers/ort.ts';
import { tempDir } from '../helpers/paths.ts';

const ctx = (progress: [string, number | undefined][] = []): HandlerContext => ({ signal: new AbortController().signal, progress: (s, f) => progress.push([s, f]) });

describe('worker: residual blocks listed, measured, previewed and removed (the view\'s blocks)', () => {
  const dir = tempDir();
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const model = scoredBlockNet(path.join(dir, 'net.onnx'));
  const calib = path.join(dir, 'calib.npy');
  writeNpy(calib, '<f4', [24, 3, 8, 8], f32Bytes(seededNormal(24 * 192, 3)));
  const data: DataJob = { preset: 'auto', recover: 'none', calibCount: 24, runs: 1, batch: 4, calibration: calib };
  const h = workerHandlers();
  const plan: ViewPlan = { criterion: 'l1', scope: 'uniform', ratio: 0, removeBlocks: { names: ['blockA'] } };

  test('the summary counts the blocks; getBlocks ranks them by γ, then by the data measured', async () => {
    const summary = await h.open({ path: model }, ctx());
    assert.equal(summary.blockCount, 3);
    assert.equal(summary.removableBlockCount, 3);
    const byGamma = await h.getBlocks({ path: model, measure: false, data, ep: 'cpu' }, ctx());
    assert.deepEqual(byGamma.blocks.map((b) => b.name), ['blockA', 'blockC', 'blockB']);
    assert.equal(byGamma.measured, undefined);
    // two 8×8×3×3 convolutions with bias, and two BNs' scale and bias (as the model's parameters are counted)
    assert.ok(byGamma.blocks.every((b) => b.params === 2 * (8 * 8 * 9 + 8) + 2 * 2 * 8 && b.nodes === 5 && b.removable));
    const progress: [string, number | undefined][] = [];
    const measured = await h.getBlocks({ path: model, measure: true, data, ep: 'cpu' }, ctx(progress));
    assert.ok(progress.some(([s]) => /Blocks: without blockB/.test(s)));
    assert.equal(measured.measured?.inputs, 24);
    const a = measured.blocks.find((b) => b.name === 'blockA')!;
    const b = measured.blocks.find((x) => x.name === 'blockB')!;
    assert.equal(a.data?.loss, 0);
    assert.ok(a.data!.drift < 1e-5 && b.data!.drift > 0.1, `drift A ${a.data?.drift}, B ${b.data?.drift}`);
    assert.equal(measured.blocks[0].name, 'blockA');
    // asked again without measuring, on the same data: the scores stay
    const again = await h.getBlocks({ path: model, measure: false, data, ep: 'cpu' }, ctx());
    assert.deepEqual(again.blocks.map((x) => x.data?.drift), measured.blocks.map((x) => x.data?.drift));
    await assert.rejects(async () => h.getBlocks({ path: model, measure: true, data: { ...data, calibration: undefined }, ep: 'cpu' }, ctx()), /measuring the blocks needs calibration data/);
  });

  test('the preview counts a removed block: its parameters and MACs go, its layers show 0 channels', async () => {
    await h.score({ path: model }, ctx());
    const none = await h.previewPlan({ path: model, plan: { ...plan, removeBlocks: undefined, ratio: 0.25 } }, ctx());
    const blocks = await h.getBlocks({ path: model, measure: false }, ctx());
    const pv = await h.previewPlan({ path: model, plan }, ctx());
    const a = blocks.blocks.find((b) => b.name === 'blockA')!;
    assert.equal(pv.params.before, none.params.before);
    // the branch's parameters go (the β constant the Add reads is not a layer's parameter)
    assert.equal(pv.params.after, pv.params.before - a.params);
    assert.ok(pv.macs.after < pv.macs.before);
    assert.deepEqual(pv.removedBlocks, ['blockA']);
    assert.deepEqual(pv.layers.filter((l) => l.channelsAfter === 0).map((l) => l.name).sort(), ['blockA1', 'blockA2']);
  });

  test('Prune with a block removed prunes the held model: nodes gone, output within 1e-5 of the original in ONNX Runtime', async () => {
    const out = path.join(dir, 'net.pruned.onnx');
    const report = await h.prune({ path: model, plan, out, validate: false, ep: 'cpu' }, ctx());
    assert.deepEqual(report.removedBlocks?.map((b) => b.name), ['blockA']);
    const nodes = new Set(loadModel(out).proto.graph!.node.map((n) => n.name));
    for (const n of ['blockA1', 'blockA1_bn', 'blockA2', 'blockA2_bn']) assert.ok(!nodes.has(n), `${n} removed`);
    assert.ok(nodes.has('blockB1') && nodes.has('blockC2'));
    const x = seededNormal(3 * 192, 8);
    const y0 = await runFirstOutput(model, x, [3, 3, 8, 8]);
    const y1 = await runFirstOutput(out, x, [3, 3, 8, 8]);
    assert.deepEqual(y1.dims, [3, 5]);
    assert.ok(maxAbsDiff(y0.data, y1.data) < 1e-5, `max |Δ| ${maxAbsDiff(y0.data, y1.data)}`);
  });

  test('the view\'s plan names blocks; other forms and malformed names are refused', () => {
    assert.deepEqual(parseViewPlan(plan)?.removeBlocks, { names: ['blockA'] });
    assert.equal(parseViewPlan({ ...plan, removeBlocks: { count: 1 } }), undefined);
    assert.equal(parseViewPlan({ ...plan, removeBlocks: { names: ['a', 'a'] } }), undefined);
    assert.equal(parseViewPlan({ ...plan, removeBlocks: { names: [''] } }), undefined);
    assert.equal(parseViewPlan({ ...plan, removeBlocks: { names: ['a'], extra: 1 } }), undefined);
    assert.deepEqual(VIEW_VALIDATORS.getBlocks({ measure: true, path: '/etc/passwd' }), { measure: true });
    assert.equal(VIEW_VALIDATORS.getBlocks({ measure: 'yes' }), undefined);
  });
});
