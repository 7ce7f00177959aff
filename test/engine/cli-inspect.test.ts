// `onnx-pruner inspect` end to end (a child process, as a user runs it), the summary object,
// and the number formatting it uses.
import * as view from '../../src/webview/format.ts';
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { allSharedModels, fmnistBn, fmnistFused, repoRoot, shared, skipWithoutShared, tempDir } from '../helpers/paths.ts';
import { ModelBuilder } from '../helpers/modelBuilder.ts';
import { loadModel } from '../../src/engine/onnx/model.ts';
import { summarizeModel, BN_FUSED_ADVICE } from '../../src/engine/graph/summary.ts';
import { CancelledError } from '../../src/engine/errors.ts';
import { Graph } from '../../src/engine/graph/graph.ts';
import { analyzeDependencies } from '../../src/engine/analysis/groups.ts';
import { REEXPORT_ADVICE } from '../../src/engine/analysis/importance.ts';
import { formatBytes, formatCount, formatSI, formatShape, formatTable } from '../../src/cli/format.ts';

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'main.ts'), ...args], { cwd: repoRoot, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('output to a closed pipe', () => {
  test('inspect --json into a reader that stops after its first bytes exits 0, without an unhandled EPIPE', () => {
    // 80 layers: a JSON report well over a pipe's 64 KiB buffer, so the CLI is still writing when the reader has gone
    const model = new ModelBuilder({ seed: 5 });
    let y = model.relu(model.bn(model.conv(model.input('x', [1, 3, 8, 8]), 3, 8), 8));
    for (let i = 1; i < 80; i++) y = model.relu(model.bn(model.conv(y, 8, 8), 8));
    model.output(y, [1, 8, 8, 8]);
    const dir = tempDir('cli-epipe-');
    const file = model.save(path.join(dir, 'm.onnx'));
    const main = path.join(repoRoot, 'src', 'cli', 'main.ts');
    // the shell's `head -c 1` closes the pipe after one byte; the CLI's exit code is reported by PIPESTATUS
    const r = spawnSync('bash', ['-c', `"${process.execPath}" --import tsx "${main}" inspect "${file}" --json | head -c 1 > /dev/null; echo "cli exit \${PIPESTATUS[0]}" >&2`], { cwd: repoRoot, encoding: 'utf8' });
    assert.match(r.stderr, /cli exit 0/, r.stderr);
    assert.doesNotMatch(r.stderr, /EPIPE|Unhandled/, r.stderr);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('number formatting', () => {
  test('counts, SI units, bytes, shapes', () => {
    assert.equal(formatCount(11689512), '11,689,512');
    assert.equal(formatCount(999), '999');
    assert.equal(formatCount(-1234), '-1,234');
    assert.equal(formatSI(1822177768), '1.82 G');
    assert.equal(formatSI(95882), '95.9 k');
    assert.equal(formatSI(320300008), '320 M');
    assert.equal(formatSI(512), '512');
    assert.equal(formatBytes(46814498), '44.6 MiB');
    assert.equal(formatBytes(100), '100 B');
    assert.equal(formatShape(['N', 3, 224, 224]), 'N×3×224×224');
    assert.equal(formatShape([]), 'scalar');
  });

  test('one convention for the CLI and the view: the view formats the same numbers the same way', () => {
    assert.equal(view.int(11689512), formatCount(11689512));
    assert.equal(view.si(1822177768), formatSI(1822177768));
    assert.equal(view.bytes(46814498), formatBytes(46814498));
    assert.equal(view.bytes(1536), '1.50 KiB');
    assert.equal(view.change(200, 100), '-50.0%');
    assert.equal(view.change(100, 103), '+3.0%');
    assert.equal(view.change(100, 100), '±0%');
    assert.equal(view.change(0, 5), '');
    assert.equal(view.pct(0.4213), '42.1%');
    assert.equal(view.ms(0.844), '0.84 ms');
    assert.equal(view.ms(1240), '1.24 s');
  });

  test('tables align columns, numbers to the right', () => {
    const lines = formatTable([{ header: 'name' }, { header: 'n', align: 'right' }], [['a', '1'], ['long', '1,000']]);
    assert.deepEqual(lines, ['name      n', '----  -----', 'a         1', 'long  1,000']);
  });
});

describe('summarizeModel', () => {
  test('the sample: parameters, BN, layers; JSON round trip', () => {
    const s = summarizeModel(loadModel(fmnistBn));
    assert.equal(s.params, 95882);
    assert.equal(s.bnCount, 7);
    assert.equal(s.bnFused, false);
    assert.deepEqual(s.advice, []);
    assert.equal(s.batchAssumed, true);
    assert.equal(s.macsComplete, true);
    assert.deepEqual(s.inputs, [{ name: 'input', elemType: 'float32', shape: ['N', 1, 28, 28] }]);
    assert.deepEqual(s.outputs.map((o) => o.shape), [['N', 10]]);
    assert.equal(s.weightedLayers, s.layers.length);
    assert.equal(s.opsets['ai.onnx'], 13);
    assert.equal(s.opCounts.Conv, 7);
    assert.ok(s.sizeOnDisk > 300_000);
    assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
  });

  test('a fused export is flagged with the re-export advice', () => {
    const s = summarizeModel(loadModel(fmnistFused));
    assert.equal(s.bnFused, true);
    assert.deepEqual(s.advice, [BN_FUSED_ADVICE]);
    assert.match(s.advice[0], /TrainingMode\.PRESERVE/);
  });

  test('binding the batch gives batchAssumed false and scales the MACs', () => {
    const one = summarizeModel(loadModel(fmnistBn));
    const eight = summarizeModel(loadModel(fmnistBn), undefined, { dims: { N: 8 } });
    assert.equal(eight.batchAssumed, false);
    assert.equal(eight.macs, 8 * one.macs);
    assert.deepEqual(eight.inputs[0].shape, [8, 1, 28, 28]);
  });

  test('an aborted signal stops it', () => {
    const ac = new AbortController();
    ac.abort();
    assert.throws(() => summarizeModel(loadModel(fmnistBn), undefined, { signal: ac.signal }), CancelledError);
  });
});

describe('onnx-pruner inspect', () => {
  test('--json prints the summary', () => {
    const r = cli('inspect', fmnistBn, '--json');
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.params, 95882);
    assert.equal(typeof s.macs, 'number');
    assert.ok(s.macs > 1e6);
    assert.equal(s.layers.length, 8);
    for (const l of s.layers) {
      assert.equal(typeof l.name, 'string');
      assert.ok(['Conv', 'Gemm'].includes(l.op));
      assert.ok(l.params > 0 && l.macs > 0);
    }
    // the layers' weights and biases plus γ and β of the 416 BN channels make up the total
    assert.equal(s.layers.reduce((a: number, l: { params: number }) => a + l.params, 0) + 2 * 416, s.params);
  });

  test('human output: header and one aligned row per weighted layer', () => {
    const r = cli('inspect', fmnistBn);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /parameters\s+95,882 \(95\.9 k\)/);
    assert.match(r.stdout, /MACs\s+[\d,]+ \([\d.]+ M\) at batch 1/);
    assert.match(r.stdout, /inputs\s+input\s+float32\s+N×1×28×28/);
    const s = summarizeModel(loadModel(fmnistBn));
    const lines = r.stdout.split('\n');
    const header = lines.findIndex((l) => /^layer\s+op\s+weight\s+group\s+input\s+output\s+params\s+MACs\s+γ median\s+γ<1e-2\s+L1 median\s+BN/.test(l));
    assert.ok(header > 0, r.stdout);
    const end = lines.indexOf('', header);
    const rows = lines.slice(header + 2, end);
    assert.equal(rows.length, s.layers.length);
    rows.forEach((row, i) => {
      const l = s.layers[i];
      assert.ok(row.startsWith(l.name), row);
      assert.ok(row.includes(formatShape(l.weightShape)) && row.includes(formatCount(l.params)), row);
      if (l.bn) assert.ok(row.trimEnd().endsWith(l.bn), row);
    });
  });

  test('a fused model prints the re-export advice', () => {
    const r = cli('inspect', fmnistFused);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /advice: .*TrainingMode\.PRESERVE/);
  });

  test('a missing file: exit 1, one line on stderr naming it, no stack trace', () => {
    const r = cli('inspect', 'no/such/model.onnx');
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /model\.onnx/);
    assert.doesNotMatch(r.stderr, /\bat .*\.ts:\d+/);
  });

  test('a file that is not ONNX: exit 1, one line', () => {
    const dir = tempDir();
    const bad = path.join(dir, 'bad.onnx');
    fs.writeFileSync(bad, 'this is not a protobuf \xff\xff\xff');
    const r = cli('inspect', bad);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /bad\.onnx/);
  });

  test('a bad --dim: exit 1 with the expected form', () => {
    const r = cli('inspect', fmnistBn, '--dim', 'N');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /NAME=SIZE/);
  });

  test('a hand-built model with an unknown operator still inspects', () => {
    const b = new ModelBuilder();
    const x = b.input('x', [1, 3, 8, 8]);
    b.output(b.conv(b.node('MysteryOp', [x]), 3, 4, { name: 'after' }));
    const file = b.save(path.join(tempDir(), 'mystery.onnx'));
    const r = cli('inspect', file, '--json');
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.deepEqual(s.unsupportedOps, ['MysteryOp']);
    assert.equal(s.layers[0].name, 'after');
    assert.equal(s.layers[0].params, 4 * 27 + 4);
    assert.ok(s.notes.some((n: string) => /unknown/.test(n)));
    assert.equal(s.macsComplete, false);
    assert.match(cli('inspect', file).stdout, /MACs .* incomplete \(see the notes\)/);
  });

  test('a run loads only what its command needs: inspect loads no ONNX Runtime (unless FPGM asks for it), no image decoders, no other command', () => {
    // 256 filters of 64 weights: FPGM's Gram product is large enough to run in ONNX Runtime
    const b = new ModelBuilder();
    const x = b.input('x', [1, 64, 4, 4]);
    b.output(b.conv(x, 64, 256, { k: 1, name: 'wide' }));
    const dir = tempDir();
    const file = b.save(path.join(dir, 'wide.onnx'));
    // every module file the run loaded, written when it exits
    const hook = path.join(dir, 'loaded.cjs');
    fs.writeFileSync(hook, "process.on('exit', () => require('fs').writeFileSync(process.env.LOADED_OUT, Object.keys(require.cache).join('\\n')));\n");
    const loaded = (...args: string[]) => {
      const out = path.join(dir, 'loaded.txt');
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--require', hook, path.join(repoRoot, 'src', 'cli', 'main.ts'), ...args], { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, LOADED_OUT: out } });
      assert.equal(r.status, 0, r.stderr);
      return { files: fs.readFileSync(out, 'utf8').split('\n'), stdout: r.stdout };
    };
    const plain = loaded('inspect', file, '--json');
    assert.equal(JSON.parse(plain.stdout).layers[0].name, 'wide');
    assert.ok(plain.files.some((f) => f.endsWith(path.join('src', 'cli', 'inspect.ts'))), 'the hook sees the source modules');
    for (const f of plain.files) {
      assert.doesNotMatch(f, /onnxruntime-(node|common)/, 'inspect without FPGM loads no ONNX Runtime');
      assert.doesNotMatch(f, /node_modules[\\/](pngjs|jpeg-js|fflate)[\\/]/, 'nor the image and archive decoders');
      assert.doesNotMatch(f, /src[\\/]cli[\\/](prune|validate|scan|target)\.ts$/, 'nor the other commands');
    }
    const fpgm = loaded('inspect', file, '--json', '--criterion', 'fpgm');
    assert.equal(JSON.parse(fpgm.stdout).importance.layers[0].criteria.fpgm.count, 256);
    assert.ok(fpgm.files.some((f) => /onnxruntime-node/.test(f)), 'FPGM of a wide layer runs in ONNX Runtime');
    // --version needs no command at all; --help lists every command
    const version = loaded('--version');
    assert.equal(version.stdout.trim(), '0.1.0');
    assert.ok(!version.files.some((f) => /src[\\/]cli[\\/](inspect|prune|validate|scan)\.ts$/.test(f)));
    const help = cli('--help');
    for (const c of ['inspect', 'prune', 'validate', 'scan']) assert.match(help.stdout, new RegExp(`^  ${c} `, 'm'));
  });

  test('every shared model inspects (JSON), resnet18 and mobilenet_v2 figures as PyTorch', { skip: skipWithoutShared }, () => {
    const files = allSharedModels();
    assert.ok(files.length >= 9);
    for (const rel of files) {
      const r = cli('inspect', shared(rel), '--json');
      assert.equal(r.code, 0, `${rel}: ${r.stderr}`);
      const s = JSON.parse(r.stdout);
      assert.ok(s.params > 0 && s.layers.length > 0, rel);
      if (rel === 'synthetic/resnet18_bn.onnx') {
        assert.equal(s.params, 11689512);
        assert.equal(s.macs, 1822177768);
      }
      if (rel === 'synthetic/mobilenet_v2_bn.onnx') assert.equal(s.params, 3504872);
    }
    const human = cli('inspect', shared('synthetic/resnet18_bn.onnx'));
    assert.match(human.stdout, /11,689,512 \(11\.7 M\)/);
    assert.match(human.stdout, /1,822,177,768 \(1\.82 G\)/);
    assert.match(human.stdout, /\/layer4\/layer4\.1\/conv2\/Conv\s+Conv\s+512×512×3×3\s+1\s+N×512×7×7\s+N×512×7×7\s+2,359,296\s+116 M\s+[\d.e-]+\s+\d+\s+[\d.e-]+\s+\/layer4\/layer4\.1\/bn2\/BatchNormalization/);
  });

  test('--json adds the groups and per-layer importance; human output shows them', () => {
    const deps = analyzeDependencies(new Graph(loadModel(fmnistBn)));
    const r = cli('inspect', fmnistBn, '--json');
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.params, 95882);
    assert.equal(s.groups.length, deps.groups.length);
    s.groups.forEach((g: { id: number; channels: number; members: string[]; prunable: boolean; reason?: string }, i: number) => {
      const d = deps.groups[i];
      assert.equal(g.id, d.id);
      assert.equal(g.channels, d.channels);
      assert.equal(g.prunable, d.prunable);
      assert.deepEqual(g.members, [...new Set(d.members.map((m) => m.node))]);
      if (!g.prunable) assert.ok(g.reason && g.reason.length > 0, `group ${g.id} frozen without a reason`);
    });
    assert.ok(s.groups.some((g: { prunable: boolean }) => !g.prunable), 'the classifier group is frozen');
    assert.equal(s.importance.hasBn, true);
    assert.equal(s.importance.layers.length, s.layers.length);
    for (const l of s.importance.layers) {
      assert.equal(l.criteria.l1.count, l.channels, l.name);
      if (l.bn) assert.equal(l.criteria['bn-gamma'].count, l.channels, l.name);
      assert.equal(l.criteria.l1.histogram, undefined);
    }
    assert.ok(s.importance.layers.filter((l: { bn?: string }) => l.bn).length === 7);
    assert.equal(s.importance.model['bn-gamma'].count, 416);
    assert.ok(Array.isArray(s.importance.model['bn-gamma'].histogram.counts));

    const h = cli('inspect', fmnistBn);
    assert.equal(h.code, 0, h.stderr);
    const frozen = deps.groups.filter((g) => !g.prunable);
    assert.match(h.stdout, new RegExp(`Channel groups: ${deps.groups.length} \\(${deps.groups.length - frozen.length} prunable, ${frozen.length} frozen`));
    for (const g of frozen) assert.ok(h.stdout.includes(g.reason!), h.stdout);
    const row = h.stdout.split('\n').find((l) => l.startsWith('/res/conv2/Conv'))!;
    const stats = s.importance.layers.find((l: { name: string }) => l.name === '/res/conv2/Conv');
    assert.ok(row.includes(` ${stats.criteria['bn-gamma'].below['1e-2']} `), row);
  });

  test('a fused model: importance without γ and the re-export advice', () => {
    const r = cli('inspect', fmnistFused, '--json');
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.importance.hasBn, false);
    assert.ok(s.importance.advice.includes(REEXPORT_ADVICE));
    assert.equal(s.importance.model['bn-gamma'], undefined);
    assert.ok(s.importance.layers.length > 0);
    for (const l of s.importance.layers) {
      assert.equal(l.criteria['bn-gamma'], undefined, l.name);
      assert.equal(l.criteria.l1.count, l.channels);
    }
    assert.ok(s.importance.layers.some((l: { bnFused: boolean }) => l.bnFused));
  });

  test('--layer prints every channel with γ equal to the BN scale; --json and --sort', () => {
    const layer = '/res/conv2/Conv';
    const graph = new Graph(loadModel(fmnistBn));
    const bn = graph.byName.get('/res/bn2/BatchNormalization')!;
    const gamma = graph.constantFloats(bn.input[1])!;
    assert.equal(gamma.length, 64);
    const r = cli('inspect', fmnistBn, '--layer', layer);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    // FPGM is computed only when asked: the table has the cheap criteria and the last line says how to get it
    const header = lines.findIndex((l) => /^channel\s+BN γ\s+L1\s+L2\s+rank BN γ\s+rank L1\s+rank L2$/.test(l));
    assert.ok(header > 0, r.stdout);
    const hint = lines.findIndex((l) => l.startsWith('FPGM not computed'));
    assert.ok(hint > header && /--criterion fpgm or --all-criteria/.test(lines[hint]), r.stdout);
    const rows = lines.slice(header + 2, hint).filter((l) => l.trim()).map((l) => l.trim().split(/\s+/));
    assert.equal(rows.length, 64);
    rows.forEach((cols, i) => {
      assert.equal(Number(cols[0]), i);
      const v = Number(cols[1]);
      assert.ok(Math.abs(v - Math.abs(gamma[i])) <= 1e-3 * Math.abs(gamma[i]) + 1e-12, `channel ${i}: ${v} vs ${gamma[i]}`);
    });
    assert.match(r.stdout, /group\s+\d+: 64 channels, prunable/);
    assert.match(r.stdout, /coupled\s+\/pw\/pw\.0\/Conv/);

    const f = cli('inspect', fmnistBn, '--layer', layer, '--criterion', 'fpgm');
    assert.equal(f.code, 0, f.stderr);
    assert.match(f.stdout, /^channel\s+BN γ\s+L1\s+L2\s+FPGM\s+rank BN γ\s+rank L1\s+rank L2\s+rank FPGM$/m);
    assert.doesNotMatch(f.stdout, /not computed/);

    const j = cli('inspect', fmnistBn, '--layer', layer, '--json', '--sort', 'l1');
    assert.equal(j.code, 0, j.stderr);
    const rep = JSON.parse(j.stdout);
    assert.equal(rep.rows.length, 64);
    rep.rows.forEach((row: { channel: number; 'bn-gamma': number }, i: number) => {
      assert.equal(row.channel, i);
      assert.equal(row['bn-gamma'], Math.fround(Math.abs(gamma[i])));
    });
    const deps = analyzeDependencies(graph);
    const gid = deps.groupOfLayer.get(layer)!;
    assert.equal(rep.coupled.id, gid);
    assert.deepEqual(rep.coupled.layers, deps.groups.find((g) => g.id === gid)!.layers);

    const sorted = cli('inspect', fmnistBn, '--layer', layer, '--sort', 'bn-gamma');
    const sl = sorted.stdout.split('\n');
    const sh = sl.findIndex((l) => l.startsWith('channel'));
    // channel, BN γ, L1, L2, rank BN γ (FPGM not computed)
    const ranks = sl.slice(sh + 2, sh + 2 + 64).map((l) => Number(l.trim().split(/\s+/)[4]));
    assert.deepEqual(ranks, Array.from({ length: 64 }, (_, k) => k));
  });

  test('--layer with an unknown name: exit 1, one line with close names, no stack trace', () => {
    const r = cli('inspect', fmnistBn, '--layer', 'conv2');
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /unknown layer "conv2".*\/conv2\/conv2\.0\/Conv/);
    assert.doesNotMatch(r.stderr, /\bat .*\.ts:\d+/);
  });

  test('resnet18_bn: groups as the analysis, γ everywhere, a frozen group has a reason', { skip: skipWithoutShared }, () => {
    const file = shared('synthetic/resnet18_bn.onnx');
    const deps = analyzeDependencies(new Graph(loadModel(file)));
    const r = cli('inspect', file, '--json');
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.groups.length, deps.groups.length);
    assert.equal(s.groups.filter((g: { prunable: boolean }) => g.prunable).length, deps.groups.filter((g) => g.prunable).length);
    for (const g of s.groups) if (!g.prunable) assert.ok(g.reason, `group ${g.id}`);
    for (const l of s.importance.layers) if (l.op === 'Conv') assert.equal(l.criteria['bn-gamma'].count, l.channels, l.name);
  });
});
