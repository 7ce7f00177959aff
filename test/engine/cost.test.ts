// The cost model: parameter counts equal PyTorch's, MACs equal Torch-Pruning's op counter,
// per-layer figures on hand-built graphs.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { ModelBuilder } from '../helpers/modelBuilder.ts';
import { fmnistBn, shared, skipWithoutShared } from '../helpers/paths.ts';
import { decodeModel, loadModel } from '../../src/engine/onnx/model.ts';
import { Graph } from '../../src/engine/graph/graph.ts';
import { computeCost } from '../../src/engine/graph/cost.ts';

function graphOf(b: ModelBuilder): Graph {
  const buf = b.toBuffer();
  return new Graph({ path: 'test.onnx', dir: '.', fileSize: buf.length, sizeOnDisk: buf.length, proto: decodeModel(buf) });
}

describe('cost model on hand-built graphs', () => {
  test('conv, grouped conv, BN, ReLU, pool and Gemm: per-layer params and MACs', () => {
    const b = new ModelBuilder();
    const x = b.input('x', ['N', 3, 8, 8]);
    let y = b.conv(x, 3, 8, { k: 3, name: 'c1' }); // 8·(3·9) + 8 = 224 params; 8·8·8 outputs
    y = b.relu(b.bn(y, 8, { name: 'bn1' }));
    y = b.conv(y, 8, 8, { k: 3, group: 8, stride: 2, bias: false, name: 'dw' }); // 72 params; 8·4·4 outputs
    b.output(b.gemm(b.flatten(b.gap(y)), 8, 10, 'fc'));
    const c = computeCost(graphOf(b));
    assert.deepEqual(c.layers.map((l) => l.name), ['c1', 'dw', 'fc']);
    const [c1, dw, fc] = c.layers;
    assert.deepEqual(c1.weightShape, [8, 3, 3, 3]);
    assert.deepEqual(c1.inputShape, ['N', 3, 8, 8]);
    assert.deepEqual(c1.outputShape, ['N', 8, 8, 8]);
    assert.equal(c1.params, 224);
    assert.equal(c1.macs, 512 * 27 + 512); // weights + one bias add per output element
    assert.equal(c1.bn, 'bn1');
    assert.equal(dw.group, 8);
    assert.equal(dw.params, 72);
    assert.equal(dw.macs, 128 * 9);
    assert.equal(dw.bn, undefined);
    assert.equal(fc.params, 90);
    assert.equal(fc.macs, 80 + 10);
    assert.equal(c.params, 224 + 16 + 72 + 90); // BN: γ and β only
    const elementwise = 2 * 512 /* BN */ + 512 /* ReLU */ + 128 /* GAP input */;
    assert.equal(c.elementwiseMacs, elementwise);
    assert.equal(c.macs, c1.macs + dw.macs + fc.macs + elementwise);
    assert.equal(c.symbolicBatch, true);
    assert.ok(c.notes.some((n) => /batch 1/.test(n)));
  });

  test('batch bound to 4 multiplies the MACs, not the parameters', () => {
    const b = new ModelBuilder();
    const x = b.input('x', ['N', 3, 8, 8]);
    b.output(b.conv(x, 3, 8, { k: 3 }));
    const one = computeCost(graphOf(b));
    const four = computeCost(graphOf(b), { dims: { N: 4 } });
    assert.equal(four.macs, 4 * one.macs);
    assert.equal(four.params, one.params);
    assert.equal(four.symbolicBatch, false);
  });

  test('MatMul with a constant weight (also a Constant node through Identity), ConvTranspose, tied weights', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [2, 5, 6]);
    const w = b.constantNode([6, 4], 'random', 'w_const');
    const wi = b.node('Identity', [w]);
    const mm = b.node('MatMul', [x, wi], {}, 'mm');
    const act = b.node('MatMul', [x, b.node('Transpose', [x], { perm: [0, 2, 1] })], {}, 'attention'); // no constant: not a layer
    const img = b.input('img', [1, 4, 5, 5]);
    const tw = b.init('tw', [4, 2, 3, 3]);
    const up = b.node('ConvTranspose', [img, tw], { strides: [2, 2] }, 'up');
    const tied = b.node('ConvTranspose', [img, tw], { strides: [2, 2] }, 'up_tied');
    for (const o of [mm, act, up, tied]) b.output(o);
    const c = computeCost(graphOf(b));
    assert.deepEqual(c.layers.map((l) => l.name).sort(), ['mm', 'up', 'up_tied']);
    const byName = (n: string) => c.layers.find((l) => l.name === n)!;
    const [m, u, t] = [byName('mm'), byName('up'), byName('up_tied')];
    assert.equal(m.params, 24);
    assert.equal(m.macs, 2 * 5 * 4 * 6);
    assert.deepEqual(u.outputShape, [1, 2, 11, 11]);
    assert.equal(u.macs, 4 * 25 * 2 * 9); // each input element times C_out/group·k·k
    assert.equal(u.params, 72);
    assert.equal(t.params, 0, 'a tensor read twice under the same name is one parameter');
    assert.equal(c.params, 24 + 72);
  });
});

describe('cost model on real models', () => {
  test('the sample: 95,882 parameters, as PyTorch counts them', () => {
    const c = computeCost(new Graph(loadModel(fmnistBn)));
    assert.equal(c.params, 95882);
    assert.equal(c.layers.length, 8);
    assert.equal(c.layers.filter((l) => l.bn).length, 7);
  });

  test('every synthetic _bn model: parameters equal PyTorch (facts.json torch_params)', { skip: skipWithoutShared }, () => {
    const facts = JSON.parse(fs.readFileSync(shared('synthetic/facts.json'), 'utf8')) as Record<string, { torch_params: number; bn?: { file: string } }>;
    // facts.json also describes architectures whose files are not shipped: check those present
    const present = Object.keys(facts).filter((arch) => fs.existsSync(shared(`synthetic/${facts[arch].bn?.file ?? `${arch}_bn.onnx`}`)));
    assert.ok(present.length >= 5, `present: ${present}`);
    for (const arch of present) {
      const file = shared(`synthetic/${facts[arch].bn?.file ?? `${arch}_bn.onnx`}`);
      assert.equal(computeCost(new Graph(loadModel(file))).params, facts[arch].torch_params, arch);
    }
    assert.equal(facts.resnet18.torch_params, 11689512);
    assert.equal(facts.mobilenet_v2.torch_params, 3504872);
    assert.equal(facts.squeezenet1_1.torch_params, 1235496);
  });

  test('trained fmnist: parameters equal facts.json', { skip: skipWithoutShared }, () => {
    const facts = JSON.parse(fs.readFileSync(shared('trained/fmnist_bncnn_sparse.facts.json'), 'utf8'));
    assert.equal(computeCost(new Graph(loadModel(shared('trained/fmnist_bncnn_sparse_bn.onnx')))).params, facts.torch_params);
  });

  test('resnet18 and mobilenet_v2: MACs within 1% of Torch-Pruning macs_before', { skip: skipWithoutShared }, () => {
    for (const arch of ['resnet18', 'mobilenet_v2']) {
      const ref = JSON.parse(fs.readFileSync(shared(`reference/torch-pruning/${arch}__l1__uniform.json`), 'utf8'));
      const c = computeCost(new Graph(loadModel(shared(`synthetic/${arch}_bn.onnx`))));
      const rel = Math.abs(c.macs / ref.macs_before - 1);
      assert.ok(rel < 0.01, `${arch}: ${c.macs} vs ${ref.macs_before}`);
      if (arch === 'resnet18') assert.equal(c.macs, ref.macs_before); // exact under the documented convention
    }
  });

  test('resnet18: 21 weighted layers, 20 followed by their BN, conv1 shapes', { skip: skipWithoutShared }, () => {
    const c = computeCost(new Graph(loadModel(shared('synthetic/resnet18_bn.onnx'))));
    assert.equal(c.layers.length, 21);
    assert.equal(c.layers.filter((l) => l.bn).length, 20);
    const conv1 = c.layers[0];
    assert.deepEqual(conv1.weightShape, [64, 3, 7, 7]);
    assert.deepEqual(conv1.inputShape, ['N', 3, 224, 224]);
    assert.deepEqual(conv1.outputShape, ['N', 64, 112, 112]);
    assert.equal(conv1.macs, 64 * 112 * 112 * 3 * 49);
    assert.equal(c.layers.at(-1)!.op, 'Gemm');
    assert.equal(c.layers.at(-1)!.params, 513000);
  });

  test('ultraface (initializers listed as inputs) and ppocr (weights in Constant nodes) are costed', { skip: skipWithoutShared }, () => {
    const uf = computeCost(new Graph(loadModel(shared('real/ultraface/version-RFB-320.onnx'))));
    assert.equal(uf.layers.length, 52);
    assert.equal(uf.symbolicBatch, false);
    assert.ok(uf.layers.every((l) => l.macs > 0 && l.params > 0));
    const oc = computeCost(new Graph(loadModel(shared('real/ppocr/ch_ppocr_mobile_v2.0_cls_infer.onnx'))));
    assert.equal(oc.layers.filter((l) => l.op === 'Conv').length, 53);
    assert.ok(oc.params > 100_000);
    // H and W are symbolic in this model: without values the conv MACs cannot be known, and the notes say so
    assert.ok(oc.notes.some((n) => /unknown/.test(n)));
    assert.equal(oc.macsComplete, false);
    assert.equal(uf.macsComplete, true);
    const bound = computeCost(new Graph(loadModel(shared('real/ppocr/ch_ppocr_mobile_v2.0_cls_infer.onnx'))), {
      dims: { 'p2o.DynamicDimension.1': 48, 'p2o.DynamicDimension.2': 192 },
    });
    assert.ok(bound.layers.every((l) => l.macs > 0));
    assert.ok(!bound.notes.some((n) => /unknown/.test(n)));
    assert.equal(bound.macsComplete, true);
  });
});
