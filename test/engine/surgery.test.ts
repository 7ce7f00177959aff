// Graph surgery on hand-built models with hand-written channel groups: every pruned model is
// run in ONNX Runtime and compared with what the original computes on the kept channels.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import Long from 'long';
import * as ort from 'onnxruntime-node';
import { Graph } from '../../src/engine/graph/graph.ts';
import { decodeModel, loadModel, tensorDims, tensorToFloat32, type OnnxModel } from '../../src/engine/onnx/model.ts';
import { DataType, ModelProtoType, type ModelProto, type TensorProto } from '../../src/engine/onnx/proto.ts';
import type { ChannelGroup, DependencyAnalysis, GroupMember } from '../../src/engine/analysis/types.ts';
import type { ResolvedPlan } from '../../src/engine/prune/types.ts';
import { pruneGraph, sliceTensor } from '../../src/engine/prune/surgery.ts';
import { PrunerError } from '../../src/engine/errors.ts';
import { ModelBuilder } from '../helpers/modelBuilder.ts';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { analyzeDependencies } from '../../src/engine/analysis/groups.ts';
import { computeImportance } from '../../src/engine/analysis/importance.ts';
import { resolvePlan } from '../../src/engine/prune/plan.ts';
import { pruneModel } from '../../src/engine/prune/prune.ts';
import { shared, skipWithoutShared, tempDir } from '../helpers/paths.ts';
import { maxAbsDiff } from '../helpers/ort.ts';

function encode(m: ModelProto): Uint8Array {
  return ModelProtoType.encode(m as any).finish();
}

function asModel(buf: Uint8Array, name = 'm.onnx'): OnnxModel {
  return { path: `/virtual/${name}`, dir: '/virtual', fileSize: buf.length, sizeOnDisk: buf.length, proto: decodeModel(buf) };
}

async function run(buf: Uint8Array, feeds: Record<string, { dims: number[]; data: Float32Array }>): Promise<Record<string, { dims: number[]; data: Float32Array }>> {
  const s = await ort.InferenceSession.create(buf, { logSeverityLevel: 4 });
  try {
    const f: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) f[k] = new ort.Tensor('float32', v.data, v.dims);
    const r = await s.run(f);
    const out: Record<string, { dims: number[]; data: Float32Array }> = {};
    for (const [k, v] of Object.entries(r)) out[k] = { dims: [...v.dims], data: v.data as Float32Array };
    return out;
  } finally {
    await s.release();
  }
}

function randomInput(n: number, seed = 7): Float32Array {
  let a = seed;
  return Float32Array.from({ length: n }, () => {
    a = (a * 1103515245 + 12345) % 2147483648;
    return (a / 2147483648) * 2 - 1;
  });
}

const id = { kind: 'identity' } as const;
/** A member as the analysis writes it; 'out'/'depthwise' members of layers with a bias name it (`<node>.bias`). */
const mem = (node: string, op: string, role: GroupMember['role'], tensor: string | undefined, inputIndex: number | undefined, axis: number, mapping: GroupMember['mapping'] = id, extra: Partial<GroupMember> = {}): GroupMember => ({
  node, op, role, ...(tensor ? { tensor } : {}), ...(inputIndex !== undefined ? { inputIndex } : {}), axis, mapping,
  ...((role === 'out' || role === 'depthwise') && tensor?.endsWith('.weight') && tensor !== 'shared.weight' ? { bias: `${node}.bias` } : {}),
  ...extra,
});
const bnMembers = (bn: string): GroupMember[] =>
  ['weight', 'bias', 'running_mean', 'running_var'].map((s, i) => mem(bn, 'BatchNormalization', 'param', `${bn}.${s}`, i + 1, 0));
const group = (gid: number, channels: number, members: GroupMember[], layers: string[], bnNodes: string[] = []): ChannelGroup => ({
  id: gid, channels, members, layers, bnNodes, prunable: true, values: [],
});
const plan = (kept: [number, number[]][]): ResolvedPlan => ({
  plan: { version: 1, criterion: 'l1', ratio: 0.5, scope: 'uniform' },
  kept: new Map(kept),
});

/** conv1(3→8, 3x3 pad 1) → bn1 → relu → conv2(8→6, 1x1) → bn2 → relu → GAP → flatten → gemm(6→4) */
function convNet(opts: { gamma1?: number[]; typed?: boolean } = {}) {
  const b = new ModelBuilder({ seed: 3 });
  b.typedStorage = opts.typed ?? false;
  const x = b.input('x', [1, 3, 8, 8]);
  let y = b.conv(x, 3, 8, { k: 3, name: 'conv1' });
  y = b.relu(b.bn(y, 8, { name: 'bn1', ...(opts.gamma1 ? { gamma: opts.gamma1 } : {}) }));
  y = b.conv(y, 8, 6, { k: 1, name: 'conv2' });
  y = b.relu(b.bn(y, 6, { name: 'bn2' }));
  const out = b.gemm(b.flatten(b.gap(y)), 6, 4, 'fc');
  b.output(out, [1, 4]);
  const g0 = group(0, 8, [mem('conv1', 'Conv', 'out', 'conv1.weight', 1, 0), ...bnMembers('bn1'), mem('conv2', 'Conv', 'in', 'conv2.weight', 1, 1)], ['conv1'], ['bn1']);
  const g1 = group(1, 6, [mem('conv2', 'Conv', 'out', 'conv2.weight', 1, 0), ...bnMembers('bn2'), mem('fc', 'Gemm', 'in', 'fc.weight', 1, 1)], ['conv2'], ['bn2']);
  const deps: DependencyAnalysis = { groups: [g0, g1], groupOfLayer: new Map([['conv1', 0], ['conv2', 1]]) };
  return { buf: b.toBuffer(), deps, out };
}

describe('surgery', () => {
  test('slices conv/BN/gemm members, runs in ONNX Runtime, leaves the original untouched', async () => {
    for (const typed of [false, true]) {
      const { buf, deps, out } = convNet({ typed });
      const before = Buffer.from(buf);
      const model = asModel(buf);
      const graph = new Graph(model);
      const r = pruneGraph(graph, deps, plan([[0, [0, 2, 3, 5, 7]], [1, [1, 2, 4]]]), { compensate: false });
      // The source proto re-encodes to exactly the original bytes: nothing was mutated.
      assert.deepEqual(Buffer.from(encode(model.proto)), before);
      const pruned = encode(r.model);
      const pg = new Graph(asModel(pruned));
      assert.deepEqual(tensorDims(pg.initializers.get('conv1.weight')!), [5, 3, 3, 3]);
      assert.deepEqual(tensorDims(pg.initializers.get('conv1.bias')!), [5]);
      assert.deepEqual(tensorDims(pg.initializers.get('bn1.running_var')!), [5]);
      assert.deepEqual(tensorDims(pg.initializers.get('conv2.weight')!), [3, 5, 1, 1]);
      assert.deepEqual(tensorDims(pg.initializers.get('fc.weight')!), [4, 3]);
      // Values: conv2's kept rows and kept columns are the original's.
      const w0 = tensorToFloat32(model, graph.initializers.get('conv2.weight')!);
      const w1 = tensorToFloat32(pg.model, pg.initializers.get('conv2.weight')!);
      const keptOut = [1, 2, 4];
      const keptIn = [0, 2, 3, 5, 7];
      keptOut.forEach((o, i) => keptIn.forEach((c, j) => assert.equal(w1[i * 5 + j], w0[o * 8 + c])));
      assert.deepEqual(r.layers.map((l) => [l.name, l.channelsBefore, l.channelsAfter]), [['conv1', 8, 5], ['conv2', 6, 3]]);
      const meta = new Map(r.model.metadata_props.map((e) => [e.key, e.value]));
      assert.deepEqual(JSON.parse(meta.get('onnx_pruner.widths')!), { conv1: [8, 5], conv2: [6, 3] });
      assert.equal(meta.get('onnx_pruner.criterion'), 'l1');
      const res = await run(pruned, { x: { dims: [1, 3, 8, 8], data: randomInput(192) } });
      assert.deepEqual(res[out].dims, [1, 4]);
    }
  });

  test('pruning channels whose BN output is exactly 0 (γ=0, β=0) before a ReLU changes nothing', async () => {
    const b = new ModelBuilder({ seed: 5 });
    const x = b.input('x', [1, 3, 8, 8]);
    let y = b.conv(x, 3, 8, { k: 3, name: 'conv1' });
    const gamma = [0.9, 0, 0.7, 0, 0.5, 1.1, 0, 0.8];
    const beta = gamma.map((g, i) => (g === 0 ? 0 : 0.1 * i));
    y = b.relu(b.bn(y, 8, { name: 'bn1', gamma, beta }));
    y = b.conv(y, 8, 4, { k: 3, name: 'conv2' }); // padding is harmless here: removed channels are exactly 0
    b.output(y, [1, 4, 8, 8]);
    const g0 = group(0, 8, [mem('conv1', 'Conv', 'out', 'conv1.weight', 1, 0), ...bnMembers('bn1'), mem('conv2', 'Conv', 'in', 'conv2.weight', 1, 1)], ['conv1'], ['bn1']);
    const buf = b.toBuffer();
    const r = pruneGraph(new Graph(asModel(buf)), { groups: [g0], groupOfLayer: new Map() }, plan([[0, [0, 2, 4, 5, 7]]]), { compensate: false });
    const input = { x: { dims: [1, 3, 8, 8], data: randomInput(192, 11) } };
    const a = await run(buf, input);
    const p = await run(encode(r.model), input);
    assert.ok(maxAbsDiff(a[y].data, p[y].data) < 1e-5);
  });

  test('depthwise conv: weight, bias and group shrink; flatten into gemm uses block mapping; reshape shape rewritten', async () => {
    const b = new ModelBuilder({ seed: 9 });
    const x = b.input('x', [1, 2, 4, 4]);
    let y = b.conv(x, 2, 6, { k: 1, name: 'pw' });
    y = b.conv(y, 6, 6, { k: 3, group: 6, name: 'dw' });
    const shape = b.initInt64('shape', [1, 96]);
    y = b.node('Reshape', [y, shape], {}, 'reshape');
    const out = b.gemm(y, 96, 3, 'fc');
    b.output(out, [1, 3]);
    const g0 = group(0, 6, [
      mem('pw', 'Conv', 'out', 'pw.weight', 1, 0),
      mem('dw', 'Conv', 'depthwise', 'dw.weight', 1, 0),
      mem('reshape', 'Reshape', 'shape', 'shape', 1, 1, { kind: 'block', size: 16, offset: 0 }),
      mem('fc', 'Gemm', 'in', 'fc.weight', 1, 1, { kind: 'block', size: 16, offset: 0 }),
    ], ['pw'], []);
    const buf = b.toBuffer();
    const model = asModel(buf);
    const r = pruneGraph(new Graph(model), { groups: [g0], groupOfLayer: new Map() }, plan([[0, [1, 3, 4]]]), { compensate: false });
    const pg = new Graph(asModel(encode(r.model)));
    assert.deepEqual(tensorDims(pg.initializers.get('dw.weight')!), [3, 1, 3, 3]);
    assert.deepEqual(tensorDims(pg.initializers.get('dw.bias')!), [3]);
    assert.deepEqual(pg.constantInts('shape'), [1, 48]);
    assert.equal(Number(pg.byName.get('dw')!.attribute.find((a) => a.name === 'group')!.i), 3);
    const fc0 = tensorToFloat32(model, new Graph(model).initializers.get('fc.weight')!);
    const fc1 = tensorToFloat32(pg.model, pg.initializers.get('fc.weight')!);
    // row 0, kept channel 1 occupies features 16..31 of the original and 0..15 of the pruned
    for (let k = 0; k < 16; k++) assert.equal(fc1[k], fc0[16 + k]);
    // The original computes the kept channels the same way: compare with the original where the
    // removed channels' fc columns are zeroed.
    const res = await run(encode(r.model), { x: { dims: [1, 2, 4, 4], data: randomInput(32) } });
    assert.deepEqual(res[out].dims, [1, 3]);
    const zeroed = decodeModel(buf);
    const fcT = zeroed.graph!.initializer.find((t) => t.name === 'fc.weight')!;
    const w = Float32Array.from(fc0);
    for (let o = 0; o < 3; o++) for (const c of [0, 2, 5]) for (let k = 0; k < 16; k++) w[o * 96 + c * 16 + k] = 0;
    fcT.raw_data = Buffer.from(w.buffer);
    const ref = await run(encode(zeroed), { x: { dims: [1, 2, 4, 4], data: randomInput(32) } });
    assert.ok(maxAbsDiff(ref[out].data, res[out].data) < 1e-5);
  });

  test('an initializer shared by differently pruned layers is copied under a new name', async () => {
    const b = new ModelBuilder({ seed: 4 });
    const x = b.input('x', [1, 4, 5, 5]);
    // two 1x1 convs that share one weight; only the first one's output is pruned
    const w = b.init('shared.weight', [4, 4, 1, 1]);
    const y1 = b.node('Conv', [x, w], { kernel_shape: [1, 1] }, 'c1');
    const y2 = b.node('Conv', [x, w], { kernel_shape: [1, 1] }, 'c2');
    const z1 = b.conv(y1, 4, 2, { k: 1, name: 'c3' });
    b.output(z1, [1, 2, 5, 5]);
    b.output(y2, [1, 4, 5, 5]);
    const g0 = group(0, 4, [mem('c1', 'Conv', 'out', 'shared.weight', 1, 0), mem('c3', 'Conv', 'in', 'c3.weight', 1, 1)], ['c1']);
    const buf = b.toBuffer();
    const r = pruneGraph(new Graph(asModel(buf)), { groups: [g0], groupOfLayer: new Map() }, plan([[0, [0, 3]]]), { compensate: false });
    const pg = new Graph(asModel(encode(r.model)));
    assert.deepEqual(tensorDims(pg.initializers.get('shared.weight')!), [4, 4, 1, 1]);
    const c1w = pg.byName.get('c1')!.input[1];
    assert.notEqual(c1w, 'shared.weight');
    assert.deepEqual(tensorDims(pg.initializers.get(c1w)!), [2, 4, 1, 1]);
    assert.equal(pg.byName.get('c2')!.input[1], 'shared.weight');
    const input = { x: { dims: [1, 4, 5, 5], data: randomInput(100) } };
    const a = await run(buf, input);
    const p = await run(encode(r.model), input);
    assert.ok(maxAbsDiff(a[y2].data, p[y2].data) === 0);
  });

  test('slices FLOAT16, DOUBLE, INT8 and typed-field tensors by element, not as float32', () => {
    const model = asModel(new ModelBuilder().toBuffer());
    const graph = new Graph(model);
    const mk = (dt: number, bytes: number[], dims: number[]): TensorProto => ({ name: 't', data_type: dt, dims: dims.map((d) => Long.fromNumber(d)), raw_data: Buffer.from(bytes), float_data: [], int32_data: [], string_data: [], int64_data: [], double_data: [], uint64_data: [], external_data: [], metadata_props: [] });
    // FLOAT16 [3, 2]: rows are pairs of 16-bit patterns
    const h = mk(DataType.FLOAT16, [1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0], [3, 2]);
    const s = sliceTensor(graph, h, 0, new Set([1]));
    assert.deepEqual([...s.raw_data!], [1, 0, 2, 0, 5, 0, 6, 0]);
    assert.deepEqual(tensorDims(s), [2, 2]);
    const s1 = sliceTensor(graph, h, 1, new Set([0]));
    assert.deepEqual([...s1.raw_data!], [2, 0, 4, 0, 6, 0]);
    const i8 = mk(DataType.INT8, [1, 2, 3, 4], [4]);
    assert.deepEqual([...sliceTensor(graph, i8, 0, new Set([0, 2])).raw_data!], [2, 4]);
    const d = Buffer.alloc(24);
    [1.5, -2.25, 3.125].forEach((v, i) => d.writeDoubleLE(v, i * 8));
    const dt = mk(DataType.DOUBLE, [...d], [3]);
    const ds = sliceTensor(graph, dt, 0, new Set([1]));
    assert.deepEqual([Buffer.from(ds.raw_data!).readDoubleLE(0), Buffer.from(ds.raw_data!).readDoubleLE(8)], [1.5, 3.125]);
    const typed: TensorProto = { ...mk(DataType.FLOAT, [], [2, 3]), raw_data: undefined, float_data: [1, 2, 3, 4, 5, 6] };
    assert.deepEqual(sliceTensor(graph, typed, 1, new Set([1])).float_data, [1, 3, 4, 6]);
    assert.throws(() => sliceTensor(graph, i8, 0, new Set([9]), 'node'), PrunerError);
  });

  for (const opset of [11, 13]) {
    test(`Split sizes rewritten (opset ${opset}: ${opset < 13 ? 'attribute' : 'input'}); members behind the split use start/span/offset`, async () => {
      const b = new ModelBuilder({ opset, seed: 6 });
      const x = b.input('x', [1, 3, 5, 5]);
      const y = b.conv(x, 3, 8, { k: 3, name: 'c0' });
      const sizes = opset < 13 ? undefined : b.initInt64('sizes', [4, 4]);
      const [s0, s1] = b.nodeMulti('Split', sizes ? [y, sizes] : [y], 2, sizes ? { axis: 1 } : { axis: 1, split: [4, 4] }, 'split');
      const z0 = b.conv(s0, 4, 2, { k: 1, name: 'c1' });
      const z1 = b.conv(s1, 4, 2, { k: 1, name: 'c2' });
      b.output(z0, [1, 2, 5, 5]);
      b.output(z1, [1, 2, 5, 5]);
      const shapeMember = (axis: number, start: number): GroupMember => ({
        node: 'split', op: 'Split', role: 'shape', axis, mapping: id, start, span: 4,
        ...(sizes ? { tensor: 'sizes', inputIndex: 1 } : { attribute: 'split' }),
      });
      const g0 = group(0, 8, [
        mem('c0', 'Conv', 'out', 'c0.weight', 1, 0),
        shapeMember(0, 0),
        shapeMember(1, 4),
        mem('c1', 'Conv', 'in', 'c1.weight', 1, 1, { kind: 'offset', offset: 0 }, { start: 0, span: 4 }),
        mem('c2', 'Conv', 'in', 'c2.weight', 1, 1, { kind: 'offset', offset: -4 }, { start: 4, span: 4 }),
      ], ['c0']);
      const buf = b.toBuffer();
      const removed = [1, 4, 5, 7];
      const r = pruneGraph(new Graph(asModel(buf)), { groups: [g0], groupOfLayer: new Map() }, plan([[0, [0, 2, 3, 6]]]), { compensate: false });
      const pg = new Graph(asModel(encode(r.model)));
      const newSizes = sizes ? pg.constantInts('sizes') : pg.byName.get('split')!.attribute.find((a) => a.name === 'split')!.ints.map(Number);
      assert.deepEqual(newSizes, [3, 1]);
      assert.deepEqual(tensorDims(pg.initializers.get('c1.weight')!), [2, 3, 1, 1]);
      assert.deepEqual(tensorDims(pg.initializers.get('c2.weight')!), [2, 1, 1, 1]);
      // Reference: the original with the removed channels of c0 silenced (zero filter and bias).
      const m = decodeModel(buf);
      for (const name of ['c0.weight', 'c0.bias']) {
        const t = m.graph!.initializer.find((i) => i.name === name)!;
        const v = new Float32Array(Uint8Array.from(t.raw_data!).buffer);
        const per = v.length / 8;
        for (const c of removed) v.fill(0, c * per, (c + 1) * per);
        t.raw_data = Buffer.from(v.buffer);
      }
      const input = { x: { dims: [1, 3, 5, 5], data: randomInput(75) } };
      const ref = await run(encode(m), input);
      const got = await run(encode(r.model), input);
      for (const o of [z0, z1]) assert.ok(maxAbsDiff(ref[o].data, got[o].data) < 1e-5, o);
    });
  }

  test('int8 per-channel quantised weight: int8 values, scale and zero point sliced along the axis', async () => {
    const b = new ModelBuilder({ seed: 12 });
    const x = b.input('x', [1, 2, 4, 4]);
    const q = Buffer.from(Int8Array.from({ length: 6 * 2 * 3 * 3 }, (_, i) => ((i * 37) % 255) - 127).buffer);
    b.initTensor({ name: 'wq', data_type: DataType.INT8, dims: [6, 2, 3, 3].map((d) => Long.fromNumber(d)), raw_data: q } as unknown as TensorProto);
    b.init('wscale', [6], [0.01, 0.02, 0.03, 0.04, 0.05, 0.06]);
    b.initTensor({ name: 'wzp', data_type: DataType.INT8, dims: [Long.fromNumber(6)], raw_data: Buffer.from([0, 1, 2, 3, 4, 5]) } as unknown as TensorProto);
    const w = b.node('DequantizeLinear', ['wq', 'wscale', 'wzp'], { axis: 0 }, 'dq');
    const bias = b.init('qconv.bias', [6]);
    const y = b.node('Conv', [x, w, bias], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'qconv');
    b.output(y, [1, 6, 4, 4]);
    const buf = b.toBuffer();
    const g0 = group(0, 6, [
      mem('dq', 'DequantizeLinear', 'param', 'wq', 0, 0),
      mem('dq', 'DequantizeLinear', 'param', 'wscale', 1, 0),
      mem('dq', 'DequantizeLinear', 'param', 'wzp', 2, 0),
      mem('qconv', 'Conv', 'param', 'qconv.bias', 2, 0),
    ], ['qconv']);
    const keep = [0, 2, 5];
    const r = pruneGraph(new Graph(asModel(buf)), { groups: [g0], groupOfLayer: new Map() }, plan([[0, keep]]), { compensate: false });
    const pg = new Graph(asModel(encode(r.model)));
    assert.equal(pg.initializers.get('wq')!.data_type, DataType.INT8);
    assert.deepEqual([...pg.initializers.get('wzp')!.raw_data!], [0, 2, 5]);
    const input = { x: { dims: [1, 2, 4, 4], data: randomInput(32) } };
    const a = (await run(buf, input))[y];
    const p = (await run(encode(r.model), input))[y];
    assert.deepEqual(p.dims, [1, 3, 4, 4]);
    keep.forEach((c, i) => {
      for (let k = 0; k < 16; k++) assert.ok(Math.abs(p.data[i * 16 + k] - a.data[c * 16 + k]) < 1e-6);
    });
  });

  test('stale value_info of pruned activations is dropped, the rest kept; ONNX Runtime accepts the model', async () => {
    const { buf, deps, out } = convNet();
    const m = decodeModel(buf);
    const vi = (name: string, dims: number[]) => ({ name, type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: dims.map((d) => ({ dim_value: Long.fromNumber(d) })) } } } });
    const g = m.graph!;
    const reluOut = g.node.filter((n) => n.op_type === 'Relu')[0].output[0];
    const gapOut = g.node.find((n) => n.op_type === 'GlobalAveragePool')!.output[0];
    g.value_info.push(vi(reluOut, [1, 8, 8, 8]) as any, vi(gapOut, [1, 6, 1, 1]) as any, vi('conv1_out0', [1, 8, 8, 8]) as any);
    const withInfo = encode(m);
    // Only group 0 (conv1's channels) is pruned: conv2's output and what follows keep their shapes.
    const r = pruneGraph(new Graph(asModel(withInfo)), deps, plan([[0, [0, 1, 2]]]), { compensate: false });
    const names = r.model.graph!.value_info.map((v) => v.name);
    assert.deepEqual(names, [gapOut]);
    const res = await run(encode(r.model), { x: { dims: [1, 3, 8, 8], data: randomInput(192) } });
    assert.deepEqual(res[out].dims, [1, 4]);
  });

  test('bad plans are refused with a PrunerError naming the layer', () => {
    const { buf, deps } = convNet();
    const graph = new Graph(asModel(buf));
    assert.throws(() => pruneGraph(graph, deps, plan([[0, []]])), (e: unknown) => e instanceof PrunerError && /keeps no channel of conv1/.test(e.message));
    assert.throws(() => pruneGraph(graph, deps, plan([[0, [0, 99]]])), (e: unknown) => e instanceof PrunerError && /conv1/.test(e.message));
    assert.throws(() => pruneGraph(graph, deps, plan([[42, [0]]])), PrunerError);
    const frozen = { ...deps, groups: deps.groups.map((gr) => (gr.id === 1 ? { ...gr, prunable: false, reason: 'reaches the graph output' } : gr)) };
    assert.throws(() => pruneGraph(graph, frozen, plan([[1, [0]]])), (e: unknown) => e instanceof PrunerError && /conv2.*graph output/.test(e.message));
  });
});

describe('unnamed nodes (real models)', { skip: skipWithoutShared }, () => {
  for (const rel of ['real/ultraface/version-RFB-320.onnx', 'real/ppocr/ch_ppocr_mobile_v2.0_cls_infer.onnx']) {
    test(`${rel}: the pruned file's nodes keep the original's (empty) names; the loaded model keeps its display names`, async () => {
      const file = shared(rel);
      const original = decodeModel(fs.readFileSync(file));
      const unnamed = original.graph!.node.filter((n) => !n.name).length;
      assert.ok(unnamed > 0, 'the model has unnamed nodes');
      // The surgery on a loaded model: its nodes keep the Graph's display names.
      const graph = new Graph(loadModel(file));
      const deps = analyzeDependencies(graph);
      const resolved = resolvePlan({ version: 1, criterion: 'l1', scope: 'uniform', ratio: 0.3 }, deps, await computeImportance(graph, deps));
      assert.ok(resolved.kept.size > 0, 'the plan prunes something');
      const r = pruneGraph(graph, deps, resolved, {});
      assert.ok(graph.model.proto.graph!.node.every((n) => !!n.name), 'the loaded model is not mutated');
      assert.deepEqual(r.model.graph!.node.map((n) => n.name ?? ''), original.graph!.node.map((n) => n.name ?? ''));
      // Through the whole pipeline and the file.
      const dir = tempDir();
      try {
        const rep = await pruneModel(file, { version: 1, criterion: 'l1', scope: 'uniform', ratio: 0.3 }, { out: path.join(dir, 'p.onnx') });
        const written = decodeModel(fs.readFileSync(rep.output));
        assert.deepEqual(written.graph!.node.map((n) => n.op_type), original.graph!.node.map((n) => n.op_type));
        assert.deepEqual(written.graph!.node.map((n) => n.name ?? ''), original.graph!.node.map((n) => n.name ?? ''));
        // The widths metadata names layers by their display names, which re-opening reproduces.
        const widths = JSON.parse(written.metadata_props.find((e) => e.key === 'onnx_pruner.widths')!.value!) as Record<string, [number, number]>;
        const reopened = new Graph(loadModel(rep.output));
        for (const name of Object.keys(widths)) assert.ok(reopened.byName.has(name), `layer ${name} found again in the pruned model`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
