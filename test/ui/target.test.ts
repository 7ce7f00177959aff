// Pruning to a target from the model view in the real workbench (code-server + chromium): the
// bundled Fashion-MNIST model, 64 of its bundled test images as a PNG folder chosen as calibration
// data through the host's folder picker, BN recalibration; Scan shows the sensitivity curves,
// Find plan for half the MACs fills the per-layer shares, Prune writes the model, and the report's
// MACs are within 2% under half of the original's. The written model runs in ONNX Runtime.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import type { FrameLocator, Page } from 'playwright-core';
import { makeWorkspace, openFileFromExplorer, pickFolderInDialog, screenshot, skipWithoutCodeServer, waitForExtension, webviewFrame, withWorkbench } from '../vscode/harness/index.ts';
import { readArray, writeFmnistImageFolder } from '../helpers/imageFolder.ts';
import { fmnistBn, samplesDir } from '../helpers/paths.ts';

const modelName = path.basename(fmnistBn);
const CALIB = 64;

const pickFolder = (page: Page, folder: string, entry: string) => pickFolderInDialog(page, folder, entry);

async function selectIn(view: FrameLocator, selector: string, value: string): Promise<void> {
  await view.locator(selector).evaluate((el, v) => {
    (el as HTMLSelectElement).value = v;
    el.dispatchEvent(new Event('change', { bubbles: true }));
  }, value);
}

test('prune to a target in the model view: scan, the curves, Find plan for half the MACs, Prune, the target met', { skip: skipWithoutCodeServer, timeout: 420_000 }, async () => {
  const workspace = makeWorkspace([fmnistBn]);
  try {
    const x = readArray(path.join(samplesDir, 'fmnist', 'fmnist_test1000_x_1000x1x28x28.f32')) as Float32Array;
    const y = readArray(path.join(samplesDir, 'fmnist', 'fmnist_test1000_y.u8'));
    const calibDir = path.join(workspace, 'calib');
    writeFmnistImageFolder(calibDir, x, y, CALIB);

    await withWorkbench({ label: 'target', workspace, viewport: { width: 1400, height: 1100 } }, async ({ page }) => {
      await waitForExtension(page, 'ONNX Pruner: Export Layer Widths');
      await openFileFromExplorer(page, modelName);
      const view = webviewFrame(page);
      const data = view.locator('data-panel');
      const target = view.locator('target-panel');
      const calibButton = data.locator('[data-role="calibration"] vscode-button[data-pick="folder"]');
      await calibButton.waitFor({ timeout: 90_000 });
      // no calibration data yet: the scan says what it needs
      await target.locator('[data-needs-calibration]').waitFor({ timeout: 30_000 });
      await data.locator('section[aria-busy="false"]').waitFor({ timeout: 30_000 });
      await calibButton.click();
      await pickFolder(page, calibDir, '0');
      await data.locator('[data-role="calibration"] [data-set-info]').waitFor({ timeout: 30_000 });
      await data.locator('section[aria-busy="false"]').waitFor({ timeout: 30_000 });
      // the preprocessing the model was trained with (the proposed [0, 1] makes every group look tolerant)
      await selectIn(view, 'data-panel #preset', 'fmnist');
      await data.locator('[data-preprocess]', { hasText: 'fmnist' }).waitFor({ timeout: 30_000 });
      await data.locator('section[aria-busy="false"]').waitFor({ timeout: 30_000 });
      await selectIn(view, 'data-panel #recover', 'bn');
      await data.locator('[data-recover-help]', { hasText: 'BatchNorm' }).waitFor({ timeout: 30_000 });
      await data.locator('section[aria-busy="false"]').waitFor({ timeout: 30_000 });
      await selectIn(view, 'plan-panel #criterion', 'l1');

      // Scan: progress, then one curve per prunable group
      await target.locator('vscode-button[data-scan]:not([disabled])').click({ timeout: 30_000 });
      await target.locator('[data-sensitivity]').waitFor({ timeout: 240_000 });
      const rows = target.locator('[data-sensitivity] tr[data-group]');
      const n = await rows.count();
      assert.ok(n >= 3, `curves for the prunable groups: ${n}`);
      assert.ok((await target.locator('[data-sensitivity] svg.spark circle.dot').count()) >= n, 'measured points on the curves');
      await target.scrollIntoViewIfNeeded();
      await screenshot(page, 'target-scan');

      // Find plan for half the MACs (the default budget)
      await target.locator('vscode-button[data-find-plan]:not([disabled])').click();
      await target.locator('[data-found][data-met="yes"]').waitFor({ timeout: 60_000 });
      await view.locator('plan-panel .chip').first().waitFor({ timeout: 10_000 });
      assert.ok((await target.locator('[data-sensitivity] line[data-chosen-mark]').count()) >= 1, 'the chosen shares are marked');
      await screenshot(page, 'target-found');

      // Prune the plan; the report's MACs meet the target
      await view.locator('plan-panel .preview .big').first().waitFor({ timeout: 60_000 });
      await view.locator('plan-panel vscode-button[icon="fold"]').click();
      const report = view.locator('plan-panel div.report');
      const deadline = Date.now() + 240_000;
      while (!(await report.isVisible().catch(() => false))) {
        assert.ok(Date.now() < deadline, 'no report after 240 s');
        const failed = view.locator('plan-panel .run-result.error');
        if (await failed.isVisible().catch(() => false)) assert.fail(`pruning failed: ${await failed.textContent()}`);
        await page.waitForTimeout(200);
      }
      const macs = report.locator('tr[data-row="MACs"]');
      const before = Number(await macs.getAttribute('data-before'));
      const after = Number(await macs.getAttribute('data-after'));
      console.log(`# target in the view: ${modelName}, half the MACs: ${before} → ${after} (${(after / before * 100).toFixed(2)}%)`);
      assert.ok(after <= 0.5 * before && after >= 0.49 * before, `MACs within 2% under half: ${after} of ${before}`);
      await report.scrollIntoViewIfNeeded();
      await screenshot(page, 'target-report');

      const wrote = ((await report.locator('.path').first().textContent()) ?? '').trim();
      const pruned = path.join(workspace, wrote);
      assert.ok(fs.existsSync(pruned), `${wrote} written beside the model`);
      const session = await ort.InferenceSession.create(pruned, { executionProviders: ['cpu'] });
      try {
        const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', x.slice(0, 4 * 784), [4, 1, 28, 28]) });
        assert.deepEqual(out[session.outputNames[0]!]!.dims, [4, 10]);
      } finally {
        await session.release();
      }
      assert.ok(fs.existsSync(path.join(workspace, `${modelName}.sensitivity.json`)), 'the scan is cached beside the model');
    });
  } finally {
    fs.rmSync(workspace, { recursive: true, force: true });
  }
});
