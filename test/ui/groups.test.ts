// The channel groups list in code-server, on the sample opened by double-click in a 1400×900
// window (side bar open): the table's columns fit without a sideways scroll; the list shows every
// group the CLI's `inspect --json` finds, the frozen one with the CLI's reason and the prunable
// ones; a layer clicked in the list is the focused, expanded, visible row of the table; FPGM's
// column, empty until FPGM is computed, fills in once the plan uses it.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { openFileFromExplorer, sampleModel, screenshot, skipWithoutCodeServer, waitForExtension, webviewFrame, withWorkbench } from '../vscode/harness/index.ts';
import { cli, type Inspect } from './model-view-checks.ts';

interface InspectGroup { id: number; prunable: boolean; reason?: string; layers: string[] }

test('channel groups list: frozen with its reason and prunable ones; a layer click focuses its row', { skip: skipWithoutCodeServer, timeout: 240_000 }, async () => {
  const ins = cli<Inspect & { groups: InspectGroup[] }>('inspect', sampleModel, '--json');
  const frozen = ins.groups.find((g) => !g.prunable);
  const prunable = ins.groups.filter((g) => g.prunable && g.layers.length);
  assert.ok(frozen?.reason && prunable.length, 'the sample has a frozen group with a reason and prunable ones');
  // the prunable layer with the fewest MACs: the table's last rows (sorted by MACs, largest first)
  const byMacs = new Map(ins.layers.map((l) => [l.name, l.macs]));
  const target = prunable.flatMap((g) => g.layers).sort((a, b) => byMacs.get(a)! - byMacs.get(b)!)[0]!;

  await withWorkbench({ label: 'groups', files: [sampleModel], viewport: { width: 1400, height: 900 } }, async ({ page }) => {
    await waitForExtension(page, 'ONNX Pruner: Export Layer Widths');
    await openFileFromExplorer(page, path.basename(sampleModel));
    const view = webviewFrame(page);
    await view.locator(`layer-table .body .row[data-layer="${target}"]`).waitFor({ timeout: 60_000 });

    // the columns fit: no sideways scroll in a 1400 px window with the side bar open
    const wrap = await view.locator('layer-table .wrap').evaluate((e) => ({ scroll: e.scrollWidth, client: e.clientWidth }));
    assert.ok(wrap.scroll <= wrap.client, `no sideways scroll at 1400 px: the table is ${wrap.scroll} px wide in ${wrap.client} px`);

    await view.locator('[data-show-groups]').click();
    const items = view.locator('group-list li.group');
    await items.first().waitFor({ timeout: 30_000 });
    assert.equal(await items.count(), ins.groups.length, 'one item per group');
    const f = view.locator(`group-list li.group[data-group="${frozen.id}"]`);
    assert.equal(await f.getAttribute('data-prunable'), 'false');
    assert.equal(await f.locator('[data-reason]').textContent(), frozen.reason, 'the frozen group says why, as the CLI');
    for (const g of prunable) {
      const item = view.locator(`group-list li.group[data-group="${g.id}"]`);
      assert.equal(await item.getAttribute('data-prunable'), 'true');
      assert.deepEqual(await item.locator('button[data-layer]').evaluateAll((els) => els.map((e) => e.getAttribute('data-layer'))), g.layers);
    }

    await view.locator(`group-list button[data-layer="${target}"]`).click();
    const row = view.locator(`layer-table .body .row[data-layer="${target}"]`);
    await view.locator(`layer-table .body .row[data-layer="${target}"][aria-expanded="true"][aria-selected="true"]`).waitFor({ timeout: 15_000 });
    const focused = () => row.evaluate((e) => (e.getRootNode() as ShadowRoot).activeElement === e);
    for (let t0 = Date.now(); !(await focused()); await page.waitForTimeout(100)) assert.ok(Date.now() - t0 < 5000, 'the row takes the keyboard focus');
    await page.waitForTimeout(300);
    const box = await row.boundingBox();
    const frame = await page.locator('iframe.webview.ready').first().boundingBox();
    assert.ok(box && frame && box.y >= frame.y && box.y + box.height <= frame.y + frame.height, `the row (${JSON.stringify(box)}) is scrolled into the editor's view (${JSON.stringify(frame)})`);
    await screenshot(page, 'groups-list-reveal');

    // FPGM, computed when first used: chosen as the plan's criterion, its column fills in
    const fpgmCol = (await view.locator('layer-table .row.head [role=columnheader]').allTextContents()).findIndex((h) => h.replace(/[▲▼]/g, '').trim() === 'FPGM med');
    assert.ok(fpgmCol > 0, 'an FPGM column');
    const fpgmCell = row.locator('> [role=gridcell]').nth(fpgmCol);
    assert.equal((await fpgmCell.textContent())?.trim(), '–', 'FPGM not computed before it is used');
    await view.locator('plan-panel #criterion').evaluate((e) => {
      (e as HTMLSelectElement).value = 'fpgm';
      e.dispatchEvent(new Event('change', { bubbles: true }));
    });
    await view.locator('layer-table .row.head [role=columnheader].active', { hasText: 'FPGM med' }).waitFor({ timeout: 15_000 });
    for (let t0 = Date.now(); !/^\d/.test((await fpgmCell.textContent())?.trim() ?? ''); await page.waitForTimeout(250)) {
      assert.ok(Date.now() - t0 < 60_000, `the FPGM cell of ${target} fills in once the plan uses FPGM: ${await fpgmCell.textContent()}`);
    }
  });
});
