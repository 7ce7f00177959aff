// The model view end to end on the Fashion-MNIST sample, in code-server with the light theme:
// the summary and the table equal the CLI's `inspect --json` and the model's own γ, sorting,
// filtering and expanding work, the ratio slider previews what `prune --dry-run` computes,
// Prune writes a model whose parameter count (by the engine) equals the report's, the report
// names the provider, and "Open pruned model" opens it with the comparison. Screenshots at
// 1280×800 and in a 1000 px window (editor ~650 px).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import type { FrameLocator, Page } from 'playwright-core';
import { openFileFromExplorer, sampleModel, screenshot, skipWithoutCodeServer, waitForExtension, webviewFrame, withWorkbench } from '../vscode/harness/index.ts';
import { int } from '../../src/webview/format.ts';
import { ModelBuilder } from '../helpers/modelBuilder.ts';
import { checkPreview, checkSummary, checkTable, cli, engineParams, setColorTheme, type Inspect } from './model-view-checks.ts';

const modelName = path.basename(sampleModel);

/** A model whose only convolution feeds the graph output: nothing can be pruned. */
function convOnlyModel(): string {
  const b = new ModelBuilder({ opset: 13 });
  b.output(b.conv(b.input('x', [1, 3, 8, 8]), 3, 4, { k: 3, pad: 1 }));
  return b.save(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-pruner-conv-only-')), 'conv_only.onnx'));
}

test('the model view on the sample: numbers equal the CLI, table, preview, prune, report', { skip: skipWithoutCodeServer, timeout: 300_000 }, async () => {
  const ins = cli<Inspect>('inspect', sampleModel, '--json');
  const convOnly = convOnlyModel();
  after(() => fs.rmSync(path.dirname(convOnly), { recursive: true, force: true }));
  await withWorkbench({
    label: 'model-view',
    files: [sampleModel, convOnly],
    viewport: { width: 1280, height: 800 },
  }, async ({ page, workspace }) => {
    // Until the extension is registered, the file would open in the text editor.
    await waitForExtension(page, 'ONNX Pruner: Export Layer Widths');
    await setColorTheme(page, 'Light Modern');
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
    const written = fs.readdirSync(workspace).filter((f) => f !== modelName && f !== 'conv_only.onnx' && f.endsWith('.onnx'));
    assert.deepEqual(written, [wrote[1]], 'one pruned model written beside the original');
    const paramsRow = await report.locator('table.report tr', { hasText: 'Parameters' }).locator('td').allTextContents();
    const prunedParams = engineParams(path.join(workspace, written[0]!));
    assert.equal(paramsRow[1], int(ins.params), 'parameters before');
    assert.equal(paramsRow[2], int(prunedParams), 'parameters after = the written file, by the engine');
    assert.equal(prunedParams, dry.preview.params.after, 'the written model is what the preview said');
    assert.match(text, /Validated on CPU/);
    // One test input (batch 1): top-1 agreement as a count, not a percentage of one sample.
    assert.match(text, /top-1 agree.*[01] of 1 input/s);
    // This machine has no CUDA: the report says why validation fell back to the CPU.
    if (!fs.existsSync('/dev/nvidia0')) assert.match(text, /CUDA/i, `fallback reason mentions CUDA: ${text}`);
    await report.scrollIntoViewIfNeeded();
    await screenshot(page, 'real-light-1280-report');

    // Open the pruned model: it opens in the same kind of view, with the comparison.
    await report.locator('vscode-button', { hasText: 'Open pruned model' }).click();
    await page.locator('.tabs-container .tab.active', { hasText: written[0]! }).waitFor({ timeout: 30_000 });
    // Which webview iframe shows it depends on what VS Code keeps of the hidden one: look in each.
    const deadline = Date.now() + 60_000;
    assert.ok(await frameWith(page, '.compare', deadline), 'the pruned model opens in the model view with its comparison');
    await screenshot(page, 'real-light-1280-pruned');

    // A model with nothing to prune says so, and why; Prune is disabled.
    await openFileFromExplorer(page, 'conv_only.onnx');
    await page.locator('.tabs-container .tab.active', { hasText: 'conv_only.onnx' }).waitFor({ timeout: 30_000 });
    const frozen = await frameWith(page, '.banner:has-text("No layer can be pruned")', Date.now() + 60_000);
    assert.ok(frozen, 'the "no layer can be pruned" banner');
    // Why: the frozen group's reason, fetched after the summary.
    await frozen.locator('.banner', { hasText: 'No layer can be pruned' }).filter({ hasText: /reaches graph output/ }).waitFor({ timeout: 15_000 });
    await frozen.locator('layer-table .body .row[data-layer]').first().waitFor();
    assert.equal(await frozen.locator('layer-table .body .row[data-layer]').count(), 1);
    assert.equal(await frozen.locator('layer-table .frozen-tag').count(), 1, 'its one layer is marked frozen');
    assert.equal(await frozen.locator('plan-panel vscode-button', { hasText: 'Prune' }).getAttribute('disabled'), '', 'Prune is disabled');
    await screenshot(page, 'real-light-1280-nothing-to-prune');

    // Narrow: a 1000 px window leaves the editor ~650 px; the view reflows.
    await page.setViewportSize({ width: 1000, height: 800 });
    await page.waitForTimeout(1000);
    await screenshot(page, 'real-light-1000-nothing-to-prune');
  });
});

/** The webview frame (among the open ones: VS Code keeps hidden ones) that shows `selector`. */
async function frameWith(page: Page, selector: string, deadline: number): Promise<FrameLocator | undefined> {
  while (Date.now() < deadline) {
    const frames = await page.locator('iframe.webview.ready').count();
    for (let i = 0; i < frames; i++) {
      const f = webviewFrame(page, i);
      if ((await f.locator(selector).count().catch(() => 0)) > 0) return f;
    }
    await page.waitForTimeout(500);
  }
  return undefined;
}
