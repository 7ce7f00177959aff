// The plan panel's Target section in a headless chromium, with the fake host of the preview
// harness (a small fixed scan over four groups; Find plan answers fixed shares): without
// calibration data the scan says what it needs; the scan shows progress and can be cancelled;
// the sensitivity shows a curve per group, ranked by tolerance; Find plan fills the plan's
// per-layer shares (the table's Plan column and the preview follow, the user can still edit them)
// and marks the chosen share on each curve; a model opened again shows its cached scan; the scan
// settings (the command line's defaults, sent with the scan, a bad ratio refused in place); a
// latency budget (the original's latency measured and shown, 70% of it proposed) and a maximum
// loss; a Prune of the found plan carries its budget and the report says the target was met or
// missed by how much; a plan edited after Find plan carries none.
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { skipWithoutChromium, useViewHarness } from './harness.ts';
import type { FromWebview, ToWebview } from '../../src/shared/protocol.ts';

const skip = skipWithoutChromium;

const h = useViewHarness();

async function open(query: Record<string, string | number> = {}): Promise<Page> {
  const page = await h.page(h.preview.page({ fixture: 'fmnist_bn', theme: 'dark', query }), { width: 1280, height: 900 });
  return page;
}
const messages = (page: Page) => page.evaluate(() => window.__messages) as Promise<FromWebview[]>;
const requests = async (page: Page, method: string) => (await messages(page)).filter((m): m is Extract<FromWebview, { kind: 'request' }> => m.kind === 'request' && m.method === method);
const chooseCalibration = async (page: Page) => {
  await page.locator('data-panel [data-role="calibration"] vscode-button[data-pick="folder"]').click();
  await page.locator('data-panel [data-role="calibration"] [data-set-info]').waitFor();
};

describe('the Target section (preview harness)', { skip }, () => {
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

  const setField = async (page: Page, selector: string, value: string) => page.locator(selector).evaluate((el, v) => {
    (el as HTMLInputElement).value = v;
    el.dispatchEvent(new Event('change', { bubbles: true }));
  }, value);
  const prune = async (page: Page) => {
    await page.locator('plan-panel vscode-button', { hasText: 'Prune' }).click();
    await page.locator('plan-panel [aria-label="Pruning report"]').waitFor({ timeout: 15_000 });
    return (await requests(page, 'prune')).at(-1)!.params as { target?: unknown };
  };

  test('scan settings: the command line\'s defaults sent with the scan; changed, they are sent; a bad ratio is refused in place', async () => {
    const page = await open({ scanMs: 100 });
    await page.locator('plan-panel .preview .big').first().waitFor();
    await chooseCalibration(page);
    const t = page.locator('target-panel');
    await t.locator('[data-scan-settings] summary').click();
    assert.equal(await t.locator('[data-setting="ratios"]').evaluate((el) => (el as HTMLInputElement).value), '0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9');
    assert.equal(await t.locator('[data-setting="inputs"]').evaluate((el) => (el as HTMLInputElement).value), '64');
    assert.equal(await t.locator('[data-setting="break-loss"]').evaluate((el) => (el as HTMLInputElement).value), '30');
    await setField(page, 'target-panel [data-setting="ratios"]', '0.5, 1.2');
    await t.locator('[data-settings-error]').waitFor();
    assert.match(await t.locator('[data-settings-error]').textContent() ?? '', /between 0 and 1/);
    assert.equal(await t.locator('vscode-button[data-scan]').getAttribute('disabled'), '', 'no scan with bad settings');
    await setField(page, 'target-panel [data-setting="ratios"]', '0.6, 0.2,0.4');
    await setField(page, 'target-panel [data-setting="inputs"]', '32');
    await setField(page, 'target-panel [data-setting="break-loss"]', '20');
    assert.equal(await t.locator('[data-settings-error]').count(), 0);
    await t.locator('vscode-button[data-scan]').click();
    await t.locator('[data-sensitivity]').waitFor();
    const scan = (await requests(page, 'scan')).filter((m) => (m.params as { cachedOnly: boolean }).cachedOnly === false).at(-1)!;
    assert.deepEqual((scan.params as { settings: unknown }).settings, { ratios: [0.2, 0.4, 0.6], inputs: 32, breakLoss: 20 });
    await t.locator('vscode-button[data-find-plan]').click();
    await t.locator('[data-found]').waitFor();
    assert.deepEqual(((await requests(page, 'findPlan')).at(-1)!.params as { settings: unknown }).settings, { ratios: [0.2, 0.4, 0.6], inputs: 32, breakLoss: 20 });
    assert.deepEqual((page as Page & { errors: string[] }).errors, []);
    await page.close();
  });

  test('a size given in the view times the original again at that size, and proposes 70% of the new time (a value typed stays)', async () => {
    for (const typed of [false, true]) {
      const page = await open({ dynamic: 1 });
      const t = page.locator('target-panel');
      await t.locator('button[data-budget-kind="latency"]').click();
      await t.locator('[data-original-latency="8"]').waitFor();
      assert.match(await t.locator('[data-original-latency]').textContent() ?? '', /1 thread, input 1×1×28×28\)/);
      if (typed) await setField(page, 'target-panel [data-budget-ms]', '3');
      await page.locator('input-size-form input[data-axis="2"]').fill('56');
      await page.locator('input-size-form input[data-axis="3"]').fill('56');
      await page.locator('input-size-form vscode-button[data-apply]').click();
      await t.locator('[data-original-latency="32"]').waitFor();
      assert.match(await t.locator('[data-original-latency]').textContent() ?? '', /The original runs in 32\.00 ms here \(median of 20, CPU, 1 thread, input 1×1×56×56\)/);
      assert.equal((await requests(page, 'measureLatency')).length, 2);
      assert.equal(await t.locator('[data-budget-ms]').evaluate((el) => (el as HTMLInputElement).value), typed ? '3' : '22.4');
      assert.deepEqual((page as Page & { errors: string[] }).errors, []);
    }
  });

  test('a latency budget: the original timed and shown, 70% proposed; the found plan pruned: the report says the target was met (or missed by how much)', async () => {
    for (const miss of [false, true]) {
      const page = await open({ scanMs: 100, ...(miss ? { latencyMiss: 1 } : {}) });
      await page.locator('plan-panel .preview .big').first().waitFor();
      await chooseCalibration(page);
      const t = page.locator('target-panel');
      await t.locator('vscode-button[data-scan]').click();
      await t.locator('[data-sensitivity]').waitFor();
      await t.locator('button[data-budget-kind="latency"]').click();
      await t.locator('[data-original-latency="8"]').waitFor();
      assert.match(await t.locator('[data-original-latency]').textContent() ?? '', /The original runs in 8\.00 ms here \(median of 20, CPU, 1 thread, input 1×1×28×28\); candidates are timed the same way/);
      assert.equal((await requests(page, 'measureLatency')).length, 1);
      assert.equal(await t.locator('[data-budget-ms]').evaluate((el) => (el as HTMLInputElement).value), '5.6', '70% of the original proposed');
      await setField(page, 'target-panel [data-budget-ms]', '6');
      await t.locator('vscode-button[data-find-plan]').click();
      await t.locator('[data-found][data-met="yes"]').waitFor();
      assert.deepEqual(((await requests(page, 'findPlan')).at(-1)!.params as { budget: unknown }).budget, { kind: 'latency', ms: 6 });
      assert.match(await t.locator('[data-found]').textContent() ?? '', /runs in 5\.70 ms .*the original 8\.00 ms, target 6 ms/s);
      // Prune of the found plan: the budget goes with it, the report checks it
      const params = await prune(page);
      assert.deepEqual(params.target, { kind: 'latency', ms: 6 });
      const line = page.locator('plan-panel [data-target-check]');
      await line.waitFor();
      const text = (await line.textContent() ?? '').replace(/\s+/g, ' ');
      if (!miss) {
        assert.equal(await line.getAttribute('data-met'), 'yes');
        assert.match(text, /Target met: 6 ms — the written model 5\.76 ms, the original 8\.00 ms \(median of 20, CPU, 1 thread\)/);
      } else {
        assert.equal(await line.getAttribute('data-met'), 'no');
        assert.match(text, /Target missed by 0\.48 ms \(8\.0%\): 6 ms — the written model 6\.48 ms/);
      }
      assert.deepEqual((page as Page & { errors: string[] }).errors, []);
      await page.close();
    }
  });

  test('a maximum loss; a MACs target checked on the written model; a plan edited after Find plan is pruned without a target', async () => {
    const page = await open({ scanMs: 100 });
    await page.locator('plan-panel .preview .big').first().waitFor();
    await chooseCalibration(page);
    const t = page.locator('target-panel');
    await t.locator('vscode-button[data-scan]').click();
    await t.locator('[data-sensitivity]').waitFor();
    await t.locator('button[data-budget-kind="loss"]').click();
    await setField(page, 'target-panel [data-budget-points]', '2');
    await t.locator('vscode-button[data-find-plan]').click();
    await t.locator('[data-found][data-met="yes"]').waitFor();
    assert.deepEqual(((await requests(page, 'findPlan')).at(-1)!.params as { budget: unknown }).budget, { kind: 'loss', points: 2 });
    assert.match(await t.locator('[data-found]').textContent() ?? '', /0\.80 points lost on the calibration data \(target at most 2\)/);
    let params = await prune(page);
    assert.deepEqual(params.target, { kind: 'loss', points: 2 });
    let line = page.locator('plan-panel [data-target-check]');
    await line.waitFor();
    assert.match((await line.textContent() ?? '').replace(/\s+/g, ' '), /Target met: at most 2 points lost — 0\.70 points of accuracy lost on 64 calibration inputs/);
    await page.locator('plan-panel vscode-button', { hasText: 'Dismiss' }).click();
    // MACs, 40%: the check compares the written model's MACs
    await t.locator('button[data-budget-kind="macs"]').click();
    await setField(page, 'target-panel [data-budget-percent]', '40');
    await t.locator('vscode-button[data-find-plan]').click();
    await page.waitForFunction(() => window.__messages.filter((m) => m.kind === 'request' && m.method === 'findPlan').length === 2);
    await t.locator('[data-found][data-met="yes"]').waitFor();
    params = await prune(page);
    assert.deepEqual(params.target, { kind: 'macs', fraction: 0.4 });
    line = page.locator('plan-panel [data-target-check]');
    await line.waitFor();
    const after = Number(await page.locator('plan-panel tr[data-row="MACs"]').getAttribute('data-after'));
    assert.equal(Number(await line.getAttribute('data-value')), after, 'the check is on the written model\'s MACs');
    await page.locator('plan-panel vscode-button', { hasText: 'Dismiss' }).click();
    // the plan edited after Find plan (another criterion): no target goes with the Prune
    await page.locator('plan-panel #criterion').evaluate((el) => { (el as HTMLSelectElement).value = 'l2'; el.dispatchEvent(new Event('change', { bubbles: true })); });
    await page.waitForTimeout(300);
    params = await prune(page);
    assert.equal(params.target, undefined);
    assert.equal(await page.locator('plan-panel [data-target-check]').count(), 0);
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
