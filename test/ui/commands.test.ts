// "Prune Channels…" through the real workbench (code-server + chromium): from the explorer's
// context menu and from the command palette, driving the quick picks (criterion, ratio, scope,
// then the confirmation that previews parameters and MACs). Each written model is loaded back
// with the engine and run in ONNX Runtime from this process.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import type { Page } from 'playwright-core';
import { loadModel } from '../../src/engine/onnx/model.ts';
import { explorerContextMenu, runPaletteCommand, sampleModel, screenshot, skipWithoutCodeServer, waitForExtension, withWorkbench } from '../vscode/harness/index.ts';

const modelName = path.basename(sampleModel);

/** Output dims of a model run on a seeded random input (dynamic dimensions = 1). */
async function outputDims(file: string): Promise<Record<string, readonly number[]>> {
  const session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'] });
  try {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    const feeds: Record<string, ort.Tensor> = {};
    for (const meta of session.inputMetadata) {
      assert.ok(meta.isTensor);
      const dims = meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
      feeds[meta.name] = new ort.Tensor('float32', Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, rnd), dims);
    }
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => {
      assert.ok((v.data as Float32Array).every(Number.isFinite), `${k} finite`);
      return [k, v.dims];
    }));
  } finally {
    await session.release();
  }
}

function paramCount(file: string): number {
  const m = loadModel(file);
  let n = 0;
  for (const t of m.proto.graph?.initializer ?? []) n += (t.dims ?? []).reduce((a: number, b) => a * Number(b), 1);
  return n;
}

const quickInput = (page: Page) => page.locator('.quick-input-widget');

/** Types `filter` into the open quick pick and picks the row whose label contains `label`. */
async function pick(page: Page, titleFragment: string, filter: string, label: string): Promise<void> {
  await quickInput(page).locator('.quick-input-title', { hasText: titleFragment }).waitFor({ timeout: 60_000 });
  await quickInput(page).locator('input').fill(filter);
  const row = quickInput(page).locator('.monaco-list-row', { has: page.locator('.label-name', { hasText: label }) }).first();
  await row.waitFor({ timeout: 10_000 });
  await row.click();
}

async function enterText(page: Page, titleFragment: string, text: string): Promise<void> {
  await quickInput(page).locator('.quick-input-title', { hasText: titleFragment }).waitFor({ timeout: 30_000 });
  await quickInput(page).locator('input').fill(text);
  await page.keyboard.press('Enter');
}

/** Drives criterion → ratio → scope → recovery (auto) → confirmation; returns the confirmation's preview text. */
async function drivePrune(page: Page, shot: string, criterion: { filter: string; label: string }, ratio: string, scope: 'Uniform' | 'Global'): Promise<string> {
  await pick(page, '(1/4)', criterion.filter, criterion.label);
  await enterText(page, '(2/4)', ratio);
  await pick(page, '(3/4)', scope, scope);
  await pick(page, '(4/4)', 'auto', 'auto');
  const confirm = quickInput(page).locator('.monaco-list-row', { hasText: 'Prune' }).first();
  await confirm.waitFor({ timeout: 120_000 });
  const preview = ((await quickInput(page).textContent()) ?? '').replace(/\s+/g, ' ');
  await screenshot(page, shot);
  await confirm.click();
  return preview;
}

async function waitForNewModel(workspace: string, known: Set<string>): Promise<string> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const fresh = fs.readdirSync(workspace).filter((f) => f.endsWith('.onnx') && !known.has(f));
    if (fresh.length) {
      assert.equal(fresh.length, 1, `one new model: ${fresh.join(', ')}`);
      return path.join(workspace, fresh[0]!);
    }
    if (Date.now() > deadline) throw new Error(`no pruned model appeared in ${workspace}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function checkPruned(file: string): Promise<void> {
  assert.match(path.basename(file), /\.pruned(-\d+)?\.onnx$/);
  const before = paramCount(sampleModel);
  const after = paramCount(file);
  assert.ok(after < before, `parameters ${before} → ${after}`);
  assert.deepEqual(await outputDims(file), await outputDims(sampleModel), 'same output shapes as the original');
}

/** Explorer context menu → "Prune Channels…", until its first quick pick shows (a click on a menu item sometimes does not register). */
async function openPruneFromContextMenu(page: Page): Promise<void> {
  const first = quickInput(page).locator('.quick-input-title', { hasText: '(1/4)' });
  for (let attempt = 0; ; attempt++) {
    await explorerContextMenu(page, modelName, 'Prune Channels…');
    try {
      await first.waitFor({ timeout: 5000 });
      return;
    } catch (e) {
      const menu = page.locator('.monaco-menu .action-item.focused', { hasText: 'Prune Channels…' });
      if (await menu.isVisible()) {
        await page.keyboard.press('Enter');
        if (await first.waitFor({ timeout: 5000 }).then(() => true, () => false)) return;
      }
      await page.keyboard.press('Escape');
      if (attempt >= 2) throw e;
    }
  }
}

test('Prune Channels… from the explorer context menu and from the palette', { skip: skipWithoutCodeServer, timeout: 240_000 }, async () => {
  await withWorkbench({ label: 'commands', files: [sampleModel] }, async ({ page, workspace }) => {
    await waitForExtension(page, 'ONNX Pruner: Prune Channels…');
    const known = new Set(fs.readdirSync(workspace));

    // 1. Explorer context menu.
    await openPruneFromContextMenu(page);
    const preview = await drivePrune(page, 'commands-prune-preview', { filter: 'L1', label: 'L1 norm' }, '0.3', 'Uniform');
    assert.match(preview, /l1, ratio 0\.3, uniform/);
    assert.match(preview, /Parameters [\d.]+ [kMG]? ?→ [\d.]+ [kMG]? ?\(-\d+(\.\d)?%\), MACs .+ → .+ \(-\d+(\.\d)?%\)/);
    const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'Pruned model written' });
    await toast.waitFor({ timeout: 120_000 });
    assert.match((await toast.textContent()) ?? '', /parameters .+ → .+ \(-/);
    // Let the toast finish sliding in and the progress notifications close.
    await page.locator('.notifications-toasts .notification-toast', { hasText: /Analysing|Pruning/ }).first().waitFor({ state: 'detached', timeout: 10_000 });
    await page.waitForTimeout(500);
    await screenshot(page, 'commands-prune-notification');
    const first = await waitForNewModel(workspace, known);
    await checkPruned(first);
    known.add(path.basename(first));
    await page.keyboard.press('Escape');
    await page.locator('.notifications-toasts .notification-toast .codicon-notifications-clear').first().click({ timeout: 2000 }).catch(() => undefined);

    // 2. Command palette: the model is picked from the workspace's .onnx files.
    await runPaletteCommand(page, 'ONNX Pruner: Prune Channels…');
    const modelRow = quickInput(page).locator('.monaco-list-row', { has: page.locator('.label-name', { hasText: new RegExp(`^\\s*${modelName.replace(/\./g, '\\.')}\\s*$`) }) });
    await modelRow.first().waitFor({ timeout: 30_000 });
    await modelRow.first().click();
    const preview2 = await drivePrune(page, 'commands-palette-preview', { filter: 'Slimming', label: 'BN γ' }, '0.5', 'Global');
    assert.match(preview2, /bn-gamma, ratio 0\.5, global/);
    await page.locator('.notifications-toasts .notification-toast', { hasText: 'Pruned model written' }).first().waitFor({ timeout: 120_000 });
    const second = await waitForNewModel(workspace, known);
    await checkPruned(second);
    await screenshot(page, 'commands-palette-notification');
  });
});
