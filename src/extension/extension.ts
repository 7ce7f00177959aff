// Extension entry point: thin glue between VS Code and the engine worker.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as vscode from 'vscode';
import { Commands, REPORT_SCHEME, reportProvider } from './commands.ts';
import { EngineClient } from './engineClient.ts';
import { ModelEditorProvider, VIEW_TYPE } from './modelEditor.ts';
import { Output } from './output.ts';
import { WrittenFolders } from './writtenFolders.ts';

export interface ExtensionApi {
  /** For tests: the commands object and the editor provider. */
  commands: Commands;
  editors: ModelEditorProvider;
  /** For tests: what activation does with .onnx files already open as text. */
  reopenOnnxTextTabs: () => Promise<number>;
  /** For tests: what activation does for its first seconds with .onnx files that open as text (see watchOnnxTextTabs). */
  watchOnnxTextTabs: (ms: number) => vscode.Disposable;
  /** For tests: what activation does with stale temporary files in the folders written to (returns the files removed). */
  cleanStaleTemps: () => Promise<string[]>;
}

export function activate(context: vscode.ExtensionContext): ExtensionApi {
  const output = new Output();
  const engine = new EngineClient(path.join(context.extensionPath, 'dist', 'worker.js'), (line) => output.info(line));
  context.subscriptions.push(output, { dispose: () => engine.dispose() });
  const runPrune: ConstructorParameters<typeof ModelEditorProvider>[3] = (uri, req, progress, signal) => commands.runPrune(uri, req, progress, signal);
  const editors = new ModelEditorProvider(context, engine, output, runPrune);
  const folders = new WrittenFolders(context.globalState);
  const commands = new Commands(engine, editors, output, folders);
  context.subscriptions.push(ModelEditorProvider.register(context, editors));
  commands.register(context);
  context.subscriptions.push(vscode.workspace.registerTextDocumentContentProvider(REPORT_SCHEME, reportProvider));
  // The worker and ONNX Runtime start now, while nothing is open: the first model opens faster.
  engine.start();
  void editors.providers();
  context.subscriptions.push(
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      output.info('Workspace trusted: pruning and running models are now available');
      editors.broadcastAll({ type: 'trustGranted' });
    }),
  );
  if (process.env.ONNX_PRUNER_BENCH === '1') registerBenchCommands(context);
  output.info(`ONNX Pruner ${context.extension.packageJSON.version} activated (workspace ${vscode.workspace.isTrusted ? 'trusted' : 'untrusted: inspection only'})`);
  // one pass at a time (tab events can come in bursts)
  let reopening: Promise<unknown> = Promise.resolve();
  const reopen = () => {
    reopening = reopening.then(reopenOnnxTextTabs).catch((e: unknown) => output.warn(`Could not reopen .onnx text tabs: ${String(e)}`));
  };
  reopen();
  context.subscriptions.push(watchOnnxTextTabs(ONNX_TEXT_WATCH_MS, reopen));
  // A run killed outright (VS Code force-quit) leaves a temporary file: remove those of earlier runs.
  const cleanStaleTemps = async () => {
    const removed = await folders.clean();
    for (const f of removed) output.info(`Removed a temporary file left by an interrupted run: ${f}`);
    return removed;
  };
  void cleanStaleTemps().catch((e: unknown) => output.warn(`Could not clean temporary files: ${String(e)}`));
  return { commands, editors, reopenOnnxTextTabs, watchOnnxTextTabs: (ms) => watchOnnxTextTabs(ms, reopen), cleanStaleTemps };
}

/** How long after activation an .onnx file that opens as text still moves to the model view. */
const ONNX_TEXT_WATCH_MS = 10_000;

/** A tab showing a saved .onnx file as text. */
function isOnnxTextTab(tab: vscode.Tab): tab is vscode.Tab & { input: vscode.TabInputText } {
  const input = tab.input;
  return input instanceof vscode.TabInputText && input.uri.scheme === 'file' && /\.onnx$/i.test(input.uri.path) && !tab.isDirty;
}

/**
 * Until a model view has opened, and for at most `ms` after activation, an .onnx file that opens as
 * text moves to the model view too: a file double-clicked while the extension was starting can open
 * as text after the scan at activation (seen in a fresh window). After that, a text tab is the
 * user's choice (Reopen Editor With…) and stays.
 */
function watchOnnxTextTabs(ms: number, reopen: () => void): vscode.Disposable {
  const sub = vscode.window.tabGroups.onDidChangeTabs((e) => {
    const tabs = [...e.opened, ...e.changed];
    if (tabs.some(isOnnxTextTab)) reopen();
    else if (tabs.some((t) => t.input instanceof vscode.TabInputCustom && t.input.viewType === VIEW_TYPE)) stop();
  });
  const timer = setTimeout(() => sub.dispose(), ms);
  const stop = () => {
    clearTimeout(timer);
    sub.dispose();
  };
  return { dispose: stop };
}

/**
 * .onnx files showing as text when the extension starts were opened before its editor was
 * registered (e.g. by a launch URL or a restored session): a protobuf read as text is of no use,
 * so they move to the model view, in the same group and position.
 */
async function reopenOnnxTextTabs(): Promise<number> {
  let moved = 0;
  for (const group of vscode.window.tabGroups.all) {
    for (const tab of group.tabs) {
      if (!isOnnxTextTab(tab)) continue;
      const input = tab.input;
      await vscode.commands.executeCommand('vscode.openWith', input.uri, VIEW_TYPE, { viewColumn: group.viewColumn, preserveFocus: !tab.isActive, preview: false });
      // Tab and group objects are snapshots: look the text tab up again after the open.
      const stale = vscode.window.tabGroups.all
        .find((g) => g.viewColumn === group.viewColumn)
        ?.tabs.find((t) => t.input instanceof vscode.TabInputText && t.input.uri.toString() === input.uri.toString());
      if (stale) await vscode.window.tabGroups.close(stale, true);
      moved++;
    }
  }
  return moved;
}

export function deactivate(): void {}

/**
 * Benchmark-only (ONNX_PRUNER_BENCH=1): `onnxPruner._eventLoopDelay` starts a window when called
 * with 'start' and, called with 'stop', returns the extension host's event-loop delay over it (ms).
 */
function registerBenchCommands(context: vscode.ExtensionContext): void {
  let histogram: ReturnType<typeof monitorEventLoopDelay> | undefined;
  let started = 0;
  context.subscriptions.push(vscode.commands.registerCommand('onnxPruner._eventLoopDelay', (action: 'start' | 'stop' = 'stop') => {
    if (action === 'start') {
      histogram?.disable();
      histogram = monitorEventLoopDelay({ resolution: 10 });
      histogram.enable();
      started = performance.now();
      return { started: true };
    }
    if (!histogram) return undefined;
    histogram.disable();
    const h = histogram;
    histogram = undefined;
    const ms = (ns: number) => Math.round((ns / 1e6) * 10) / 10;
    const result = { windowMs: Math.round(performance.now() - started), maxMs: ms(h.max), p99Ms: ms(h.percentile(99)), meanMs: ms(h.mean), samples: h.count };
    return result;
  }));
  // With ONNX_PRUNER_BENCH_OUT, a continuous record a UI-driven benchmark reads by wall-clock time:
  // one JSON line per 100 ms slot with the largest event-loop delay seen in it.
  const file = process.env.ONNX_PRUNER_BENCH_OUT;
  if (file) {
    const h = monitorEventLoopDelay({ resolution: 10 });
    h.enable();
    const timer = setInterval(() => {
      fs.appendFileSync(file, JSON.stringify({ t: Date.now(), maxMs: Math.round(h.max / 1e5) / 10, p99Ms: Math.round(h.percentile(99) / 1e5) / 10 }) + '\n');
      h.reset();
    }, 100);
    context.subscriptions.push({ dispose: () => { clearInterval(timer); h.disable(); } });
  }
}
