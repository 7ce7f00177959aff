// File safety in the extension host: parallel prune jobs never replace each other's files and
// each report describes its own file; a plan cutting layers to their minimum is written only after
// a modal warning; plans removing nothing are refused; exports never replace a model or a non-JSON
// file; stale temporary files in the folders written to are removed (as on activation).
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { loadModel } from '../../../src/engine/onnx/model.ts';
import { fmnistBn, fmnistFused } from '../../helpers/paths.ts';

const id = 'onnx-pruner.onnx-pruner';

type Report = Record<string, unknown> & { output: string; params: { before: number; after: number } };
interface Api {
  commands: { runPrune: (m: vscode.Uri, req: { plan: Record<string, unknown>; validate: boolean }, p: () => void, s: AbortSignal) => Promise<Report> };
  cleanStaleTemps: () => Promise<string[]>;
}

const api = () => vscode.extensions.getExtension(id)!.exports as Api;

function fresh(sub: string, from = fmnistBn, name = 'm.onnx'): vscode.Uri {
  const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  assert.ok(root, 'a workspace folder is open');
  const dir = path.join(root, 'file-safety', sub);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(from, path.join(dir, name));
  return vscode.Uri.file(path.join(dir, name));
}

const meta = (file: string) => new Map(loadModel(file).proto.metadata_props.map((e) => [e.key, e.value]));
const listing = (dir: string) => fs.readdirSync(dir).sort();

/** Replaces a vscode.window function for the duration of fn. */
async function stubbed<T>(name: 'showErrorMessage' | 'showWarningMessage' | 'showSaveDialog' | 'showQuickPick', impl: (...a: unknown[]) => unknown, fn: () => Promise<T>): Promise<T> {
  const win = vscode.window as unknown as Record<string, unknown>;
  const original = win[name];
  win[name] = impl;
  try {
    return await fn();
  } finally {
    win[name] = original;
  }
}

async function withErrors<T>(fn: () => Promise<T>): Promise<{ messages: string[]; result: T }> {
  const messages: string[] = [];
  const result = await stubbed('showErrorMessage', (m) => {
    messages.push(String(m));
    return Promise.resolve(undefined);
  }, fn);
  return { messages, result };
}

const prune = async (model: vscode.Uri, opts: Record<string, unknown>) => (await vscode.commands.executeCommand('onnxPruner.pruneChannels', model, { quiet: true, validate: false, ...opts })) as Report | undefined;

describe('File safety (extension host)', function () {
  this.timeout(180_000);

  before(async () => {
    await vscode.extensions.getExtension(id)!.activate();
  });

  it('parallel prunes of one model: three files, each report describes the file it wrote', async () => {
    const model = fresh('parallel');
    const runs = [['l1', 0.3], ['l2', 0.5], ['fpgm', 0.7]] as const;
    const reports = await Promise.all(runs.map(([criterion, ratio]) => prune(model, { criterion, ratio, scope: 'uniform' })));
    const outputs = new Set<string>();
    reports.forEach((r, i) => {
      assert.ok(r, `run ${i} reported`);
      outputs.add(r.output);
      const m = meta(r.output);
      assert.equal(m.get('onnx_pruner.criterion'), runs[i][0], `${r.output} holds run ${i}'s model`);
      assert.equal(m.get('onnx_pruner.ratio'), String(runs[i][1]));
    });
    assert.equal(outputs.size, 3);
    assert.deepEqual(listing(path.dirname(model.fsPath)), ['m.onnx', 'm.pruned-2.onnx', 'm.pruned-3.onnx', 'm.pruned.onnx']);
  });

  it('parallel prunes to the same explicit output: one writes it, the others fail clearly', async () => {
    const model = fresh('parallel-out');
    const out = path.join(path.dirname(model.fsPath), 'same.onnx');
    const runs = [['l1', 0.3], ['l2', 0.5], ['fpgm', 0.7]] as const;
    const { messages, result } = await withErrors(() => Promise.all(runs.map(([criterion, ratio]) => prune(model, { criterion, ratio, scope: 'uniform', out }))));
    const ok = result.map((r, i) => [r, i] as const).filter(([r]) => r);
    assert.equal(ok.length, 1, `one run wrote it: ${messages.join(' | ')}`);
    assert.equal(messages.length, 2);
    for (const m of messages) assert.match(m, /same\.onnx already exists/);
    assert.equal(meta(out).get('onnx_pruner.criterion'), runs[ok[0][1]][0]);
    assert.deepEqual(listing(path.dirname(model.fsPath)), ['m.onnx', 'same.onnx']);
  });

  it('a plan cutting layers to their minimum is written only after a modal warning', async () => {
    const model = fresh('minimum');
    const plan = { criterion: 'l1', scope: 'uniform', ratio: 0.99 };
    const asked: unknown[][] = [];
    const declined = stubbed('showWarningMessage', (...a) => {
      asked.push(a);
      return Promise.resolve(undefined);
    }, () => api().commands.runPrune(model, { plan, validate: false }, () => {}, new AbortController().signal));
    await assert.rejects(declined, (e: { cancelled?: boolean }) => e.cancelled === true);
    assert.equal(asked.length, 1);
    assert.match(String(asked[0][0]), /least they can keep/);
    assert.deepEqual(asked[0][1] && (asked[0][1] as { modal?: boolean }).modal, true, 'a modal dialog');
    assert.deepEqual(listing(path.dirname(model.fsPath)), ['m.onnx'], 'declined: nothing written');
    const report = await stubbed('showWarningMessage', (...a) => Promise.resolve(a[2]), () => api().commands.runPrune(model, { plan, validate: false }, () => {}, new AbortController().signal));
    assert.ok(fs.existsSync(report.output));
    assert.ok(report.params.after < report.params.before / 10);
    // Quiet (scripted) runs are refused unless they accept it.
    const quiet = await withErrors(() => prune(model, plan));
    assert.equal(quiet.result, undefined);
    assert.match(quiet.messages[0] ?? '', /least they can keep/);
  });

  it('bn-gamma on a model without BatchNorm, or a plan removing nothing: an error naming why, no file', async () => {
    const model = fresh('no-op', fmnistFused, 'f.onnx');
    const a = await withErrors(() => prune(model, { criterion: 'bn-gamma', ratio: 0.5 }));
    assert.equal(a.result, undefined);
    assert.match(a.messages[0] ?? '', /no BatchNormalization.*l1, l2 or fpgm/);
    const b = await withErrors(() => prune(model, { criterion: 'l1', ratio: 0 }));
    assert.match(b.messages[0] ?? '', /removes no channel/);
    assert.deepEqual(listing(path.dirname(model.fsPath)), ['f.onnx']);
  });

  it('Export Layer Widths never replaces the model or a non-JSON file; replaces a JSON file only when chosen in the dialog', async () => {
    const model = fresh('exports');
    const dir = path.dirname(model.fsPath);
    const before = fs.readFileSync(model.fsPath);
    // As an argument (scripts): never over an existing file.
    const existing = path.join(dir, 'w.json');
    fs.writeFileSync(existing, '{"mine": true}');
    const r1 = await withErrors(() => Promise.resolve(vscode.commands.executeCommand('onnxPruner.exportWidths', model, vscode.Uri.file(existing))));
    assert.equal(r1.result, undefined);
    assert.match(r1.messages[0] ?? '', /w\.json already exists/);
    assert.equal(fs.readFileSync(existing, 'utf8'), '{"mine": true}');
    // Chosen in the save dialog: the model itself and a non-JSON file are refused, a JSON file replaced.
    const other = path.join(dir, 'weights.bin');
    fs.writeFileSync(other, Buffer.from([1, 2, 3]));
    for (const target of [model.fsPath, other]) {
      const r = await withErrors(() => stubbed('showSaveDialog', () => Promise.resolve(vscode.Uri.file(target)), () => Promise.resolve(vscode.commands.executeCommand('onnxPruner.exportWidths', model))));
      assert.equal(r.result, undefined, target);
      assert.equal(r.messages.length, 1, target);
    }
    assert.deepEqual(fs.readFileSync(model.fsPath), before, 'the model is unchanged');
    assert.deepEqual([...fs.readFileSync(other)], [1, 2, 3]);
    const r3 = await stubbed('showSaveDialog', () => Promise.resolve(vscode.Uri.file(existing)), () => Promise.resolve(vscode.commands.executeCommand('onnxPruner.exportWidths', model)));
    assert.equal(r3, existing);
    assert.ok('widths' in JSON.parse(fs.readFileSync(existing, 'utf8')));
    assert.deepEqual(listing(dir), ['m.onnx', 'w.json', 'weights.bin'], 'no temporary file left');
  });

  it('Export Pruning Plan never replaces the model or a non-JSON file; replaces a JSON file only when chosen in the dialog', async () => {
    const model = fresh('plan-export');
    const dir = path.dirname(model.fsPath);
    const before = fs.readFileSync(model.fsPath);
    // No model view is open: the model is picked from the workspace's models.
    const pickThis = (items: unknown) => Promise.resolve((items as { uri: vscode.Uri }[]).find((i) => i.uri.fsPath === model.fsPath));
    const exportPlan = (target?: vscode.Uri) => stubbed('showQuickPick', pickThis, () => Promise.resolve(vscode.commands.executeCommand<string | undefined>('onnxPruner.exportPlan', ...(target ? [target] : []))));
    // As an argument (scripts): never over an existing file, the model included.
    const existing = path.join(dir, 'p.json');
    fs.writeFileSync(existing, '{"mine": true}');
    for (const target of [existing, model.fsPath]) {
      const r = await withErrors(() => exportPlan(vscode.Uri.file(target)));
      assert.equal(r.result, undefined, target);
      assert.equal(r.messages.length, 1, target);
    }
    assert.equal(fs.readFileSync(existing, 'utf8'), '{"mine": true}');
    // Chosen in the save dialog: the model itself and a non-JSON file are refused, a JSON file replaced.
    const other = path.join(dir, 'notes.txt');
    fs.writeFileSync(other, 'not json');
    for (const target of [model.fsPath, other]) {
      const r = await withErrors(() => stubbed('showSaveDialog', () => Promise.resolve(vscode.Uri.file(target)), () => exportPlan()));
      assert.equal(r.result, undefined, target);
      assert.equal(r.messages.length, 1, target);
    }
    assert.deepEqual(fs.readFileSync(model.fsPath), before, 'the model is unchanged');
    assert.equal(fs.readFileSync(other, 'utf8'), 'not json');
    const written = await stubbed('showSaveDialog', () => Promise.resolve(vscode.Uri.file(existing)), () => exportPlan());
    assert.equal(written, existing);
    const plan = JSON.parse(fs.readFileSync(existing, 'utf8')) as { version: number; model: string; criterion: string };
    assert.equal(plan.version, 1);
    assert.equal(plan.model, 'm.onnx');
    assert.ok(plan.criterion);
    assert.deepEqual(listing(dir), ['m.onnx', 'notes.txt', 'p.json'], 'no temporary file left');
  });

  it('stale temporary files in the folders pruned into are removed (as on activation); live ones stay', async () => {
    const model = fresh('stale');
    const dir = path.dirname(model.fsPath);
    assert.ok(await prune(model, { criterion: 'l1', ratio: 0.3 }));
    // A process that has exited: its temporary file is stale.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout.trim();
    const stale = path.join(dir, `.m.pruned-2.onnx.onnx-pruner-${dead}-0123456789ab.tmp`);
    const live = path.join(dir, `.m.pruned-3.onnx.onnx-pruner-${process.pid}-0123456789ab.tmp`);
    const notOurs = path.join(dir, '.m.onnx.tmp');
    for (const f of [stale, live, notOurs]) fs.writeFileSync(f, 'x');
    const removed = await api().cleanStaleTemps();
    assert.ok(removed.some((f) => f.endsWith(path.basename(stale))), JSON.stringify(removed));
    assert.ok(!fs.existsSync(stale));
    assert.ok(fs.existsSync(live) && fs.existsSync(notOurs));
    fs.rmSync(live);
    fs.rmSync(notOurs);
  });
});
