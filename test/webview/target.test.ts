// The plan panel's Target section in a headless chromium, with the fake host of the preview
// harness (a small fixed scan over four groups; Find plan answers fixed shares): without
// calibration data the scan says what it needs; the scan shows progress and can be cancelled;
// the sensitivity shows a curve per group, ranked by tolerance; Find plan fills the plan's
// per-layer shares (the table's Plan column and the preview follow, the user can still edit them)
// and marks the chosen share on each curve; a model opened again shows its cached scan.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, startPreview, type Preview } from '../../scripts/webview-preview.ts';
import type { FromWebview, ToWebview } from '../../src/shared/protocol.ts';

const skip = fs.existsSync(CHROMIUM) ? false : `chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`;

let preview: Preview;
let browser: Browser;

async function open(query: Record<string, string | number> = {}): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  (page as Page & { errors: string[] }).errors = errors;
  await page.goto(preview.page({ fixture: 'fmnist_bn', theme: 'dark', query }));
  return page;
}
const messages = (page: Page) => page.evaluate(() => window.__messages) as Promise<FromWebview[]>;
const requests = async (page: Page, method: string) => (await messages(page)).filter((m): m is Extract<FromWebview, { kind: 'request' }> => m.kind === 'request' && m.method === method);
const chooseCalibration = async (page: Page) => {
  await page.locator('data-panel [data-role="calibration"] vscode-button[data-pick="folder"]').click();
  await page.locator('data-panel [data-role="calibration"] [data-set-info]').waitFor();
};

describe('the Target section (preview harness)', { skip }, () => {
  before(async () => {
    preview = await startPreview();
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ headless: true, executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  after(async () => {
    await browser?.close();
    await preview?.close();
  });

  test('without calibration data the scan is not offered and says what it needs', async () => {
    const page = await open();
    const t = page.locator('target-panel');
    await t.locator('[data-needs-calibration]').waitFor();
    assert.match(await t.locator('[data-needs-calibration]').textContent() ?? '', /choose it under Data and recovery/);
    assert.equal(await t.locator('vscode-button[data-scan]').getAttribute('disabled'), '');
    assert.equal(await t.locator('vscode-button[data-find-plan]').getAttribute('disabled'), '', 'Find plan needs a scan');
    assert.deepEqual((page as Page & { errors: string[] }).errors, []);
    await page.close();
  });

  test('scan with progress and cancel; the curves ranked by tolerance; Find plan fills the per-layer shares, the preview and the table follow', async () => {
    const page = await open({ scanMs: 1500 });
    await page.locator('plan-panel .preview .big').first().waitFor();
    await chooseCalibration(page);
    const t = page.locator('target-panel');
    // a cached scan is asked for (none yet), nothing computed
    await page.waitForFunction(() => window.__messages.some((m) => m.kind === 'request' && m.method === 'scan' && m.params.cachedOnly === true));
    assert.equal(await t.locator('[data-sensitivity]').count(), 0);
    // cancel half-way
    await t.locator('vscode-button[data-scan]').click();
    await t.locator('[data-scan-progress] progress').waitFor();
    await page.waitForFunction(() => /Scan: group [2-6]/.test(document.querySelector('onnx-model-view')?.shadowRoot?.querySelector('plan-panel')?.shadowRoot?.querySelector('target-panel')?.shadowRoot?.querySelector('[data-scan-progress]')?.textContent ?? ''));
    await t.locator('vscode-button[data-cancel-scan]').click();
    await t.locator('[data-scan-cancelled]').waitFor();
    assert.ok((await messages(page)).some((m) => m.kind === 'cancel'), 'the cancel reached the host');
    assert.equal(await t.locator('[data-sensitivity]').count(), 0, 'no curves from a cancelled scan');
    // the whole scan
    await t.locator('vscode-button[data-scan]').click();
    await t.locator('[data-sensitivity]').waitFor({ timeout: 10_000 });
    const rows = t.locator('[data-sensitivity] tr[data-group]');
    assert.equal(await rows.count(), 4);
    // each row a curve through its measured points (the group that broke at 0.7 has 4)
    const dots = await rows.evaluateAll((els) => els.map((e) => e.querySelectorAll('svg.spark circle.dot').length));
    assert.deepEqual([...dots].sort(), [4, 5, 5, 5]);
    // most tolerant first: mean losses increase down the table
    const labels = await rows.evaluateAll((els) => els.map((e) => e.querySelector('svg.spark')!.getAttribute('aria-label')!));
    const means = labels.map((l) => {
      const losses = [...l.matchAll(/: (\d+\.\d)/g)].map((m) => Number(m[1]));
      return (losses.reduce((a, b) => a + b, 0) + (5 - losses.length) * 100) / 5;
    });
    assert.deepEqual(means, [...means].sort((a, b) => a - b), `ranked by tolerance: ${labels.join(' | ')}`);
    // the uniform plan's share (the default 50%) is marked on every curve
    assert.equal(await t.locator('[data-sensitivity] line[data-chosen-mark]').count(), 4);

    // Find plan for 40% of the MACs
    await t.locator('[data-budget-percent]').evaluate((el) => {
      (el as HTMLInputElement).value = '40';
      el.dispatchEvent(new Event('change', { bubbles: true }));
    });
    await t.locator('vscode-button[data-find-plan]').click();
    await t.locator('[data-found][data-met="yes"]').waitFor();
    const find = (await requests(page, 'findPlan')).at(-1)!;
    assert.deepEqual((find.params as { budget: unknown }).budget, { kind: 'macs', fraction: 0.4 });
    // the plan now has per-layer shares: chips in the plan panel, the table's Plan column, the marks
    const found = await page.evaluate(async () => {
      const rs = Object.values(window.__responses) as ToWebview[];
      return rs.map((r) => (r.kind === 'response' && r.ok && r.result && typeof r.result === 'object' && 'predicted' in r.result ? r.result : undefined)).filter(Boolean).at(-1) as { plan: { overrides: Record<string, { ratio: number }> }; predicted: { macs: number } };
    });
    const overrides = Object.entries(found.plan.overrides);
    assert.equal(overrides.length, 3);
    for (const [layer, o] of overrides) {
      await t.locator(`[data-sensitivity] tr[data-group="${layer}"][data-chosen="${o.ratio}"] line[data-chosen-mark]`).waitFor({ state: 'attached' });
      await page.locator(`plan-panel .chip`, { hasText: layer }).first().waitFor();
    }
    // the group the plan leaves whole: no mark
    assert.equal(await t.locator('[data-sensitivity] line[data-chosen-mark]').count(), 3);
    // the preview shows the plan's MACs
    await page.waitForFunction((macs) => {
      const el = document.querySelector('onnx-model-view')?.shadowRoot?.querySelector('plan-panel')?.shadowRoot?.querySelector('.preview [data-stat="MACs"]');
      return el?.getAttribute('data-after') === String(macs);
    }, found.predicted.macs);
    const [firstLayer, firstOv] = overrides[0]!;
    const select = page.locator(`layer-table .row[data-layer="${firstLayer}"] select`);
    assert.equal(await select.inputValue(), String(firstOv.ratio), 'the table shows the share');
    // the user can still edit a share: the table's Plan column
    await select.selectOption('0.1');
    await t.locator(`[data-sensitivity] tr[data-group="${firstLayer}"][data-chosen="0.1"]`).waitFor();
    // parameters, 30%
    await t.locator('button[data-budget-kind="params"]').click();
    await t.locator('[data-budget-percent]').evaluate((el) => {
      (el as HTMLInputElement).value = '30';
      el.dispatchEvent(new Event('change', { bubbles: true }));
    });
    await t.locator('vscode-button[data-find-plan]').click();
    await page.waitForFunction(() => window.__messages.filter((m) => m.kind === 'request' && m.method === 'findPlan').length === 2);
    assert.deepEqual(((await requests(page, 'findPlan')).at(-1)!.params as { budget: unknown }).budget, { kind: 'params', fraction: 0.3 });
    assert.deepEqual((page as Page & { errors: string[] }).errors, []);
    await page.close();
  });

  test('a changed criterion hides the scan made with another; the cached one comes back with it', async () => {
    const page = await open({ scanMs: 100 });
    await page.locator('plan-panel .preview .big').first().waitFor();
    await chooseCalibration(page);
    const t = page.locator('target-panel');
    await t.locator('vscode-button[data-scan]').click();
    await t.locator('[data-sensitivity]').waitFor();
    const select = page.locator('plan-panel #criterion');
    await select.evaluate((el) => { (el as HTMLSelectElement).value = 'l2'; el.dispatchEvent(new Event('change', { bubbles: true })); });
    await page.waitForFunction(() => !document.querySelector('onnx-model-view')?.shadowRoot?.querySelector('plan-panel')?.shadowRoot?.querySelector('target-panel')?.shadowRoot?.querySelector('[data-sensitivity]'));
    await select.evaluate((el) => { (el as HTMLSelectElement).value = 'bn-gamma'; el.dispatchEvent(new Event('change', { bubbles: true })); });
    await t.locator('[data-sensitivity]').waitFor();
    assert.match(await t.locator('[data-sensitivity] summary').textContent() ?? '', /from the cache/);
    await page.close();
  });
});
