// Recovery from the model view in the real workbench (code-server + chromium): folders of PNG
// images in the ImageFolder layout, written from the shared Fashion-MNIST arrays, are chosen as
// calibration and evaluation data through the host's folder picker; the preprocessing preset and
// `ls` recovery are set in the plan panel; Prune shows its phases, and the report the accuracy
// before and after and what recovery did. The written model is run in ONNX Runtime from this
// process with the original's output shape; the chosen data is remembered when the model opens again.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import type { FrameLocator, Page } from 'playwright-core';
import {
  makeWorkspace, openFileFromExplorer, repoRoot, runPaletteCommand, screenshot, skipWithoutCodeServer, waitForExtension, webviewFrame, withWorkbench,
  pickFolderInDialog,
} from '../vscode/harness/index.ts';
import { readArray, writeFmnistImageFolder } from '../helpers/imageFolder.ts';

const trained = path.join(repoRoot, '..', 'shared', 'models', 'trained');
const modelFile = path.join(trained, 'fmnist_resnet_bn.onnx');
const skip = skipWithoutCodeServer || (fs.existsSync(modelFile) ? false : `${path.relative(repoRoot, trained)} is absent (shared models not checked out beside the repo)`);
const modelName = path.basename(modelFile);
const CALIB = 200;
const EVAL = 200;

/** Runs a model on `n` test images; returns its first output's dims. */
async function outputDims(file: string, x: Float32Array, n: number): Promise<readonly number[]> {
  const session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'] });
  try {
    const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', x.slice(0, n * 784), [n, 1, 28, 28]) });
    const first = out[session.outputNames[0]!]!;
    assert.ok((first.data as Float32Array).every(Number.isFinite), `${path.basename(file)}: finite outputs`);
    return first.dims;
  } finally {
    await session.release();
  }
}

const pickFolder = (page: Page, folder: string, entry: string) => pickFolderInDialog(page, folder, entry);

async function selectIn(view: FrameLocator, selector: string, value: string): Promise<void> {
  await view.locator(selector).evaluate((el, v) => {
    (el as HTMLSelectElement).value = v;
    el.dispatchEvent(new Event('change', { bubbles: true }));
  }, value);
}

test('recovery in the model view: PNG folders as calibration and evaluation data, ls, accuracy before and after', { skip, timeout: 420_000 }, async () => {
  const workspace = makeWorkspace([modelFile]);
  try {
    const cx = readArray(path.join(trained, 'fmnist_train_calib1000_x.npy')) as Float32Array;
    const cy = readArray(path.join(trained, 'fmnist_train_calib1000_y.npy'));
    const ex = readArray(path.join(trained, 'fmnist_test1000_x.npy')) as Float32Array;
    const ey = readArray(path.join(trained, 'fmnist_test1000_y.npy'));
    const calibDir = path.join(workspace, 'calib');
    const evalDir = path.join(workspace, 'eval');
    writeFmnistImageFolder(calibDir, cx, cy, CALIB);
    writeFmnistImageFolder(evalDir, ex, ey, EVAL);

    await withWorkbench({ label: 'recovery', workspace, viewport: { width: 1400, height: 1000 } }, async ({ page }) => {
      await waitForExtension(page, 'ONNX Pruner: Export Layer Widths');
      await openFileFromExplorer(page, modelName);
      const view = webviewFrame(page);
      const data = view.locator('data-panel');
      const calibButton = data.locator('[data-role="calibration"] vscode-button[data-pick="folder"]');
      await calibButton.waitFor({ timeout: 90_000 });
      await data.locator('section[aria-busy="false"]').waitFor({ timeout: 30_000 });

      // 1. Calibration and evaluation folders through the host's picker; the view shows names and counts.
      await calibButton.click();
      await pickFolder(page, calibDir, '0');
      const calibInfo = data.locator('[data-role="calibration"] [data-set-info]');
      await calibInfo.waitFor({ timeout: 30_000 });
      assert.match((await calibInfo.textContent()) ?? '', new RegExp(`^${CALIB} images \\[1, 28, 28\\], 10 classes, labels: folder layout$`));
      assert.equal(await data.locator('[data-role="calibration"] .name').textContent(), 'calib');
      await data.locator('section[aria-busy="false"]').waitFor({ timeout: 30_000 });
      await data.locator('[data-role="evaluation"] vscode-button[data-pick="folder"]:not([disabled])').click();
      await pickFolder(page, evalDir, '0');
      const evalInfo = data.locator('[data-role="evaluation"] [data-set-info]');
      await evalInfo.waitFor({ timeout: 30_000 });
      assert.match((await evalInfo.textContent()) ?? '', new RegExp(`^${EVAL} images`));

      // 2. The proposed preprocessing ([0, 1] for a 1-channel input), changed to the preset the model was trained with; recovery ls.
      assert.match((await data.locator('[data-preprocess]').textContent()) ?? '', /^unit, crop 28x28/);
      await data.locator('section[aria-busy="false"]').waitFor({ timeout: 30_000 });
      await selectIn(view, 'data-panel #preset', 'fmnist');
      await data.locator('[data-preprocess]', { hasText: 'fmnist' }).waitFor({ timeout: 30_000 });
      await data.locator('section[aria-busy="false"]').waitFor({ timeout: 30_000 });
      await selectIn(view, 'data-panel #recover', 'ls');
      await data.locator('[data-recover-help]', { hasText: 'Least-squares' }).waitFor({ timeout: 30_000 });
      await data.locator('section[aria-busy="false"]').waitFor({ timeout: 30_000 });
      assert.equal(await data.locator('[data-data-error]').count(), 0, 'the chosen data fits the model');
      await data.scrollIntoViewIfNeeded();
      await screenshot(page, 'recovery-data-chosen');

      // 3. The plan: l1, 30 % of every group (about half the MACs).
      await selectIn(view, 'plan-panel #criterion', 'l1');
      await view.locator('plan-panel input[type=range]').fill('0.3');
      await view.locator('plan-panel #ratio-value', { hasText: '30%' }).waitFor({ timeout: 10_000 });

      // Prune: the phases show while it runs (statistics and reconstruction among them), then the report.
      await view.locator('plan-panel .preview .big').first().waitFor({ timeout: 60_000 });
      await view.locator('plan-panel vscode-button[icon="fold"]').click();
      const seen = new Set<string>();
      const report = view.locator('plan-panel div.report');
      const deadline = Date.now() + 240_000;
      while (!(await report.isVisible().catch(() => false))) {
        assert.ok(Date.now() < deadline, `no report after 240 s (phases seen: ${[...seen].join(', ')})`);
        const failed = view.locator('plan-panel .run-result.error');
        if (await failed.isVisible().catch(() => false)) assert.fail(`pruning failed: ${await failed.textContent()}`);
        const current = await view.locator('plan-panel ol.phases li[data-state="current"]').getAttribute('data-phase', { timeout: 200 }).catch(() => null);
        if (current) seen.add(current);
        if (current === 'reconstruction' && !seen.has('shot')) {
          seen.add('shot');
          await screenshot(page, 'recovery-pruning');
        }
        await page.waitForTimeout(150);
      }
      seen.delete('shot');
      assert.ok(seen.has('reconstruction'), `the reconstruction phase was shown (seen: ${[...seen].join(', ')})`);

      // 4. Accuracy before and after on the evaluation folder; what recovery did.
      const top1 = report.locator('[data-accuracy] tr[data-metric="top1"]');
      await top1.waitFor({ timeout: 10_000 });
      const before = Number(await top1.locator('td[data-before]').getAttribute('data-before'));
      const after = Number(await top1.locator('td[data-after]').getAttribute('data-after'));
      console.log(`# recovery in the view: fmnist_resnet_bn l1 uniform 0.3, ls on ${CALIB} PNG images: top-1 on ${EVAL} test PNGs ${before} → ${after}`);
      assert.ok(before > 0.85, `the original's accuracy on the PNG test images (93.9% on the arrays): ${before}`);
      assert.ok(after > 0.8, `ls keeps most of it (l1 0.3 as cut: about 10%): ${after}`);
      assert.match((await report.locator('.evaluation h3').textContent()) ?? '', new RegExp(`Accuracy on ${EVAL} inputs of eval`));
      assert.match((await report.locator('[data-recovery] summary').textContent()) ?? '', /Recovery: ls \(ls asked\) · \d+ layers? refit/);
      assert.match((await report.locator('[data-latency]').textContent()) ?? '', /per batch of 8: .* 20 timed runs each/);
      await report.scrollIntoViewIfNeeded();
      await screenshot(page, 'recovery-report');

      // 5. The written model runs in ONNX Runtime with the original's output shape.
      const wrote = ((await report.locator('.path').first().textContent()) ?? '').trim();
      const pruned = path.join(workspace, wrote);
      assert.ok(fs.existsSync(pruned), `${wrote} written beside the model`);
      const dims = await outputDims(pruned, ex, 4);
      assert.deepEqual(dims, await outputDims(path.join(workspace, modelName), ex, 4));
      assert.deepEqual(dims, [4, 10]);
      assert.ok(fs.statSync(pruned).size < fs.statSync(path.join(workspace, modelName)).size, 'the pruned model is smaller');

      // 6. The data is remembered for the model: closed and opened again, the view shows it.
      await runPaletteCommand(page, 'View: Close All Editors');
      await openFileFromExplorer(page, modelName);
      const again = webviewFrame(page).locator('data-panel [data-role="calibration"] [data-set-info]');
      await again.waitFor({ timeout: 90_000 });
      assert.match((await again.textContent()) ?? '', new RegExp(`^${CALIB} images`));
      assert.equal(await webviewFrame(page).locator('data-panel #recover').evaluate((el) => (el as HTMLSelectElement).value), 'ls');
    });
  } finally {
    fs.rmSync(workspace, { recursive: true, force: true });
  }
});
