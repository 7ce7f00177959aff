// The model view end to end on the Fashion-MNIST sample, in code-server with the light theme:
// the summary and the table equal the CLI's `inspect --json` and the model's own γ, sorting,
// filtering and expanding work, the ratio slider previews what `prune --dry-run` computes,
// Prune writes a model whose parameter count (by the engine) equals the report's, the report
// names the provider, and "Open pruned model" opens it with the comparison. Screenshots at
// 1280×800 and in a 700 px window.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { openFileFromExplorer, sampleModel, screenshot, skipWithoutCodeServer, waitForExtension, webviewFrame, withWorkbench } from '../vscode/harness/index.ts';
import { int } from '../../src/webview/format.ts';
import { checkPreview, checkSummary, checkTable, cli, engineParams, type Inspect } from './model-view-checks.ts';

const modelName = path.basename(sampleModel);

test('the model view on the sample: numbers equal the CLI, table, preview, prune, report', { skip: skipWithoutCodeServer, timeout: 300_000 }, async () => {
  const ins = cli<Inspect>('inspect', sampleModel, '--json');
  await withWorkbench({
    label: 'model-view',
    files: [sampleModel],
    viewport: { width: 1280, height: 800 },
    settings: { 'workbench.colorTheme': 'Default Light Modern' },
  }, async ({ page, workspace }) => {
    // Until the extension is registered, the file would open in the text editor.
    await waitForExtension(page, 'ONNX Pruner: Export Layer Widths');
    await openFileFromExplorer(page, modelName);
    const view = webviewFrame(page);
    const file = path.join(workspace, modelName);

    await checkSummary(view, ins);
    assert.equal(ins.layers.length, 8);
    await checkTable(view, file, ins, 'res');
    await screenshot(page, 'real-light-1280-expanded');

    const dry = await checkPreview(view, file, 0.3);
    await screenshot(page, 'real-light-1280-preview');

    // Prune: progress, then the report.
    await view.locator('plan-panel vscode-button', { hasText: 'Prune' }).click();
    const report = view.locator('plan-panel div.report');
    await report.waitFor({ timeout: 120_000 });
    const text = (await report.textContent()) ?? '';
    const wrote = /Wrote\s+(\S+\.onnx)/.exec(text);
    assert.ok(wrote, `the report names the file: ${text}`);
    assert.ok(fs.existsSync(path.join(workspace, wrote[1]!)), `${wrote[1]} beside the model`);
    const written = fs.readdirSync(workspace).filter((f) => f !== modelName && f.endsWith('.onnx'));
    assert.deepEqual(written, [wrote[1]], 'one pruned model written beside the original');
    const paramsRow = await report.locator('table.report tr', { hasText: 'Parameters' }).locator('td').allTextContents();
    const prunedParams = engineParams(path.join(workspace, written[0]!));
    assert.equal(paramsRow[1], int(ins.params), 'parameters before');
    assert.equal(paramsRow[2], int(prunedParams), 'parameters after = the written file, by the engine');
    assert.equal(prunedParams, dry.preview.params.after, 'the written model is what the preview said');
    assert.match(text, /Validated on CPU/);
    // This machine has no CUDA: the report says why validation fell back to the CPU.
    if (!fs.existsSync('/dev/nvidia0')) assert.match(text, /CUDA/i, `fallback reason mentions CUDA: ${text}`);
    await report.scrollIntoViewIfNeeded();
    await screenshot(page, 'real-light-1280-report');

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
    await screenshot(page, 'real-light-1280-pruned');

    // Narrow window: the editor is ~650 px wide; the view reflows.
    await page.setViewportSize({ width: 700, height: 800 });
    await page.waitForTimeout(1000);
    await screenshot(page, 'real-light-700-pruned');
  });
});
