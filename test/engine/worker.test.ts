// The extension's engine worker (src/worker/worker.ts) through the real EngineClient: a model
// opens in two phases (structure, then channel scores), the rows come before the scores, the
// questions that need scores wait for them, and closing a model stops its scoring.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as esbuild from 'esbuild';
import { EngineClient, EngineRequestError } from '../../src/extension/engineClient.ts';
import { ModelBuilder } from '../helpers/modelBuilder.ts';
import { fmnistBn, repoRoot, tempDir } from '../helpers/paths.ts';

let engine: EngineClient;
let dir: string;
let big: string;
// the client unrefs its worker (it must not keep VS Code's extension host alive): this keeps the test's process up
let keepAlive: ReturnType<typeof setInterval>;

describe('engine worker', () => {
  before(async () => {
    keepAlive = setInterval(() => {}, 1000);
    // the worker bundle, built here so the test does not depend on a previous `npm run build`
    // (inside the repository, so the bundle finds onnxruntime-node in node_modules)
    const out = path.join(repoRoot, '.cache', 'test-worker');
    await esbuild.build({
      entryPoints: { worker: path.join(repoRoot, 'src', 'worker', 'worker.ts') },
      bundle: true, platform: 'node', format: 'cjs', target: 'node20', outdir: out,
      external: ['vscode', 'onnxruntime-node'], logLevel: 'error',
    });
    engine = new EngineClient(path.join(out, 'worker.js'));
    dir = tempDir();
    // wide enough that scoring takes a while (FPGM over 1024 filters of 1024·9 weights)
    const b = new ModelBuilder({ seed: 5 });
    let x = b.input('x', [1, 64, 8, 8]);
    x = b.relu(b.bn(b.conv(x, 64, 1024, { k: 3, name: 'wide1' }), 1024));
    x = b.relu(b.bn(b.conv(x, 1024, 1024, { k: 3, name: 'wide2' }), 1024));
    b.output(b.conv(x, 1024, 10, { k: 1, name: 'head' }));
    big = b.save(path.join(dir, 'wide.onnx'));
  });
  after(() => {
    clearInterval(keepAlive);
    engine?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('open answers the structure; rows have no statistics until the channels are scored', async () => {
    const s = await engine.request('open', { path: fmnistBn });
    assert.equal(s.scored, false);
    assert.ok(s.layerCount > 0 && s.prunableGroupCount > 0);
    const before = await engine.request('getLayers', { path: fmnistBn, query: { offset: 0, limit: 100 } });
    assert.equal(before.total, s.layerCount);
    assert.ok(before.rows.every((r) => Object.keys(r.stats).length === 0), 'no statistics before scoring');
    assert.ok(before.rows.every((r) => r.channels > 0));

    const stages: string[] = [];
    const scored = await engine.request('score', { path: fmnistBn }, { onProgress: (stage) => stages.push(stage) });
    assert.equal(scored.scored, true);
    assert.ok(stages.some((st) => /Scoring channels/.test(st)), stages.join(', '));
    const afterRows = await engine.request('getLayers', { path: fmnistBn, query: { offset: 0, limit: 100 } });
    // the same rows, in the same order, with the same widths; now with γ and norm statistics
    assert.deepEqual(afterRows.rows.map((r) => [r.name, r.channels]), before.rows.map((r) => [r.name, r.channels]));
    const conv = afterRows.rows.find((r) => r.op === 'Conv' && r.bn)!;
    assert.ok(conv.stats['bn-gamma'] && conv.stats.l1 && conv.stats.l2);
    assert.ok(conv.stats['bn-gamma'].min <= conv.stats['bn-gamma'].median && conv.stats['bn-gamma'].median <= conv.stats['bn-gamma'].max);
    // FPGM (the costly criterion) is computed when first asked for, then in the rows too
    assert.equal(conv.stats.fpgm, undefined);
    const h = await engine.request('getHistogram', { path: fmnistBn, criterion: 'fpgm' });
    assert.ok(h && h.counts.reduce((a, b) => a + b, 0) > 0);
    const withFpgm = (await engine.request('getLayers', { path: fmnistBn, query: { offset: 0, limit: 100 } })).rows.find((r) => r.name === conv.name)!;
    assert.ok(withFpgm.stats.fpgm && withFpgm.stats.fpgm.max > 0);
    assert.deepEqual(withFpgm.stats.l1, conv.stats.l1);
    await engine.request('close', { path: fmnistBn });
  });

  test('histograms, channel scores and previews wait for the scores', async () => {
    await engine.request('open', { path: fmnistBn });
    // no `score` request: asking for a histogram starts the scoring and answers once it is done
    const h = await engine.request('getHistogram', { path: fmnistBn, criterion: 'bn-gamma' });
    assert.ok(h);
    const rows = (await engine.request('getLayers', { path: fmnistBn, query: { offset: 0, limit: 100 } })).rows;
    const bnChannels = rows.filter((r) => r.prunable && r.stats['bn-gamma']).reduce((a, r) => a + r.channels, 0);
    assert.equal(h.counts.reduce((a, b) => a + b, 0), bnChannels, 'the γ histogram counts every prunable BN channel');
    const pv = await engine.request('previewPlan', { path: fmnistBn, plan: { criterion: 'l1', scope: 'uniform', ratio: 0.5 } });
    assert.ok(pv.params.after < pv.params.before);
    await engine.request('close', { path: fmnistBn });
  });

  test('closing a model while its channels are scored stops the scoring', async () => {
    await engine.request('open', { path: big });
    const scoring = engine.request('score', { path: big });
    await new Promise((r) => setTimeout(r, 20));
    await engine.request('close', { path: big });
    await assert.rejects(scoring, (e: EngineRequestError) => e.cancelled === true);
    // the model is gone from the worker
    await assert.rejects(engine.request('getLayers', { path: big, query: { offset: 0, limit: 10 } }), /not open/);
  });

  test('a second open of the same model reuses it, and its rows come while scoring runs', async () => {
    await engine.request('open', { path: big });
    const scoring = engine.request('score', { path: big });
    const t = performance.now();
    const page = await engine.request('getLayers', { path: big, query: { offset: 0, limit: 10 } });
    const rowsMs = performance.now() - t;
    const s = await scoring;
    const scoreMs = performance.now() - t;
    assert.equal(page.total, 3);
    assert.equal(s.scored, true);
    // answered between two steps of the scoring, not after it
    assert.ok(rowsMs < scoreMs, `rows after ${rowsMs.toFixed(0)} ms, scores after ${scoreMs.toFixed(0)} ms`);
    const again = await engine.request('open', { path: big });
    assert.equal(again.scored, true);
    await engine.request('close', { path: big });
  });
});
