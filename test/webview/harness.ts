// The preview harness's server and a headless chromium for a webview test file: started before its
// tests, closed after them; pages that collect their uncaught errors.
import * as fs from 'node:fs';
import { after, before } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, startPreview, type Preview } from '../../scripts/webview-preview.ts';

/** Why the webview tests cannot run on this machine (no chromium), or false. */
export const skipWithoutChromium: string | false = fs.existsSync(CHROMIUM) ? false : `chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`;

/** A page of the view, with the uncaught errors it raised. */
export type ViewPage = Page & { errors: string[] };

export interface ViewHarness {
  readonly preview: Preview;
  readonly browser: Browser;
  /** A new page of `viewport` (default 1280×900) at `url`, collecting its uncaught errors. */
  page(url: string, viewport?: { width: number; height: number }): Promise<ViewPage>;
}

/**
 * Starts the preview server (with the options `options` makes, e.g. fixtures computed first) and
 * chromium before the file's tests and closes both after them; nothing when chromium is absent
 * (the file's suites skip then).
 */
export function useViewHarness(options: () => Promise<Parameters<typeof startPreview>[0]> | Parameters<typeof startPreview>[0] = () => ({})): ViewHarness {
  let preview: Preview | undefined;
  let browser: Browser | undefined;
  if (!skipWithoutChromium) {
    before(async () => {
      preview = await startPreview(await options());
      const { chromium } = await import('playwright-core');
      browser = await chromium.launch({ headless: true, executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    });
    after(async () => {
      await browser?.close();
      await preview?.close();
    });
  }
  return {
    get preview() {
      return preview!;
    },
    get browser() {
      return browser!;
    },
    async page(url, viewport = { width: 1280, height: 900 }) {
      const page = (await browser!.newPage({ viewport })) as ViewPage;
      page.errors = [];
      page.on('pageerror', (e) => page.errors.push(e.message));
      await page.goto(url);
      return page;
    },
  };
}
