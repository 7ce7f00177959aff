// Segments of a model (graph/segment.ts), the models recovery and the scan hand to ONNX Runtime:
// run from a cut, they give what the whole model gives.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { Graph, loadModel, saveModel } from '../../src/engine/index.ts';
import { floatType, segmentModel, unusedName } from '../../src/engine/graph/segment.ts';
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

  test('a sampled output is the value at the positions fed, per input and channel (two values, two inputs)', async () => {
    // x → conv a → relu (h, [2, 6, 5, 4]) → conv b (z, [2, 3, 5, 4])
    const b = new ModelBuilder({ seed: 4 });
    const x = b.input('x', [2, 3, 5, 4]);
    const h = b.relu(b.conv(x, 3, 6, { k: 3, pad: 1, name: 'a' }));
    const z = b.conv(h, 6, 3, { k: 1, name: 'b' });
    b.output(z, [2, 3, 5, 4]);
    const model = loadModel(b.save(path.join(dir, 'sampled.onnx')));
    const graph = new Graph(model);
    const names = new Map([h, z].map((v) => [v, { positions: unusedName(graph, `${v}_positions`), output: unusedName(graph, `${v}_sampled`) }]));
    assert.equal(unusedName(graph, `${h}_sampled`), `${h}_sampled`);
    assert.equal(unusedName(graph, z), `${z}_2`, 'a name the graph uses is not taken');
    const rnd = prng(2);
    const xs = Float32Array.from({ length: 2 * 3 * 20 }, () => rnd() - 0.5);
    const whole = await run(segmentModel(model, graph, model.proto, [h, z], new Map(), 'all').bytes, { x: xs }, { x: [2, 3, 5, 4] });
    // input 0 at positions 7, 0, 19; input 1 at 3, 3, 12 (the same for every channel)
    const pos = [[7, 0, 19], [3, 3, 12]];
    const seg = segmentModel(model, graph, model.proto, [h, z], new Map(), 'all', names);
    const s = await ort.InferenceSession.create(seg.bytes, { logSeverityLevel: 4 });
    try {
      const feeds: Record<string, ort.Tensor> = { x: new ort.Tensor('float32', xs, [2, 3, 5, 4]) };
      for (const [v, n] of names) {
        const C = v === h ? 6 : 3;
        const idx = new Int32Array(2 * C * 3);
        for (let i = 0; i < 2; i++) for (let c = 0; c < C; c++) idx.set(pos[i], (i * C + c) * 3);
        feeds[n.positions] = new ort.Tensor('int32', idx, [2, C, 3]);
      }
      const got = await s.run(feeds);
      assert.deepEqual(Object.keys(got).sort(), [names.get(h)!.output, names.get(z)!.output].sort(), 'the sampled outputs only');
      for (const [v, n] of names) {
        const C = v === h ? 6 : 3;
        const t = got[n.output];
        assert.deepEqual(t.dims, [2, C, 3]);
        const full = whole[v].data as Float32Array;
        for (let i = 0; i < 2; i++)
          for (let c = 0; c < C; c++)
            for (let r = 0; r < 3; r++) assert.equal((t.data as Float32Array)[(i * C + c) * 3 + r], full[(i * C + c) * 20 + pos[i][r]], `${v}[${i}, ${c}] at ${pos[i][r]}`);
      }
    } finally {
      await s.release();
    }
  });
});
