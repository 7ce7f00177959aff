// The extension in a real VS Code extension host: activation, commands, the custom editor,
// pruning written beside the model and run back in ONNX Runtime, cancellation, bad files,
// plans, widths, validation and workspace trust.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { sharedModels } from '../../helpers/paths.ts';

const id = 'onnx-pruner.onnx-pruner';

type Report = Record<string, unknown> & { output: string; params: { before: number; after: number }; macs: { before: number; after: number } };

// onnxruntime-node is external to the test bundle: resolved from the repository's node_modules.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');

function workspaceDir(): string {
  const f = vscode.workspace.workspaceFolders?.[0];
  assert.ok(f, 'a workspace folder is open');
  return f.uri.fsPath;
}

/** The fmnist sample in the workspace (the harness copies it there). */
function sample(): vscode.Uri {
  const dir = workspaceDir();
  const name = fs.readdirSync(dir).find((n) => /^fmnist.*_bn\.onnx$/.test(n));
  assert.ok(name, `fmnist sample in ${dir}: ${fs.readdirSync(dir).join(', ')}`);
  return vscode.Uri.file(path.join(dir, name));
}

/** A fresh sub-folder of the workspace holding a copy of `from`. */
function copyInto(sub: string, from: string, name = path.basename(from)): vscode.Uri {
  const dir = path.join(workspaceDir(), sub);
  fs.mkdirSync(dir, { recursive: true });
  const to = path.join(dir, name);
  fs.copyFileSync(from, to);
  return vscode.Uri.file(to);
}

/** Runs a model on a seeded random input (dynamic dimensions = 1); returns each output's dims. */
async function runModel(file: string): Promise<Record<string, readonly number[]>> {
  const session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'] });
  try {
    const feeds: Record<string, import('onnxruntime-node').Tensor> = {};
    let seed = 1;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    for (const meta of session.inputMetadata) {
      assert.ok(meta.isTensor, `input ${meta.name} is a tensor`);
      const dims = meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
      const n = dims.reduce((a, b) => a * b, 1);
      feeds[meta.name] = new ort.Tensor('float32', Float32Array.from({ length: n }, rnd), dims);
    }
    const out = await session.run(feeds);
    const shapes: Record<string, readonly number[]> = {};
    for (const [k, v] of Object.entries(out)) {
      shapes[k] = v.dims;
      const data = v.data as Float32Array;
      assert.ok(data.every((x) => Number.isFinite(x)), `${path.basename(file)}: output ${k} is finite`);
    }
    return shapes;
  } finally {
    await session.release();
  }
}

async function assertPrunedRuns(original: vscode.Uri, report: Report | undefined): Promise<void> {
  assert.ok(report, 'the command returned a prune report');
  assert.equal(path.dirname(report.output), path.dirname(original.fsPath), 'written beside the original');
  assert.match(path.basename(report.output), /\.pruned(-\d+)?\.onnx$/);
  assert.ok(fs.existsSync(report.output), `${report.output} exists`);
  assert.ok(report.params.after < report.params.before, `params ${report.params.before} → ${report.params.after}`);
  assert.deepEqual(await runModel(report.output), await runModel(original.fsPath), 'pruned output shapes = original output shapes');
}

/** Replaces vscode.window.showErrorMessage for the duration of fn; returns the messages shown. */
async function captureErrors(fn: () => PromiseLike<unknown>): Promise<{ messages: string[]; result: unknown }> {
  const messages: string[] = [];
  const win = vscode.window as { showErrorMessage: (...a: unknown[]) => Thenable<unknown> };
  const original = win.showErrorMessage;
  win.showErrorMessage = (...a: unknown[]) => {
    messages.push(String(a[0]));
    return Promise.resolve(undefined);
  };
  try {
    return { messages, result: await fn() };
  } finally {
    win.showErrorMessage = original;
  }
}

function leftovers(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => /\.pruned.*\.onnx|\.tmp-|\.tmp$|\.data$/.test(n));
}

describe('ONNX Pruner extension', function () {
  this.timeout(180_000);

  before(async () => {
    const ext = vscode.extensions.getExtension(id);
    assert.ok(ext);
    await ext.activate();
  });

  it('activates and returns its API', () => {
    const ext = vscode.extensions.getExtension(id)!;
    assert.equal(ext.isActive, true);
    const api = ext.exports as { commands?: unknown; editors?: unknown };
    assert.ok(api.commands, 'API has commands');
    assert.ok(api.editors, 'API has editors');
  });

  it('runs in the workspace\'s extension host, where the models and calibration data are (remote workspaces included)', () => {
    const ext = vscode.extensions.getExtension(id)!;
    // a UI-side extension could not read the workspace's files nor load onnxruntime-node there
    assert.equal(ext.extensionKind, vscode.ExtensionKind.Workspace);
    assert.deepEqual(ext.packageJSON.extensionKind, ['workspace']);
  });

  it('registers every command contributed in package.json', async () => {
    const contributed = (vscode.extensions.getExtension(id)!.packageJSON.contributes.commands as { command: string }[]).map((c) => c.command);
    assert.ok(contributed.length >= 7, `${contributed.length} contributed commands`);
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = contributed.filter((c) => !registered.has(c));
    assert.deepEqual(missing, [], `commands contributed but not registered: ${missing.join(', ')}`);
  });

  it('Prune Channels writes a valid pruned model beside the sample', async () => {
    const model = sample();
    const report = (await vscode.commands.executeCommand('onnxPruner.pruneChannels', model, { criterion: 'l1', ratio: 0.3, scope: 'uniform', quiet: true, validate: false })) as Report | undefined;
    await assertPrunedRuns(model, report);
    assert.ok(report!.macs.after < report!.macs.before, 'fewer MACs');
  });

  it('Prune Channels on a shared model (copied into the workspace)', async function () {
    const src = sharedModels && path.join(sharedModels, 'synthetic', 'mobilenet_v1_w025_bn.onnx');
    if (!src || !fs.existsSync(src)) {
      console.log('    shared models (../shared/models) not reachable: skipped');
      this.skip();
    }
    const model = copyInto('shared', src);
    const report = (await vscode.commands.executeCommand('onnxPruner.pruneChannels', model, { criterion: 'bn-gamma', ratio: 0.5, scope: 'global', quiet: true, validate: false })) as Report | undefined;
    await assertPrunedRuns(model, report);
  });

  it('opens .onnx files in the custom editor', async () => {
    const model = sample();
    await vscode.commands.executeCommand('vscode.openWith', model, 'onnxPruner.modelView');
    const deadline = Date.now() + 20_000;
    let input: unknown;
    while (Date.now() < deadline) {
      input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
      if (input instanceof vscode.TabInputCustom) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(input instanceof vscode.TabInputCustom, 'the active tab is a custom editor');
    assert.equal(input.viewType, 'onnxPruner.modelView');
    assert.equal(input.uri.fsPath, model.fsPath);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('an .onnx already open as text when the extension starts moves to the model view', async () => {
    const model = sample();
    await vscode.commands.executeCommand('vscode.openWith', model, 'default');
    const isText = (t: vscode.Tab | undefined) => t?.input instanceof vscode.TabInputText && t.input.uri.fsPath === model.fsPath;
    assert.ok(isText(vscode.window.tabGroups.activeTabGroup.activeTab), 'opened as text first');
    const api = vscode.extensions.getExtension(id)!.exports as { reopenOnnxTextTabs: () => Promise<number> };
    assert.equal(await api.reopenOnnxTextTabs(), 1);
    const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs);
    assert.equal(tabs.filter(isText).length, 0, 'no text tab of the model left');
    const active = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    assert.ok(active instanceof vscode.TabInputCustom && active.viewType === 'onnxPruner.modelView' && active.uri.fsPath === model.fsPath, 'the model view is active');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('an .onnx that opens as text in the first seconds after activation moves to the model view; later, text stays text', async () => {
    const model = sample();
    const api = vscode.extensions.getExtension(id)!.exports as { watchOnnxTextTabs: (ms: number) => vscode.Disposable };
    const isText = (t: vscode.Tab | undefined) => t?.input instanceof vscode.TabInputText && t.input.uri.fsPath === model.fsPath;
    const textTabs = () => vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter(isText).length;
    const watch = api.watchOnnxTextTabs(5000);
    try {
      await vscode.commands.executeCommand('vscode.openWith', model, 'default');
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && textTabs() > 0) await new Promise((r) => setTimeout(r, 100));
      assert.equal(textTabs(), 0, 'the text tab was replaced');
      const active = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
      assert.ok(active instanceof vscode.TabInputCustom && active.viewType === 'onnxPruner.modelView' && active.uri.fsPath === model.fsPath, 'the model view is active');
    } finally {
      watch.dispose();
    }
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    // the watch over: opening as text is the user's choice, and stays
    await vscode.commands.executeCommand('vscode.openWith', model, 'default');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(textTabs(), 1, 'text stays text');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('a prune cancelled at once leaves no file', async () => {
    const model = copyInto('cancel-now', sample().fsPath);
    const ac = new AbortController();
    ac.abort();
    const result = await vscode.commands.executeCommand('onnxPruner.pruneChannels', model, { criterion: 'l1', ratio: 0.3, quiet: true, validate: false, signal: ac.signal });
    assert.equal(result, undefined, 'a cancelled prune returns nothing');
    assert.deepEqual(leftovers(path.dirname(model.fsPath)), []);
  });

  it('a prune cancelled mid-way leaves no file', async function () {
    // A larger model so that the prune is still running when cancelled.
    const src = sharedModels && path.join(sharedModels, 'synthetic', 'resnet18_bn.onnx');
    if (!src || !fs.existsSync(src)) {
      console.log('    shared models (../shared/models) not reachable: skipped');
      this.skip();
    }
    const model = copyInto('cancel-mid', src);
    const ac = new AbortController();
    const started = Date.now();
    setTimeout(() => ac.abort(), 150);
    const result = await vscode.commands.executeCommand('onnxPruner.pruneChannels', model, { criterion: 'l1', ratio: 0.5, quiet: true, validate: true, signal: ac.signal });
    assert.equal(result, undefined, `cancelled after 150 ms (returned after ${Date.now() - started} ms)`);
    // The worker may still be unwinding its temp files: give it a moment.
    const deadline = Date.now() + 5000;
    while (leftovers(path.dirname(model.fsPath)).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(leftovers(path.dirname(model.fsPath)), []);
    // And the engine still works after a cancellation.
    const report = (await vscode.commands.executeCommand('onnxPruner.pruneChannels', model, { criterion: 'l1', ratio: 0.5, quiet: true, validate: false })) as Report | undefined;
    await assertPrunedRuns(model, report);
  });

  for (const [what, bytes] of [
    ['garbage', Buffer.from('this is not an ONNX model at all\n'.repeat(40))],
    ['empty', Buffer.alloc(0)],
  ] as const) {
    it(`a ${what} .onnx gives an error notification, no crash, and the next command works`, async () => {
      const dir = path.join(workspaceDir(), `bad-${what}`);
      fs.mkdirSync(dir, { recursive: true });
      const bad = vscode.Uri.file(path.join(dir, `${what}.onnx`));
      fs.writeFileSync(bad.fsPath, bytes);
      const { messages, result } = await captureErrors(() => vscode.commands.executeCommand('onnxPruner.pruneChannels', bad, { criterion: 'l1', ratio: 0.3, quiet: true, validate: false }));
      assert.equal(result, undefined);
      assert.equal(messages.length, 1, `one error notification: ${JSON.stringify(messages)}`);
      assert.match(messages[0]!, /^ONNX Pruner: /);
      assert.match(messages[0]!, new RegExp(`${what}\\.onnx|empty|not an ONNX|parse|invalid|protobuf`, 'i'));
      assert.deepEqual(leftovers(dir), []);
      const widths = await captureErrors(() => vscode.commands.executeCommand('onnxPruner.exportWidths', bad, vscode.Uri.file(path.join(dir, 'w.json'))));
      assert.equal(widths.result, undefined);
      assert.equal(widths.messages.length, 1);
      assert.equal(vscode.extensions.getExtension(id)!.isActive, true);
      const model = sample();
      const report = (await vscode.commands.executeCommand('onnxPruner.pruneChannels', model, { criterion: 'l2', ratio: 0.2, quiet: true, validate: false })) as Report | undefined;
      await assertPrunedRuns(model, report);
    });
  }

  it('Apply Pruning Plan prunes by a plan JSON', async () => {
    const model = copyInto('plan', sample().fsPath);
    const planFile = path.join(path.dirname(model.fsPath), 'plan.json');
    fs.writeFileSync(planFile, JSON.stringify({ version: 1, criterion: 'bn-gamma', ratio: 0.4, scope: 'global', roundTo: 2 }));
    const report = (await vscode.commands.executeCommand('onnxPruner.applyPlan', model, planFile)) as Report | undefined;
    await assertPrunedRuns(model, report);
    const plan = report!.plan as { criterion?: string; ratio?: number } | undefined;
    if (plan) assert.equal(plan.criterion, 'bn-gamma');
    // A plan that is not JSON: an error, no file.
    fs.writeFileSync(planFile, '{ not json');
    const { messages, result } = await captureErrors(() => vscode.commands.executeCommand('onnxPruner.applyPlan', model, planFile));
    assert.equal(result, undefined);
    assert.equal(messages.length, 1);
    assert.match(messages[0]!, /plan\.json/);
  });

  it('Export Layer Widths writes per-layer channel counts, smaller after pruning', async () => {
    const model = copyInto('widths', sample().fsPath);
    const target = vscode.Uri.file(path.join(path.dirname(model.fsPath), 'widths.json'));
    const written = await vscode.commands.executeCommand('onnxPruner.exportWidths', model, target);
    assert.equal(written, target.fsPath);
    const before = JSON.parse(fs.readFileSync(target.fsPath, 'utf8')) as { model: string; widths: Record<string, number> };
    assert.equal(before.model, path.basename(model.fsPath));
    const layers = Object.entries(before.widths);
    assert.ok(layers.length >= 3, `${layers.length} layers`);
    for (const [name, c] of layers) assert.ok(Number.isInteger(c) && c > 0, `${name}: ${c}`);

    const report = (await vscode.commands.executeCommand('onnxPruner.pruneChannels', model, { criterion: 'l1', ratio: 0.5, scope: 'uniform', quiet: true, validate: false })) as Report;
    const target2 = vscode.Uri.file(path.join(path.dirname(model.fsPath), 'widths-pruned.json'));
    await vscode.commands.executeCommand('onnxPruner.exportWidths', vscode.Uri.file(report.output), target2);
    const after = JSON.parse(fs.readFileSync(target2.fsPath, 'utf8')) as { widths: Record<string, number> };
    const shrunk = layers.filter(([name, c]) => after.widths[name] !== undefined && after.widths[name]! < c);
    assert.ok(shrunk.length > 0, `some layer is narrower after pruning: ${JSON.stringify(after.widths)}`);
    for (const [name, c] of layers) if (after.widths[name] !== undefined) assert.ok(after.widths[name]! <= c, `${name} did not grow`);
  });

  it('Validate Pruned Model reports the provider (CPU here, saying why not CUDA)', async () => {
    const config = vscode.workspace.getConfiguration('onnxPruner');
    await config.update('executionProvider', 'auto', vscode.ConfigurationTarget.Workspace);
    const model = copyInto('validate', sample().fsPath);
    const pruned = (await vscode.commands.executeCommand('onnxPruner.pruneChannels', model, { criterion: 'bn-gamma', ratio: 0.3, quiet: true, validate: false })) as Report;
    const report = (await vscode.commands.executeCommand('onnxPruner.validatePruned', model, vscode.Uri.file(pruned.output))) as Record<string, unknown> | undefined;
    assert.ok(report, 'a validation report');
    const provider = String(report.provider);
    if (provider === 'cuda') {
      console.log('    CUDA is available on this machine: validation ran on CUDA');
    } else {
      assert.equal(provider, 'cpu');
      assert.match(String(report.fallbackReason), /CUDA/i);
    }
  });

  it('prune with validation reports the execution provider', async () => {
    const model = copyInto('prune-validate', sample().fsPath);
    const report = (await vscode.commands.executeCommand('onnxPruner.pruneChannels', model, { criterion: 'l1', ratio: 0.25, quiet: true, validate: true })) as Report | undefined;
    await assertPrunedRuns(model, report);
    const v = report!.validation as Record<string, unknown> | undefined;
    assert.ok(v, 'validation in the report');
    assert.ok(['cpu', 'cuda'].includes(String(v.provider)), `provider ${String(v.provider)}`);
  });

  it('workspace trust: pruning and running need trust; inspection does not', () => {
    const pkg = vscode.extensions.getExtension(id)!.packageJSON;
    assert.equal(pkg.capabilities.untrustedWorkspaces.supported, 'limited');
    const byId = new Map((pkg.contributes.commands as { command: string; enablement?: string }[]).map((c) => [c.command, c]));
    for (const c of ['onnxPruner.pruneChannels', 'onnxPruner.applyPlan', 'onnxPruner.validatePruned']) assert.match(byId.get(c)?.enablement ?? '', /isWorkspaceTrusted/, c);
    for (const c of ['onnxPruner.inspectLayer', 'onnxPruner.exportWidths', 'onnxPruner.openModelView']) assert.doesNotMatch(byId.get(c)?.enablement ?? '', /isWorkspaceTrusted/, c);
    // This suite runs with workspace trust disabled (= trusted), so the commands above ran.
    assert.equal(vscode.workspace.isTrusted, true);
  });
});
