// Residual blocks ranked from data: each block removed alone and run in ONNX Runtime on calibration
// inputs. A block whose branch BN has γ = 0 changes nothing; a live block changes the output; the
// CLI (inspect --calib, prune --remove-blocks N --block-ranking data) reports and uses the ranking.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as ort from 'onnxruntime-node';
import { AnalysedModel } from '../../src/engine/analysed-model.ts';
import { arrayInputSet } from '../../src/engine/data/types.ts';
import { openInputSet } from '../../src/engine/data/open.ts';
import { seededNormal } from '../../src/engine/runtime/inputs.ts';
import { scanBlocks, weakestBlocksByData } from '../../src/engine/target/block-scan.ts';
import { blockRanking, findResidualBlocks } from '../../src/engine/prune/blocks.ts';
import { pruneModel } from '../../src/engine/prune/prune.ts';
import { parsePlan } from '../../src/engine/prune/plan.ts';
import { scoredBlockNet as scoredNet } from '../helpers/blockNets.ts';
import { repoRoot, sharedModels, tempDir } from '../helpers/paths.ts';

const inputs = (n: number) => arrayInputSet('x', [3, 8, 8], seededNormal(n * 192, 4));

describe('residual blocks ranked from data', () => {
  test('a γ = 0 block scores no change; a strong block scores more than a weak one; the ranking follows', async () => {
    const dir = tempDir();
    const model = AnalysedModel.load(scoredNet(path.join(dir, 'net.onnx')));
    const scan = await scanBlocks(model, inputs(32), { ep: 'cpu' });
    assert.equal(scan.inputs, 32);
    assert.deepEqual(Object.keys(scan.scores).sort(), ['blockA', 'blockB', 'blockC']);
    const { blockA: a, blockB: bb, blockC: c } = scan.scores;
    assert.equal(a.loss, 0);
    assert.equal(a.agreement, 1);
    assert.ok(a.drift < 1e-5, `γ = 0 block drift ${a.drift}`);
    assert.ok(bb.drift > 2 * c.drift && c.drift > 1e-4, `drifts: strong ${bb.drift}, weak ${c.drift}`);
    const ranked = blockRanking(findResidualBlocks(model.graph), scan.scores);
    assert.deepEqual(ranked.map((r) => r.name), ['blockA', 'blockC', 'blockB']);
    assert.deepEqual(ranked[0].data, a);
    assert.deepEqual(weakestBlocksByData(model, scan, 2), ['blockA', 'blockC']);
  });

  test('a plan naming blocks removes exactly them; the model runs in ONNX Runtime with the original\'s output when γ = 0', async () => {
    const dir = tempDir();
    const file = scoredNet(path.join(dir, 'net.onnx'));
    const out = path.join(dir, 'net.pruned.onnx');
    const report = await pruneModel(file, parsePlan({ version: 1, criterion: 'l1', ratio: 0, removeBlocks: { names: ['blockA'] } }), { out });
    assert.deepEqual(report.removedBlocks?.map((b) => b.name), ['blockA']);
    const x = seededNormal(2 * 192, 9);
    const run = async (f: string) => {
      const s = await ort.InferenceSession.create(f, { logSeverityLevel: 4 });
      try {
        return { y: (await s.run({ x: new ort.Tensor('float32', x, [2, 3, 8, 8]) }))[s.outputNames[0]].data as Float32Array, s };
      } finally {
        await s.release();
      }
    };
    const a = await run(file);
    const b = await run(out);
    for (let i = 0; i < a.y.length; i++) assert.ok(Math.abs(a.y[i] - b.y[i]) < 1e-5, `output ${i}: ${a.y[i]} vs ${b.y[i]}`);
    const { loadModel } = await import('../../src/engine/onnx/model.ts');
    const names = new Set(loadModel(out).proto.graph!.node.map((n) => n.name));
    for (const n of ['blockA1', 'blockA1_bn', 'blockA2', 'blockA2_bn']) assert.ok(!names.has(n), `${n} removed`);
    assert.ok(names.has('blockC1') && names.has('blockB2'));
    await assert.rejects(pruneModel(file, parsePlan({ version: 1, criterion: 'l1', ratio: 0, removeBlocks: { names: ['stem'] } }), { out: path.join(dir, 'x.onnx') }), /"stem", which is not a residual block/);
    assert.throws(() => parsePlan({ version: 1, criterion: 'l1', ratio: 0, removeBlocks: { names: ['a', 'a'] } }), /removeBlocks/);
  });

  const calib = sharedModels && path.join(sharedModels, 'trained', 'fmnist_train_calib1000_x.npy');
  const skipFmnist = !sharedModels ? 'shared models folder (../shared/models) not present: skipped' : !fs.existsSync(calib!) ? 'fmnist calibration arrays absent: skipped' : false;

  test('Fashion-MNIST ResNet: inspect --calib ranks the six blocks by data; the data pick loses less than the γ pick', { skip: skipFmnist }, async () => {
    const model = path.join(sharedModels!, 'trained', 'fmnist_resnet_bn.onnx');
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'main.ts'), 'inspect', model, '--calib', calib!, '--calib-count', '64', '--ep', 'cpu', '--json'], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const json = JSON.parse(r.stdout) as { blocks: { name: string; score: number; data?: { loss: number; drift: number } }[]; blockScan: { inputs: number } };
    assert.equal(json.blockScan.inputs, 64);
    assert.equal(json.blocks.length, 6);
    assert.ok(json.blocks.every((b) => b.data && b.data.drift > 0));
    for (let i = 1; i < json.blocks.length; i++) {
      const [p, q] = [json.blocks[i - 1].data!, json.blocks[i].data!];
      assert.ok(p.loss < q.loss || (p.loss === q.loss && p.drift <= q.drift), 'weakest first by loss, then drift');
    }
    // The weakest block by γ and by data, each removed alone, on held-out test inputs: the data pick agrees more with the original.
    const byGamma = [...json.blocks].sort((a, b) => a.score - b.score)[0].name;
    const byData = json.blocks[0].name;
    assert.notEqual(byGamma, byData, 'on this model the two rankings differ');
    const test = await openInputSet(path.join(sharedModels!, 'trained', 'fmnist_test1000_x.npy'), { labels: path.join(sharedModels!, 'trained', 'fmnist_test1000_y.npy'), maxCount: 300 });
    const m = AnalysedModel.load(model);
    const scan = await scanBlocks(m, test, { count: 300, ep: 'cpu' });
    assert.ok(scan.baselineAccuracy! > 0.9);
    assert.ok(scan.scores[byData].accuracy! > scan.scores[byGamma].accuracy! + 0.1, `accuracy without ${byData} ${scan.scores[byData].accuracy}, without ${byGamma} ${scan.scores[byGamma].accuracy}`);
  });

  test('prune --remove-blocks 1 --block-ranking data removes the data-weakest block; the plan names it; the model runs', { skip: skipFmnist }, () => {
    const dir = tempDir();
    const model = path.join(sharedModels!, 'trained', 'fmnist_resnet_bn.onnx');
    const out = path.join(dir, 'r.onnx');
    const plan = path.join(dir, 'plan.json');
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'main.ts'), 'prune', model, '--remove-blocks', '1', '--block-ranking', 'data', '--calib', calib!, '--recover', 'none', '--out', out, '--save-plan', plan, '--validate', '--ep', 'cpu', '--json'], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as { removedBlocks: { name: string; data?: { loss: number } }[]; validation: { outputs: { shape: number[] }[] }; params: { before: number; after: number } };
    assert.equal(rep.removedBlocks.length, 1);
    assert.ok(rep.removedBlocks[0].data, 'the removed block carries its data score');
    assert.ok(rep.params.after < rep.params.before);
    const saved = JSON.parse(fs.readFileSync(plan, 'utf8')) as { removeBlocks: { names: string[] } };
    assert.deepEqual(saved.removeBlocks, { names: [rep.removedBlocks[0].name] });
    const bad = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'main.ts'), 'prune', model, '--remove-blocks', '1', '--block-ranking', 'data', '--dry-run'], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--block-ranking data needs --calib/);
  });
});
