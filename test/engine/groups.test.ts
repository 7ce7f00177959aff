// Channel dependency analysis on hand-built graphs: one coupling rule (or one frozen case) per test.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeDependencies, channelsToKeep } from '../../src/engine/analysis/groups.ts';
import { RULES } from '../../src/engine/analysis/rules.ts';
import type { ChannelGroup, DependencyAnalysis, GroupMember } from '../../src/engine/analysis/types.ts';
import { CancelledError, PrunerError } from '../../src/engine/errors.ts';
import { Graph } from '../../src/engine/graph/graph.ts';
import { decodeModel } from '../../src/engine/onnx/model.ts';
import { AttributeType, DataType, ModelProtoType } from '../../src/engine/onnx/proto.ts';
import { ModelBuilder } from '../helpers/modelBuilder.ts';

function analyze(b: ModelBuilder, signal?: AbortSignal): DependencyAnalysis & { graph: Graph } {
  const buf = b.toBuffer();
  const graph = new Graph({ path: '/tmp/test.onnx', dir: '/tmp', fileSize: buf.length, sizeOnDisk: buf.length, proto: decodeModel(buf) });
  return { ...analyzeDependencies(graph, { signal }), graph };
}

function groupOf(a: DependencyAnalysis, layer: string): ChannelGroup {
  const id = a.groupOfLayer.get(layer);
  assert.ok(id !== undefined, `${layer} has no group`);
  return a.groups[id];
}

function member(g: ChannelGroup, node: string, role?: GroupMember['role']): GroupMember {
  const m = g.members.filter((x) => x.node === node && (!role || x.role === role));
  assert.equal(m.length, 1, `group ${g.id}: ${m.length} members for ${node} ${role ?? ''}`);
  return m[0];
}

/** conv -> relu, the usual start of a test graph: returns the activation. */
function convRelu(b: ModelBuilder, x: string, cin: number, cout: number, name: string): string {
  return b.relu(b.conv(x, cin, cout, { name }));
}

/** Ends a graph on a conv whose output is a graph output (so the tested groups do not reach it). */
function head(b: ModelBuilder, x: string, cin: number): void {
  b.output(b.conv(x, cin, 2, { k: 1, name: 'head' }));
}

describe('channelsToKeep', () => {
  it('keeps floor(C × (1 − ratio)) like Torch-Pruning', () => {
    // Torch-Pruning's widths on the Fashion-MNIST net at 30%: 32 -> 22, 64 -> 44, 128 -> 89.
    assert.deepEqual([32, 64, 128].map((c) => channelsToKeep(c, 0.3)), [22, 44, 89]);
    assert.equal(channelsToKeep(100, 0.3), 70); // not 69 from float noise
    assert.equal(channelsToKeep(7, 0.5), 3);
    assert.equal(channelsToKeep(16, 0), 16);
  });

  it('rounds up to roundTo and the divisor, at least minChannels, at most all', () => {
    assert.equal(channelsToKeep(64, 0.5, { roundTo: 24 }), 48);
    assert.equal(channelsToKeep(12, 0.5, { divisor: 4 }), 8);
    assert.equal(channelsToKeep(10, 0.99), 1);
    assert.equal(channelsToKeep(10, 0.9, { minChannels: 3 }), 3);
    assert.equal(channelsToKeep(10, 0.1, { roundTo: 8 }), 10);
    assert.throws(() => channelsToKeep(10, 1), PrunerError);
    assert.throws(() => channelsToKeep(10, -0.1), PrunerError);
  });
});

describe('dependency analysis rules', () => {
  it('residual Add unites both producers; BN parameters and the next conv are members', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const a = b.relu(b.bn(b.conv(x, 3, 8, { name: 'a' }), 8, { name: 'bnA' }));
    const r = b.bn(b.conv(convRelu(b, a, 8, 4, 'mid'), 4, 8, { name: 'c' }), 8, { name: 'bnC' });
    const y = b.relu(b.add(a, r));
    head(b, b.conv(y, 8, 8, { name: 'next' }), 8);
    const res = analyze(b);
    const g = groupOf(res, 'a');
    assert.equal(groupOf(res, 'c').id, g.id);
    assert.deepEqual(g.layers, ['a', 'c']);
    assert.deepEqual(g.bnNodes, ['bnA', 'bnC']);
    assert.equal(g.prunable, true);
    assert.equal(g.channels, 8);
    assert.deepEqual(member(g, 'a', 'out'), { node: 'a', op: 'Conv', role: 'out', tensor: 'a.weight', inputIndex: 1, axis: 0, mapping: { kind: 'identity' }, bias: 'a.bias', biasShared: false, shared: false });
    assert.deepEqual(g.members.filter((m) => m.node === 'bnA').map((m) => [m.role, m.inputIndex, m.axis]), [['param', 1, 0], ['param', 2, 0], ['param', 3, 0], ['param', 4, 0]]);
    assert.equal(member(g, 'mid', 'in').axis, 1);
    assert.equal(member(g, 'next', 'in').axis, 1);
    assert.notEqual(groupOf(res, 'mid').id, g.id);
    assert.ok(g.values.length >= 4);
  });

  it('Concat on the channel axis: inputs stay separate groups, consumers see them at offsets', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const c = b.concat([convRelu(b, x, 3, 4, 'p'), convRelu(b, x, 3, 6, 'q')]);
    head(b, b.conv(c, 10, 5, { name: 'r' }), 5);
    const res = analyze(b);
    const p = groupOf(res, 'p');
    const q = groupOf(res, 'q');
    assert.notEqual(p.id, q.id);
    assert.deepEqual([member(p, 'r').mapping, member(p, 'r').span], [{ kind: 'identity' }, 4]);
    assert.deepEqual([member(q, 'r').mapping, member(q, 'r').span], [{ kind: 'offset', offset: 4 }, 6]);
    assert.ok(p.prunable && q.prunable);
  });

  for (const form of ['attribute (opset 11)', 'input (opset 13)']) {
    it(`Split on the channel axis, sizes as ${form}: outputs are slices of one group, sizes rewritten`, () => {
      const opset = form.includes('11') ? 11 : 13;
      const b = new ModelBuilder({ opset });
      const x = b.input('x', [1, 3, 8, 8]);
      const a = convRelu(b, x, 3, 8, 'a');
      const parts = opset === 11 ? b.nodeMulti('Split', [a], 2, { axis: 1, split: [3, 5] }, 'split') : b.nodeMulti('Split', [a, b.initInt64('sizes', [3, 5])], 2, { axis: 1 }, 'split');
      const u = b.conv(parts[0], 3, 4, { name: 'u' });
      const v = b.conv(parts[1], 5, 4, { name: 'v' });
      head(b, b.add(u, v), 4);
      const g = groupOf(analyze(b), 'a');
      assert.equal(g.prunable, true);
      const shapes = g.members.filter((m) => m.role === 'shape');
      assert.deepEqual(shapes.map((m) => [m.node, m.axis, m.start ?? 0, m.span]), [['split', 0, 0, 3], ['split', 1, 3, 5]]);
      if (opset === 11) assert.ok(shapes.every((m) => m.attribute === 'split' && m.tensor === undefined));
      else assert.ok(shapes.every((m) => m.tensor === 'sizes' && m.inputIndex === 1));
      const mu = member(g, 'u', 'in');
      const mv = member(g, 'v', 'in');
      assert.deepEqual([mu.mapping, mu.start, mu.span], [{ kind: 'identity' }, undefined, 3]);
      assert.deepEqual([mv.mapping, mv.start, mv.span], [{ kind: 'offset', offset: -3 }, 3, 5]);
    });
  }

  it('BatchNormalization after a Concat: each input group owns its slice of the BN parameters', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const c = b.concat([convRelu(b, x, 3, 4, 'p'), convRelu(b, x, 3, 6, 'q')]);
    head(b, b.relu(b.bn(c, 10, { name: 'bn' })), 10);
    const res = analyze(b);
    const q = groupOf(res, 'q');
    assert.deepEqual(q.bnNodes, ['bn']);
    assert.deepEqual(q.members.filter((m) => m.node === 'bn').map((m) => [m.inputIndex, m.axis, m.mapping, m.span]), [1, 2, 3, 4].map((i) => [i, 0, { kind: 'offset', offset: 4 }, 6]));
    assert.deepEqual(groupOf(res, 'p').bnNodes, ['bn']);
    assert.deepEqual(member(q, 'head').mapping, { kind: 'offset', offset: 4 });
  });

  it('Split pieces concatenated in another order: each piece maps to its own positions', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const a = convRelu(b, x, 3, 8, 'a');
    const [a0, a1] = b.nodeMulti('Split', [a, b.initInt64('sizes', [3, 5])], 2, { axis: 1 }, 'split');
    const c = b.concat([a1, convRelu(b, x, 3, 2, 'y'), a0]);
    head(b, b.conv(c, 10, 4, { name: 'r' }), 4);
    const res = analyze(b);
    const onR = groupOf(res, 'a').members.filter((m) => m.node === 'r').map((m) => [m.start ?? 0, m.span, m.mapping]);
    // a[3..8) sits at positions 0..5, a[0..3) at 7..10, y at 5..7.
    assert.deepEqual(onR, [[3, 5, { kind: 'offset', offset: -3 }], [0, 3, { kind: 'offset', offset: 7 }]]);
    assert.deepEqual(member(groupOf(res, 'y'), 'r').mapping, { kind: 'offset', offset: 5 });
  });

  it('Add of misaligned slices of one group freezes it', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const [p, q] = b.nodeMulti('Split', [convRelu(b, x, 3, 8, 'a'), b.initInt64('sizes', [4, 4])], 2, { axis: 1 }, 'split');
    head(b, b.add(p, q), 4);
    const g = groupOf(analyze(b), 'a');
    assert.equal(g.prunable, false);
    assert.match(g.reason!, /^Add '.*' adds channels at different positions of their groups$/);
  });

  it('Split into equal parts without sizes: a divisor on the group', () => {
    const b = new ModelBuilder({ opset: 18 });
    const x = b.input('x', [1, 3, 8, 8]);
    const parts = b.nodeMulti('Split', [convRelu(b, x, 3, 8, 'a')], 2, { axis: 1, num_outputs: 2 }, 'split');
    head(b, b.add(b.conv(parts[0], 4, 4, { name: 'u' }), b.conv(parts[1], 4, 4, { name: 'v' })), 4);
    const g = groupOf(analyze(b), 'a');
    assert.equal(g.divisor, 2);
    assert.equal(g.prunable, true);
    assert.equal(g.members.filter((m) => m.role === 'shape').length, 0);
  });

  it('Slice on the channel axis with constant bounds; stepped bounds freeze', () => {
    for (const step of [1, 2]) {
      const b = new ModelBuilder();
      const x = b.input('x', [1, 3, 8, 8]);
      const a = convRelu(b, x, 3, 8, 'a');
      const s = b.node('Slice', [a, b.initInt64('st', [2]), b.initInt64('en', [6]), b.initInt64('ax', [1]), b.initInt64('sp', [step])], {}, 'slice');
      head(b, b.conv(s, step === 1 ? 4 : 2, 4, { name: 'u' }), 4);
      const g = groupOf(analyze(b), 'a');
      if (step === 2) {
        assert.equal(g.prunable, false);
        assert.match(g.reason!, /Slice 'slice' slices the channel axis/);
        continue;
      }
      assert.equal(g.prunable, true);
      assert.deepEqual(g.members.filter((m) => m.role === 'shape').map((m) => [m.tensor, m.axis, m.start ?? 0, m.span]), [['st', 0, 0, 2], ['en', 0, 0, 6]]);
      const u = member(g, 'u', 'in');
      assert.deepEqual([u.mapping, u.start, u.span], [{ kind: 'offset', offset: -2 }, 2, 4]);
    }
  });

  it('depthwise conv passes the index through: same group, group attribute shrinks', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const a = b.relu(b.bn(b.conv(x, 3, 8, { name: 'a' }), 8));
    const d = b.relu(b.bn(b.conv(a, 8, 8, { group: 8, name: 'dw' }), 8, { name: 'bnDw' }));
    head(b, b.conv(d, 8, 4, { k: 1, name: 'pw' }), 4);
    const res = analyze(b);
    const g = groupOf(res, 'a');
    assert.equal(groupOf(res, 'dw').id, g.id);
    assert.deepEqual(member(g, 'dw'), { node: 'dw', op: 'Conv', role: 'depthwise', tensor: 'dw.weight', inputIndex: 1, axis: 0, mapping: { kind: 'identity' }, span: 8, shared: false, bias: 'dw.bias', biasShared: false });
    assert.ok(g.bnNodes.includes('bnDw'));
    assert.equal(member(g, 'pw').role, 'in');
    assert.equal(res.groups.length, 3); // a(+dw), pw, head
  });

  it('grouped (not depthwise) conv: its producer is folded (same positions in every block), its output has a divisor', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const a = b.relu(b.bn(b.conv(x, 3, 8, { name: 'a' }), 8, { name: 'bnA' }));
    const g4 = b.relu(b.conv(a, 8, 12, { group: 4, name: 'gc' }));
    head(b, b.conv(g4, 12, 4, { name: 'c' }), 4);
    const res = analyze(b);
    const ga = groupOf(res, 'a');
    // 8 input channels in 4 blocks of 2: removing group channel r removes a's channels r, r+2, r+4, r+6
    // and gc's weight column r.
    assert.deepEqual([ga.prunable, ga.channels, ga.fold], [true, 2, 4]);
    assert.deepEqual(ga.members.filter((m) => m.node === 'a').map((m) => [m.mapping, m.span]), [0, 2, 4, 6].map((o) => [o ? { kind: 'offset', offset: o } : { kind: 'identity' }, 2]));
    assert.equal(ga.members.filter((m) => m.node === 'bnA').length, 16); // 4 vectors × 4 blocks
    assert.deepEqual(ga.members.filter((m) => m.node === 'gc').map((m) => [m.role, m.axis, m.mapping, m.span, m.start]), [['in', 1, { kind: 'identity' }, 2, undefined]]);
    const gc = groupOf(res, 'gc');
    assert.deepEqual([gc.prunable, gc.divisor, gc.channels], [true, 4, 12]);
    assert.equal(channelsToKeep(gc.channels, 0.5, { divisor: gc.divisor }), 8);
  });

  it('grouped conv fed by a Concat of several groups freezes them', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const c = b.concat([convRelu(b, x, 3, 4, 'p'), convRelu(b, x, 3, 4, 'q')]);
    head(b, b.conv(c, 8, 8, { group: 2, name: 'gc' }), 8);
    const p = groupOf(analyze(b), 'p');
    assert.equal(p.prunable, false);
    assert.match(p.reason!, /^grouped Conv 'gc' \(group 2\) takes channels from several groups or part of one/);
  });

  it('grouped conv fed by part of a group (a Split piece) freezes it', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const [p0, p1] = b.nodeMulti('Split', [convRelu(b, x, 3, 8, 'a'), b.initInt64('sizes', [4, 4])], 2, { axis: 1 }, 'split');
    head(b, b.add(b.conv(p0, 4, 4, { group: 2, name: 'gc' }), b.conv(p1, 4, 4, { name: 'c' })), 4);
    const g = groupOf(analyze(b), 'a');
    assert.equal(g.prunable, false);
    assert.equal(g.fold, undefined);
  });

  it('Flatten into Gemm: a block of H*W features per channel', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 4, 4]);
    const a = convRelu(b, x, 3, 4, 'a');
    b.output(b.gemm(b.flatten(a), 64, 10, 'fc'));
    const res = analyze(b);
    const g = groupOf(res, 'a');
    assert.equal(g.prunable, true);
    assert.deepEqual([member(g, 'fc').role, member(g, 'fc').axis, member(g, 'fc').mapping], ['in', 1, { kind: 'block', size: 16, offset: 0 }]);
    const fc = groupOf(res, 'fc');
    assert.equal(fc.prunable, false);
    assert.equal(fc.reason, "reaches graph output 'fc_out0' through Gemm 'fc'");
  });

  it('Gemm with transB=0 and MatMul: input features on axis 0 of B, outputs on axis 1', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 2, 2]);
    const f = b.flatten(convRelu(b, x, 3, 4, 'a'));
    const g1 = b.relu(b.node('Gemm', [f, b.init('W1', [16, 6]), b.init('B1', [6])], { transB: 0 }, 'g1'));
    b.output(b.node('MatMul', [g1, b.init('W2', [6, 3])], {}, 'mm'));
    const res = analyze(b);
    const ga = groupOf(res, 'a');
    assert.deepEqual([member(ga, 'g1').axis, member(ga, 'g1').mapping], [0, { kind: 'block', size: 4, offset: 0 }]);
    const g1g = groupOf(res, 'g1');
    assert.deepEqual([member(g1g, 'g1', 'out').axis, member(g1g, 'g1', 'out').bias], [1, 'B1']);
    assert.deepEqual([member(g1g, 'mm', 'in').axis, member(g1g, 'mm', 'in').tensor], [0, 'W2']);
    assert.equal(g1g.prunable, true);
    assert.equal(member(groupOf(res, 'mm'), 'mm', 'out').axis, 1);
  });

  it('Gemm bias of shape [1, N] is a param member along axis 1, not the out member\'s bias', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 8]);
    const g = b.relu(b.node('Gemm', [x, b.init('W', [6, 8]), b.init('C', [1, 6])], { transB: 1 }, 'g'));
    b.output(b.gemm(g, 6, 3, 'fc'));
    const grp = groupOf(analyze(b), 'g');
    assert.equal(member(grp, 'g', 'out').bias, undefined);
    assert.deepEqual([member(grp, 'g', 'param').tensor, member(grp, 'g', 'param').axis], ['C', 1]);
    assert.equal(grp.prunable, true);
  });

  it('Unsqueeze / Squeeze / ReduceMean over spatial axes move the channel axis index; over channels they freeze', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const m = b.node('ReduceMean', [convRelu(b, x, 3, 8, 'a')], { axes: [2, 3], keepdims: 0 }, 'mean'); // [N, 8]
    const u = b.node('Unsqueeze', [m, b.initInt64('ax', [0])], {}, 'unsq'); // [1, N, 8]: channels on axis 2
    const s = b.node('Squeeze', [u, b.initInt64('ax0', [0])], {}, 'sq'); // [N, 8]
    b.output(b.gemm(s, 8, 3, 'fc'));
    const r = b.node('ReduceMax', [convRelu(b, x, 3, 8, 'k')], { axes: [1] }, 'chmax');
    b.output(b.relu(r));
    const res = analyze(b);
    const a = groupOf(res, 'a');
    assert.equal(a.prunable, true);
    assert.deepEqual([member(a, 'fc').axis, member(a, 'fc').mapping], [1, { kind: 'identity' }]);
    assert.equal(groupOf(res, 'k').reason, "ReduceMax 'chmax' reduces over the channel axis");
  });

  it('Upsample (opset 9 scales input) and Resize with sizes: channel size 1 passes, sizes rewritten', () => {
    const b9 = new ModelBuilder({ opset: 9 });
    const x9 = b9.input('x', [1, 3, 8, 8]);
    const u = b9.node('Upsample', [convRelu(b9, x9, 3, 8, 'a'), b9.init('sc', [4], [1, 1, 2, 2])], { mode: 'nearest' }, 'up');
    head(b9, u, 8);
    assert.equal(groupOf(analyze(b9), 'a').prunable, true);
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const r = b.node('Resize', [convRelu(b, x, 3, 8, 'a'), '', '', b.initInt64('sizes', [1, 8, 16, 16])], { mode: 'nearest' }, 'rs');
    head(b, r, 8);
    const g = groupOf(analyze(b), 'a');
    assert.equal(g.prunable, true);
    assert.deepEqual([member(g, 'rs').role, member(g, 'rs').tensor, member(g, 'rs').axis], ['shape', 'sizes', 1]);
  });

  it('ConvTranspose: input channels on weight axis 0, output channels on axis 1', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 4, 4]);
    const a = convRelu(b, x, 3, 4, 'a');
    const t = b.relu(b.node('ConvTranspose', [a, b.init('tw', [4, 6, 2, 2]), b.init('tb', [6])], { kernel_shape: [2, 2], strides: [2, 2] }, 'up'));
    head(b, t, 6);
    const res = analyze(b);
    assert.equal(member(groupOf(res, 'a'), 'up').axis, 0);
    const up = groupOf(res, 'up');
    assert.deepEqual([up.channels, member(up, 'up', 'out').axis, member(up, 'up', 'out').bias], [6, 1, 'tb']);
  });

  it('Reshape with a constant shape into Gemm: shape member rewritten, 0 and -1 left alone', () => {
    for (const [shape, rewritten] of [[[1, 64], true], [[-1, 64], true], [[0, -1], false], [[1, -1], false]] as const) {
      const b = new ModelBuilder();
      const x = b.input('x', [1, 3, 4, 4]);
      const r = b.node('Reshape', [convRelu(b, x, 3, 4, 'a'), b.initInt64('shape', [...shape])], {}, 'rs');
      b.output(b.gemm(r, 64, 10, 'fc'));
      const g = groupOf(analyze(b), 'a');
      assert.equal(g.prunable, true, String(shape));
      const s = g.members.filter((m) => m.role === 'shape');
      assert.deepEqual(s.map((m) => [m.tensor, m.axis, m.mapping]), rewritten ? [['shape', 1, { kind: 'block', size: 16, offset: 0 }]] : [], String(shape));
      assert.deepEqual(member(g, 'fc').mapping, { kind: 'block', size: 16, offset: 0 });
    }
  });

  it('Reshape with a computed shape (x.view(x.size(0), -1) and friends)', () => {
    const build = (kind: 'flatten' | 'literal' | 'copyC' | 'arith') => {
      const b = new ModelBuilder();
      const x = b.input('x', ['N', 3, 4, 4]);
      const a = convRelu(b, x, 3, 4, 'a');
      const sh = b.node('Shape', [a], {}, 'shape');
      const n = b.node('Unsqueeze', [b.node('Gather', [sh, b.initInt64('i0', [], [])], { axis: 0 }, 'g0'), b.initInt64('u0', [0])], {}, 'un0');
      let parts: string[];
      if (kind === 'flatten') parts = [n, b.initInt64('m1', [-1])];
      else if (kind === 'literal') parts = [n, b.initInt64('lit', [64])];
      else if (kind === 'copyC') parts = [n, b.node('Slice', [sh, b.initInt64('s1', [1]), b.initInt64('e1', [2])], {}, 'c1'), b.initInt64('m1', [-1])];
      else parts = [n, b.node('Div', [b.node('Slice', [sh, b.initInt64('s1', [1]), b.initInt64('e1', [2])]), b.initInt64('two', [2])]), b.initInt64('m1', [-1])];
      const r = b.node('Reshape', [a, b.concat(parts, 0)], {}, 'rs');
      if (kind === 'flatten' || kind === 'literal') b.output(b.gemm(r, 64, 10, 'fc'));
      else b.output(b.node('Mystery', [r], {}, 'mystery'));
      return analyze(b);
    };
    const flat = groupOf(build('flatten'), 'a');
    assert.equal(flat.prunable, true);
    assert.deepEqual(member(flat, 'fc').mapping, { kind: 'block', size: 16, offset: 0 });
    assert.equal(flat.members.filter((m) => m.role === 'shape').length, 0);
    const lit = groupOf(build('literal'), 'a');
    assert.equal(lit.prunable, true);
    const concatNode = lit.members.find((m) => m.role === 'shape');
    assert.deepEqual(concatNode && [concatNode.op, concatNode.tensor, concatNode.inputIndex, concatNode.axis, concatNode.mapping], ['Concat', 'lit', 1, 0, { kind: 'block', size: 16, offset: 0 }]);
    assert.equal(groupOf(build('copyC'), 'a').reason, "Mystery 'mystery' is an operator the analysis does not model");
    assert.equal(groupOf(build('arith'), 'a').reason, "Reshape 'rs' has a non-constant shape");
  });

  it('Reshape that splits the channel axis freezes', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 4, 4]);
    const r = b.node('Reshape', [convRelu(b, x, 3, 4, 'a'), b.initInt64('shape', [1, 2, 2, 16])], {}, 'rs');
    b.output(b.relu(r));
    const g = groupOf(analyze(b), 'a');
    assert.equal(g.prunable, false);
    assert.equal(g.reason, "Reshape 'rs' moves or mixes the channel axis (shape [1,2,2,16])");
  });

  it('Reshape [N, C] -> [N, C, 1, 1] (SE gate made of Gemms) keeps the channels; C is rewritten', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const a = convRelu(b, x, 3, 8, 'a');
    const s = b.relu(b.gemm(b.flatten(b.gap(a)), 8, 2, 'fc1'));
    const gate = b.node('Sigmoid', [b.gemm(s, 2, 8, 'fc2')]);
    const r = b.node('Reshape', [gate, b.initInt64('gshape', [0, 8, 1, 1])], {}, 'unflat');
    head(b, b.mul(a, r), 8);
    const res = analyze(b);
    const g = groupOf(res, 'a');
    assert.equal(groupOf(res, 'fc2').id, g.id);
    assert.equal(g.prunable, true);
    assert.deepEqual(g.members.filter((m) => m.role === 'shape').map((m) => [m.node, m.tensor, m.axis, m.mapping]), [['unflat', 'gshape', 1, { kind: 'identity' }]]);
    assert.deepEqual(member(g, 'fc1').mapping, { kind: 'identity' }); // one feature per channel after GAP
  });

  it('Reshape keeping batch and channels passes ([0,0,-1], [1,8,64]); one splitting channels freezes', () => {
    for (const [shape, ok, rewritten] of [[[0, 0, -1], true, false], [[1, 8, 64], true, true], [[0, 4, -1], false, false]] as const) {
      const b = new ModelBuilder();
      const x = b.input('x', [1, 3, 8, 8]);
      const r = b.node('Reshape', [convRelu(b, x, 3, 8, 'a'), b.initInt64('shape', [...shape])], {}, 'rs');
      b.output(b.node('Mystery', [r], {}, 'mystery'));
      const g = groupOf(analyze(b), 'a');
      // Past the Reshape the channels reach an unknown operator: that is the reason when the Reshape passes.
      const expected = ok ? "Mystery 'mystery' is an operator the analysis does not model" : `Reshape 'rs' moves or mixes the channel axis (shape [${shape.join(',')}])`;
      assert.equal(g.reason, expected, String(shape));
      assert.equal(g.members.some((m) => m.role === 'shape'), rewritten, String(shape));
    }
  });

  it('SE gate [N,C,1,1] couples the gate producer with the gated tensor', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const a = convRelu(b, x, 3, 8, 'a');
    const s = b.relu(b.conv(b.gap(a), 8, 2, { k: 1, name: 'squeeze' }));
    const gate = b.node('HardSigmoid', [b.conv(s, 2, 8, { k: 1, name: 'excite' })]);
    head(b, b.mul(a, gate), 8);
    const res = analyze(b);
    const g = groupOf(res, 'a');
    assert.equal(groupOf(res, 'excite').id, g.id);
    assert.equal(member(g, 'squeeze').role, 'in');
    assert.notEqual(groupOf(res, 'squeeze').id, g.id);
    assert.ok(g.prunable);
  });

  it('spatial mask [N,1,H,W] couples nothing', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const mask = b.input('mask', [1, 1, 8, 8]);
    const a = convRelu(b, x, 3, 8, 'a');
    const m1 = b.node('Sigmoid', [b.conv(a, 8, 1, { k: 1, name: 'att' })]);
    const y = b.mul(b.mul(a, m1), mask);
    head(b, y, 8);
    const res = analyze(b);
    const g = groupOf(res, 'a');
    assert.equal(g.prunable, true);
    assert.deepEqual(g.layers, ['a']);
    const att = groupOf(res, 'att'); // a single channel broadcast over 8 cannot lose its channel
    assert.equal(att.prunable, false);
    assert.match(att.reason!, /broadcasts its single channel/);
  });

  it('an operator missing from the table freezes the group, naming the node', () => {
    assert.equal(RULES['LRN'], undefined);
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const l = b.node('LRN', [convRelu(b, x, 3, 8, 'a')], { size: 3 }, 'lrn');
    head(b, b.conv(l, 8, 4, { name: 'c' }), 4);
    const g = groupOf(analyze(b), 'a');
    assert.equal(g.prunable, false);
    assert.equal(g.reason, "LRN 'lrn' is an operator the analysis does not model");
  });

  it('Transpose moving the channel axis freezes; one keeping it passes', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const t1 = b.node('Transpose', [convRelu(b, x, 3, 8, 'a')], { perm: [0, 2, 3, 1] }, 'nhwc');
    b.output(b.relu(t1));
    const t2 = b.node('Transpose', [convRelu(b, x, 3, 8, 'k')], { perm: [0, 1, 3, 2] }, 'hw');
    head(b, b.conv(t2, 8, 4, { name: 'c' }), 4);
    const res = analyze(b);
    const g = groupOf(res, 'a');
    assert.equal(g.prunable, false);
    assert.equal(g.reason, "Transpose 'nhwc' moves the channel axis (perm [0,2,3,1])");
    assert.equal(groupOf(res, 'k').prunable, true);
  });

  it('a group reaching a graph output freezes', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const r = convRelu(b, x, 3, 8, 'a');
    b.output(r);
    const g = groupOf(analyze(b), 'a');
    assert.equal(g.prunable, false);
    assert.equal(g.reason, `reaches graph output '${r}' through Relu '${r.replace(/_out0$/, '')}'`);
  });

  it('Clip with Constant-node min/max passes; a non-constant bound freezes', () => {
    for (const constant of [true, false]) {
      const b = new ModelBuilder();
      const x = b.input('x', [1, 3, 8, 8]);
      const hi = constant ? b.constantNode([], [6]) : b.input('hi', []);
      const c = b.node('Clip', [b.conv(x, 3, 8, { name: 'a' }), b.constantNode([], [0]), hi], {}, 'clip');
      head(b, b.conv(c, 8, 4, { name: 'c' }), 4);
      const g = groupOf(analyze(b), 'a');
      assert.equal(g.prunable, constant);
      if (!constant) assert.match(g.reason!, /Clip 'clip' has a non-constant input 'hi'/);
      else assert.equal(member(g, 'c').role, 'in');
    }
  });

  it('PRelu per-channel slope is a param member; a single slope is not', () => {
    for (const [dims, sliced] of [[[8, 1, 1], true], [[1], false]] as const) {
      const b = new ModelBuilder();
      const x = b.input('x', [1, 3, 8, 8]);
      const p = b.node('PRelu', [b.conv(x, 3, 8, { name: 'a' }), b.init('slope', [...dims])], {}, 'prelu');
      head(b, p, 8);
      const g = groupOf(analyze(b), 'a');
      assert.equal(g.prunable, true);
      const m = g.members.filter((x) => x.node === 'prelu');
      assert.deepEqual(m.map((x) => [x.role, x.tensor, x.inputIndex, x.axis]), sliced ? [['param', 'slope', 1, 0]] : []);
    }
  });

  it('per-channel constants broadcast against the activation are param members, scalars are not', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const a = b.conv(x, 3, 8, { name: 'a' });
    const y = b.node('Div', [b.mul(b.add(a, b.init('shift', [1, 8, 1, 1])), b.init('scale', [8, 1, 1])), b.init('six', [])], {}, 'div');
    head(b, y, 8);
    const g = groupOf(analyze(b), 'a');
    assert.equal(g.prunable, true);
    assert.deepEqual(g.members.filter((m) => m.role === 'param').map((m) => [m.tensor, m.axis]), [['shift', 1], ['scale', 0]]);
  });

  it('a wrongly sized constant operand freezes', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    head(b, b.add(b.conv(x, 3, 8, { name: 'a' }), b.init('bad', [1, 4, 1, 1])), 8);
    const g = groupOf(analyze(b), 'a');
    assert.equal(g.prunable, false);
    assert.match(g.reason!, /^Add '.*' broadcasts 'bad'/);
  });

  it('Pad on spatial axes passes, on the channel axis freezes; Resize with channel scale 1 passes', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const p1 = b.node('Pad', [convRelu(b, x, 3, 8, 'a'), b.initInt64('sp', [0, 0, 1, 1, 0, 0, 1, 1])], {}, 'pad1');
    const r = b.node('Resize', [p1, '', b.init('scales', [4], [1, 1, 2, 2])], { mode: 'nearest' }, 'up');
    const p2 = b.node('Pad', [convRelu(b, x, 3, 8, 'k'), b.initInt64('cp', [0, 1, 0, 0, 0, 0, 0, 0])], {}, 'pad2');
    head(b, b.concat([b.conv(r, 8, 4, { name: 'c1' }), b.node('MaxPool', [b.conv(p2, 9, 4, { name: 'c2' })], { kernel_shape: [2, 2], strides: [2, 2] })]), 8);
    const res = analyze(b);
    assert.equal(groupOf(res, 'a').prunable, true);
    const k = groupOf(res, 'k');
    assert.equal(k.prunable, false);
    assert.equal(k.reason, "Pad 'pad2' pads the channel axis (pads [0,1,0,0,0,0,0,0])");
  });

  it('a tensor used by other nodes is flagged shared (initializer and Identity-shared bias)', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const w = b.init('w', [8, 3, 3, 3]);
    const zero = b.init('zero', [8], 'zeros');
    const b1 = b.node('Identity', [zero], {}, 'id1');
    const b2 = b.node('Identity', [zero], {}, 'id2');
    const p = b.node('Conv', [x, w, b1], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'p');
    const q = b.node('Conv', [x, w, b2], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'q');
    const u = b.conv(x, 3, 8, { name: 'u' });
    head(b, b.concat([p, q, u]), 24);
    const res = analyze(b);
    const mp = member(groupOf(res, 'p'), 'p');
    assert.deepEqual([mp.tensor, mp.shared, mp.bias, mp.biasShared], ['w', true, 'zero', true]);
    const mu = member(groupOf(res, 'u'), 'u');
    assert.deepEqual([mu.shared, mu.biasShared], [false, false]);
  });

  it('group ids follow topological order; every weighted layer has a group', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const a = convRelu(b, x, 3, 8, 'first');
    head(b, convRelu(b, a, 8, 8, 'second'), 8);
    const res = analyze(b);
    assert.deepEqual(res.groups.map((g) => [g.id, g.layers]), [[0, ['first']], [1, ['second']], [2, ['head']]]);
    assert.deepEqual([...res.groupOfLayer], [['first', 0], ['second', 1], ['head', 2]]);
  });

  it('a value read inside a subgraph (If branch) freezes its group', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    const cond = b.input('cond', [], DataType.BOOL);
    const a = convRelu(b, x, 3, 8, 'a');
    head(b, b.conv(a, 8, 4, { name: 'c' }), 4);
    const model = b.build();
    const branch = (op: string) => ({ name: op, node: [{ op_type: op, name: `${op}_in_branch`, input: [a], output: [`${op}_y`], attribute: [] }], initializer: [], input: [], output: [{ name: `${op}_y` }], value_info: [], sparse_initializer: [] });
    model.graph!.node.push({ op_type: 'If', name: 'if', input: [cond], output: ['if_out'], attribute: [
      { name: 'then_branch', type: AttributeType.GRAPH, g: branch('Relu') },
      { name: 'else_branch', type: AttributeType.GRAPH, g: branch('Sigmoid') },
    ] } as never);
    model.graph!.output.push({ name: 'if_out' });
    const buf = ModelProtoType.encode(ModelProtoType.fromObject(model as never)).finish();
    const graph = new Graph({ path: '/tmp/if.onnx', dir: '/tmp', fileSize: buf.length, sizeOnDisk: buf.length, proto: decodeModel(buf) });
    const res = analyzeDependencies(graph);
    const g = groupOf(res, 'a');
    assert.equal(g.prunable, false);
    assert.equal(g.reason, `If 'if' uses '${a}' inside a subgraph`);
  });

  it('honours an aborted signal', () => {
    const b = new ModelBuilder();
    head(b, b.input('x', [1, 3, 8, 8]), 3);
    const ac = new AbortController();
    ac.abort();
    assert.throws(() => analyze(b, ac.signal), CancelledError);
  });
});
