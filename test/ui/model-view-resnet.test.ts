// The model view on ResNet-18 (BatchNorm kept) in code-server with the dark theme: time from
// the double-click to the first table row, the summary and the table equal the CLI and the
// model's own γ, the ratio slider previews what `prune --dry-run` computes; screenshots at
// 1280×800 and in a 1000 px window (editor ~650 px).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { openFileFromExplorer, repoRoot, screenshot, skipWithoutCodeServer, waitForExtension, webviewFrame, withWorkbench } from '../vscode/harness/index.ts';
import { checkPreview, checkSummary, checkTable, cli, openAndTime, setColorTheme, type Inspect } from './model-view-checks.ts';

const resnet = path.join(repoRoot, '..', 'shared', 'models', 'synthetic', 'resnet18_bn.onnx');
const skip = skipWithoutCodeServer || (fs.existsSync(resnet) ? false : `${path.relative(repoRoot, resnet)} is absent (shared models not checked out beside the repo)`);

test('the model view on resnet18_bn: time to first rows, numbers equal the CLI, dark theme', { skip, timeout: 300_000 }, async () => {
  const ins = cli<Inspect>('inspect', resnet, '--json');
  await withWorkbench({
    label: 'model-view-resnet',
    files: [resnet],
    viewport: { width: 1280, height: 800 },
  }, async ({ page, workspace }) => {
    await waitForExtension(page, 'ONNX Pruner: Export Layer Widths');
    await setColorTheme(page, 'Dark Modern');
    const view = webviewFrame(page);
    const t = await openAndTime(page, () => openFileFromExplorer(page, 'resnet18_bn.onnx'), view, 'resnet18_bn.onnx');
    console.log(`# view bench: double-click → first layer row of resnet18_bn: painted ${t.firstRowMark.toFixed(0)} ms (webview mark), ` +
      `seen by Playwright ${t.firstRow.toFixed(0)} ms (target ≤ 1000 ms; tab ${t.tab.toFixed(0)}, webview ready ${t.webview.toFixed(0)}, summary ${t.summary.toFixed(0)}; webview marks ${JSON.stringify(t.marks)})`);
    assert.ok(t.firstRow < 15_000, `first rows after ${t.firstRow.toFixed(0)} ms`);
    assert.equal(await view.locator('body').getAttribute('class').then((c) => /vscode-dark/.test(c ?? '')), true, 'the webview follows the dark theme');
    const file = path.join(workspace, 'resnet18_bn.onnx');

    await checkSummary(view, ins);
    assert.equal(ins.layers.length, 21);
    await screenshot(page, 'real-dark-1280-opened');
    await checkTable(view, file, ins, 'layer4');
    await checkPreview(view, file, 0.3);
    await screenshot(page, 'real-dark-1280-preview');

    // Narrow: a 1000 px window leaves the editor ~650 px.
    await page.setViewportSize({ width: 1000, height: 800 });
    await page.waitForTimeout(1000);
    await screenshot(page, 'real-dark-1000-preview');
    await view.locator('plan-panel').evaluate((e) => e.scrollIntoView());
    await screenshot(page, 'real-dark-1000-plan');
  });
});
