// Running models in ONNX Runtime: provider choice (real and simulated CUDA), inputs from files,
// validation of a model against another, classifier accuracy, and the `validate` CLI.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { CancelledError, PrunerError } from '../../src/engine/errors.ts';
import { loadModel } from '../../src/engine/onnx/model.ts';
import { ModelProtoType, type ModelProto } from '../../src/engine/onnx/proto.ts';
import {
  availableProviders,
  createSession,
  loadOrt,
  probeCuda,
  sessionOptions,
  type OrtModule,
  type OrtSessionOptions,
} from '../../src/engine/runtime/session.ts';
import {
  inferShape,
  modelInputSpecs,
  mulberry32,
  parseInputArg,
  randomInputs,
  readF32,
  readInputFile,
  readNpy,
  seededNormal,
} from '../../src/engine/runtime/inputs.ts';
import {
  compareOutputs,
  evaluateClassifier,
  latencyStats,
  modelSizeOnDisk,
  readImagesAndLabels,
  runModel,
  validatePruned,
} from '../../src/engine/runtime/validate.ts';
import { withCost } from '../../src/engine/runtime/cost.ts';
import { latencyInputs, measureModelLatency } from '../../src/engine/runtime/latency.ts';
import { Graph } from '../../src/engine/graph/graph.ts';
import type { ModelInputSpec } from '../../src/engine/runtime/types.ts';
import { f32Bytes, writeNpy } from '../helpers/npy.ts';
import { fmnistBn, fmnistFused, repoRoot, samplesDir, shared, skipWithoutShared, tempDir } from '../helpers/paths.ts';

const fmnistImages = path.join(samplesDir, 'fmnist', 'fmnist_test1000_x_1000x1x28x28.f32');
const fmnistLabels = path.join(samplesDir, 'fmnist', 'fmnist_test1000_y.u8');
const CUDA_LOAD_ERROR = 'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library';

/**
 * A fake ONNX Runtime over the real one: `cuda: 'present'` creates the session on CPU but answers
 * as if CUDA worked; `'absent'` throws the error the real package throws without CUDA libraries.
 */
async function fakeOrt(cuda: 'present' | 'absent'): Promise<OrtModule & { requested: string[] }> {
  const real = await loadOrt();
  const requested: string[] = [];
  return {
    requested,
    env: {},
    Tensor: real.Tensor,
    listSupportedBackends: () => [
      { name: 'cpu', bundled: true },
      { name: 'cuda', bundled: cuda === 'present' },
    ],
    InferenceSession: {
      async create(model: string | Uint8Array, options?: OrtSessionOptions) {
        const ep = String(options?.executionProviders?.[0]);
        requested.push(ep);
        if (ep === 'cuda' && cuda === 'absent') throw new Error(CUDA_LOAD_ERROR);
        return real.InferenceSession.create(model, sessionOptions('cpu'));
      },
    },
  };
}

/** Writes a NumPy .npy (format 1.0) file by hand. */
const fmnistSpec = (): ModelInputSpec => modelInputSpecs(fmnistBn)[0];

describe('execution provider choice', () => {
  test('simulated CUDA present: auto and cuda both run on CUDA', async () => {
    const ort = await fakeOrt('present');
    const auto = await createSession(fmnistBn, 'auto', { ort });
    assert.equal(auto.provider, 'cuda');
    assert.equal(auto.fallbackReason, undefined);
    await auto.session.release();
    const cuda = await createSession(fmnistBn, 'cuda', { ort });
    assert.equal(cuda.provider, 'cuda');
    await cuda.session.release();
    assert.deepEqual(ort.requested, ['cuda', 'cuda']);
    const providers = await availableProviders(ort);
    assert.deepEqual(providers.find((p) => p.name === 'cuda'), { name: 'cuda', bundled: true, usable: true });
  });

  test('simulated CUDA absent: auto falls back to CPU and says why; cuda fails with an install hint; cpu never tries CUDA', async () => {
    const ort = await fakeOrt('absent');
    const auto = await createSession(fmnistBn, 'auto', { ort });
    assert.equal(auto.provider, 'cpu');
    assert.match(auto.fallbackReason ?? '', /CUDA not available.*Failed to load shared library/);
    await auto.session.release();
    await assert.rejects(createSession(fmnistBn, 'cuda', { ort }), (e: unknown) => {
      assert.ok(e instanceof PrunerError);
      assert.match(e.message, /^CUDA execution provider is not available: .*ONNXRUNTIME_NODE_INSTALL=cuda12/);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
    const before = ort.requested.length;
    const cpu = await createSession(fmnistBn, 'cpu', { ort });
    assert.equal(cpu.provider, 'cpu');
    assert.deepEqual(ort.requested.slice(before), ['cpu']);
    await cpu.session.release();
    const providers = await availableProviders(ort);
    const cuda = providers.find((p) => p.name === 'cuda');
    assert.equal(cuda?.usable, false);
    assert.match(cuda?.reason ?? '', /Failed to load shared library/);
  });

  test('simulated CUDA absent: validation runs on CPU and reports the fallback', async () => {
    const ort = await fakeOrt('absent');
    const r = await validatePruned(fmnistBn, fmnistFused, { ort, runs: 1, warmup: 0 });
    assert.equal(r.provider, 'cpu');
    assert.equal(r.requestedProvider, 'auto');
    assert.match(r.fallbackReason ?? '', /CUDA/);
  });

  test('CUDA usable but failing on one model: auto falls back for that model only, cuda names the model', async () => {
    const real = await loadOrt();
    const ort: OrtModule = {
      ...real,
      env: {},
      InferenceSession: {
        async create(model: string | Uint8Array, options?: OrtSessionOptions) {
          if (String(options?.executionProviders?.[0]) === 'cuda' && typeof model === 'string' && model.endsWith('_bn.onnx')) {
            throw new Error('CUDA failure 2: out of memory');
          }
          return real.InferenceSession.create(model, sessionOptions('cpu'));
        },
      },
    };
    assert.deepEqual(await probeCuda(ort), { usable: true });
    const a = await createSession(fmnistBn, 'auto', { ort });
    assert.equal(a.provider, 'cpu');
    assert.equal(a.fallbackReason, 'CUDA could not load the model (CUDA failure 2: out of memory)');
    await a.session.release();
    const b = await createSession(fmnistFused, 'auto', { ort });
    assert.equal(b.provider, 'cuda', 'CUDA stays in use for other models');
    await b.session.release();
    await assert.rejects(createSession(fmnistBn, 'cuda', { ort }), /^PrunerError: fmnist_bncnn_sparse_bn\.onnx: CUDA could not load the model/);
  });

  test('this machine: auto gives a working provider, cuda works or fails clearly', async () => {
    const real = await loadOrt();
    const probe = await probeCuda(real);
    const auto = await createSession(fmnistBn, 'auto');
    const out = await runModel(auto.session, randomInputs([fmnistSpec()]), auto.ort);
    assert.deepEqual(out.logits.dims, [1, 10]);
    await auto.session.release();
    if (probe.usable) {
      assert.equal(auto.provider, 'cuda');
    } else {
      assert.equal(auto.provider, 'cpu');
      assert.match(auto.fallbackReason ?? '', /CUDA/);
      await assert.rejects(createSession(fmnistBn, 'cuda'), /CUDA execution provider is not available.*cuda12/);
    }
    const providers = await availableProviders();
    assert.ok(providers.some((p) => p.name === 'cpu' && p.usable));
  });

  test('a missing or corrupt model is a PrunerError naming the file, not a CUDA problem', async () => {
    const dir = tempDir();
    const bad = path.join(dir, 'corrupt.onnx');
    fs.writeFileSync(bad, Buffer.from('this is not a model'));
    for (const ep of ['auto', 'cpu'] as const) {
      await assert.rejects(createSession(bad, ep), (e: unknown) => e instanceof PrunerError && e.message.includes('corrupt.onnx') && !/CUDA/.test(e.message));
    }
    await assert.rejects(createSession(path.join(dir, 'missing.onnx'), 'cpu'), (e: unknown) => e instanceof PrunerError && e.message.includes('missing.onnx'));
  });
});

test('importing the runtime engine does not load onnxruntime-node', () => {
  const code = `require(${JSON.stringify(path.join(repoRoot, 'src', 'engine', 'runtime', 'validate.ts'))});
    process.stdout.write(String(Object.keys(require.cache).filter((k) => k.includes('onnxruntime')).length));`;
  const p = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], { encoding: 'utf8', cwd: repoRoot });
  assert.equal(p.status, 0, p.stderr);
  assert.equal(p.stdout, '0');
});

describe('inputs', () => {
  test('the seeded generator is deterministic and roughly standard normal', () => {
    assert.deepEqual(seededNormal(8, 42), seededNormal(8, 42));
    assert.notDeepEqual(seededNormal(8, 42), seededNormal(8, 43));
    const u = mulberry32(1);
    const first = u();
    assert.ok(first >= 0 && first < 1);
    const x = seededNormal(100000, 7);
    const mean = x.reduce((a, b) => a + b, 0) / x.length;
    const variance = x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length;
    assert.ok(Math.abs(mean) < 0.02, `mean ${mean}`);
    assert.ok(Math.abs(variance - 1) < 0.03, `variance ${variance}`);
  });

  test('random inputs follow the model: symbolic batch 1 unless overridden', () => {
    const spec = fmnistSpec();
    assert.deepEqual(spec.dims, ['N', 1, 28, 28]);
    assert.equal(spec.type, 'float32');
    assert.deepEqual(randomInputs([spec]).input.dims, [1, 1, 28, 28]);
    const t = randomInputs([spec], { dims: { N: 4 } }).input;
    assert.deepEqual(t.dims, [4, 1, 28, 28]);
    assert.equal(t.data.length, 4 * 784);
    const ints = randomInputs([{ name: 'ids', type: 'int64', onnxType: 7, dims: ['B', 5] }]).ids;
    assert.ok(ints.data instanceof BigInt64Array);
    assert.deepEqual(ints.dims, [1, 5]);
  });

  test('--input syntax: name, shape suffix, Windows drive letters', () => {
    assert.deepEqual(parseInputArg('x.f32:1x3x224x224'), { file: 'x.f32', shape: [1, 3, 224, 224] });
    assert.deepEqual(parseInputArg('C:\\data\\x.f32'), { file: 'C:\\data\\x.f32' });
    assert.deepEqual(parseInputArg('input=C:\\d\\x.f32:2x1x28x28', ['input']), { name: 'input', file: 'C:\\d\\x.f32', shape: [2, 1, 28, 28] });
    assert.deepEqual(parseInputArg('a=b.f32', ['input']), { file: 'a=b.f32' });
  });

  test('.f32: explicit shape, shape inferred from the model (incl. dynamic batch), bad files', () => {
    const dir = tempDir();
    const spec = fmnistSpec();
    const one = path.join(dir, 'one.f32');
    const vals = Array.from({ length: 784 }, (_, i) => i / 784);
    fs.writeFileSync(one, f32Bytes(vals));
    const t = readF32(one, undefined, spec);
    assert.deepEqual(t.dims, [1, 1, 28, 28]);
    assert.equal(t.data[783], Math.fround(783 / 784));
    assert.deepEqual(readF32(one, [28, 28]).dims, [28, 28]);
    const three = path.join(dir, 'three.f32');
    fs.writeFileSync(three, f32Bytes(Array.from({ length: 3 * 784 }, () => 0.5)));
    assert.deepEqual(readInputFile({ file: three }, spec).dims, [3, 1, 28, 28]);
    assert.equal(inferShape(785, spec), undefined);

    const odd = path.join(dir, 'odd.f32');
    fs.writeFileSync(odd, Buffer.alloc(7));
    assert.throws(() => readF32(odd, undefined, spec), (e: unknown) => e instanceof PrunerError && e.message.includes('odd.f32') && /whole number/.test(e.message));
    const short = path.join(dir, 'short.f32');
    fs.writeFileSync(short, f32Bytes([1, 2, 3]));
    assert.throws(() => readF32(short, undefined, spec), (e: unknown) => e instanceof PrunerError && e.message.includes('short.f32'));
    assert.throws(() => readF32(short, [2, 2]), /short\.f32: shape 2x2 needs 4/);
    assert.throws(() => readInputFile({ file: one, shape: [1, 1, 784] }, spec), /one\.f32: shape \[1, 1, 784\] does not match input input/);
    assert.throws(() => readF32(path.join(dir, 'nope.f32')), (e: unknown) => e instanceof PrunerError && e.message.includes('nope.f32') && e.message.includes('ENOENT'));
  });

  test('.npy: float32, float64, int64, and bad files named in the error', () => {
    const dir = tempDir();
    const f4 = path.join(dir, 'a.npy');
    writeNpy(f4, '<f4', [2, 3], f32Bytes([1, 2, 3, 4, 5, 6.5]));
    const a = readNpy(f4);
    assert.equal(a.type, 'float32');
    assert.deepEqual(a.dims, [2, 3]);
    assert.deepEqual(Array.from(a.data as Float32Array), [1, 2, 3, 4, 5, 6.5]);

    const f8 = path.join(dir, 'b.npy');
    const d = Buffer.alloc(16);
    d.writeDoubleLE(0.25, 0);
    d.writeDoubleLE(-3, 8);
    writeNpy(f8, '<f8', [2], d);
    const b = readNpy(f8);
    assert.equal(b.type, 'float32');
    assert.deepEqual(Array.from(b.data as Float32Array), [0.25, -3]);

    const i8 = path.join(dir, 'c.npy');
    const ib = Buffer.alloc(24);
    [7n, -1n, 9000000000n].forEach((v, i) => ib.writeBigInt64LE(v, i * 8));
    writeNpy(i8, '<i8', [1, 3], ib);
    const c = readNpy(i8);
    assert.equal(c.type, 'int64');
    assert.deepEqual(Array.from(c.data as BigInt64Array), [7n, -1n, 9000000000n]);

    const fortran = path.join(dir, 'fortran.npy');
    writeNpy(fortran, '<f4', [2, 2], f32Bytes([1, 2, 3, 4]), { fortran: true });
    assert.throws(() => readNpy(fortran), (e: unknown) => e instanceof PrunerError && e.message.includes('fortran.npy') && /fortran_order/.test(e.message));
    const big = path.join(dir, 'complex.npy');
    writeNpy(big, '<c8', [1], f32Bytes([1, 0]));
    assert.throws(() => readNpy(big), /complex\.npy: .*dtype <c8/);
    const trunc = path.join(dir, 'trunc.npy');
    writeNpy(trunc, '<f4', [10], f32Bytes([1, 2]));
    assert.throws(() => readNpy(trunc), /trunc\.npy: .*needs 40 data bytes/);
    const junk = path.join(dir, 'junk.npy');
    fs.writeFileSync(junk, 'hello world, not numpy');
    assert.throws(() => readNpy(junk), /junk\.npy: not a usable \.npy file \(no NUMPY magic\)/);

    // A .npy image fed to the model: shape checked against the input, values used as they are.
    const img = path.join(dir, 'img.npy');
    writeNpy(img, '<f8', [1, 1, 28, 28], Buffer.alloc(784 * 8));
    const t = readInputFile({ file: img }, fmnistSpec());
    assert.deepEqual(t.dims, [1, 1, 28, 28]);
    assert.equal(t.type, 'float32');
  });
});

describe('validatePruned', () => {
  test('a model against itself: zero difference, cosine 1, full top-1 agreement', async () => {
    const r = await validatePruned(fmnistBn, fmnistBn, { ep: 'cpu', dims: { N: 8 }, runs: 3, warmup: 1 });
    assert.equal(r.provider, 'cpu');
    assert.equal(r.fallbackReason, undefined);
    assert.equal(r.outputs.length, 1);
    const o = r.outputs[0];
    assert.equal(o.name, 'logits');
    assert.deepEqual(o.originalShape, [8, 10]);
    assert.deepEqual(o.prunedShape, [8, 10]);
    assert.equal(o.comparable, true);
    assert.equal(o.maxAbsDiff, 0);
    assert.equal(o.meanAbsDiff, 0);
    assert.equal(o.cosine, 1);
    assert.equal(o.top1Agreement, 1);
    assert.equal(r.original.latency.runs, 3);
    assert.ok(r.original.latency.medianMs > 0 && r.original.latency.p90Ms >= r.original.latency.medianMs);
    assert.equal(r.original.sizeBytes, fs.statSync(fmnistBn).size);
    assert.deepEqual(r.inputs, [{ name: 'input', type: 'float32', dims: [8, 1, 28, 28], source: 'random' }]);
    assert.deepEqual(JSON.parse(JSON.stringify(r)), r, 'the report survives JSON');
  });

  test('BN model vs its BN-folded export (same weights): tiny difference, same predictions', async () => {
    const { images } = readImagesAndLabels(fmnistImages, fmnistLabels);
    const r = await validatePruned(fmnistBn, fmnistFused, { ep: 'cpu', inputs: { input: images.subarray(0, 64 * 784) }, dims: { N: 64 }, runs: 2 });
    const o = r.outputs[0];
    assert.equal(o.comparable, true);
    assert.ok(o.maxAbsDiff! < 1e-4, `max diff ${o.maxAbsDiff}`);
    assert.ok(o.cosine! > 0.999999, `cosine ${o.cosine}`);
    assert.equal(o.top1Agreement, 1);
    assert.equal(r.inputs[0].source, 'given');
    assert.ok(r.pruned.sizeBytes < r.original.sizeBytes, 'the fused file has no BN parameters');
  });

  test('different outputs are measured: a perturbed input file moves the logits', () => {
    const a = { type: 'float32', dims: [2, 3], data: new Float32Array([1, 2, 3, 3, 2, 1]) };
    const b = { type: 'float32', dims: [2, 3], data: new Float32Array([1, 2, 2.5, 1, 2, 1]) };
    const c = compareOutputs('y', a, b);
    assert.equal(c.maxAbsDiff, 2);
    assert.ok(Math.abs(c.meanAbsDiff! - 2.5 / 6) < 1e-12);
    assert.equal(c.top1Agreement, 0.5);
    assert.ok(c.cosine! < 1 && c.cosine! > 0.8);
    assert.equal(compareOutputs('y', a, { ...b, dims: [3, 2] }).comparable, false);
    assert.match(compareOutputs('y', a, undefined).note ?? '', /no output/);
    const nan = compareOutputs('y', a, { ...b, data: new Float32Array([NaN, 2, 3, 3, 2, 1]) });
    assert.equal(nan.nonFinite, 1);
    assert.equal(nan.maxAbsDiff, 0);
  });

  test('inputs from files reach both models; a model with the wrong input is refused', async () => {
    const dir = tempDir();
    const f = path.join(dir, 'batch.f32');
    fs.copyFileSync(fmnistImages, f);
    const r = await validatePruned(fmnistBn, fmnistFused, { ep: 'cpu', inputs: [f], runs: 1, warmup: 0 });
    assert.deepEqual(r.inputs, [{ name: 'input', type: 'float32', dims: [1000, 1, 28, 28], source: 'file', file: f }]);
    assert.deepEqual(r.outputs[0].originalShape, [1000, 10]);
    assert.equal(r.outputs[0].top1Agreement, 1);
    await assert.rejects(validatePruned(fmnistBn, fmnistFused, { inputs: [f, f] }), /2 input files given, the model has 1/);
  });

  test('whole input shapes by name; a shape that does not fit the input is refused', async () => {
    const r = await validatePruned(fmnistBn, fmnistFused, { ep: 'cpu', shapes: { input: [3, 1, 28, 28] }, runs: 1, warmup: 0 });
    assert.deepEqual(r.inputs[0].dims, [3, 1, 28, 28]);
    assert.deepEqual(r.outputs[0].prunedShape, [3, 10]);
    await assert.rejects(validatePruned(fmnistBn, fmnistFused, { ep: 'cpu', shapes: { input: [3, 2, 28, 28] } }), (e: unknown) => e instanceof PrunerError && /shape 3x2x28x28 does not fit input input/.test(e.message));
  });

  test('a model ONNX Runtime cannot run is a PrunerError naming that model', async () => {
    const real = await loadOrt();
    const ort: OrtModule = {
      ...real,
      env: {},
      InferenceSession: {
        async create(model: string | Uint8Array) {
          const s = await real.InferenceSession.create(model, sessionOptions('cpu'));
          if (typeof model !== 'string' || !model.endsWith('_fused.onnx')) return s;
          return new Proxy(s, {
            get(target, prop) {
              if (prop === 'run') return () => Promise.reject(new Error('Non-zero status code returned while running Conv node.\nmore'));
              const v: unknown = Reflect.get(target, prop);
              return typeof v === 'function' ? v.bind(target) : v;
            },
          });
        },
      },
    };
    await assert.rejects(validatePruned(fmnistBn, fmnistFused, { ep: 'cpu', ort }), (e: unknown) => {
      assert.ok(e instanceof PrunerError);
      assert.equal(e.message, 'fmnist_bncnn_sparse_fused.onnx: ONNX Runtime failed to run the model (Non-zero status code returned while running Conv node. more)');
      return true;
    });
  });

  test('a pruned model must take the same inputs as the original', { skip: skipWithoutShared }, async () => {
    await assert.rejects(validatePruned(fmnistBn, shared('synthetic/resnet18_bn.onnx')), /resnet18_bn\.onnx: input input is \[N, 3, 224, 224\], the original's is \[N, 1, 28, 28\]/);
    await assert.rejects(validatePruned(fmnistBn, shared('real/ppocr/ch_ppocr_mobile_v2.0_cls_infer.onnx')), /ch_ppocr_mobile_v2\.0_cls_infer\.onnx: input\(s\) input of the original model are missing/);
  });

  test('latency statistics', () => {
    assert.deepEqual(latencyStats([5, 1, 3, 2, 4]), { runs: 5, medianMs: 3, p90Ms: 5, minMs: 1, meanMs: 3 });
    assert.equal(latencyStats([1, 2, 3, 4]).medianMs, 2.5);
    assert.equal(latencyStats(Array.from({ length: 10 }, (_, i) => i + 1)).p90Ms, 9);
  });

  test('a model\'s latency (measureModelLatency): the runs asked, after warm-up, on the inputs fed; the spread ordered; an aborted signal stops it', async () => {
    const feeds = latencyInputs(new Graph(loadModel(fmnistBn)));
    const m = await measureModelLatency(fmnistBn, feeds, { runs: 5, warmup: 2 });
    assert.equal(m.runs, 5);
    assert.equal(m.warmup, 2);
    assert.equal(m.provider, 'cpu');
    assert.equal(m.threads, 1);
    assert.deepEqual(m.inputs, Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, v.dims])));
    assert.ok(m.minMs > 0 && m.minMs <= m.medianMs && m.medianMs <= m.p90Ms && m.p90Ms <= m.maxMs && m.iqrMs >= 0, JSON.stringify(m));
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(measureModelLatency(fmnistBn, feeds, { runs: 5, signal: ac.signal }), CancelledError);
  });

  test('an aborted signal stops validation', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(validatePruned(fmnistBn, fmnistFused, { ep: 'cpu', signal: ac.signal }), CancelledError);
    const ac2 = new AbortController();
    const p = validatePruned(fmnistBn, fmnistFused, { ep: 'cpu', runs: 100000, signal: ac2.signal, onProgress: (m) => m.startsWith('timing') && ac2.abort() });
    await assert.rejects(p, CancelledError);
  });

  test('external data: size on disk counts the data file once, and ONNX Runtime runs the model', async () => {
    const dir = tempDir();
    const model = loadModel(fmnistBn);
    const proto = ModelProtoType.toObject(ModelProtoType.decode(fs.readFileSync(fmnistBn)), { longs: Number, bytes: Buffer }) as unknown as ModelProto;
    const chunks: Buffer[] = [];
    let offset = 0;
    let moved = 0;
    for (const t of proto.graph!.initializer) {
      if (!t.raw_data || t.raw_data.length < 1024) continue;
      const bytes = Buffer.from(t.raw_data);
      chunks.push(bytes);
      t.raw_data = new Uint8Array(0);
      t.data_location = 1;
      t.external_data = [
        { key: 'location', value: 'weights.bin' },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(bytes.length) },
      ];
      offset += bytes.length;
      moved++;
    }
    assert.ok(moved >= 2, 'several tensors moved to the shared data file');
    const out = path.join(dir, 'external.onnx');
    fs.writeFileSync(out, ModelProtoType.encode(ModelProtoType.fromObject(proto)).finish());
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat(chunks));
    assert.equal(modelSizeOnDisk(out), fs.statSync(out).size + offset);
    assert.ok(model.fileSize > fs.statSync(out).size);
    const r = await validatePruned(fmnistBn, out, { ep: 'cpu', runs: 1, warmup: 0 });
    assert.equal(r.outputs[0].maxAbsDiff, 0);
    assert.equal(r.pruned.sizeBytes, fs.statSync(out).size + offset);
    fs.unlinkSync(path.join(dir, 'weights.bin'));
    assert.throws(() => modelSizeOnDisk(out), (e: unknown) => e instanceof PrunerError && /weights\.bin"? is missing/.test(e.message));
  });

  test('withCost fills params and MACs from both graphs', async () => {
    const r = await validatePruned(fmnistBn, fmnistFused, { ep: 'cpu', runs: 1, warmup: 0 });
    assert.equal(withCost(r).params, undefined);
    const countInitializers = (g: { initializers: Map<string, unknown> }) => ({ params: g.initializers.size, macs: 0 });
    const c = withCost(r, countInitializers);
    assert.ok(c.params && c.params.before > c.params.after, 'BN tensors are gone after folding');
    const failing = withCost(r, () => {
      throw new Error('unsupported node X');
    });
    assert.equal(failing.params, undefined);
    assert.deepEqual(failing.notes, ['parameters and MACs not counted: unsupported node X']);
  });
});

describe('classifier accuracy', () => {
  test('the Fashion-MNIST sample scores about 91% on its 1000 test images, batched or not', async () => {
    const { images, labels } = readImagesAndLabels(fmnistImages, fmnistLabels);
    assert.equal(labels.length, 1000);
    const batched = await evaluateClassifier(fmnistBn, images, labels, [1, 28, 28], { batch: 250 });
    assert.equal(batched.batch, 250, 'the model has a dynamic batch dimension');
    assert.ok(batched.accuracy > 0.89 && batched.accuracy < 0.94, `accuracy ${batched.accuracy}`);
    const single = await evaluateClassifier(fmnistFused, images.subarray(0, 200 * 784), labels.subarray(0, 200), [1, 28, 28], { batch: 1 });
    const firstBatched = await evaluateClassifier(fmnistBn, images.subarray(0, 200 * 784), labels.subarray(0, 200), [1, 28, 28], { batch: 200 });
    assert.equal(single.correct, firstBatched.correct);
    // Shuffled labels must not score: the accuracy is real.
    const wrong = labels.map((l) => (l + 1) % 10);
    const w = await evaluateClassifier(fmnistBn, images, wrong, [1, 28, 28], { batch: 500 });
    assert.ok(w.accuracy < 0.1, `accuracy with wrong labels ${w.accuracy}`);
  });
});

describe('validate CLI', () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'main.ts'), 'validate', ...args], { encoding: 'utf8', cwd: repoRoot });

  test('--json prints the report', () => {
    const p = cli(fmnistBn, fmnistFused, '--json', '--runs', '3', '--dim', 'N=4');
    assert.equal(p.status, 0, p.stderr);
    const r = JSON.parse(p.stdout);
    for (const k of ['requestedProvider', 'provider', 'inputs', 'outputs', 'original', 'pruned', 'intraOpThreads', 'warmup']) assert.ok(k in r, `key ${k}`);
    assert.equal(r.requestedProvider, 'auto');
    assert.deepEqual(r.outputs[0].originalShape, [4, 10]);
    assert.ok(r.outputs[0].maxAbsDiff < 1e-4);
    assert.equal(r.original.latency.runs, 3);
    assert.equal(r.pruned.sizeBytes, fs.statSync(fmnistFused).size);
    if (r.provider === 'cpu') assert.match(r.fallbackReason, /CUDA/);
    // 95,882 parameters with BN; folding drops 416 γ and 416 β and gives the convs 416 biases.
    assert.equal(r.params.before, 95882);
    assert.equal(r.params.before - r.params.after, 416);
    assert.ok(r.macs.after < r.macs.before && r.macs.before > 1e7, JSON.stringify(r.macs));
  });

  test('human summary', () => {
    const p = cli(fmnistBn, fmnistFused, '--ep', 'cpu', '--runs', '2');
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /^Provider {2}cpu, 1 intra-op thread/m);
    assert.match(p.stdout, /Output logits \[1, 10\]: max \|Δ\| \S+, mean \|Δ\| \S+, cosine (1\.000000|0\.9999\d\d), top-1 agreement 100\.0%/);
    assert.match(p.stdout, /^Size .*KiB .*KiB/m);
    assert.match(p.stdout, /^Latency median/m);
  });

  test('a bad path: exit 1, one line on stderr, no stack trace', () => {
    const p = cli(path.join(repoRoot, 'no-such-model.onnx'), fmnistFused, '--json');
    assert.equal(p.status, 1);
    const lines = p.stderr.trim().split('\n');
    assert.equal(lines.length, 1, p.stderr);
    assert.match(lines[0], /^onnx-pruner: .*no-such-model\.onnx: cannot read/);
    assert.doesNotMatch(p.stderr, /\n\s+at /);
    assert.equal(p.stdout, '');
  });

  test('bad options are one-line errors', () => {
    const p = cli(fmnistBn, fmnistFused, '--ep', 'gpu');
    assert.equal(p.status, 1);
    assert.match(p.stderr.trim(), /^onnx-pruner: --ep must be auto, cuda or cpu/);
    const q = cli(fmnistBn, fmnistFused, '--input', path.join(repoRoot, 'missing.f32'));
    assert.equal(q.status, 1);
    assert.match(q.stderr.trim(), /missing\.f32: cannot read/);
  });
});

describe('shared models', { skip: skipWithoutShared }, () => {
  test('resnet18_bn on the fixed input reproduces PyTorch within 1e-4', async () => {
    const model = shared('synthetic/resnet18_bn.onnx');
    const spec = modelInputSpecs(model)[0];
    const input = readInputFile({ file: shared('synthetic/input_1x3x224x224_seed0.f32') }, spec);
    assert.deepEqual(input.dims, [1, 3, 224, 224]);
    const ref = readF32(shared('synthetic/resnet18.output.f32'), [1, 1000]);
    const s = await createSession(model, 'cpu');
    try {
      const out = await runModel(s.session, { [spec.name]: input }, s.ort);
      const y = out.output;
      assert.deepEqual(y.dims, [1, 1000]);
      const c = compareOutputs('output', { type: 'float32', dims: [1, 1000], data: ref.data as Float32Array }, y);
      assert.ok(c.maxAbsDiff! < 1e-4, `max diff vs PyTorch ${c.maxAbsDiff}`);
      assert.equal(c.top1Agreement, 1);
    } finally {
      await s.session.release();
    }
    const r = await validatePruned(model, model, { ep: 'cpu', inputs: [shared('synthetic/input_1x3x224x224_seed0.f32')], runs: 2, warmup: 1 });
    assert.equal(r.outputs[0].maxAbsDiff, 0);
    assert.equal(r.outputs[0].cosine, 1);
  });
});
