// The layer table's layout in a headless chromium against the fake host (ResNet-18 fixture: long
// layer names, four score criteria): at 1400×900 every column fits without a sideways scroll,
// each header label is whole, the header sits above the first row and an expanded row's chart is
// whole, and a prune report takes the width; in a 932 px editor the Op and Group columns give way;
// at 900 px the plan panel moves below the table, and at 800 px, scrolled sideways, the layer
// names and the expanded chart stay in view.
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { skipWithoutChromium, useViewHarness } from './harness.ts';

const skip = skipWithoutChromium;

const h = useViewHarness();

type Box = { x: number; y: number; width: number; height: number };
const right = (b: Box) => b.x + b.width;
const bottom = (b: Box) => b.y + b.height;
const show = (b: Box) => `x ${b.x.toFixed(1)}–${right(b).toFixed(1)}, y ${b.y.toFixed(1)}–${bottom(b).toFixed(1)}`;

async function box(l: Locator): Promise<Box> {
  const b = await l.boundingBox();
  assert.ok(b, 'the element is laid out');
  return b;
}

async function open(width: number, query: Record<string, string | number> = {}): Promise<Page & { errors: string[] }> {
  const page = await h.page(h.preview.page({ fixture: 'resnet18_bn', theme: 'dark', query }), { width, height: 900 });
  await page.locator('layer-table .count', { hasText: /^21 layers$/ }).waitFor();
  await page.locator('layer-table .body .row[data-index="3"][data-layer]').waitFor();
  return page;
}

const wrap = (page: Page) => page.locator('layer-table .wrap');
const headRow = (page: Page) => page.locator('layer-table .row.head');
const firstRow = (page: Page) => page.locator('layer-table .body .row[data-index="0"]');

/** Expands the second row and waits for its chart; returns the chart's canvas. */
async function expandSecond(page: Page): Promise<Locator> {
  await page.locator('layer-table .body .row[data-index="1"] .twisty').click();
  const canvas = page.locator('layer-detail canvas');
  await canvas.waitFor();
  await page.waitForTimeout(200);
  return canvas;
}

/** The chart lies inside the table's visible box and inside its expanded row. */
async function assertChartWhole(page: Page, canvas: Locator, when: string): Promise<void> {
  const c = await box(canvas);
  const w = await box(wrap(page));
  const d = await box(page.locator('layer-detail'));
  assert.ok(c.x >= w.x - 0.5 && right(c) <= right(w) + 0.5, `${when}: the chart (${show(c)}) is inside the table's visible width (${show(w)})`);
  assert.ok(c.x >= d.x - 0.5 && right(c) <= right(d) + 0.5 && c.y >= d.y - 0.5 && bottom(c) <= bottom(d) + 0.5, `${when}: the chart (${show(c)}) is inside its row (${show(d)})`);
}

describe('layer table layout (preview harness)', { skip }, () => {
  test('1400×900: every column fits without a sideways scroll, header labels whole, header above the first row, an expanded chart whole', async () => {
    const page = await open(1400);
    const { scrollWidth, clientWidth } = await wrap(page).evaluate((e) => ({ scrollWidth: e.scrollWidth, clientWidth: e.clientWidth }));
    assert.ok(scrollWidth <= clientWidth, `no sideways scroll: the table is ${scrollWidth} px wide in ${clientWidth} px`);
    // every header label is whole (none cut or ellipsised): the γ labels too
    const labels = await page.locator('layer-table .row.head button').evaluateAll((els) => els.map((e) => {
      const r = document.createRange();
      r.selectNodeContents(e);
      return { text: e.textContent ?? '', text_w: r.getBoundingClientRect().width, w: e.getBoundingClientRect().width };
    }));
    assert.ok(labels.some((l) => l.text.startsWith('γ')), `γ columns: ${labels.map((l) => l.text).join(' | ')}`);
    for (const l of labels) assert.ok(l.text_w <= l.w + 0.5, `header "${l.text}" is whole: ${l.text_w.toFixed(1)} px of text in ${l.w.toFixed(1)} px`);
    // and the score cells are whole too
    const cut = await firstRow(page).locator('[role=gridcell]').evaluateAll((els) => els.filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent));
    assert.deepEqual(cut, [], 'no cell of the first row is cut');
    const h = await box(headRow(page));
    const r = await box(firstRow(page));
    assert.ok(bottom(h) <= r.y + 0.5, `the header (${show(h)}) does not overlap the first row (${show(r)})`);
    const canvas = await expandSecond(page);
    await canvas.scrollIntoViewIfNeeded();
    await assertChartWhole(page, canvas, '1400 px');
    const c = await box(canvas);
    assert.ok(c.y >= 0 && bottom(c) <= 900, `the chart (${show(c)}) is inside the 900 px viewport`);
    const h2 = await box(headRow(page));
    const r2 = await box(firstRow(page));
    assert.ok(bottom(h2) <= r2.y + 0.5, `with the row expanded, the header (${show(h2)}) is still above the first row (${show(r2)})`);
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('932 px (the editor of a 1280 px window with the side bar): the Op and Group columns give way, the scores fit', async () => {
    const page = await open(932);
    const { scrollWidth, clientWidth } = await wrap(page).evaluate((e) => ({ scrollWidth: e.scrollWidth, clientWidth: e.clientWidth }));
    assert.ok(scrollWidth <= clientWidth, `no sideways scroll: the table is ${scrollWidth} px wide in ${clientWidth} px`);
    const heads = (await page.locator('layer-table .row.head [role=columnheader]').evaluateAll((els) => els.filter((e) => (e as HTMLElement).offsetWidth > 0).map((e) => e.textContent?.replace(/[▲▼]/g, '').trim())));
    assert.deepEqual(heads, ['', 'Layer', 'Channels', 'Plan', 'Params', 'MACs', 'γ median', 'γ<1e-2', 'L1 med', 'L2 med', 'FPGM med']);
    // the op is in the layer's tooltip
    assert.match(await firstRow(page).locator('.name').getAttribute('title') ?? '', / \(Conv\)$/);
    await page.close();
  });

  test('1400×900: the prune report takes the width (not a narrow column beside a short table), its headers on one line', async () => {
    const page = await open(1400, { pruneMs: 100 });
    const plan = await box(page.locator('aside.plan'));
    const table = await box(page.locator('section.table'));
    assert.ok(plan.x >= right(table), 'before Prune, the plan panel is beside the table');
    await page.locator('plan-panel .preview .big').first().waitFor();
    // with data: the report has its accuracy and recovery tables too
    const data = page.locator('data-panel');
    for (const role of ['calibration', 'evaluation']) {
      await data.locator(`[data-role="${role}"] vscode-button[data-pick="folder"]`).click();
      await data.locator(`[data-role="${role}"] [data-set-info]`).waitFor();
    }
    await page.locator('plan-panel vscode-button', { hasText: 'Prune' }).click();
    const report = page.locator('plan-panel div.report');
    await report.waitFor();
    await page.waitForTimeout(200);
    const r = await box(report);
    const t = await box(page.locator('section.table'));
    assert.ok(r.width >= 0.9 * t.width, `the report (${show(r)}) is as wide as the table (${show(t)})`);
    assert.ok(r.y >= bottom(t), `the report is below the table, nothing beside it left blank: report ${show(r)}, table ${show(t)}`);
    await report.locator('[data-recovery-layers]').waitFor();
    const heads = await report.locator('table.report th').evaluateAll((els) => els.map((e) => ({ text: e.textContent ?? '', h: e.getBoundingClientRect().height, lh: parseFloat(getComputedStyle(e).lineHeight) || 18 })));
    assert.ok(heads.length >= 15, `the report's tables have headers: ${heads.map((x) => x.text).join(' | ')}`);
    for (const x of heads) assert.ok(x.h < 2 * x.lh, `header "${x.text}" on one line (${x.h} px)`);
    // Dismissed: the plan panel is beside the table again
    await report.locator('vscode-button', { hasText: 'Dismiss' }).click();
    await report.waitFor({ state: 'detached' });
    await page.waitForTimeout(100);
    assert.ok((await box(page.locator('aside.plan'))).x >= right(await box(page.locator('section.table'))), 'after Dismiss, the plan panel is beside the table');
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('900 px: the plan panel moves below the table; at 800 px, scrolled sideways, the layer names, the header and the expanded chart stay', async () => {
    const page = await open(900);
    const table = await box(page.locator('section.table'));
    const plan = await box(page.locator('aside.plan'));
    assert.ok(plan.y >= bottom(table) - 1, `the plan panel (${show(plan)}) is below the table (${show(table)})`);
    assert.ok(plan.width > 0.8 * table.width, 'the plan panel takes the width');
    // narrower still (an editor beside another), the table scrolls sideways
    await page.setViewportSize({ width: 800, height: 900 });
    await page.waitForTimeout(200);
    const canvas = await expandSecond(page);
    const scrollable = await wrap(page).evaluate((e) => e.scrollWidth - e.clientWidth);
    assert.ok(scrollable > 50, `at 800 px the table scrolls sideways (the case checked here): ${scrollable} px`);
    const name = firstRow(page).locator('.name');
    const headName = headRow(page).locator('[role=columnheader]').nth(1);
    const before = { name: await box(name), head: await box(headName) };
    await wrap(page).evaluate((e, x) => { e.scrollLeft = x; }, scrollable);
    await page.waitForFunction(() => {
      const t = document.querySelector('onnx-model-view')?.shadowRoot?.querySelector('layer-table');
      return (t?.shadowRoot?.querySelector('.wrap')?.scrollLeft ?? 0) > 0;
    });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const after = { name: await box(name), head: await box(headName) };
    const w = await box(wrap(page));
    assert.ok(Math.abs(after.name.x - before.name.x) < 1.5 && after.name.x >= w.x, `the layer name stays at the left edge: x ${before.name.x} → ${after.name.x} (scrolled ${scrollable} px)`);
    assert.ok(Math.abs(after.head.x - before.head.x) < 1.5, `the Layer header stays: x ${before.head.x} → ${after.head.x}`);
    const h = await box(headRow(page));
    const r = await box(firstRow(page));
    assert.ok(bottom(h) <= r.y + 0.5, `the header (${show(h)}) does not overlap the first row (${show(r)})`);
    await assertChartWhole(page, canvas, 'scrolled sideways');
    assert.deepEqual(page.errors, []);
    await page.close();
  });
});
