// Compensation: channels whose BN γ is 0 output the constant act(β); folding that constant into the
// consumers (the next BN's running mean or the bias; plus, opt-in, the border correction where zero
// padding enters the window) makes pruning them exact. Built in code, analysed by the real dependency analysis, run in ONNX Runtime.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as ort from 'onnxruntime-node';
import { Graph } from '../../src/engine/graph/graph.ts';
import { decodeModel, floatToBf16, floatToHalf, halfToFloat, bf16ToFloat, loadModel, tensorToFloat32, type OnnxModel } from '../../src/engine/onnx/model.ts';
import { DataType, ModelProtoType, type ModelProto } from '../../src/engine/onnx/proto.ts';
import { clippedNormalMoments, expectedActivation, planCompensation, prunedGroupsOf } from '../../src/engine/prune/compensate.ts';
import { analyzeDependencies } from '../../src/engine/analysis/groups.ts';
import { pruneGraph } from '../../src/engine/prune/surgery.ts';
import { computeImportance } from '../../src/engine/analysis/importance.ts';
import { resolvePlan } from '../../src/engine/prune/plan.ts';
import { previewPlan } from '../../src/engine/prune/preview.ts';
import { computeCost } from '../../src/engine/graph/cost.ts';
import { ModelBuilder, prng } from '../helpers/modelBuilder.ts';
import { shared, skipWithoutShared } from '../helpers/paths.ts';
import { maxAbsDiff, runFirstOutput } from '../helpers/ort.ts';

const encode = (m: ModelProto): Uint8Array => ModelProtoType.encode(m as any).finish();
const asModel = (buf: Uint8Array): OnnxModel => ({ path: '/virtual/m.onnx', dir: '/virtual', fileSize: buf.length, sizeOnDisk: buf.length, proto: decodeModel(buf) });

const run = async (buf: Uint8Array, x: Float32Array, dims: number[]): Promise<Float32Array> => (await runFirstOutput(buf, x, dims)).data;

const ZERO_A = new Set([1, 4, 6]); // γ = 0 in bn1 and bn2 (coupled by the residual Add)
const ZERO_B = new Set([0, 3]); // γ = 0 in bn3

/**
 * conv1(3→8, 3x3 pad 1) → bn1 → relu ─┬─ conv2(8→8, 3x3 pad 1) → bn2 ─ Add → relu → conv3(8→6, 3x3 pad 1, stride 2)
 *                                     └──────────────────────────────┘
 * → bn3 → LeakyRelu → GAP → flatten → gemm(6→5). β is large so that the constants matter.
 */
function residualNet(pad = 1, bias = true) {
  const b = new ModelBuilder({ seed: 21 });
  const x = b.input('x', [2, 3, 10, 10]);
  const gamma = (n: number, zero: Set<number>) => Array.from({ length: n }, (_, i) => (zero.has(i) ? 0 : 0.5 + 0.1 * i));
  const beta = (n: number) => Array.from({ length: n }, (_, i) => (i % 2 ? 0.8 : -0.3) + 0.05 * i);
  let y = b.conv(x, 3, 8, { k: 3, pad, name: 'conv1', bias });
  const a = b.relu(b.bn(y, 8, { name: 'bn1', gamma: gamma(8, ZERO_A), beta: beta(8) }));
  y = b.conv(a, 8, 8, { k: pad ? 3 : 1, pad, name: 'conv2', bias }); // keeps the spatial size for the Add
  y = b.bn(y, 8, { name: 'bn2', gamma: gamma(8, ZERO_A), beta: beta(8) });
  y = b.relu(b.add(y, a));
  y = b.conv(y, 8, 6, { k: 3, pad, stride: 2, name: 'conv3', bias });
  y = b.node('LeakyRelu', [b.bn(y, 6, { name: 'bn3', gamma: gamma(6, ZERO_B), beta: beta(6) })], { alpha: { float: 0.1 } });
  const out = b.gemm(b.flatten(b.gap(y)), 6, 5, 'fc');
  b.output(out, [2, 5]);
  return b.toBuffer();
}

function zeroGammaPlan(buf: Uint8Array) {
  const graph = new Graph(asModel(buf));
  const deps = analyzeDependencies(graph);
  const kept = new Map<number, number[]>();
  for (const gr of deps.groups) {
    if (!gr.prunable) continue;
    const zero = gr.layers.includes('conv3') ? ZERO_B : gr.layers.includes('conv1') ? ZERO_A : undefined;
    if (!zero) continue;
    kept.set(gr.id, Array.from({ length: gr.channels }, (_, i) => i).filter((i) => !zero.has(i)));
  }
  assert.equal(kept.size, 2, 'the analysis finds the residual group and conv3\'s group');
  return { graph, deps, resolved: { plan: { version: 1 as const, criterion: 'bn-gamma' as const, threshold: 1e-3, scope: 'global' as const }, kept } };
}

const input = Float32Array.from({ length: 600 }, (_, i) => Math.sin(i * 1.7) * 1.5);

/** A standard normal sample (Box-Muller on a seeded generator: the tests are reproducible). */
const uniform = prng(12345);
function gauss(): number {
  return Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

describe('compensation', () => {
  test('γ = 0 channels through ReLU, a residual Add, padding and a Gemm: exact with compensation, far off without', async () => {
    const buf = residualNet();
    const { graph, deps, resolved } = zeroGammaPlan(buf);
    const ref = await run(buf, input, [2, 3, 10, 10]);
    const on = pruneGraph(graph, deps, resolved, { compensate: true, borderCorrection: true });
    const off = pruneGraph(graph, deps, resolved, { compensate: false });
    const yOn = await run(encode(on.model), input, [2, 3, 10, 10]);
    const yOff = await run(encode(off.model), input, [2, 3, 10, 10]);
    const dOn = maxAbsDiff(ref, yOn);
    const dOff = maxAbsDiff(ref, yOff);
    assert.ok(dOn < 1e-5, `compensated pruned model differs by ${dOn}`);
    assert.ok(dOff > 1e-2, `uncompensated difference ${dOff} should be large`);
    const s = on.compensation;
    assert.equal(s.constantChannels, ZERO_A.size + ZERO_B.size);
    assert.equal(s.channelsCompensated, ZERO_A.size + ZERO_B.size);
    assert.deepEqual(s.skipped, []);
    assert.ok(s.layers.every((l) => l.exact), JSON.stringify(s.layers));
    assert.deepEqual(s.layers.map((l) => l.name).sort(), ['conv2', 'conv3', 'fc']);
    assert.ok(s.layers.find((l) => l.name === 'conv3')!.borderCorrection);
    assert.equal(off.compensation.enabled, false);
  });

  test('without the border correction a padded consumer is reported approximate, and the error is confined', async () => {
    const buf = residualNet();
    const { graph, deps, resolved } = zeroGammaPlan(buf);
    const r = pruneGraph(graph, deps, resolved, { compensate: true, borderCorrection: false });
    const conv3 = r.compensation.layers.find((l) => l.name === 'conv3')!;
    assert.equal(conv3.exact, false);
    assert.match(conv3.reason!, /pads with zeros/);
    const fc = r.compensation.layers.find((l) => l.name === 'fc')!;
    assert.equal(fc.exact, true);
    const ref = await run(buf, input, [2, 3, 10, 10]);
    const y = await run(encode(r.model), input, [2, 3, 10, 10]);
    const off = await run(encode(pruneGraph(graph, deps, resolved, { compensate: false }).model), input, [2, 3, 10, 10]);
    assert.ok(maxAbsDiff(ref, y) < maxAbsDiff(ref, off), 'bias-only compensation is still closer than none');
  });

  test('by default a bias-free conv before a BN takes the constant in the BN running mean: same nodes, same parameters as the preview', async () => {
    for (const pad of [0, 1]) {
      const buf = residualNet(pad, false);
      const { graph, deps, resolved } = zeroGammaPlan(buf);
      const r = pruneGraph(graph, deps, resolved, {});
      const orig = graph.model.proto.graph!;
      const out = r.model.graph!;
      // The original's nodes in the same order, nothing added; only weights sliced and running means moved.
      assert.deepEqual(out.node.map((n) => n.op_type), orig.node.map((n) => n.op_type));
      assert.deepEqual(out.node.map((n) => [n.input, n.output]), orig.node.map((n) => [n.input, n.output]));
      assert.equal(out.initializer.length, orig.initializer.length);
      const s = r.compensation;
      assert.deepEqual(s.layers.map((l) => l.name).sort(), ['conv2', 'conv3', 'fc']);
      assert.equal(s.layers.find((l) => l.name === 'conv3')!.foldedIntoBn, 'bn3');
      assert.equal(s.layers.find((l) => l.name === 'conv2')!.foldedIntoBn, 'bn2');
      assert.ok(s.layers.every((l) => !l.createdBias && !l.borderCorrection));
      assert.equal(s.layers.find((l) => l.name === 'conv3')!.exact, pad === 0);
      if (pad) assert.match(s.layers.find((l) => l.name === 'conv3')!.reason!, /approximate at the borders/);
      const pg = new Graph(asModel(encode(r.model)));
      assert.equal(computeCost(pg).params, previewPlan(graph, deps, resolved).params.after);
      assert.equal(computeCost(pg).macs, previewPlan(graph, deps, resolved).macs.after);
      const ref = await run(buf, input, [2, 3, 10, 10]);
      const y = await run(encode(r.model), input, [2, 3, 10, 10]);
      const off = await run(encode(pruneGraph(graph, deps, resolved, { compensate: false }).model), input, [2, 3, 10, 10]);
      if (pad === 0) assert.ok(maxAbsDiff(ref, y) < 1e-5, `unpadded: exact (${maxAbsDiff(ref, y)})`);
      else assert.ok(maxAbsDiff(ref, y) < maxAbsDiff(ref, off), 'padded: closer than no compensation');
      // With the opt-in border correction the padded net is exact too.
      if (pad) {
        const ex = pruneGraph(graph, deps, resolved, { borderCorrection: true });
        assert.ok(maxAbsDiff(ref, await run(encode(ex.model), input, [2, 3, 10, 10])) < 1e-5);
      }
    }
  });

  test('a consumer with neither bias nor BN after it gets a created bias, and the preview counts it', async () => {
    // conv1 → bn1 → relu → conv2 (no bias) → relu → GAP → flatten → gemm
    const b = new ModelBuilder({ seed: 5 });
    const x = b.input('x', [1, 3, 8, 8]);
    let y = b.relu(b.bn(b.conv(x, 3, 8, { k: 1, name: 'conv1', bias: false }), 8, { name: 'bn1', gamma: [0, 1, 0, 1, 1, 0.5, 1, 0.7], beta: [0.5, 0.1, -0.2, 0.3, 0.2, 0.1, 0.4, 0.9] }));
    y = b.relu(b.conv(y, 8, 4, { k: 1, name: 'conv2', bias: false }));
    b.output(b.gemm(b.flatten(b.gap(y)), 4, 3, 'fc'), [1, 3]);
    const buf = b.toBuffer();
    const graph = new Graph(asModel(buf));
    const deps = analyzeDependencies(graph);
    const importance = await computeImportance(graph, deps);
    const resolved = resolvePlan({ version: 1, criterion: 'bn-gamma', scope: 'global', threshold: 1e-3 }, deps, importance);
    assert.equal(resolved.kept.size, 1);
    const r = pruneGraph(graph, deps, resolved, {});
    assert.deepEqual(r.compensation.layers.map((l) => [l.name, !!l.createdBias]), [['conv2', true]]);
    const pg = new Graph(asModel(encode(r.model)));
    const pv = previewPlan(graph, deps, resolved);
    assert.equal(computeCost(pg).params, pv.params.after);
    assert.equal(computeCost(pg).macs, pv.macs.after);
    assert.ok(pv.params.after > previewPlan(graph, deps, { ...resolved, plan: { ...resolved.plan, compensate: false } }).params.after);
    const v = Float32Array.from({ length: 192 }, (_, i) => Math.cos(i));
    assert.ok(maxAbsDiff(await run(buf, v, [1, 3, 8, 8]), await run(encode(r.model), v, [1, 3, 8, 8])) < 1e-5);
  });

  test('no padding anywhere: the bias fold alone is exact', async () => {
    const buf = residualNet(0);
    const { graph, deps, resolved } = zeroGammaPlan(buf);
    const r = pruneGraph(graph, deps, resolved, { compensate: true });
    assert.ok(r.compensation.layers.every((l) => l.exact && !l.borderCorrection));
    const ref = await run(buf, input, [2, 3, 10, 10]);
    const y = await run(encode(r.model), input, [2, 3, 10, 10]);
    assert.ok(maxAbsDiff(ref, y) < 1e-5);
  });

  test('|γ| ≠ 0 is compensated by its expected value and reported approximate', async () => {
    const buf = residualNet(0);
    const m = decodeModel(buf);
    const t = m.graph!.initializer.find((x) => x.name === 'bn3.weight')!;
    const v = new Float32Array(Uint8Array.from(t.raw_data!).buffer);
    v[0] = 0.004;
    v[3] = 0.3;
    t.raw_data = Buffer.from(v.buffer);
    const buf2 = encode(m);
    const { graph, deps, resolved } = zeroGammaPlan(buf2);
    const r = pruneGraph(graph, deps, resolved, { compensate: true });
    const fc = r.compensation.layers.find((l) => l.name === 'fc')!;
    assert.equal(fc.exact, false);
    assert.match(fc.reason!, /bn3: expected value of channels with γ ≠ 0/);
    assert.equal(fc.channels, 2);
    assert.equal(r.compensation.estimatedChannels, 2);
    assert.equal(r.compensation.constantChannels, ZERO_A.size);
    // The fold is what the expected value says: fc's bias moves by Σ W[:, c] · E[LeakyRelu(N(β_c, γ_c²))].
    const off = pruneGraph(graph, deps, resolved, { compensate: false });
    const bias = (model: ModelProto) => {
      const b = model.graph!.initializer.find((x) => x.name === 'fc.bias')!;
      return new Float32Array(Uint8Array.from(b.raw_data!).buffer);
    };
    const w = graph.constantFloats('fc.weight')!; // [5, 6] (transB)
    const beta = graph.constantFloats('bn3.bias')!;
    const leaky = (x: number) => (x >= 0 ? x : 0.1 * x);
    const mc = (mu: number, sd: number) => {
      let s = 0;
      const n = 200000;
      for (let i = 0; i < n; i++) s += leaky(mu + sd * gauss());
      return s / n;
    };
    const e0 = mc(beta[0], 0.004);
    const e3 = mc(beta[3], 0.3);
    const bOn = bias(r.model);
    const bOff = bias(off.model);
    for (let n = 0; n < 5; n++) {
      const want = w[n * 6 + 0] * e0 + w[n * 6 + 3] * e3;
      assert.ok(Math.abs(bOn[n] - bOff[n] - want) < 5e-3, `fc bias ${n}: ${bOn[n] - bOff[n]} vs ${want}`);
    }
  });
});

describe('compensation through Concat and Flatten', () => {
  test('two branches concatenated, then a 1x1 conv and a Flatten into Gemm: exact', async () => {
    const b = new ModelBuilder({ seed: 8 });
    const x = b.input('x', [2, 3, 6, 6]);
    const branch = (name: string, zero: number[]) => {
      const gamma = Array.from({ length: 4 }, (_, i) => (zero.includes(i) ? 0 : 0.7 + 0.1 * i));
      const beta = Array.from({ length: 4 }, (_, i) => 0.4 - 0.3 * i);
      return b.relu(b.bn(b.conv(x, 3, 4, { k: 3, name: `${name}.conv` }), 4, { name: `${name}.bn`, gamma, beta }));
    };
    const cat = b.concat([branch('a', [1]), branch('b', [0, 3])]);
    let y = b.conv(cat, 8, 5, { k: 1, name: 'mix' });
    y = b.relu(b.bn(y, 5, { name: 'mix.bn', gamma: [0.5, 0, 0.9, 0, 1.2], beta: [0.1, 0.6, -0.2, -0.5, 0.3] }));
    const out = b.gemm(b.flatten(y), 5 * 36, 3, 'fc');
    b.output(out, [2, 3]);
    const buf = b.toBuffer();
    const graph = new Graph(asModel(buf));
    const deps = analyzeDependencies(graph);
    const zeros: Record<string, number[]> = { 'a.conv': [1], 'b.conv': [0, 3], mix: [1, 3] };
    const kept = new Map<number, number[]>();
    for (const gr of deps.groups) {
      const z = zeros[gr.layers[0]];
      if (gr.prunable && z) kept.set(gr.id, Array.from({ length: gr.channels }, (_, i) => i).filter((i) => !z.includes(i)));
    }
    assert.equal(kept.size, 3, 'three prunable groups: both branches and mix');
    const resolved = { plan: { version: 1 as const, criterion: 'bn-gamma' as const, threshold: 1e-3, scope: 'global' as const }, kept };
    const input = Float32Array.from({ length: 216 }, (_, i) => Math.cos(i * 0.37));
    const ref = await run(buf, input, [2, 3, 6, 6]);
    const on = pruneGraph(graph, deps, resolved, { compensate: true });
    const off = pruneGraph(graph, deps, resolved, { compensate: false });
    const dOn = maxAbsDiff(ref, await run(encode(on.model), input, [2, 3, 6, 6]));
    const dOff = maxAbsDiff(ref, await run(encode(off.model), input, [2, 3, 6, 6]));
    assert.ok(dOn < 1e-5, `compensated ${dOn}`);
    assert.ok(dOff > 1e-2, `uncompensated ${dOff}`);
    assert.deepEqual(on.compensation.layers.map((l) => [l.name, l.channels, l.exact]).sort(), [['fc', 2, true], ['mix', 3, true]]);
  });
});

describe('compensation on real architectures', { skip: skipWithoutShared }, () => {
  /**
   * The original with γ = 0 on the channels the plan removes (in every BN of their group) computes exactly
   * what the compensated pruned model computes: residual Adds, padded 3x3 convs, the strided downsample,
   * depthwise convs, Clip (ReLU6), GAP and the classifier included.
   */
  for (const arch of ['resnet18', 'mobilenet_v2']) {
    test(`${arch}: pruning γ-zeroed channels with compensation reproduces the zeroed model`, async (t) => {
      const file = shared(`synthetic/${arch}_bn.onnx`);
      const model = loadModel(file);
      const graph = new Graph(model);
      const deps = analyzeDependencies(graph);
      const importance = await computeImportance(graph, deps);
      const resolved = resolvePlan({ version: 1, criterion: 'bn-gamma', scope: 'uniform', ratio: 0.3 }, deps, importance);
      // Zero γ of every removed channel in a copy of the model.
      const masked = loadModel(file);
      const mg = new Graph(masked);
      for (const [id, kept] of resolved.kept) {
        const group = deps.groups.find((gr) => gr.id === id)!;
        const keep = new Set(kept);
        for (const bn of group.bnNodes) {
          const tensor = mg.initializers.get(mg.byName.get(bn)!.input[1])!;
          const v = Float32Array.from(mg.constantFloats(tensor.name!)!);
          for (let c = 0; c < v.length; c++) if (!keep.has(c)) v[c] = 0;
          tensor.raw_data = Buffer.from(v.buffer);
        }
      }
      const x = new Float32Array(Uint8Array.from(fs.readFileSync(shared('synthetic/input_1x3x224x224_seed0.f32'))).buffer);
      const dims = [1, 3, 224, 224];
      const maskedBuf = encode(masked.proto);
      const ref = await run(maskedBuf, x, dims);
      const maskedGraph = new Graph(asModel(maskedBuf));
      const on = pruneGraph(maskedGraph, deps, resolved, { compensate: true, borderCorrection: true });
      const plain = pruneGraph(maskedGraph, deps, resolved, { compensate: true });
      const off = pruneGraph(maskedGraph, deps, resolved, { compensate: false });
      const dOn = maxAbsDiff(ref, await run(encode(on.model), x, dims));
      const dPlain = maxAbsDiff(ref, await run(encode(plain.model), x, dims));
      const dOff = maxAbsDiff(ref, await run(encode(off.model), x, dims));
      const s = on.compensation;
      t.diagnostic(`max |Δ| vs the γ-zeroed model: ${dOn.toExponential(2)} with compensation and border correction, ${dPlain.toExponential(2)} with the default (uniform) compensation, ${dOff.toExponential(2)} without; ${s.channelsCompensated}/${s.constantChannels} channels folded into ${s.layers.length} layers (${s.layers.filter((l) => l.exact).length} exact)`);
      // The default keeps the original's nodes (no border Add) and is still far closer than no compensation.
      assert.deepEqual(plain.model.graph!.node.map((n) => n.op_type), model.proto.graph!.node.map((n) => n.op_type));
      assert.ok(dPlain < dOff, `default compensation ${dPlain} vs none ${dOff}`);
      assert.ok(dOn < 1e-4, `compensated: ${dOn}`);
      // γ = 0 makes every fold exact, even behind a padded depthwise conv (its BN's γ is 0 too).
      assert.ok(s.layers.every((l) => l.exact), JSON.stringify(s.layers.filter((l) => !l.exact)));
      assert.equal(s.channelsCompensated, s.constantChannels);
      assert.ok(dOn < dOff / 10, `compensation ${dOn} vs none ${dOff}`);
    });
  }
});

const FLOATS = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16]);

/** A copy of a model with every float initializer, input and output converted to `dt` (FLOAT, FLOAT16 or BFLOAT16). */
function convertFloats(buf: Uint8Array, dt: number): Uint8Array {
  const m = decodeModel(buf);
  const model = asModel(buf);
  for (const t of m.graph!.initializer) {
    if (!FLOATS.has(t.data_type ?? 0)) continue;
    const v = tensorToFloat32(model, t);
    const b = Buffer.alloc(v.length * (dt === DataType.FLOAT ? 4 : 2));
    for (let i = 0; i < v.length; i++) {
      if (dt === DataType.FLOAT) b.writeFloatLE(v[i], i * 4);
      else b.writeUInt16LE((dt === DataType.FLOAT16 ? floatToHalf : floatToBf16)(v[i]), i * 2);
    }
    t.raw_data = b;
    t.float_data = [];
    t.data_type = dt;
  }
  for (const v of [...m.graph!.input, ...m.graph!.output, ...m.graph!.value_info]) {
    if (FLOATS.has(v.type?.tensor_type?.elem_type ?? 0)) v.type!.tensor_type!.elem_type = dt;
  }
  return encode(m);
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

describe('expected value of an activation of N(β, γ²)', () => {
  test('closed forms (Relu, Clip) and numerical integration (the others) match Monte-Carlo means', () => {
    const b = new ModelBuilder({ seed: 1 });
    const x = b.input('x', [1, 2, 2, 2]);
    const lo = b.init('lo', [], [0]);
    const hi = b.init('hi', [], [6]);
    const nodes = ['Relu', 'Clip', 'LeakyRelu', 'Sigmoid', 'HardSwish', 'Tanh', 'Elu'].map((op) => b.node(op, op === 'Clip' ? [x, lo, hi] : [x], op === 'LeakyRelu' ? { alpha: { float: 0.1 } } : {}));
    b.output(nodes[0], [1, 2, 2, 2]);
    const graph = new Graph(asModel(b.toBuffer()));
    const fns: Record<string, (v: number) => number> = {
      Relu: (v) => Math.max(v, 0),
      Clip: (v) => Math.min(6, Math.max(0, v)),
      LeakyRelu: (v) => (v >= 0 ? v : 0.1 * v),
      Sigmoid: (v) => 1 / (1 + Math.exp(-v)),
      HardSwish: (v) => v * Math.min(1, Math.max(0, v / 6 + 0.5)),
      Tanh: Math.tanh,
      Elu: (v) => (v >= 0 ? v : Math.exp(v) - 1),
    };
    const n = 200000;
    const z = Float64Array.from({ length: n }, gauss);
    for (const [beta, gamma] of [[0, 1], [0.5, 0.2], [-0.3, 0.05], [2, 3], [5.5, 1], [-1, 0.001], [1.2, 0]]) {
      for (const node of graph.order) {
        const f = fns[node.op_type!];
        let sum = 0;
        let sq = 0;
        for (let i = 0; i < n; i++) {
          const y = f(beta + gamma * z[i]);
          sum += y;
          sq += y * y;
        }
        const mean = sum / n;
        const sd = Math.sqrt(Math.max(0, sq / n - mean * mean));
        const e = expectedActivation(node, graph, beta, gamma)!;
        // Monte-Carlo standard error is sd/√n ≈ 0.002·sd; allow 5 of them.
        const tol = 5 * (sd / Math.sqrt(n)) + 1e-6;
        assert.ok(Math.abs(e.mean - mean) < tol, `${node.op_type} β=${beta} γ=${gamma}: ${e.mean} vs sampled ${mean}`);
        assert.ok(Math.abs(e.std - sd) < 0.05 * sd + 1e-3, `${node.op_type} β=${beta} γ=${gamma}: sd ${e.std} vs sampled ${sd}`);
      }
    }
    // γ = 0 is exactly act(β); ReLU is β·Φ(β/γ) + γ·φ(β/γ).
    assert.equal(clippedNormalMoments(0.7, 1e-300, 0, Infinity).mean, 0.7);
    assert.equal(expectedActivation(graph.order[0], graph, -0.4, 0)!.mean, 0);
    const phi = (t: number) => Math.exp(-t * t / 2) / Math.sqrt(2 * Math.PI);
    assert.ok(Math.abs(clippedNormalMoments(0, 2, 0, Infinity).mean - 2 * phi(0)) < 1e-7);
  });
});

describe('compensation in float16 and bfloat16 models', { skip: skipWithoutShared }, () => {
  test('an fp16 MobileNet v1 gets every removed channel compensated and its fp32 twin\'s output cosine', async () => {
    const buf32 = fs.readFileSync(shared('synthetic/mobilenet_v1_w025_bn.onnx'));
    const buf16 = convertFloats(buf32, DataType.FLOAT16);
    const x = new Float32Array(Uint8Array.from(fs.readFileSync(shared('synthetic/input_1x3x224x224_seed0.f32'))).buffer);
    const dims = [1, 3, 224, 224];
    const x16 = Uint16Array.from(x, floatToHalf);
    const run16 = async (buf: Uint8Array): Promise<Float32Array> => {
      const s = await ort.InferenceSession.create(buf, { logSeverityLevel: 4 });
      try {
        const r = await s.run({ [s.inputNames[0]]: new ort.Tensor('float16', x16, dims) });
        return Float32Array.from(r[s.outputNames[0]].data as Uint16Array, halfToFloat);
      } finally {
        await s.release();
      }
    };
    const g32 = new Graph(asModel(buf32));
    const deps = analyzeDependencies(g32);
    const resolved = resolvePlan({ version: 1, criterion: 'l1', scope: 'uniform', ratio: 0.3 }, deps, await computeImportance(g32, deps));
    const g16 = new Graph(asModel(buf16));
    const deps16 = analyzeDependencies(g16);
    assert.deepEqual(deps16.groups.map((gr) => gr.layers), deps.groups.map((gr) => gr.layers));
    const on32 = pruneGraph(g32, deps, resolved, {});
    const on16 = pruneGraph(g16, deps16, resolved, {});
    const off16 = pruneGraph(g16, deps16, resolved, { compensate: false });
    const removed = [...resolved.kept].reduce((a, [id, k]) => a + deps.groups.find((gr) => gr.id === id)!.channels - k.length, 0);
    assert.equal(on32.compensation.channelsCompensated, removed);
    assert.equal(on16.compensation.channelsCompensated, removed, 'every removed channel of the fp16 model is compensated');
    assert.deepEqual(on16.compensation.layers.map((l) => [l.name, l.channels, l.foldedIntoBn, l.varianceScaled]), on32.compensation.layers.map((l) => [l.name, l.channels, l.foldedIntoBn, l.varianceScaled]));
    // The edited running means and variances stay FLOAT16.
    const types = new Set(on16.model.graph!.initializer.map((t) => t.data_type));
    assert.deepEqual([...types], [DataType.FLOAT16]);
    const ref32 = await run(buf32, x, dims);
    const ref16 = await run16(buf16);
    const c32 = cosine(ref32, await run(encode(on32.model), x, dims));
    const c16 = cosine(ref16, await run16(encode(on16.model)));
    const c16off = cosine(ref16, await run16(encode(off16.model)));
    assert.ok(c16 > c32 - 2e-3, `fp16 cosine ${c16} vs fp32 ${c32}`);
    assert.ok(c16 > c16off, `compensated fp16 ${c16} vs uncompensated ${c16off}`);
  });

  test('a bfloat16 model gets the same folds as its float32 twin, written in bfloat16', () => {
    // The float32 twin holds the bfloat16 model's values exactly, so that only the result's rounding differs.
    const bufBf = convertFloats(residualNet(0, false), DataType.BFLOAT16);
    const buf32 = convertFloats(bufBf, DataType.FLOAT);
    const a = zeroGammaPlan(buf32);
    const b = zeroGammaPlan(bufBf);
    const r32 = pruneGraph(a.graph, a.deps, a.resolved, {});
    const rBf = pruneGraph(b.graph, b.deps, b.resolved, {});
    assert.ok(rBf.compensation.channelsCompensated > 0);
    assert.deepEqual(rBf.compensation, { ...r32.compensation });
    const m32 = asModel(encode(r32.model));
    const mBf = asModel(encode(rBf.model));
    for (const t of mBf.proto.graph!.initializer) {
      assert.equal(t.data_type, DataType.BFLOAT16, t.name!);
      const want = tensorToFloat32(m32, m32.proto.graph!.initializer.find((x) => x.name === t.name)!);
      const got = tensorToFloat32(mBf, t);
      // bfloat16 keeps 8 significant bits: each value is the float32 result rounded, within 2^-8 relative.
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 2 ** -8 * Math.abs(want[i]), `${t.name}[${i}]: ${got[i]} vs ${want[i]}`);
    }
    assert.equal(bf16ToFloat(floatToBf16(1.5)), 1.5);
  });

  test('running-mean folds and variance shares equal the formulas summed term by term, bit for bit (1x1 and 3x3 consumers, filter counts not a multiple of four)', () => {
    // conv a (5→10, 3x3) → bn a → relu → conv b (10→13, 1x1) → bn b → relu → conv c (13→7, 3x3) → bn c
    const b = new ModelBuilder({ seed: 5 });
    let y = b.input('x', [1, 5, 8, 8]);
    y = b.relu(b.bn(b.conv(y, 5, 10, { k: 3, name: 'a', bias: false }), 10, { name: 'bn_a' }));
    y = b.relu(b.bn(b.conv(y, 10, 13, { k: 1, name: 'b', bias: false }), 13, { name: 'bn_b' }));
    b.output(b.bn(b.conv(y, 13, 7, { k: 3, name: 'c', bias: false }), 7, { name: 'bn_c' }), [1, 7, 8, 8]);
    const model = asModel(b.toBuffer());
    const graph = new Graph(model);
    const deps = analyzeDependencies(graph);
    const removedOf: Record<string, number[]> = { a: [1, 4, 5, 8], b: [0, 2, 3, 7, 12] };
    const kept = new Map<number, number[]>();
    for (const g of deps.groups) {
      const r = removedOf[g.layers[0]];
      if (r) kept.set(g.id, Array.from({ length: g.channels }, (_, i) => i).filter((i) => !r.includes(i)));
    }
    assert.equal(kept.size, 2);
    const plan = planCompensation(graph, prunedGroupsOf(deps.groups, kept));
    const floats = (name: string) => tensorToFloat32(model, graph.initializers.get(name)!);
    assert.ok(model.proto.graph!.initializer.some((t) => t.raw_data!.byteOffset % 4 !== 0), 'some weights are not 4-byte aligned in the file buffer');

    // the documented formulas, one term at a time, in the channels' order
    for (const [conv, from, bn, O, C, k] of [['b', 'bn_a', 'bn_b', 13, 10, 1], ['c', 'bn_b', 'bn_c', 7, 13, 9]] as const) {
      const w = floats(`${conv}.weight`);
      const gamma = floats(`${from}.weight`);
      const beta = floats(`${from}.bias`);
      const removed = removedOf[from === 'bn_a' ? 'a' : 'b'];
      // relu of N(β, γ²): the removed channels' expected values, every channel's spread
      const act = Array.from({ length: C }, (_, c) => clippedNormalMoments(beta[c], Math.abs(gamma[c]), 0, Infinity));
      const kern = new Float64Array(O * k);
      for (let o = 0; o < O; o++) for (const c of removed) for (let j = 0; j < k; j++) kern[o * k + j] += w[(o * C + c) * k + j] * act[c].mean;
      const mean = new Float64Array(O);
      const scale = new Float64Array(O);
      for (let o = 0; o < O; o++) {
        let d = 0;
        for (let j = 0; j < k; j++) d += kern[o * k + j];
        mean[o] = 0 - d;
        // Σ_kept V as Σ_all V − Σ_lost V, each summed in the channels' order
        const variance = (channels: readonly number[]) => {
          let sum = 0;
          for (const c of channels) {
            let q = 0;
            for (let j = 0; j < k; j++) q += w[(o * C + c) * k + j] * w[(o * C + c) * k + j];
            sum += act[c].std * act[c].std * q;
          }
          return sum;
        };
        const all = variance(Array.from({ length: C }, (_, c) => c));
        const lost = variance(removed);
        scale[o] = all > 0 ? Math.max((all - lost) / all, 1e-2) : 1;
      }
      const bytes = (a: Float64Array | undefined) => Buffer.from(a!.buffer, a!.byteOffset, a!.byteLength);
      assert.ok(bytes(plan.meanDeltas.get(bn)).equals(bytes(mean)), `${bn} running mean delta: ${[...plan.meanDeltas.get(bn)!]} vs ${[...mean]}`);
      assert.ok(bytes(plan.varScales.get(bn)).equals(bytes(scale)), `${bn} variance share: ${[...plan.varScales.get(bn)!]} vs ${[...scale]}`);
    }
    // a second plan on the same graph reuses Σ_all V of the first and takes Σ_lost V from the pass that
    // folds the running means (the weights are not read again); it equals the plan on a fresh graph
    const other = new Map([...kept].map(([id, k]) => [id, k.slice(1)] as const));
    const again = planCompensation(graph, prunedGroupsOf(deps.groups, other));
    const freshGraph = new Graph(asModel(b.toBuffer()));
    const fresh = planCompensation(freshGraph, prunedGroupsOf(analyzeDependencies(freshGraph).groups, other));
    assert.deepEqual([...again.varScales.keys()].sort(), ['bn_b', 'bn_c']);
    for (const [bn, v] of fresh.varScales) assert.deepEqual([...again.varScales.get(bn)!], [...v], `${bn}: cached and fresh variance shares`);
    assert.notDeepEqual([...again.varScales.get('bn_c')!], [...plan.varScales.get('bn_c')!], 'the second plan loses other channels');
  });

  test('a later plan whose fold does not sum the lost channels (their constant is zero) reads them for the variance share: equal to a fresh graph, 1x1 and 3x3 consumers, filter counts not a multiple of four', () => {
    // conv a (5→10, 3x3) → bn a → conv b (10→13, 1x1) → bn b → conv c (13→7, 3x3) → bn c, no activations:
    // a channel with β = 0 has mean 0 (nothing to fold) and variance γ², which the variance share counts
    const b = new ModelBuilder({ seed: 8 });
    const betaA = Array.from({ length: 10 }, (_, i) => (i === 4 ? 0 : 0.1 * (i - 3.5)));
    const betaB = Array.from({ length: 13 }, (_, i) => (i === 2 ? 0 : 0.05 * (i - 6.5)));
    let y = b.input('x', [1, 5, 8, 8]);
    y = b.bn(b.conv(y, 5, 10, { k: 3, name: 'a', bias: false }), 10, { name: 'bn_a', beta: betaA });
    y = b.bn(b.conv(y, 10, 13, { k: 1, name: 'b', bias: false }), 13, { name: 'bn_b', beta: betaB });
    b.output(b.bn(b.conv(y, 13, 7, { k: 3, name: 'c', bias: false }), 7, { name: 'bn_c' }), [1, 7, 8, 8]);
    const planOf = (graph: Graph, removed: Record<string, number[]>) => {
      const groups = analyzeDependencies(graph).groups;
      const kept = new Map<number, number[]>();
      for (const g of groups) {
        const r = removed[g.layers[0]];
        if (r) kept.set(g.id, Array.from({ length: g.channels }, (_, i) => i).filter((i) => !r.includes(i)));
      }
      assert.equal(kept.size, 2);
      return planCompensation(graph, prunedGroupsOf(groups, kept));
    };
    const graph = new Graph(asModel(b.toBuffer()));
    const first = planOf(graph, { a: [1, 5, 8], b: [0, 3, 7, 12] });
    // the second plan removes only zero-mean channels (4 of a, 2 of b): the fold has no terms
    const zeroOnly = { a: [4], b: [2] };
    const again = planOf(graph, zeroOnly);
    const fresh = planOf(new Graph(asModel(b.toBuffer())), zeroOnly);
    assert.deepEqual([...again.varScales.keys()].sort(), ['bn_b', 'bn_c']);
    for (const [bn, v] of fresh.varScales) {
      assert.deepEqual([...again.varScales.get(bn)!], [...v], `${bn}: cached and fresh variance shares`);
      assert.ok(v.some((x) => x < 1), `${bn}: the zero-mean channels carry variance`);
      assert.notDeepEqual([...v], [...first.varScales.get(bn)!], `${bn}: the plans differ`);
    }
  });

  test('an infinite weight in a kept channel of a 1x1 consumer: the running-mean fold still sums the removed channels only', () => {
    // conv a (4→12) → bn a → relu → conv b (12→9, 1x1) → bn b; channel 3 of a is kept, and b's weight
    // for it is +∞ in filters 0 and 5
    const b = new ModelBuilder({ seed: 9 });
    let y = b.input('x', [1, 4, 6, 6]);
    y = b.relu(b.bn(b.conv(y, 4, 12, { k: 3, name: 'a', bias: false }), 12, { name: 'bn_a' }));
    b.output(b.bn(b.conv(y, 12, 9, { k: 1, name: 'b', bias: false }), 9, { name: 'bn_b' }), [1, 9, 6, 6]);
    const model = asModel(b.toBuffer());
    const wt = model.proto.graph!.initializer.find((t) => t.name === 'b.weight')!;
    const raw = Buffer.from(wt.raw_data!);
    for (const o of [0, 5]) raw.writeFloatLE(Infinity, (o * 12 + 3) * 4);
    wt.raw_data = raw;
    const graph = new Graph(model);
    const deps = analyzeDependencies(graph);
    const removed = [0, 2, 7, 11];
    const g = deps.groups.find((x) => x.layers[0] === 'a')!;
    const plan = planCompensation(graph, prunedGroupsOf(deps.groups, new Map([[g.id, Array.from({ length: 12 }, (_, i) => i).filter((i) => !removed.includes(i))]])));
    const w = tensorToFloat32(model, wt);
    const gamma = tensorToFloat32(model, graph.initializers.get('bn_a.weight')!);
    const beta = tensorToFloat32(model, graph.initializers.get('bn_a.bias')!);
    const want = new Float64Array(9);
    for (let o = 0; o < 9; o++) {
      let d = 0;
      for (const c of removed) d += w[o * 12 + c] * clippedNormalMoments(beta[c], Math.abs(gamma[c]), 0, Infinity).mean;
      want[o] = 0 - d;
    }
    assert.deepEqual([...plan.meanDeltas.get('bn_b')!], [...want]);
    assert.ok([...want].every(Number.isFinite));
  });
});
