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

/**
 * Double-clicks the model in the explorer and returns the milliseconds until the first layer
 * row is visible in the webview (clock started just before the double-click).
 */
export async function openAndTimeFirstRow(page: Page, open: () => Promise<void>, view: FrameLocator): Promise<number> {
  const t0 = performance.now();
  await open();
  await view.locator('layer-table .body .row[data-layer]').first().waitFor({ state: 'visible', timeout: 120_000 });
  return performance.now() - t0;
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
    assert.equal(await cellText(view, withBn.name, 'γ min'), score(g.min), `γ min of ${withBn.name}`);
    assert.equal(await cellText(view, withBn.name, 'γ median'), score(g.median), `γ median of ${withBn.name}`);
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
