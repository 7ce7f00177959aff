// Recovery on the shared models (skipped, saying so, where ../shared/models is absent):
//   - every shared model prunes with --recover auto on random calibration inputs into a model that
//     runs in ONNX Runtime with the original's output shapes;
//   - on the dense Fashion-MNIST ResNet, l1 uniform 0.3, recovery on 200 training images gives back
//     most of the accuracy (Torch-Pruning + BN recalibration: 0.588; unpruned 0.939).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { pruneModel } from '../../src/engine/prune/prune.ts';
import { loadModel } from '../../src/engine/onnx/model.ts';
import { Graph } from '../../src/engine/graph/graph.ts';
import { arrayInputSet } from '../../src/engine/data/types.ts';
import { inputSpecsOf, readNpy, resolveDims, seededNormal } from '../../src/engine/runtime/inputs.ts';
import { evaluateClassifier, readImagesAndLabels } from '../../src/engine/runtime/validate.ts';
import { allSharedModels, shared, skipWithoutShared, tempDir } from '../helpers/paths.ts';

async function outputShapes(file: string, x: Float32Array, dims: number[]): Promise<number[][]> {
  const s = await ort.InferenceSession.create(file, { logSeverityLevel: 4 });
  try {
    const r = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x, dims) });
    return s.outputNames.map((n) => [...r[n].dims]);
  } finally {
    await s.release();
  }
}

describe('recovery on the shared models', { skip: skipWithoutShared }, () => {
  for (const rel of allSharedModels().filter((m) => !m.includes('reference'))) {
    test(`${rel}: --recover auto on random calibration inputs runs with the original's output shapes`, async () => {
      const file = shared(rel);
      const spec = inputSpecsOf(new Graph(loadModel(file)))[0];
      const dims = resolveDims(spec, {});
      const sample = dims.slice(1);
      const per = sample.reduce((a, b) => a * b, 1);
      const calib = arrayInputSet('random', sample, seededNormal(2 * per, 1));
      const dir = tempDir();
      const rep = await pruneModel(file, { version: 1, criterion: 'l1', scope: 'uniform', ratio: 0.3 }, { out: path.join(dir, 'p.onnx'), allowMinimal: true, recover: 'auto', calibration: calib, ep: 'cpu' }); // a tiny group may be cut to its minimum
      assert.equal(rep.recovery.steps[0], 'ls');
      const x = seededNormal(per, 2);
      assert.deepEqual(await outputShapes(rep.output, x, [1, ...sample]), await outputShapes(file, x, [1, ...sample]));
      fs.rmSync(dir, { recursive: true, force: true });
    });
  }

  test('fmnist_resnet_bn, l1 uniform 0.3: recovery on 200 training images keeps most of the accuracy', async () => {
    const dir = tempDir();
    const x = readNpy(shared('trained/fmnist_train_calib1000_x.npy'));
    const calib = arrayInputSet('fmnist_train_calib1000_x.npy', [1, 28, 28], (x.data as Float32Array).subarray(0, 200 * 784));
    const { images, labels } = readImagesAndLabels(shared('trained/fmnist_test1000_x_1000x1x28x28.f32'), shared('trained/fmnist_test1000_y.u8'));
    const acc: Record<string, number> = {};
    for (const mode of ['none', 'auto'] as const) {
      // 'none' without compensation is the network as cut (Torch-Pruning's 0.102).
      const rep = await pruneModel(shared('trained/fmnist_resnet_bn.onnx'), { version: 1, criterion: 'l1', scope: 'uniform', ratio: 0.3, ...(mode === 'none' ? { compensate: false } : {}) }, { out: path.join(dir, `${mode}.onnx`), recover: mode, calibration: calib, ep: 'cpu' });
      acc[mode] = (await evaluateClassifier(rep.output, images, labels, [1, 28, 28], { ep: 'cpu' })).accuracy;
    }
    assert.ok(acc.none < 0.3, `as cut: ${acc.none}`);
    assert.ok(acc.auto > 0.85, `recovered: ${acc.auto} (Torch-Pruning + BN recalibration: 0.588)`);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
