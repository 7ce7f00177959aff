// The model view's input-size form (a model whose height and width are symbolic) and its list of
// every channel group, in a headless chromium against the fake host of the preview harness.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { fixturesDir } from '../../scripts/webview-preview.ts';
import { skipWithoutChromium, useViewHarness } from './harness.ts';
import { parseFromWebview, type FromWebview } from '../../src/shared/protocol.ts';
import type { ViewFixture } from './fixture.ts';

const fixture = JSON.parse(fs.readFileSync(path.join(fixturesDir, 'fmnist_bn.json'), 'utf8')) as ViewFixture;
const skip = skipWithoutChromium;

const h = useViewHarness();

async function open(query: Record<string, string | number> = {}): Promise<Page & { errors: string[] }> {
  const page = await h.page(h.preview.page({ fixture: 'fmnist_bn', theme: 'dark', query }), { width: 1280, height: 900 });
  return page;
}

const messages = (page: Page) => page.evaluate(() => window.__messages) as Promise<FromWebview[]>;
const requests = async (page: Page, method: string) => (await messages(page)).filter((m) => m.kind === 'request' && m.method === method) as Extract<FromWebview, { kind: 'request' }>[];
const macsValue = async (page: Page) => Number(await page.locator('[data-metric="macs"]').getAttribute('data-value'));

async function waitScored(page: Page): Promise<void> {
  // every score cell filled: no '…' left in the table
  await page.waitForFunction(() => {
    const t = document.querySelector('onnx-model-view')?.shadowRoot?.querySelector('layer-table')?.shadowRoot;
    const rows = t?.querySelectorAll('.body .row[data-layer]').length ?? 0;
    return rows > 0 && !(t?.textContent ?? '').includes('…');
  }, undefined, { timeout: 10_000 });
}

describe('input size and channel groups (preview harness)', { skip }, () => {
  test('symbolic height and width: the view warns, proposes 224×224, and re-analyses at the size given', async () => {
    const page = await open({ dynamic: 1 });
    const banner = page.locator('.banner[data-banner="unknown-size"]');
    await banner.waitFor();
    assert.match(await page.locator('[data-macs-note]').textContent() ?? '', /unknown input size: depends on height, width, counted as 1/);
    assert.match(await banner.textContent() ?? '', /height, width are symbolic and counted as 1 until you give the size \(and the MACs of layers whose shapes depend on them are not counted at all\)/);
    // the engine's note saying the same is not repeated under the warning
    assert.equal(await page.locator('.banner.info', { hasText: /MACs of 3 layer\(s\) are unknown/ }).count(), 0);
    const field = (axis: number) => page.locator(`input-size-form input[data-axis="${axis}"]`);
    // the batch and the two symbolic sizes are fields; the channel count is fixed by the model
    assert.equal(await field(0).inputValue(), '1');
    assert.equal(await field(2).inputValue(), '224', 'proposed height');
    assert.equal(await field(3).inputValue(), '224', 'proposed width');
    assert.equal(await page.locator('input-size-form .fixed').textContent(), '1');
    const atOne = await macsValue(page);
    // the plan's preview says its MACs are not those of a real input
    await page.locator('plan-panel [data-macs-caveat]').waitFor();
    assert.match(await page.locator('plan-panel [data-macs-caveat]').textContent() ?? '', /not those of a real input: give the input size above/);

    await field(2).fill('64');
    await field(3).fill('96');
    await page.locator('input-size-form vscode-button[data-apply]').click();
    const info = page.locator('.banner[data-banner="input-size"]');
    await info.waitFor();
    assert.match(await info.textContent() ?? '', /Input size 1×1×64×96/);
    assert.match(await page.locator('[data-macs-note]').textContent() ?? '', /at input 1×1×64×96/);
    // the fake host's MACs grow with height·width (its numbers are those of 28×28)
    assert.equal(await macsValue(page), Math.round(fixture.summary.macs * (64 * 96) / (28 * 28)));
    assert.ok(await macsValue(page) > atOne);
    const sent = await requests(page, 'setInputShapes');
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0]!.params, { inputShapes: { input: [1, 1, 64, 96] } });
    // what the view sends passes the host's validator unchanged
    assert.deepEqual(parseFromWebview(sent[0]), sent[0]);
    // the scores of the new analysis arrive: every score cell filled again, and a new preview was asked for
    await waitScored(page);
    const previews = await requests(page, 'previewPlan');
    assert.ok(previews.length >= 2, `a preview after the new size (${previews.length} asked)`);
    assert.equal(await page.locator('.banner[data-banner="unknown-size"]').count(), 0, 'no warning once the size is given');
    await page.waitForFunction(() => !document.querySelector('onnx-model-view')!.shadowRoot!.querySelector('plan-panel')!.previewPending);
    assert.equal(await page.locator('plan-panel [data-macs-caveat]').count(), 0, 'nor under the preview');

    // Forget the size: the warning is back
    await page.locator('input-size-form vscode-button[data-forget]').click();
    await page.locator('.banner[data-banner="unknown-size"]').waitFor();
    assert.deepEqual((await requests(page, 'setInputShapes'))[1]!.params, { inputShapes: {} });
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('a size that is not a positive whole number is refused in the form; a size the host refuses is shown', async () => {
    const page = await open({ dynamic: 1 });
    await page.locator('.banner[data-banner="unknown-size"]').waitFor();
    const height = page.locator('input-size-form input[data-axis="2"]');
    await height.fill('0');
    assert.equal(await height.getAttribute('aria-invalid'), 'true');
    await height.press('Enter');
    await page.locator('input-size-form .problem', { hasText: /whole number from 1 to 16384/ }).waitFor();
    assert.equal((await requests(page, 'setInputShapes')).length, 0, 'nothing sent');
    // Enter in a field applies a good size
    await height.fill('32');
    await height.press('Enter');
    await page.locator('.banner[data-banner="input-size"]').waitFor();
    assert.deepEqual((await requests(page, 'setInputShapes'))[0]!.params, { inputShapes: { input: [1, 1, 32, 224] } });
    // a request the host answers with an error (here: an input the model does not have) shows its message
    await page.evaluate(() => {
      const view = document.querySelector('onnx-model-view') as unknown as { setInputShapes(s: Record<string, number[]>): Promise<void> };
      return view.setInputShapes({ nope: [1, 2] });
    });
    await page.locator('input-size-form .problem', { hasText: 'the model has no input named nope' }).waitFor();
    await page.close();
  });

  test('sizes remembered for the model are shown as given, with the MACs at that size', async () => {
    const page = await open({ dynamic: 1, sizes: JSON.stringify({ input: [1, 1, 64, 64] }) });
    const info = page.locator('.banner[data-banner="input-size"]');
    await info.waitFor();
    assert.match(await info.textContent() ?? '', /Input size 1×1×64×64 \(given here, remembered for this model\)/);
    assert.equal(await page.locator('input-size-form input[data-axis="2"]').inputValue(), '64');
    assert.match(await page.locator('[data-macs-note]').textContent() ?? '', /at input 1×1×64×64/);
    assert.equal(await macsValue(page), Math.round(fixture.summary.macs * (64 * 64) / (28 * 28)));
    await page.close();
  });

  test('channel groups at a glance: every group, prunable or frozen with its reason; a layer click jumps to its row', async () => {
    const page = await open();
    await page.locator('[data-metric="macs"]').waitFor();
    assert.equal((await requests(page, 'getGroups')).length, 0, 'the groups are asked for only when the list is opened');
    await page.locator('[data-show-groups]').click();
    const items = page.locator('group-list li.group');
    await items.first().waitFor();
    assert.equal(await items.count(), fixture.groups.length);
    const frozen = fixture.groups.filter((g) => !g.prunable);
    assert.ok(frozen.length > 0, 'the fixture has a frozen group');
    await page.locator('group-list button[data-show="frozen"]').click();
    assert.equal(await items.count(), frozen.length);
    for (const g of frozen) {
      const item = page.locator(`group-list li.group[data-group="${g.id}"]`);
      assert.equal(await item.getAttribute('data-prunable'), 'false');
      assert.equal(await item.locator('[data-reason]').textContent(), g.reason);
    }
    await page.locator('group-list button[data-show="prunable"]').click();
    assert.equal(await items.count(), fixture.groups.length - frozen.length);
    // the members of a coupled group: each weighted layer is a link
    const coupled = fixture.groups.find((g) => g.prunable && g.layers.length > 1) ?? fixture.groups.find((g) => g.prunable)!;
    const item = page.locator(`group-list li.group[data-group="${coupled.id}"]`);
    assert.deepEqual(await item.locator('button[data-layer]').evaluateAll((els) => els.map((e) => e.getAttribute('data-layer'))), coupled.layers);
    const target = coupled.layers[coupled.layers.length - 1]!;
    await item.locator(`button[data-layer="${target}"]`).click();
    await page.locator(`layer-table .row[data-layer="${target}"][aria-expanded="true"]`).waitFor();
    // the filter narrows by layer name
    await page.locator('group-list button[data-show="all"]').click();
    await page.locator('group-list input[type="search"]').fill('fc');
    assert.ok(await items.count() >= 1 && await items.count() < fixture.groups.length);
    assert.deepEqual(page.errors, []);
    await page.close();
  });
});
