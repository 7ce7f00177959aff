// The operator registry (graph/operators.ts): its entries are complete where the engine relies on
// them, the channel rules are found through it, and the activation functions compensation follows
// values through compute what ONNX Runtime computes.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../src/engine/graph/graph.ts';
import { OPERATORS, biasScale, isBatchNorm, nodeFacts, weightLayout, weightOutAxis } from '../../src/engine/graph/operators.ts';
import { RULES, ruleFor } from '../../src/engine/analysis/rules.ts';
import { decodeModel } from '../../src/engine/onnx/model.ts';
import type { NodeProto } from '../../src/engine/onnx/proto.ts';
import { ModelBuilder } from '../helpers/modelBuilder.ts';
import { runFirstOutput } from '../helpers/ort.ts';

const node = (op_type: string, extra: Partial<NodeProto> = {}): NodeProto => ({ op_type, name: 'n', input: ['x'], output: ['y'], attribute: [], ...extra }) as NodeProto;

describe('operator registry', () => {
  test('every operator the analysis models has a shape rule; RULES holds exactly the entries with a channel rule', () => {
    for (const [op, facts] of OPERATORS) {
      if (facts.channel) assert.ok(facts.shape, `${op} has a channel rule but no shape rule`);
      if (facts.weighted) assert.ok(facts.shape, `${op} is weighted but has no shape rule`);
    }
    assert.deepEqual(Object.keys(RULES).sort(), [...OPERATORS].filter(([, f]) => f.channel).map(([op]) => op).sort());
  });

  test('lookups: another domain is unknown, an unknown type is unknown, prototype names are not operators', () => {
    assert.ok(nodeFacts(node('Relu')));
    assert.ok(nodeFacts(node('Relu', { domain: 'ai.onnx' })));
    assert.equal(nodeFacts(node('Relu', { domain: 'com.microsoft' })), undefined);
    assert.equal(ruleFor(node('Relu', { domain: 'com.microsoft' })), undefined);
    assert.equal(ruleFor(node('LRN')), undefined, 'LRN has an entry (shape) but no channel rule');
    assert.ok(nodeFacts(node('LRN'))?.shape);
    for (const op of ['constructor', 'toString', '__proto__', 'NoSuchOp']) assert.equal(nodeFacts(node(op)), undefined, op);
  });

  test("weighted layers: the weight axis of the output channels follows Gemm's transB", () => {
    const transB = { name: 'transB', type: 2, i: 1 } as unknown as NodeProto['attribute'][number];
    assert.equal(weightOutAxis(node('Conv')), 0);
    assert.equal(weightOutAxis(node('ConvTranspose')), 1);
    assert.equal(weightOutAxis(node('MatMul')), 1);
    assert.equal(weightOutAxis(node('Gemm')), 1);
    assert.equal(weightOutAxis(node('Gemm', { attribute: [transB] })), 0);
  });

  test('weighted layers: the weight layout agrees with the axis surgery slices, and counts grouped channels', () => {
    const attr = (name: string, i: number) => ({ name, type: 2, i }) as unknown as NodeProto['attribute'][number];
    const conv = [8, 2, 3, 3];
    const matrix = [5, 7];
    const dims: Record<string, number[]> = { Conv: conv, ConvInteger: conv, QLinearConv: conv, ConvTranspose: [4, 6, 3, 3], Gemm: matrix, MatMul: matrix, MatMulInteger: matrix, QLinearMatMul: matrix };
    for (const [op, f] of OPERATORS) {
      if (!f.weighted) continue;
      assert.ok(dims[op], `${op}: give this test a weight shape for it`);
      for (const attrs of [[], [attr('transB', 1)], [attr('group', 2)]]) {
        const n = node(op, { attribute: attrs });
        const l = weightLayout(n, dims[op]);
        assert.ok(l, `${op} has a layout`);
        assert.equal(l.outAxis, weightOutAxis(n), `${op} ${attrs.map((a) => a.name).join()}: the layout's filter axis is the axis surgery slices`);
      }
    }
    assert.deepEqual(weightLayout(node('Conv', { attribute: [attr('group', 4)] }), conv), { outAxis: 0, inAxis: 1, groups: 4, outChannels: 8, inChannels: 8 });
    assert.deepEqual(weightLayout(node('ConvTranspose', { attribute: [attr('group', 2)] }), [4, 6, 3, 3]), { outAxis: 1, inAxis: 0, groups: 2, outChannels: 12, inChannels: 4 });
    assert.deepEqual(weightLayout(node('Gemm', { attribute: [attr('transB', 1)] }), matrix), { outAxis: 0, inAxis: 1, groups: 1, outChannels: 5, inChannels: 7 });
    assert.deepEqual(weightLayout(node('MatMul'), [3, 5, 7]), { outAxis: 2, inAxis: 1, groups: 1, outChannels: 7, inChannels: 5 });
    assert.equal(weightLayout(node('Gemm'), [3, 5, 7]), undefined, 'a Gemm weight is a matrix');
    assert.equal(weightLayout(node('Relu'), matrix), undefined);
    assert.equal(biasScale(node('Gemm', { attribute: [{ name: 'beta', type: 1, f: 0.5 } as unknown as NodeProto['attribute'][number]] })), 0.5);
    assert.equal(biasScale(node('Gemm')), 1);
    assert.equal(biasScale(node('Conv')), 1);
  });

  test('the BatchNorm whose γ scores a layer is found by its channel rule', () => {
    const bn = [...OPERATORS].filter(([op]) => isBatchNorm(op)).map(([op]) => op);
    assert.deepEqual(bn, ['BatchNormalization']);
    assert.equal(isBatchNorm('InstanceNormalization'), false);
  });

  test('each activation function compensation follows equals ONNX Runtime on [-4, 4] (default attributes)', async () => {
    const xs = Float32Array.from({ length: 33 }, (_, i) => -4 + i * 0.25);
    const checked: string[] = [];
    for (const [op, facts] of OPERATORS) {
      if (facts.constant?.kind !== 'activation') continue;
      const b = new ModelBuilder({ opset: 20 });
      const x = b.input('x', [1, xs.length]);
      b.output(b.node(op, [x], {}, 'act'));
      const bytes = b.toBuffer();
      const y = await runFirstOutput(bytes, xs, [1, xs.length]);
      const graph = new Graph({ path: '/virtual/a.onnx', dir: '/virtual', fileSize: bytes.length, sizeOnDisk: bytes.length, proto: decodeModel(bytes) });
      const n = graph.byName.get('act')!;
      for (let i = 0; i < xs.length; i++) {
        const want = y.data[i];
        const got = facts.constant.f(xs[i], n, graph);
        assert.ok(Math.abs(got - want) <= 1e-5 + 1e-5 * Math.abs(want), `${op}(${xs[i]}): registry ${got}, ONNX Runtime ${want}`);
      }
      checked.push(op);
    }
    assert.ok(checked.length >= 14, `checked ${checked.join(', ')}`);
  });
});
