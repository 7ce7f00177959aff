// Checks of the model view shared by the model-view UI tests: each compares what the real
// webview renders (read through webviewFrame) with what the CLI or the engine computes on
// the same file, outside the view.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';
import { loadModel } from '../../src/engine/onnx/model.ts';
import { Graph } from '../../src/engine/graph/graph.ts';
import { readFloats } from '../../src/engine/analysis/importance.ts';
import { quantile } from '../../src/engine/analysis/stats.ts';
import { computeCost } from '../../src/engine/graph/cost.ts';
import { int, score, si } from '../../src/webview/format.ts';
import { repoRoot } from '../vscode/harness/index.ts';

export interface InspectLayer { name: string; op: string; weightShape: number[]; params: number; macs: number; bn?: string }
export interface Inspect { params: number; macs: number; weightedLayers: number; bnCount: number; layers: InspectLayer[] }
export interface DryRun { preview: { params: { before: number; after: number }; macs: { before: number; after: number } } }

/** Runs the built CLI (`npm run build` first) and parses its JSON output. */
export function cli<T>(...args: string[]): T {
  const out = execFileSync(process.execPath, [path.join(repoRoot, 'dist', 'cli.js'), ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return JSON.parse(out) as T;
}

/** Parameter count of a model file, by the engine. */
export function engineParams(file: string): number {
  return computeCost(new Graph(loadModel(file))).params;
}

/** |γ| min and median of the BatchNorm that follows a layer, read from the model's initializer. */
export function gammaStats(file: string, bnName: string): { min: number; median: number } {
  const graph = new Graph(loadModel(file));
  const bn = graph.nodes.find((n) => n.name === bnName);
  assert.ok(bn, `BatchNorm ${bnName} in ${file}`);
  const gamma = readFloats(graph, bn.input[1]!);
  assert.ok(gamma, `γ of ${bnName}`);
  const sorted = Float64Array.from(gamma, Math.abs).sort();
  return { min: sorted[0]!, median: quantile(sorted, 0.5) };
}

/** The performance mark src/webview/layer-table.ts sets when its first rows are painted (FIRST_ROWS_MARK there). */
const FIRST_ROWS_MARK = 'onnx-pruner:first-rows';

export interface OpenTimes { tab: number; webview: number; summary: number; firstRow: number; firstRowMark: number; marks: Record<string, number>; clickAt: number }

/** The webview's performance marks (onnx-pruner:*), in ms from `t0` (a wall-clock time). */
export async function webviewMarks(view: FrameLocator, t0: number): Promise<Record<string, number>> {
  const marks = await view.locator('body').evaluate(() => Object.fromEntries(performance.getEntriesByType('mark')
    .filter((m) => m.name.startsWith('onnx-pruner:')).map((m) => [m.name.slice('onnx-pruner:'.length), performance.timeOrigin + m.startTime])));
  return Object.fromEntries(Object.entries(marks).map(([k, v]) => [k, Math.round(v - t0)]));
}

/**
 * Opens the model (`open`: the double-click in the explorer) and returns the milliseconds from
 * the double-click event in the workbench page until the editor tab shows, the webview's iframe
 * is ready, the summary is rendered and the first layer row is visible in the webview
 * (`firstRow`: the benchmark). The start is the page's own timestamp of the dblclick event, so
 * Playwright's lookup of the explorer row is not counted; the ends are when Playwright sees each
 * element (same machine clock).
 */
export async function openAndTime(page: Page, open: () => Promise<void>, view: FrameLocator, fileName: string): Promise<OpenTimes> {
  await page.evaluate(() => {
    const w = window as unknown as { __dblclickAt?: number };
    w.__dblclickAt = undefined;
    document.addEventListener('dblclick', () => { w.__dblclickAt = performance.timeOrigin + performance.now(); }, { capture: true, once: true });
  });
  const at = async (p: Promise<unknown>) => { await p; return Date.now(); };
  const timed = Promise.all([
    at(page.locator('.tabs-container .tab.active', { hasText: fileName }).waitFor({ timeout: 120_000 })),
    at(page.locator('iframe.webview.ready').first().waitFor({ state: 'attached', timeout: 120_000 })),
    at(view.locator('[data-metric="params"]').waitFor({ state: 'visible', timeout: 120_000 })),
    at(view.locator('layer-table .body .row[data-layer]').first().waitFor({ state: 'visible', timeout: 120_000 })),
  ]);
  await open();
  const [tab, webview, summary, firstRow] = await timed;
  const t0 = await page.evaluate(() => (window as unknown as { __dblclickAt?: number }).__dblclickAt);
  assert.ok(t0, 'the double-click reached the workbench');
  // The webview's own mark: rows rendered and a frame painted, by the webview's clock.
  const marks = await view.locator('body').evaluate(() => Object.fromEntries(performance.getEntriesByType('mark')
    .filter((m) => m.name.startsWith('onnx-pruner:')).map((m) => [m.name.slice('onnx-pruner:'.length), performance.timeOrigin + m.startTime])));
  const mark = marks[FIRST_ROWS_MARK.slice('onnx-pruner:'.length)];
  assert.ok(mark, 'the webview marked its first rows');
  const rel = Object.fromEntries(Object.entries(marks).map(([k, v]) => [k, Math.round(v - t0)]));
  return { tab: tab - t0, webview: webview - t0, summary: summary - t0, firstRow: firstRow - t0, firstRowMark: mark - t0, marks: rel, clickAt: t0 };
}

/** The summary cards equal `inspect --json`, both the exact value and the formatted text. */
export async function checkSummary(view: FrameLocator, ins: Inspect): Promise<void> {
  const metric = (k: string) => view.locator(`[data-metric="${k}"]`);
  await metric('params').waitFor({ timeout: 60_000 });
  assert.equal(Number(await metric('params').getAttribute('data-value')), ins.params, 'parameters');
  assert.equal((await metric('params').textContent())?.trim(), int(ins.params), 'parameters, formatted');
  assert.match(int(ins.params), /^\d{1,3}(,\d{3})*$/);
  assert.equal(Number(await metric('macs').getAttribute('data-value')), ins.macs, 'MACs');
  assert.equal((await metric('macs').textContent())?.trim(), si(ins.macs), 'MACs, formatted');
  assert.equal(await metric('macs').getAttribute('title'), int(ins.macs), 'MACs, exact in the tooltip');
  assert.equal(Number(await metric('layers').getAttribute('data-value')), ins.weightedLayers, 'weighted layers');
  assert.equal((await metric('layers').textContent())?.trim(), String(ins.weightedLayers));
  assert.equal(Number(await metric('bn').getAttribute('data-value')), ins.bnCount, 'BatchNorm count');
  assert.equal((await metric('bn').textContent())?.trim(), String(ins.bnCount));
}

const rowSel = 'layer-table .body .row[data-layer]';

/** Names of the rendered rows, in order (the first page: fine for models under 100 layers). */
export async function rowNames(view: FrameLocator): Promise<string[]> {
  const rows = view.locator(rowSel);
  const names = await rows.evaluateAll((els) => els.map((e) => ({ i: Number(e.getAttribute('data-index')), n: e.getAttribute('data-layer')! })));
  return names.sort((a, b) => a.i - b.i).map((x) => x.n);
}

/** The text of a column's cell in a layer's row, the column found by its header label. */
export async function cellText(view: FrameLocator, layer: string, header: string): Promise<string> {
  const heads = await view.locator('layer-table .row.head [role=columnheader]').allTextContents();
  const col = heads.findIndex((h) => h.replace(/[▲▼]/g, '').trim() === header);
  assert.ok(col >= 0, `column ${header} in ${heads.join(' | ')}`);
  return ((await view.locator(`layer-table .body .row[data-layer="${layer}"] > [role=gridcell]`).nth(col).textContent()) ?? '').trim();
}

/** The tooltip of a column's cell (its first element's title) in a layer's row. */
export async function cellTitle(view: FrameLocator, layer: string, header: string): Promise<string> {
  const heads = await view.locator('layer-table .row.head [role=columnheader]').allTextContents();
  const col = heads.findIndex((h) => h.replace(/[▲▼]/g, '').trim() === header);
  assert.ok(col >= 0, `column ${header} in ${heads.join(' | ')}`);
  return (await view.locator(`layer-table .body .row[data-layer="${layer}"] > [role=gridcell]`).nth(col).locator('[title]').first().getAttribute('title')) ?? '';
}

/** Row count, a γ min/median from the model itself, MACs sort both ways, filter, expand. */
export async function checkTable(view: FrameLocator, file: string, ins: Inspect, filterText: string): Promise<void> {
  const n = ins.layers.length;
  await view.locator('layer-table .count', { hasText: new RegExp(`^${n} layers?$`) }).waitFor({ timeout: 30_000 });
  assert.ok(n <= 40, 'all rows fit in the virtualised viewport for this check');
  await view.locator(rowSel).nth(n - 1).waitFor({ timeout: 30_000 });
  assert.equal(await view.locator(rowSel).count(), n, 'one row per weighted layer');

  // Default sort: MACs descending.
  const byMacs = [...ins.layers].sort((a, b) => b.macs - a.macs);
  assert.notEqual(byMacs[0]!.macs, byMacs[1]!.macs, 'a unique largest layer to check the sort');
  assert.equal((await rowNames(view))[0], byMacs[0]!.name, 'first row: the layer with the most MACs');

  // A γ value, computed here from the BatchNorm's initializer.
  const withBn = byMacs.find((l) => l.bn);
  if (withBn) {
    const g = gammaStats(file, withBn.bn!);
    assert.equal(await cellText(view, withBn.name, 'γ median'), score(g.median), `γ median of ${withBn.name}`);
    // the spread is in the median cell's tooltip
    assert.match(await cellTitle(view, withBn.name, 'γ median'), new RegExp(`^min ${score(g.min).replace(/[.]/g, '\\.')} · `), `γ min of ${withBn.name} in the tooltip`);
  }

  // Click MACs: ascending, the smallest first.
  const smallest = byMacs[byMacs.length - 1]!;
  await view.locator('layer-table .row.head button', { hasText: /^MACs/ }).click();
  await view.locator(`${rowSel}[data-index="0"][data-layer="${smallest.name}"]`).waitFor({ timeout: 15_000 });
  // Click Layer: names ascending.
  await view.locator('layer-table .row.head button', { hasText: /^Layer/ }).click();
  const byName = ins.layers.map((l) => l.name).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  await view.locator(`${rowSel}[data-index="0"][data-layer="${byName[0]}"]`).waitFor({ timeout: 15_000 });
  assert.deepEqual(await rowNames(view), byName, 'rows sorted by name');

  // Filter.
  const matches = ins.layers.filter((l) => l.name.toLowerCase().includes(filterText) || l.op.toLowerCase().includes(filterText));
  assert.ok(matches.length > 0 && matches.length < n, `filter "${filterText}" keeps some rows`);
  const field = view.locator('layer-table vscode-textfield input');
  await field.fill(filterText);
  await view.locator('layer-table .count', { hasText: `${matches.length} layer${matches.length === 1 ? '' : 's'} match` }).waitFor({ timeout: 15_000 });
  assert.deepEqual(await rowNames(view), matches.map((l) => l.name).sort(), 'the rows are the matches');
  await field.fill('');
  await view.locator('layer-table .count', { hasText: new RegExp(`^${n} layers$`) }).waitFor({ timeout: 15_000 });

  // Expand the largest layer: its channels.
  const big = byMacs[0]!;
  await view.locator(`layer-table .body .row[data-layer="${big.name}"] .twisty`).click();
  const canvas = view.locator('layer-detail canvas');
  await canvas.waitFor({ timeout: 30_000 });
  assert.equal(Number(await canvas.getAttribute('data-channels')), big.weightShape[0], `one bar per channel of ${big.name}`);
  assert.match((await view.locator('layer-detail .top').textContent()) ?? '', new RegExp(`${int(big.weightShape[0]!)}\\s+channels`));
}

/** Sets the ratio slider and compares the preview with `prune --dry-run --json` for the criterion shown. */
export async function checkPreview(view: FrameLocator, file: string, ratio: number): Promise<DryRun> {
  const criterion = await view.locator('plan-panel #criterion').evaluate((e) => (e as HTMLSelectElement).value);
  assert.ok(criterion, 'a criterion is selected');
  const dry = cli<DryRun>('prune', file, '--criterion', criterion, '--ratio', String(ratio), '--dry-run', '--json');
  await view.locator('plan-panel input[type=range]').fill(String(ratio));
  await view.locator('plan-panel output', { hasText: `${Math.round(ratio * 100)}%` }).waitFor();
  const params = view.locator(`plan-panel .big[data-stat="Parameters"][data-after="${dry.preview.params.after}"]`);
  await params.waitFor({ timeout: 30_000 });
  assert.equal((await params.textContent())?.trim(), int(dry.preview.params.after));
  const macs = view.locator('plan-panel .big[data-stat="MACs"]');
  assert.equal(Number(await macs.getAttribute('data-after')), dry.preview.macs.after, 'MACs after the plan');
  assert.equal((await macs.textContent())?.trim(), si(dry.preview.macs.after));
  assert.equal(Number(await params.getAttribute('data-before')), dry.preview.params.before);
  return dry;
}

/**
 * Picks a colour theme through "Preferences: Color Theme" (the `workbench.colorTheme` user
 * setting is not applied in the extension development host that the harness opens) and waits
 * until both the workbench and the open webviews use it.
 */
export async function setColorTheme(page: Page, theme: 'Dark Modern' | 'Light Modern'): Promise<void> {
  await page.locator('.monaco-workbench').click({ position: { x: 5, y: 5 }, force: true }).catch(() => undefined);
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 15_000 });
  await input.fill('>Preferences: Color Theme');
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Preferences: Color Theme' }).first().click();
  await page.locator('.quick-input-list .monaco-list-row', { hasText: theme }).first().waitFor({ timeout: 15_000 });
  await input.fill(theme);
  await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: theme }).first().waitFor({ timeout: 15_000 });
  await page.keyboard.press('Enter');
  const cls = theme.startsWith('Dark') ? 'vs-dark' : 'vs';
  await page.locator(`.monaco-workbench.${cls}`).waitFor({ timeout: 15_000 });
  await input.waitFor({ state: 'hidden', timeout: 15_000 });
}
