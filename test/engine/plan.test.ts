// Plan validation, resolution (uniform / global / threshold, rounding, exclusions, overrides,
// grouped convs) and the size/compute preview, on hand-made groups and on the shared models.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel, modelFromBuffer } from '../../src/engine/onnx/model.ts';
import { ModelProtoType } from '../../src/engine/onnx/proto.ts';
import { Graph } from '../../src/engine/graph/graph.ts';
import { computeCost } from '../../src/engine/graph/cost.ts';
import { analyzeDependencies } from '../../src/engine/analysis/groups.ts';
import { computeImportance, type ModelImportance, type Scores } from '../../src/engine/analysis/importance.ts';
import type { ChannelGroup, DependencyAnalysis } from '../../src/engine/analysis/types.ts';
import { parsePlan, patternMatcher, resolvePlan, serializePlan, topChannels } from '../../src/engine/prune/plan.ts';
import { previewPlan } from '../../src/engine/prune/preview.ts';
import { applyPlan } from '../../src/engine/prune/surgery.ts';
import type { PruningPlan } from '../../src/engine/prune/types.ts';
import { PrunerError } from '../../src/engine/errors.ts';
import { ModelBuilder } from '../helpers/modelBuilder.ts';
import { allSharedModels, shared, skipWithoutShared, tempDir } from '../helpers/paths.ts';
import { moduleName } from '../helpers/torchNames.ts';

/** Hand-made groups with given scores (same values for every criterion unless given). */
function fixture(spec: { layer: string; scores: number[]; gamma?: number[] | null; divisor?: number; prunable?: boolean }[]): { deps: DependencyAnalysis; imp: ModelImportance } {
  const groups: ChannelGroup[] = [];
  const impGroups = new Map<number, { id: number; channels: number; scores: Scores; firstLayer?: string }>();
  const layers = new Map();
  spec.forEach((s, id) => {
    const C = s.scores.length;
    groups.push({ id, channels: C, members: [], layers: [s.layer], bnNodes: s.gamma === null ? [] : [`${s.layer}_bn`], prunable: s.prunable ?? true, reason: s.prunable === false ? `${s.layer}: graph output` : undefined, values: [], divisor: s.divisor });
    const v = Float32Array.from(s.scores);
    const scores: Scores = { l1: v, l2: v, fpgm: v };
    if (s.gamma !== null) scores['bn-gamma'] = Float32Array.from(s.gamma ?? s.scores);
    impGroups.set(id, { id, channels: C, scores, firstLayer: s.layer });
    layers.set(s.layer, { name: s.layer, op: 'Conv', channels: C, group: id, bnFused: false, scores: { ...scores, l1: Float32Array.from(s.scores, (x, i) => (i % 2 ? x : -x)) } });
  });
  return {
    deps: { groups, groupOfLayer: new Map(spec.map((s, i) => [s.layer, i])) },
    imp: { layers, groups: impGroups, hasBn: true, advice: [], criteria: ['bn-gamma', 'l1', 'l2', 'fpgm'], ms: 0 },
  };
}

const plan = (p: Partial<PruningPlan>): PruningPlan => ({ version: 1, criterion: 'l1', scope: 'uniform', ratio: 0.5, ...p });
const keptOf = (r: { kept: Map<number, number[]> }, id: number, C: number) => r.kept.get(id) ?? Array.from({ length: C }, (_, i) => i);

describe('plan resolution', () => {
  const ten = [5, 1, 9, 3, 7, 2, 8, 0, 6, 4];

  test('uniform ratio keeps the best floor(C·(1−r)) channels of every group', () => {
    const { deps, imp } = fixture([{ layer: 'A', scores: ten }, { layer: 'B', scores: [4, 3, 2, 1] }]);
    const r = resolvePlan(plan({ ratio: 0.5 }), deps, imp);
    assert.deepEqual(r.kept.get(0), [0, 2, 4, 6, 8]);
    assert.deepEqual(r.kept.get(1), [0, 1]);
    assert.deepEqual(resolvePlan(plan({ ratio: 0.3 }), deps, imp).kept.get(0), [0, 2, 4, 6, 8, 9, 3].sort((a, b) => a - b));
    assert.equal(resolvePlan(plan({ ratio: 0 }), deps, imp).kept.size, 0, 'ratio 0 changes nothing');
  });

  test('roundTo keeps a multiple (never above the width); minChannels; never a whole group', () => {
    const { deps, imp } = fixture([{ layer: 'A', scores: ten }, { layer: 'B', scores: [4, 3, 2, 1] }]);
    let r = resolvePlan(plan({ ratio: 0.5, roundTo: 4 }), deps, imp);
    assert.equal(r.kept.get(0)!.length, 8);
    assert.equal(r.kept.has(1), false, 'B: 2 rounded up to 4 = its width');
    r = resolvePlan(plan({ ratio: 0.95 }), deps, imp);
    assert.equal(r.kept.get(0)!.length, 1);
    assert.deepEqual(r.kept.get(0), [2]);
    r = resolvePlan(plan({ ratio: 0.95, minChannels: 3 }), deps, imp);
    assert.deepEqual(r.kept.get(0), [2, 4, 6]);
    assert.equal(r.kept.get(1)!.length, 3);
    r = resolvePlan(plan({ ratio: 0.99, minChannels: 6 }), deps, imp);
    assert.equal(r.kept.has(1), false, 'minChannels above the width keeps the whole group');
  });

  test('global ratio: one ranking, each group its own ratio; normalisation by the group mean', () => {
    const { deps, imp } = fixture([{ layer: 'A', scores: [1, 2, 3, 4] }, { layer: 'B', scores: [10, 20, 30, 40] }]);
    let r = resolvePlan(plan({ scope: 'global', ratio: 0.5, normalize: false }), deps, imp);
    assert.deepEqual(r.kept.get(0), [3], 'A loses everything but its minimum');
    assert.equal(r.kept.has(1), false);
    r = resolvePlan(plan({ scope: 'global', ratio: 0.5 }), deps, imp); // l1: normalised by default
    assert.deepEqual(r.kept.get(0), [2, 3]);
    assert.deepEqual(r.kept.get(1), [2, 3]);
    r = resolvePlan(plan({ criterion: 'bn-gamma', scope: 'global', ratio: 0.25 }), deps, imp); // bn-gamma: raw by default
    assert.deepEqual(r.kept.get(0), [0, 1, 2, 3].slice(2), '2 lowest γ of all are both in A');
    assert.equal(r.kept.has(1), false);
  });

  test('threshold: remove channels scoring below it (raw γ, or relative to the group mean for norms); scope does not matter', () => {
    const { deps, imp } = fixture([{ layer: 'A', scores: [1, 2, 3, 4] }, { layer: 'B', scores: [10, 20, 30, 40] }]);
    const t = resolvePlan({ version: 1, criterion: 'bn-gamma', scope: 'global', threshold: 2.5 }, deps, imp);
    assert.deepEqual(t.kept.get(0), [2, 3]);
    assert.equal(t.kept.has(1), false);
    const u = resolvePlan({ version: 1, criterion: 'bn-gamma', scope: 'uniform', threshold: 2.5 }, deps, imp);
    assert.deepEqual([...u.kept], [...t.kept]);
    const n = resolvePlan({ version: 1, criterion: 'l1', scope: 'global', threshold: 1 }, deps, imp); // score/mean >= 1
    assert.deepEqual(n.kept.get(0), [2, 3]);
    assert.deepEqual(n.kept.get(1), [2, 3]);
    const all = resolvePlan({ version: 1, criterion: 'bn-gamma', scope: 'global', threshold: 1000, minChannels: 2 }, deps, imp);
    assert.deepEqual(all.kept.get(1), [2, 3], 'a threshold above everything still keeps minChannels');
  });

  test('bn-gamma threshold on a coupled group: a channel goes only when |γ| is below it in every BN (max); ratios rank by the mean', async () => {
    // conv1 → bn1 → relu ─┬─ conv2 → bn2 ─ Add → relu → conv3 → GAP: bn1 and bn2 share their channels.
    const b = new ModelBuilder({ seed: 3 });
    const x = b.input('x', [1, 3, 8, 8]);
    const g1 = [0.015, 0.5, 0.001, 0.4, 0.002, 0.6];
    const g2 = [0.001, 0.5, 0.001, 0.4, 0.009, 0.6];
    const a = b.relu(b.bn(b.conv(x, 3, 6, { k: 1, name: 'conv1' }), 6, { name: 'bn1', gamma: g1 }));
    const y = b.bn(b.conv(a, 6, 6, { k: 1, name: 'conv2' }), 6, { name: 'bn2', gamma: g2 });
    const z = b.conv(b.relu(b.add(y, a)), 6, 4, { k: 1, name: 'conv3' });
    b.output(b.gap(z), [1, 4, 1, 1]);
    const graph = new Graph(modelFromBuffer(b.toBuffer(), 'coupled.onnx'));
    const deps = analyzeDependencies(graph);
    const imp = await computeImportance(graph, deps);
    const gid = deps.groupOfLayer.get('conv1')!;
    assert.equal(deps.groupOfLayer.get('conv2'), gid, 'conv1 and conv2 are coupled');
    // Channel 0: mean 0.008 < 0.01 but 0.015 in bn1: kept. Channels 2 and 4: below in both: removed.
    const t = resolvePlan({ version: 1, criterion: 'bn-gamma', scope: 'global', threshold: 0.01 }, deps, imp);
    assert.deepEqual(t.kept.get(gid), [0, 1, 3, 5]);
    assert.ok(t.warnings.some((w) => /1 coupled channel\(s\) kept/.test(w)), t.warnings.join('; '));
    // A ratio ranks by the mean (Torch-Pruning's BNScaleImportance): the three lowest means are channels 2, 4 and 0.
    const r = resolvePlan({ version: 1, criterion: 'bn-gamma', scope: 'uniform', ratio: 0.5 }, deps, imp);
    assert.deepEqual(r.kept.get(gid), [1, 3, 5]);
  });

  test('grouped convolution: equal removal per block, best channels of each block', () => {
    const { deps, imp } = fixture([{ layer: 'G', scores: [1, 9, 8, 2, 7, 3, 4, 6], divisor: 2 }]);
    const r = resolvePlan(plan({ ratio: 0.5 }), deps, imp);
    assert.deepEqual(r.kept.get(0), [1, 2, 4, 7]);
    const g = resolvePlan(plan({ ratio: 0.6 }), deps, imp); // floor(3.2)=3, rounded up to a multiple of 2
    assert.equal(g.kept.get(0)!.length, 4);
    assert.deepEqual(topChannels([1, 9, 8, 2, 7, 3, 4, 6], 2, 2), [1, 4]);
  });

  test('exclude by glob or /regex/ leaves the group whole; a pattern matching nothing is a warning', () => {
    const { deps, imp } = fixture([{ layer: '/layer1/conv1/Conv', scores: [1, 2, 3, 4] }, { layer: '/layer2/conv1/Conv', scores: [1, 2, 3, 4] }]);
    let r = resolvePlan(plan({ exclude: ['/layer1/*'] }), deps, imp);
    assert.deepEqual([...r.kept.keys()], [1]);
    r = resolvePlan(plan({ exclude: ['/layer2\\/conv\\d/'] }), deps, imp);
    assert.deepEqual([...r.kept.keys()], [0]);
    r = resolvePlan(plan({ exclude: ['nothing*'] }), deps, imp);
    assert.equal(r.kept.size, 2);
    assert.deepEqual(r.warnings, ['exclude pattern nothing* matches no prunable layer']);
    assert.equal(patternMatcher('a?c')('abc'), true);
    assert.equal(patternMatcher('a?c')('abbc'), false);
    assert.equal(patternMatcher('/CONV/i')('/x/conv'), true);
  });

  test('overrides: a ratio or exact indices per layer; the global ranking goes on without that group', () => {
    const { deps, imp } = fixture([{ layer: 'A', scores: ten }, { layer: 'B', scores: [4, 3, 2, 1] }]);
    let r = resolvePlan(plan({ overrides: { A: { ratio: 0.8 }, B: { keep: [3, 1] } } }), deps, imp);
    assert.deepEqual(r.kept.get(0), [2, 6]);
    assert.deepEqual(r.kept.get(1), [1, 3]);
    r = resolvePlan(plan({ scope: 'global', ratio: 0.5, overrides: { A: { ratio: 0 } } }), deps, imp);
    assert.equal(r.kept.has(0), false);
    assert.deepEqual(r.kept.get(1), [0, 1]);
    // an override beats an exclusion
    r = resolvePlan(plan({ exclude: ['*'], overrides: { B: { keep: [0] } } }), deps, imp);
    assert.deepEqual([...r.kept], [[1, [0]]]);
  });

  test('groupScore "first" ranks by the first layer\'s own scores', () => {
    const { deps, imp } = fixture([{ layer: 'A', scores: [1, 2, 3, 4] }]);
    // the fixture's layer L1 negates even indices: [-1, 2, -3, 4]
    assert.deepEqual(resolvePlan(plan({}), deps, imp, { groupScore: 'first' }).kept.get(0), [1, 3]);
    assert.deepEqual(resolvePlan(plan({}), deps, imp).kept.get(0), [2, 3]);
  });

  test('bn-gamma on a group without BN: left whole with a warning; an override on it is an error', () => {
    const { deps, imp } = fixture([{ layer: 'A', scores: [1, 2, 3, 4], gamma: null }, { layer: 'B', scores: [1, 2, 3, 4] }]);
    const r = resolvePlan(plan({ criterion: 'bn-gamma' }), deps, imp);
    assert.deepEqual([...r.kept.keys()], [1]);
    assert.match(r.warnings[0], /^A: no BatchNormalization γ for its channels; left whole$/);
    assert.throws(() => resolvePlan(plan({ criterion: 'bn-gamma', overrides: { A: { ratio: 0.5 } } }), deps, imp), /override for A: criterion bn-gamma has no score for it \(no BatchNormalization/);
  });

  test('frozen groups are never pruned', () => {
    const { deps, imp } = fixture([{ layer: 'A', scores: [1, 2, 3, 4], prunable: false }]);
    assert.equal(resolvePlan(plan({}), deps, imp).kept.size, 0);
    assert.throws(() => resolvePlan(plan({ overrides: { A: { keep: [0] } } }), deps, imp), /plan overrides layer A, whose channels cannot be pruned: A: graph output/);
  });

  test('bad plans are PrunerErrors with one-line messages naming the problem', () => {
    const { deps, imp } = fixture([{ layer: 'A', scores: [1, 2, 3, 4] }, { layer: 'B', scores: [1, 2, 3, 4], divisor: 2 }]);
    deps.groupOfLayer.set('A2', 0);
    deps.groups[0].layers.push('A2');
    const bad: [Partial<PruningPlan> | Record<string, unknown>, RegExp][] = [
      [{ criterion: 'taylor' }, /unknown criterion "taylor"/],
      [{ ratio: 1 }, /ratio 1 is outside \[0, 1\)/],
      [{ ratio: -0.1 }, /ratio -0.1 is outside/],
      [{ ratio: 0.5, threshold: 0.1 }, /exactly one of ratio and threshold/],
      [{ ratio: undefined }, /exactly one of ratio and threshold/],
      [{ threshold: -1, ratio: undefined }, /threshold -1 must be a number >= 0/],
      [{ scope: 'layer' }, /unknown scope "layer"/],
      [{ version: 2 }, /unsupported plan version 2/],
      [{ roundTo: 0 }, /roundTo 0 must be an integer >= 1/],
      [{ minChannels: 1.5 }, /minChannels 1.5 must be an integer >= 1/],
      [{ exclude: ['/(/'] }, /exclude pattern \/\(\/ is not a valid regular expression/],
      [{ overrides: { nope: { ratio: 0.5 } } }, /plan names unknown layer nope/],
      [{ overrides: { A: { keep: [] } } }, /override for A keeps 0 channels/],
      [{ overrides: { A: { keep: [0, 4] } } }, /override for A: channel 4 is out of range \(the layer has 4\)/],
      [{ overrides: { A: { keep: [1, 1] } } }, /override keep for A lists a channel twice/],
      [{ overrides: { A: { keep: [-1] } } }, /must be a list of channel indices/],
      [{ overrides: { A: { ratio: 0.5, keep: [1] } } }, /override for A needs exactly one of ratio and keep/],
      [{ overrides: { A: { ratio: 1.5 } } }, /override ratio for A 1.5 is outside \[0, 1\)/],
      [{ overrides: { A: { ratio: 0.5 }, A2: { ratio: 0.25 } } }, /overrides A and A2 differently, but they share their channels/],
      [{ overrides: { B: { keep: [0, 1, 2] } } }, /grouped convolution must keep the same number of channels in each of its 2 groups/],
    ];
    for (const [p, re] of bad) {
      assert.throws(
        () => resolvePlan(plan(p as Partial<PruningPlan>), deps, imp),
        (e: unknown) => e instanceof PrunerError && re.test(e.message) && !e.message.includes('\n'),
        `expected ${re} for ${JSON.stringify(p)}`,
      );
    }
  });

  test('parsePlan validates a loaded document; serializePlan round-trips', () => {
    const p: PruningPlan = { version: 1, criterion: 'bn-gamma', scope: 'global', ratio: 0.6, roundTo: 8, minChannels: 4, exclude: ['/fc/*'], overrides: { A: { keep: [0, 2] }, B: { ratio: 0.25 } }, compensate: false, model: 'm.onnx' };
    const text = serializePlan(p);
    assert.ok(text.endsWith('}\n'));
    assert.deepEqual(parsePlan(JSON.parse(text)), p);
    assert.equal(serializePlan(parsePlan(JSON.parse(text))), text);
    assert.deepEqual(parsePlan({ version: 1, criterion: 'l1', ratio: 0.5 }), { version: 1, criterion: 'l1', scope: 'uniform', ratio: 0.5 }, 'scope defaults to uniform');
    assert.throws(() => parsePlan({ version: 1, criterion: 'l1', ration: 0.5 }, 'my.plan.json'), /^PrunerError: my.plan.json: unknown field "ration"$/);
    assert.throws(() => parsePlan([1, 2], 'x.json'), /x.json: a pruning plan must be a JSON object/);
    assert.throws(() => parsePlan({ criterion: 'l1', ratio: 0.5 }), /unsupported plan version undefined/);
    assert.throws(() => parsePlan({ version: 1, criterion: 'l1', ratio: 0.5, overrides: { A: { ratio: 0.5, extra: 1 } } }), /override for A has unknown field "extra"/);
  });
});

/** Saves a built model, loads it, analyses it. */
function built(b: ModelBuilder, dir: string, name: string) {
  const graph = new Graph(loadModel(b.save(path.join(dir, name))));
  return { graph, deps: analyzeDependencies(graph) };
}

/** computeCost of the model the surgery produces for a resolved plan. */
function costAfter(graph: Graph, deps: DependencyAnalysis, resolved: ReturnType<typeof resolvePlan>, dir: string) {
  const proto = applyPlan(graph, deps, resolved, { compensate: false });
  const buf = ModelProtoType.encode(ModelProtoType.fromObject(proto as never)).finish();
  return computeCost(new Graph(modelFromBuffer(buf, path.join(dir, 'pruned.onnx'))));
}

describe('preview', () => {
  test('equals the cost of the pruned model: residual add, BN, depthwise, Flatten into Gemm', async () => {
    const dir = tempDir();
    const b = new ModelBuilder({ seed: 5 });
    const x = b.input('x', [1, 3, 8, 8]);
    let y = b.relu(b.bn(b.conv(x, 3, 8, { name: 'stem' }), 8));
    const r1 = b.bn(b.conv(b.relu(b.bn(b.conv(y, 8, 6, { name: 'c1' }), 6)), 6, 8, { name: 'c2' }), 8);
    y = b.relu(b.add(y, r1));
    y = b.relu(b.bn(b.conv(y, 8, 8, { name: 'dw', group: 8 }), 8));
    y = b.relu(b.bn(b.conv(y, 8, 12, { k: 1, name: 'pw' }), 12));
    y = b.node('MaxPool', [y], { kernel_shape: [2, 2], strides: [2, 2] });
    b.output(b.gemm(b.flatten(y), 12 * 16, 5, 'fc'));
    const { graph, deps } = built(b, dir, 'mix.onnx');
    const imp = await computeImportance(graph, deps);
    for (const p of [plan({ ratio: 0.5 }), plan({ scope: 'global', ratio: 0.4 }), plan({ criterion: 'bn-gamma', ratio: 0.7, roundTo: 2 })]) {
      const r = resolvePlan(p, deps, imp);
      assert.ok(r.kept.size >= 2, 'something is pruned');
      const pv = previewPlan(graph, deps, r);
      const real = costAfter(graph, deps, r, dir);
      assert.equal(pv.params.after, real.params, `params for ${JSON.stringify(p)}`);
      assert.equal(pv.macs.after, real.macs, `macs for ${JSON.stringify(p)}`);
      for (const l of real.layers) {
        const pl = pv.layers.find((x) => x.name === l.name)!;
        assert.equal(pl.paramsAfter, l.params, l.name);
        assert.equal(pl.macsAfter, l.macs, l.name);
      }
    }
    const none = previewPlan(graph, deps, { plan: plan({}), kept: new Map() });
    const before = computeCost(graph);
    assert.deepEqual([none.params.after, none.macs.after], [before.params, before.macs]);
    assert.deepEqual([none.params.before, none.macs.before], [before.params, before.macs]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

interface Reference {
  params_before: number;
  params_after: number;
  macs_before: number;
  macs_after: number;
  kept_out_channel_indices: Record<string, number[]>;
}

describe('against Torch-Pruning on the shared models', { skip: skipWithoutShared }, () => {
  const cases = [
    ['bnscale', 'uniform', { criterion: 'bn-gamma', scope: 'uniform' }],
    ['bnscale', 'global', { criterion: 'bn-gamma', scope: 'global', normalize: true }],
    ['l1', 'uniform', { criterion: 'l1', scope: 'uniform' }],
    ['l1', 'global', { criterion: 'l1', scope: 'global' }],
  ] as const;
  for (const arch of ['resnet18', 'mobilenet_v2']) {
    test(`${arch}: group scores keep the same channels as Torch-Pruning (bnscale, l1; uniform and global) and the preview matches its sizes`, async () => {
      const graph = new Graph(loadModel(shared(`synthetic/${arch}_bn.onnx`)));
      const deps = analyzeDependencies(graph);
      const imp = await computeImportance(graph, deps);
      const cost = computeCost(graph);
      for (const [tp, scope, p] of cases) {
        const ref = JSON.parse(fs.readFileSync(shared(`reference/torch-pruning/${arch}__${tp}__${scope}.json`), 'utf8')) as Reference;
        const r = resolvePlan(plan({ ...p, ratio: 0.5 }), deps, imp);
        let compared = 0;
        for (const [layer, gid] of deps.groupOfLayer) {
          const mod = moduleName(layer);
          const want = ref.kept_out_channel_indices[mod];
          // the reference records a depthwise conv's kept indices as 0..n-1; its group is checked through its producer
          if (!want || graph.byName.get(layer)!.attribute.some((a) => a.name === 'group' && Number(a.i) > 1)) continue;
          assert.deepEqual(keptOf(r, gid, deps.groups[gid].channels), want, `${arch} ${tp} ${scope} ${mod}`);
          compared++;
        }
        assert.equal(compared, arch === 'resnet18' ? 20 : 35);
        const pv = previewPlan(graph, deps, r, cost);
        assert.equal(pv.params.before, ref.params_before);
        assert.equal(pv.params.after, ref.params_after, `${arch} ${tp} ${scope} params`);
        if (cost.macs === ref.macs_before) assert.equal(pv.macs.after, ref.macs_after, `${arch} ${tp} ${scope} macs`);
        // mobilenet_v2: the cost model counts Clip (ReLU6) a little differently from Torch-Pruning's counter
        else assert.ok(Math.abs(pv.macs.after / ref.macs_after - 1) < 1e-3, `${arch} ${tp} ${scope} macs ${pv.macs.after} vs ${ref.macs_after}`);
      }
    });
  }

  test('resnet18: groupScore "first" (the shallowest layer\'s filter L1) keeps the same channels as Torch-Pruning\'s l1_first', async () => {
    const graph = new Graph(loadModel(shared('synthetic/resnet18_bn.onnx')));
    const deps = analyzeDependencies(graph);
    const imp = await computeImportance(graph, deps);
    const ref = JSON.parse(fs.readFileSync(shared('reference/torch-pruning/resnet18__l1_first__uniform.json'), 'utf8')) as Reference;
    const r = resolvePlan(plan({ criterion: 'l1', ratio: 0.5 }), deps, imp, { groupScore: 'first' });
    const layers = [...deps.groupOfLayer].filter(([l]) => ref.kept_out_channel_indices[moduleName(l)]);
    assert.equal(layers.length, 20);
    for (const [layer, gid] of layers) assert.deepEqual(keptOf(r, gid, deps.groups[gid].channels), ref.kept_out_channel_indices[moduleName(layer)], moduleName(layer));
    // the residual stages' first layer is the downsample conv, as in Torch-Pruning
    assert.equal(moduleName(imp.groups.get(deps.groupOfLayer.get('/layer2/layer2.0/conv2/Conv')!)!.firstLayer!), 'layer2.0.downsample.0');
  });

  test('preview equals the cost of the pruned model on every shared model (uniform, global with roundTo, FPGM global)', async () => {
    const dir = tempDir();
    const models = allSharedModels();
    assert.ok(models.length >= 10);
    for (const rel of models) {
      const graph = new Graph(loadModel(shared(rel)));
      const deps = analyzeDependencies(graph);
      const imp = await computeImportance(graph, deps);
      const plans: PruningPlan[] = [plan({ criterion: 'l1', ratio: 0.3 }), plan({ criterion: 'bn-gamma', scope: 'global', ratio: 0.5, roundTo: 4 }), plan({ criterion: 'fpgm', scope: 'global', ratio: 0.6 })];
      for (const p of plans) {
        const r = resolvePlan(p, deps, imp);
        const pv = previewPlan(graph, deps, r);
        const real = costAfter(graph, deps, r, dir);
        assert.equal(pv.params.after, real.params, `${rel} ${p.criterion} params`);
        assert.equal(pv.macs.after, real.macs, `${rel} ${p.criterion} macs`);
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('resolve + preview is fast enough to follow a slider on resnet18', async () => {
    const graph = new Graph(loadModel(shared('synthetic/resnet18_bn.onnx')));
    const deps = analyzeDependencies(graph);
    const imp = await computeImportance(graph, deps);
    previewPlan(graph, deps, resolvePlan(plan({}), deps, imp)); // prepares (shapes + cost) once
    // the fastest of 20 runs (robust to a busy machine)
    let ms = Infinity;
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      previewPlan(graph, deps, resolvePlan(plan({ criterion: 'bn-gamma', scope: 'global', ratio: 0.3 + i / 100 }), deps, imp));
      ms = Math.min(ms, performance.now() - t);
    }
    assert.ok(ms < 20, `resolve + preview took ${ms.toFixed(2)} ms`);
  });
});
