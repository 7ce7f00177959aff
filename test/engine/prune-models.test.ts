// Pruning real models end to end. Every pruned model is written, reloaded and run in ONNX Runtime.
//
// Covered:
//   - matrix: every model of the shared folder × every criterion (bn-gamma only where the model has
//     BatchNormalization) × uniform and global, at ratios 0.3 / 0.5 / 0.7 — except the three largest
//     models (resnet18, mobilenet_v2, shufflenet_v2), which run at 0.5 only. Each pruned model runs
//     at batch 1 with the original's output shapes; its parameter count (cost model on the reloaded
//     file) equals the plan preview's (plus the biases compensation had to create); the original's
//     bytes are unchanged (sha256). One analysis and one importance pass per model serve all its plans.
//   - Torch-Pruning reference (resnet18, mobilenet_v2, ratio 0.5): params and MACs after equal the
//     reference for bn-gamma and l1 uniform; the reference's kept channels, forced through per-layer
//     `overrides.keep`, give the reference's pruned output within 1e-4 for all 4 importances × 2 scopes.
//   - Fashion-MNIST (bundled sample): Network Slimming's threshold γ < 0.01 with and without compensation,
//     and global ratios 0.3 / 0.5 next to Torch-Pruning's accuracies.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { Graph } from '../../src/engine/graph/graph.ts';
import { computeCost } from '../../src/engine/graph/cost.ts';
import { loadModel } from '../../src/engine/onnx/model.ts';
import { saveModel } from '../../src/engine/onnx/save.ts';
import { analyzeDependencies } from '../../src/engine/analysis/groups.ts';
import { computeImportance } from '../../src/engine/analysis/importance.ts';
import { resolvePlan } from '../../src/engine/prune/plan.ts';
import { previewPlan } from '../../src/engine/prune/preview.ts';
import { pruneGraph } from '../../src/engine/prune/surgery.ts';
import { pruneModel } from '../../src/engine/prune/prune.ts';
import { CRITERIA, type PruningPlan } from '../../src/engine/prune/types.ts';
import { inputSpecsOf, randomInputs } from '../../src/engine/runtime/inputs.ts';
import { evaluateClassifier, readImagesAndLabels } from '../../src/engine/runtime/validate.ts';
import { allSharedModels, fmnistBn, samplesDir, shared, sharedModels, skipWithoutShared, tempDir } from '../helpers/paths.ts';

const BIG = new Set(['synthetic/resnet18_bn.onnx', 'synthetic/mobilenet_v2_bn.onnx', 'synthetic/shufflenet_v2_x1_0_bn.onnx']);
/** Sizes of symbolic input dims that are not the batch (PaddleOCR's classifier takes 3×48×192). */
const INPUT_DIMS: Record<string, number> = { 'p2o.DynamicDimension.0': 1, 'p2o.DynamicDimension.1': 48, 'p2o.DynamicDimension.2': 192 };

const sha256 = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

function readF32(file: string): Float32Array {
  return new Float32Array(Uint8Array.from(fs.readFileSync(file)).buffer);
}

async function outputs(file: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(file, { logSeverityLevel: 4, intraOpNumThreads: 1, graphOptimizationLevel: 'basic' });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

function feedsFor(graph: Graph): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(randomInputs(inputSpecsOf(graph), { seed: 1, dims: INPUT_DIMS }))) feeds[name] = new ort.Tensor('float32', t.data as Float32Array, t.dims);
  return feeds;
}

describe('prune matrix over the shared models', { skip: skipWithoutShared }, () => {
  const started = performance.now();
  let runs = 0;
  for (const rel of allSharedModels()) {
    test(rel, async (t) => {
      const file = shared(rel);
      const shaBefore = sha256(file);
      const model = loadModel(file);
      const graph = new Graph(model);
      const deps = analyzeDependencies(graph);
      const importance = await computeImportance(graph, deps);
      const cost = computeCost(graph);
      const feeds = feedsFor(graph);
      const ref = await outputs(file, feeds);
      const dir = tempDir();
      const criteria = CRITERIA.filter((c) => c !== 'bn-gamma' || importance.hasBn);
      const ratios = BIG.has(rel) ? [0.5] : [0.3, 0.5, 0.7];
      let prunedSomething = 0;
      try {
        for (const criterion of criteria)
          for (const scope of ['uniform', 'global'] as const)
            for (const ratio of ratios) {
              const label = `${criterion} ${scope} ${ratio}`;
              const plan: PruningPlan = { version: 1, criterion, scope, ratio };
              const resolved = resolvePlan(plan, deps, importance);
              const preview = previewPlan(graph, deps, resolved, cost);
              const r = pruneGraph(graph, deps, resolved, {});
              const out = path.join(dir, 'p.onnx');
              fs.rmSync(out, { force: true });
              await saveModel({ proto: r.model, dir: model.dir, path: model.path }, out);
              const pg = new Graph(loadModel(out));
              // The preview counts the biases compensation creates: the file has exactly its parameters and MACs.
              const pc = computeCost(pg);
              assert.equal(pc.params, preview.params.after, `${label}: parameters of the pruned file vs the preview`);
              assert.equal(pc.macs, preview.macs.after, `${label}: MACs of the pruned file vs the preview`);
              // No node added (the default compensation has no border correction); a channel shuffle becomes one
              // Gather and the shape arithmetic feeding it goes (ShuffleNet).
              const shuffles = r.layers.length ? (deps.rewrites ?? []).filter((x) => x.kind === 'shuffle').length : 0;
              if (shuffles === 0) assert.equal(pg.model.proto.graph!.node.length, model.proto.graph!.node.length, `${label}: node count`);
              else assert.ok(pg.model.proto.graph!.node.length < model.proto.graph!.node.length, `${label}: node count`);
              if (r.layers.length) prunedSomething++;
              const got = await outputs(out, feeds);
              for (const [name, v] of Object.entries(ref)) assert.deepEqual(got[name]?.dims, v.dims, `${label}: shape of output ${name}`);
              runs++;
            }
        assert.ok(prunedSomething > 0 || deps.groups.every((g) => !g.prunable), 'some plan pruned channels');
        t.diagnostic(`${criteria.length} criteria × 2 scopes × ${ratios.length} ratios; ${prunedSomething} plans removed channels; ${deps.groups.filter((g) => g.prunable).length}/${deps.groups.length} groups prunable`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      assert.equal(sha256(file), shaBefore, 'the original file is unchanged');
    });
  }
  test('matrix wall time', (t) => {
    t.diagnostic(`${runs} pruned models in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  });
});

/** PyTorch module path → the ONNX node name PyTorch 1.13 gives its Conv (`layer1.0.conv1` → `/layer1/layer1.0/conv1/Conv`). */
function onnxConvName(module: string): string {
  // Each module level is one segment; a numeric child is labelled with its parent's label.
  const segs: string[] = [];
  let cur = '';
  for (const part of module.split('.')) {
    cur = /^\d+$/.test(part) && cur ? `${cur}.${part}` : part;
    segs.push(cur);
  }
  return `/${segs.join('/')}/Conv`;
}

interface TpReference {
  params_after: number;
  macs_after: number;
  macs_before: number;
  kept_out_channel_indices: Record<string, number[]>;
}

/**
 * Convs of the reference whose kept indices mean something: Torch-Pruning records a depthwise conv's
 * kept channels as 0..n-1 (it renumbers them after pruning), so depthwise convs (group > 1) are left
 * out; their channels follow their group's first conv anyway.
 */
function referenceKept(arch: string, kept: Record<string, number[]>): Record<string, number[]> {
  const g = new Graph(loadModel(shared(`synthetic/${arch}_bn.onnx`)));
  const out: Record<string, number[]> = {};
  for (const [module, k] of Object.entries(kept)) {
    const node = g.byName.get(onnxConvName(module));
    assert.ok(node, `reference conv ${module} is ${onnxConvName(module)} in the ONNX file`);
    const group = node.attribute.find((a) => a.name === 'group');
    if (!group || Number(group.i) === 1) out[onnxConvName(module)] = k;
  }
  return out;
}

describe('Torch-Pruning reference', { skip: skipWithoutShared }, () => {
  const TP = (f: string) => shared(`reference/torch-pruning/${f}`);
  const input = () => new ort.Tensor('float32', readF32(shared('synthetic/input_1x3x224x224_seed0.f32')), [1, 3, 224, 224]);
  for (const arch of ['resnet18', 'mobilenet_v2']) {
    for (const [criterion, tp] of [['bn-gamma', 'bnscale'], ['l1', 'l1']] as const) {
      test(`${arch} ${criterion} uniform 0.5: params, MACs and output equal Torch-Pruning's`, async () => {
        const ref = JSON.parse(fs.readFileSync(TP(`${arch}__${tp}__uniform.json`), 'utf8')) as TpReference;
        const dir = tempDir();
        try {
          const r = await pruneModel(shared(`synthetic/${arch}_bn.onnx`), { version: 1, criterion, scope: 'uniform', ratio: 0.5, compensate: false }, { out: path.join(dir, 'p.onnx') });
          assert.equal(r.params.after, ref.params_after);
          if (arch === 'resnet18') assert.equal(r.macs.after, ref.macs_after);
          // The cost model counts mobilenet_v2's Clip (ReLU6) terms differently from Torch-Pruning's
          // counter: the same offset exists before pruning, so compare within 0.1%.
          else assert.ok(Math.abs(r.macs.after - ref.macs_after) / ref.macs_after < 1e-3, `${r.macs.after} vs ${ref.macs_after}`);
          const byName = new Map(r.layers.map((l) => [l.name, l.keptChannels]));
          const refKept = referenceKept(arch, ref.kept_out_channel_indices);
          let same = 0;
          for (const [name, kept] of Object.entries(refKept)) {
            // A conv the plan left whole is not in the report's layers: it kept every channel.
            const ours = byName.get(name) ?? Array.from({ length: kept.length }, (_, i) => i);
            if (ours.length === kept.length && ours.every((v, i) => v === kept[i])) same++;
          }
          const sameAll = same === Object.keys(refKept).length;
          if (sameAll) {
            const got = (await outputs(r.output, { input: input() })).output.data as Float32Array;
            const want = readF32(TP(`${arch}__${tp}__uniform.output.f32`));
            let d = 0;
            for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(got[i] - want[i]));
            assert.ok(d < 1e-4, `max |Δ| ${d} vs the reference output`);
          }
          assert.ok(sameAll, `kept channels equal the reference in ${same}/${Object.keys(refKept).length} convs`);
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      });
    }
    test(`${arch}: the reference's kept channels forced through overrides.keep give its output (4 importances × 2 scopes)`, async (t) => {
      const dir = tempDir();
      try {
        for (const tp of ['bnscale', 'l1', 'l1_first', 'fpgm'])
          for (const scope of ['uniform', 'global']) {
            const ref = JSON.parse(fs.readFileSync(TP(`${arch}__${tp}__${scope}.json`), 'utf8')) as TpReference;
            const overrides: Record<string, { keep: number[] }> = {};
            for (const [name, keep] of Object.entries(referenceKept(arch, ref.kept_out_channel_indices))) overrides[name] = { keep };
            // Any criterion: every pruned group is forced; the ratio only matters for groups without an override.
            const r = await pruneModel(shared(`synthetic/${arch}_bn.onnx`), { version: 1, criterion: 'l1', scope: 'uniform', ratio: 0, overrides, compensate: false }, { out: path.join(dir, `${tp}_${scope}.onnx`) });
            assert.equal(r.params.after, ref.params_after, `${tp} ${scope}: params`);
            const got = (await outputs(r.output, { input: input() })).output.data as Float32Array;
            const want = readF32(TP(`${arch}__${tp}__${scope}.output.f32`));
            let d = 0;
            for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(got[i] - want[i]));
            assert.ok(d < 1e-4, `${tp} ${scope}: max |Δ| ${d} vs the reference output`);
            t.diagnostic(`${tp} ${scope}: max |Δ| ${d.toExponential(2)}`);
            fs.rmSync(r.output, { force: true });
          }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('Fashion-MNIST sparse model: accuracy after pruning', () => {
  const { images, labels } = readImagesAndLabels(path.join(samplesDir, 'fmnist', 'fmnist_test1000_x_1000x1x28x28.f32'), path.join(samplesDir, 'fmnist', 'fmnist_test1000_y.u8'));
  const accuracy = async (file: string) => (await evaluateClassifier(file, images, labels, [1, 28, 28], { batch: 250 })).accuracy;

  test('--criterion bn-gamma --threshold 0.01: compensation keeps the accuracy; without it the accuracy drops', async (t) => {
    const dir = tempDir();
    try {
      const base = await accuracy(fmnistBn);
      const run = async (plan: PruningPlan, name: string) => {
        const r = await pruneModel(fmnistBn, plan, { out: path.join(dir, name) });
        return { r, acc: await accuracy(r.output) };
      };
      // The plain plan: a coupled channel goes only when |γ| < 0.01 in every BN of its group.
      const on = await run({ version: 1, criterion: 'bn-gamma', scope: 'global', threshold: 0.01 }, 'on.onnx');
      const off = await run({ version: 1, criterion: 'bn-gamma', scope: 'global', threshold: 0.01, compensate: false }, 'off.onnx');
      t.diagnostic(`unpruned ${base}; γ<0.01 in every BN of a group: params ${on.r.params.after}/${on.r.params.before}, with compensation ${on.acc}, without ${off.acc}`);
      // Those are exactly the channels whose |γ| stays below 0.01 in all the group's BNs.
      const keptOf = new Map(on.r.layers.map((l) => [l.name, l.keptChannels]));
      const g = new Graph(loadModel(fmnistBn));
      const deps = analyzeDependencies(g);
      for (const gr of deps.groups) {
        if (!gr.prunable || !gr.bnNodes.length) continue;
        const gammas = gr.bnNodes.map((bn) => g.constantFloats(g.byName.get(bn)!.input[1])!);
        const keep = Array.from({ length: gr.channels }, (_, c) => c).filter((c) => gammas.some((x) => Math.abs(x[c]) >= 0.01));
        assert.deepEqual(keptOf.get(gr.layers[0]) ?? Array.from({ length: gr.channels }, (_, c) => c), keep, `kept channels of ${gr.layers[0]}`);
      }
      assert.ok(Math.abs(on.acc - base) <= 0.005, `compensated accuracy ${on.acc} vs unpruned ${base}`);
      assert.ok(off.acc < on.acc - 0.02, `without compensation ${off.acc} should be clearly lower`);
      assert.ok(on.r.params.after < 0.7 * on.r.params.before);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('global ratios 0.3 and 0.5 (bn-gamma) next to Torch-Pruning', async (t) => {
    const tp = sharedModels ? (JSON.parse(fs.readFileSync(shared('trained/fmnist_bncnn_sparse.tp_results.json'), 'utf8')) as { importance: string; ratio: number; global: boolean; test_acc_after: number; params: number[] }[]) : [];
    const dir = tempDir();
    try {
      for (const ratio of [0.3, 0.5]) {
        const r = await pruneModel(fmnistBn, { version: 1, criterion: 'bn-gamma', scope: 'global', ratio }, { out: path.join(dir, `r${ratio}.onnx`) });
        const acc = await accuracy(r.output);
        const off = await pruneModel(fmnistBn, { version: 1, criterion: 'bn-gamma', scope: 'global', ratio, compensate: false }, { out: path.join(dir, `r${ratio}_off.onnx`) });
        const accOff = await accuracy(off.output);
        const ref = tp.find((x) => x.importance === 'bnscale' && x.ratio === ratio && x.global);
        t.diagnostic(`ratio ${ratio}: params ${r.params.after}, accuracy ${acc} with compensation, ${accOff} without; Torch-Pruning ${ref ? `${ref.test_acc_after} (params ${ref.params[1]})` : 'n/a'}`);
        if (ratio === 0.3) {
          // Most removed channels have |γ| < 0.01 here: compensation must help, and the model must stay usable.
          assert.ok(acc >= accOff, `compensation ${acc} vs none ${accOff}`);
          assert.ok(acc > 0.85 && acc >= (ref?.test_acc_after ?? 0.85) - 0.02, `ratio 0.3 accuracy ${acc}`);
        } else {
          // Half the channels, many with large γ: the network breaks without fine-tuning (Torch-Pruning too);
          // constants of the few small-γ channels cannot save it. Only its size is checked.
          assert.ok(r.params.after < 0.4 * r.params.before);
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

