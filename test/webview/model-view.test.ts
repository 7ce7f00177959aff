// The model view in a headless chromium, talking to the fake host of the preview harness
// (fixture data from the Fashion-MNIST sample model): summary, table, sorting, filtering,
// expansion, keyboard, the live preview, prune with its report, cancel, and the states a
// person meets (failure, empty model, frozen model, a pruned model's comparison).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { fixturesDir } from '../../scripts/webview-preview.ts';
import { skipWithoutChromium, useViewHarness } from './harness.ts';
import { parseFromWebview, type FromWebview, type LayerRow, type ToWebview } from '../../src/shared/protocol.ts';
import { score } from '../../src/webview/format.ts';
import type { ViewFixture } from './fixture.ts';

const fixture = JSON.parse(fs.readFileSync(path.join(fixturesDir, 'fmnist_bn.json'), 'utf8')) as ViewFixture;
const grouped = (n: number) => new Intl.NumberFormat('en-US').format(n);
const skip = skipWithoutChromium;

const h = useViewHarness();

async function open(query: Record<string, string | number> = {}, opts: { width?: number; fixture?: string; theme?: 'light' | 'dark' } = {}): Promise<Page> {
  const page = await h.page(h.preview.page({ fixture: opts.fixture ?? 'fmnist_bn', theme: opts.theme ?? 'dark', query }), { width: opts.width ?? 1280, height: 800 });
  return page;
}

const rowNames = (page: Page) => page.locator('layer-table .body .row[data-layer]').evaluateAll((els) => els.map((e) => e.getAttribute('data-layer')!));
const messages = (page: Page) => page.evaluate(() => window.__messages) as Promise<FromWebview[]>;
const responses = (page: Page) => page.evaluate(() => window.__responses) as Promise<Record<number, ToWebview>>;

async function waitRows(page: Page, n: number): Promise<void> {
  try {
    await page.waitForFunction((count) => {
      const t = document.querySelector('onnx-model-view')?.shadowRoot?.querySelector('layer-table');
      return (t?.shadowRoot?.querySelectorAll('.body .row[data-layer]').length ?? 0) === count;
    }, n, { timeout: 10_000 });
  } catch (e) {
    const shown = await rowNames(page);
    const state = await page.evaluate(() => sessionStorage.getItem('view-state'));
    throw new Error(`expected ${n} rows, the table shows ${shown.length}: ${shown.join(', ')}; saved state ${state}`, { cause: e });
  }
}

describe('model view (preview harness)', { skip }, () => {
  test('summary numbers come from the host', async () => {
    const page = await open();
    const s = fixture.summary;
    await page.locator('[data-metric="params"]').waitFor();
    assert.equal(await page.locator('[data-metric="params"]').textContent(), grouped(s.params));
    assert.equal(await page.locator('[data-metric="layers"]').textContent(), String(s.layerCount));
    assert.equal(await page.locator('[data-metric="bn"]').textContent(), String(s.bnCount));
    assert.match(await page.locator('header h1').textContent() ?? '', /fmnist_bncnn_sparse_bn\.onnx/);
    const cards = await page.locator('.cards').textContent();
    assert.match(cards ?? '', /symbolic batch counted as 1/);
    assert.match(cards ?? '', /input float32 \[N, 1, 28, 28\]/);
    const msgs = await messages(page);
    assert.equal(msgs[0]?.kind, 'ready', 'the view says it is ready first');
    const asked = msgs.filter((m) => m.kind === 'request').map((m) => (m as { method: string }).method);
    assert.equal(asked[0], 'getLayers', 'the table asks for its first page');
    assert.ok(!asked.includes('getSummary' as never), 'the summary is pushed by the host, never asked for');
    assert.deepEqual((page as Page & { errors: string[] }).errors, []);
    await page.close();
  });

  test('the table shows one row per layer, sorted by MACs first', async () => {
    const page = await open();
    await waitRows(page, fixture.layers.length);
    assert.match(await page.locator('layer-table .count').textContent() ?? '', new RegExp(`^${fixture.layers.length} layers`));
    const expected = [...fixture.layers].sort((a, b) => b.macs - a.macs).map((l) => l.macs);
    const names = await rowNames(page);
    const byName = new Map(fixture.layers.map((l) => [l.name, l]));
    assert.deepEqual(names.map((n) => byName.get(n)!.macs), expected);
    await page.close();
  });

  test('clicking a header sorts (aria-sort follows), filtering narrows the rows', async () => {
    const page = await open();
    await waitRows(page, fixture.layers.length);
    const header = page.locator('layer-table [role="columnheader"]', { hasText: 'Layer' });
    await header.locator('button').click();
    await page.waitForFunction(() => true);
    const asc = [...fixture.layers.map((l) => l.name)].sort((a, b) => a.localeCompare(b));
    await assert.doesNotReject(page.waitForFunction((first) => document.querySelector('onnx-model-view')!.shadowRoot!.querySelector('layer-table')!.shadowRoot!.querySelector('.body .row[data-layer]')?.getAttribute('data-layer') === first, asc[0]));
    assert.deepEqual(await rowNames(page), asc);
    assert.equal(await header.getAttribute('aria-sort'), 'ascending');
    await header.locator('button').click();
    await page.waitForFunction((first) => document.querySelector('onnx-model-view')!.shadowRoot!.querySelector('layer-table')!.shadowRoot!.querySelector('.body .row[data-layer]')?.getAttribute('data-layer') === first, asc[asc.length - 1]);
    assert.deepEqual(await rowNames(page), [...asc].reverse());
    assert.equal(await header.getAttribute('aria-sort'), 'descending');

    await page.locator('layer-table vscode-textfield input').fill('res');
    const matching = fixture.layers.filter((l) => l.name.includes('res'));
    await waitRows(page, matching.length);
    assert.deepEqual((await rowNames(page)).sort(), matching.map((l) => l.name).sort());
    assert.match(await page.locator('layer-table .count').textContent() ?? '', /2 layers match/);
    await page.locator('layer-table vscode-textfield input').fill('Gemm');
    await waitRows(page, 1);
    await page.locator('layer-table vscode-textfield input').fill('no such layer');
    await page.locator('layer-table .empty').waitFor();
    const reqs = (await messages(page)).filter((m): m is Extract<FromWebview, { kind: 'request' }> => m.kind === 'request' && m.method === 'getLayers');
    assert.ok(reqs.some((m) => m.method === 'getLayers' && m.params.filter === 'Gemm'), 'filtering asks the host');
    await page.close();
  });

  test('expanding a row shows every channel, the removed ones and its coupled group', async () => {
    const page = await open();
    await waitRows(page, fixture.layers.length);
    const dw = fixture.layers.find((l) => l.name === '/dw/dw.0/Conv')!;
    const row = page.locator(`layer-table .row[data-layer="${dw.name}"]`);
    await row.locator('.twisty').click();
    const detail = page.locator('layer-detail');
    await detail.locator('canvas').waitFor();
    const text = (await detail.locator('.top').textContent()) ?? '';
    assert.match(text.replace(/\s+/g, ' '), new RegExp(`${dw.channels} channels, ${dw.channels / 2} removed by the plan`));
    assert.match(await detail.locator('.group').textContent() ?? '', /Coupled group #\d+/);
    assert.equal(await row.getAttribute('aria-expanded'), 'true');
    // Its group couples it with the conv before it: a clickable member that expands that layer.
    await detail.locator('button.link', { hasText: '/conv2/conv2.0/Conv' }).click();
    await page.locator('layer-table .row[data-layer="/conv2/conv2.0/Conv"][aria-expanded="true"]').waitFor();
    const detailReq = (await messages(page)).find((m) => m.kind === 'request' && m.method === 'getLayerDetail');
    assert.ok(detailReq && detailReq.kind === 'request' && detailReq.method === 'getLayerDetail' && detailReq.params.plan, 'the detail is asked for with the current plan');
    await page.close();
  });

  test('the host can reveal a layer (Inspect Layer…): it is scrolled to and expanded', async () => {
    const page = await open({ scale: 50, delay: 5 });
    await page.locator('layer-table .count', { hasText: '400 layers' }).waitFor();
    const target = '/block42/res/conv2/Conv';
    await page.evaluate((layer) => window.__emit({ type: 'revealLayer', layer }), target);
    await page.locator(`layer-table .row[data-layer="${target}"][aria-expanded="true"]`).waitFor();
    await page.locator('layer-detail canvas').waitFor();
    await page.close();
  });

  test('keyboard: arrows move the focused row, Enter expands', async () => {
    const page = await open();
    await waitRows(page, fixture.layers.length);
    const first = page.locator('layer-table .row[data-index="0"]');
    await first.click();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    const focused = page.locator('layer-table .row[data-index="2"]');
    await page.waitForFunction(() => {
      const t = document.querySelector('onnx-model-view')!.shadowRoot!.querySelector('layer-table')!.shadowRoot!;
      return (t.activeElement as HTMLElement | null)?.getAttribute('data-index') === '2';
    });
    assert.equal(await focused.getAttribute('tabindex'), '0');
    await page.keyboard.press('Enter');
    await page.locator('layer-table .row[data-index="2"][aria-expanded="true"]').waitFor();
    await page.keyboard.press('Enter');
    await page.locator('layer-table .row[data-index="2"][aria-expanded="false"]').waitFor();
    await page.close();
  });

  test('moving the ratio asks for a preview and shows its numbers; the plan goes to the host', async () => {
    const page = await open();
    await page.locator('plan-panel .preview .big').first().waitFor();
    const slider = page.locator('plan-panel input[type=range]');
    await slider.fill('0.3');
    await page.locator('plan-panel output', { hasText: '30%' }).waitFor();
    await page.waitForFunction(() => window.__messages.some((m) => m.kind === 'request' && m.method === 'previewPlan' && m.params.plan.ratio === 0.3) && !document.querySelector('onnx-model-view')!.shadowRoot!.querySelector('plan-panel')!.previewPending);
    const msgs = await messages(page);
    const req = msgs.filter((m) => m.kind === 'request' && m.method === 'previewPlan').pop()!;
    assert.ok(req.kind === 'request' && req.method === 'previewPlan' && req.params.plan.ratio === 0.3);
    const res = (await responses(page))[req.id];
    assert.ok(res && res.kind === 'response' && res.ok);
    const pv = res.result as { params: { after: number } };
    assert.equal(await page.locator('plan-panel .preview .big').first().textContent(), grouped(pv.params.after));
    assert.ok(msgs.some((m) => m.kind === 'planState' && m.plan.ratio === 0.3), 'the plan is sent to the host');
    // The table shows the widths after the plan.
    assert.match(await page.locator('layer-table .row[data-layer="/stem/stem.0/Conv"]').textContent() ?? '', /32 → 23/);
    await page.close();
  });

  test('a per-layer choice in the table becomes an exclusion in the plan', async () => {
    const page = await open();
    await waitRows(page, fixture.layers.length);
    await page.locator('layer-table .row[data-layer="/stem/stem.0/Conv"] select').selectOption('keep');
    await page.waitForFunction(() => window.__messages.some((m) => m.kind === 'planState' && (m.plan.exclude ?? []).includes('/stem/stem.0/Conv')));
    await page.locator('plan-panel .chip', { hasText: '/stem/stem.0/Conv' }).waitFor();
    await page.close();
  });

  test('Prune shows progress, then the report with validation and a button to open the result', async () => {
    const page = await open({ pruneMs: 400 });
    await page.locator('plan-panel .preview .big').first().waitFor();
    await page.locator('plan-panel vscode-button', { hasText: 'Prune' }).click();
    await page.locator('plan-panel .progress').waitFor();
    const report = page.locator('plan-panel div.report');
    await report.waitFor();
    const text = (await report.textContent()) ?? '';
    assert.match(text, /Wrote fmnist_bncnn_sparse_bn\.pruned\.onnx/);
    assert.match(text, /Validated on CPU/);
    // why CUDA was not used: said once, in a few words (the runtime's message in the tooltip)
    assert.match(text, /Validated on CPU \(the CUDA provider library is not installed\)/);
    assert.equal(text.match(/CUDA/g)?.length, 1, `the fallback reason once: ${text}`);
    assert.equal(await report.locator('[data-provider] span[title]').getAttribute('title'), 'the CUDA provider library is not installed (libonnxruntime_providers_cuda.so)');
    assert.match(text, /0\.99871/);
    assert.match(text, /97\.0%/);
    assert.match(text, new RegExp(grouped(fixture.summary.params)));
    const pruneReq = (await messages(page)).find((m) => m.kind === 'request' && m.method === 'prune');
    assert.ok(pruneReq && pruneReq.kind === 'request' && pruneReq.method === 'prune' && pruneReq.params.validate === true);
    await report.locator('vscode-button', { hasText: 'Open pruned model' }).click();
    await page.waitForFunction(() => window.__messages.some((m) => m.kind === 'request' && m.method === 'openFile' && m.params.path === 'models/fmnist_bncnn_sparse_bn.pruned.onnx'));
    await page.close();
  });

  test('the data section: pickers run by the host (the view sends a role, never a path), names and counts shown, options sent', async () => {
    const page = await open();
    await page.locator('plan-panel .preview .big').first().waitFor();
    const data = page.locator('data-panel');
    await data.locator('[data-role="calibration"] .muted', { hasText: 'none' }).first().waitFor();
    await data.locator('[data-role="calibration"] vscode-button[data-pick="folder"]').click();
    await data.locator('[data-role="calibration"] [data-set-info]').waitFor();
    assert.match(await data.locator('[data-role="calibration"]').textContent() ?? '', /calibration-images\s*512 of 1,000 images \[1, 28, 28\], 10 classes, labels: folder layout/);
    await data.locator('[data-role="evaluation"] vscode-button[data-pick="file"]').click();
    await data.locator('[data-role="evaluation"] [data-set-info]').waitFor();
    assert.match(await data.locator('[data-role="evaluation"]').textContent() ?? '', /evaluation\.npy\s*300 inputs/);
    // an array without labels offers a labels file
    await data.locator('[data-role="labels"] vscode-button[data-pick="file"]').click();
    await data.locator('[data-role="labels"] .name', { hasText: 'labels.npy' }).waitFor();
    assert.match(await data.locator('[data-inputs-from]').textContent() ?? '', /first of evaluation\.npy/);
    const select = async (id: string, value: string) => data.locator(`#${id}`).evaluate((el, v) => {
      (el as HTMLSelectElement).value = v;
      el.dispatchEvent(new Event('change', { bubbles: true }));
    }, value);
    await select('recover', 'ls');
    await data.locator('[data-recover-help]', { hasText: 'Least-squares' }).waitFor();
    await select('preset', 'fmnist');
    await data.locator('[data-preprocess]', { hasText: 'fmnist' }).waitFor();
    assert.match(await data.locator('[data-preprocess]').textContent() ?? '', /mean 0\.286, std 0\.353/);
    await data.locator('#runs input').fill('40');
    await data.locator('#runs input').dispatchEvent('change');
    await page.waitForFunction(() => window.__messages.some((m) => m.kind === 'request' && m.method === 'setDataOptions' && (m.params as { runs?: number }).runs === 40));
    const sent = (await messages(page)).filter((m) => m.kind === 'request' && /Data/.test(m.method));
    assert.deepEqual(sent.map((m) => m.kind === 'request' ? [m.method, m.params] : []), [
      ['getData', {}],
      ['chooseData', { role: 'calibration', pick: 'folder' }],
      ['chooseData', { role: 'evaluation', pick: 'file' }],
      ['chooseData', { role: 'labels', pick: 'file' }],
      ['setDataOptions', { recover: 'ls' }],
      ['setDataOptions', { preset: 'fmnist' }],
      ['setDataOptions', { runs: 40 }],
    ]);
    for (const m of sent) assert.ok(parseFromWebview(m), `passes the host's validator: ${JSON.stringify(m)}`);
    // clearing a set (once the last answer is in: the buttons are disabled while a request runs)
    await data.locator('section[aria-busy="false"]').waitFor();
    await data.locator('[data-role="evaluation"] vscode-button[data-clear]:not([disabled])').click();
    await data.locator('[data-role="evaluation"] .muted', { hasText: 'none' }).first().waitFor();
    assert.deepEqual((page as Page & { errors: string[] }).errors, []);
    await page.close();
  });

  test('Prune with data: the phases, accuracy before and after, what recovery did per layer, latency with its spread and run count', async () => {
    const page = await open({ pruneMs: 1500 });
    await page.locator('plan-panel .preview .big').first().waitFor();
    const data = page.locator('data-panel');
    await data.locator('[data-role="calibration"] vscode-button[data-pick="folder"]').click();
    await data.locator('[data-role="calibration"] [data-set-info]').waitFor();
    await data.locator('[data-role="evaluation"] vscode-button[data-pick="folder"]').click();
    await data.locator('[data-role="evaluation"] [data-set-info]').waitFor();
    await page.locator('plan-panel vscode-button', { hasText: 'Prune' }).click();
    await page.locator('plan-panel ol.phases li[data-phase="reconstruction"][data-state="current"]').waitFor();
    assert.equal(await page.locator('plan-panel ol.phases li[data-phase="statistics"]').getAttribute('data-state'), 'done');
    assert.equal(await page.locator('plan-panel .progress vscode-button', { hasText: 'Cancel' }).count(), 1, 'cancel offered in every phase');
    const report = page.locator('plan-panel div.report');
    await report.waitFor();
    const acc = report.locator('[data-accuracy]');
    assert.match(await acc.textContent() ?? '', /Top-1\s*91\.3%\s*90\.3%\s*-1\.0 pt/);
    assert.match(await report.locator('.evaluation h3').textContent() ?? '', /Accuracy on 300 inputs of evaluation-images/);
    assert.match(await report.locator('[data-recovery] summary').textContent() ?? '', /Recovery: ls.*1 layer refit, 1 skipped/);
    assert.equal(await report.locator('[data-recovery]').getAttribute('open'), '', 'a skipped layer opens the recovery details');
    assert.match(await report.locator('[data-recovery-layers]').textContent() ?? '', /\/features\/pw\/Conv\s*ls\s*skipped/);
    assert.match(await report.locator('[data-latency]').textContent() ?? '', /per batch of 8: 21\.4 ms \(min 20\.8 ms, p90 23\.9 ms\) → 12\.9 ms .*20 timed runs each/);
    assert.equal(await report.locator('[data-latency-noise]').count(), 0, 'a difference beyond the spread is not called noise');
    assert.match(await report.locator('[data-validation-inputs]').textContent() ?? '', /evaluation-images \(first 8 of 300\)/);
    await page.close();

    const noisy = await open({ pruneMs: 200, latency: 'noise' });
    await noisy.locator('plan-panel .preview .big').first().waitFor();
    await noisy.locator('data-panel [data-role="evaluation"] vscode-button[data-pick="file"]').click();
    await noisy.locator('data-panel [data-role="evaluation"] [data-set-info]').waitFor();
    await noisy.locator('plan-panel vscode-button', { hasText: 'Prune' }).click();
    await noisy.locator('plan-panel [data-latency-noise]').waitFor();
    assert.match(await noisy.locator('plan-panel [data-latency-noise]').textContent() ?? '', /within the run-to-run spread: noise/);
    assert.match(await noisy.locator('plan-panel [data-latency-row]').textContent() ?? '', /21\.4 ms\s*20\.1 ms\s*noise/, 'the table calls it noise, not a change');
    // an unlabelled evaluation set: agreement with the original instead of accuracy
    assert.equal(await noisy.locator('plan-panel [data-accuracy]').count(), 0);
    assert.match(await noisy.locator('plan-panel [data-agreement]').textContent() ?? '', /Top-1 agreement 96\.0%/);
    assert.match(await noisy.locator('plan-panel [data-recovery] summary').textContent() ?? '', /Recovery: compensation/);
    await noisy.close();
  });

  test('data that cannot be used is named in the data section, and Prune says so without writing', async () => {
    const page = await open({ pruneMs: 200, dataError: 1 });
    await page.locator('plan-panel .preview .big').first().waitFor();
    await page.locator('data-panel [data-role="calibration"] vscode-button[data-pick="folder"]').click();
    await page.locator('data-panel [data-data-error]').waitFor();
    assert.match(await page.locator('data-panel [data-data-error]').textContent() ?? '', /calibration data: calibration-images: no samples/);
    await page.locator('plan-panel vscode-button', { hasText: 'Prune' }).click();
    await page.locator('plan-panel .run-result.error').waitFor();
    assert.match(await page.locator('plan-panel .run-result.error').textContent() ?? '', /no samples; nothing written/);
    await page.close();
  });

  test('a prune run can be cancelled', async () => {
    const page = await open({ pruneMs: 4000 });
    await page.locator('plan-panel .preview .big').first().waitFor();
    await page.locator('plan-panel vscode-button', { hasText: 'Prune' }).click();
    await page.locator('plan-panel .progress vscode-button', { hasText: 'Cancel' }).click();
    await page.locator('plan-panel .run-result', { hasText: 'cancelled' }).waitFor();
    assert.ok((await messages(page)).some((m) => m.kind === 'cancel'));
    await page.close();
  });

  test('UI state survives the view being hidden and shown (setState)', async () => {
    const page = await open();
    await waitRows(page, fixture.layers.length);
    await page.locator('layer-table vscode-textfield input').fill('conv');
    const n = fixture.layers.filter((l) => /conv/i.test(l.name) || /conv/i.test(l.op)).length;
    await waitRows(page, n);
    await page.locator('plan-panel input[type=range]').fill('0.7');
    await page.waitForTimeout(400);
    await page.reload();
    await waitRows(page, n);
    assert.equal(await page.locator('plan-panel output').textContent(), '70%');
    assert.equal(await page.locator('layer-table vscode-textfield').evaluate((e) => (e as HTMLInputElement).value), 'conv');
    await page.close();
  });

  test('thousands of rows: pages are fetched as the user scrolls, only visible rows are in the DOM', async () => {
    const page = await open({ scale: 500, delay: 5 });
    await page.locator('layer-table .count', { hasText: '4,000 layers' }).waitFor();
    const inDom = await page.locator('layer-table .body .row').count();
    assert.ok(inDom > 0 && inDom < 200, `${inDom} rows in the DOM`);
    await page.locator('layer-table lit-virtualizer').evaluate((e) => e.scrollTo({ top: e.scrollHeight }));
    await page.waitForFunction(() => window.__messages.some((m) => m.kind === 'request' && m.method === 'getLayers' && m.params.offset >= 3900));
    await page.locator('layer-table .row[aria-rowindex="4001"][data-layer]').waitFor();
    await page.close();
  });

  test('while a big model loads, the stage and progress show', async () => {
    const page = await open({ delay: 400 });
    const status = page.locator('.loading[role="status"]');
    await status.waitFor();
    await page.locator('.loading', { hasText: /Indexing the graph — 25%|Finding channel groups — 50%/ }).waitFor();
    assert.equal(await page.locator('.loading progress').count(), 1);
    await page.locator('[data-metric="params"]').waitFor();
    assert.equal(await status.count(), 0);
    await page.close();
  });

  test('a big model: the rows show while its channels are scored, then their statistics fill in', async () => {
    const page = await open({ scoreMs: 2500 });
    await waitRows(page, fixture.layers.length);
    const status = page.locator('header .scoring[role="status"]');
    await status.waitFor();
    assert.match(await status.textContent() ?? '', /Scoring channels/);
    const pendingCells = page.locator('layer-table .body .row[data-layer] [role=gridcell] span[title="Scoring channels…"]');
    assert.ok(await pendingCells.count() >= fixture.layers.length, 'score cells show … while scoring');
    assert.equal(await page.locator('score-histograms').count(), 0, 'no histogram before the scores');
    assert.ok(!(await messages(page)).some((m) => m.kind === 'request' && m.method === 'getHistogram'));
    // once scored: no pending cell, the γ statistics are shown, the histograms come
    await status.waitFor({ state: 'detached', timeout: 10_000 });
    await page.waitForFunction(() => {
      const t = document.querySelector('onnx-model-view')?.shadowRoot?.querySelector('layer-table')?.shadowRoot;
      return t && t.querySelectorAll('.body .row[data-layer]').length > 0 && !t.querySelector('span[title="Scoring channels…"]');
    }, undefined, { timeout: 10_000 });
    const withGamma = fixture.layers.find((l) => l.stats['bn-gamma'])!;
    const heads = await page.locator('layer-table .row.head [role=columnheader]').allTextContents();
    const col = heads.findIndex((h) => h.replace(/[▲▼]/g, '').trim() === 'γ median');
    assert.ok(col >= 0, `γ median column in ${heads.join(' | ')}`);
    const cell = page.locator(`layer-table .body .row[data-layer="${withGamma.name}"] > [role=gridcell]`).nth(col);
    assert.equal((await cell.textContent())?.trim(), score(withGamma.stats['bn-gamma']!.median));
    await page.locator('score-histograms').waitFor();
    await page.close();
  });

  test('the first screen pushed by the host shows without waiting for answers', async () => {
    const page = await open({ slowAnswersMs: 5000 });
    await waitRows(page, fixture.layers.length);
    await page.locator('[data-metric="params"]').waitFor({ timeout: 1000 });
    assert.equal(Number(await page.locator('[data-metric="params"]').getAttribute('data-value')), fixture.summary.params);
    assert.deepEqual(await responses(page), {}, 'shown before any answer came');
    await page.close();
  });

  test('scores show when scoring finishes around the pushed first screen (before or after it)', async () => {
    // the host pushes the first screen, scored or not, and a `scored` event when the scores are ready
    const page = await open({ delay: 5 });
    await waitRows(page, fixture.layers.length);
    await page.waitForFunction(() => {
      const v = document.querySelector('onnx-model-view')?.shadowRoot;
      const t = v?.querySelector('layer-table')?.shadowRoot;
      return !!v?.querySelector('score-histograms') && !v.querySelector('header .scoring') && !!t?.querySelector('.body .row[data-layer]') && !t.querySelector('span[title="Scoring channels…"]');
    }, undefined, { timeout: 5000 }).catch(async (e: Error) => {
      const pending = await page.locator('layer-table span[title="Scoring channels…"]').count();
      throw new Error(`the scores never showed: ${pending} cells still show …, header: ${await page.locator('header').textContent()}`, { cause: e });
    });
    await page.close();
  });

  test('every message the view sends passes the host\'s validator (none is dropped as malformed)', async () => {
    const page = await open({}, { width: 900 });
    await waitRows(page, fixture.layers.length);
    await page.locator('score-histograms canvas#global').waitFor();
    await page.locator(`layer-table .body .row[data-layer="${fixture.layers[0]!.name}"] .twisty`).click();
    await page.locator('layer-detail canvas').waitFor();
    await page.locator('plan-panel .seg button', { hasText: 'scores below a threshold' }).click();
    await page.locator('layer-table vscode-textfield input').fill('conv');
    await page.waitForTimeout(400);
    const msgs = await messages(page);
    assert.ok(msgs.length > 5);
    const bad = msgs.filter((m) => parseFromWebview(m) === undefined);
    assert.deepEqual(bad, [], 'messages the host would ignore as malformed');
    await page.close();
  });

  test('a global ranking offers score normalisation with the CLI\'s default (off for BN γ, on for norms)', async () => {
    const page = await open();
    await waitRows(page, fixture.layers.length);
    assert.equal(await page.locator('plan-panel #normalize').count(), 0, 'no switch for a uniform plan');
    await page.locator('plan-panel .seg button', { hasText: 'global' }).click();
    const box = page.locator('plan-panel #normalize');
    await box.waitFor();
    assert.equal(await box.evaluate((e) => (e as HTMLInputElement).checked), false, 'off by default for BN γ');
    await page.locator('plan-panel .hint', { hasText: /Default off for BN/ }).waitFor({ timeout: 2000 });
    await box.click();
    await page.waitForFunction(() => window.__messages.some((m) => m.kind === 'request' && m.method === 'previewPlan' && m.params.plan.normalize === true && m.params.plan.scope === 'global'));
    await page.close();
  });

  test('a coupled layer whose removed channels are not its lowest says the group decides', async () => {
    const page = await open();
    await waitRows(page, fixture.layers.length);
    // /dw/dw.0/Conv shares its channels with /conv2/conv2.0/Conv, whose γ decides which go
    await page.locator('layer-table .body .row[data-layer="/dw/dw.0/Conv"] .twisty').click();
    await page.locator('layer-detail .legend .decides', { hasText: /group's score decides/ }).waitFor({ timeout: 5000 });
    // the layer that decides has no such note
    await page.locator('layer-table .body .row[data-layer="/conv2/conv2.0/Conv"] .twisty').click();
    await page.locator('layer-detail canvas').nth(1).waitFor({ timeout: 5000 });
    await page.waitForTimeout(300);
    assert.equal(await page.locator('layer-detail .legend .decides').count(), 1, 'one of the two expanded layers carries the note');
    await page.close();
  });

  test('a 1000 px view: the plan panel moves below the table; scrolled sideways, the layer names stay', async () => {
    const page = await open({}, { width: 1000 });
    await waitRows(page, fixture.layers.length);
    const table = await page.locator('section.table').boundingBox();
    const plan = await page.locator('aside.plan').boundingBox();
    assert.ok(table && plan && plan.y >= table.y + table.height - 1, `plan panel below the table: table ${JSON.stringify(table)}, plan ${JSON.stringify(plan)}`);
    assert.ok(plan.width > 600, 'the plan panel takes the width');
    const name = page.locator('layer-table .body .row[data-layer] .name').first();
    const before = (await name.boundingBox())!;
    const wrap = page.locator('layer-table .wrap');
    const scrollable = await wrap.evaluate((e) => e.scrollWidth - e.clientWidth);
    if (scrollable > 0) {
      await wrap.evaluate((e) => { e.scrollLeft = 300; e.dispatchEvent(new Event('scroll')); });
      await page.waitForTimeout(200);
      const after = (await name.boundingBox())!;
      assert.ok(Math.abs(after.x - before.x) < 2, `the layer name stays in place: x ${before.x} → ${after.x} (scrolled ${await wrap.evaluate((e) => e.scrollLeft)} of ${scrollable})`);
    }
    await page.close();
  });

  test('a model with many outputs: the inputs and outputs card starts collapsed, and opens', async () => {
    const page = await open({ outputs: 12 });
    await waitRows(page, fixture.layers.length);
    const card = page.locator('details.io-card');
    await card.waitFor();
    assert.match(await card.locator('summary').textContent() ?? '', /1 in, 12 out/);
    assert.equal(await page.locator('.io code', { hasText: 'out_11' }).isVisible(), false, 'collapsed');
    const cards = (await page.locator('.cards').boundingBox())!;
    assert.ok(cards.height < 200, `the cards stay short: ${cards.height} px`);
    await card.locator('summary').click();
    await page.locator('.io code', { hasText: 'out_11' }).waitFor({ state: 'visible' });
    // a model with one input and one output keeps the plain card
    const plain = await open();
    await plain.locator('div.io-card').waitFor();
    await page.close();
    await plain.close();
  });

  test('an input with symbolic height and width: the view says the MACs depend on the input size', async () => {
    const page = await open({ dynamic: 1 });
    await waitRows(page, fixture.layers.length);
    assert.match(await page.locator('[data-macs-note]').textContent() ?? '', /unknown input size: depends on height, width, counted as 1/);
    const banner = page.locator('.banner[data-banner="unknown-size"]');
    await banner.waitFor();
    // it asks for the size (the form: test/webview/sizes-and-groups.test.ts)
    await banner.locator('input-size-form input[data-axis="2"]').waitFor();
    const plain = await open();
    await plain.locator('[data-metric="macs"]').waitFor();
    assert.equal(await plain.locator('.banner[data-banner="unknown-size"]').count(), 0, 'no warning when only the batch is symbolic');
    await page.close();
    await plain.close();
  });

  test('a model that fails to load says what and where', async () => {
    const page = await open({ fail: 1 });
    const alert = page.locator('.failed[role="alert"]');
    await alert.waitFor();
    assert.match(await alert.textContent() ?? '', /could not be opened[\s\S]*not a valid ONNX model/);
    await page.close();
  });

  test('an empty model and a model with every group frozen explain themselves', async () => {
    let page = await open({ empty: 1 });
    await page.locator('.banner', { hasText: 'Nothing to prune' }).waitFor();
    await page.close();
    page = await open({ frozen: 1 });
    const banner = page.locator('.banner', { hasText: 'No layer can be pruned' });
    await banner.waitFor();
    await banner.locator('li').first().waitFor();
    assert.match(await banner.textContent() ?? '', /graph output 'output'|not understood/);
    assert.equal(await page.locator('plan-panel vscode-button', { hasText: 'Prune' }).getAttribute('disabled'), '');
    await page.close();
  });

  test('in an untrusted workspace, Prune is disabled and says why; granting trust enables it', async () => {
    const page = await open({ untrusted: 1 });
    await waitRows(page, fixture.layers.length);
    const prune = page.locator('plan-panel vscode-button', { hasText: 'Prune' });
    assert.equal(await prune.getAttribute('disabled'), '');
    assert.match(await page.locator('plan-panel .hint.untrusted').textContent() ?? '', /need a trusted workspace/);
    assert.match(await page.locator('data-panel .data-untrusted').textContent() ?? '', /need a trusted workspace/);
    assert.equal((await messages(page)).filter((m) => m.kind === 'request' && m.method === 'getData').length, 0, 'no data is read in Restricted Mode');
    await page.evaluate(() => window.dispatchEvent(new MessageEvent('message', { data: { kind: 'event', event: { type: 'trustGranted' } } })));
    await page.waitForFunction(() => !document.querySelector('onnx-model-view')?.shadowRoot?.querySelector('plan-panel')?.shadowRoot?.querySelector('vscode-button[icon="fold"]')?.hasAttribute('disabled'));
    assert.equal(await page.locator('plan-panel .hint.untrusted').count(), 0);
    await page.locator('data-panel [data-role="calibration"] vscode-button[data-pick="folder"]').waitFor();
    await page.waitForFunction(() => window.__messages.some((m) => m.kind === 'request' && m.method === 'getData'));
    await page.close();
  });

  test('a pruned model shows its widths before and after', async () => {
    const page = await open({ pruned: 1 });
    const cmp = page.locator('.compare');
    await cmp.waitFor();
    const text = (await cmp.textContent()) ?? '';
    assert.match(text, /Pruned from fmnist_bncnn_sparse_bn\.onnx/);
    const stem = fixture.layers.find((l) => l.name === '/stem/stem.0/Conv') as LayerRow;
    assert.ok(text.includes(stem.name));
    assert.equal(await cmp.locator('tbody tr').count(), fixture.layers.length);
    await page.close();
  });

  test('charts follow a theme change (body class and --vscode-* variables)', async () => {
    const page = await open({}, { theme: 'dark' });
    const canvas = page.locator('score-histograms canvas#global');
    await page.waitForFunction(() => !!document.querySelector('onnx-model-view')?.shadowRoot?.querySelector('score-histograms')?.shadowRoot?.querySelector('canvas#global[data-theme]'));
    assert.equal(await canvas.getAttribute('data-theme'), 'dark');
    assert.equal(await canvas.getAttribute('data-bar-color'), '#3794ff');
    // What VS Code does on a theme switch: new variables on <html>, new class on <body>.
    await page.evaluate(() => {
      document.documentElement.style.setProperty('--vscode-charts-blue', '#1a85ff');
      document.body.classList.replace('vscode-dark', 'vscode-light');
    });
    await page.waitForFunction(() => document.querySelector('onnx-model-view')!.shadowRoot!.querySelector('score-histograms')!.shadowRoot!.querySelector('canvas#global')!.getAttribute('data-theme') === 'light');
    assert.equal(await canvas.getAttribute('data-bar-color'), '#1a85ff');
    await page.close();
  });

  test('log scale and the threshold mode ask the host for the right histograms and plan', async () => {
    const page = await open();
    const canvas = page.locator('score-histograms canvas#global');
    await canvas.waitFor();
    // BN γ starts in log scale (sparse γ spread over decades), with round tick labels
    const firstHist = (await messages(page)).find((m) => m.kind === 'request' && m.method === 'getHistogram');
    assert.equal(firstHist?.kind === 'request' && firstHist.method === 'getHistogram' && firstHist.params.log, true, 'γ histogram asked in log scale');
    await page.waitForFunction(() => !!document.querySelector('onnx-model-view')?.shadowRoot?.querySelector('score-histograms')?.shadowRoot?.querySelector('canvas#global[data-ticks]'));
    const ticks = (await canvas.getAttribute('data-ticks'))!.split(' ').filter(Boolean);
    assert.ok(ticks.length >= 2, `tick labels: ${ticks.join(' ')}`);
    for (const t of ticks) assert.match(t, /^([125](e-\d+)?|0\.0*[125]|[125]0*)$/, `round tick ${t} in ${ticks.join(' ')}`);
    await page.locator('score-histograms vscode-checkbox').click();
    await page.waitForFunction(() => window.__messages.some((m) => m.kind === 'request' && m.method === 'getHistogram' && m.params.log === false && m.params.layer === undefined));
    // the linear chart's ticks replace the log chart's (plain numbers, no exponent)
    await page.waitForFunction(() => /^[\d. ]+$/.test(document.querySelector('onnx-model-view')!.shadowRoot!.querySelector('score-histograms')!.shadowRoot!.querySelector('canvas#global')?.getAttribute('data-ticks') ?? ''));
    const linear = (await canvas.getAttribute('data-ticks'))!.split(' ');
    for (const t of linear) assert.ok(/^\d+(\.\d)?$|^0\.0*\d$/.test(t), `round linear tick ${t} in ${linear.join(' ')}`);
    await page.locator('plan-panel .seg button', { hasText: 'scores below a threshold' }).click();
    await page.waitForFunction(() => window.__messages.some((m) => m.kind === 'planState' && m.plan.threshold !== undefined && m.plan.ratio === undefined && m.plan.scope === 'global'));
    // 0.01 is a valid threshold (the field once had step="NaN" and turned red)
    const field = page.locator('plan-panel vscode-textfield[aria-label="Score threshold"] input');
    await field.fill('0.01');
    await field.press('Enter');
    await page.waitForFunction(() => window.__messages.some((m) => m.kind === 'planState' && m.plan.threshold === 0.01));
    assert.equal(await field.evaluate((e) => (e as HTMLInputElement).validity.valid), true, '0.01 is valid in the field');
    await page.locator('score-histograms .title', { hasText: 'All prunable layers' }).waitFor();
    await page.close();
  });

  test('narrow editor (500 px) stacks the layout', async () => {
    const page = await open({}, { width: 500 });
    await waitRows(page, fixture.layers.length);
    const table = await page.locator('section.table').boundingBox();
    const plan = await page.locator('aside.plan').boundingBox();
    assert.ok(table && plan && plan.y > table.y && plan.width > 400, 'the plan panel goes below the table, full width');
    const body = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(body <= 500, `no page-wide horizontal scroll (${body})`);
    await page.close();
  });
});
