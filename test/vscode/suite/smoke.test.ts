// Smoke test of the extension host: the extension under development is installed and activates.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';

const id = 'onnx-pruner.onnx-pruner';

describe('extension smoke', () => {
  it('is present and activates', async () => {
    const ext = vscode.extensions.getExtension(id);
    assert.ok(ext, `extension ${id} not found among ${vscode.extensions.all.length} extensions`);
    await ext.activate();
    assert.equal(ext.isActive, true);
    assert.equal(ext.packageJSON.name, 'onnx-pruner');
  });

  it('runs in a Node extension host with a workspace open', () => {
    assert.equal(typeof process.versions.node, 'string');
    const folders = vscode.workspace.workspaceFolders ?? [];
    assert.equal(folders.length, 1, 'exactly one workspace folder is open');
    assert.equal(folders[0]!.uri.scheme, 'file');
  });
});
