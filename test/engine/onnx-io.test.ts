// ONNX file I/O: byte-identical round trips, external data (save, reload, run in ONNX Runtime),
// every supported tensor storage, old IR models, and bad input reported as one-line PrunerErrors.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Long from 'long';
import * as ort from 'onnxruntime-node';
import { CancelledError, PrunerError } from '../../src/engine/errors.ts';
import { Graph } from '../../src/engine/graph/graph.ts';
import { loadModel, tensorDims, tensorRawBytes, tensorToFloat32, tensorToInts, type OnnxModel } from '../../src/engine/onnx/model.ts';
import { pruneAnalysed } from '../../src/engine/prune/prune.ts';
import { encodeInline, estimateSave, saveModel, setTensorData } from '../../src/engine/onnx/save.ts';
import { lazySliceOf } from '../../src/engine/onnx/slice.ts';
import { inFileRange, isExternal, readRangeSync } from '../../src/engine/onnx/external.ts';
import { AnalysedModel } from '../../src/engine/analysed-model.ts';
import { resolvePlan } from '../../src/engine/prune/plan.ts';
import { pruneGraph } from '../../src/engine/prune/surgery.ts';
import { planOf } from '../../src/engine/prune/types.ts';
import { DataType, ModelProtoType, type ModelProto, type TensorProto } from '../../src/engine/onnx/proto.ts';
import { ModelBuilder } from '../helpers/modelBuilder.ts';
import { allSharedModels, fmnistBn, fmnistFused, shared, skipWithoutShared, tempDir } from '../helpers/paths.ts';

const varint = (v: number): Buffer => {
  const out: number[] = [];
  do {
    out.push((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v = Math.floor(v / 128);
  } while (v > 0);
  return Buffer.from(out);
};
const sha = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** A small conv net with enough weight bytes to exercise external data. */
function smallNet(seed = 3): ModelBuilder {
  const b = new ModelBuilder({ seed });
  const x = b.input('x', [1, 3, 8, 8]);
  let y = b.relu(b.bn(b.conv(x, 3, 16), 16));
  y = b.relu(b.conv(y, 16, 16));
  b.output(b.gemm(b.flatten(b.gap(y)), 16, 10), [1, 10]);
  return b;
}

/** Prunes an analysed model at l1 0.5 into `out` (pruneAnalysed). */
async function pruneModelFrom(am: AnalysedModel, out: string): Promise<unknown> {
  return pruneAnalysed(am, planOf({ criterion: 'l1', scope: 'uniform', ratio: 0.5 }), { out });
}

function inputX(): Float32Array {
  return Float32Array.from({ length: 3 * 64 }, (_, i) => Math.sin(i * 0.37));
}

async function runOrt(file: string): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(file);
  try {
    const out = await s.run({ x: new ort.Tensor('float32', inputX(), [1, 3, 8, 8]) });
    return out[s.outputNames[0]].data as Float32Array;
  } finally {
    await s.release();
  }
}

function writeProto(file: string, proto: ModelProto): string {
  fs.writeFileSync(file, ModelProtoType.encode(ModelProtoType.fromObject(proto as any)).finish());
  return file;
}

/** Asserts fn throws a one-line PrunerError whose message contains every string in `parts`. */
function assertPrunerError(fn: () => unknown, ...parts: string[]): PrunerError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof PrunerError, `expected PrunerError, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  assert.ok(!err.message.includes('\n'), `message is one line: ${err.message}`);
  for (const p of parts) assert.ok(err.message.includes(p), `message ${JSON.stringify(err.message)} should mention ${JSON.stringify(p)}`);
  return err;
}

describe('round trip', () => {
  test('bundled samples save byte-identical and the source is untouched', async () => {
    const dir = tempDir();
    for (const file of [fmnistBn, fmnistFused]) {
      const before = sha(file);
      const m = loadModel(file);
      const out = path.join(dir, path.basename(file));
      const r = await saveModel(m, out);
      assert.equal(r.bytes, fs.statSync(file).size);
      assert.equal(r.externalDataPath, undefined);
      assert.ok(fs.readFileSync(out).equals(fs.readFileSync(file)), `${path.basename(file)} differs after save`);
      assert.equal(sha(file), before);
    }
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.tmp-')), [], 'no temp files left');
    fs.rmSync(dir, { recursive: true });
  });

  test('every shared model saves byte-identical', { skip: skipWithoutShared }, async () => {
    const dir = tempDir();
    const models = allSharedModels();
    assert.ok(models.length >= 5);
    for (const rel of models) {
      const file = shared(rel);
      const before = sha(file);
      const out = path.join(dir, rel.replace(/[\\/]/g, '_'));
      await saveModel(loadModel(file), out);
      assert.equal(sha(out), before, `${rel} differs after save`);
      assert.equal(sha(file), before, `${rel} changed on disk`);
      fs.rmSync(out);
    }
    fs.rmSync(dir, { recursive: true });
  });

  test('unknown fields (a newer ONNX) survive byte-identically, also inside tensors and nodes', async () => {
    const dir = tempDir();
    const proto = ModelProtoType.decode(fs.readFileSync(fmnistBn)) as any;
    // field 111 (varint 42) and field 112 (bytes "hi"): not in the schema
    const unknown = Buffer.from([0xf8, 0x06, 0x2a, 0x82, 0x07, 0x02, 0x68, 0x69]);
    proto.graph.initializer[0].$unknowns = [unknown];
    proto.graph.node[0].$unknowns = [unknown];
    const src = path.join(dir, 'unknown.onnx');
    fs.writeFileSync(src, Buffer.concat([ModelProtoType.encode(proto).finish(), unknown]));
    const m = loadModel(src) as any;
    assert.equal(m.proto.$unknowns.length, 2);
    assert.equal(m.proto.graph.initializer[0].$unknowns.length, 2);
    const out = path.join(dir, 'out.onnx');
    await saveModel(m, out);
    assert.ok(fs.readFileSync(out).equals(fs.readFileSync(src)));
    fs.rmSync(dir, { recursive: true });
  });

  test('saving writes the edited model and ONNX Runtime runs it', async () => {
    const dir = tempDir();
    const src = smallNet().save(path.join(dir, 'net.onnx'));
    const m = loadModel(src);
    const g = new Graph(m);
    // Zero the classifier weights with setTensorData: the output must become the bias.
    const gemm = g.nodes.find((n) => n.op_type === 'Gemm')!;
    const w = g.initializers.get(gemm.input[1])!;
    const bias = tensorToFloat32(m, g.initializers.get(gemm.input[2])!);
    setTensorData(w, new Float32Array(160));
    const out = path.join(dir, 'edited.onnx');
    await saveModel(m, out);
    const y = await runOrt(out);
    assert.deepEqual(Array.from(y), Array.from(bias));
    fs.rmSync(dir, { recursive: true });
  });
});

describe('external data', () => {
  test('save with external data, reload, same tensors, same ORT output; back to inline is byte-identical', async () => {
    const dir = tempDir();
    const inline = smallNet().save(path.join(dir, 'inline.onnx'));
    const m = loadModel(inline);
    const extDir = path.join(dir, 'ext');
    fs.mkdirSync(extDir);
    const extFile = path.join(extDir, 'net.onnx');
    const r = await saveModel(m, extFile, { externalData: true });
    assert.equal(r.externalDataPath, path.join(extDir, 'net.onnx.data'));
    assert.ok(r.bytes < 4000, `structure only: ${r.bytes} bytes`);
    assert.ok(r.externalDataBytes! > 16 * 16 * 9 * 4);

    const e = loadModel(extFile);
    assert.deepEqual(e.externalFiles, [r.externalDataPath]);
    assert.equal(e.sizeOnDisk, r.bytes + r.externalDataBytes!);
    const big = e.proto.graph!.initializer.filter((t) => t.data_location === 1);
    assert.equal(big.length, 2, 'the two conv weights (>= 1 KiB) went external');
    const byName = new Map(m.proto.graph!.initializer.map((t) => [t.name, t]));
    for (const t of e.proto.graph!.initializer) {
      assert.deepEqual(tensorToFloat32(e, t), tensorToFloat32(m, byName.get(t.name)!), t.name);
    }
    const [a, b] = [await runOrt(inline), await runOrt(extFile)];
    assert.deepEqual(Array.from(b), Array.from(a));

    // 'auto' keeps external data for a model that had it; the data is copied, not referenced.
    const again = path.join(dir, 'again.onnx');
    const r2 = await saveModel(e, again);
    assert.equal(r2.externalDataPath, path.join(dir, 'again.onnx.data'));
    assert.deepEqual(Array.from(await runOrt(again)), Array.from(a));
    // Inline again: the bytes come back from the data file, by range, into exactly the original file.
    const back = path.join(dir, 'back.onnx');
    await saveModel(loadModel(again), back, { externalData: false });
    assert.ok(fs.readFileSync(back).equals(fs.readFileSync(inline)), 'external -> inline restores the original bytes');
    fs.rmSync(dir, { recursive: true });
  });

  test('encodeInline: a model with external data, and one pruned lazily from it, give the bytes saveModel writes inline, and run', async () => {
    const dir = tempDir();
    const inline = smallNet().save(path.join(dir, 'inline.onnx'));
    const ext = path.join(dir, 'ext.onnx');
    await saveModel(loadModel(inline), ext, { externalData: true });
    const e = loadModel(ext);
    assert.ok(e.proto.graph!.initializer.some((t) => t.data_location === 1), 'weights in external data');
    assert.ok(Buffer.from(encodeInline(e)).equals(fs.readFileSync(inline)), 'the external bytes read back inline');

    const am = AnalysedModel.load(ext);
    const deps = am.dependencies();
    const resolved = resolvePlan(planOf({ criterion: 'l1', scope: 'uniform', ratio: 0.5 }), deps, await am.scores(['l1']));
    const pruned = pruneGraph(am.graph, deps, resolved, { compensate: false, lazy: true });
    assert.ok(pruned.model.graph!.initializer.some((t) => lazySliceOf(t)), 'the surgery left lazy slices');
    const saved = path.join(dir, 'pruned.onnx');
    await saveModel({ ...e, proto: pruned.model }, saved, { externalData: false });
    const bytes = encodeInline(e, pruned.model);
    assert.ok(Buffer.from(bytes).equals(fs.readFileSync(saved)), 'the same bytes as the inline save');
    const s = await ort.InferenceSession.create(bytes);
    try {
      const out = await s.run({ x: new ort.Tensor('float32', inputX(), [1, 3, 8, 8]) });
      assert.deepEqual(Array.from(out[s.outputNames[0]].data as Float32Array), Array.from(await runOrt(saved)));
    } finally {
      await s.release();
    }
    fs.rmSync(dir, { recursive: true });
  });

  test('loadModel puts every large 2- and 4-byte tensor on its element boundary, values and saved bytes unchanged', async () => {
    const dir = tempDir();
    // Tensors whose bytes start at each residue mod 4 (names of 1 to 4 letters shift them), float32,
    // float16 and int32, plus a Constant node's tensor: no read shift aligns them all.
    const initializer: object[] = [];
    const node: object[] = [];
    const want = new Map<string, Buffer>();
    const types = [DataType.FLOAT, DataType.FLOAT16, DataType.INT32, DataType.FLOAT];
    for (let i = 0; i < 8; i++) {
      const name = 'abcd'.slice(0, 1 + (i % 4)) + i;
      const bytes = crypto.randomBytes(20000 + 4 * i);
      want.set(name, bytes);
      const dt = types[i % types.length];
      const t = { name, data_type: dt, dims: [Long.fromNumber(bytes.length / (dt === DataType.FLOAT16 ? 2 : 4))], raw_data: bytes };
      if (i === 7) node.push({ op_type: 'Constant', output: [name], attribute: [{ name: 'value', type: 4, t }] });
      else initializer.push(t);
    }
    const file = writeProto(path.join(dir, 'residues.onnx'), {
      ir_version: Long.fromNumber(8),
      opset_import: [{ domain: '', version: Long.fromNumber(17) }],
      graph: { name: 'g', node, initializer, output: [{ name: 'abcd7' }] },
    } as unknown as ModelProto);
    const m = loadModel(file);
    const tensors = [...m.proto.graph!.initializer, m.proto.graph!.node[0].attribute[0].t!];
    assert.equal(tensors.length, 8);
    for (const t of tensors) {
      const size = t.data_type === DataType.FLOAT16 ? 2 : 4;
      assert.equal(t.raw_data!.byteOffset % size, 0, `${t.name} aligned`);
      assert.ok(Buffer.from(t.raw_data!).equals(want.get(t.name!)!), `${t.name} unchanged`);
    }
    const again = path.join(dir, 'again.onnx');
    await saveModel(m, again);
    assert.ok(fs.readFileSync(again).equals(fs.readFileSync(file)), 'saved back byte for byte');
    fs.rmSync(dir, { recursive: true });
  });

  test('saveModel of a pruned 21 MB model (several write windows, slices larger than a window) writes the bytes encodeInline gives, and it runs', async () => {
    const dir = tempDir();
    const b = new ModelBuilder({ seed: 5 });
    const x = b.input('x', [1, 3, 8, 8]);
    let y = b.relu(b.bn(b.conv(x, 3, 64), 64));
    y = b.relu(b.bn(b.conv(y, 64, 256), 256));
    // pruned to about 0.6 MB each: several 1 MiB windows
    for (let i = 0; i < 5; i++) y = b.relu(b.bn(b.conv(y, 256, 256), 256));
    y = b.relu(b.bn(b.conv(y, 256, 512), 512)); // 4.7 MB
    b.output(b.gemm(b.flatten(b.gap(y)), 512, 2000), [1, 2000]); // 4 MB
    const file = b.save(path.join(dir, 'big.onnx'));
    assert.ok(fs.statSync(file).size > 20e6);
    const am = AnalysedModel.load(file);
    const deps = am.dependencies();
    const resolved = resolvePlan(planOf({ criterion: 'l1', scope: 'uniform', ratio: 0.5 }), deps, await am.scores(['l1']));
    const pruned = pruneGraph(am.graph, deps, resolved, { compensate: true, lazy: true });
    const saved = path.join(dir, 'pruned.onnx');
    const r = await saveModel({ ...am.model, proto: pruned.model }, saved, { externalData: false });
    const want = Buffer.from(encodeInline(am.model, pruned.model));
    assert.equal(r.bytes, want.length);
    assert.ok(fs.readFileSync(saved).equals(want), 'the written file equals the in-memory encoding');
    const s = await ort.InferenceSession.create(saved);
    try {
      const out = await s.run({ x: new ort.Tensor('float32', inputX(), [1, 3, 8, 8]) });
      assert.deepEqual(out[s.outputNames[0]].dims, [1, 2000]);
    } finally {
      await s.release();
    }
    fs.rmSync(dir, { recursive: true });
  });

  test('shared models (Constant-node weights, IR 4, ResNet-18) run identically with external data', { skip: skipWithoutShared }, async () => {
    ort.env.logLevel = 'error'; // ultraface's IR 4 inputs make ORT warn
    const cases: [string, number[]][] = [
      ['real/ppocr/ch_ppocr_mobile_v2.0_cls_infer.onnx', [1, 3, 48, 192]],
      ['real/ultraface/version-RFB-320.onnx', [1, 3, 240, 320]],
      ['synthetic/resnet18_bn.onnx', [1, 3, 224, 224]],
    ];
    const dir = tempDir();
    for (const [rel, dims] of cases) {
      const out = path.join(dir, `${path.basename(rel, '.onnx')}.onnx`);
      const r = await saveModel(loadModel(shared(rel)), out, { externalData: true });
      assert.ok(r.externalDataBytes! > 0.8 * fs.statSync(shared(rel)).size, `${rel}: weights went external`); // tensors under 1 KiB stay inline
      const x = Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i));
      const outputs: Float32Array[] = [];
      for (const f of [shared(rel), out]) {
        const s = await ort.InferenceSession.create(f);
        const o = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x, dims) });
        outputs.push(o[s.outputNames[0]].data as Float32Array);
        await s.release();
      }
      assert.deepEqual(Array.from(outputs[1]), Array.from(outputs[0]), rel);
    }
    fs.rmSync(dir, { recursive: true });
  });

  test("'auto' goes external past 2 GiB (estimateSave), and only then", () => {
    const proto = smallNet().build();
    const small = estimateSave({ proto, dir: '.' });
    assert.equal(small.external, false);
    assert.ok(small.onnxBytes > 10_000 && small.externalDataBytes === 0);
    assert.equal(estimateSave({ proto, dir: '.' }, { externalData: true }).external, true);
    // four 600 MiB tensors sharing one zero buffer (never touched: no real memory use)
    const zeros = Buffer.alloc(600 * 2 ** 20);
    const b = new ModelBuilder();
    const x = b.input('x', [1, 150 * 2 ** 20]);
    let y = x;
    for (let i = 0; i < 4; i++) {
      const t = b.floatTensor(`w${i}`, [1, 1]);
      t.dims = [Long.fromNumber(1), Long.fromNumber(150 * 2 ** 20)];
      t.raw_data = zeros;
      y = b.add(y, b.initTensor(t));
    }
    b.output(y);
    const big = b.build();
    const inline = estimateSave({ proto: big, dir: '.' }, { externalData: false });
    assert.ok(inline.onnxBytes > 2.3 * 2 ** 30);
    const auto = estimateSave({ proto: big, dir: '.' });
    assert.equal(auto.external, true);
    assert.ok(auto.onnxBytes < 10_000);
    assert.ok(auto.externalDataBytes >= 4 * 600 * 2 ** 20);
  });

  test('external data saved from a {proto, dir} source with a custom name', async () => {
    const dir = tempDir();
    const proto = smallNet().build();
    const out = path.join(dir, 'p.onnx');
    const r = await saveModel({ proto, dir }, out, { externalData: true, externalDataName: 'weights.bin' });
    assert.equal(r.externalDataPath, path.join(dir, 'weights.bin'));
    const m = loadModel(out);
    assert.ok(m.proto.graph!.initializer.some((t) => t.external_data.some((kv) => kv.value === 'weights.bin')));
    await assert.rejects(saveModel({ proto, dir }, out, { externalDataName: '../x.bin', externalData: true }), PrunerError);
    fs.rmSync(dir, { recursive: true });
  });
});

describe("weights left in the file (loadModel's weights: 'file')", () => {
  /** A conv net whose convolutions have 64 KiB and more of weights (left in the file), and small tensors (read). */
  function wideNet(): ModelBuilder {
    const b = new ModelBuilder({ seed: 11 });
    const x = b.input('x', [1, 3, 8, 8]);
    let y = b.relu(b.bn(b.conv(x, 3, 64), 64));
    y = b.relu(b.bn(b.conv(y, 64, 64, { k: 3, pad: 1 }), 64));
    y = b.relu(b.bn(b.conv(y, 64, 48, { k: 3, pad: 1 }), 48));
    b.output(b.gemm(b.flatten(b.gap(y)), 48, 10), [1, 10]);
    return b;
  }

  test('large initializers are byte ranges of the .onnx, small ones are read; values, saved bytes and sizes equal the in-memory load', async () => {
    const dir = tempDir();
    const file = wideNet().save(path.join(dir, 'wide.onnx'));
    const mem = loadModel(file);
    const lazy = loadModel(file, { weights: 'file' });
    const a = mem.proto.graph!.initializer;
    const b = lazy.proto.graph!.initializer;
    assert.deepEqual(b.map((t) => t.name), a.map((t) => t.name));
    let left = 0;
    for (let i = 0; i < a.length; i++) {
      const r = inFileRange(b[i]);
      if (a[i].raw_data!.length >= 64 * 1024) {
        left++;
        assert.ok(r && !b[i].raw_data?.length && !isExternal(b[i]), `${a[i].name} left in the file`);
        assert.equal(r!.file, path.resolve(file));
        assert.ok(readRangeSync(r!).equals(Buffer.from(a[i].raw_data!)), `${a[i].name}: its range holds its bytes`);
      } else assert.ok(!r && Buffer.from(b[i].raw_data!).equals(Buffer.from(a[i].raw_data!)), `${a[i].name} read`);
      assert.deepEqual(Array.from(tensorToFloat32(lazy, b[i])), Array.from(tensorToFloat32(mem, a[i])));
      assert.ok(Buffer.from(tensorRawBytes(lazy, b[i])!).equals(Buffer.from(tensorRawBytes(mem, a[i])!)));
    }
    assert.equal(left, 2, 'the two 64→64 and 64→48 3×3 weights');
    assert.equal(lazy.fileSize, fs.statSync(file).size);
    assert.equal(lazy.sizeOnDisk, fs.statSync(file).size);
    assert.deepEqual(lazy.externalFiles, []);
    // written back inline (never as external data, never a reference to the source), byte for byte
    const again = path.join(dir, 'again.onnx');
    const r = await saveModel(lazy, again);
    assert.equal(r.externalDataPath, undefined);
    assert.ok(fs.readFileSync(again).equals(fs.readFileSync(file)), 'saved back byte for byte');
    assert.ok(Buffer.from(encodeInline(lazy)).equals(fs.readFileSync(file)), 'encodeInline gives the file');
    fs.rmSync(dir, { recursive: true });
  });

  test('a model pruned from weights left in the file equals the one pruned in memory, byte for byte, and runs', async () => {
    const dir = tempDir();
    const file = wideNet().save(path.join(dir, 'wide.onnx'));
    const outs: string[] = [];
    for (const weights of ['memory', 'file'] as const) {
      for (const criterion of ['l1', 'fpgm'] as const) {
        const out = path.join(dir, `${weights}-${criterion}.onnx`);
        const am = AnalysedModel.load(file, { weights });
        const deps = am.dependencies();
        const resolved = resolvePlan(planOf({ criterion, scope: 'uniform', ratio: 0.5 }), deps, await am.scores([criterion]));
        const pruned = pruneGraph(am.graph, deps, resolved, { compensate: true, lazy: true });
        await saveModel({ ...am.model, proto: pruned.model }, out);
        outs.push(out);
      }
    }
    assert.ok(fs.readFileSync(outs[2]).equals(fs.readFileSync(outs[0])), 'l1');
    assert.ok(fs.readFileSync(outs[3]).equals(fs.readFileSync(outs[1])), 'fpgm');
    assert.ok(fs.statSync(outs[2]).size < fs.statSync(file).size * 0.5);
    assert.equal((await runOrt(outs[2])).length, 10);
    fs.rmSync(dir, { recursive: true });
  });

  test('with external data beside large inline weights: both read by range, and the save stays external like the in-memory one', async () => {
    const dir = tempDir();
    const src = wideNet().build();
    // the first conv's weight (small) and the Gemm's go to external data; the 3×3 weights stay inline
    const ext = path.join(dir, 'mixed.onnx');
    await saveModel({ proto: src, dir }, path.join(dir, 'inline.onnx'));
    const whole = loadModel(path.join(dir, 'inline.onnx'));
    for (const t of whole.proto.graph!.initializer) {
      if ((t.raw_data?.length ?? 0) >= 64 * 1024 || (t.raw_data?.length ?? 0) < 1024) continue;
      fs.appendFileSync(path.join(dir, 'w.bin'), t.raw_data!);
    }
    let offset = 0;
    for (const t of whole.proto.graph!.initializer) {
      const n = t.raw_data?.length ?? 0;
      if (n >= 64 * 1024 || n < 1024) continue;
      t.external_data = [{ key: 'location', value: 'w.bin' }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(n) }];
      t.data_location = 1;
      t.raw_data = new Uint8Array(0);
      offset += n;
    }
    writeProto(ext, whole.proto);
    const outs: string[] = [];
    for (const weights of ['memory', 'file'] as const) {
      const m = loadModel(ext, { weights });
      assert.deepEqual(m.externalFiles, [fs.realpathSync(path.join(dir, 'w.bin'))]);
      const out = path.join(dir, `${weights}.onnx`);
      const r = await saveModel(m, out, { externalDataName: `${weights}.bin` });
      assert.ok(r.externalDataPath, `${weights}: external data written`);
      outs.push(out);
    }
    assert.ok(fs.readFileSync(path.join(dir, 'memory.bin')).equals(fs.readFileSync(path.join(dir, 'file.bin'))), 'the same external data');
    assert.deepEqual(await runOrt(outs[1]), await runOrt(outs[0]));
    fs.rmSync(dir, { recursive: true });
  });

  test('a framing it does not follow (a tensor with two raw_data fields) is read whole, as protobuf reads it (the last field wins)', () => {
    const dir = tempDir();
    const first = crypto.randomBytes(70000);
    const last = crypto.randomBytes(70000);
    // TensorProto: dims (1) = 17500, data_type (2) = FLOAT, name (8), raw_data (9) twice
    const tensor = Buffer.concat([
      Buffer.from([0x08]), varint(17500), Buffer.from([0x10, 0x01]), Buffer.from([0x42, 0x01]), Buffer.from('w'),
      Buffer.from([0x4a]), varint(first.length), first, Buffer.from([0x4a]), varint(last.length), last,
    ]);
    const graph = Buffer.concat([Buffer.from([0x2a]), varint(tensor.length), tensor]);
    const model = Buffer.concat([Buffer.from([0x08, 0x08]), Buffer.from([0x3a]), varint(graph.length), graph]);
    const file = path.join(dir, 'twice.onnx');
    fs.writeFileSync(file, model);
    const m = loadModel(file, { weights: 'file' });
    const t = m.proto.graph!.initializer[0];
    assert.equal(inFileRange(t), undefined);
    assert.ok(Buffer.from(t.raw_data!).equals(last));
    fs.rmSync(dir, { recursive: true });
  });

  test('a file rewritten after the model was loaded (weights left in it, or external data) stops the next read with an error naming it; a prune writes nothing', async () => {
    const dir = tempDir();
    const file = wideNet().save(path.join(dir, 'wide.onnx'));
    const ext = path.join(dir, 'ext.onnx');
    await saveModel(loadModel(file), ext, { externalData: true });
    const cases: [string, string, 'memory' | 'file'][] = [[file, file, 'file'], [ext, `${ext}.data`, 'memory']];
    for (const [model, rewritten, weights] of cases) {
      const am = AnalysedModel.load(model, { weights });
      const big = am.model.proto.graph!.initializer.find((t) => (inFileRange(t) ?? (isExternal(t) ? t : undefined)) && tensorDims(t).length === 4)!;
      assert.ok(big, 'a weight read by range');
      assert.ok(tensorRawBytes(am.model, big)!.length > 0, 'read before the change');
      // the same bytes written again: only the modification time changes
      const later = new Date(fs.statSync(rewritten).mtimeMs + 5000);
      fs.utimesSync(rewritten, later, later);
      assertPrunerError(() => tensorRawBytes(am.model, big), path.basename(rewritten), 'changed while the model was in use');
      const out = path.join(dir, `out-${weights}.onnx`);
      await assert.rejects(
        pruneModelFrom(am, out),
        (e: Error) => e instanceof PrunerError && e.message.includes('changed while the model was in use'),
      );
      assert.ok(!fs.existsSync(out), 'nothing written');
      assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.tmp-')), [], 'no temporary file left');
      // loaded again, it reads the file as it is now
      const again = loadModel(model, { weights });
      assert.ok(tensorRawBytes(again, again.proto.graph!.initializer.find((t) => t.name === big.name)!)!.length > 0);
    }
    fs.rmSync(dir, { recursive: true });
  });

  test('a truncated file is the same PrunerError as in memory', () => {
    const dir = tempDir();
    const file = wideNet().save(path.join(dir, 'wide.onnx'));
    const cut = path.join(dir, 'cut.onnx');
    fs.writeFileSync(cut, fs.readFileSync(file).subarray(0, fs.statSync(file).size - 1000));
    assertPrunerError(() => loadModel(cut, { weights: 'file' }), 'cut.onnx', 'not a valid ONNX model');
    fs.rmSync(dir, { recursive: true });
  });
});

describe('saving safely', () => {
  test('refuses to overwrite the input model or its external data', async () => {
    const dir = tempDir();
    const src = smallNet().save(path.join(dir, 'net.onnx'));
    const before = sha(src);
    const m = loadModel(src);
    await assert.rejects(saveModel(m, src), (e: unknown) => e instanceof PrunerError && e.message.includes('net.onnx'));
    await assert.rejects(saveModel(m, path.join(dir, '.', 'net.onnx')), PrunerError);
    const ext = path.join(dir, 'ext.onnx');
    await saveModel(m, ext, { externalData: true });
    const e = loadModel(ext);
    // Saving another model whose data file would replace the one `e` reads from.
    await assert.rejects(saveModel(e, path.join(dir, 'other.onnx'), { externalData: true, externalDataName: 'ext.onnx.data' }), PrunerError);
    assert.equal(sha(src), before);
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.tmp-')), []);
    fs.rmSync(dir, { recursive: true });
  });

  test('an aborted save leaves nothing behind', async () => {
    const dir = tempDir();
    const m = loadModel(smallNet().save(path.join(dir, 'net.onnx')));
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(saveModel(m, path.join(dir, 'out.onnx'), { signal: ac.signal }), CancelledError);
    // Abort while writing (after the first batch).
    const ac2 = new AbortController();
    const p = saveModel(m, path.join(dir, 'out2.onnx'), { signal: ac2.signal, externalData: true });
    ac2.abort();
    await assert.rejects(p, CancelledError);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['net.onnx']);
    fs.rmSync(dir, { recursive: true });
  });

  test('writing into a missing folder is a PrunerError', async () => {
    const dir = tempDir();
    const m = loadModel(smallNet().save(path.join(dir, 'net.onnx')));
    await assert.rejects(saveModel(m, path.join(dir, 'nope', 'x.onnx')), (e: unknown) => e instanceof PrunerError && e.message.includes('x.onnx'));
    fs.rmSync(dir, { recursive: true });
  });
});

describe('tensor storage', () => {
  const fake: OnnxModel = { path: '/virtual/m.onnx', dir: '/virtual', fileSize: 0, sizeOnDisk: 0, proto: {} as ModelProto };
  const tensor = (dt: number, dims: number[], fields: Partial<TensorProto>): TensorProto =>
    ({ name: 't', dims: dims.map((d) => Long.fromNumber(d)), data_type: dt, float_data: [], int32_data: [], string_data: [], int64_data: [], double_data: [], uint64_data: [], external_data: [], metadata_props: [], ...fields }) as TensorProto;
  const raw = (f: (dv: DataView) => void, n: number) => {
    const b = Buffer.alloc(n + 1).subarray(1); // unaligned on purpose, like raw_data in real files
    f(new DataView(b.buffer, b.byteOffset, b.byteLength));
    return b;
  };
  const vals = [1.5, -2, 0.25];

  test('FLOAT raw and float_data', () => {
    assert.deepEqual(Array.from(tensorToFloat32(fake, tensor(DataType.FLOAT, [3], { raw_data: raw((d) => vals.forEach((v, i) => d.setFloat32(i * 4, v, true)), 12) }))), vals);
    assert.deepEqual(Array.from(tensorToFloat32(fake, tensor(DataType.FLOAT, [3], { float_data: vals }))), vals);
  });
  test('DOUBLE raw and double_data', () => {
    assert.deepEqual(Array.from(tensorToFloat32(fake, tensor(DataType.DOUBLE, [3], { raw_data: raw((d) => vals.forEach((v, i) => d.setFloat64(i * 8, v, true)), 24) }))), vals);
    assert.deepEqual(Array.from(tensorToFloat32(fake, tensor(DataType.DOUBLE, [3], { double_data: vals }))), vals);
  });
  test('FLOAT16 raw and in int32_data', () => {
    const bits = [0x3e00, 0xc000, 0x3400]; // 1.5, -2, 0.25
    assert.deepEqual(Array.from(tensorToFloat32(fake, tensor(DataType.FLOAT16, [3], { raw_data: raw((d) => bits.forEach((v, i) => d.setUint16(i * 2, v, true)), 6) }))), vals);
    assert.deepEqual(Array.from(tensorToFloat32(fake, tensor(DataType.FLOAT16, [3], { int32_data: bits }))), vals);
    assert.deepEqual(Array.from(tensorToFloat32(fake, tensor(DataType.FLOAT16, [3], { int32_data: [0x7c00, 0xfc00, 0x0001] }))), [Infinity, -Infinity, 2 ** -24]);
  });
  test('BFLOAT16 raw and in int32_data', () => {
    const bits = [0x3fc0, 0xc000, 0x3e80];
    assert.deepEqual(Array.from(tensorToFloat32(fake, tensor(DataType.BFLOAT16, [3], { raw_data: raw((d) => bits.forEach((v, i) => d.setUint16(i * 2, v, true)), 6) }))), vals);
    assert.deepEqual(Array.from(tensorToFloat32(fake, tensor(DataType.BFLOAT16, [3], { int32_data: bits }))), vals);
  });
  test('INT8, UINT8, INT32 raw and in int32_data', () => {
    assert.deepEqual(Array.from(tensorToFloat32(fake, tensor(DataType.INT8, [3], { raw_data: Buffer.from([0xff, 0x7f, 0x80]) }))), [-1, 127, -128]);
    assert.deepEqual(Array.from(tensorToFloat32(fake, tensor(DataType.UINT8, [3], { raw_data: Buffer.from([0xff, 0x7f, 0x80]) }))), [255, 127, 128]);
    assert.deepEqual(Array.from(tensorToFloat32(fake, tensor(DataType.INT8, [2], { int32_data: [-5, 7] }))), [-5, 7]);
    assert.deepEqual(Array.from(tensorToFloat32(fake, tensor(DataType.UINT8, [2], { int32_data: [200, 7] }))), [200, 7]);
    assert.deepEqual(tensorToInts(fake, tensor(DataType.INT32, [2], { raw_data: raw((d) => { d.setInt32(0, -7, true); d.setInt32(4, 1 << 30, true); }, 8) })), [-7, 1 << 30]);
    assert.deepEqual(tensorToInts(fake, tensor(DataType.INT32, [2], { int32_data: [-7, 9] })), [-7, 9]);
  });
  test('INT64 raw and int64_data (INT64_MAX survives as a number), UINT64 in uint64_data', () => {
    assert.deepEqual(tensorToInts(fake, tensor(DataType.INT64, [2], { raw_data: raw((d) => { d.setBigInt64(0, -3n, true); d.setBigInt64(8, 2n ** 40n, true); }, 16) })), [-3, 2 ** 40]);
    assert.deepEqual(tensorToInts(fake, tensor(DataType.INT64, [2], { int64_data: [Long.fromNumber(-3), Long.MAX_VALUE] })), [-3, 2 ** 63]);
    assert.deepEqual(tensorToInts(fake, tensor(DataType.UINT64, [1], { uint64_data: [Long.fromNumber(12, true)] })), [12]);
  });
  test('short raw_data is a PrunerError naming the tensor', () => {
    assertPrunerError(() => tensorToFloat32(fake, tensor(DataType.FLOAT, [4], { raw_data: Buffer.alloc(8) })), '"t"', '16');
  });
  test('setTensorData clears typed fields and external markers', () => {
    const t = tensor(DataType.FLOAT, [2], { float_data: [1, 2], external_data: [{ key: 'location', value: 'x' }], data_location: 1 });
    setTensorData(t, Float32Array.from([3, 4]));
    assert.equal(t.float_data.length, 0);
    assert.equal(t.external_data.length, 0);
    assert.equal(t.data_location, undefined);
    assert.deepEqual(Array.from(tensorToFloat32(fake, t)), [3, 4]);
    setTensorData(t, Uint8Array.from([1, 2]), DataType.UINT8);
    assert.equal(t.data_type, DataType.UINT8);
    assert.deepEqual(Array.from(tensorRawBytes(fake, t)!), [1, 2]);
  });
});

describe('old and unusual models', () => {
  test('IR 4 with initializers listed as graph inputs (ultraface) loads and runs its constants', { skip: skipWithoutShared }, () => {
    const m = loadModel(shared('real/ultraface/version-RFB-320.onnx'));
    assert.equal(Number(m.proto.ir_version), 4);
    const g = new Graph(m);
    assert.equal(g.inputs.length, 1, 'weights are not real inputs');
    const conv = g.nodes.find((n) => n.op_type === 'Conv')!;
    assert.ok(g.constantFloats(conv.input[1])!.length > 0);
  });
  test('weights in Constant nodes (ppocr) load', { skip: skipWithoutShared }, () => {
    const m = loadModel(shared('real/ppocr/ch_ppocr_mobile_v2.0_cls_infer.onnx'));
    const g = new Graph(m);
    const conv = g.nodes.find((n) => n.op_type === 'Conv')!;
    assert.ok(g.constantNodes.size > 10);
    assert.ok(g.constantFloats(conv.input[1])!.length > 0);
  });
});

describe('bad input', () => {
  const dir = tempDir('onnx-pruner-bad-');
  const file = (name: string, data: Uint8Array | string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, data);
    return p;
  };

  test('not an ONNX file', () => {
    assertPrunerError(() => loadModel(file('readme.onnx', '# hello, this is text\n'.repeat(20))), 'readme.onnx', 'not a valid ONNX model');
  });
  test('empty file', () => {
    assertPrunerError(() => loadModel(file('empty.onnx', '')), 'empty.onnx', 'empty');
  });
  test('missing file and folder', () => {
    assertPrunerError(() => loadModel(path.join(dir, 'absent.onnx')), 'absent.onnx', 'ENOENT');
    assertPrunerError(() => loadModel(dir), 'folder');
    if (fs.existsSync('/dev/zero')) assertPrunerError(() => loadModel('/dev/zero'), '/dev/zero', 'not a regular file');
  });
  test('truncated file', () => {
    const full = fs.readFileSync(fmnistBn);
    for (const n of [1, 10, 1000, full.length - 1]) {
      assertPrunerError(() => loadModel(file(`trunc${n}.onnx`, full.subarray(0, n))), `trunc${n}.onnx`);
    }
  });
  test('absurd protobuf lengths', () => {
    // field 7 (graph), wire type 2, length 2^40
    const huge = Buffer.from([0x08, 0x07, 0x3a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x00]);
    assertPrunerError(() => loadModel(file('huge.onnx', huge)), 'huge.onnx', 'not a valid ONNX model');
    // a 10-byte varint with every bit set
    const varint = Buffer.from([0x3a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assertPrunerError(() => loadModel(file('varint.onnx', varint)), 'varint.onnx');
  });
  test('a model over 2 GiB without external data is refused without reading it', () => {
    const p = path.join(dir, 'big.onnx');
    const fd = fs.openSync(p, 'w');
    fs.writeSync(fd, fs.readFileSync(fmnistBn));
    fs.closeSync(fd);
    fs.truncateSync(p, Math.round(2.1 * 2 ** 30)); // sparse: no real disk use
    const rss = process.memoryUsage().rss;
    const t0 = Date.now();
    assertPrunerError(() => loadModel(p), 'big.onnx', '2 GiB', 'external data');
    assert.ok(Date.now() - t0 < 1000);
    assert.ok(process.memoryUsage().rss - rss < 100 * 2 ** 20);
    fs.rmSync(p);
  });
  test('absurdly deep nesting', () => {
    // graph { node { attribute { g { node { attribute { g ... } } } } } }, 3000 levels
    const wrap = (field: number, body: Buffer) => Buffer.concat([Buffer.from([(field << 3) | 2]), varint(body.length), body]);
    let body = Buffer.alloc(0);
    for (let i = 0; i < 1000; i++) body = wrap(1, wrap(5, wrap(6, body))); // GraphProto.node, NodeProto.attribute, AttributeProto.g
    const deep = wrap(7, body);
    assertPrunerError(() => loadModel(file('deep.onnx', deep)), 'deep.onnx', 'not a valid ONNX model');
  });
  test('a model whose inline save would pass 2 GiB is refused, writing nothing', async () => {
    // 2.2 GiB of external data in a sparse file: no real disk use, no bytes read
    const d = path.join(dir, 'sparse');
    fs.mkdirSync(d);
    const f = await (async () => {
      const b = new ModelBuilder();
      const x = b.input('x', [1, 3, 8, 8]);
      b.output(b.conv(x, 3, 64, { bias: false })); // 6912 bytes: goes external
      const p = path.join(d, 'm.onnx');
      await saveModel({ proto: b.build(), dir: d }, p, { externalData: true });
      fs.truncateSync(`${p}.data`, Math.round(2.2 * 2 ** 30));
      const proto = ModelProtoType.decode(fs.readFileSync(p)) as unknown as ModelProto;
      const w = proto.graph!.initializer[0];
      // the weight, reinterpreted as a 2.125 GiB tensor over the sparse file
      w.dims = [Long.fromNumber(1), Long.fromNumber(1), Long.fromNumber(1), Long.fromNumber(2 ** 29 + 2 ** 25)];
      w.external_data = w.external_data.map((kv) => (kv.key === 'length' ? { key: 'length', value: String((2 ** 29 + 2 ** 25) * 4) } : kv));
      return writeProto(p, proto);
    })();
    const m = loadModel(f);
    assert.ok(m.sizeOnDisk > 2 * 2 ** 30);
    await assert.rejects(saveModel(m, path.join(d, 'inline.onnx'), { externalData: false }), (e: unknown) => e instanceof PrunerError && /2 GiB limit; save it with external data/.test(e.message));
    assert.deepEqual(fs.readdirSync(d).sort(), ['m.onnx', 'm.onnx.data']);
    fs.rmSync(d, { recursive: true });
  });
  test('a dangling node input names the node', () => {
    const proto = smallNet().build();
    const relu = proto.graph!.node.find((n) => n.op_type === 'Relu')!;
    relu.input[0] = 'nowhere';
    assertPrunerError(() => loadModel(writeProto(path.join(dir, 'dangling.onnx'), proto)), 'dangling.onnx', relu.name!, '"nowhere"');
  });
  test('a tensor whose raw_data does not match its shape', () => {
    const proto = smallNet().build();
    const t = proto.graph!.initializer[0];
    t.raw_data = t.raw_data!.subarray(4);
    assertPrunerError(() => loadModel(writeProto(path.join(dir, 'short.onnx'), proto)), 'short.onnx', t.name!);
  });

  describe('external data locations', () => {
    /** A model folder with external data whose first external tensor's location/offset is rewritten. */
    const withLocation = async (name: string, edit: (kv: Map<string, string>) => void): Promise<string> => {
      const d = path.join(dir, name);
      fs.mkdirSync(d);
      const f = path.join(d, 'm.onnx');
      await saveModel({ proto: smallNet().build(), dir: d }, f, { externalData: true });
      const proto = ModelProtoType.decode(fs.readFileSync(f)) as unknown as ModelProto;
      const t = proto.graph!.initializer.find((x) => x.data_location === 1)!;
      const kv = new Map(t.external_data.map((e) => [e.key!, e.value!]));
      edit(kv);
      t.external_data = [...kv].map(([key, value]) => ({ key, value }));
      return writeProto(f, proto);
    };

    test('missing external file', async () => {
      const f = await withLocation('missing', (kv) => kv.set('location', 'gone.data'));
      assertPrunerError(() => loadModel(f), 'm.onnx', 'gone.data', 'missing', 'tensor');
    });
    test('location escaping with ../', async () => {
      fs.writeFileSync(path.join(dir, 'outside.data'), Buffer.alloc(1 << 20));
      const f = await withLocation('dotdot', (kv) => kv.set('location', '../outside.data'));
      assertPrunerError(() => loadModel(f), 'm.onnx', '../outside.data', 'outside the model folder');
    });
    test('absolute location', async () => {
      const abs = path.join(dir, 'outside.data');
      const f = await withLocation('absolute', (kv) => kv.set('location', abs));
      assertPrunerError(() => loadModel(f), 'm.onnx', 'absolute');
    });
    test('symlink leading out of the folder', async () => {
      const f = await withLocation('symlink', (kv) => kv.set('location', 'link.data'));
      fs.symlinkSync(path.join(dir, 'outside.data'), path.join(path.dirname(f), 'link.data'));
      assertPrunerError(() => loadModel(f), 'm.onnx', 'link.data', 'outside the model folder');
    });
    test('offset or length beyond the end of the file', async () => {
      const f = await withLocation('beyond', (kv) => kv.set('offset', '99999999'));
      assertPrunerError(() => loadModel(f), 'm.onnx', 'm.onnx.data', 'beyond the end');
      const g = await withLocation('badlen', (kv) => kv.set('length', '-5'));
      assertPrunerError(() => loadModel(g), 'm.onnx', 'invalid length');
    });
  });

  test('cleanup', () => fs.rmSync(dir, { recursive: true }));
});
