// The model view's default plan is the user's onnxPruner.* settings: a workspace that sets
// criterion and ratio opens the view with them, and changing the settings file while the view is
// open changes the plan it shows (the plan has not been edited by hand).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import type { FrameLocator } from 'playwright-core';
import { makeWorkspace, openFileFromExplorer, sampleModel, screenshot, skipWithoutCodeServer, waitForExtension, webviewFrame, withWorkbench } from '../vscode/harness/index.ts';

const modelName = path.basename(sampleModel);

function writeSettings(workspace: string, settings: Record<string, unknown>): void {
  fs.mkdirSync(path.join(workspace, '.vscode'), { recursive: true });
  fs.writeFileSync(path.join(workspace, '.vscode', 'settings.json'), JSON.stringify(settings, null, 2));
}

async function shownPlan(view: FrameLocator): Promise<{ criterion: string; ratio: string }> {
  const criterion = await view.locator('plan-panel #criterion').evaluate((el) => (el as HTMLSelectElement).value);
  const ratio = ((await view.locator('plan-panel #ratio-value').textContent()) ?? '').trim();
  return { criterion, ratio };
}

async function waitForPlan(view: FrameLocator, want: { criterion: string; ratio: string }, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = await shownPlan(view).catch(() => undefined);
  while (!seen || seen.criterion !== want.criterion || seen.ratio !== want.ratio) {
    if (Date.now() > deadline) assert.deepEqual(seen, want, 'the plan panel shows the settings');
    await new Promise((r) => setTimeout(r, 250));
    seen = await shownPlan(view).catch(() => undefined);
  }
}

test('the model view starts from the onnxPruner.* settings and follows a change of them', { skip: skipWithoutCodeServer, timeout: 180_000 }, async () => {
  const workspace = makeWorkspace([sampleModel]);
  after(() => fs.rmSync(workspace, { recursive: true, force: true }));
  writeSettings(workspace, { 'onnxPruner.criterion': 'l1', 'onnxPruner.ratio': 0.3 });
  await withWorkbench({ label: 'settings', workspace }, async ({ page }) => {
    await waitForExtension(page, 'ONNX Pruner: Prune Channels…');
    await openFileFromExplorer(page, modelName);
    const view = webviewFrame(page);
    await view.locator('plan-panel #criterion').waitFor({ timeout: 60_000 });
    await waitForPlan(view, { criterion: 'l1', ratio: '30%' });

    // The settings file changes while the view is open: the view's default plan follows.
    writeSettings(workspace, { 'onnxPruner.criterion': 'l2', 'onnxPruner.ratio': 0.6 });
    await waitForPlan(view, { criterion: 'l2', ratio: '60%' });
    await screenshot(page, 'settings-followed');
  });
});
