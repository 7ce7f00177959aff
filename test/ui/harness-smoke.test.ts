// UI smoke test through code-server + headless chromium, exercising the harness helpers that
// other UI tests build on: the workbench opens a temporary workspace holding a copy of the
// sample model, the model shows in the explorer, double-clicking it opens an editor for it.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import {
  explorerItem,
  openFileFromExplorer,
  sampleModel,
  screenshot,
  skipWithoutCodeServer,
  withWorkbench,
} from '../vscode/harness/index.ts';

const modelName = 'fmnist_bncnn_sparse_bn.onnx';

test('workbench: sample model in the explorer, opened; a webview read through the harness', { skip: skipWithoutCodeServer, timeout: 240_000 }, async () => {
  await withWorkbench({ label: 'harness-smoke', files: [sampleModel] }, async ({ page, workspace }) => {
    assert.ok(fs.existsSync(path.join(workspace, modelName)), 'the workspace holds a copy of the model');
    await explorerItem(page, modelName).waitFor({ timeout: 30_000 });

    await openFileFromExplorer(page, modelName);
    // Whatever editor claims .onnx files (the product's custom editor, or VS Code's binary
    // notice), a tab titled with the file's name becomes active.
    const tab = page.locator('.tabs-container .tab.active', { hasText: modelName });
    await tab.waitFor({ timeout: 30_000 });
    assert.equal(await tab.count(), 1);
    const shot = await screenshot(page, 'harness-smoke-opened');
    assert.ok(fs.statSync(shot).size > 10_000, 'the screenshot has content');

    // The harness's context-menu, palette and webview helpers are exercised on the product's own
    // editor and commands by test/ui/commands.test.ts and test/ui/model-view*.test.ts.
  });
});
