// The worker prunes the model it holds: a prune of an open model (the view's Prune button and
// the palette's Prune Channels… both send the worker's `prune` request) reads the model file
// once — when it was opened — and writes the same bytes as `onnx-pruner prune` with the same plan.
// The worker's handler table runs in-process here, with a model reader that counts the reads.
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { loadModel, type ModelReader } from '../../src/engine/index.ts';
import type { HandlerContext } from '../../src/shared/rpc.ts';
import { workerHandlers } from '../../src/worker/handlers.ts';
import { fmnistBn, repoRoot, tempDir } from '../helpers/paths.ts';

const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const ctx = (): HandlerContext => ({ signal: new AbortController().signal, progress: () => {} });

describe('worker: prune from the held model', () => {
  const dir = tempDir();
  const model = path.join(dir, 'm.onnx');
  fs.copyFileSync(fmnistBn, model);
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const reads: string[] = [];
  const reader: ModelReader = (file) => {
    reads.push(path.resolve(file));
    return loadModel(file);
  };
  const h = workerHandlers({ reader });
  const plan = { criterion: 'l1' as const, ratio: 0.5, scope: 'uniform' as const, compensate: true };

  test('an open model is pruned without reading its file again, twice, with the same result', async () => {
    await h.open({ path: model }, ctx());
    await h.score({ path: model }, ctx());
    assert.deepEqual(reads, [model], 'opening reads the model once');
    const first = await h.prune({ path: model, plan, out: path.join(dir, 'a.onnx'), validate: false, ep: 'cpu' }, ctx());
    const second = await h.prune({ path: model, plan, out: path.join(dir, 'b.onnx'), validate: false, ep: 'cpu' }, ctx());
    assert.deepEqual(reads, [model], 'neither prune read the model file');
    assert.ok(first.params.after < first.params.before && first.layers.length > 0, 'channels were removed');
    assert.equal(sha(first.output), sha(second.output), 'the held model is unchanged by a prune');
    // the report's numbers are those of the written file
    const written = loadModel(first.output);
    assert.equal(first.size.after, written.sizeOnDisk);
  });

  test('the bytes equal the CLI\'s with the same plan', () => {
    const out = path.join(dir, 'cli.onnx');
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'main.ts'), 'prune', model, '--criterion', 'l1', '--ratio', '0.5', '--out', out], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(sha(out), sha(path.join(dir, 'a.onnx')));
  });

  test('a model that is not open is read for the prune (and only then)', async () => {
    const other = path.join(dir, 'other.onnx');
    fs.copyFileSync(fmnistBn, other);
    const report = await h.prune({ path: other, plan, out: path.join(dir, 'c.onnx'), validate: false, ep: 'cpu' }, ctx());
    assert.ok(fs.existsSync(report.output) && report.params.after === (await h.prune({ path: model, plan, out: path.join(dir, 'd.onnx'), validate: false, ep: 'cpu' }, ctx())).params.after);
    assert.deepEqual(reads, [model, other], 'read once, for the prune');
  });
});
