// Shape inference: the arithmetic of each operator family on hand-built graphs (checked against
// ONNX Runtime where the graph runs), value propagation through shape chains, and every shared
// model's outputs against what ONNX Runtime produces at batch 1.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ModelBuilder } from '../helpers/modelBuilder.ts';
import { allSharedModels, fmnistBn, fmnistFused, shared, skipWithoutShared, tempDir } from '../helpers/paths.ts';
import { decodeModel, loadModel } from '../../src/engine/onnx/model.ts';
import { Graph } from '../../src/engine/graph/graph.ts';
import { type Dim, inferShapes, valueInfoShape } from '../../src/engine/graph/shapes.ts';
import { DataType, ModelProtoType, type ModelProto, type ValueInfoProto } from '../../src/engine/onnx/proto.ts';

const INT64_MAX = '9223372036854775807';

function graphOf(b: ModelBuilder): Graph {
  const buf = b.toBuffer();
  return new Graph({ path: 'test.onnx', dir: '.', fileSize: buf.length, sizeOnDisk: buf.length, proto: decodeModel(buf) });
}

const tmp = tempDir('onnx-pruner-shapes-');
let fileCount = 0;

/** Output shapes ONNX Runtime produces for the builder's model with zero-filled inputs of the given shapes. */
async function ortShapes(b: ModelBuilder, inputs: Record<string, number[]>): Promise<Record<string, number[]>> {
  const file = b.save(path.join(tmp, `m${fileCount++}.onnx`));
  const sess = await ort.InferenceSession.create(file, { logSeverityLevel: 3 });
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, dims] of Object.entries(inputs)) feeds[name] = new ort.Tensor('float32', new Float32Array(dims.reduce((a, c) => a * c, 1)), dims);
  const out = await sess.run(feeds);
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v.dims]]));
}

/** Infers, checks the expected shapes, and checks ORT agrees (batch-1 numeric inputs only). */
async function expectShapes(b: ModelBuilder, expected: Record<string, Dim[]>, inputs?: Record<string, number[]>): Promise<void> {
  const r = inferShapes(graphOf(b));
  for (const [name, shape] of Object.entries(expected)) assert.deepEqual(r.shapes.get(name), shape, name);
  if (inputs) {
    const got = await ortShapes(b, inputs);
    for (const [name, shape] of Object.entries(expected)) assert.deepEqual(got[name], shape, `ORT: ${name}`);
  }
}

describe('shape inference: convolution and pooling arithmetic', () => {
  test('Conv: pads, strides, dilations, groups and every auto_pad', async () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 6, 17, 17]);
    const w = b.init('w', [4, 6, 3, 3]);
    const wd = b.init('wd', [6, 1, 3, 3]);
    const outs = {
      s2p1: b.node('Conv', [x, w], { pads: [1, 1, 1, 1], strides: [2, 2] }),
      dil2: b.node('Conv', [x, w], { dilations: [2, 2] }),
      asym: b.node('Conv', [x, w], { pads: [0, 1, 2, 0], strides: [1, 3] }),
      dw: b.node('Conv', [x, wd], { group: 6, pads: [1, 1, 1, 1] }),
      same: b.node('Conv', [x, w], { auto_pad: 'SAME_UPPER', strides: [2, 2] }),
      sameLower: b.node('Conv', [x, w], { auto_pad: 'SAME_LOWER', strides: [3, 3] }),
      valid: b.node('Conv', [x, w], { auto_pad: 'VALID', strides: [2, 2] }),
    };
    for (const o of Object.values(outs)) b.output(o);
    await expectShapes(b, {
      [outs.s2p1]: [1, 4, 9, 9],
      [outs.dil2]: [1, 4, 13, 13],
      [outs.asym]: [1, 4, 17, 6],
      [outs.dw]: [1, 6, 17, 17],
      [outs.same]: [1, 4, 9, 9],
      [outs.sameLower]: [1, 4, 6, 6],
      [outs.valid]: [1, 4, 8, 8],
    }, { x: [1, 6, 17, 17] });
  });

  test('ConvTranspose: strides, pads, output_padding, groups, output_shape', async () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 4, 8, 8]);
    const w = b.init('w', [4, 3, 3, 3]);
    const up = b.node('ConvTranspose', [x, w], { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] });
    const grouped = b.node('ConvTranspose', [x, w], { group: 2 });
    const fixed = b.node('ConvTranspose', [x, w], { strides: [2, 2], output_shape: [16, 16] });
    for (const o of [up, grouped, fixed]) b.output(o);
    await expectShapes(b, { [up]: [1, 3, 16, 16], [grouped]: [1, 6, 10, 10], [fixed]: [1, 3, 16, 16] }, { x: [1, 4, 8, 8] });
  });

  test('MaxPool/AveragePool: ceil_mode (including the window that would start in the padding), pads, global pools', async () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 2, 6, 6]);
    const outs = {
      floor: b.node('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2] }),
      ceil: b.node('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }),
      // ceil((6-1)/2)+1 = 4 windows, but the 4th would start at 6 (outside): 3
      ceilEdge: b.node('MaxPool', [x], { kernel_shape: [1, 1], strides: [2, 2], ceil_mode: 1 }),
      avgPad: b.node('AveragePool', [x], { kernel_shape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1] }),
      gap: b.gap(x),
    };
    for (const o of Object.values(outs)) b.output(o);
    await expectShapes(b, {
      [outs.floor]: [1, 2, 2, 2],
      [outs.ceil]: [1, 2, 3, 3],
      [outs.ceilEdge]: [1, 2, 3, 3],
      [outs.avgPad]: [1, 2, 4, 4],
      [outs.gap]: [1, 2, 1, 1],
    }, { x: [1, 2, 6, 6] });
  });
});

describe('shape inference: reshaping, broadcasting, matrices', () => {
  test('Reshape 0 and -1, Flatten -> Gemm, symbolic batch kept', async () => {
    const b = new ModelBuilder();
    const x = b.input('x', ['N', 8, 2, 2]);
    const r1 = b.node('Reshape', [x, b.initInt64('s1', [0, -1])]);
    const r2 = b.node('Reshape', [x, b.initInt64('s2', [-1, 4, 0])]); // 32·N elements / (4·2)
    const fl = b.flatten(b.gap(x));
    const fc = b.gemm(fl, 8, 10);
    for (const o of [r1, r2, fc]) b.output(o);
    await expectShapes(b, { [r1]: ['N', 32], [r2]: ['4*N', 4, 2], [fl]: ['N', 8], [fc]: ['N', 10] });
    const bound = inferShapes(graphOf(b), { dims: { N: 3 } });
    assert.deepEqual(bound.shapes.get(r2), [12, 4, 2]);
    assert.deepEqual(bound.shapes.get(fc), [3, 10]);
    assert.equal(bound.symbolicBatch, false);
    assert.equal(inferShapes(graphOf(b)).symbolicBatch, true);
    const got = await ortShapes(b, { x: [3, 8, 2, 2] });
    assert.deepEqual(got[r2], [12, 4, 2]);
    assert.deepEqual(got[fc], [3, 10]);
  });

  test('numpy broadcasting, Gemm transposes, MatMul batched and 1-D', async () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 1, 5]);
    const y = b.input('y', [4, 1]);
    const add = b.add(x, y);
    const m = b.input('m', [2, 3, 4]);
    const mm = b.node('MatMul', [m, b.init('mw', [4, 6])]);
    const mv = b.node('MatMul', [m, b.init('v', [4])]);
    const vm = b.node('MatMul', [b.init('v2', [3]), m]);
    const a = b.input('a', [7, 5]);
    const g = b.node('Gemm', [a, b.init('gw', [7, 9])], { transA: 1 });
    for (const o of [add, mm, mv, vm, g]) b.output(o);
    await expectShapes(b, { [add]: [1, 3, 4, 5], [mm]: [2, 3, 6], [mv]: [2, 3], [vm]: [2, 4], [g]: [5, 9] },
      { x: [1, 3, 1, 5], y: [4, 1], m: [2, 3, 4], a: [7, 5] });
  });

  test('a symbolic dim broadcast against a number takes the number', () => {
    const b = new ModelBuilder();
    const x = b.input('x', ['N', 3]);
    const o = b.add(x, b.init('c', [5, 1, 3]));
    b.output(o);
    assert.deepEqual(inferShapes(graphOf(b)).shapes.get(o), [5, 'N', 3]);
  });

  test('Transpose, Squeeze/Unsqueeze (attribute and input forms), ReduceMean, Pad, Resize', async () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 4, 5]);
    const t = b.node('Transpose', [x], { perm: [0, 2, 3, 1] });
    const u = b.node('Unsqueeze', [x, b.initInt64('ua', [0, -1])]);
    const s = b.node('Squeeze', [u, b.initInt64('sa', [0])]);
    const rm = b.node('ReduceMean', [x], { axes: [2, 3], keepdims: 0 });
    const rk = b.node('ReduceMean', [x], { axes: [-1] });
    const pad = b.node('Pad', [x, b.initInt64('pads', [0, 0, 1, 2, 0, 0, 3, 4])]);
    const rs = b.node('Resize', [x, '', b.init('scales', [4], [1, 1, 2, 2])], { mode: 'nearest' });
    const rz = b.node('Resize', [x, '', '', b.initInt64('sizes', [1, 3, 7, 9])], { mode: 'nearest' });
    for (const o of [t, u, s, rm, rk, pad, rs, rz]) b.output(o);
    await expectShapes(b, {
      [t]: [1, 4, 5, 3], [u]: [1, 1, 3, 4, 5, 1], [s]: [1, 3, 4, 5, 1], [rm]: [1, 3], [rk]: [1, 3, 4, 1],
      [pad]: [1, 3, 8, 11], [rs]: [1, 3, 8, 10], [rz]: [1, 3, 7, 9],
    }, { x: [1, 3, 4, 5] });
  });

  test('opset 9 forms: Upsample scales input, Slice and Squeeze/Unsqueeze attributes, Pad attribute', async () => {
    const b = new ModelBuilder({ opset: 9, irVersion: 4 });
    const x = b.input('x', [1, 3, 4, 6]);
    const up = b.node('Upsample', [x, b.init('sc', [4], [1, 1, 2, 2])], { mode: 'nearest' });
    const sl = b.node('Slice', [x], { starts: [1, -4], ends: [1000, -1], axes: [1, 3] });
    const un = b.node('Unsqueeze', [x], { axes: [0] });
    const sq = b.node('Squeeze', [un], { axes: [0] });
    const pad = b.node('Pad', [x], { pads: [0, 0, 1, 1, 0, 0, 1, 1] });
    for (const o of [up, sl, un, sq, pad]) b.output(o);
    await expectShapes(b, { [up]: [1, 3, 8, 12], [sl]: [1, 2, 4, 3], [un]: [1, 1, 3, 4, 6], [sq]: [1, 3, 4, 6], [pad]: [1, 3, 6, 8] }, { x: [1, 3, 4, 6] });
  });
});

describe('shape inference: reductions and opset 18 forms', () => {
  test('ReduceSum axes input (13), ArgMax, TopK, Softmax, LpPool', async () => {
    const b = new ModelBuilder({ opset: 13 });
    const x = b.input('x', [2, 3, 6, 5]);
    const rs = b.node('ReduceSum', [x, b.initInt64('ax', [1, -1])], { keepdims: 0 });
    const all = b.node('ReduceMax', [x], { keepdims: 1 });
    const am = b.node('ArgMax', [x], { axis: 2, keepdims: 0 });
    const [tv, ti] = b.nodeMulti('TopK', [x, b.initInt64('k', [2])], 2, { axis: -1 });
    const sm = b.node('Softmax', [x], { axis: 1 });
    const lp = b.node('LpPool', [x], { kernel_shape: [3, 2], strides: [3, 1] });
    for (const o of [rs, all, am, tv, ti, sm, lp]) b.output(o, undefined, o === am || o === ti ? DataType.INT64 : DataType.FLOAT);
    await expectShapes(b, { [rs]: [2, 6], [all]: [1, 1, 1, 1], [am]: [2, 3, 5], [tv]: [2, 3, 6, 2], [ti]: [2, 3, 6, 2], [sm]: [2, 3, 6, 5], [lp]: [2, 3, 2, 4] }, { x: [2, 3, 6, 5] });
  });

  test('opset 18: Split num_outputs, Resize axes, Pad axes, ReduceMean axes input', async () => {
    const b = new ModelBuilder({ opset: 18, irVersion: 8 });
    const x = b.input('x', [1, 7, 4, 6]);
    const sp = b.nodeMulti('Split', [x], 3, { axis: 1, num_outputs: 3 });
    const rz = b.node('Resize', [x, '', b.init('sc', [2], [2, 0.5])], { axes: [2, 3], mode: 'nearest' });
    const pd = b.node('Pad', [x, b.initInt64('pads', [1, 2, 3, 4]), '', b.initInt64('pax', [1, 3])]);
    const rm = b.node('ReduceMean', [x, b.initInt64('rax', [2, 3])]);
    for (const o of [...sp, rz, pd, rm]) b.output(o);
    await expectShapes(b, {
      [sp[0]]: [1, 3, 4, 6], [sp[1]]: [1, 3, 4, 6], [sp[2]]: [1, 1, 4, 6],
      [rz]: [1, 7, 8, 3], [pd]: [1, 11, 4, 12], [rm]: [1, 7, 1, 1],
    }, { x: [1, 7, 4, 6] });
  });
});

describe('shape inference: Split, Slice, Gather, Concat and value propagation', () => {
  test('channel shuffle as PyTorch exports it resolves through Shape -> Gather -> Unsqueeze -> Concat -> Reshape', async () => {
    const b = new ModelBuilder();
    const x = b.input('x', ['N', 116, 28, 28]);
    const shape = b.node('Shape', [x]);
    const batch = b.node('Gather', [shape, b.initTensor(b.int64Tensor('i0', [0], []))], { axis: 0 });
    const chans = b.node('Gather', [shape, b.initTensor(b.int64Tensor('i1', [1], []))], { axis: 0 });
    const perGroup = b.node('Div', [chans, b.initTensor(b.int64Tensor('two', [2], []))]);
    const unsq = (v: string) => b.node('Unsqueeze', [v, b.initInt64(`ax_${v}`, [0])]);
    const target = b.concat([unsq(batch), b.initInt64('g', [2]), unsq(perGroup), b.initInt64('hw', [28, 28])], 0);
    const five = b.node('Reshape', [x, target]);
    const tr = b.node('Transpose', [five], { perm: [0, 2, 1, 3, 4] });
    const back = b.concat([unsq(batch), b.initInt64('m1', [-1]), b.initInt64('hw2', [28, 28])], 0);
    const out = b.node('Reshape', [tr, back]);
    b.output(out);
    const r = inferShapes(graphOf(b));
    assert.deepEqual(r.constValues.get(target), ['N', 2, 58, 28, 28]);
    assert.deepEqual(r.shapes.get(five), ['N', 2, 58, 28, 28]);
    assert.deepEqual(r.shapes.get(out), ['N', 116, 28, 28]);
    assert.deepEqual(r.unknown, []);
    const bound = inferShapes(graphOf(b), { dims: { N: 2 } });
    assert.deepEqual(bound.constValues.get(target), [2, 2, 58, 28, 28]);
    assert.deepEqual(bound.shapes.get(out), [2, 116, 28, 28]);
    assert.deepEqual((await ortShapes(b, { x: [2, 116, 28, 28] }))[out], [2, 116, 28, 28]);
  });

  test('Split: attribute before opset 13, input from 13, num_outputs in 18, equal split by default', () => {
    const b11 = new ModelBuilder({ opset: 11 });
    const x11 = b11.input('x', [1, 10, 4]);
    const s11 = b11.nodeMulti('Split', [x11], 2, { axis: 1, split: [3, 7] });
    s11.forEach((o) => b11.output(o));
    const r11 = inferShapes(graphOf(b11));
    assert.deepEqual(s11.map((o) => r11.shapes.get(o)), [[1, 3, 4], [1, 7, 4]]);

    const b13 = new ModelBuilder({ opset: 13 });
    const x13 = b13.input('x', [1, 10, 4]);
    const s13 = b13.nodeMulti('Split', [x13, b13.initInt64('sp', [4, 6])], 2, { axis: 1 });
    const eq = b13.nodeMulti('Split', [x13], 2, { axis: -1 });
    [...s13, ...eq].forEach((o) => b13.output(o));
    const r13 = inferShapes(graphOf(b13));
    assert.deepEqual(s13.map((o) => r13.shapes.get(o)), [[1, 4, 4], [1, 6, 4]]);
    assert.deepEqual(eq.map((o) => r13.shapes.get(o)), [[1, 10, 2], [1, 10, 2]]);

    const b18 = new ModelBuilder({ opset: 18 });
    const x18 = b18.input('x', [1, 7]);
    const s18 = b18.nodeMulti('Split', [x18], 3, { axis: 1, num_outputs: 3 });
    s18.forEach((o) => b18.output(o));
    const r18 = inferShapes(graphOf(b18));
    assert.deepEqual(s18.map((o) => r18.shapes.get(o)), [[1, 3], [1, 3], [1, 1]]);
  });

  test('Slice: inputs from opset 10, clamping, INT64_MAX ends, negative steps; values sliced too', async () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 10, 8, 8]);
    // INT64_MAX written through the raw buffer (the builder takes numbers, which cannot hold it)
    const t = b.int64Tensor('ends', [0]);
    (t.raw_data as Buffer).writeBigInt64LE(BigInt(INT64_MAX));
    const ends = b.initTensor(t);
    const tail = b.node('Slice', [x, b.initInt64('st', [5]), ends, b.initInt64('ax', [1])]);
    const clamp = b.node('Slice', [x, b.initInt64('st2', [-100]), b.initInt64('en2', [3]), b.initInt64('ax2', [2])]);
    const rev = b.node('Slice', [x, b.initInt64('st3', [-1]), b.initInt64('en3', [-1000]), b.initInt64('ax3', [3]), b.initInt64('step3', [-3])]);
    const shp = b.node('Shape', [x]);
    const hw = b.node('Slice', [shp, b.initInt64('st4', [2]), ends]);
    for (const o of [tail, clamp, rev]) b.output(o);
    const r = inferShapes(graphOf(b));
    assert.deepEqual(r.constValues.get(hw), [8, 8]);
    await expectShapes(b, { [tail]: [1, 5, 8, 8], [clamp]: [1, 10, 3, 8], [rev]: [1, 10, 8, 3] }, { x: [1, 10, 8, 8] });
  });

  test('Gather: a scalar index removes the axis, a vector index keeps it; Concat on channels', async () => {
    const b = new ModelBuilder();
    const x = b.input('x', [2, 5, 3]);
    const scalar = b.node('Gather', [x, b.initTensor(b.int64Tensor('i', [1], []))], { axis: 1 });
    const vec = b.node('Gather', [x, b.initInt64('iv', [0, 2, -1, 1])], { axis: 1 });
    const cat = b.concat([x, vec], 1);
    for (const o of [scalar, vec, cat]) b.output(o);
    await expectShapes(b, { [scalar]: [2, 3], [vec]: [2, 4, 3], [cat]: [2, 9, 3] }, { x: [2, 5, 3] });
    const b2 = new ModelBuilder({ opset: 15 });
    const y = b2.input('y', ['B', 4, 6, 7]);
    const sh = b2.node('Shape', [y], { start: 1, end: -1 });
    const g = b2.node('Gather', [sh, b2.initInt64('gi', [-1, 0])]);
    b2.output(g);
    const r = inferShapes(graphOf(b2));
    assert.deepEqual(r.constValues.get(sh), [4, 6]);
    assert.deepEqual(r.constValues.get(g), [6, 4]);
  });

  test('Constant nodes, ConstantOfShape, Range, Expand, Tile, Where, Cast', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [2, 1, 3]);
    const shp = b.constantInt64([2, 4, 3]);
    const zeros = b.node('ConstantOfShape', [shp]);
    const rng = b.node('Range', [b.initTensor(b.int64Tensor('r0', [0], [])), b.initTensor(b.int64Tensor('r1', [10], [])), b.initTensor(b.int64Tensor('r2', [3], []))]);
    const ex = b.node('Expand', [x, shp]);
    const tl = b.node('Tile', [x, b.initInt64('reps', [1, 5, 2])]);
    const wh = b.node('Where', [b.node('Greater', [x, zeros]), x, zeros]);
    const cs = b.node('Cast', [rng], { to: DataType.FLOAT });
    for (const o of [zeros, rng, ex, tl, wh, cs]) b.output(o);
    const r = inferShapes(graphOf(b));
    assert.deepEqual(r.shapes.get(zeros), [2, 4, 3]);
    assert.deepEqual(r.constValues.get(rng), [0, 3, 6, 9]);
    assert.deepEqual(r.shapes.get(ex), [2, 4, 3]);
    assert.deepEqual(r.shapes.get(tl), [2, 5, 6]);
    assert.deepEqual(r.shapes.get(wh), [2, 4, 3]);
    assert.deepEqual(r.shapes.get(cs), [4]);
  });

  test('an unknown operator leaves its outputs (and what follows) unknown and is reported, without throwing', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 4, 4]);
    const weird = b.node('FancyOp', [x]);
    const after = b.relu(weird);
    const ok = b.relu(x);
    for (const o of [after, ok]) b.output(o);
    const r = inferShapes(graphOf(b));
    assert.deepEqual(r.unknown.sort(), [after, weird].sort());
    assert.deepEqual(r.unsupportedOps, ['FancyOp']);
    assert.deepEqual(r.shapes.get(ok), [1, 3, 4, 4]);
  });
});

describe('shape inference on real models', () => {
  /** Binds every symbolic input dim: batch 1; other dims (ppocr's H and W) to a typical size. */
  function batchOne(g: Graph): Record<string, number> {
    const dims: Record<string, number> = {};
    const typical = [1, 3, 48, 192];
    for (const i of g.inputs) (valueInfoShape(i) ?? []).forEach((d, k) => {
      if (typeof d === 'string') dims[d] = typical[k] ?? 1;
    });
    return dims;
  }

  /**
   * Runs the model in ONNX Runtime at batch 1 with every intermediate value exposed as an output,
   * and compares each tensor's shape with the inferred one; also the exporter's value_info.
   */
  async function checkAgainstOrt(file: string): Promise<void> {
    const model = loadModel(file);
    const g = new Graph(model);
    const r = inferShapes(g, { dims: batchOne(g) });
    const name = path.basename(file);
    assert.deepEqual(r.unknown, [], `${name}: unknown shapes`);
    for (const v of g.model.proto.graph!.value_info) {
      const want = valueInfoShape(v);
      if (want) assert.deepEqual(r.shapes.get(v.name!), want, `${name}: value_info ${v.name}`);
    }
    const values = g.nodes.flatMap((n) => n.output).filter((o) => o && !g.outputNames.has(o));
    const proto = ModelProtoType.decode(fs.readFileSync(file)) as unknown as ModelProto;
    proto.graph!.output.push(...values.map((v) => ({ name: v }) as ValueInfoProto));
    const exposed = path.join(tmp, `all_${fileCount++}.onnx`);
    fs.writeFileSync(exposed, ModelProtoType.encode(proto as never).finish());
    const sess = await ort.InferenceSession.create(exposed, { logSeverityLevel: 3 });
    const feeds: Record<string, ort.Tensor> = {};
    for (const i of g.inputs) {
      const s = r.shapes.get(i.name!) as number[];
      feeds[i.name!] = new ort.Tensor('float32', new Float32Array(s.reduce((a, c) => a * c, 1)), s);
    }
    const out = await sess.run(feeds);
    for (const o of g.outputs) assert.deepEqual(r.shapes.get(o.name!), [...out[o.name!].dims], `${name}: output ${o.name}`);
    let compared = 0;
    for (const v of values) {
      if (!out[v]) continue;
      assert.deepEqual(r.shapes.get(v), [...out[v].dims], `${name}: ${v} (${g.producer.get(v)?.op_type})`);
      compared++;
    }
    assert.ok(compared >= values.length * 0.9, `${name}: compared ${compared} of ${values.length}`);
    fs.rmSync(exposed);
  }

  test('the bundled sample models: every tensor shape equals ONNX Runtime, symbolic batch kept without binding', async () => {
    for (const f of [fmnistBn, fmnistFused]) {
      await checkAgainstOrt(f);
      const r = inferShapes(new Graph(loadModel(f)));
      assert.equal(r.symbolicBatch, true);
      assert.deepEqual(r.shapes.get('logits'), ['N', 10]);
    }
  });

  test('every shared model: every inferred tensor shape (outputs and intermediates) equals ONNX Runtime at batch 1', { skip: skipWithoutShared }, async () => {
    const files = allSharedModels();
    assert.ok(files.length >= 9, 'expected the shared models');
    for (const rel of files) await checkAgainstOrt(shared(rel));
  });

  test('ultraface simplified: every value_info shape is reproduced (108 entries)', { skip: skipWithoutShared }, () => {
    const g = new Graph(loadModel(shared('real/ultraface/version-RFB-320_simplified.onnx')));
    const r = inferShapes(g);
    let compared = 0;
    for (const v of g.model.proto.graph!.value_info) {
      const want = valueInfoShape(v);
      if (!want) continue;
      assert.deepEqual(r.shapes.get(v.name!), want, v.name);
      compared++;
    }
    assert.ok(compared > 50, `compared ${compared}`);
  });
});
