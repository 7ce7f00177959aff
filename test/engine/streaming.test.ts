// Bounded memory: a model with external data larger than the memory a capped child process may
// use is pruned by streaming (weights scored layer by layer, kept slices streamed from the source to
// the output), and the output equals, byte for byte, the same plan applied in memory and saved.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import Long from 'long';
import { loadModel } from '../../src/engine/onnx/model.ts';
import { saveModel } from '../../src/engine/onnx/save.ts';
import { DataType, ModelProtoType } from '../../src/engine/onnx/proto.ts';
import { Graph } from '../../src/engine/graph/graph.ts';
import { analyzeDependencies } from '../../src/engine/analysis/groups.ts';
import { computeImportance } from '../../src/engine/analysis/importance.ts';
import { resolvePlan } from '../../src/engine/prune/plan.ts';
import { pruneGraph } from '../../src/engine/prune/surgery.ts';
import type { PruningPlan } from '../../src/engine/prune/types.ts';
import { pruneModel } from '../../src/engine/prune/prune.ts';
import { repoRoot, tempDir } from '../helpers/paths.ts';
import { maxAbsDiff, runFirstOutput } from '../helpers/ort.ts';
import { fillRandom } from '../../scripts/make-big-model.ts';

const WIDTH = 2048;
const LAYERS = 16; // 16 × 16 MiB = 256 MiB of weights
const LAYER_BYTES = WIDTH * WIDTH * 4;
const MiB = 2 ** 20;

/** A chain of Gemm+Relu layers whose weights (xorshift values) are written to external data one layer at a time. */
function writeChain(dir: string): string {
  const file = path.join(dir, 'chain.onnx');
  const data = 'chain.onnx.data';
  const fd = fs.openSync(path.join(dir, data), 'w');
  const w = new Float32Array(WIDTH * WIDTH);
  let s = 2463534242;
  try {
    for (let l = 0; l < LAYERS; l++) {
      s = fillRandom(w, s, 0.025);
      fs.writeSync(fd, new Uint8Array(w.buffer));
    }
  } finally {
    fs.closeSync(fd);
  }
  const dim = (n: number) => Long.fromNumber(n);
  const nodes: object[] = [];
  const inits: object[] = [];
  let x = 'input';
  for (let l = 0; l < LAYERS; l++) {
    inits.push({
      name: `l${l}.weight`, dims: [dim(WIDTH), dim(WIDTH)], data_type: DataType.FLOAT, data_location: 1,
      external_data: [{ key: 'location', value: data }, { key: 'offset', value: String(l * LAYER_BYTES) }, { key: 'length', value: String(LAYER_BYTES) }],
    });
    inits.push({ name: `l${l}.bias`, dims: [dim(WIDTH)], data_type: DataType.FLOAT, raw_data: Buffer.from(new Float32Array(WIDTH).fill(0.01 * l).buffer) });
    const y = l === LAYERS - 1 ? 'output' : `h${l}`;
    nodes.push({ name: `/l${l}/Gemm`, op_type: 'Gemm', input: [x, `l${l}.weight`, `l${l}.bias`], output: [`g${l}`], attribute: [{ name: 'transB', type: 2, i: dim(1) }] });
    nodes.push({ name: `/l${l}/Relu`, op_type: 'Relu', input: [`g${l}`], output: [y] });
    x = y;
  }
  const io = (name: string) => ({ name, type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: [{ dim_value: dim(1) }, { dim_value: dim(WIDTH) }] } } } });
  const proto = {
    ir_version: dim(8), opset_import: [{ domain: '', version: dim(13) }],
    graph: { name: 'chain', node: nodes, initializer: inits, input: [io('input')], output: [io('output')] },
  };
  fs.writeFileSync(file, ModelProtoType.encode(ModelProtoType.fromObject(proto)).finish());
  return file;
}

/**
 * A 1×1 Conv A (2048 → 2048, half its filters zero, as a folded BN with γ = 0 leaves them, so those
 * channels are the constant relu(bias)) → Relu → Flatten → Gemm B (2048 → 32768, 256 MiB in external data, small weights on those channels) → output.
 * Pruning A's zero filters folds their constants into B's bias, which reads all of B's weight.
 */
function writeFold(dir: string): string {
  const file = path.join(dir, 'fold.onnx');
  const data = 'fold.onnx.data';
  const wide = 16 * WIDTH;
  const fd = fs.openSync(path.join(dir, data), 'w');
  let s = 88675123;
  try {
    const a = new Float32Array(WIDTH * WIDTH);
    s = fillRandom(a, s, 0.025);
    for (let o = 0; o < WIDTH; o += 2) a.fill(0, o * WIDTH, (o + 1) * WIDTH);
    fs.writeSync(fd, new Uint8Array(a.buffer));
    const b = new Float32Array(WIDTH * WIDTH);
    for (let part = 0; part < wide / WIDTH; part++) {
      s = fillRandom(b, s, 0.025);
      // small weights on the zero filters' channels, so the group score (A's filter and B's inputs) ranks them last
      for (let r = 0; r < WIDTH; r++) for (let i = 0; i < WIDTH; i += 2) b[r * WIDTH + i] *= 0.01;
      fs.writeSync(fd, new Uint8Array(b.buffer));
    }
  } finally {
    fs.closeSync(fd);
  }
  const dim = (n: number) => Long.fromNumber(n);
  const external = (name: string, dims: number[], offset: number, length: number) => ({
    name, dims: dims.map(dim), data_type: DataType.FLOAT, data_location: 1,
    external_data: [{ key: 'location', value: data }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(length) }],
  });
  const biasA = new Float32Array(WIDTH).map((_, i) => 0.1 + (i % 7) * 0.05);
  const inits = [
    external('a.weight', [WIDTH, WIDTH, 1, 1], 0, LAYER_BYTES),
    { name: 'a.bias', dims: [dim(WIDTH)], data_type: DataType.FLOAT, raw_data: Buffer.from(biasA.buffer) },
    external('b.weight', [wide, WIDTH], LAYER_BYTES, wide * WIDTH * 4),
    { name: 'b.bias', dims: [dim(wide)], data_type: DataType.FLOAT, raw_data: Buffer.from(new Float32Array(wide).buffer) },
  ];
  const transB = [{ name: 'transB', type: 2, i: dim(1) }];
  const nodes = [
    { name: '/a/Conv', op_type: 'Conv', input: ['input', 'a.weight', 'a.bias'], output: ['ca'] },
    { name: '/a/Relu', op_type: 'Relu', input: ['ca'], output: ['ha'] },
    { name: '/Flatten', op_type: 'Flatten', input: ['ha'], output: ['fa'] },
    { name: '/b/Gemm', op_type: 'Gemm', input: ['fa', 'b.weight', 'b.bias'], output: ['output'], attribute: transB },
  ];
  const io = (name: string, dims: number[]) => ({ name, type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: dims.map((d) => ({ dim_value: dim(d) })) } } } });
  const proto = {
    ir_version: dim(8), opset_import: [{ domain: '', version: dim(13) }],
    graph: { name: 'fold', node: nodes, initializer: inits, input: [io('input', [1, WIDTH, 1, 1])], output: [io('output', [1, wide])] },
  };
  fs.writeFileSync(file, ModelProtoType.encode(ModelProtoType.fromObject(proto)).finish());
  return file;
}

const PLAN: PruningPlan = { version: 1, criterion: 'l1', scope: 'uniform', ratio: 0.5 };

// The child: pruneModel with a small V8 heap; prints its peak RSS.
const CHILD = `
const { pruneModel } = require(${JSON.stringify(path.join(repoRoot, 'src/engine/prune/prune.ts'))});
pruneModel(process.argv[1], ${JSON.stringify(PLAN)}, { out: process.argv[2] }).then((r) => {
  process.stdout.write(JSON.stringify({ peakRss: process.resourceUsage().maxRSS * 1024, params: r.params, size: r.size }) + '\\n');
}, (e) => { console.error(e); process.exit(1); });
`;

// The same for an inline model: AnalysedModel.load with weights left in the file (as the CLI loads).
const CHILD_INLINE = `
const { AnalysedModel } = require(${JSON.stringify(path.join(repoRoot, 'src/engine/analysed-model.ts'))});
const { pruneAnalysed } = require(${JSON.stringify(path.join(repoRoot, 'src/engine/prune/prune.ts'))});
pruneAnalysed(AnalysedModel.load(process.argv[1], { weights: 'file' }), ${JSON.stringify(PLAN)}, { out: process.argv[2] }).then((r) => {
  process.stdout.write(JSON.stringify({ peakRss: process.resourceUsage().maxRSS * 1024, params: r.params, size: r.size }) + '\\n');
}, (e) => { console.error(e); process.exit(1); });
`;

describe('bounded memory', () => {
  test('a 256 MiB inline model (no external data) loaded with its weights left in the file is pruned with peak RSS below the model size; the output equals the in-memory one byte for byte', async () => {
    const dir = tempDir('onnx-pruner-stream-inline-');
    try {
      const chain = writeChain(dir);
      const model = path.join(dir, 'inline.onnx');
      await saveModel(loadModel(chain), model, { externalData: false });
      fs.rmSync(chain);
      fs.rmSync(`${chain}.data`);
      const modelBytes = fs.statSync(model).size;
      assert.ok(modelBytes > 256 * MiB);
      const streamed = path.join(dir, 'streamed.onnx');
      const r = spawnSync(process.execPath, ['--max-old-space-size=64', '--import', 'tsx', '-e', CHILD_INLINE, model, streamed], { encoding: 'utf8', cwd: repoRoot });
      assert.equal(r.status, 0, r.stderr);
      const res = JSON.parse(r.stdout.trim().split('\n').pop()!);
      // reading the file whole would pass this bound by itself
      assert.ok(res.peakRss < modelBytes * 0.8, `peak RSS ${(res.peakRss / MiB).toFixed(0)} MiB for a ${(modelBytes / MiB).toFixed(0)} MiB model`);
      assert.ok(res.params.after < res.params.before);
      const inMemory = path.join(dir, 'in-memory.onnx');
      await pruneModel(model, PLAN, { out: inMemory });
      assert.ok(fs.readFileSync(streamed).equals(fs.readFileSync(inMemory)), 'the outputs differ');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a 256 MiB external-data model is pruned under a 64 MiB V8 heap with peak RSS below the model size; the streamed output equals the in-memory one byte for byte', async () => {
    const dir = tempDir('onnx-pruner-stream-');
    try {
      const model = writeChain(dir);
      const modelBytes = fs.statSync(model).size + fs.statSync(`${model}.data`).size;
      assert.ok(modelBytes > 256 * MiB);
      fs.mkdirSync(path.join(dir, 'streamed'));
      fs.mkdirSync(path.join(dir, 'in-memory'));
      const streamed = path.join(dir, 'streamed', 'out.onnx');
      const r = spawnSync(process.execPath, ['--max-old-space-size=64', '--import', 'tsx', '-e', CHILD, model, streamed], { encoding: 'utf8', cwd: repoRoot });
      assert.equal(r.status, 0, r.stderr);
      const res = JSON.parse(r.stdout.trim().split('\n').pop()!);
      // the whole process (Node, tsx, the engine) stays below the model's bytes: nothing holds the model
      assert.ok(res.peakRss < modelBytes * 0.8, `peak RSS ${(res.peakRss / MiB).toFixed(0)} MiB for a ${(modelBytes / MiB).toFixed(0)} MiB model`);
      assert.equal(res.params.after < res.params.before, true);

      // the same plan, applied in memory (eager slices) and saved under the same name elsewhere
      const source = loadModel(model);
      const graph = new Graph(source);
      const deps = analyzeDependencies(graph);
      const importance = await computeImportance(graph, deps, { criteria: ['l1'] });
      const resolved = resolvePlan(PLAN, deps, importance);
      const result = pruneGraph(graph, deps, resolved, { compensate: true, metadata: { 'onnx_pruner.source': path.basename(model) }, lazy: false });
      const inMemory = path.join(dir, 'in-memory', 'out.onnx');
      await saveModel({ proto: result.model, dir: source.dir, path: source.path }, inMemory, { externalData: true });
      assert.ok(fs.readFileSync(streamed).equals(fs.readFileSync(inMemory)), '.onnx differs');
      const [a, b] = [`${streamed}.data`, `${inMemory}.data`];
      assert.equal(fs.statSync(a).size, fs.statSync(b).size);
      assert.ok(fs.statSync(a).size < modelBytes * 0.6 && fs.statSync(a).size > modelBytes * 0.2);
      // compare the data files in 16 MiB pieces (not whole)
      const fa = fs.openSync(a, 'r');
      const fb = fs.openSync(b, 'r');
      try {
        const ba = Buffer.alloc(16 * MiB);
        const bb = Buffer.alloc(16 * MiB);
        for (let pos = 0; ; ) {
          const na = fs.readSync(fa, ba, 0, ba.length, pos);
          const nb = fs.readSync(fb, bb, 0, bb.length, pos);
          assert.equal(na, nb);
          if (na === 0) break;
          assert.ok(ba.subarray(0, na).equals(bb.subarray(0, nb)), `external data differs near byte ${pos}`);
          pos += na;
        }
      } finally {
        fs.closeSync(fa);
        fs.closeSync(fb);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('compensation folds removed constant channels into a 256 MiB weight a block of rows at a time, never the whole weight; the output is unchanged', async () => {
    const dir = tempDir('onnx-pruner-stream-fold-');
    try {
      const model = writeFold(dir);
      const modelBytes = fs.statSync(model).size + fs.statSync(`${model}.data`).size;
      const out = path.join(dir, 'out.onnx');
      const r = spawnSync(process.execPath, ['--max-old-space-size=64', '--import', 'tsx', '-e', CHILD, model, out], { encoding: 'utf8', cwd: repoRoot });
      assert.equal(r.status, 0, r.stderr);
      const res = JSON.parse(r.stdout.trim().split('\n').pop()!);
      // reading B's weight whole (256 MiB) for the fold would pass this bound
      assert.ok(res.peakRss < modelBytes * 0.8, `peak RSS ${(res.peakRss / MiB).toFixed(0)} MiB for a ${(modelBytes / MiB).toFixed(0)} MiB model`);
      assert.equal(res.params.before - res.params.after, (WIDTH / 2) * (WIDTH + 1) + (WIDTH / 2) * 16 * WIDTH, 'half of A\'s filters and the matching inputs of B are gone');
      // the removed channels were constants: folded into B's bias, the output is the original's
      const x = new Float32Array(WIDTH).map((_, i) => Math.sin(i));
      const before = await runFirstOutput(model, x, [1, WIDTH, 1, 1]);
      const after = await runFirstOutput(out, x, [1, WIDTH, 1, 1]);
      assert.deepEqual(after.dims, [1, 16 * WIDTH]);
      assert.ok(maxAbsDiff(before.data, after.data) < 1e-4, `max |Δ| ${maxAbsDiff(before.data, after.data)}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
