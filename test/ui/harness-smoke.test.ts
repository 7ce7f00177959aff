// UI smoke test through code-server + headless chromium, exercising the harness helpers that
// other UI tests build on: the workbench opens a temporary workspace holding a copy of the
// sample model, the model shows in the explorer, double-clicking it opens an editor for it;
// the explorer context menu and palette commands work, and a palette command opens a webview (VS Code's built-in Markdown preview) whose content is
// read through the nested webview iframes.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import {
  explorerContextMenu,
  explorerItem,
  openFileFromExplorer,
  runPaletteCommand,
  sampleModel,
  screenshot,
  skipWithoutCodeServer,
  waitForExtension,
  webviewFrame,
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

    // A webview through the palette: Markdown preview of a file written into the workspace.
    fs.writeFileSync(path.join(workspace, 'notes.md'), '# Harness heading\n\nPreview body text.\n');
    await openFileFromExplorer(page, 'notes.md');
    await page.locator('.tabs-container .tab.active', { hasText: 'notes.md' }).waitFor({ timeout: 30_000 });
    // Explorer context menu: the Markdown extension's "Open Preview" item opens a preview tab.
    await waitForExtension(page, 'Markdown: Open Preview');
    // A click on a context-menu item occasionally does not register in headless chromium: try again.
    const previewTab = page.locator('.tabs-container .tab.active', { hasText: 'Preview notes.md' });
    for (let attempt = 1; ; attempt++) {
      await explorerContextMenu(page, 'notes.md', 'Open Preview');
      try {
        await previewTab.waitFor({ timeout: 15_000 });
        break;
      } catch (e) {
        if (attempt === 3) throw e;
      }
    }
    await runPaletteCommand(page, 'View: Close All Editors');
    await page.locator('.tabs-container .tab').first().waitFor({ state: 'detached', timeout: 10_000 });

    await openFileFromExplorer(page, 'notes.md');
    await waitForExtension(page, 'Markdown: Open Preview to the Side');
    await runPaletteCommand(page, 'Markdown: Open Preview to the Side');
    const heading = webviewFrame(page).locator('h1', { hasText: 'Harness heading' });
    await heading.waitFor({ timeout: 30_000 });
    assert.equal(await heading.textContent(), 'Harness heading');
    await screenshot(page, 'harness-smoke-webview');
  });
});
