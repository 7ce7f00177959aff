// The residual blocks in the model view, in a headless chromium with the fake host of the preview
// harness (ResNet-18 fixture: one block per /layerX/layerX.Y/, the last one not removable): listed
// weakest first with their γ; a "remove" choice per block changes the plan, the preview counts the
// removed blocks and Prune sends them; measured on calibration data (progress, then the loss and
// drift columns and the ranking by data).
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { skipWithoutChromium, useViewHarness } from './harness.ts';
import type { FromWebview, ViewPlan } from '../../src/shared/protocol.ts';

const skip = skipWithoutChromium;

const h = useViewHarness();

async function open(query: Record<string, string | number> = {}): Promise<Page> {
  const page = await h.page(h.preview.page({ fixture: 'resnet18_bn', theme: 'dark', query }), { width: 1280, height: 900 });
  return page;
}
const messages = (page: Page) => page.evaluate(() => window.__messages) as Promise<FromWebview[]>;
const requests = async (page: Page, method: string) => (await messages(page)).filter((m): m is Extract<FromWebview, { kind: 'request' }> => m.kind === 'request' && m.method === method);
const stat = (page: Page, name: string) => page.locator(`plan-panel .preview [data-stat="${name}"]`);

describe('residual blocks in the model view (preview harness)', { skip }, () => {
  test('listed weakest first by γ; removing one changes the plan, the preview counts it, Prune sends it', async () => {
    const page = await open({ pruneMs: 200 });
    await stat(page, 'Parameters').waitFor();
    const card = page.locator('details.blocks');
    assert.match(await card.locator('[data-blocks-summary]').textContent() ?? '', /^8: 7 removable whole/);
    await card.locator('summary').click();
    const rows = page.locator('block-list tr[data-block]');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 8);
    const gammas = await page.locator('block-list tr[data-removable="true"] td[data-gamma]').allTextContents();
    const values = gammas.map(Number);
    assert.deepEqual(values, [...values].sort((a, b) => a - b), `weakest first: ${gammas.join(', ')}`);
    // the block that cannot be removed: last, its choice disabled, the reason given
    const last = rows.last();
    assert.equal(await last.getAttribute('data-removable'), 'false');
    assert.ok(await last.locator('input[type="checkbox"]').isDisabled());
    assert.match(await last.locator('input').getAttribute('title') ?? '', /Cannot be removed: Relu/);

    const beforeParams = Number(await stat(page, 'Parameters').getAttribute('data-after'));
    const first = rows.first();
    const name = (await first.getAttribute('data-block'))!;
    await first.locator('input[type="checkbox"]').check();
    await page.locator('plan-panel [data-removed-blocks="1"]').waitFor();
    const pv = (await requests(page, 'previewPlan')).at(-1)!;
    assert.deepEqual((pv.params as { plan: ViewPlan }).plan.removeBlocks, { names: [name] });
    const afterParams = Number(await stat(page, 'Parameters').getAttribute('data-after'));
    assert.ok(afterParams < beforeParams, `parameters after ${afterParams} < ${beforeParams}`);
    assert.match(await card.locator('[data-blocks-summary]').textContent() ?? '', /1 marked for removal/);
    assert.equal(await first.getAttribute('data-removed'), 'true');
    // the host is told the plan (Export Pruning Plan uses it)
    const state = (await messages(page)).filter((m): m is Extract<FromWebview, { kind: 'planState' }> => m.kind === 'planState').at(-1)!;
    assert.deepEqual(state.plan.removeBlocks, { names: [name] });

    await page.locator('plan-panel vscode-button[icon="fold"]').click();
    await page.waitForFunction(() => window.__messages.some((m) => m.kind === 'request' && m.method === 'prune'));
    const prune = (await requests(page, 'prune')).at(-1)!;
    assert.deepEqual((prune.params as { plan: ViewPlan }).plan.removeBlocks, { names: [name] });

    // kept again: the plan has no removeBlocks
    await first.locator('input[type="checkbox"]').uncheck();
    await page.waitForFunction(() => {
      const r = window.__messages.filter((m) => m.kind === 'request' && m.method === 'previewPlan').at(-1) as { params: { plan: ViewPlan } } | undefined;
      return r && r.params.plan.removeBlocks === undefined;
    });
    assert.deepEqual((page as Page & { errors: string[] }).errors, []);
    await page.close();
  });

  test('measured on calibration data: progress, then the loss and drift columns and the ranking by data', async () => {
    const page = await open({ blockMs: 800 });
    await stat(page, 'Parameters').waitFor();
    await page.locator('details.blocks summary').click();
    const list = page.locator('block-list');
    await list.locator('tr[data-block]').first().waitFor();
    assert.ok(await list.locator('vscode-button[data-measure]').getAttribute('disabled') !== null, 'no calibration data: nothing to measure on');
    assert.match(await list.locator('[data-needs-calibration]').textContent() ?? '', /choose calibration data under Data and recovery/);
    const byGamma = await list.locator('tr[data-block]').evaluateAll((els) => els.map((e) => e.getAttribute('data-block')));
    await page.locator('data-panel [data-role="calibration"] vscode-button[data-pick="folder"]').click();
    await page.locator('data-panel [data-role="calibration"] [data-set-info]').waitFor();
    await page.waitForFunction(() => !document.querySelector('onnx-model-view')?.shadowRoot?.querySelector('block-list')?.shadowRoot?.querySelector('vscode-button[data-measure]')?.hasAttribute('disabled'));
    await list.locator('vscode-button[data-measure]').click();
    await list.locator('[data-measuring] progress').waitFor();
    await list.locator('td[data-loss]').first().waitFor({ timeout: 10_000 });
    const losses = (await list.locator('tr[data-removable="true"] td[data-loss]').allTextContents()).map(Number);
    assert.deepEqual(losses, [...losses].sort((a, b) => a - b), 'weakest first by loss');
    const byData = await list.locator('tr[data-block]').evaluateAll((els) => els.map((e) => e.getAttribute('data-block')));
    assert.notDeepEqual(byData, byGamma, 'the data ranks the blocks differently');
    assert.equal(byData[0], byGamma[6], 'the weakest by data is the strongest removable one by γ (the fake host\'s scores)');
    assert.equal((await requests(page, 'getBlocks')).filter((m) => (m.params as { measure: boolean }).measure).length, 1);
    assert.deepEqual((page as Page & { errors: string[] }).errors, []);
    await page.close();
  });
});
