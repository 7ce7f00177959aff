// Data choices in the extension host: the view's chooseArray request for a .npz file (which array of
// the file is read, remembered for the model, described back), the Prune Channels… command with a
// data criterion (calibration data asked for, remembered for the model like the view's choice, the
// channels ranked on it), and the refusal, with its reason, of data criteria in an untrusted
// workspace (calibration runs the model).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { loadModel } from '../../../src/engine/onnx/model.ts';
import { f32Bytes, npyBytes, writeNpy, writeNpz } from '../../helpers/npy.ts';
import { fmnistBn } from '../../helpers/paths.ts';

const id = 'onnx-pruner.onnx-pruner';

type Report = { output: string; plan?: { criterion?: string } };
interface DataState { calibration?: { name: string; count: number; total: number; sampleShape: number[] }; npz?: Record<string, { file: string; array: string; arrays: { name: string; shape: number[] }[] }>; errors: string[] }
type Handler = (params: Record<string, unknown>, ctx: { signal: AbortSignal; progress: () => void }) => Promise<unknown>;
interface Api {
  editors: {
    openCustomDocument(uri: vscode.Uri): Promise<unknown>;
    dataJob(model: vscode.Uri): { calibration?: string; recover: string };
  };
}

const api = () => vscode.extensions.getExtension(id)!.exports as Api;
/** The handlers the host answers the model view's requests with (as the view's RPC server calls them). */
async function viewHandlers(model: vscode.Uri): Promise<Record<string, Handler>> {
  const editors = api().editors;
  const doc = await editors.openCustomDocument(model);
  return (editors as unknown as { viewHandlers(d: unknown): Record<string, Handler> }).viewHandlers(doc);
}
const ctx = () => ({ signal: new AbortController().signal, progress: () => {} });

function fresh(sub: string): vscode.Uri {
  const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  assert.ok(root, 'a workspace folder is open');
  const dir = path.join(root, 'data-choices', sub);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(fmnistBn, path.join(dir, 'm.onnx'));
  return vscode.Uri.file(path.join(dir, 'm.onnx'));
}

/** Seeded inputs in [0, 1) for the 1×28×28 sample model. */
function inputs(n: number, seed: number): Buffer {
  let s = seed >>> 0;
  return f32Bytes(Float32Array.from({ length: n * 28 * 28 }, () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32)));
}

/** Replaces vscode.window functions for the duration of fn. */
async function stubbed<T>(impls: Record<string, (...a: unknown[]) => unknown>, fn: () => Promise<T>): Promise<T> {
  const win = vscode.window as unknown as Record<string, unknown>;
  const originals = Object.fromEntries(Object.keys(impls).map((k) => [k, win[k]]));
  Object.assign(win, impls);
  try {
    return await fn();
  } finally {
    Object.assign(win, originals);
  }
}

/** Runs fn with the workspace seen as untrusted (Restricted Mode) by the extension. */
async function untrusted<T>(fn: () => Promise<T>): Promise<T> {
  const ws = vscode.workspace as unknown as object;
  const own = Object.getOwnPropertyDescriptor(ws, 'isTrusted');
  Object.defineProperty(ws, 'isTrusted', { get: () => false, configurable: true });
  try {
    assert.equal(vscode.workspace.isTrusted, false, 'the trust stub took effect');
    return await fn();
  } finally {
    if (own) Object.defineProperty(ws, 'isTrusted', own);
    else delete (ws as Record<string, unknown>).isTrusted;
  }
}

describe('Data choices (extension host)', function () {
  this.timeout(180_000);

  before(async () => {
    await vscode.extensions.getExtension(id)!.activate();
  });

  it('chooseArray: the chosen array of a .npz file is read and remembered; a file that is not a .npz has no array to choose', async () => {
    const model = fresh('npz');
    const dir = path.dirname(model.fsPath);
    const npz = path.join(dir, 'calib.npz');
    writeNpz(npz, { small: npyBytes('<f4', [3, 1, 28, 28], inputs(3, 1)), large: npyBytes('<f4', [7, 1, 28, 28], inputs(7, 2)) });
    const npy = path.join(dir, 'eval.npy');
    writeNpy(npy, '<f4', [4, 1, 28, 28], inputs(4, 3));
    const h = await viewHandlers(model);
    await stubbed({ showOpenDialog: () => Promise.resolve([vscode.Uri.file(npz)]) }, () => h.chooseData({ role: 'calibration', pick: 'file' }, ctx()));
    const first = (await h.getData({}, ctx())) as DataState;
    assert.deepEqual(first.errors, []);
    const arrays = first.npz?.calibration?.arrays.map((a) => `${a.name}:${a.shape.join('x')}`).sort();
    assert.deepEqual(arrays, ['large:7x1x28x28', 'small:3x1x28x28']);
    const state = (await h.chooseArray({ role: 'calibration', array: 'large' }, ctx())) as DataState;
    assert.deepEqual(state.errors, []);
    assert.equal(state.npz?.calibration?.array, 'large');
    assert.equal(state.calibration?.total, 7, JSON.stringify(state.calibration));
    assert.deepEqual(state.calibration?.sampleShape, [1, 28, 28]);
    assert.equal(api().editors.dataJob(model).calibration, `${npz}:large`, 'remembered for the model (the command and the prune read it)');
    // choosing again replaces the array, not the file
    const again = (await h.chooseArray({ role: 'calibration', array: 'small' }, ctx())) as DataState;
    assert.equal(again.calibration?.total, 3);
    assert.equal(api().editors.dataJob(model).calibration, `${npz}:small`);
    // an evaluation .npy has no arrays: labels cannot be one of its arrays
    await stubbed({ showOpenDialog: () => Promise.resolve([vscode.Uri.file(npy)]) }, () => h.chooseData({ role: 'evaluation', pick: 'file' }, ctx()));
    await assert.rejects(h.chooseArray({ role: 'labels', array: 'y' }, ctx()), (e: Error) => /the evaluation data is not a \.npz file: there is no array to choose/.test(e.message));
  });

  it('Prune Channels… offers the data criteria: calibration data asked for, remembered for the model, the channels ranked on it', async () => {
    const model = fresh('command');
    const calib = path.join(path.dirname(model.fsPath), 'calib.npy');
    writeNpy(calib, '<f4', [16, 1, 28, 28], inputs(16, 4));
    const titles: string[] = [];
    const errors: string[] = [];
    const offered: string[][] = [];
    const pick = (items: unknown, opts: unknown) => {
      const list = items as (vscode.QuickPickItem & { id?: string; pick?: string; go?: boolean })[];
      const title = String((opts as { title?: string })?.title ?? '');
      titles.push(title);
      offered.push(list.map((i) => i.id ?? i.label));
      if (/importance criterion/.test(title)) return Promise.resolve(list.find((i) => i.id === 'apoz'));
      if (/calibration data/.test(title)) return Promise.resolve(list.find((i) => i.pick === 'file'));
      if (/scope/.test(title)) return Promise.resolve(list.find((i) => i.id === 'uniform'));
      if (/recovery/.test(title)) return Promise.resolve(list.find((i) => i.id === 'none'));
      return Promise.resolve(list.find((i) => i.go));
    };
    const report = (await stubbed(
      {
        showQuickPick: pick,
        showInputBox: () => Promise.resolve('0.25'),
        showOpenDialog: () => Promise.resolve([vscode.Uri.file(calib)]),
        showInformationMessage: () => Promise.resolve(undefined),
        showErrorMessage: (m: unknown) => (errors.push(String(m)), Promise.resolve(undefined)),
      },
      () => Promise.resolve(vscode.commands.executeCommand('onnxPruner.pruneChannels', model, { validate: false })),
    )) as Report | undefined;
    assert.deepEqual(errors, []);
    const criteria = offered[0];
    for (const c of ['l1', 'bn-gamma', 'activation', 'apoz', 'thinet']) assert.ok(criteria.includes(c), `${c} offered: ${criteria.join(', ')}`);
    assert.ok(titles.some((t) => /calibration data/.test(t)), `calibration asked for: ${titles.join(' | ')}`);
    assert.ok(titles.some((t) => /recovery/.test(t)), 'recovery asked for');
    assert.ok(report && fs.existsSync(report.output), `written: ${JSON.stringify(report)}`);
    const meta = new Map(loadModel(report.output).proto.metadata_props.map((e) => [e.key, e.value]));
    assert.equal(meta.get('onnx_pruner.criterion'), 'apoz');
    const job = api().editors.dataJob(model);
    assert.equal(job.calibration, calib, 'the calibration data is remembered for the model, as in its view');
    assert.equal(job.recover, 'none', 'the recovery chosen is remembered too');
  });

  it('in an untrusted workspace, data criteria are refused with the reason (calibration runs the model); nothing is written', async () => {
    const model = fresh('untrusted');
    const shown: string[] = [];
    const errors = { showErrorMessage: (m: unknown) => (shown.push(String(m)), Promise.resolve(undefined)) };
    const quiet = await untrusted(() => stubbed(errors, () => Promise.resolve(vscode.commands.executeCommand('onnxPruner.pruneChannels', model, { quiet: true, validate: false, criterion: 'activation', ratio: 0.3 }))));
    assert.equal(quiet, undefined);
    assert.match(shown[0] ?? '', /Criterion activation runs the model on calibration inputs: it needs a trusted workspace/);
    // a weight criterion gets the general refusal: pruning needs trust too
    await untrusted(() => stubbed(errors, () => Promise.resolve(vscode.commands.executeCommand('onnxPruner.pruneChannels', model, { quiet: true, validate: false, criterion: 'l1', ratio: 0.3 }))));
    assert.match(shown[1] ?? '', /need a trusted workspace/);
    assert.doesNotMatch(shown[1] ?? '', /Criterion/);
    // the view's requests: a preview ranked by a data criterion, and choosing data
    const h = await viewHandlers(model);
    await untrusted(async () => {
      await assert.rejects(h.previewPlan({ plan: { criterion: 'thinet', ratio: 0.3, scope: 'uniform' } }, ctx()), (e: Error) => /Criterion thinet runs the model on calibration inputs: it needs a trusted workspace/.test(e.message));
      await assert.rejects(h.chooseArray({ role: 'calibration', array: 'x' }, ctx()), (e: Error) => /run the model: they need a trusted workspace/.test(e.message));
    });
    assert.deepEqual(fs.readdirSync(path.dirname(model.fsPath)), ['m.onnx'], 'nothing written');
  });
});
