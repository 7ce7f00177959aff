// Workspace trust in the real workbench (code-server + chromium, trust enabled): in an untrusted
// folder (Restricted Mode) the model view still opens with its summary and table, but its Prune
// button is disabled with the reason; the explorer context menu and the command palette offer
// inspection and not "Prune Channels…". Granting trust through VS Code's Workspace Trust editor
// enables Prune in the open view without reloading it, and the menus then offer pruning.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import type { FrameLocator, Page } from 'playwright-core';
import {
  explorerContextMenuLabels, openFileFromExplorer, paletteLabels, runPaletteCommand, sampleModel, screenshot,
  skipWithoutCodeServer, waitForExtension, webviewFrame, withWorkbench,
} from '../vscode/harness/index.ts';

const modelName = path.basename(sampleModel);
const untrustedHint = /need a trusted workspace/;

const pruneButton = (view: FrameLocator) => view.locator('plan-panel vscode-button[icon="fold"]', { hasText: 'Prune' });
const restrictedModeItem = (page: Page) => page.locator('.statusbar-item', { hasText: 'Restricted Mode' });

/**
 * Should the workbench ask "Do you trust the authors of the files in this folder?" at start-up
 * (the harness turns that prompt off, other VS Code builds may still show it), the answer is no:
 * the folder stays in Restricted Mode. Playwright runs this whenever the dialog shows before an action.
 */
async function declineTrustPrompt(page: Page): Promise<void> {
  const dialog = page.locator('.monaco-dialog-box', { hasText: 'Do you trust the authors' });
  await page.addLocatorHandler(dialog, async () => {
    await dialog.getByRole('button', { name: "No, I don't trust the authors" }).click();
  });
  if (await dialog.waitFor({ timeout: 3000 }).then(() => true, () => false)) {
    await dialog.getByRole('button', { name: "No, I don't trust the authors" }).click();
    await dialog.waitFor({ state: 'hidden', timeout: 10_000 });
  }
}

/** Whether the view's Prune button is disabled (a vscode-button reflects `disabled` as an attribute). */
async function pruneDisabled(view: FrameLocator): Promise<boolean> {
  return (await pruneButton(view).getAttribute('disabled')) !== null;
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns its last answer. */
async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('Restricted Mode: inspection only until the workspace is trusted, then Prune is enabled in the open view', { skip: skipWithoutCodeServer, timeout: 240_000 }, async () => {
  await withWorkbench({ label: 'trust', files: [sampleModel], workspaceTrust: true }, async ({ page }) => {
    await declineTrustPrompt(page);
    await restrictedModeItem(page).waitFor({ timeout: 30_000 });
    await waitForExtension(page, 'ONNX Pruner: Export Layer Widths');

    // 1. The model view opens with its summary and table; Prune is disabled, with the reason.
    await openFileFromExplorer(page, modelName);
    const view = webviewFrame(page);
    await view.locator('layer-table .body .row[data-layer]').first().waitFor({ timeout: 90_000 });
    // The virtualised table lays out its first row, measures it, then the rest: wait for the rest.
    assert.ok(await eventually(async () => await view.locator('layer-table .body .row[data-layer]').count() > 1, 15_000), 'the layer table lists the layers');
    await pruneButton(view).waitFor({ timeout: 30_000 });
    assert.equal(await pruneDisabled(view), true, 'Prune is disabled in Restricted Mode');
    const hint = view.locator('plan-panel .hint.untrusted');
    await hint.waitFor({ timeout: 10_000 });
    assert.match((await hint.textContent()) ?? '', untrustedHint);
    // Calibration and evaluation run the model: the data section offers no picker, and says why.
    const dataHint = view.locator('data-panel .data-untrusted');
    assert.match((await dataHint.textContent({ timeout: 10_000 })) ?? '', untrustedHint);
    assert.equal(await view.locator('data-panel vscode-button[data-pick]').count(), 0, 'no data picker in Restricted Mode');
    // The view's title bar: Inspect Layer…, not Prune Channels….
    const titleAction = (label: string) => page.locator(`.editor-group-container.active .editor-actions .action-label[aria-label^="${label}"]`);
    await titleAction('Inspect Layer…').waitFor({ timeout: 15_000 });
    assert.equal(await titleAction('Prune Channels…').count(), 0, 'the view title does not offer Prune Channels…');
    await pruneButton(view).scrollIntoViewIfNeeded();
    await screenshot(page, 'trust-restricted-view');

    // 2. Explorer context menu: inspection items, no "Prune Channels…".
    const menu = await explorerContextMenuLabels(page, modelName, 'Export Layer Widths');
    await screenshot(page, 'trust-restricted-context-menu');
    await page.keyboard.press('Escape');
    assert.ok(menu.includes('Export Layer Widths') && menu.includes('Open in ONNX Pruner'), `the context menu offers inspection: ${menu.join(' | ')}`);
    assert.ok(!menu.some((l) => l.startsWith('Prune Channels')), `the context menu does not offer Prune Channels…: ${menu.join(' | ')}`);
    assert.ok(!menu.some((l) => l.startsWith('Validate Pruned Model')), 'nor Validate Pruned Model…');

    // 3. Command palette (the model view is the active editor): inspection, no pruning.
    const palette = await paletteLabels(page, 'ONNX Pruner', 'ONNX Pruner: Inspect Layer…');
    await screenshot(page, 'trust-restricted-palette');
    await page.keyboard.press('Escape');
    assert.ok(palette.includes('ONNX Pruner: Export Layer Widths'), `the palette lists Export Layer Widths: ${palette.join(' | ')}`);
    assert.ok(!palette.includes('ONNX Pruner: Prune Channels…'), `the palette does not list Prune Channels…: ${palette.join(' | ')}`);
    assert.ok(!palette.includes('ONNX Pruner: Apply Pruning Plan…'), 'nor Apply Pruning Plan…');

    // 4. Grant trust in VS Code's Workspace Trust editor, opened in a second editor group so the
    // model view stays visible: it must update itself, not be reloaded. A mark left in its
    // document before proves it is still the same page afterwards.
    await view.locator('body').evaluate((b) => b.setAttribute('data-trust-probe', 'before-trust'));
    await runPaletteCommand(page, 'View: New Editor Group to the Right');
    await runPaletteCommand(page, 'Workspaces: Manage Workspace Trust');
    const trustEditor = page.locator('.workspace-trust-editor');
    const trustButton = trustEditor.getByRole('button', { name: 'Trust', exact: true });
    await trustButton.waitFor({ timeout: 30_000 });
    await screenshot(page, 'trust-manage-editor');
    for (let attempt = 1; ; attempt++) {
      await trustButton.click({ timeout: 10_000 }).catch(() => undefined);
      if (await restrictedModeItem(page).waitFor({ state: 'hidden', timeout: 10_000 }).then(() => true, () => false)) break;
      assert.ok(attempt < 3, 'the Restricted Mode status bar item went away after Trust');
    }

    // 5. The open view enables Prune and drops the hint, without reloading.
    assert.equal(await eventually(async () => !(await pruneDisabled(view)), 30_000), true, 'Prune is enabled once the workspace is trusted');
    assert.equal(await hint.count(), 0, 'the untrusted hint is gone');
    await view.locator('data-panel [data-role="calibration"] vscode-button[data-pick="folder"]').waitFor({ timeout: 30_000 });
    assert.equal(await dataHint.count(), 0, 'the data section offers its pickers once trusted');
    assert.equal(await view.locator('body[data-trust-probe="before-trust"]').count(), 1, 'the view was updated in place, not reloaded');
    await pruneButton(view).scrollIntoViewIfNeeded();
    await screenshot(page, 'trust-granted-view');

    // 6. Pruning is offered now: the context menu and the palette list "Prune Channels…".
    const trustedMenu = await explorerContextMenuLabels(page, modelName, 'Prune Channels…');
    await page.keyboard.press('Escape');
    assert.ok(trustedMenu.includes('Prune Channels…'), `the context menu offers Prune Channels…: ${trustedMenu.join(' | ')}`);
    const trustedPalette = await paletteLabels(page, 'ONNX Pruner', 'ONNX Pruner: Prune Channels…');
    await page.keyboard.press('Escape');
    assert.ok(trustedPalette.includes('ONNX Pruner: Prune Channels…'));
  });
});
