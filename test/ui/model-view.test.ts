// The model view end to end: code-server runs the extension, the sample model opens in the
// custom editor, the view shows the summary and the layer table from the real engine, a
// plan change previews, Prune writes and validates the pruned model, and "Open pruned model"
// opens it in the same view, which then compares widths before and after.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { openFileFromExplorer, sampleModel, screenshot, skipWithoutCodeServer, waitForExtension, webviewFrame, withWorkbench } from '../vscode/harness/index.ts';

const modelName = path.basename(sampleModel);

test('the model view shows the model, previews a plan, prunes and opens the result', { skip: skipWithoutCodeServer, timeout: 300_000 }, async () => {
  await withWorkbench({ label: 'model-view', files: [sampleModel] }, async ({ page, workspace }) => {
    // Until the extension is registered, the file would open in the text editor.
    await waitForExtension(page, 'ONNX Pruner: Export Layer Widths');
    await openFileFromExplorer(page, modelName);
    const view = webviewFrame(page);

    const params = view.locator('[data-metric="params"]');
    await params.waitFor({ timeout: 60_000 });
    assert.match((await params.textContent()) ?? '', /^\d{1,3}(,\d{3})+$/, 'parameters with thousands separators');
    const layers = Number(await view.locator('[data-metric="layers"]').textContent());
    assert.ok(layers > 0);
    await view.locator('layer-table .count', { hasText: new RegExp(`^${layers} layers`) }).waitFor({ timeout: 30_000 });
    assert.equal(await view.locator('layer-table .body .row[data-layer]').count(), layers);

    // The live preview answers a plan change.
    const after = view.locator('plan-panel .preview .big').first();
    await after.waitFor({ timeout: 30_000 });
    const before = await after.textContent();
    await view.locator('plan-panel input[type=range]').fill('0.25');
    await view.locator('plan-panel output', { hasText: '25%' }).waitFor();
    await view.locator('plan-panel .preview .big', { hasNotText: before ?? '' }).first().waitFor({ timeout: 30_000 });

    // Expanding a row shows its channels.
    await view.locator('layer-table .body .row[data-index="0"] .twisty').click();
    await view.locator('layer-detail canvas').waitFor({ timeout: 30_000 });
    await screenshot(page, 'model-view-opened');

    // Prune: progress, then the report.
    await view.locator('plan-panel vscode-button', { hasText: 'Prune' }).click();
    const report = view.locator('plan-panel div.report');
    await report.waitFor({ timeout: 120_000 });
    const text = (await report.textContent()) ?? '';
    assert.match(text, /Wrote .*\.onnx/);
    assert.match(text, /Validated on (CPU|CUDA)/);
    await screenshot(page, 'model-view-report');
    const written = fs.readdirSync(workspace).filter((f) => f !== modelName && f.endsWith('.onnx'));
    assert.equal(written.length, 1, `one pruned model written beside the original (${written.join(', ')})`);

    // Open the pruned model: it opens in the same kind of view, with the comparison.
    await report.locator('vscode-button', { hasText: 'Open pruned model' }).click();
    await page.locator('.tabs-container .tab.active', { hasText: written[0]! }).waitFor({ timeout: 30_000 });
    // Which webview iframe shows it depends on what VS Code keeps of the hidden one: look in each.
    const deadline = Date.now() + 60_000;
    let found = false;
    while (!found && Date.now() < deadline) {
      const frames = await page.locator('iframe.webview.ready').count();
      for (let i = 0; i < frames && !found; i++) found = (await webviewFrame(page, i).locator('.compare').count().catch(() => 0)) > 0;
      if (!found) await page.waitForTimeout(500);
    }
    assert.ok(found, 'the pruned model opens in the model view with its comparison');
    await screenshot(page, 'model-view-pruned');
  });
});
