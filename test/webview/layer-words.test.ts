// The words and numbers of a layer in the model view, on fixtures the real worker computes for
// models built in code: a DenseNet-like model (convs whose BatchNorms come after a Concat: the γ
// cells and the layer detail say which BatchNorm scores the layer, and nothing is called folded)
// and a frozen ConvTranspose of unknown input size (its channels are its output channels).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { denseNetLike, ModelBuilder } from '../helpers/modelBuilder.ts';
import { tempDir } from '../helpers/paths.ts';
import { workerFixture, type ViewFixture } from './fixture.ts';
import { skipWithoutChromium, useViewHarness } from './harness.ts';

const skip = skipWithoutChromium;

const dir = tempDir();
const fixtures: Record<string, ViewFixture> = {};

/** A conv stem and a ConvTranspose 12 → 1 as the graph output (frozen), on an input of unknown height and width. */
function upsampler(file: string): string {
  const b = new ModelBuilder({ seed: 2 });
  let x = b.input('x', [1, 3, '?', '?']);
  x = b.relu(b.bn(b.conv(x, 3, 12, { k: 3, pad: 1, name: 'c1' }), 12));
  b.output(b.node('ConvTranspose', [x, b.init('up.weight', [12, 1, 2, 2])], { strides: [2, 2], kernel_shape: [2, 2] }, 'up'));
  return b.save(file);
}

async function open(fixture: string): Promise<Page & { errors: string[] }> {
  const page = await h.page(h.preview.page({ fixture, theme: 'dark' }), { width: 1400, height: 900 });
  await page.waitForFunction((n) => {
    const t = document.querySelector('onnx-model-view')?.shadowRoot?.querySelector('layer-table')?.shadowRoot;
    return (t?.querySelectorAll('.body .row[data-layer]').length ?? 0) >= n && !(t?.textContent ?? '').includes('…');
  }, fixtures[fixture]!.layers.length, { timeout: 10_000 });
  return page;
}

/** The cells of a row, in column order: twisty, name, op, channels, plan, ... */
const cells = (page: Page, layer: string) => page.locator(`layer-table .row[data-layer="${layer}"] > [role="gridcell"]`);

// the fixtures are computed by the real worker from models built here, before the preview starts
const h = useViewHarness(async () => {
  fixtures.dense = await workerFixture(denseNetLike(path.join(dir, 'dense.onnx')));
  fixtures.upsampler = await workerFixture(upsampler(path.join(dir, 'upsampler.onnx')));
  return { fixtures };
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('layer words and numbers in the view (fixtures from the real worker)', { skip }, () => {
  test('DenseNet-like: γ cells of a conv scored by BatchNorms after a Concat show values, say which BNs in their tooltip; the detail says so; nothing says folded', async () => {
    const page = await open('dense');
    const row = page.locator('layer-table .row[data-layer="l1.conv2"]');
    const from = row.locator('[data-gamma-from]');
    assert.equal(await from.count(), 2, 'the γ median and the count below 0.01 both come from the group\'s BatchNorms');
    assert.equal(await from.first().getAttribute('data-gamma-from'), 'l2.norm1 norm5');
    assert.match(await from.first().getAttribute('title') ?? '', /^γ from l2\.norm1, norm5 \(its channel group's BatchNorms, their mean\): no BatchNorm right after this layer/);
    assert.equal(await row.locator('[data-no-gamma]').count(), 0, 'no "–" γ cell');
    const median = fixtures.dense!.layers.find((l) => l.name === 'l1.conv2')!.stats['bn-gamma']!.median;
    const shown = Number(await from.first().textContent());
    assert.ok(Number.isFinite(shown) && Math.abs(shown - median) < 1e-3 * median, `γ median ${shown} (the worker's ${median})`);
    // l2.conv2: one BatchNorm
    assert.match(await page.locator('layer-table .row[data-layer="l2.conv2"] [data-gamma-from]').first().getAttribute('title') ?? '', /^γ from norm5 \(its channel group's BatchNorm\)/);
    // a conv with its own BatchNorm: plain values
    assert.equal(await page.locator('layer-table .row[data-layer="l1.conv1"] [data-gamma-from]').count(), 0);

    await row.locator('.twisty').click();
    const detail = page.locator('layer-detail');
    await detail.locator('canvas').waitFor();
    assert.match((await detail.locator('[data-gamma-from]').textContent() ?? '').replace(/\s+/g, ' '), /γ from l2\.norm1, norm5 \(its channel group's BatchNorms, their mean\): no BatchNorm right after this layer/);
    // the chart's γ is the one the plan ranks: the removed channels are the lowest ones, and the chart does not say otherwise
    assert.match((await detail.locator('.top').textContent() ?? '').replace(/\s+/g, ' '), /4 channels, 2 removed by the plan/);
    assert.equal(await detail.locator('.decides').count(), 0);
    // every title and text of the page, shadow roots included (a string: the bundler's helpers are not in the page)
    const shadowText = (await page.evaluate(`(() => {
      const all = [];
      const walk = (root) => root.querySelectorAll('*').forEach((e) => {
        all.push(e.getAttribute('title') ?? '', e.shadowRoot ? '' : e.textContent ?? '');
        if (e.shadowRoot) walk(e.shadowRoot);
      });
      walk(document);
      return all.join('\\n');
    })()`)) as string;
    assert.doesNotMatch(shadowText, /folded/i, 'no BatchNorm is called folded: the model has them');
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('a frozen ConvTranspose 12 → 1 of unknown input size: its row shows 1 channel, not "1 → 12"; its stem shows 12 → 6', async () => {
    const page = await open('upsampler');
    const channels = async (layer: string) => ((await cells(page, layer).nth(3).textContent()) ?? '').replace(/\s+/g, ' ').trim();
    assert.equal(await channels('up'), '1');
    assert.equal(await channels('c1'), '12 → 6');
    assert.match(await cells(page, 'up').nth(4).textContent() ?? '', /frozen/);
    assert.deepEqual(page.errors, []);
    await page.close();
  });
});
