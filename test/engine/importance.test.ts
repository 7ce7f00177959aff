// Channel importance (BN γ, filter L1/L2, FPGM), group scores, and the statistics for the tables.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bf16ToFloat, decodeModel, halfToFloat, loadModel, tensorFloatsFast, tensorRawBytes } from '../../src/engine/onnx/model.ts';
import { saveModel } from '../../src/engine/onnx/save.ts';
import { DataType, ModelProtoType } from '../../src/engine/onnx/proto.ts';
import { resolvePlan } from '../../src/engine/prune/plan.ts';
import Long from 'long';
import { Graph } from '../../src/engine/graph/graph.ts';
import {
  addCriteria,
  computeImportance,
  filterMatrix,
  readFloats,
  fpgmSample,
  fpgmSampled,
  fpgmScores,
  rowNorms,
  sliceMagnitudes,
  REEXPORT_ADVICE,
  type ModelImportance,
} from '../../src/engine/analysis/importance.ts';
import { normsPass } from '../../src/engine/analysis/norms.ts';
import { stampFile } from '../../src/engine/onnx/external.ts';
import { PrunerError } from '../../src/engine/errors.ts';
import { parallelBlockedNorms, parallelNorms } from '../../src/engine/analysis/parallel-norms.ts';
import type { ChannelGroup, DependencyAnalysis } from '../../src/engine/analysis/types.ts';
import { histogram, importanceStats, layerChannelScores, linearEdges, logEdges, quantile, scoreStats } from '../../src/engine/analysis/stats.ts';
import { ModelBuilder, prng } from '../helpers/modelBuilder.ts';
import { analyzeDependencies } from '../../src/engine/analysis/groups.ts';
import { fmnistBn, fmnistFused, shared, skipWithoutShared, tempDir } from '../helpers/paths.ts';
import { moduleName } from '../helpers/torchNames.ts';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6) => {
  assert.equal(a.length, b.length, 'length');
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol * Math.max(1, Math.abs(b[i])), `[${i}] ${a[i]} != ${b[i]}`);
};

/**
 * x[1,2,4,4] -> A (Conv 1x1, 2->3, known filters) -> bnA -> Relu -> B (Conv 1x1, 3->2, no BN) -> GAP -> Flatten -> G (Gemm 2->4)
 */
function smallModel(dir: string): { graph: Graph; deps: DependencyAnalysis } {
  const b = new ModelBuilder();
  const x = b.input('x', [1, 2, 4, 4]);
  let y = b.conv(x, 2, 3, { k: 1, name: 'A', weight: [1, -2, 0, 3, 0.5, 0.5] });
  y = b.relu(b.bn(y, 3, { name: 'bnA', gamma: [0.5, -0.01, 2] }));
  y = b.conv(y, 3, 2, { k: 1, name: 'B', weight: [1, 2, 3, -4, 5, -6] });
  const out = b.gemm(b.flatten(b.gap(y)), 2, 4, 'G');
  b.output(out);
  const graph = new Graph(loadModel(b.save(path.join(dir, 'small.onnx'))));
  const groupA: ChannelGroup = {
    id: 0,
    channels: 3,
    layers: ['A'],
    bnNodes: ['bnA'],
    prunable: true,
    values: [],
    members: [
      { node: 'A', op: 'Conv', role: 'out', tensor: 'A.weight', inputIndex: 1, axis: 0, mapping: { kind: 'identity' } },
      { node: 'bnA', op: 'BatchNormalization', role: 'param', tensor: 'bnA.weight', inputIndex: 1, axis: 0, mapping: { kind: 'identity' } },
      { node: 'B', op: 'Conv', role: 'in', tensor: 'B.weight', inputIndex: 1, axis: 1, mapping: { kind: 'identity' } },
    ],
  };
  const groupB: ChannelGroup = {
    id: 1,
    channels: 2,
    layers: ['B'],
    bnNodes: [],
    prunable: true,
    values: [],
    members: [
      { node: 'B', op: 'Conv', role: 'out', tensor: 'B.weight', inputIndex: 1, axis: 0, mapping: { kind: 'identity' } },
      { node: 'G', op: 'Gemm', role: 'in', tensor: 'G.weight', inputIndex: 1, axis: 1, mapping: { kind: 'block', size: 1, offset: 0 } },
    ],
  };
  return { graph, deps: { groups: [groupA, groupB], groupOfLayer: new Map([['A', 0], ['B', 1]]) } };
}

describe('importance per layer', () => {
  const dir = tempDir();
  const { graph, deps } = smallModel(dir);

  test('L1, L2, FPGM and |γ| of known filters', async () => {
    const imp = await computeImportance(graph, deps);
    const a = imp.layers.get('A')!;
    assert.equal(a.channels, 3);
    assert.equal(a.bn, 'bnA');
    assert.equal(a.bnFused, false);
    close(a.scores.l1!, [3, 3, 1]);
    close(a.scores.l2!, [Math.sqrt(5), 3, Math.sqrt(0.5)]);
    const s26 = Math.sqrt(26);
    const s65 = Math.sqrt(6.5);
    close(a.scores.fpgm!, [s26 + s65, s26 + s65, 2 * s65]);
    close(a.scores['bn-gamma']!, [0.5, 0.01, 2]);
    const bl = imp.layers.get('B')!;
    assert.equal(bl.bnFused, true, 'a conv without BN after it is flagged');
    assert.equal(bl.scores['bn-gamma'], undefined);
    close(bl.scores.l1!, [6, 15]);
    // Gemm transB=1: filters are rows; not a conv, so not "fused"
    const g = imp.layers.get('G')!;
    assert.equal(g.channels, 4);
    assert.equal(g.bnFused, false);
    assert.equal(imp.hasBn, true);
    assert.match(imp.advice.join(' '), /1 of 2 convolutions have no BatchNormalization/);
  });

  test('group scores: BN γ mean, group L1 / L2 over out filters, BN γ and consumer input slices, FPGM mean', async () => {
    const imp = await computeImportance(graph, deps);
    const ga = imp.groups.get(0)!;
    close(ga.scores['bn-gamma']!, [0.5, 0.01, 2]);
    // out L1 [3,3,1], |γ| [0.5,0.01,2], B's input columns L1 [5,7,9]; mean over 3 members
    close(ga.scores.l1!, [8.5 / 3, 10.01 / 3, 12 / 3]);
    // out sq [5,9,0.5], γ² [0.25,1e-4,4], B columns sq [17,29,45]
    close(ga.scores.l2!, [Math.sqrt(22.25 / 3), Math.sqrt(38.0001 / 3), Math.sqrt(49.5 / 3)], 1e-5);
    close(ga.scores.fpgm!, imp.layers.get('A')!.scores.fpgm!);
    assert.equal(ga.firstLayer, 'A');
    const gb = imp.groups.get(1)!;
    assert.equal(gb.scores['bn-gamma'], undefined, 'no BN in the group: no γ score');
    // B out L1 [6, 15]; G's input column i of its [4,2] weight
    const gw = graph.constantFloats('G.weight')!;
    const col = (i: number) => [0, 1, 2, 3].reduce((s, r) => s + Math.abs(gw[r * 2 + i]), 0);
    close(gb.scores.l1!, [(6 + col(0)) / 2, (15 + col(1)) / 2], 1e-5);
  });

  test('criteria on demand: only the asked ones are computed, with the same values; addCriteria adds FPGM later', async () => {
    const full = await computeImportance(graph, deps);
    assert.deepEqual(full.criteria, ['bn-gamma', 'l1', 'l2', 'fpgm']);
    const cheap = await computeImportance(graph, deps, { criteria: ['bn-gamma', 'l1', 'l2'] });
    assert.deepEqual(cheap.criteria, ['bn-gamma', 'l1', 'l2']);
    for (const [name, l] of full.layers) {
      const c = cheap.layers.get(name)!;
      assert.equal(c.scores.fpgm, undefined, name);
      assert.deepEqual(c.scores.l1, l.scores.l1, name);
      assert.deepEqual(c.scores.l2, l.scores.l2, name);
      assert.deepEqual(c.scores['bn-gamma'], l.scores['bn-gamma'], name);
      assert.equal(c.bnFused, l.bnFused, name);
      assert.equal(c.bn, l.bn, name);
    }
    for (const [id, g] of full.groups) assert.deepEqual(cheap.groups.get(id)!.scores.l1, g.scores.l1, `group ${id}`);
    // γ alone reads no weight, yet knows every layer, its channels and whether BN was folded
    const gammaOnly = await computeImportance(graph, deps, { criteria: ['bn-gamma'] });
    assert.deepEqual([...gammaOnly.layers.keys()], [...full.layers.keys()]);
    for (const [name, l] of gammaOnly.layers) {
      assert.equal(l.channels, full.layers.get(name)!.channels);
      assert.deepEqual(Object.keys(l.scores), full.layers.get(name)!.scores['bn-gamma'] ? ['bn-gamma'] : []);
    }
    assert.deepEqual(gammaOnly.groups.get(0)!.scores['bn-gamma'], full.groups.get(0)!.scores['bn-gamma']);
    assert.equal(await addCriteria(graph, deps, cheap, ['fpgm', 'l1']), true);
    assert.deepEqual(cheap.criteria, ['bn-gamma', 'l1', 'l2', 'fpgm']);
    for (const [name, l] of full.layers) assert.deepEqual(cheap.layers.get(name)!.scores.fpgm, l.scores.fpgm, name);
    for (const [id, g] of full.groups) assert.deepEqual(cheap.groups.get(id)!.scores.fpgm, g.scores.fpgm, `group ${id}`);
    assert.equal(await addCriteria(graph, deps, cheap, ['fpgm']), false);
    // a plan on a criterion that was not computed is a caller's error, not "no score"
    assert.throws(() => resolvePlan({ version: 1, criterion: 'fpgm', scope: 'uniform', ratio: 0.5 }, deps, gammaOnly), /fpgm was not computed/);
  });

  test('weights read in one pass: FLOAT, FLOAT16, BFLOAT16 inline (aligned or not) and in external data equal the element-wise decode', async () => {
    const rnd = prng(7);
    const vals = Float32Array.from({ length: 64 * 9 }, () => (rnd() - 0.5) * 8);
    const f16 = new Uint16Array(vals.length);
    const bf16 = new Uint16Array(vals.length);
    const scratch = new DataView(new ArrayBuffer(4));
    for (let i = 0; i < vals.length; i++) {
      scratch.setFloat32(0, vals[i]);
      bf16[i] = scratch.getUint32(0) >>> 16;
      f16[i] = toHalf(vals[i]);
    }
    const b = new ModelBuilder();
    const x = b.input('x', [1, 64]);
    const tensors: [string, number, Uint8Array][] = [
      ['w32', DataType.FLOAT, new Uint8Array(vals.buffer)],
      ['w16', DataType.FLOAT16, new Uint8Array(f16.buffer)],
      ['wbf', DataType.BFLOAT16, new Uint8Array(bf16.buffer)],
    ];
    let y = x;
    for (const [name, dt, bytes] of tensors) {
      // an odd offset inside a bigger buffer: the unaligned path
      const host = Buffer.alloc(bytes.length + 1);
      host.set(bytes, 1);
      b.initTensor({ name, data_type: dt, dims: [Long.fromNumber(64), Long.fromNumber(9)], raw_data: host.subarray(1) } as never);
      y = b.node('MatMul', [y, name]);
      y = b.node('MatMul', [y, b.init(`${name}.back`, [9, 64])]);
    }
    b.output(y);
    const inline = b.save(path.join(dir, 'halves.onnx'));
    const ext = path.join(dir, 'halves-ext.onnx');
    await saveModel(loadModel(inline), ext, { externalData: true });
    for (const file of [inline, ext]) {
      const model = loadModel(file);
      const g = new Graph(model);
      for (const [name, dt] of tensors) {
        const t = g.constantTensor(name)!;
        assert.equal(t.data_type, dt);
        assert.equal(t.data_location === 1, file === ext, `${name} external in ${path.basename(file)}`);
        const fast = tensorFloatsFast(model, t)!;
        const raw = tensorRawBytes(model, t)!;
        const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
        const want = Float32Array.from({ length: vals.length }, (_, i) =>
          dt === DataType.FLOAT ? dv.getFloat32(i * 4, true) : dt === DataType.FLOAT16 ? halfToFloat(dv.getUint16(i * 2, true)) : bf16ToFloat(dv.getUint16(i * 2, true)),
        );
        assert.deepEqual(fast, want, `${name} in ${path.basename(file)}`);
        assert.deepEqual(readFloats(g, name), want);
        if (dt === DataType.BFLOAT16) close(fast, vals, 1e-2);
        if (dt === DataType.FLOAT) assert.deepEqual(fast, vals);
      }
    }
  });

  test('norms in one pass: rows and input-axis magnitudes equal a plain loop (rows to the last bit)', () => {
    const rnd = prng(11);
    // [rows, mid, inner...]: 3×3 and 1×1 convs, a Gemm, row counts not a multiple of 4
    for (const dims of [[13, 7, 3, 3], [9, 5, 1, 1], [6, 11], [1, 3, 2, 2], [4, 1, 5]]) {
      const [rows, mid] = dims;
      const inner = dims.slice(2).reduce((a, b) => a * b, 1);
      const cols = mid * inner;
      const w = Float32Array.from({ length: rows * cols }, () => (rnd() - 0.5) * 3);
      // each row summed in its own order; each input index over every row and position
      const want = { l1: new Float32Array(rows), l2: new Float32Array(rows), sq: new Float64Array(rows) };
      const mags = { l1: new Float64Array(mid), sq: new Float64Array(mid) };
      for (let o = 0; o < rows; o++) {
        let a = 0;
        let q = 0;
        for (let k = 0; k < cols; k++) {
          const v = w[o * cols + k];
          a += Math.abs(v);
          q += v * v;
          mags.l1[Math.floor(k / inner)] += Math.abs(v);
          mags.sq[Math.floor(k / inner)] += v * v;
        }
        want.l1[o] = a;
        want.l2[o] = Math.sqrt(q);
        want.sq[o] = q;
      }
      const l1 = new Float32Array(rows + 2);
      const l2 = new Float32Array(rows + 2);
      const sq = new Float64Array(rows + 2);
      const part = { l1: new Float64Array(mid).fill(9), sq: new Float64Array(mid).fill(9) };
      normsPass(w, rows, mid, inner, 2, l1, l2, sq, part);
      assert.deepEqual(l1.subarray(2), want.l1, `${dims}`);
      assert.deepEqual(l2.subarray(2), want.l2, `${dims}`);
      assert.deepEqual(sq.subarray(2), want.sq, `${dims}`);
      close(part.l1, mags.l1, 1e-12);
      close(part.sq, mags.sq, 1e-12);
      assert.deepEqual(sliceMagnitudes(w, dims, 1), part, `${dims}: sliceMagnitudes is the same pass`);
      assert.deepEqual(rowNorms({ rows, cols, data: w }), want, `${dims}: rowNorms is the same pass`);
      const alone = { l1: new Float32Array(rows), l2: new Float32Array(rows), sq: new Float64Array(rows) };
      normsPass(w, rows, mid, inner, 0, alone.l1, alone.l2, alone.sq);
      assert.deepEqual(alone, want, `${dims} without magnitudes`);
    }
  });

  test('norms read by blocks (weights not aligned in the file, one scratch block reused) equal the whole-weight computation', async () => {
    // 3×3 and 1×1 convs, a Gemm: each layer's input channels are its producer group's consumer slices
    const b = new ModelBuilder();
    let y = b.input('x', [1, 3, 8, 8]);
    y = b.relu(b.bn(b.conv(y, 3, 13, { k: 3, name: 'c0' }), 13, { name: 'n0' }));
    y = b.relu(b.bn(b.conv(y, 13, 7, { k: 1, name: 'c1' }), 7, { name: 'n1' }));
    y = b.relu(b.conv(y, 7, 21, { k: 3, name: 'c2' }));
    b.output(b.gemm(b.flatten(b.gap(y)), 21, 5, 'fc'));
    const file = b.save(path.join(dir, 'blocks.onnx'));
    const g = new Graph(loadModel(file));
    const d = analyzeDependencies(g);
    const aligned = [...g.model.proto.graph!.initializer].filter((t) => (t.raw_data?.byteOffset ?? 0) % 4 === 0).length;
    assert.ok(aligned < g.model.proto.graph!.initializer.length, 'some weights are not 4-byte aligned');
    const blocked = await computeImportance(g, d, { criteria: ['l1', 'l2'] });
    // with FPGM asked, each weight is read whole and scored by rowNorms and sliceMagnitudes
    const whole = await computeImportance(g, d, { criteria: ['l1', 'l2', 'fpgm'], fpgmBackend: 'js' });
    assert.deepEqual([...blocked.layers.keys()], ['c0', 'c1', 'c2', 'fc']);
    for (const [name, l] of whole.layers) {
      assert.deepEqual(blocked.layers.get(name)!.scores.l1, l.scores.l1, name);
      assert.deepEqual(blocked.layers.get(name)!.scores.l2, l.scores.l2, name);
    }
    for (const [id, gr] of whole.groups) {
      assert.deepEqual(blocked.groups.get(id)!.scores.l1, gr.scores.l1, `group ${id}`);
      assert.deepEqual(blocked.groups.get(id)!.scores.l2, gr.scores.l2, `group ${id}`);
    }
    // and a known value: c1's filter 0 over its 13 inputs
    const w = readFloats(g, 'c1.weight')!;
    assert.equal(blocked.layers.get('c1')!.scores.l1![0], Math.fround(Array.from(w.subarray(0, 13)).reduce((a, v) => a + Math.abs(v), 0)));
  });

  test('a model file is read so that its largest float weights start 4-byte aligned, whatever their offset in the file; values and scores unchanged', async () => {
    // a 128 KiB Gemm weight (the largest) and a 72 KiB conv weight; a doc_string of 0–3 more
    // characters before the graph moves both to each offset modulo 4 in the file
    const b = new ModelBuilder();
    let y = b.relu(b.conv(b.input('x', [1, 3, 8, 8]), 3, 64, { k: 3, name: 'c0' }));
    y = b.relu(b.conv(y, 64, 32, { k: 3, name: 'c1' }));
    b.output(b.gemm(b.relu(b.gemm(b.flatten(b.gap(y)), 32, 1024, 'fc0')), 1024, 32, 'fc1'));
    const proto = b.build();
    const offsets = new Set<number>();
    let reference: Map<string, Float32Array> | undefined;
    let refScores: ModelImportance | undefined;
    for (let extra = 0; extra < 4; extra++) {
      proto.doc_string = 'd'.repeat(extra + 1);
      const file = path.join(dir, `align${extra}.onnx`);
      fs.writeFileSync(file, ModelProtoType.encode(ModelProtoType.fromObject(proto as never)).finish());
      // where the Gemm weight sits in the file (a whole-file read starts at offset 0 of its own buffer)
      const plain = decodeModel(fs.readFileSync(file));
      const rawOf = (m: { graph?: { initializer: { name?: string; raw_data?: Uint8Array }[] } }, name: string) => m.graph!.initializer.find((t) => t.name === name)!.raw_data!;
      assert.equal(rawOf(plain, 'fc0.weight').buffer.byteLength, fs.statSync(file).size);
      offsets.add(rawOf(plain, 'fc0.weight').byteOffset % 4);
      const model = loadModel(file);
      assert.equal(rawOf(model.proto, 'fc0.weight').byteOffset % 4, 0, `fc0.weight aligned (doc_string of ${extra + 1})`);
      assert.equal(model.fileSize, fs.statSync(file).size);
      const g = new Graph(model);
      const values = new Map(['c0.weight', 'c1.weight', 'fc0.weight', 'fc1.weight'].map((k) => [k, Float32Array.from(readFloats(g, k)!)]));
      for (const [k, v] of values) assert.deepEqual(v, Float32Array.from(readFloats(new Graph({ ...model, proto: plain }), k)!), k);
      const scores = await computeImportance(g, analyzeDependencies(g), { criteria: ['l1', 'l2'] });
      if (!reference) {
        reference = values;
        refScores = scores;
      } else {
        assert.deepEqual(values, reference);
        for (const [name, l] of refScores!.layers) assert.deepEqual(scores.layers.get(name)!.scores, l.scores, name);
      }
    }
    assert.equal(offsets.size, 4, 'the weight was tried at every offset modulo 4');
  });

  test('filter axes: Gemm transB=0, MatMul and ConvTranspose use the output axis', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3]);
    const w0 = b.init('w0', [3, 2], [1, 2, 3, 4, 5, 6]); // [K=3, N=2]
    const y = b.node('Gemm', [x, w0], { transB: 0 }, 'g0');
    const z = b.node('MatMul', [y, b.init('w1', [2, 2], [1, -1, 2, -2])], {}, 'mm');
    const x4 = b.node('Unsqueeze', [z, b.initInt64('ax', [2, 3])], {}, 'u');
    b.output(b.node('ConvTranspose', [x4, b.init('wt', [2, 3, 1, 1], [1, 2, 3, 4, 5, 6])], {}, 'ct'));
    const dir2 = tempDir();
    const g = new Graph(loadModel(b.save(path.join(dir2, 'axes.onnx'))));
    const m0 = filterMatrix(g, g.byName.get('g0')!)!;
    assert.deepEqual([m0.rows, m0.cols, ...m0.data], [2, 3, 1, 3, 5, 2, 4, 6]);
    const m1 = filterMatrix(g, g.byName.get('mm')!)!;
    assert.deepEqual([...m1.data], [1, 2, -1, -2]);
    const m2 = filterMatrix(g, g.byName.get('ct')!)!;
    assert.deepEqual([m2.rows, ...m2.data], [3, 1, 4, 2, 5, 3, 6]);
    fs.rmSync(dir2, { recursive: true, force: true });
  });

  test('FPGM: blocked loop equals the pairwise definition on odd sizes', () => {
    const r = prng(7);
    for (const [C, K] of [[1, 5], [5, 3], [9, 17], [13, 1]]) {
      const data = Float32Array.from({ length: C * K }, () => r() - 0.5);
      const m = { rows: C, cols: K, data };
      const got = fpgmScores(m);
      const want = new Float64Array(C);
      for (let i = 0; i < C; i++)
        for (let j = 0; j < C; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += (data[i * K + k] - data[j * K + k]) ** 2;
          want[i] += Math.sqrt(s);
        }
      close(got, want, 1e-5);
      close(rowNorms(m).l1, Array.from({ length: C }, (_, i) => data.subarray(i * K, (i + 1) * K).reduce((a, v) => a + Math.abs(v), 0)), 1e-5);
    }
  });

  test('sampled FPGM (very wide layers): within 3% of the exact scores, the same lowest half to 99%', async () => {
    // filters with a spread of norms, so that FPGM has an order to find
    const C = 1024;
    const K = 64;
    const r = prng(3);
    const data = new Float32Array(C * K);
    for (let i = 0; i < C; i++) {
      const scale = Math.exp((r() - 0.5) * 2);
      for (let k = 0; k < K; k++) data[i * K + k] = (r() - 0.5) * scale;
    }
    const m = { rows: C, cols: K, data };
    const sq = rowNorms(m).sq;
    const exact = fpgmScores(m, sq);
    const est = await fpgmSampled(m, sq, 256);
    const sample = fpgmSample(C, 256);
    assert.equal(new Set(sample).size, 256);
    const rel = Array.from(exact, (v, i) => Math.abs(est[i] - v) / v);
    assert.ok(Math.max(...rel) < 0.03, `max relative error ${Math.max(...rel)}`);
    const lowest = (s: Float32Array) => new Set(Array.from(s.keys()).sort((a, b) => s[a] - s[b]).slice(0, C / 2));
    const le = lowest(exact);
    const overlap = [...lowest(est)].filter((i) => le.has(i)).length / (C / 2);
    assert.ok(overlap >= 0.99, `lowest-half overlap ${overlap}`);
  });

  test('FPGM with ONNX Runtime (blocked Gram product) on large layers agrees with JavaScript', async () => {
    const b = new ModelBuilder({ seed: 3 });
    const x = b.input('x', [1, 288, 4, 4]);
    const y = b.conv(x, 288, 256, { k: 1, name: 'big' }); // 256² × 288 MACs: above the ONNX Runtime threshold
    b.output(b.conv(y, 256, 1100, { k: 1, name: 'wide' })); // 1100 filters: three row blocks of 512
    const dir2 = tempDir();
    const g = new Graph(loadModel(b.save(path.join(dir2, 'big.onnx'))));
    const none: DependencyAnalysis = { groups: [], groupOfLayer: new Map() };
    const viaOrt = await computeImportance(g, none);
    const viaJs = await computeImportance(g, none, { fpgmBackend: 'js' });
    close(viaOrt.layers.get('big')!.scores.fpgm!, viaJs.layers.get('big')!.scores.fpgm!, 1e-4);
    close(viaOrt.layers.get('wide')!.scores.fpgm!, viaJs.layers.get('wide')!.scores.fpgm!, 1e-4);
    fs.rmSync(dir2, { recursive: true, force: true });
  });

  test('aborts when the signal fires', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(computeImportance(graph, deps, { signal: ac.signal }), { name: 'CancelledError' });
  });

  test('a model without BN gets the re-export advice; with BN it has γ for its convs', async () => {
    const none: DependencyAnalysis = { groups: [], groupOfLayer: new Map() };
    const fused = await computeImportance(new Graph(loadModel(fmnistFused)), none);
    assert.equal(fused.hasBn, false);
    assert.deepEqual(fused.advice, [REEXPORT_ADVICE]);
    assert.match(REEXPORT_ADVICE, /TrainingMode\.PRESERVE, do_constant_folding=False/);
    assert.ok([...fused.layers.values()].filter((l) => l.op === 'Conv').every((l) => l.bnFused && !l.scores['bn-gamma']));
    const bn = await computeImportance(new Graph(loadModel(fmnistBn)), none);
    assert.equal(bn.hasBn, true);
    assert.ok([...bn.layers.values()].some((l) => l.scores['bn-gamma']));
  });
});

describe('norms on several cores', () => {
  test('weights in external data scored by blocks shared with worker threads: every score and group magnitude equals the one-thread result to the last bit', async () => {
    const dir = tempDir();
    const b = new ModelBuilder({ seed: 9 });
    const x = b.input('x', [1, 3, 8, 8]);
    let y = b.relu(b.bn(b.conv(x, 3, 24), 24));
    y = b.relu(b.bn(b.conv(y, 24, 40), 40)); // 8640 floats: blocks of rows shared out below
    y = b.relu(b.conv(y, 40, 24, { k: 1 }));
    b.output(b.gemm(b.flatten(b.gap(y)), 24, 10), [1, 10]);
    const inline = b.save(path.join(dir, 'inline.onnx'));
    const ext = path.join(dir, 'ext.onnx');
    await saveModel(loadModel(inline), ext, { externalData: true });
    const score = async () => {
      const graph = new Graph(loadModel(ext));
      return computeImportance(graph, analyzeDependencies(graph), { criteria: ['l1', 'l2'] });
    };
    const saved = { ...parallelNorms };
    try {
      parallelNorms.minFloats = Infinity;
      const one = await score();
      // every weight shared out, in blocks of 2000 floats (9 filters of the 40 × 24 × 3 × 3 conv)
      Object.assign(parallelNorms, { minFloats: 1, blockFloats: 2000 });
      const many = await score();
      assert.deepEqual([...many.layers.keys()], [...one.layers.keys()]);
      for (const [name, l] of one.layers) {
        assert.deepEqual(many.layers.get(name)!.scores.l1, l.scores.l1, `${name} l1`);
        assert.deepEqual(many.layers.get(name)!.scores.l2, l.scores.l2, `${name} l2`);
      }
      // group scores add the consumers' per-index sums, grouped by block here: equal to rounding
      for (const [id, g] of one.groups)
        for (const c of ['l1', 'l2'] as const) {
          const a = many.groups.get(id)!.scores[c]!;
          const e = g.scores[c]!;
          assert.equal(a.length, e.length);
          for (let i = 0; i < e.length; i++) assert.ok(Math.abs(a[i] - e[i]) <= 1e-6 * Math.abs(e[i]), `group ${id} ${c}[${i}]: ${a[i]} against ${e[i]}`);
        }
    } finally {
      Object.assign(parallelNorms, saved);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the blocks of one weight shared between this thread and the workers sum to the one-pass norms, bit for bit', async () => {
    const dir = tempDir();
    const [rows, mid, inner] = [37, 11, 9];
    const w = Float32Array.from({ length: rows * mid * inner }, (_, i) => Math.sin(i * 0.731) * (1 + (i % 7)));
    const file = path.join(dir, 'w.bin');
    fs.writeFileSync(file, new Uint8Array(w.buffer));
    const saved = { ...parallelNorms };
    try {
      parallelNorms.minFloats = 1;
      for (const perBlock of [1, 4, 5, 18]) {
        const r = await parallelBlockedNorms({ file, offset: 0, length: w.byteLength }, rows, mid, inner, perBlock, true);
        assert.ok(r, `perBlock ${perBlock}: shared out`);
        // one thread, the same blocks: normsPass per block, the per-index sums added in block order
        const want = { l1: new Float32Array(rows), l2: new Float32Array(rows), sq: new Float64Array(rows), pl1: new Float64Array(mid), psq: new Float64Array(mid) };
        for (let f = 0; f < rows; f += perBlock) {
          const n = Math.min(perBlock, rows - f);
          const part = { l1: new Float64Array(mid), sq: new Float64Array(mid) };
          normsPass(w.subarray(f * mid * inner, (f + n) * mid * inner), n, mid, inner, f, want.l1, want.l2, want.sq, part);
          for (let i = 0; i < mid; i++) {
            want.pl1[i] += part.l1[i];
            want.psq[i] += part.sq[i];
          }
        }
        assert.deepEqual(r.l1, want.l1);
        assert.deepEqual(r.l2, want.l2);
        assert.deepEqual(r.sq, want.sq);
        assert.deepEqual(r.part!.l1, want.pl1);
        assert.deepEqual(r.part!.sq, want.psq);
      }
      // a file shorter than the weight: the worker's read fails and the error names the file
      const short = path.join(dir, 'short.bin');
      fs.writeFileSync(short, new Uint8Array(w.buffer, 0, 100));
      await assert.rejects(parallelBlockedNorms({ file: short, offset: 0, length: w.byteLength }, rows, mid, inner, 4, false), /short\.bin/);
      // a file changed since the model was loaded (its stamp): an error naming it, whichever thread
      // reads first; the others stop, and the workers serve the next weight
      const first = await parallelBlockedNorms({ file, offset: 0, length: w.byteLength }, rows, mid, inner, 2, true);
      stampFile(file, fs.statSync(file));
      const later = new Date(fs.statSync(file).mtimeMs + 5000);
      fs.utimesSync(file, later, later);
      await assert.rejects(
        parallelBlockedNorms({ file, offset: 0, length: w.byteLength }, rows, mid, inner, 2, true),
        (e: Error) => e instanceof PrunerError && e.message.includes('changed while the model was in use') && e.message.includes(file),
      );
      stampFile(file, fs.statSync(file));
      assert.deepEqual(await parallelBlockedNorms({ file, offset: 0, length: w.byteLength }, rows, mid, inner, 2, true), first);
    } finally {
      Object.assign(parallelNorms, saved);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('statistics', () => {
  test('quartiles, counts below thresholds and histogram on a known array', () => {
    const v = [0, 0.0005, 0.005, 0.04, 0.1, 0.2, 0.3, 0.4, 1];
    const s = scoreStats(v, { edges: [0, 0.25, 0.5, 0.75, 1] });
    assert.equal(s.count, 9);
    assert.equal(s.min, 0);
    assert.equal(s.max, 1);
    assert.equal(s.median, 0.1);
    assert.ok(Math.abs(s.q1 - 0.005) < 1e-12);
    assert.ok(Math.abs(s.q3 - 0.3) < 1e-12);
    assert.ok(Math.abs(s.mean - 2.0455 / 9) < 1e-12);
    assert.deepEqual(s.below, { '1e-3': 2, '1e-2': 3, '5e-2': 4 });
    assert.deepEqual(s.histogram, { edges: [0, 0.25, 0.5, 0.75, 1], counts: [6, 2, 0, 1] });
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
  });

  test('quartiles equal the sorted-order quantiles (sizes 0 to 40, duplicates, ties, a NaN)', () => {
    const rand = prng(17);
    for (let n = 0; n <= 40; n++)
      for (const kind of ['random', 'few values', 'sorted', 'reversed']) {
        let v = Array.from({ length: n }, () => (kind === 'few values' ? Math.floor(rand() * 3) / 10 : rand()));
        if (kind === 'sorted') v.sort((a, b) => a - b);
        if (kind === 'reversed') v = v.sort((a, b) => b - a);
        const s = scoreStats(Float32Array.from(v));
        const f32 = Float64Array.from(Float32Array.from(v)).sort();
        for (const [key, q] of [['q1', 0.25], ['median', 0.5], ['q3', 0.75]] as const) {
          const want = quantile(f32, q);
          assert.ok(Object.is(s[key], want), `${kind} n=${n} ${key}: ${s[key]} against ${want}`);
        }
        assert.equal(s.min, n ? f32[0] : NaN);
        assert.equal(s.max, n ? f32[n - 1] : NaN);
      }
    const withNaN = scoreStats([0.3, NaN, 0.1, 0.2]);
    assert.equal(withNaN.min, 0.1);
    assert.ok(Number.isNaN(withNaN.max), 'NaN sorts last, as before');
  });

  test('histograms over evenly spaced edges count like the search over the edges (values on edges, off the ends, NaN)', () => {
    const rand = prng(23);
    const bySearch = (values: number[], edges: number[]) => {
      const counts = new Array<number>(edges.length - 1).fill(0);
      for (const v of values) {
        let b = 0;
        for (let i = 1; i < edges.length - 1; i++) if (edges[i] <= v) b = i;
        counts[b]++;
      }
      return counts;
    };
    for (const [lo, hi, bins] of [[0, 1, 20], [0, 0.37, 20], [2, 2, 2], [0, 3e-5, 7], [-1, 5, 3]] as const) {
      const edges = linearEdges(lo, hi, bins);
      const values = [...Array.from({ length: 500 }, () => lo - 0.1 + rand() * (edges[edges.length - 1] - lo + 0.2)), ...edges, NaN, -Infinity, Infinity];
      assert.deepEqual(histogram(values, edges).counts, bySearch(values, edges), `${lo}..${hi} in ${bins}`);
    }
  });

  test('histogram edges: linear, log10, out-of-range values land in the end bins', () => {
    assert.deepEqual(linearEdges(0, 1, 4), [0, 0.25, 0.5, 0.75, 1]);
    assert.deepEqual(linearEdges(2, 2, 2), [2, 2.5, 3]);
    const le = logEdges(-2, 0, 1);
    assert.deepEqual(le, [0.01, 0.1, 1]);
    assert.deepEqual(histogram([0, 0.005, 0.05, 0.5, 1, 7], le).counts, [3, 3]);
    const s = scoreStats([0.00001, 0.02, 0.5], { logEdges: logEdges(-4, 0, 2) });
    assert.equal(s.logHistogram!.edges.length, 9);
    assert.deepEqual(s.logHistogram!.counts, [1, 0, 0, 0, 1, 0, 0, 1]);
  });

  test('per-layer and model statistics share the model edges; JSON round trip; channel rows with ranks', async () => {
    const dir = tempDir();
    const { graph, deps } = smallModel(dir);
    const imp = await computeImportance(graph, deps);
    const st = importanceStats(imp, { bins: 4 });
    const back = JSON.parse(JSON.stringify(st));
    assert.deepEqual(back, st, 'plain JSON');
    assert.equal(st.model.l1!.count, 3 + 2 + 4);
    assert.equal(st.model['bn-gamma']!.count, 3);
    assert.ok(st.model['bn-gamma']!.logHistogram);
    const a = st.layers.find((l) => l.name === 'A')!;
    assert.deepEqual(a.criteria.l1!.histogram.edges, st.model.l1!.histogram.edges);
    assert.equal(a.criteria.l1!.histogram.counts.reduce((x, y) => x + y, 0), 3);
    // γ 0.01 stored as float32 is 0.0099999998 < 1e-2
    assert.deepEqual(a.criteria['bn-gamma']!.below, { '1e-3': 0, '1e-2': 1, '5e-2': 1 });
    const rows = layerChannelScores(imp, 'A')!;
    assert.equal(rows.rows.length, 3);
    assert.ok(Math.abs(rows.rows[1]['bn-gamma']! - 0.01) < 1e-7);
    assert.deepEqual(rows.rows.map((r) => r.rank['bn-gamma']), [1, 0, 2]);
    assert.deepEqual(rows.rows.map((r) => r.rank.l1), [1, 2, 0]);
    assert.equal(layerChannelScores(imp, 'nope'), undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

/** Indices of the top floor(n/2) scores, sorted ascending. */
function topHalf(s: Float32Array): number[] {
  const k = Math.floor(s.length * (1 - 0.5));
  return Array.from({ length: s.length }, (_, i) => i)
    .sort((a, b) => s[b] - s[a] || a - b)
    .slice(0, k)
    .sort((a, b) => a - b);
}

function reference(arch: string, imp: string): { kept_out_channel_indices: Record<string, number[]> } {
  return JSON.parse(fs.readFileSync(shared(`reference/torch-pruning/${arch}__${imp}__uniform.json`), 'utf8'));
}

describe('per-layer choice equals Torch-Pruning on uncoupled convs', { skip: skipWithoutShared }, () => {
  const none: DependencyAnalysis = { groups: [], groupOfLayer: new Map() };
  const load = async (file: string): Promise<ModelImportance> => computeImportance(new Graph(loadModel(shared(file))), none);

  test('resnet18: every block conv1 (uncoupled): top 50% by |γ| and by filter L1', async () => {
    const imp = await load('synthetic/resnet18_bn.onnx');
    const bnscale = reference('resnet18', 'bnscale').kept_out_channel_indices;
    const l1first = reference('resnet18', 'l1_first').kept_out_channel_indices;
    let checked = 0;
    for (const l of imp.layers.values()) {
      const mod = moduleName(l.name);
      if (!/^layer\d\.\d\.conv1$/.test(mod)) continue;
      assert.deepEqual(topHalf(l.scores['bn-gamma']!), bnscale[mod], `${mod} bn-gamma`);
      assert.deepEqual(topHalf(l.scores.l1!), l1first[mod], `${mod} l1`);
      checked++;
    }
    assert.equal(checked, 8);
  });

  test('mobilenet_v2: the uncoupled 1x1 convs (features.1.conv.1, features.17.conv.2, features.18.0): top 50% by |γ| and by filter L1', async () => {
    const imp = await load('synthetic/mobilenet_v2_bn.onnx');
    const l1first = reference('mobilenet_v2', 'l1_first').kept_out_channel_indices;
    const bnscale = reference('mobilenet_v2', 'bnscale').kept_out_channel_indices;
    let checked = 0;
    for (const l of imp.layers.values()) {
      const mod = moduleName(l.name);
      if (!['features.1.conv.1', 'features.17.conv.2', 'features.18.0'].includes(mod)) continue;
      assert.deepEqual(topHalf(l.scores['bn-gamma']!), bnscale[mod], `${mod} bn-gamma`);
      assert.deepEqual(topHalf(l.scores.l1!), l1first[mod], `${mod} l1`);
      checked++;
    }
    assert.equal(checked, 3);
  });
});

/** float32 -> IEEE half (round to nearest even), for test data. */
function toHalf(v: number): number {
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  let mant = u & 0x7fffff;
  if (exp <= 0) return sign;
  if (exp >= 31) return sign | 0x7c00;
  const round = mant & 0x1fff;
  mant >>>= 13;
  let h = sign | (exp << 10) | mant;
  if (round > 0x1000 || (round === 0x1000 && (h & 1))) h++;
  return h;
}
