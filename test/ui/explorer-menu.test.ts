// Every item of a model's explorer context menu, run on a file in the real workbench: VS Code
// passes the clicked file AND the selection (an array) to each command, which the handlers once
// read as a plan path, a target file or the pruned model ("The "path" argument must be of type
// string. Received an instance of Array"). With one file selected and with two: two selected
// models validate against each other without asking. No error notification may appear.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import {
  explorerContextMenu, explorerContextMenuLabels, explorerItem, repoRoot, sampleModel, screenshot, skipWithoutCodeServer,
  waitForExtension, webviewFrame, withWorkbench,
} from '../vscode/harness/index.ts';

const modelName = path.basename(sampleModel);
const prunedName = modelName.replace(/\.onnx$/, '.pruned.onnx');
const quickInput = (page: Page) => page.locator('.quick-input-widget');
const toast = (page: Page, text: string | RegExp) => page.locator('.notifications-toasts .notification-toast', { hasText: text });

/** Fails on any "ONNX Pruner: …" error notification (a command that threw). */
async function noErrorToast(page: Page): Promise<void> {
  const errors = await page.locator('.notifications-toasts .notification-toast:has(.codicon-error)').allTextContents();
  assert.deepEqual(errors, [], 'no error notification');
}

/** Answers VS Code's own file dialog (a quick input in code-server) with an absolute path. */
async function answerFileDialog(page: Page, file: string): Promise<void> {
  const input = quickInput(page).locator('input');
  await input.waitFor({ state: 'visible', timeout: 30_000 });
  // The dialog fills in its starting folder itself: wait for it, then replace it (typing earlier gets both).
  await page.waitForFunction(() => ((document.querySelector('.quick-input-widget input') as HTMLInputElement | null)?.value ?? '').length > 0, undefined, { timeout: 15_000 });
  await page.waitForTimeout(300);
  for (let attempt = 0; attempt < 3 && (await input.inputValue()) !== file; attempt++) {
    await input.fill(file);
    await page.waitForTimeout(300);
  }
  assert.equal(await input.inputValue(), file, 'the file dialog holds the path');
  await page.keyboard.press('Enter');
}

/** Runs a context-menu item until `shows` appears (a click on a menu item sometimes does not register). */
async function menuUntil(page: Page, file: string, item: string, shows: Locator): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    await explorerContextMenu(page, file, item);
    if (await shows.first().waitFor({ timeout: 10_000 }).then(() => true, () => false)) return;
    const focused = page.locator('.monaco-menu .action-item.focused', { hasText: item });
    if (await focused.isVisible()) {
      await page.keyboard.press('Enter');
      if (await shows.first().waitFor({ timeout: 10_000 }).then(() => true, () => false)) return;
    }
    await page.keyboard.press('Escape');
    if (attempt >= 2) throw new Error(`"${item}" on ${file} never showed its result`);
  }
}

async function clearToasts(page: Page): Promise<void> {
  await page.keyboard.press('Escape');
  for (const b of await page.locator('.notifications-toasts .notification-toast .codicon-notifications-clear').all()) await b.click({ timeout: 2000 }).catch(() => undefined);
}

test('every explorer context-menu item works on a file, with one and with two files selected', { skip: skipWithoutCodeServer, timeout: 300_000 }, async () => {
  // A pruned model and a plan beside the sample, made by the CLI.
  // a threshold plan: the confirmation once read "ratio -"
  const plan = { version: 1, criterion: 'bn-gamma', threshold: 0.01, scope: 'global' };
  await withWorkbench({ label: 'explorer-menu', files: [sampleModel] }, async ({ page, workspace }) => {
    const model = path.join(workspace, modelName);
    execFileSync(process.execPath, [path.join(repoRoot, 'dist', 'cli.js'), 'prune', model, '--criterion', 'l1', '--ratio', '0.5', '--out', path.join(workspace, prunedName)], { stdio: 'ignore' });
    fs.writeFileSync(path.join(workspace, 'plan.json'), JSON.stringify(plan));
    await waitForExtension(page, 'ONNX Pruner: Prune Channels…');

    const labels = await explorerContextMenuLabels(page, modelName, 'Export Layer Widths');
    await page.keyboard.press('Escape');
    const ours = ['Open in ONNX Pruner', 'Prune Channels…', 'Apply Pruning Plan…', 'Validate Pruned Model…', 'Export Layer Widths'];
    for (const l of ours) assert.ok(labels.includes(l), `"${l}" in the menu: ${labels.join(' | ')}`);

    // Open in ONNX Pruner
    await explorerContextMenu(page, modelName, 'Open in ONNX Pruner');
    await webviewFrame(page).locator('layer-table .body .row[data-layer]').first().waitFor({ timeout: 60_000 });
    await noErrorToast(page);

    // Export Layer Widths: the save dialog, then the file with every layer's width
    const widthsFile = path.join(workspace, 'widths.json');
    await explorerContextMenu(page, modelName, 'Export Layer Widths');
    await answerFileDialog(page, widthsFile);
    await waitForFile(widthsFile);
    const widths = JSON.parse(fs.readFileSync(widthsFile, 'utf8')) as { model: string; widths: Record<string, number> };
    assert.equal(widths.model, modelName);
    assert.ok(Object.keys(widths.widths).length > 0, 'layer widths');
    await noErrorToast(page);

    // Apply Pruning Plan…: the open dialog for the plan, the confirmation, the pruned model
    const before = new Set(fs.readdirSync(workspace));
    await explorerContextMenu(page, modelName, 'Apply Pruning Plan…');
    await answerFileDialog(page, path.join(workspace, 'plan.json'));
    const confirm = quickInput(page).locator('.monaco-list-row', { hasText: 'Prune' }).first();
    await confirm.waitFor({ timeout: 120_000 });
    assert.match((await quickInput(page).textContent()) ?? '', /bn-gamma, threshold 0\.01, global/);
    await confirm.click();
    await toast(page, 'Pruned model written').waitFor({ timeout: 120_000 });
    const added = fs.readdirSync(workspace).filter((f) => !before.has(f) && f.endsWith('.onnx'));
    assert.equal(added.length, 1, `one model written by the plan: ${added.join(', ')}`);
    await noErrorToast(page);
    await clearToasts(page);

    // Validate Pruned Model…: the open dialog for the pruned model, then the result
    await explorerContextMenu(page, modelName, 'Validate Pruned Model…');
    await answerFileDialog(page, path.join(workspace, prunedName));
    await toast(page, /Validation ran on CPU/).waitFor({ timeout: 120_000 });
    await noErrorToast(page);
    // Show Report: a read-only JSON document, not an Untitled file that asks to be saved later
    await toast(page, /Validation ran on CPU/).locator('a.monaco-button, .monaco-button', { hasText: 'Show Report' }).first().click();
    const tab = page.locator('.tabs-container .tab.active', { hasText: 'validation.report.json' });
    await tab.waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('.tabs-container .tab', { hasText: /Untitled/ }).count(), 0, 'no Untitled document');
    assert.match(await page.locator('.monaco-editor .view-lines').first().textContent() ?? '', /"provider"/);
    await page.keyboard.type('x');
    assert.doesNotMatch(await tab.getAttribute('class') ?? '', /dirty/, 'the report cannot be edited');
    await clearToasts(page);

    // Prune Channels…: its first question
    await explorerContextMenu(page, modelName, 'Prune Channels…');
    await quickInput(page).locator('.quick-input-title', { hasText: '(1/4)' }).waitFor({ timeout: 60_000 });
    await page.keyboard.press('Escape');
    await noErrorToast(page);

    // Two models selected: Validate compares them without asking; Export Layer Widths exports the clicked one
    await explorerItem(page, modelName).click();
    await explorerItem(page, prunedName).click({ modifiers: ['Control'] });
    await menuUntil(page, prunedName, 'Validate Pruned Model…', toast(page, /Validating|Validation ran on CPU/));
    await toast(page, /Validation ran on CPU/).waitFor({ timeout: 120_000 });
    assert.equal(await quickInput(page).isVisible(), false, 'no dialog: the two selected models are compared');
    await noErrorToast(page);
    await clearToasts(page);
    await explorerItem(page, modelName).click();
    await explorerItem(page, prunedName).click({ modifiers: ['Control'] });
    const widths2 = path.join(workspace, 'widths-pruned.json');
    await explorerContextMenu(page, prunedName, 'Export Layer Widths');
    await answerFileDialog(page, widths2);
    await waitForFile(widths2);
    assert.equal((JSON.parse(fs.readFileSync(widths2, 'utf8')) as { model: string }).model, prunedName);
    await noErrorToast(page);
    await screenshot(page, 'explorer-menu-done');
  });
});

async function waitForFile(file: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!fs.existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`${path.basename(file)} was not written`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
