// Extension entry point: thin glue between VS Code and the engine worker.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { Commands } from './commands.ts';
import { EngineClient } from './engineClient.ts';
import { ModelEditorProvider } from './modelEditor.ts';
import { Output } from './output.ts';

export interface ExtensionApi {
  /** For tests: the commands object and the editor provider. */
  commands: Commands;
  editors: ModelEditorProvider;
}

export function activate(context: vscode.ExtensionContext): ExtensionApi {
  const output = new Output();
  const engine = new EngineClient(path.join(context.extensionPath, 'dist', 'worker.js'), (line) => output.info(line));
  context.subscriptions.push(output, { dispose: () => engine.dispose() });
  const runPrune: ConstructorParameters<typeof ModelEditorProvider>[3] = (uri, req, progress, signal) => commands.runPrune(uri, req, progress, signal);
  const editors = new ModelEditorProvider(context, engine, output, runPrune);
  const commands = new Commands(engine, editors, output);
  context.subscriptions.push(ModelEditorProvider.register(context, editors));
  commands.register(context);
  output.info(`ONNX Pruner ${context.extension.packageJSON.version} activated (workspace ${vscode.workspace.isTrusted ? 'trusted' : 'untrusted: inspection only'})`);
  return { commands, editors };
}

export function deactivate(): void {}
