// The commands of the "ONNX Pruner" category. Each accepts optional arguments so that scripts
// and tests can run it without the quick picks (e.g. `onnxPruner.pruneChannels(uri, { criterion: 'l1', ratio: 0.3 })`).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { PLAN_CRITERIA, PLAN_CRITERION_LABELS, RECOVER_LABELS, RECOVER_MODES, isDataCriterion, type PruneReport, type RecoverMode, type ValidationReport, type ViewPlan } from '../shared/protocol.ts';
import { readArgs, selectedModels } from './commandArgs.ts';
import { EngineRequestError, type EngineClient } from './engineClient.ts';
import { VIEW_TYPE, type ModelEditorProvider } from './modelEditor.ts';
import type { Output } from './output.ts';
import { planFromSettings, readSettings } from './settings.ts';
import type { WrittenFolders } from './writtenFolders.ts';
import type { DataJob } from '../worker/protocol.ts';
import { PrunerError, readJsonFile, writeTextFileSafely } from '../engine/index.ts';
import { change, si } from '../shared/format.ts';

export interface PruneCommandOptions extends Partial<ViewPlan> {
  /** Run ONNX Runtime validation afterwards (default: the validateAfterPrune setting). */
  validate?: boolean;
  /** Ask nothing: use these options and the settings (for scripts and tests). */
  quiet?: boolean;
  /** Where to write the result (default: beside the original, per the outputName setting). */
  out?: string;
  /** A plan document (JSON) to apply instead of criterion/ratio. */
  planFile?: string;
  /** Cancels the prune like the notification's Cancel button (for scripts and tests). */
  signal?: AbortSignal;
  /** With `quiet`: write even a plan that cuts some layer group to its minimum (otherwise refused; interactive runs ask). */
  acceptMinimal?: boolean;
}

/** Whether a plan that cuts layers to their minimum is written: asked in a modal dialog, or decided by the caller. */
export type AcceptMinimal = boolean | 'ask';

export class Commands {
  constructor(
    private readonly engine: EngineClient,
    private readonly editors: ModelEditorProvider,
    private readonly output: Output,
    private readonly folders?: WrittenFolders,
  ) {}

  register(context: vscode.ExtensionContext): void {
    const reg = (id: string, fn: (...args: any[]) => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, fn));
    // Every handler reads its arguments through readArgs: the explorer, the editor title, the palette and scripts pass different ones.
    reg('onnxPruner.pruneChannels', (...args: unknown[]) => this.guard(() => {
      const a = readArgs(args);
      return this.pruneChannels(a.uri, isPlainObject(a.extra) ? (a.extra as PruneCommandOptions) : undefined);
    }));
    reg('onnxPruner.applyPlan', (...args: unknown[]) => this.guard(() => {
      const a = readArgs(args);
      return this.applyPlan(a.uri, typeof a.extra === 'string' ? a.extra : undefined);
    }));
    reg('onnxPruner.inspectLayer', (layer?: unknown) => this.guard(() => this.inspectLayer(typeof layer === 'string' ? layer : undefined)));
    reg('onnxPruner.validatePruned', (...args: unknown[]) => this.guard(() => {
      const a = readArgs(args);
      // Two models selected in the explorer: the original and the pruned one (the name with ".pruned", else the newer file).
      const pair = selectedModels(a).length === 2 ? originalAndPruned(selectedModels(a)) : undefined;
      if (pair) return this.validatePruned(pair[0], pair[1]);
      return this.validatePruned(a.uri, a.extra instanceof vscode.Uri ? a.extra : undefined);
    }));
    reg('onnxPruner.exportPlan', (...args: unknown[]) => this.guard(() => this.exportPlan(readArgs(args).uri)));
    reg('onnxPruner.exportWidths', (...args: unknown[]) => this.guard(() => {
      const a = readArgs(args);
      return this.exportWidths(a.uri, a.extra instanceof vscode.Uri ? a.extra : undefined);
    }));
    reg('onnxPruner.openModelView', (...args: unknown[]) => this.guard(async () => {
      const model = await this.pickModel(readArgs(args).uri);
      if (model) await vscode.commands.executeCommand('vscode.openWith', model, VIEW_TYPE);
    }));
  }

  /** Errors become a notification naming the file and the problem; details go to the Output channel. Never a crash. */
  private async guard<T>(fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (e) {
      const err = e as EngineRequestError;
      if (err?.cancelled) {
        this.output.info('Cancelled by the user');
        return undefined;
      }
      this.output.error(err?.message ?? String(e), err?.details ?? (err instanceof Error && !(err as EngineRequestError).user ? err.stack : undefined));
      void vscode.window.showErrorMessage(`ONNX Pruner: ${err?.message ?? String(e)}`, 'Show Details').then((a) => {
        if (a) this.output.show();
      });
      return undefined;
    }
  }

  /** The model a command applies to: its argument, the active model view, or one the user picks. */
  private async pickModel(uri?: vscode.Uri, title = 'Choose an ONNX model'): Promise<vscode.Uri | undefined> {
    if (uri instanceof vscode.Uri) return uri;
    const active = this.editors.active;
    if (active) return active.uri;
    const files = await vscode.workspace.findFiles('**/*.onnx', '**/node_modules/**', 200);
    if (files.length) {
      const pick = await vscode.window.showQuickPick(
        files.map((f) => ({ label: path.basename(f.fsPath), description: vscode.workspace.asRelativePath(f), uri: f })),
        { title, matchOnDescription: true },
      );
      return pick?.uri;
    }
    const chosen = await vscode.window.showOpenDialog({ title, canSelectMany: false, filters: { 'ONNX models': ['onnx'] } });
    return chosen?.[0];
  }

  private requireTrust(plan?: Partial<ViewPlan>): void {
    // a data criterion first: its reason is the more specific one
    if (plan?.criterion && isDataCriterion(plan.criterion)) requireTrustForCriterion(plan.criterion);
    if (!vscode.workspace.isTrusted) throw new EngineRequestError('Pruning and running models need a trusted workspace', { user: true });
  }

  /** The calibration data a plan ranked by a data criterion is measured on (the model's remembered choice); nothing for the others. */
  private planData(model: vscode.Uri, plan: ViewPlan): { data?: DataJob } {
    return isDataCriterion(plan.criterion) ? { data: this.editors.dataJob(model) } : {};
  }

  /**
   * Quick picks for criterion (the weight criteria, sketch, and the data criteria, which ask for
   * calibration data), ratio, scope and recovery, defaulting to the settings and to the data
   * remembered for the model; undefined when dismissed. Data and recovery chosen here are
   * remembered for the model, as in its view.
   */
  private async askPlan(model: vscode.Uri): Promise<ViewPlan | undefined> {
    const s = readSettings(model);
    const criteria = [s.criterion, ...PLAN_CRITERIA.filter((c) => c !== s.criterion)];
    const c = await vscode.window.showQuickPick(
      criteria.map((id) => ({
        label: PLAN_CRITERION_LABELS[id].name,
        description: `${id}${id === s.criterion ? ' (default)' : ''}${isDataCriterion(id) ? ' · measured on calibration data' : ''}`,
        id,
      })),
      { title: 'Prune Channels (1/4): importance criterion', placeHolder: 'How to rank channels' },
    );
    if (!c) return undefined;
    if (isDataCriterion(c.id)) {
      requireTrustForCriterion(c.id);
      if (!(await this.askCalibration(model, `${PLAN_CRITERION_LABELS[c.id].name} ranks the channels on calibration inputs`))) return undefined;
    }
    const ratioText = await vscode.window.showInputBox({
      title: 'Prune Channels (2/4): ratio',
      prompt: 'Fraction of channels to remove, from 0 to 0.99',
      value: String(s.ratio),
      validateInput: (v) => (isRatio(v) ? undefined : 'Enter a number from 0 to 0.99'),
    });
    if (ratioText === undefined) return undefined;
    const scopes = s.scope === 'global' ? ['global', 'uniform'] : ['uniform', 'global'];
    const sc = await vscode.window.showQuickPick(
      scopes.map((id) => ({
        label: id === 'uniform' ? 'Uniform' : 'Global',
        description: id === 'uniform' ? 'the same ratio in every layer group' : 'one ranking over all layers: each layer gets its own ratio',
        id: id as 'uniform' | 'global',
      })),
      { title: 'Prune Channels (3/4): scope' },
    );
    if (!sc) return undefined;
    const current = this.editors.dataJob(model).recover;
    const modes: RecoverMode[] = [current, ...RECOVER_MODES.filter((m) => m !== current)];
    const r = await vscode.window.showQuickPick(
      modes.map((id) => ({ label: id, description: `${id === current ? '(current) ' : ''}${MODE_NEEDS_DATA.has(id) ? 'needs calibration data' : ''}`.trim(), detail: RECOVER_LABELS[id].help, id })),
      { title: 'Prune Channels (4/4): recovery after pruning' },
    );
    if (!r) return undefined;
    if (MODE_NEEDS_DATA.has(r.id) && !this.editors.dataJob(model).calibration) {
      requireTrustForCriterion(undefined, r.id);
      if (!(await this.askCalibration(model, `Recovery ${r.id} runs on calibration inputs`, false))) return undefined;
    }
    await this.editors.rememberDataOptions(model, { recover: r.id });
    return planFromSettings(s, { criterion: c.id, ratio: Number(ratioText), scope: sc.id });
  }

  /**
   * The calibration data for `model`: the data remembered for it (kept, or changed) or a file or
   * folder chosen now (remembered for the model, as in its view). False when dismissed.
   */
  private async askCalibration(model: vscode.Uri, why: string, offerKept = true): Promise<boolean> {
    const kept = this.editors.dataJob(model).calibration;
    type Item = vscode.QuickPickItem & { use?: string; pick?: 'file' | 'folder' };
    const items: Item[] = [
      ...(kept && offerKept ? [{ label: `$(check) ${path.basename(kept)}`, description: 'the calibration data chosen before', detail: kept, use: kept }] : []),
      { label: '$(file) Choose a file…', description: '.npy, .npz or .f32 array of inputs', pick: 'file' },
      { label: '$(folder) Choose a folder of images…', description: 'JPEG and PNG, preprocessed as the model view proposes', pick: 'folder' },
    ];
    const choice = await vscode.window.showQuickPick(items, { title: 'Prune Channels: calibration data', placeHolder: why });
    if (!choice) return false;
    if (choice.use) return true;
    return (await this.editors.pickData(model, 'calibration', choice.pick!)) !== undefined;
  }

  async pruneChannels(uri?: vscode.Uri, opts: PruneCommandOptions = {}): Promise<PruneReport | undefined> {
    this.requireTrust(opts);
    const model = await this.pickModel(uri, 'Choose the model to prune');
    if (!model) return undefined;
    const s = readSettings(model);
    let plan: ViewPlan | undefined;
    if (opts.planFile) plan = readPlanFile(opts.planFile);
    else if (opts.quiet || opts.criterion || opts.ratio !== undefined || opts.threshold !== undefined) {
      const { validate: _v, quiet: _q, out: _o, planFile: _p, signal: _s, acceptMinimal: _a, ...planOpts } = opts;
      plan = planFromSettings(s, planOpts);
    } else plan = await this.askPlan(model);
    if (!plan) return undefined;
    const validate = opts.validate ?? s.validateAfterPrune;

    if (!opts.quiet) {
      const preview = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Analysing ${path.basename(model.fsPath)}`, cancellable: true },
        async (progress, token) => {
          const signal = abortOn(token);
          await this.engine.request('open', { path: model.fsPath, inputShapes: this.editors.inputShapesFor(model.fsPath) }, { signal, onProgress: (stage) => progress.report({ message: stage }) });
          return this.engine.request('previewPlan', { path: model.fsPath, plan: plan!, ...this.planData(model, plan!) }, { signal });
        },
      );
      const go = await vscode.window.showQuickPick(
        [
          { label: '$(fold) Prune', detail: `Parameters ${si(preview.params.before)} → ${si(preview.params.after)} (${change(preview.params.before, preview.params.after)}), MACs ${si(preview.macs.before)} → ${si(preview.macs.after)} (${change(preview.macs.before, preview.macs.after)}${preview.macs.complete === false ? ', input size unknown' : ''})`, go: true },
          { label: 'Cancel', go: false },
        ],
        {
          title: `Prune ${path.basename(model.fsPath)}: ${planWords(plan)}`,
          ...(preview.macs.complete === false ? { placeHolder: 'The MACs are not those of a real input: the model leaves its input size open. Give it in the model view (Open in ONNX Pruner).' } : {}),
        },
      );
      if (!go?.go) return undefined;
    }

    const report = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Pruning ${path.basename(model.fsPath)}`, cancellable: true },
      // the data chosen in the model's view (calibration, evaluation, recovery) applies here too
      (progress, token) => this.runPrune(model, { plan: plan!, validate, out: opts.out, acceptMinimal: opts.quiet ? opts.acceptMinimal === true : 'ask', data: this.editors.dataJob(model) }, (stage) => progress.report({ message: stage }), anySignal(abortOn(token), opts.signal)),
    );
    if (!opts.quiet) void this.announce(report);
    return report;
  }

  /**
   * Runs the surgery in the worker; shared by the command and the view's Prune button. A plan that
   * cuts some layer group to its minimum is written only after a modal warning is confirmed
   * (`acceptMinimal` 'ask', the default) or when the caller says so.
   */
  async runPrune(model: vscode.Uri, req: { plan: ViewPlan; validate: boolean; out?: string; acceptMinimal?: AcceptMinimal; data?: DataJob }, progress: (stage: string, fraction?: number) => void, signal: AbortSignal): Promise<PruneReport> {
    this.requireTrust(req.plan);
    const s = readSettings(model);
    const started = Date.now();
    const acceptMinimal = req.acceptMinimal ?? 'ask';
    if (acceptMinimal === 'ask') await this.confirmMinimal(model, req.plan, signal);
    this.output.info(`Pruning ${model.fsPath}: ${JSON.stringify(req.plan)}${req.data ? `, data ${JSON.stringify(req.data)}` : ''}`);
    await this.folders?.remember(path.dirname(req.out ? path.resolve(req.out) : model.fsPath));
    const report = await this.engine.request(
      'prune',
      { path: model.fsPath, plan: req.plan, out: req.out, outputName: s.outputName, validate: req.validate, ep: s.executionProvider, allowMinimal: acceptMinimal !== false, inputShapes: this.editors.inputShapesFor(model.fsPath), ...(req.data ? { data: req.data } : {}) },
      { signal, onProgress: (stage, fraction) => { progress(stage, fraction); this.output.info(`  ${stage}`); } },
    );
    this.output.info(`Wrote ${report.output} in ${Date.now() - started} ms`);
    const v = report.validation;
    if (v) this.output.info(`Validation ran on ${v.provider}${v.fallbackReason ? ` (${v.fallbackReason})` : ''}`);
    return report;
  }

  /** A modal warning before writing a plan that cuts layer groups to their minimum; cancels unless confirmed. */
  private async confirmMinimal(model: vscode.Uri, plan: ViewPlan, signal: AbortSignal): Promise<void> {
    await this.engine.request('open', { path: model.fsPath, inputShapes: this.editors.inputShapesFor(model.fsPath) }, { signal });
    const preview = await this.engine.request('previewPlan', { path: model.fsPath, plan, ...this.planData(model, plan) }, { signal });
    const m = preview.atMinimum ?? [];
    if (!m.length) return;
    const list = m.slice(0, 5).map((x) => `${x.layer}: ${x.channelsBefore} → ${x.channelsAfter}`).join('\n');
    const choice = await vscode.window.showWarningMessage(
      `This plan cuts ${m.length} layer group(s) of ${path.basename(model.fsPath)} down to the least they can keep. The pruned model will hardly work without retraining.`,
      { modal: true, detail: `${list}${m.length > 5 ? '\n…' : ''}` },
      'Prune Anyway',
    );
    if (choice !== 'Prune Anyway') throw new EngineRequestError('Cancelled: the plan cuts layers to their minimum', { cancelled: true, user: true });
  }

  private async announce(report: PruneReport): Promise<void> {
    const params = report.params;
    const out = report.output;
    const choice = await vscode.window.showInformationMessage(
      `Pruned model written: ${path.basename(out)} — parameters ${si(params.before)} → ${si(params.after)} (${change(params.before, params.after)})`,
      'Open Pruned Model',
      'Show Report',
    );
    if (choice === 'Open Pruned Model') await vscode.commands.executeCommand('vscode.openWith', vscode.Uri.file(out), VIEW_TYPE);
    if (choice === 'Show Report') await showJson(report, path.basename(out, '.onnx'));
  }

  async applyPlan(uri?: vscode.Uri, planFile?: string): Promise<PruneReport | undefined> {
    this.requireTrust();
    const model = await this.pickModel(uri, 'Choose the model to prune');
    if (!model) return undefined;
    let file = planFile;
    if (!file) {
      const picked = await vscode.window.showOpenDialog({ title: 'Choose a pruning plan (JSON)', filters: { 'Pruning plan': ['json'] }, defaultUri: vscode.Uri.file(path.dirname(model.fsPath)) });
      file = picked?.[0]?.fsPath;
    }
    if (!file) return undefined;
    return this.pruneChannels(model, { planFile: file, quiet: planFile !== undefined });
  }

  async inspectLayer(layer?: string): Promise<void> {
    const doc = this.editors.active;
    if (!doc) throw new EngineRequestError('Open an .onnx model in the ONNX Pruner editor first', { user: true });
    let name = layer;
    if (!name) {
      await doc.load();
      const layers = await this.engine.request('listLayers', { path: doc.path });
      const pick = await vscode.window.showQuickPick(
        layers.map((l) => ({ label: l.name, description: `${l.op} · ${l.channels} channels${l.prunable ? '' : ' · frozen'}` })),
        { title: 'Inspect Layer', matchOnDescription: true },
      );
      name = pick?.label;
    }
    if (name) this.editors.broadcast(doc.path, { type: 'revealLayer', layer: name });
  }

  async validatePruned(original?: vscode.Uri, pruned?: vscode.Uri): Promise<ValidationReport | undefined> {
    this.requireTrust();
    const orig = await this.pickModel(original, 'Choose the ORIGINAL model');
    if (!orig) return undefined;
    let pr = pruned;
    if (!pr) {
      const guess = orig.fsPath.replace(/\.onnx$/i, '.pruned.onnx');
      const picked = await vscode.window.showOpenDialog({
        title: 'Choose the PRUNED model',
        filters: { 'ONNX models': ['onnx'] },
        defaultUri: vscode.Uri.file(fs.existsSync(guess) ? guess : path.dirname(orig.fsPath)),
      });
      pr = picked?.[0];
    }
    if (!pr) return undefined;
    const ep = readSettings(orig).executionProvider;
    const started = Date.now();
    const report = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Validating ${path.basename(pr.fsPath)} against ${path.basename(orig.fsPath)}`, cancellable: true },
      // the evaluation data, validation inputs, batch, runs and input sizes chosen in the original's view
      (progress, token) => this.engine.request('validate', { original: orig.fsPath, pruned: pr!.fsPath, ep, data: this.editors.dataJob(orig), inputShapes: this.editors.inputShapesFor(orig.fsPath) }, { signal: abortOn(token), onProgress: (stage) => progress.report({ message: stage }) }),
    );
    this.output.info(`Validated ${pr.fsPath} on ${report.provider} in ${Date.now() - started} ms${report.fallbackReason ? ` (${report.fallbackReason})` : ''}`);
    this.output.info(JSON.stringify(report, null, 2));
    // a note (e.g. inputs fed at sizes nobody gave) changes what the figures mean: shown, not only in the report
    const done = `Validation ran on ${report.provider.toUpperCase()}.`;
    const shown = report.notes?.length
      ? vscode.window.showWarningMessage(`${done} Note: ${report.notes.join(' ')}`, 'Show Report')
      : vscode.window.showInformationMessage(`${done} Details are in the report.`, 'Show Report');
    void shown.then((a) => {
      if (a) void showJson(report, `${path.basename(pr!.fsPath, '.onnx')}.validation`);
    });
    return report;
  }

  async exportPlan(target?: vscode.Uri): Promise<string | undefined> {
    const doc = this.editors.active;
    const model = doc?.uri ?? (await this.pickModel(undefined));
    if (!model) return undefined;
    const plan = { version: 1, model: path.basename(model.fsPath), ...(doc?.plan ?? planFromSettings(readSettings(model))) };
    const dest = target ?? (await vscode.window.showSaveDialog({ title: 'Export Pruning Plan', defaultUri: vscode.Uri.file(model.fsPath.replace(/\.onnx$/i, '.plan.json')), filters: { JSON: ['json'] } }));
    if (!dest) return undefined;
    writeExport(dest, JSON.stringify(plan, null, 2) + '\n', !target, model);
    this.output.info(`Exported the pruning plan to ${dest.fsPath}`);
    return dest.fsPath;
  }

  async exportWidths(uri?: vscode.Uri, target?: vscode.Uri): Promise<string | undefined> {
    const model = await this.pickModel(uri);
    if (!model) return undefined;
    const layers = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Reading layer widths of ${path.basename(model.fsPath)}`, cancellable: true },
      async (_p, token) => {
        const signal = abortOn(token);
        await this.engine.request('open', { path: model.fsPath, inputShapes: this.editors.inputShapesFor(model.fsPath) }, { signal });
        return this.engine.request('listLayers', { path: model.fsPath }, { signal });
      },
    );
    const doc = this.editors.documentFor(model.fsPath);
    const widths: Record<string, number> = Object.fromEntries(layers.map((l) => [l.name, l.channels]));
    const out: Record<string, unknown> = { model: path.basename(model.fsPath), widths };
    if (doc?.plan) {
      const preview = await this.engine.request('previewPlan', { path: model.fsPath, plan: doc.plan });
      out.plan = doc.plan;
      out.widthsAfterPlan = Object.fromEntries(preview.layers.map((l) => [l.name, l.channelsAfter]));
    }
    const dest = target ?? (await vscode.window.showSaveDialog({ title: 'Export Layer Widths', defaultUri: vscode.Uri.file(model.fsPath.replace(/\.onnx$/i, '.widths.json')), filters: { JSON: ['json'] } }));
    if (!dest) return undefined;
    writeExport(dest, JSON.stringify(out, null, 2) + '\n', !target, model);
    this.output.info(`Exported layer widths to ${dest.fsPath}`);
    return dest.fsPath;
  }
}

/** "l1, ratio 0.3, uniform" or "bn-gamma, threshold 0.01, global" (a threshold plan has no ratio). */
export function planWords(plan: ViewPlan): string {
  const amount = plan.threshold !== undefined ? `threshold ${plan.threshold}` : `ratio ${plan.ratio ?? 0}`;
  return `${plan.criterion}, ${amount}, ${plan.scope}${plan.normalize !== undefined ? `, ${plan.normalize ? '' : 'not '}normalised` : ''}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof vscode.Uri);
}

/** Of two selected models: [original, pruned] — the one named ".pruned" is the pruned one, else the newer file. */
function originalAndPruned([a, b]: vscode.Uri[]): [vscode.Uri, vscode.Uri] {
  const pruned = (u: vscode.Uri) => /\.pruned(-\d+)?\.onnx$/i.test(u.fsPath);
  if (pruned(a!) !== pruned(b!)) return pruned(a!) ? [b!, a!] : [a!, b!];
  const mtime = (u: vscode.Uri) => fs.statSync(u.fsPath).mtimeMs;
  return mtime(a!) <= mtime(b!) ? [a!, b!] : [b!, a!];
}

function isRatio(v: string): boolean {
  const n = Number(v);
  return v.trim() !== '' && Number.isFinite(n) && n >= 0 && n < 1;
}

function readPlanFile(file: string): ViewPlan {
  // One line naming the file (and the field for NaN and the like); the engine validates the plan fully when it runs.
  return readJsonFile(file) as ViewPlan;
}

/**
 * Writes an export (plan, widths) atomically under the engine's rules: a new file, or — only when
 * the user chose it in the save dialog, which asked before replacing — over an existing JSON
 * document; never over the model or any other file (an external-data file, a model, anything not JSON).
 */
function writeExport(dest: vscode.Uri, text: string, fromDialog: boolean, model: vscode.Uri): void {
  if (dest.scheme !== 'file') throw new PrunerError(`${dest.toString()}: exports are written to local files only`);
  const file = dest.fsPath;
  const exists = fs.existsSync(file);
  if (exists && fromDialog && !isJsonDocument(file)) throw new PrunerError(`${file}: exists and is not a JSON document; not replaced (choose another name)`, { subject: file });
  writeTextFileSafely(file, text, { replace: exists && fromDialog, protect: [model.fsPath], what: 'the export' });
}

/** Whether a file holds a JSON document (read only when it is small enough to be one of ours). */
function isJsonDocument(file: string): boolean {
  try {
    if (fs.statSync(file).size > 64 * 2 ** 20) return false;
    JSON.parse(fs.readFileSync(file, 'utf8'));
    return true;
  } catch {
    return false;
  }
}

/** Aborts when either signal does. */
function anySignal(a: AbortSignal, b: AbortSignal | undefined): AbortSignal {
  return b ? AbortSignal.any([a, b]) : a;
}

function abortOn(token: vscode.CancellationToken): AbortSignal {
  const c = new AbortController();
  if (token.isCancellationRequested) c.abort();
  token.onCancellationRequested(() => c.abort());
  return c.signal;
}

/** Reports shown by "Show Report": read-only documents (no Untitled file that asks to be saved when the window closes). */
export const REPORT_SCHEME = 'onnx-pruner-report';
const reports = new Map<string, string>();
let reportSeq = 0;

export const reportProvider: vscode.TextDocumentContentProvider = {
  provideTextDocumentContent: (uri) => reports.get(uri.toString()) ?? '',
};

async function showJson(obj: unknown, name = 'report'): Promise<void> {
  const uri = vscode.Uri.from({ scheme: REPORT_SCHEME, path: `/${name}.report.json`, query: String(++reportSeq) });
  reports.set(uri.toString(), JSON.stringify(obj, null, 2) + '\n');
  const doc = await vscode.workspace.openTextDocument(uri);
  await vscode.languages.setTextDocumentLanguage(doc, 'json');
  await vscode.window.showTextDocument(doc, { preview: true });
}


/** Recovery modes that cannot run without calibration inputs (bias and auto fall back to data-free compensation). */
const MODE_NEEDS_DATA: ReadonlySet<RecoverMode> = new Set(['bn', 'ls']);

/** Data criteria and data recovery run the model on calibration inputs: refused, with that reason, in an untrusted workspace. */
function requireTrustForCriterion(criterion?: string, mode?: RecoverMode): void {
  if (vscode.workspace.isTrusted) return;
  if (criterion) throw new EngineRequestError(`Criterion ${criterion} runs the model on calibration inputs: it needs a trusted workspace`, { user: true });
  throw new EngineRequestError(`Recovery ${mode} runs the model on calibration inputs: it needs a trusted workspace`, { user: true });
}
