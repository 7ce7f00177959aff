// The plan panel's data-driven choices in a headless chromium, with the fake host of the preview
// harness: the data criteria (activation, apoz, thinet) are offered once calibration data is chosen
// and disabled with the reason before (and in Restricted Mode); a plan ranked by one is measured with
// progress and can be cancelled; custom preprocessing is edited field by field, checked before it is
// sent; a .npz lists its arrays for the inputs and the labels; a raw .f32 asks for the input size.
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { skipWithoutChromium, useViewHarness } from './harness.ts';
import { parseFromWebview, type FromWebview } from '../../src/shared/protocol.ts';

const skip = skipWithoutChromium;

const h = useViewHarness();

async function open(query: Record<string, string | number> = {}): Promise<Page> {
  const page = await h.page(h.preview.page({ fixture: 'fmnist_bn', theme: 'dark', query }), { width: 1280, height: 1000 });
  return page;
}
const pageErrors = (page: Page) => (page as Page & { errors: string[] }).errors;
const messages = (page: Page) => page.evaluate(() => window.__messages) as Promise<FromWebview[]>;
const requests = async (page: Page, method: string) => (await messages(page)).filter((m): m is Extract<FromWebview, { kind: 'request' }> => m.kind === 'request' && m.method === method);
/** Sets a vscode-single-select (or text field) inside the page's shadow roots as a user would, by id. */
const setValue = async (page: Page, scope: string, id: string, value: string) => page.locator(`${scope} #${id}`).evaluate((el, v) => {
  (el as HTMLSelectElement).value = v;
  el.dispatchEvent(new Event('change', { bubbles: true }));
}, value);
const optionDisabled = (page: Page, c: string) => page.locator(`plan-panel #criterion vscode-option[data-criterion="${c}"]`).evaluate((e) => e.hasAttribute('disabled'));
const chooseCalibration = async (page: Page) => {
  await page.locator('data-panel [data-role="calibration"] vscode-button[data-pick="folder"]').click();
  await page.locator('data-panel [data-role="calibration"] [data-set-info]').waitFor();
};

describe('data criteria, custom preprocessing, .npz arrays and .f32 sizes (preview harness)', { skip }, () => {
  test('the data criteria are disabled with the reason until calibration data is chosen; then a plan ranked by one is measured with progress', async () => {
    const page = await open({ measureMs: 1200 });
    await page.locator('plan-panel .preview .big').first().waitFor();
    for (const c of ['activation', 'apoz', 'thinet']) assert.equal(await optionDisabled(page, c), true, `${c} disabled without calibration data`);
    for (const c of ['l1', 'l2', 'fpgm', 'sketch']) assert.equal(await optionDisabled(page, c), false, `${c} offered`);
    assert.match(await page.locator('plan-panel [data-data-criteria-off]').textContent() ?? '', /mean \|activation\|, 1 − APoZ, ThiNet order\): measured on calibration inputs: choose them under Data and recovery first/);
    assert.match(await page.locator('plan-panel #criterion vscode-option[data-criterion="apoz"]').getAttribute('description') ?? '', /choose them under Data and recovery first/);

    await chooseCalibration(page);
    await page.locator('plan-panel [data-data-criteria-off]').waitFor({ state: 'detached' });
    for (const c of ['activation', 'apoz', 'thinet']) assert.equal(await optionDisabled(page, c), false, `${c} offered with calibration data`);
    await setValue(page, 'plan-panel', 'criterion', 'activation');
    const progress = page.locator('plan-panel [data-preview-progress]');
    await progress.waitFor();
    assert.match(await progress.textContent() ?? '', /Measuring activation on 512 calibration inputs/);
    await progress.waitFor({ state: 'detached' });
    assert.match(await page.locator('plan-panel [data-criterion-help]').textContent() ?? '', /measured on the calibration inputs/);
    // the charts say what they show, and that the plan's scores are per group
    assert.match(await page.locator('score-histograms [data-plan-criterion-note]').textContent() ?? '', /ranks by mean \|activation\|: one score per channel group, measured on the calibration inputs/);
    const previews = await requests(page, 'previewPlan');
    const last = previews.at(-1)!;
    assert.equal((last.params as { plan: { criterion: string } }).plan.criterion, 'activation');
    for (const m of previews) assert.ok(parseFromWebview(m), `passes the host's validator: ${JSON.stringify(m)}`);
    assert.equal(await page.locator('plan-panel [data-preview-error]').count(), 0);
    assert.deepEqual(pageErrors(page), []);
    await page.close();
  });

  test('measuring a data criterion can be cancelled: the request is cancelled and the panel says so', async () => {
    const page = await open({ measureMs: 6000 });
    await page.locator('plan-panel .preview .big').first().waitFor();
    await chooseCalibration(page);
    await setValue(page, 'plan-panel', 'criterion', 'thinet');
    await page.locator('plan-panel [data-preview-progress]').waitFor();
    await page.locator('plan-panel vscode-button[data-cancel-preview]').click();
    await page.locator('plan-panel [data-preview-error]', { hasText: /Scoring by thinet was cancelled/ }).waitFor();
    assert.equal(await page.locator('plan-panel [data-preview-progress]').count(), 0);
    const id = (await requests(page, 'previewPlan')).at(-1)!.id;
    assert.ok((await messages(page)).some((m) => m.kind === 'cancel' && m.id === id), 'the preview request was cancelled');
    await page.close();
  });

  test('in Restricted Mode the data criteria are disabled and say why', async () => {
    const page = await open({ untrusted: 1 });
    await page.locator('plan-panel #criterion').waitFor();
    for (const c of ['activation', 'apoz', 'thinet']) assert.equal(await optionDisabled(page, c), true, c);
    assert.equal(await optionDisabled(page, 'sketch'), false, 'sketch reads the weights only');
    assert.match(await page.locator('plan-panel [data-data-criteria-off]').textContent() ?? '', /needs a trusted workspace \(this one is in Restricted Mode\)/);
    await page.close();
  });

  test('custom preprocessing: starts from the one in use, each field checked before it is sent, sent as one validated object', async () => {
    const page = await open();
    await page.locator('plan-panel .preview .big').first().waitFor();
    await chooseCalibration(page);
    await setValue(page, 'data-panel', 'preset', 'custom');
    const form = page.locator('data-panel [data-custom-preprocess]');
    await form.waitFor();
    assert.equal(await form.locator('#pp-scale').evaluate((e) => (e as HTMLInputElement).value), '0.0039215686', '1/255, rounded for reading (sent exact while left as shown)');
    assert.equal(await form.locator('#pp-mean').evaluate((e) => (e as HTMLInputElement).value), '0');
    assert.equal(await form.locator('#pp-cropH').evaluate((e) => (e as HTMLInputElement).value), '28');
    const sentBefore = (await requests(page, 'setDataOptions')).length;
    // a mean that is not numbers: said, and nothing sent
    await setValue(page, 'data-panel', 'pp-mean', 'a, b');
    await form.locator('[data-custom-error]', { hasText: /mean: one number, or one per channel/ }).waitFor();
    await setValue(page, 'data-panel', 'pp-std', '0');
    await page.waitForTimeout(100);
    assert.equal((await requests(page, 'setDataOptions')).length, sentBefore, 'nothing sent while a field is wrong');
    // fixed: the whole preprocessing is sent, and the host's description follows
    await setValue(page, 'data-panel', 'pp-mean', '0.5');
    await setValue(page, 'data-panel', 'pp-std', '0.25');
    await setValue(page, 'data-panel', 'pp-channels', 'bgr');
    await page.locator('data-panel [data-preprocess]', { hasText: /mean 0\.5, std 0\.25, bgr/ }).waitFor();
    assert.equal(await form.locator('[data-custom-error]').count(), 0);
    const sent = (await requests(page, 'setDataOptions')).slice(sentBefore - 1);
    assert.deepEqual(sent[0]!.params, { preset: 'custom', custom: { crop: [28, 28], scale: 1 / 255, mean: [0], std: [1], channels: 'rgb', layout: 'nchw' } }, 'custom starts from the preprocessing in use (its preset name left out)');
    assert.deepEqual(sent.at(-1)!.params, { preset: 'custom', custom: { crop: [28, 28], scale: 1 / 255, mean: [0.5], std: [0.25], channels: 'bgr', layout: 'nchw' } });
    for (const m of sent) assert.deepEqual(parseFromWebview(m), m, `passes the host's validator unchanged: ${JSON.stringify(m)}`);
    assert.deepEqual(pageErrors(page), []);
    await page.close();
  });

  test('a .npz: its arrays with their shapes for the inputs, its integer arrays for the labels', async () => {
    const page = await open({ npz: 1 });
    await page.locator('plan-panel .preview .big').first().waitFor();
    await page.locator('data-panel [data-role="evaluation"] vscode-button[data-pick="file"]').click();
    const arrays = page.locator('data-panel [data-npz="evaluation"]');
    await arrays.waitFor();
    const options = await arrays.locator('#evaluation-array vscode-option').allTextContents();
    assert.deepEqual(options.map((o) => o.trim()), ['x (1000, 1, 28, 28) <f4', 'y (1000,) <i8', 'z (1000,) <f4']);
    // labels: only the integer arrays (and none)
    const labelOptions = await arrays.locator('#labels-array vscode-option').allTextContents();
    assert.deepEqual(labelOptions.map((o) => o.trim()), ['none (or a labels file)', 'y (1000,) <i8']);
    await setValue(page, 'data-panel', 'labels-array', 'y');
    await page.locator('data-panel [data-role="labels"] .name', { hasText: 'evaluation.npz:y' }).waitFor();
    // an array without a sample axis as the inputs: the host says why
    await page.locator('data-panel section[aria-busy="false"]').waitFor();
    await setValue(page, 'data-panel', 'evaluation-array', 'z');
    await page.locator('data-panel [data-data-error]', { hasText: /evaluation\.npz:z: shape \(1000\) has no sample dimension/ }).waitFor();
    const sent = await requests(page, 'chooseArray');
    assert.deepEqual(sent.map((m) => m.params), [{ role: 'labels', array: 'y' }, { role: 'evaluation', array: 'z' }]);
    for (const m of sent) assert.deepEqual(parseFromWebview(m), m);
    await page.close();
  });

  test('a raw .f32 file needs the model\'s sizes: said while they are symbolic, not once the input size is given', async () => {
    const page = await open({ dynamic: 1 });
    const hint = page.locator('data-panel [data-f32-size]');
    await hint.waitFor();
    assert.match(await hint.textContent() ?? '', /\.f32 file is raw float32 without a shape: the model input input is \[N, 1, height, width\]: .*give the input size \(above\)/);
    await page.locator('input-size-form input[data-axis="2"]').fill('28');
    await page.locator('input-size-form input[data-axis="3"]').fill('28');
    await page.locator('input-size-form vscode-button[data-apply]').click();
    await hint.waitFor({ state: 'detached' });
    assert.ok((await requests(page, 'getData')).length >= 2, 'the data is described again at the new size');
    await page.close();
  });
});
