// Segments of a model (graph/segment.ts), the models recovery and the scan hand to ONNX Runtime:
// run from a cut, they give what the whole model gives.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { Graph, loadModel, saveModel } from '../../src/engine/index.ts';
import { floatType, segmentModel } from '../../src/engine/graph/segment.ts';
import { ModelBuilder, prng } from '../helpers/modelBuilder.ts';
import { maxAbsDiff } from '../helpers/ort.ts';
import { tempDir } from '../helpers/paths.ts';
import * as fs from 'node:fs';

const dir = tempDir();
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function run(bytes: Uint8Array, feeds: Record<string, Float32Array>, dims: Record<string, number[]>): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(bytes, { logSeverityLevel: 4 });
  try {
    return await s.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float32', v, dims[k])])));
  } finally {
    await s.release();
  }
}

describe('segmentModel', () => {
  test('the part after a cut, fed the tensors at the cut, gives the whole model\'s output (weights in external data inlined)', async () => {
    // x → conv a → bn → relu (h) → conv b → relu → conv c (+ h: a residual read across the cut) → y
    const b = new ModelBuilder({ seed: 3 });
    const x = b.input('x', [1, 4, 6, 6]);
    const h = b.relu(b.bn(b.conv(x, 4, 8, { k: 3, pad: 1, name: 'a' }), 8, { name: 'bn' }));
    const y = b.node('Add', [b.conv(b.relu(b.conv(h, 8, 8, { k: 3, pad: 1, name: 'b' })), 8, 8, { k: 1, name: 'c' }), h]);
    b.output(y, [1, 8, 6, 6]);
    const src = b.save(path.join(dir, 'src.onnx'));
    const file = path.join(dir, 'external.onnx');
    await saveModel({ proto: loadModel(src).proto, dir }, file, { externalData: true });
    const model = loadModel(file);
    assert.ok(model.proto.graph!.initializer.some((t) => (t.data_location ?? 0) === 1), 'weights in external data');
    const graph = new Graph(model);
    const rnd = prng(1);
    const xs = Float32Array.from({ length: 4 * 36 }, () => rnd() - 0.5);
    const whole = segmentModel(model, graph, model.proto, [y], new Map(), 'all');
    const want = (await run(whole.bytes, { x: xs }, { x: [1, 4, 6, 6] }))[y].data as Float32Array;
    assert.deepEqual(whole.inputs, []);

    // the tensor at the cut, from a probe that outputs it
    const probe = segmentModel(model, graph, model.proto, [h], new Map(), 'all');
    assert.deepEqual([...probe.nodes].length, 3, 'conv, bn and relu before the cut');
    const at = (await run(probe.bytes, { x: xs }, { x: [1, 4, 6, 6] }))[h].data as Float32Array;

    for (const cutType of [floatType([8, 6, 6]), floatType()]) {
      const rest = segmentModel(model, graph, model.proto, [y], new Map([[h, cutType]]), 'none');
      assert.deepEqual(rest.inputs, [h]);
      assert.ok(![...rest.nodes].some((n) => probe.nodes.has(n)), 'nothing before the cut runs again');
      const got = (await run(rest.bytes, { [h]: at }, { [h]: [1, 8, 6, 6] }))[y].data as Float32Array;
      assert.ok(maxAbsDiff(got, want) < 1e-5, `after the cut: ${maxAbsDiff(got, want)}`);
    }
  });
});
