// Input sizes for models whose inputs are symbolic ([N, 3, H, W], or [1, 3, ?, ?] with sizes that
// have no name): the engine analyses a model at given whole input shapes (shapes, MACs, groups,
// previews, the prune report and validation's random inputs), the worker re-analyses an open model
// at new sizes without reading its file again, and the figures equal the CLI's `inspect --dim` and
// those of the same network exported with a fixed size.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { AnalysedModel, computeCost, Graph, loadModel, PrunerError, type ModelReader } from '../../src/engine/index.ts';
import { parseInputShapes, VIEW_VALIDATORS } from '../../src/shared/protocol.ts';
import type { HandlerContext } from '../../src/shared/rpc.ts';
import { workerHandlers } from '../../src/worker/handlers.ts';
import { proposeInputShapes, sizeHint } from '../../src/worker/modelService.ts';
import { ModelBuilder } from '../helpers/modelBuilder.ts';
import { runFirstOutput } from '../helpers/ort.ts';
import { repoRoot, shared, skipWithoutShared, tempDir } from '../helpers/paths.ts';

const ctx = (): HandlerContext => ({ signal: new AbortController().signal, progress: () => {} });

/** A small CNN on an input of the given shape (same weights whatever the shape: same seed). */
function cnn(file: string, shape: (number | string)[]): string {
  const b = new ModelBuilder({ seed: 3 });
  let x = b.input('x', shape);
  x = b.relu(b.bn(b.conv(x, 3, 16, { k: 3, pad: 1, name: 'c1' }), 16));
  x = b.relu(b.bn(b.conv(x, 16, 32, { k: 3, stride: 2, pad: 1, name: 'c2' }), 32));
  x = b.relu(b.bn(b.conv(x, 32, 32, { k: 3, pad: 1, name: 'c3' }), 32));
  b.output(b.gemm(b.flatten(b.gap(x)), 32, 10, 'fc'));
  return b.save(file);
}

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'main.ts'), ...args], { cwd: repoRoot, encoding: 'utf8' });
}

describe('input sizes of symbolic inputs', () => {
  const dir = tempDir();
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const named = cnn(path.join(dir, 'named.onnx'), ['N', 3, 'H', 'W']);
  const unnamed = cnn(path.join(dir, 'unnamed.onnx'), [1, 3, '?', '?']);
  const fixed = cnn(path.join(dir, 'fixed.onnx'), [1, 3, 40, 56]);

  test('MACs at a given whole shape equal the fixed-size model\'s and --dim\'s; without a size they are not', () => {
    const want = computeCost(new Graph(loadModel(fixed))).macs;
    const g = new Graph(loadModel(named));
    assert.equal(computeCost(g, { inputShapes: { x: [1, 3, 40, 56] } }).macs, want);
    assert.equal(computeCost(g, { dims: { N: 1, H: 40, W: 56 } }).macs, want);
    const gu = new Graph(loadModel(unnamed));
    const at = computeCost(gu, { inputShapes: { x: [1, 3, 40, 56] } });
    assert.equal(at.macs, want, 'sizes without a name are given by the whole shape');
    assert.equal(at.symbolicBatch, false);
    assert.ok(computeCost(gu).macs < want / 100, 'without a size, H and W count as 1');
    // a batch of 2 doubles the MACs
    assert.equal(computeCost(g, { inputShapes: { x: [2, 3, 40, 56] } }).macs, 2 * want);
  });

  test('CLI: inspect --shape gives sizes without a name; a shape that does not fit is one line naming the input, exit 1', () => {
    const want = computeCost(new Graph(loadModel(fixed))).macs;
    const r = cli('inspect', unnamed, '--shape', 'x=1x3x40x56', '--json');
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { macs: number; macsComplete: boolean; inputs: { shape: unknown[] }[] };
    assert.equal(j.macs, want);
    const bad = cli('inspect', unnamed, '--shape', 'x=1x4x40x56');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /unnamed\.onnx: input x is \[1, 3, \?, \?\]: axis 1 is fixed at 3, not 4/);
  });

  test('AnalysedModel: shapes, cost and summary follow the sizes; shapes that do not fit are refused naming the input', () => {
    const a = AnalysedModel.load(unnamed, { inputShapes: { x: [1, 3, 40, 56] } });
    assert.deepEqual(a.summary().layers.find((l) => l.name === 'c2')!.outputShape, [1, 32, 20, 28]);
    assert.equal(a.cost().macs, computeCost(new Graph(loadModel(fixed))).macs);
    const again = a.withInputShapes({ x: [1, 3, 80, 112] });
    assert.equal(again.model, a.model, 'the same model, not read again');
    assert.equal(again.cost().macs > 3.9 * a.cost().macs, true);
    assert.throws(() => AnalysedModel.load(unnamed, { inputShapes: { x: [1, 3, 40] } }), (e: unknown) => e instanceof PrunerError && /input x is \[1, 3, \?, \?\] \(rank 4\)/.test(e.message));
    assert.throws(() => AnalysedModel.load(unnamed, { inputShapes: { x: [1, 4, 40, 56] } }), (e: unknown) => e instanceof PrunerError && /axis 1 is fixed at 3, not 4/.test(e.message));
    assert.throws(() => AnalysedModel.load(unnamed, { inputShapes: { y: [1, 3, 40, 56] } }), (e: unknown) => e instanceof PrunerError && /no input named y/.test(e.message));
  });

  test('the view\'s sizes are validated: positive whole numbers within bounds, own keys only', () => {
    assert.deepEqual(VIEW_VALIDATORS.setInputShapes({ inputShapes: { x: [1, 3, 224, 224] } }), { inputShapes: { x: [1, 3, 224, 224] } });
    assert.deepEqual(VIEW_VALIDATORS.setInputShapes({ inputShapes: {} }), { inputShapes: {} });
    for (const bad of [[1, 3, 0, 224], [1, 3, 2.5, 224], [1, 3, -1, 4], [1, 3, 1e9, 1], [1, 3, Number.NaN, 1], ['1', 3], [16384, 16384, 16384]]) {
      assert.equal(VIEW_VALIDATORS.setInputShapes({ inputShapes: { x: bad } }), undefined, JSON.stringify(bad));
    }
    assert.equal(VIEW_VALIDATORS.setInputShapes({ inputShapes: [[1, 2]] }), undefined);
    const proto = parseInputShapes(JSON.parse('{"__proto__": [1, 2]}'));
    assert.ok(proto && Object.hasOwn(proto, '__proto__') && Object.getPrototypeOf(proto) === Object.prototype, 'a key named __proto__ stays a key');
  });

  test('proposed sizes: the metadata hint, else 224×224; batch 1; an NHWC image input keeps its channels last', () => {
    assert.deepEqual(proposeInputShapes([{ name: 'x', shape: ['N', 3, 'H', 'W'] }]), { x: [1, 3, 224, 224] });
    assert.deepEqual(proposeInputShapes([{ name: 'x', shape: [1, 3, '?', '?'] }], new Map([['imgsz', '[640, 480]']])), { x: [1, 3, 640, 480] });
    assert.deepEqual(proposeInputShapes([{ name: 'x', shape: ['N', '?', '?', 3] }]), { x: [1, 224, 224, 3] });
    assert.equal(proposeInputShapes([{ name: 'x', shape: ['N', 3, 224, 224] }]), undefined, 'only a symbolic batch: nothing to ask');
    assert.deepEqual(sizeHint(new Map([['input_size', '320']])), [320, 320]);
    assert.equal(sizeHint(new Map([['author', '1234']])), undefined);
  });

  test('worker: open at a size, re-analyse at another without reading the file again; preview, prune and validation use the size', async () => {
    const model = path.join(dir, 'w.onnx');
    fs.copyFileSync(named, model);
    const reads: string[] = [];
    const reader: ModelReader = (file) => {
      reads.push(file);
      return loadModel(file);
    };
    const h = workerHandlers({ reader });
    const plain = await h.open({ path: model }, ctx());
    assert.deepEqual(plain.inputShapes, {});
    assert.deepEqual(plain.proposedShapes, { x: [1, 3, 224, 224] });
    assert.deepEqual(plain.inputs[0]!.shape, ['N', 3, 'H', 'W'], 'the inputs as the file declares them');

    const at = await h.open({ path: model, inputShapes: { x: [1, 3, 40, 56] } }, ctx());
    assert.deepEqual(at.inputShapes, { x: [1, 3, 40, 56] });
    assert.equal(at.macs, computeCost(new Graph(loadModel(fixed))).macs);
    assert.equal(at.scored, false, 'analysed again: to be scored again');
    assert.equal(reads.length, 1, 'the file was read once');
    // the MACs the CLI gives for the same size
    const r = cli('inspect', model, '--dim', 'N=1', 'H=40', 'W=56', '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { macs: number }).macs, at.macs);

    // sizes that do not fit change nothing
    await assert.rejects(async () => h.open({ path: model, inputShapes: { x: [1, 4, 40, 56] } }, ctx()), /axis 1 is fixed at 3, not 4/);
    assert.equal((await h.open({ path: model }, ctx())).macs, at.macs, 'still at 40×56');

    await h.score({ path: model }, ctx());
    const rows = await h.getLayers({ path: model, query: { offset: 0, limit: 100 } }, ctx());
    assert.equal(rows.rows.find((l) => l.name === 'c1')!.macs, 40 * 56 * 16 * 27 + 40 * 56 * 16, 'c1 at 40×56 (weights and bias)');
    const plan = { criterion: 'l1' as const, ratio: 0.5, scope: 'uniform' as const, compensate: true };
    const pv = await h.previewPlan({ path: model, plan }, ctx());
    assert.equal(pv.macs.before, at.macs);
    assert.equal(pv.macs.complete, undefined, 'at a given size the MACs are those of a real input');
    const report = await h.prune({ path: model, plan, out: path.join(dir, 'w.pruned.onnx'), validate: true, ep: 'cpu' }, ctx());
    assert.equal(reads.length, 1, 'the prune used the held model');
    assert.equal(report.macs.before, at.macs);
    assert.equal(report.macs.after, pv.macs.after, 'the written model\'s MACs at the size equal the preview\'s');
    assert.equal(report.macs.complete, undefined);
    assert.ok(!report.warnings.some((w) => /real input/.test(w)), report.warnings.join('\n'));
    assert.deepEqual(report.validation!.inputs.map((i) => i.dims), [[1, 3, 40, 56]], 'validation ran on inputs of the size given');
    // the written model still takes any size (the size is not written into it) and runs in ONNX Runtime
    const out = await runFirstOutput(report.output, new Float32Array(1 * 3 * 24 * 32).fill(0.5), [1, 3, 24, 32]);
    assert.deepEqual(out.dims, [1, 10]);
    const v = await h.validate({ original: model, pruned: report.output, ep: 'cpu', inputShapes: { x: [2, 3, 16, 16] } }, ctx());
    assert.deepEqual(v.inputs.map((i) => i.dims), [[2, 3, 16, 16]]);

    // forgetting the sizes: back to the symbolic analysis
    const back = await h.open({ path: model, inputShapes: {} }, ctx());
    assert.equal(back.macs, plain.macs);
    assert.equal(reads.length, 1);
    // and the preview and the report say their MACs are not those of a real input, naming the sizes
    assert.equal((await h.previewPlan({ path: model, plan }, ctx())).macs.complete, false);
    const unsized = await h.prune({ path: model, plan, out: path.join(dir, 'w.unsized.onnx'), validate: false, ep: 'cpu' }, ctx());
    assert.equal(unsized.macs.complete, false);
    assert.ok(unsized.warnings.some((w) => /^MACs are not those of a real input: the input sizes x axis 2 \(H\), x axis 3 \(W\) are not fixed by the model/.test(w)), unsized.warnings.join('\n'));
  });

  test('CLI: prune --shape / --dim analyses at that size (report MACs equal inspect --shape of the pruned file), writes a model that still takes any size', async () => {
    const out = path.join(dir, 'cli.pruned.onnx');
    const r = cli('prune', named, '--criterion', 'l1', '--ratio', '0.5', '--shape', 'x=1x3x40x56', '--validate', '--ep', 'cpu', '--out', out, '--json');
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { macs: { before: number; after: number }; validation: { inputs: { dims: number[] }[] } };
    const inspectAt = (file: string, ...size: string[]) => {
      const x = cli('inspect', file, ...size, '--json');
      assert.equal(x.status, 0, x.stderr);
      return JSON.parse(x.stdout) as { macs: number; inputs: { shape: unknown[] }[] };
    };
    assert.equal(report.macs.before, inspectAt(named, '--shape', 'x=1x3x40x56').macs);
    assert.equal(report.macs.after, inspectAt(out, '--shape', 'x=1x3x40x56').macs, 'the report\'s MACs are the written model\'s at 40×56');
    assert.ok(report.macs.after < report.macs.before);
    assert.deepEqual(report.validation.inputs.map((i) => i.dims), [[1, 3, 40, 56]], '--validate\'s random inputs have the size given');
    // the written model keeps its symbolic sizes and runs at two sizes
    assert.deepEqual(inspectAt(out).inputs[0]!.shape, ['N', 3, 'H', 'W']);
    for (const [h, w] of [[40, 56], [24, 32]] as const) {
      const y = await runFirstOutput(out, new Float32Array(3 * h * w).fill(0.25), [1, 3, h, w]);
      assert.deepEqual(y.dims, [1, 10], `runs at ${h}×${w}`);
    }
    // validate takes the same flags (shared parsing): its random inputs have the size given
    for (const [flags, dims] of [[['--shape', 'x=2x3x40x56'], [2, 3, 40, 56]], [['--dim', 'H=24', 'W=32'], [1, 3, 24, 32]]] as const) {
      const v = cli('validate', named, out, ...flags, '--ep', 'cpu', '--runs', '1', '--warmup', '0', '--json');
      assert.equal(v.status, 0, v.stderr);
      const vr = JSON.parse(v.stdout) as { inputs: { dims: number[] }[]; notes?: string[] };
      assert.deepEqual(vr.inputs.map((i) => i.dims), [dims], flags.join(' '));
      assert.equal(vr.notes, undefined, 'sizes given: nothing to note');
    }
    // without sizes the random inputs are 1×1 images: validated, with a note naming the sizes
    const bare = cli('validate', named, out, '--ep', 'cpu', '--runs', '1', '--warmup', '0', '--json');
    assert.equal(bare.status, 0, bare.stderr);
    const br = JSON.parse(bare.stdout) as { inputs: { dims: number[] }[]; notes?: string[] };
    assert.deepEqual(br.inputs.map((i) => i.dims), [[1, 3, 1, 1]]);
    assert.deepEqual(br.notes, ['the inputs fed are not a real input: x axis 2 (H), x axis 3 (W) are not fixed by the model and no size was given, so 1 was used; give the input sizes']);
    // --dim by name gives the same figures; without a size the MACs count H and W as 1
    const byDim = cli('prune', named, '--criterion', 'l1', '--ratio', '0.5', '--dim', 'H=40', 'W=56', '--dry-run', '--json');
    assert.equal(byDim.status, 0, byDim.stderr);
    const pv = (JSON.parse(byDim.stdout) as { preview: { macs: { before: number; after: number } } }).preview;
    assert.deepEqual(pv.macs, report.macs);
    const plain = cli('prune', named, '--criterion', 'l1', '--ratio', '0.5', '--dry-run', '--json');
    assert.equal(plain.status, 0, plain.stderr);
    const unsized = JSON.parse(plain.stdout) as { preview: { macs: { before: number; complete?: boolean } }; warnings: string[] };
    assert.ok(unsized.preview.macs.before < report.macs.before / 100);
    // ... and say so: in the JSON, and on the MACs line of the text with the flags that fix it
    assert.equal(unsized.preview.macs.complete, false);
    assert.ok(unsized.warnings.some((w) => /MACs are not those of a real input: .*x axis 2 \(H\), x axis 3 \(W\)/.test(w)), unsized.warnings.join('\n'));
    assert.equal((report.macs as { complete?: boolean }).complete, undefined, 'at --shape the MACs are a real input\'s');
    const text = cli('prune', named, '--criterion', 'l1', '--ratio', '0.5', '--dry-run');
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /MACs .*not for a real input: give its sizes with --dim or --shape/);
  });

  test('CLI: prune sizes that do not fit, or leave a size out, are one line naming the input or the size, exit 1, nothing written', () => {
    const before = fs.readdirSync(dir).length;
    const cases: [string[], RegExp][] = [
      [[named, '--dim', 'H=40'], /named\.onnx: input x is \[N, 3, H, W\]: no size for W; give it by name or the whole shape of x/],
      [[named, '--dim', 'Q=4'], /no input has a size named Q \(symbolic sizes: N, H, W\)/],
      [[unnamed, '--dim', 'N=1', 'H=4'], /no input has a size named N, H/],
      [[unnamed, '--shape', 'x=1x4x40x56'], /unnamed\.onnx: input x is \[1, 3, \?, \?\]: axis 1 is fixed at 3, not 4/],
      [[named, '--shape', 'x=1x3x40'], /--shape|rank 4/],
    ];
    for (const [args, want] of cases) {
      const r = cli('prune', ...args, '--criterion', 'l1', '--ratio', '0.5');
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, want);
      assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('onnx-pruner:')).length, 1);
    }
    assert.equal(fs.readdirSync(dir).length, before, 'nothing written');
  });

  test('PaddleOCR\'s classifier ([N, 3, H, W] with generated names): MACs at 48×192 in the worker equal inspect --dim\'s; without a size they are incomplete', { skip: skipWithoutShared }, async () => {
    const model = shared('real/ppocr/ch_ppocr_mobile_v2.0_cls_infer.onnx');
    const h = workerHandlers();
    const plain = await h.open({ path: model }, ctx());
    assert.equal(plain.macsComplete, false, 'the symbolic height and width leave some layers\' MACs unknown');
    assert.deepEqual(plain.proposedShapes, { x: [1, 3, 224, 224] });
    const at = await h.open({ path: model, inputShapes: { x: [1, 3, 48, 192] } }, ctx());
    assert.equal(at.macsComplete, true);
    const r = cli('inspect', model, '--dim', 'p2o.DynamicDimension.0=1', 'p2o.DynamicDimension.1=48', 'p2o.DynamicDimension.2=192', '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(at.macs, (JSON.parse(r.stdout) as { macs: number }).macs);
    assert.ok(at.macs > 100 * plain.macs);
    await h.close({ path: model }, ctx());
  });
});
