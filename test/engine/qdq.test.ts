// int8 QDQ models (ONNX Runtime's static quantisation, QDQ format), built in code from float nets:
// weights as int8 initializers behind DequantizeLinear (per channel along the output axis, or per
// tensor), int32 biases with scale = input scale × weight scale, activations through uint8
// QuantizeLinear → DequantizeLinear pairs (per tensor, and per channel on axis 1 in one net).
// The groups are prunable, every criterion prunes them into models that run in ONNX Runtime with the
// original's output shape, the kept channels' integers and scales are the original's, the preview's
// counts are the written file's, and at ratio 0 the QDQ model agrees with its float original.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Graph } from '../../src/engine/graph/graph.ts';
import { computeCost } from '../../src/engine/graph/cost.ts';
import { dequantizeOf, dequantizedFloats, type Dequantized } from '../../src/engine/graph/quant.ts';
import { loadModel, tensorToFloat32 } from '../../src/engine/onnx/model.ts';
import { analyzeDependencies } from '../../src/engine/analysis/groups.ts';
import { computeImportance } from '../../src/engine/analysis/importance.ts';
import type { Criterion } from '../../src/engine/analysis/criteria.ts';
import { pruneModel, previewPrune } from '../../src/engine/prune/prune.ts';
import { parsePlan } from '../../src/engine/prune/plan.ts';
import { validatePruned } from '../../src/engine/runtime/validate.ts';
import { DataType } from '../../src/engine/onnx/proto.ts';
import { ModelBuilder, prng, quantize } from '../helpers/modelBuilder.ts';
import { runFirstOutput } from '../helpers/ort.ts';
import { tempDir } from '../helpers/paths.ts';

type Quant = 'float' | 'per-channel' | 'per-tensor';
interface NetOpts {
  /** conv1 → relu → conv2 → relu → conv3, Add(conv1's output, conv3) → relu → GAP → Gemm. */
  residual?: boolean;
  /** A BatchNormalization (float) after conv1 and conv2. */
  bn?: boolean;
  /** The activation after conv1 quantised per channel (axis 1) instead of per tensor. */
  actPerChannel?: boolean;
}

const ACT = 6 / 255; // scale of the uint8 activations after a ReLU (range [0, 6])
const IN_SCALE = 4 / 128; // the input's scale (zero point 128: range [-4, 4))

/**
 * The same net as float or quantised. Weights come from one generator in one order whatever the
 * quantisation, so the float net is the QDQ net's original.
 */
function buildNet(file: string, quant: Quant, o: NetOpts = {}): string {
  const rand = prng(7);
  const values = (n: number, fanIn: number) => Float32Array.from({ length: n }, () => ((rand() * 2 - 1) * 1.5) / Math.sqrt(fanIn));
  const b = new ModelBuilder({ opset: 13, seed: 11 });
  const q = quant !== 'float';
  const weightScales = new Map<string, number[]>();
  const weight = (name: string, dims: number[]) => {
    const v = values(dims.reduce((x, y) => x * y, 1), dims.slice(1).reduce((x, y) => x * y, 1));
    if (!q) return b.init(name, dims, v);
    const qt = quant === 'per-channel' ? quantize(v, dims, { axis: 0 }) : quantize(v, dims, { symmetric: false });
    weightScales.set(name, qt.scale);
    return b.dequantized(name, dims, qt);
  };
  /** A bias quantised as int32 with scale = input scale × weight scale (per channel when the weight is). */
  const bias = (name: string, weightName: string, n: number, inputScale: number) => {
    const v = Float32Array.from({ length: n }, () => (rand() * 2 - 1) * 0.2);
    if (!q) return b.init(name, [n], v);
    const ws = weightScales.get(weightName)!;
    const scale = ws.map((s) => Math.fround(s * inputScale));
    const ints = Array.from(v, (x, c) => Math.round(x / scale[quant === 'per-channel' ? c : 0]));
    return b.dequantized(name, [n], quant === 'per-channel' ? { q: ints, scale, axis: 0 } : { q: ints, scale }, DataType.INT32);
  };
  const act = (x: string, channels = 1) => {
    if (!q) return x;
    if (channels > 1) return b.qdq(x, Array.from({ length: channels }, (_, c) => ACT * (1 + c / channels)), new Array<number>(channels).fill(0));
    return b.qdq(x, [ACT], [0]);
  };
  const conv = (x: string, cin: number, cout: number, name: string, inputScale: number) => {
    const w = weight(`${name}.weight`, [cout, cin, 3, 3]);
    const bb = bias(`${name}.bias`, `${name}.weight`, cout, inputScale);
    return b.node('Conv', [x, w, bb], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] }, name);
  };
  const bn = (x: string, c: number, name: string) => (o.bn ? b.bn(x, c, { name }) : x);

  const x = b.input('x', ['N', 3, 8, 8]);
  const xq = q ? b.qdq(x, [IN_SCALE], [128]) : x;
  const h = act(b.relu(bn(conv(xq, 3, 8, 'conv1', IN_SCALE), 8, 'bn1')), o.actPerChannel ? 8 : 1);
  let y: string;
  let features: number;
  if (o.residual) {
    const c2 = act(b.relu(bn(conv(h, 8, 8, 'conv2', ACT), 8, 'bn2')));
    const c3 = act(conv(c2, 8, 8, 'conv3', ACT));
    y = act(b.relu(b.node('Add', [h, c3], {}, 'residual')));
    features = 8;
  } else {
    y = act(b.relu(bn(conv(h, 8, 16, 'conv2', ACT), 16, 'bn2')));
    features = 16;
  }
  const pooled = act(b.gap(y));
  const flat = b.flatten(pooled);
  const gw = weight('fc.weight', [10, features]);
  const gb = bias('fc.bias', 'fc.weight', 10, ACT);
  b.node('Gemm', [flat, gw, gb], { transB: 1 }, 'fc');
  b.output('fc_out0', ['N', 10]);
  return b.save(file);
}

/** Values of `orig` (dims `dims`) at the kept indices of each axis (all indices where `keep[axis]` is undefined). */
function gather(orig: ArrayLike<number>, dims: number[], keep: (number[] | undefined)[]): number[] {
  const idx = dims.map((d, a) => keep[a] ?? Array.from({ length: d }, (_, i) => i));
  const strides = dims.map((_, a) => dims.slice(a + 1).reduce((x, y) => x * y, 1));
  const out: number[] = [];
  const walk = (a: number, off: number) => {
    if (a === dims.length) {
      out.push(orig[off]);
      return;
    }
    for (const i of idx[a]) walk(a + 1, off + i * strides[a]);
  };
  walk(0, 0);
  return out;
}

const ints = (g: Graph, name: string) => Array.from(tensorToFloat32(g.model, g.constantTensor(name)!));

/**
 * Checks a pruned DequantizeLinear weight (or bias) against the original's: the integers, the scale and
 * the zero point of the kept indices are the original's, so the dequantised values are bit-identical.
 */
function assertKept(orig: Graph, pruned: Graph, node: string, input: number, keep: (number[] | undefined)[]): void {
  const a = dequantizeOf(orig, orig.byName.get(node)!.input[input]) as Dequantized;
  const b = dequantizeOf(pruned, pruned.byName.get(node)!.input[input]) as Dequantized;
  assert.ok(a && b, `${node} input ${input} is dequantised in both models`);
  assert.deepEqual(b.dims, a.dims.map((d, i) => keep[i]?.length ?? d), `${node}: pruned dims`);
  assert.deepEqual(ints(pruned, b.q), gather(ints(orig, a.q), a.dims, keep), `${node}: kept integers`);
  assert.equal(b.axis, a.axis);
  const vecKeep = a.axis === undefined ? [undefined] : [keep[a.axis]];
  const sDims = a.axis === undefined ? [] : [a.dims[a.axis]];
  assert.deepEqual(ints(pruned, b.scale), sDims.length ? gather(ints(orig, a.scale), sDims, vecKeep) : ints(orig, a.scale), `${node}: kept scales`);
  if (a.zeroPoint) assert.deepEqual(ints(pruned, b.zeroPoint!), sDims.length ? gather(ints(orig, a.zeroPoint), sDims, vecKeep) : ints(orig, a.zeroPoint), `${node}: kept zero points`);
  const da = dequantizedFloats(orig, a);
  const db = dequantizedFloats(pruned, b);
  const want = Float32Array.from(gather(da, a.dims, keep));
  assert.deepEqual(new Uint32Array(db.buffer), new Uint32Array(want.buffer), `${node}: dequantised weights bit-identical`);
}

let dir: string;
before(() => {
  dir = tempDir('qdq');
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const NETS: { name: string; quant: Quant; o: NetOpts }[] = [
  { name: 'per-channel', quant: 'per-channel', o: {} },
  { name: 'per-tensor', quant: 'per-tensor', o: {} },
  { name: 'per-channel residual', quant: 'per-channel', o: { residual: true } },
  { name: 'per-tensor residual', quant: 'per-tensor', o: { residual: true } },
  { name: 'per-channel activations', quant: 'per-channel', o: { actPerChannel: true } },
  { name: 'per-channel with BN', quant: 'per-channel', o: { bn: true } },
  { name: 'per-tensor residual with BN', quant: 'per-tensor', o: { residual: true, bn: true } },
];

function netFile(n: (typeof NETS)[number], quant: Quant = n.quant): string {
  const file = path.join(dir, `${n.name.replace(/ /g, '_')}_${quant}.onnx`);
  if (!fs.existsSync(file)) buildNet(file, quant, n.o);
  return file;
}

describe('QDQ dependency analysis', () => {
  test('per-channel: conv groups prunable, int8 weight, its scale and zero point, the int32 bias and its scale are members', () => {
    const g = new Graph(loadModel(netFile(NETS[0])));
    const deps = analyzeDependencies(g);
    const conv1 = deps.groups[deps.groupOfLayer.get('conv1')!];
    const conv2 = deps.groups[deps.groupOfLayer.get('conv2')!];
    assert.ok(conv1.prunable, conv1.reason);
    assert.ok(conv2.prunable, conv2.reason);
    assert.equal(conv1.channels, 8);
    const out = conv1.members.find((m) => m.role === 'out' && m.node === 'conv1')!;
    assert.equal(out.tensor, 'conv1.weight_quantized');
    assert.equal(out.axis, 0);
    assert.equal(out.bias, 'conv1.bias_quantized');
    const params = conv1.members.filter((m) => m.op === 'DequantizeLinear').map((m) => `${m.tensor}@${m.axis}`).sort();
    assert.deepEqual(params, ['conv1.bias_scale@0', 'conv1.weight_scale@0', 'conv1.weight_zero_point@0']);
    // conv2 reads conv1's channels along axis 1 of its int8 weight; its per-channel scale is along axis 0: not sliced by conv1's group
    const inM = conv1.members.find((m) => m.role === 'in' && m.node === 'conv2')!;
    assert.equal(inM.tensor, 'conv2.weight_quantized');
    assert.equal(inM.axis, 1);
    assert.ok(!conv1.members.some((m) => m.tensor === 'conv2.weight_scale'));
    // the Gemm output is a graph output
    assert.equal(deps.groups[deps.groupOfLayer.get('fc')!].prunable, false);
  });

  test('per-tensor: scalar scales and zero points are not members', () => {
    const g = new Graph(loadModel(netFile(NETS[1])));
    const deps = analyzeDependencies(g);
    for (const layer of ['conv1', 'conv2']) {
      const grp = deps.groups[deps.groupOfLayer.get(layer)!];
      assert.ok(grp.prunable, grp.reason);
      assert.ok(!grp.members.some((m) => m.op === 'DequantizeLinear' || m.op === 'QuantizeLinear'), `${layer}: no scale member`);
      assert.ok(grp.members.some((m) => m.role === 'out' && m.tensor === `${layer}.weight_quantized` && m.bias === `${layer}.bias_quantized`));
    }
  });

  test('per-channel activation Q/DQ on axis 1: its scales and zero points are members of the group', () => {
    const g = new Graph(loadModel(netFile(NETS[4])));
    const deps = analyzeDependencies(g);
    const conv1 = deps.groups[deps.groupOfLayer.get('conv1')!];
    assert.ok(conv1.prunable, conv1.reason);
    const act = conv1.members.filter((m) => m.op === 'QuantizeLinear' || (m.op === 'DequantizeLinear' && m.tensor?.startsWith('qdq')));
    // Q and DQ each read the shared scale (input 1) and zero point (input 2)
    assert.equal(act.length, 4);
    assert.ok(act.every((m) => m.role === 'param' && m.axis === 0 && m.shared));
  });

  test('residual: the convs meeting at the Add through Q/DQ pairs form one prunable group', () => {
    const g = new Graph(loadModel(netFile(NETS[2])));
    const deps = analyzeDependencies(g);
    const grp = deps.groups[deps.groupOfLayer.get('conv1')!];
    assert.ok(grp.prunable, grp.reason);
    assert.deepEqual([...grp.layers].sort(), ['conv1', 'conv3']);
    assert.ok(deps.groups[deps.groupOfLayer.get('conv2')!].prunable);
  });

  test('a dequantised weight read by two convs freezes, with the reason', () => {
    const b = new ModelBuilder({ opset: 13 });
    const x = b.input('x', [1, 3, 8, 8]);
    const h = b.relu(b.conv(x, 3, 4, { name: 'conv0' }));
    const w = b.dequantized('shared', [4, 4, 1, 1], quantize(Array.from({ length: 16 }, (_, i) => (i % 7) - 3), [4, 4, 1, 1], { axis: 0 }));
    const a = b.node('Conv', [h, w], { kernel_shape: [1, 1] }, 'convA');
    const c = b.node('Conv', [h, w], { kernel_shape: [1, 1] }, 'convB');
    b.node('Add', [a, c], {}, 'sum');
    b.output('sum_out0');
    const g = new Graph(loadModel(b.save(path.join(dir, 'shared_dq.onnx'))));
    const grp = analyzeDependencies(g).groups.find((x) => x.layers.includes('conv0'))!;
    assert.equal(grp.prunable, false);
    assert.match(grp.reason!, /dequantised by DequantizeLinear 'shared_DequantizeLinear'/);
  });

  test('a float net and its QDQ twin have the same groups and the same parameter count', () => {
    for (const n of NETS.slice(0, 3)) {
      const fg = new Graph(loadModel(netFile(n, 'float')));
      const qg = new Graph(loadModel(netFile(n)));
      const fd = analyzeDependencies(fg);
      const qd = analyzeDependencies(qg);
      assert.deepEqual(qd.groups.map((x) => [x.layers, x.channels, x.prunable]), fd.groups.map((x) => [x.layers, x.channels, x.prunable]), n.name);
      assert.equal(computeCost(qg).params, computeCost(fg).params, n.name);
      assert.equal(computeCost(qg).macs, computeCost(fg).macs, n.name);
    }
  });
});

describe('QDQ importance', () => {
  test('scores are computed on the dequantised weights ((q − zero point) × scale)', async () => {
    for (const n of [NETS[0], NETS[1]]) {
      const g = new Graph(loadModel(netFile(n)));
      const imp = await computeImportance(g, analyzeDependencies(g), { criteria: ['l1', 'l2', 'fpgm'], fpgmBackend: 'js' });
      const w = dequantizedFloats(g, dequantizeOf(g, g.byName.get('conv2')!.input[1])!);
      const l1 = imp.layers.get('conv2')!.scores.l1!;
      assert.equal(l1.length, 16);
      const per = w.length / 16;
      for (let c = 0; c < 16; c++) {
        let s = 0;
        for (let i = 0; i < per; i++) s += Math.abs(w[c * per + i]);
        assert.ok(Math.abs(l1[c] - s) <= 1e-5 * s, `${n.name} conv2 channel ${c}: ${l1[c]} vs ${s}`);
      }
      // and close to the float weights' norms (quantisation error only)
      const fg = new Graph(loadModel(netFile(n, 'float')));
      const fimp = await computeImportance(fg, analyzeDependencies(fg), { criteria: ['l1'] });
      const fl1 = fimp.layers.get('conv2')!.scores.l1!;
      for (let c = 0; c < 16; c++) assert.ok(Math.abs(l1[c] - fl1[c]) < 0.05 * fl1[c], `${n.name} conv2 channel ${c}: ${l1[c]} vs float ${fl1[c]}`);
      assert.ok(imp.layers.get('conv1')!.scores.fpgm?.length === 8);
      for (const id of [imp.layers.get('conv1')!.group!, imp.layers.get('conv2')!.group!]) {
        const gs = imp.groups.get(id)!.scores;
        assert.ok(gs.l1!.some((v) => v > 0) && gs.l2!.some((v) => v > 0) && gs.fpgm!.some((v) => v > 0));
      }
    }
  });
});

describe('QDQ pruning', () => {
  const x = Float32Array.from({ length: 2 * 3 * 8 * 8 }, (_, i) => Math.sin(i * 0.37) * 1.5);
  const criteriaOf = (n: (typeof NETS)[number]): Criterion[] => (n.o.bn ? ['bn-gamma', 'l1', 'l2', 'fpgm'] : ['l1', 'l2', 'fpgm']);

  for (const n of NETS) {
    for (const criterion of criteriaOf(n)) {
      test(`${n.name}, ${criterion} 0.5: runs in ONNX Runtime with the original's output shape; kept channels bit-identical; preview = file`, async () => {
        const file = netFile(n);
        const out = path.join(dir, `${path.basename(file, '.onnx')}_${criterion}.onnx`);
        const plan = parsePlan({ version: 1, criterion, ratio: 0.5, scope: 'uniform' });
        const report = await pruneModel(file, plan, { out });
        const names = report.layers.map((l) => l.name).sort();
        assert.deepEqual(names, n.o.residual ? ['conv1', 'conv2', 'conv3'] : ['conv1', 'conv2']);
        for (const l of report.layers) assert.equal(l.channelsAfter, Math.floor(l.channelsBefore / 2));
        const og = new Graph(loadModel(file));
        const pg = new Graph(loadModel(out));
        const kept = new Map(report.layers.map((l) => [l.name, l.keptChannels]));
        const k1 = kept.get('conv1')!;
        const k2 = kept.get('conv2')!;
        assertKept(og, pg, 'conv1', 1, [k1]);
        assertKept(og, pg, 'conv1', 2, [k1]);
        assertKept(og, pg, 'conv2', 1, [k2, k1]);
        assertKept(og, pg, 'conv2', 2, [k2]);
        if (n.o.residual) {
          assertKept(og, pg, 'conv3', 1, [k1, k2]);
          assertKept(og, pg, 'fc', 1, [undefined, k1]);
        } else assertKept(og, pg, 'fc', 1, [undefined, k2]);
        assertKept(og, pg, 'fc', 2, [undefined]);
        const [a, b] = await Promise.all([runFirstOutput(file, x, [2, 3, 8, 8]), runFirstOutput(out, x, [2, 3, 8, 8])]);
        assert.deepEqual(b.dims, a.dims);
        assert.ok(b.data.every(Number.isFinite));
        // the preview's counts are the written file's
        const cost = computeCost(pg);
        const preview = await previewPrune(file, plan);
        assert.equal(preview.preview.params.after, cost.params);
        assert.equal(preview.preview.macs.after, cost.macs);
        assert.equal(report.params.after, cost.params);
        assert.ok(cost.params < computeCost(og).params);
      });
    }
  }

  test('a depthwise conv with a per-channel int8 weight follows its input group (weight rows, scale, zero point, bias, group attribute)', async () => {
    const rand = prng(9);
    const b = new ModelBuilder({ opset: 13 });
    const x = b.input('x', ['N', 3, 8, 8]);
    const conv = (inp: string, dims: number[], name: string, group: number, inScale: number) => {
      const v = Float32Array.from({ length: dims.reduce((a, c) => a * c, 1) }, () => (rand() * 2 - 1) * 0.5);
      const qt = quantize(v, dims, { axis: 0 });
      const w = b.dequantized(`${name}.weight`, dims, qt);
      const bias = b.dequantized(`${name}.bias`, [dims[0]], { q: qt.scale.map((_, c) => c * 10 - 20), scale: qt.scale.map((sc) => Math.fround(sc * inScale)), axis: 0 }, DataType.INT32);
      return b.node('Conv', [inp, w, bias], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group }, name);
    };
    const xq = b.qdq(x, [IN_SCALE], [128]);
    const h = b.qdq(b.relu(conv(xq, [8, 3, 3, 3], 'conv1', 1, IN_SCALE)), [ACT], [0]);
    const d = b.qdq(b.relu(conv(h, [8, 1, 3, 3], 'dw', 8, ACT)), [ACT], [0]);
    const y = b.qdq(b.relu(conv(d, [16, 8, 3, 3], 'conv2', 1, ACT)), [ACT], [0]);
    b.node('Gemm', [b.flatten(b.gap(y)), b.init('fc.weight', [10, 16]), b.init('fc.bias', [10])], { transB: 1 }, 'fc');
    b.output('fc_out0', ['N', 10]);
    const file = b.save(path.join(dir, 'depthwise.onnx'));
    const out = path.join(dir, 'depthwise_l1.onnx');
    const report = await pruneModel(file, parsePlan({ version: 1, criterion: 'l1', ratio: 0.5 }), { out });
    const k1 = report.layers.find((l) => l.name === 'conv1')!.keptChannels;
    assert.equal(k1.length, 4);
    const og = new Graph(loadModel(file));
    const pg = new Graph(loadModel(out));
    assertKept(og, pg, 'dw', 1, [k1]);
    assertKept(og, pg, 'dw', 2, [k1]);
    assert.equal(pg.byName.get('dw')!.attribute.find((a) => a.name === 'group')?.i?.toString(), '4');
    const xs = Float32Array.from({ length: 3 * 64 }, (_, i) => Math.sin(i));
    const [ra, rb] = await Promise.all([runFirstOutput(file, xs, [1, 3, 8, 8]), runFirstOutput(out, xs, [1, 3, 8, 8])]);
    assert.deepEqual(rb.dims, ra.dims);
    assert.equal((await previewPrune(file, parsePlan({ version: 1, criterion: 'l1', ratio: 0.5 }))).preview.params.after, computeCost(pg).params);
  });

  test('compensation does not fold into quantised layers', async () => {
    const n = NETS[5];
    const file = netFile(n);
    const out = path.join(dir, 'bn_compensated.onnx');
    const report = await pruneModel(file, parsePlan({ version: 1, criterion: 'bn-gamma', ratio: 0.5, compensate: true }), { out });
    assert.ok(!report.compensation.layers.some((l) => l.createdBias || (l.channels > 0 && !l.foldedIntoBn)), JSON.stringify(report.compensation.layers));
    // the removed channels' constants stop at the activation's quantisation, with the reason
    assert.ok(report.compensation.skipped.some((sk) => sk.node.endsWith('_QuantizeLinear') && /quantised \(QDQ\)/.test(sk.reason)), JSON.stringify(report.compensation.skipped));
    const pg = new Graph(loadModel(out));
    // every Conv still reads its bias through a DequantizeLinear of int32
    for (const c of ['conv1', 'conv2']) assert.equal(pg.constantTensor(dequantizeOf(pg, pg.byName.get(c)!.input[2])!.q)?.data_type, DataType.INT32);
  });

  test('validation compares a QDQ model with its float original sensibly (quantisation error only), before and after pruning', async () => {
    for (const n of [NETS[0], NETS[1], NETS[3]]) {
      const file = netFile(n);
      // ratio 0 removes nothing and writes nothing: the QDQ file itself is what it would validate
      await assert.rejects(pruneModel(file, parsePlan({ version: 1, criterion: 'l1', ratio: 0 }), { out: path.join(dir, 'never.onnx') }), /removes no channel/);
      const v = await validatePruned(netFile(n, 'float'), file, { ep: 'cpu', runs: 1, warmup: 0, dims: { N: 8 } });
      const o = v.outputs[0];
      assert.ok(o.comparable);
      assert.ok(o.cosine! > 0.98, `${n.name}: cosine ${o.cosine}`);
      console.log(`${n.name} QDQ vs float: cosine ${o.cosine?.toFixed(4)}, top-1 agreement ${o.top1Agreement}, max |diff| ${o.maxAbsDiff?.toFixed(4)}`);
      assert.ok(o.top1Agreement! >= 0.75, `${n.name}: top-1 agreement ${o.top1Agreement}`);
      // a real difference: the QDQ model is not silently the float one
      assert.ok(o.maxAbsDiff! > 0);
      // pruned: compared with the float original, same output shape, finite
      const out = path.join(dir, `${path.basename(file, '.onnx')}_validated.onnx`);
      await pruneModel(file, parsePlan({ version: 1, criterion: 'l1', ratio: 0.25 }), { out });
      const p = (await validatePruned(netFile(n, 'float'), out, { ep: 'cpu', runs: 1, warmup: 0, dims: { N: 8 } })).outputs[0];
      assert.ok(p.comparable && Number.isFinite(p.cosine!) && p.nonFinite === undefined, JSON.stringify(p));
    }
  });
});

/**
 * The operator-oriented format: x → QuantizeLinear → QLinearConv (3→8) → QLinearConv (8→16) →
 * DequantizeLinear → GAP → Flatten → QuantizeLinear → QLinearMatMul (16→10) → DequantizeLinear.
 * Conv weights int8 per channel (or per tensor), int32 biases, uint8 activations.
 */
function buildQLinearNet(file: string, perChannel: boolean): string {
  const rand = prng(5);
  const b = new ModelBuilder({ opset: 13 });
  const scalar = (name: string, v: number) => b.init(name, [], [v]);
  const u8 = (name: string, v: number) => b.initInt(name, [], [v], DataType.UINT8);
  const x = b.input('x', ['N', 3, 8, 8]);
  const xq = b.node('QuantizeLinear', [x, scalar('x_scale', IN_SCALE), u8('x_zp', 128)], {}, 'quant_x');
  const qconv = (inp: string, inScale: string, inZp: string, inScaleValue: number, cin: number, cout: number, name: string) => {
    const dims = [cout, cin, 3, 3];
    const v = Float32Array.from({ length: cout * cin * 9 }, () => ((rand() * 2 - 1) * 1.5) / Math.sqrt(cin * 9));
    const qt = quantize(v, dims, perChannel ? { axis: 0 } : {});
    const sDims = perChannel ? [cout] : [];
    const w = b.initInt(`${name}.weight`, dims, qt.q, DataType.INT8);
    const ws = b.init(`${name}.weight_scale`, sDims, qt.scale);
    const wz = b.initInt(`${name}.weight_zero_point`, sDims, qt.zeroPoint!, DataType.INT8);
    const bias = Array.from({ length: cout }, (_, c) => Math.round(((rand() * 2 - 1) * 0.2) / Math.fround(inScaleValue * qt.scale[perChannel ? c : 0])));
    const bb = b.initInt(`${name}.bias`, [cout], bias, DataType.INT32);
    const ys = scalar(`${name}.y_scale`, ACT);
    const yz = u8(`${name}.y_zero_point`, 0);
    return { out: b.node('QLinearConv', [inp, inScale, inZp, w, ws, wz, ys, yz, bb], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, name), ys, yz };
  };
  const c1 = qconv(xq, 'x_scale', 'x_zp', IN_SCALE, 3, 8, 'qconv1');
  const c2 = qconv(c1.out, c1.ys, c1.yz, ACT, 8, 16, 'qconv2');
  const deq = b.node('DequantizeLinear', [c2.out, c2.ys, c2.yz], {}, 'dequant_c2');
  const flat = b.flatten(b.gap(deq));
  const fq = b.node('QuantizeLinear', [flat, scalar('f_scale', ACT), u8('f_zp', 0)], {}, 'quant_f');
  const fv = Float32Array.from({ length: 160 }, () => (rand() * 2 - 1) * 0.4);
  const fqt = quantize(fv, [16, 10]);
  const mm = b.node('QLinearMatMul', [fq, 'f_scale', 'f_zp', b.initInt('fc.weight', [16, 10], fqt.q, DataType.INT8), b.init('fc.weight_scale', [], fqt.scale), b.initInt('fc.weight_zero_point', [], fqt.zeroPoint!, DataType.INT8), scalar('fc.y_scale', 0.05), u8('fc.y_zero_point', 128)], {}, 'fc');
  b.node('DequantizeLinear', [mm, 'fc.y_scale', 'fc.y_zero_point'], {}, 'out');
  b.output('out_out0', ['N', 10]);
  return b.save(file);
}

describe('QLinearConv / QLinearMatMul', () => {
  const x = Float32Array.from({ length: 2 * 3 * 8 * 8 }, (_, i) => Math.cos(i * 0.21) * 1.5);
  for (const perChannel of [true, false]) {
    const label = perChannel ? 'per-channel' : 'per-tensor';
    test(`${label}: groups prunable, scores on dequantised weights`, async () => {
      const file = buildQLinearNet(path.join(dir, `qlinear_${label}.onnx`), perChannel);
      const g = new Graph(loadModel(file));
      const deps = analyzeDependencies(g);
      for (const l of ['qconv1', 'qconv2']) {
        const grp = deps.groups[deps.groupOfLayer.get(l)!];
        assert.ok(grp.prunable, grp.reason);
      }
      const g1 = deps.groups[deps.groupOfLayer.get('qconv1')!];
      assert.deepEqual(g1.members.filter((m) => m.role === 'param').map((m) => m.inputIndex).sort(), perChannel ? [4, 5] : []);
      assert.ok(g1.members.some((m) => m.role === 'in' && m.node === 'qconv2' && m.inputIndex === 3 && m.axis === 1));
      assert.equal(deps.groups[deps.groupOfLayer.get('fc')!].prunable, false);
      const imp = await computeImportance(g, deps, { criteria: ['l1', 'fpgm'], fpgmBackend: 'js' });
      const w = Array.from(tensorToFloat32(g.model, g.constantTensor('qconv2.weight')!));
      const sc = Array.from(tensorToFloat32(g.model, g.constantTensor('qconv2.weight_scale')!));
      const l1 = imp.layers.get('qconv2')!.scores.l1!;
      for (let c = 0; c < 16; c++) {
        let sum = 0;
        for (let i = 0; i < 72; i++) sum += Math.abs(w[c * 72 + i] * sc[perChannel ? c : 0]);
        assert.ok(Math.abs(l1[c] - sum) <= 1e-5 * sum, `qconv2 channel ${c}: ${l1[c]} vs ${sum}`);
      }
      assert.equal(imp.layers.get('qconv1')!.scores.fpgm?.length, 8);
    });

    for (const criterion of ['l1', 'l2', 'fpgm'] as Criterion[]) {
      test(`${label}, ${criterion} 0.5: runs in ONNX Runtime, kept integers and scales are the original's, preview = file`, async () => {
        const file = path.join(dir, `qlinear_${label}.onnx`);
        if (!fs.existsSync(file)) buildQLinearNet(file, perChannel);
        const out = path.join(dir, `qlinear_${label}_${criterion}.onnx`);
        const plan = parsePlan({ version: 1, criterion, ratio: 0.5 });
        const report = await pruneModel(file, plan, { out });
        const kept = new Map(report.layers.map((l) => [l.name, l.keptChannels]));
        const k1 = kept.get('qconv1')!;
        const k2 = kept.get('qconv2')!;
        assert.equal(k1.length, 4);
        assert.equal(k2.length, 8);
        const og = new Graph(loadModel(file));
        const pg = new Graph(loadModel(out));
        const check = (name: string, dims: number[], keep: (number[] | undefined)[]) =>
          assert.deepEqual(ints(pg, name), gather(ints(og, name), dims, keep), name);
        check('qconv1.weight', [8, 3, 3, 3], [k1]);
        check('qconv1.bias', [8], [k1]);
        check('qconv2.weight', [16, 8, 3, 3], [k2, k1]);
        check('qconv2.bias', [16], [k2]);
        check('fc.weight', [16, 10], [k2]);
        if (perChannel) {
          check('qconv1.weight_scale', [8], [k1]);
          check('qconv1.weight_zero_point', [8], [k1]);
          check('qconv2.weight_scale', [16], [k2]);
        } else assert.deepEqual(ints(pg, 'qconv1.weight_scale'), ints(og, 'qconv1.weight_scale'));
        const [a, b] = await Promise.all([runFirstOutput(file, x, [2, 3, 8, 8]), runFirstOutput(out, x, [2, 3, 8, 8])]);
        assert.deepEqual(b.dims, a.dims);
        const cost = computeCost(pg);
        const preview = await previewPrune(file, plan);
        assert.equal(preview.preview.params.after, cost.params);
        assert.equal(preview.preview.macs.after, cost.macs);
      });
    }
  }
});
