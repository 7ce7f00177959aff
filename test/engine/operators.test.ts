// The operator registry (graph/operators.ts): its entries are complete where the engine relies on
// them, the channel rules are found through it, and the activation functions compensation follows
// values through compute what ONNX Runtime computes.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../src/engine/graph/graph.ts';
import { OPERATORS, nodeFacts, weightOutAxis } from '../../src/engine/graph/operators.ts';
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
