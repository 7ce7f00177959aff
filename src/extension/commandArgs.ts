// What a command was called with, read in one place. VS Code calls a command differently from
// each place it offers it:
//   explorer context menu   (clickedUri, selectedUris[])   — the selection includes the clicked file
//   editor title            (resourceUri, { groupId, … })  — the editor's file and where it sits
//   command palette         ()                              — nothing
//   a script or test        (uri, options | planFile | targetUri)
// Handlers ask for the model, the selection and the script's own second argument, never the
// raw positions (the explorer's array once reached a handler as a plan path).
import * as vscode from 'vscode';

export interface CommandArgs {
  /** The file the command was invoked on (clicked, or the editor's), if any. */
  uri?: vscode.Uri;
  /** Every file selected in the explorer (the clicked one included); [uri] when one was given, else []. */
  selection: vscode.Uri[];
  /** The second argument when a script passed one (options, a plan path, a target file); never the explorer's array or an editor's context. */
  extra?: unknown;
}

const isUri = (v: unknown): v is vscode.Uri => v instanceof vscode.Uri;

/** The editor title's second argument: `{ groupId, editorIndex? }` (not something a script passes). */
function isEditorContext(v: unknown): boolean {
  return !!v && typeof v === 'object' && !isUri(v) && 'groupId' in v;
}

export function readArgs(args: readonly unknown[]): CommandArgs {
  const [first, second] = args;
  const uri = isUri(first) ? first : undefined;
  if (Array.isArray(second)) {
    const selection = second.filter(isUri);
    if (uri && !selection.some((u) => u.toString() === uri.toString())) selection.unshift(uri);
    return { uri, selection };
  }
  return { uri, selection: uri ? [uri] : [], extra: second === undefined || isEditorContext(second) ? undefined : second };
}

/** The selected .onnx files (explorer), in selection order. */
export function selectedModels(a: CommandArgs): vscode.Uri[] {
  return a.selection.filter((u) => /\.onnx$/i.test(u.fsPath));
}
