// Channel dependency analysis on real and torchvision models: group counts, and agreement with
// Torch-Pruning's coupling on resnet18 / mobilenet_v2 (uniform 50%, final classifier frozen).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { describe, it } from 'node:test';
import { analyzeDependencies, channelsToKeep } from '../../src/engine/analysis/groups.ts';
import { mapChannel, type ChannelGroup, type DependencyAnalysis, type GroupMember } from '../../src/engine/analysis/types.ts';
import { Graph } from '../../src/engine/graph/graph.ts';
import { loadModel } from '../../src/engine/onnx/model.ts';
import { fmnistBn, fmnistFused, shared, skipWithoutShared } from '../helpers/paths.ts';

function analyze(file: string): { graph: Graph; a: DependencyAnalysis } {
  const graph = new Graph(loadModel(file));
  const a = analyzeDependencies(graph);
  assertMembersConsistent(graph, a);
  return { graph, a };
}

function counts(a: DependencyAnalysis): { prunable: number; frozen: number } {
  const prunable = a.groups.filter((g) => g.prunable).length;
  return { prunable, frozen: a.groups.length - prunable };
}

/** Every frozen group says why, naming a node of the graph (quoted). */
function assertReasons(graph: Graph, a: DependencyAnalysis): void {
  for (const g of a.groups) {
    if (g.prunable) continue;
    assert.ok(g.reason, `group ${g.id} frozen without a reason`);
    const quoted = [...g.reason.matchAll(/'([^']+)'/g)].map((m) => m[1]);
    assert.ok(quoted.some((q) => graph.byName.has(q)), `reason of group ${g.id} names no node: ${g.reason}`);
  }
}

/**
 * What surgery relies on, checked mechanically: every member's indices fall inside its tensor along
 * its axis, no two members claim the same index of the same tensor input, 'out' members cover their
 * weight's output axis exactly, biases match, and shape members point at an existing element.
 */
function assertMembersConsistent(graph: Graph, a: DependencyAnalysis): void {
  const claimed = new Map<string, Set<number>>();
  for (const g of a.groups) {
    for (const m of g.members) {
      const start = m.start ?? 0;
      const span = m.span ?? g.channels;
      assert.ok(start >= 0 && start + span <= g.channels, `group ${g.id}: ${m.node} covers [${start}, ${start + span}) of ${g.channels}`);
      if (m.role === 'shape') {
        const values = m.attribute ? graph.byName.get(m.node)!.attribute.find((x) => x.name === m.attribute)?.ints : graph.constantInts(m.tensor!);
        assert.ok(values && m.axis < values.length, `shape member of ${m.node} points past its vector`);
        continue;
      }
      const t = graph.constantTensor(m.tensor!);
      assert.ok(t, `${m.node}: tensor ${m.tensor} is not a constant`);
      const dims = t.dims.map(Number);
      assert.ok(m.axis < dims.length, `${m.node}: axis ${m.axis} of [${dims}]`);
      const key = `${m.node}|${m.inputIndex}|${m.axis}`;
      let set = claimed.get(key);
      if (!set) claimed.set(key, (set = new Set()));
      for (let i = start; i < start + span; i++) {
        for (const idx of mapChannel(m, i)) {
          assert.ok(idx >= 0 && idx < dims[m.axis], `${m.node}: group ${g.id} channel ${i} -> index ${idx} outside [0, ${dims[m.axis]})`);
          assert.ok(!set.has(idx), `${m.node} input ${m.inputIndex}: index ${idx} claimed twice`);
          set.add(idx);
        }
      }
      if (m.role === 'out') assert.equal(set.size, dims[m.axis], `${m.node}: out member covers ${set.size} of ${dims[m.axis]}`);
      if (m.bias) assert.equal(graph.constantTensor(m.bias)!.dims.map(Number)[0], m.role === 'out' ? dims[m.axis] : dims[0], `${m.node}: bias size`);
    }
  }
  assert.ok(claimed.size > 0);
}

/**
 * PyTorch module name of an ONNX node named by torch.onnx's scopes: `/layer1/layer1.0/conv1/Conv`
 * -> `layer1.0.conv1`, `/features/features.1/conv/conv.0/conv.0.0/Conv` -> `features.1.conv.0.0`
 * (a scope that extends the previous one by `.k` is a Sequential child, else an attribute).
 */
export function torchModuleName(onnxName: string): string {
  const scopes = onnxName.split('/').filter((s) => s).slice(0, -1);
  let path = '';
  let prev = '';
  for (const s of scopes) {
    path = prev && s.startsWith(prev + '.') ? path + s.slice(prev.length) : path ? `${path}.${s}` : s;
    prev = s;
  }
  return path;
}

interface Reference {
  conv_channels_before: Record<string, [number, number, number]>;
  conv_channels_after: Record<string, [number, number, number]>;
  pruning_ratio: number;
  kept_out_channel_indices: Record<string, number[]>;
}

/** Conv widths [in, out, group] after pruning every prunable group uniformly by `ratio`. */
function widthsAfter(graph: Graph, a: DependencyAnalysis, ratio: number): Map<string, [number, number, number]> {
  const keep = a.groups.map((g) => (g.prunable ? channelsToKeep(g.channels, ratio, { divisor: g.divisor }) : g.channels));
  const out = new Map<string, [number, number, number]>();
  for (const node of graph.nodes) {
    if (node.op_type !== 'Conv') continue;
    const name = node.name!;
    const gid = a.groupOfLayer.get(name);
    assert.ok(gid !== undefined, `conv ${name} has no group`);
    const outAfter = keep[gid];
    let inAfter = 0;
    let group = 1;
    let fromGroups = false;
    for (const g of a.groups) {
      for (const m of g.members) {
        if (m.node !== name) continue;
        assert.equal(m.span ?? g.channels, g.channels, `${name}: partial member`);
        if (m.role === 'in') {
          inAfter += keep[g.id];
          fromGroups = true;
        } else if (m.role === 'depthwise') {
          inAfter += keep[g.id];
          group = inAfter;
          fromGroups = true;
        }
      }
    }
    if (!fromGroups) {
      const w = graph.constantTensor(node.input[1])!;
      inAfter = Number(w.dims[1]); // the graph input's channels are never pruned
    }
    out.set(torchModuleName(name), [inAfter, outAfter, group]);
  }
  return out;
}

function compareWithTorchPruning(model: string, reference: string): void {
  const { graph, a } = analyze(shared(model));
  const ref = JSON.parse(fs.readFileSync(shared(reference), 'utf8')) as Reference;
  const ours = widthsAfter(graph, a, ref.pruning_ratio);
  assert.deepEqual([...ours.keys()].sort(), Object.keys(ref.conv_channels_after).sort());
  for (const [name, expected] of Object.entries(ref.conv_channels_after)) {
    assert.deepEqual(ours.get(name), expected, `${name}: before ${ref.conv_channels_before[name].join('/')}`);
  }
  // Widths alone cannot tell coupled convs from independent ones at a uniform ratio; the kept indices
  // can: convs of one Torch-Pruning group keep identical index sets (two independent random layers
  // keeping the same half of their channels is practically impossible). Compare the partitions.
  // The reference lists 0..k-1 for depthwise convs (not informative), so they are left out here.
  const plain = (name: string) => ref.conv_channels_before[name]?.[2] === 1;
  const theirs = partition(Object.entries(ref.kept_out_channel_indices).filter(([k]) => plain(k)).map(([k, v]) => [k, JSON.stringify(v)]));
  const mine = partition(graph.nodes.filter((n) => n.op_type === 'Conv' && plain(torchModuleName(n.name!))).map((n) => [torchModuleName(n.name!), String(a.groupOfLayer.get(n.name!))]));
  assert.ok(theirs.length > 10 && theirs.some((p) => p.length > 2), 'reference partition has coupled groups');
  assert.deepEqual(mine, theirs);
}

/** Sets of names sharing a key, as sorted lists, sorted. */
function partition(pairs: [string, string][]): string[][] {
  const by = new Map<string, string[]>();
  for (const [name, key] of pairs) by.set(key, [...(by.get(key) ?? []), name]);
  return [...by.values()].map((v) => v.sort()).sort((x, y) => x[0].localeCompare(y[0]));
}

function member0(g: ChannelGroup, node: string): GroupMember {
  const m = g.members.find((x) => x.node === node);
  assert.ok(m, `no member for ${node} in group ${g.id}`);
  return m;
}

describe('channel groups on shared models', { skip: skipWithoutShared }, () => {
  it('resnet18: the same per-conv widths as Torch-Pruning at a uniform 50%', () => {
    compareWithTorchPruning('synthetic/resnet18_bn.onnx', 'reference/torch-pruning/resnet18__bnscale__uniform.json');
  });

  it('mobilenet_v2: the same per-conv widths as Torch-Pruning at a uniform 50%', () => {
    compareWithTorchPruning('synthetic/mobilenet_v2_bn.onnx', 'reference/torch-pruning/mobilenet_v2__bnscale__uniform.json');
  });

  it('resnet18: 12 prunable groups, the classifier frozen', () => {
    // stem + layer1 residual chain (3 convs, 1 group); per stage 2..4 one residual chain (conv2s + downsample);
    // one group per basic block's conv1 (8). 1 + 3 + 8 = 12; fc reaches the graph output.
    const { graph, a } = analyze(shared('synthetic/resnet18_bn.onnx'));
    assert.deepEqual(counts(a), { prunable: 12, frozen: 1 });
    const chain = a.groups[a.groupOfLayer.get('/layer2/layer2.0/conv2/Conv')!];
    assert.deepEqual([...chain.layers].sort(), ['/layer2/layer2.0/conv2/Conv', '/layer2/layer2.0/downsample/downsample.0/Conv', '/layer2/layer2.1/conv2/Conv']);
    assert.equal(chain.bnNodes.length, 3);
    assert.equal(chain.channels, 128);
    const fc = a.groups[a.groupOfLayer.get('/fc/Gemm')!];
    assert.equal(fc.prunable, false);
    assert.match(fc.reason!, /graph output 'output' through Gemm '\/fc\/Gemm'/);
    // The last residual chain feeds fc through GAP + Flatten: 512 channels, 1 feature each.
    const last = a.groups[a.groupOfLayer.get('/layer4/layer4.1/conv2/Conv')!];
    const fcIn = last.members.find((m) => m.node === '/fc/Gemm');
    assert.deepEqual(fcIn && { role: fcIn.role, axis: fcIn.axis, mapping: fcIn.mapping }, { role: 'in', axis: 1, mapping: { kind: 'identity' } });
    assertReasons(graph, a);
  });

  it('mobilenet_v2: 25 prunable groups', () => {
    // features.0 with block 1's depthwise (1); each of the 16 expanding blocks' expansion conv with its
    // depthwise (16); one residual chain per stage of projections (7 stages: 16,24,32,64,96,160,320);
    // the last 1x1 conv (1280). 1 + 16 + 7 + 1 = 25; the classifier Gemm is frozen.
    const { graph, a } = analyze(shared('synthetic/mobilenet_v2_bn.onnx'));
    assert.deepEqual(counts(a), { prunable: 25, frozen: 1 });
    const expand = a.groups[a.groupOfLayer.get('/features/features.2/conv/conv.0/conv.0.0/Conv')!];
    const dw = expand.members.find((m) => m.role === 'depthwise');
    assert.equal(dw?.node, '/features/features.2/conv/conv.1/conv.1.0/Conv');
    assert.equal(a.groupOfLayer.get(dw.node), expand.id);
    assertReasons(graph, a);
  });

  it('mobilenet_v1 (BN kept and fused): 14 prunable groups', () => {
    // 27 convs of which 13 depthwise share the group of the pointwise conv before them: 14 groups.
    for (const file of ['synthetic/mobilenet_v1_w025_bn.onnx', 'synthetic/mobilenet_v1_w025_fused.onnx']) {
      const { graph, a } = analyze(shared(file));
      assert.deepEqual(counts(a), { prunable: 14, frozen: 1 }, file);
      assert.equal(a.groups.reduce((n, g) => n + g.members.filter((m) => m.role === 'depthwise').length, 0), 13);
      assertReasons(graph, a);
    }
  });

  it('squeezenet1_1: Fire modules through Concat offsets, shared zero biases flagged', () => {
    // conv1 + 8 Fire modules × (squeeze, expand1x1, expand3x3) = 25 prunable; the classifier conv
    // reaches the output through ReLU, GAP and Flatten and is frozen.
    const { graph, a } = analyze(shared('synthetic/squeezenet1_1_bn.onnx'));
    assert.deepEqual(counts(a), { prunable: 25, frozen: 1 });
    const e3 = a.groups[a.groupOfLayer.get('/features/features.3/expand3x3/Conv')!];
    const next = e3.members.find((m) => m.role === 'in');
    assert.equal(next?.node, '/features/features.4/squeeze/Conv');
    assert.deepEqual(next.mapping, { kind: 'offset', offset: 64 }); // after expand1x1's 64 channels
    const sharedBias = a.groups.flatMap((g) => g.members).filter((m) => m.role === 'out' && m.biasShared);
    assert.ok(sharedBias.length > 0, 'shared zero biases flagged');
    assertReasons(graph, a);
  });

  it('shufflenet_v2: split and shuffle followed, only the classifier frozen', () => {
    // The channel split (Slice bounds computed from Shape) and the shuffle (Reshape → Transpose → Reshape,
    // shapes computed at run time) are followed as a permutation of the channels (rules.ts, channelShuffle):
    // every group is prunable but fc's, which reaches the graph output.
    const { graph, a } = analyze(shared('synthetic/shufflenet_v2_x1_0_bn.onnx'));
    assert.deepEqual(counts(a), { prunable: 37, frozen: 1 });
    assert.equal(a.rewrites?.filter((r) => r.kind === 'shuffle').length, 16);
    assert.equal(a.rewrites?.filter((r) => r.kind === 'slice').length, 26);
    assertReasons(graph, a);
  });

  it('ultraface RFB-320 (BN kept and simplified): heads frozen at the Transpose to NHWC', () => {
    // 8 detection head convs (scores/boxes per scale) go to a Transpose to NHWC: frozen. 25 free groups.
    for (const file of ['real/ultraface/version-RFB-320.onnx', 'real/ultraface/version-RFB-320_simplified.onnx']) {
      const { graph, a } = analyze(shared(file));
      assert.deepEqual(counts(a), { prunable: 25, frozen: 8 }, file);
      for (const g of a.groups) if (!g.prunable) assert.match(g.reason!, /Transpose '.*' moves the channel axis/);
      assertReasons(graph, a);
    }
  });

  it('ppocr classifier: Constant-node weights, SE gates coupled with the gated tensor, computed flatten shape', () => {
    // 27 weighted layers' spaces: 26 prunable; the MatMul classifier is frozen (Softmax over its outputs).
    const { graph, a } = analyze(shared('real/ppocr/ch_ppocr_mobile_v2.0_cls_infer.onnx'));
    assert.deepEqual(counts(a), { prunable: 26, frozen: 1 });
    // First SE block: Conv.1 -> depthwise Conv.2 -> SE (Conv.3 reduce, Conv.4 expand, HardSigmoid) gates Conv.2's output.
    const g = a.groups[a.groupOfLayer.get('p2o.Conv.1')!];
    assert.deepEqual(g.layers, ['p2o.Conv.1', 'p2o.Conv.2', 'p2o.Conv.4']);
    assert.ok(g.members.every((m) => m.tensor === undefined || graph.constantNodes.has(m.tensor)), 'weights are Constant-node outputs');
    assert.equal(a.groups[a.groupOfLayer.get('p2o.Conv.3')!].channels, 2);
    // The last conv's 200 channels reach the MatMul through Reshape(GAP, Concat(Shape(x)[0:1], Cast(200))):
    // the literal 200 is a Constant node, rewritten where it is stored.
    const last = a.groups[a.groupOfLayer.get('p2o.Conv.52')!];
    assert.equal(last.prunable, true);
    const s = last.members.filter((m) => m.role === 'shape');
    assert.deepEqual(s.map((m) => [m.node, m.tensor, m.inputIndex, m.axis]), [['p2o.Cast.3', 'fill_constant_1.tmp_0', 0, 0]]);
    assert.equal(member0(last, 'p2o.MatMul.0').axis, 0);
    assertReasons(graph, a);
  });
});

describe('channel groups on the bundled Fashion-MNIST sample', () => {
  it('BN kept and fused: 5 prunable groups, as Torch-Pruning couples them', () => {
    // stem; conv2 with the depthwise after it; pw with the residual block's conv2 (they meet at the Add);
    // res.conv1; head. fc is frozen. Torch-Pruning's widths at 30% agree: pw, res.conv1, res.conv2 all 64 -> 44.
    for (const file of [fmnistBn, fmnistFused]) {
      const { graph, a } = analyze(file);
      assert.deepEqual(counts(a), { prunable: 5, frozen: 1 }, file);
      assert.deepEqual(a.groups.map((g) => g.layers.length), [1, 2, 2, 1, 1, 1]);
      assert.deepEqual(a.groups.filter((g) => g.prunable).map((g) => channelsToKeep(g.channels, 0.3)), [22, 22, 44, 44, 89]);
      assertReasons(graph, a);
    }
  });
});
