// What the analysis says about a layer, in inspect (text and --json) and in the worker's rows and
// previews the view shows: which BatchNorm scores a layer that has none right after it (DenseNet's
// BN → ReLU → Conv after a Concat: "γ from <bn>", never "folded"), and the output channels of a
// ConvTranspose (its weight is [C_in, C_out/group, k...], unlike a Conv's [C_out, C_in/group, k...]).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { pruneModel } from '../../src/engine/index.ts';
import type { HandlerContext } from '../../src/shared/rpc.ts';
import { workerHandlers } from '../../src/worker/handlers.ts';
import { denseNetLike, ModelBuilder } from '../helpers/modelBuilder.ts';
import { runFirstOutput } from '../helpers/ort.ts';
import { allSharedModels, repoRoot, tempDir } from '../helpers/paths.ts';

const ctx = (): HandlerContext => ({ signal: new AbortController().signal, progress: () => {} });

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'main.ts'), ...args], { cwd: repoRoot, encoding: 'utf8' });
}

interface InspectJson {
  importance: { layers: { name: string; channels: number; bn?: string; gammaFrom?: string[]; bnFused: boolean; criteria: Record<string, { median: number } | undefined> }[] };
}

/** A conv stem and a ConvTranspose (12 → `cout` channels in `group` groups) as the graph output: a frozen ConvTranspose. */
function upsampler(file: string, shape: (number | string)[], cout: number, group = 1): string {
  const b = new ModelBuilder({ seed: 2 });
  let x = b.input('x', shape);
  x = b.relu(b.bn(b.conv(x, 3, 12, { k: 3, pad: 1, name: 'c1' }), 12));
  b.output(b.node('ConvTranspose', [x, b.init('up.weight', [12, cout / group, 2, 2])], { strides: [2, 2], kernel_shape: [2, 2], group }, 'up'));
  return b.save(file);
}

describe('words and numbers of a layer', () => {
  const dir = tempDir();
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const dense = denseNetLike(path.join(dir, 'dense.onnx'));

  test('DenseNet-like: a conv whose BatchNorms come after a Concat gets its γ from them, named, in inspect --json and text; none is called folded', () => {
    const r = cli('inspect', dense, '--json');
    assert.equal(r.status, 0, r.stderr);
    const layers = new Map((JSON.parse(r.stdout) as InspectJson).importance.layers.map((l) => [l.name, l]));
    assert.deepEqual(layers.get('l1.conv2')!.gammaFrom, ['l2.norm1', 'norm5']);
    assert.deepEqual(layers.get('l2.conv2')!.gammaFrom, ['norm5']);
    for (const name of ['l1.conv2', 'l2.conv2']) {
      const l = layers.get(name)!;
      assert.equal(l.bnFused, false, `${name} is not called BN-folded: its BatchNorms exist`);
      assert.equal(l.bn, undefined, `${name} has no BatchNorm right after it`);
      assert.ok(l.criteria['bn-gamma'], `${name} has γ statistics`);
    }
    assert.equal(layers.get('conv0')!.bn, 'norm0');
    assert.equal(layers.get('conv0')!.gammaFrom, undefined, 'a layer with its own BN keeps it');
    assert.equal(layers.get('l1.conv1')!.bn, 'l1.norm2');

    const text = cli('inspect', dense);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^l1\.conv2 .* γ from l2\.norm1 \+1 \(its channel group's BatchNorms, their mean\)$/m);
    assert.match(text.stdout, /^l2\.conv2 .* γ from norm5 \(its channel group's BatchNorm\)$/m);
    assert.doesNotMatch(text.stdout, /fold|fused/i);
    const layer = cli('inspect', dense, '--layer', 'l1.conv2');
    assert.equal(layer.status, 0, layer.stderr);
    assert.match(layer.stdout.split('\n')[0]!, /^l1\.conv2 {2}Conv, 4 output channels, γ from l2\.norm1, norm5 \(its channel group's BatchNorms, their mean\)$/);
  });

  test('DenseNet-like: the γ the worker shows for such a layer is what a bn-gamma plan ranks; the pruned model runs', async () => {
    const h = workerHandlers();
    await h.open({ path: dense }, ctx());
    await h.score({ path: dense }, ctx());
    const rows = (await h.getLayers({ path: dense, query: { offset: 0, limit: 100 } }, ctx())).rows;
    const row = rows.find((l) => l.name === 'l1.conv2')!;
    assert.deepEqual(row.gammaFrom, ['l2.norm1', 'norm5']);
    assert.equal(row.bnFused, false);
    assert.ok(row.stats['bn-gamma'], 'the γ cells have values');
    const detail = await h.getLayerDetail({ path: dense, layer: 'l1.conv2', plan: { criterion: 'bn-gamma', ratio: 0.5, scope: 'uniform', compensate: true } }, ctx());
    const gamma = detail.scores['bn-gamma']!;
    assert.equal(gamma.length, 4);
    // the two lowest γ shown are the two channels the plan removes
    const lowest = gamma.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]).slice(0, 2).map(([, i]) => i).sort();
    assert.deepEqual([...detail.removed].sort(), lowest);
    await h.close({ path: dense }, ctx());
    const report = await pruneModel(dense, { version: 1, criterion: 'bn-gamma', ratio: 0.5, scope: 'uniform' }, { out: path.join(dir, 'dense.pruned.onnx') });
    const cut = report.layers.find((l) => l.name === 'l1.conv2')!;
    assert.deepEqual(cut.keptChannels, [0, 1, 2, 3].filter((i) => !lowest.includes(i)));
    const y = await runFirstOutput(report.output, new Float32Array(3 * 16 * 16).fill(0.1), [1, 3, 16, 16]);
    assert.deepEqual(y.dims, [1, 10]);
  });

  test('a DenseNet from the shared models: every conv without its own BN but with BNs in its group is scored by them, none called folded', (t) => {
    const file = allSharedModels().find((f) => /densenet/i.test(path.basename(f)));
    if (!file) {
      t.skip('no DenseNet among the shared models (../shared/models): skipped');
      return;
    }
    const r = cli('inspect', file, '--json');
    assert.equal(r.status, 0, r.stderr);
    const layers = (JSON.parse(r.stdout) as InspectJson).importance.layers;
    const fromGroup = layers.filter((l) => l.gammaFrom);
    assert.ok(fromGroup.length > 0, 'some layers are scored by BatchNorms after a Concat');
    for (const l of fromGroup) {
      assert.equal(l.bnFused, false, l.name);
      assert.ok(l.criteria['bn-gamma'], l.name);
    }
  });

  test('ConvTranspose: output channels are axis 1 of its weight (times the groups) in rows, previews and inspect, at known and unknown sizes', async () => {
    for (const [name, shape, cout, group] of [
      ['ct-fixed', [1, 3, 16, 16], 1, 1], ['ct-dynamic', [1, 3, '?', '?'], 1, 1], ['ct-grouped', [1, 3, 16, 16], 6, 2], ['ct-grouped-dynamic', ['N', 3, 'H', 'W'], 6, 2],
    ] as const) {
      const file = upsampler(path.join(dir, `${name}.onnx`), [...shape], cout, group);
      const h = workerHandlers();
      await h.open({ path: file }, ctx());
      await h.score({ path: file }, ctx());
      const rows = (await h.getLayers({ path: file, query: { offset: 0, limit: 10 } }, ctx())).rows;
      const up = rows.find((l) => l.name === 'up')!;
      assert.equal(up.channels, cout, `${name}: row`);
      assert.equal(up.prunable, false, `${name}: frozen (graph output)`);
      const pv = await h.previewPlan({ path: file, plan: { criterion: 'l1', ratio: 0.5, scope: 'uniform', compensate: true } }, ctx());
      const p = pv.layers.find((l) => l.name === 'up')!;
      assert.deepEqual([p.channelsBefore, p.channelsAfter], [cout, cout], `${name}: the preview keeps its ${cout} output channels${group === 1 ? ' (its input channels drop to 6)' : ''}`);
      // a grouped ConvTranspose freezes the channels it reads; an ungrouped one lets them be cut
      assert.equal(pv.layers.find((l) => l.name === 'c1')!.channelsAfter, group === 1 ? 6 : 12, name);
      await h.close({ path: file }, ctx());
      const r = cli('inspect', file, '--json');
      assert.equal(r.status, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as InspectJson).importance.layers.find((l) => l.name === 'up')!.channels, cout, `${name}: inspect`);
      if (group !== 1) continue; // nothing to prune: the dry run says so
      const dry = cli('prune', file, '--criterion', 'l1', '--ratio', '0.5', '--dry-run', '--json');
      assert.equal(dry.status, 0, dry.stderr);
      const dl = (JSON.parse(dry.stdout) as { preview: { layers: { name: string; channelsBefore: number; channelsAfter: number }[] } }).preview.layers.find((l) => l.name === 'up')!;
      assert.deepEqual([dl.channelsBefore, dl.channelsAfter], [cout, cout], `${name}: prune --dry-run`);
    }
  });
});
