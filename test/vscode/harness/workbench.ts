// Playwright helpers for driving the VS Code workbench served by code-server in Debian's chromium.
//
// Typical UI test (one workbench per test file; group checks inside it, start-up costs ~30 s):
//
//   import { test } from 'node:test';
//   import { withWorkbench, makeWorkspace, sampleModel, skipWithoutCodeServer, openFileFromExplorer } from '../vscode/harness/index.ts';
//   test('opens the model', { skip: skipWithoutCodeServer, timeout: 180_000 }, async () => {
//     await withWorkbench({ label: 'my-test', files: [sampleModel] }, async ({ page, workspace }) => {
//       await openFileFromExplorer(page, 'fmnist_bncnn_sparse_bn.onnx');
//       await webviewFrame(page).locator('text=Channels').waitFor();
//     });
//   });
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { format } from 'node:util';
import { chromium, type BrowserContext, type FrameLocator, type Page } from 'playwright-core';
import { startCodeServer, type CodeServer, type CodeServerOptions } from './codeServer.ts';
import { artifactsDir, chromiumBinary, repoRoot } from './env.ts';

/** Chromium flags that keep it quiet on a machine whose network is closed, and work as root. */
export const chromiumArgs = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage',
];

/**
 * A fresh temporary folder holding copies of `files` (by base name, or `{ from, name }`).
 * Shared models are read-only and the product writes `<name>.pruned.onnx` beside a model,
 * so tests always work on copies.
 */
export function makeWorkspace(files: (string | { from: string; name: string })[] = [], prefix = 'onnx-pruner-ws-'): string {
  const dir = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), prefix));
  for (const f of files) {
    const from = typeof f === 'string' ? f : f.from;
    const name = typeof f === 'string' ? path.basename(f) : f.name;
    fs.copyFileSync(from, path.join(dir, name));
    fs.chmodSync(path.join(dir, name), 0o644);
  }
  return dir;
}

export interface WorkbenchOptions {
  /** The folder to open. */
  workspace: string;
  /** Load this extension from source (default: the repository). `null` opens without it. */
  extensionPath?: string | null;
  /** An extension-host test runner module (compiled .js inside extensionPath). */
  extensionTestsPath?: string;
  /** Called when the workbench reports the end of an extension test run (0 = passed). */
  onAutomationExit?: (code: number) => void;
  /** Called with each line the extension host logs while running extension tests. */
  onAutomationLog?: (type: string, text: string) => void;
  /** Browser viewport; default 1400x900. */
  viewport?: { width: number; height: number };
}

export interface Workbench {
  page: Page;
  context: BrowserContext;
  close(): Promise<void>;
}

/** Opens the workbench of `server` in a fresh headless chromium profile and waits until it shows. */
export async function openWorkbench(server: CodeServer, opts: WorkbenchOptions): Promise<Workbench> {
  const executablePath = chromiumBinary();
  if (!executablePath) throw new Error('no chromium found');
  const profile = fs.mkdtempSync(path.join(server.runDir, 'chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: chromiumArgs,
    viewport: opts.viewport ?? { width: 1400, height: 900 },
  });
  try {
    if (opts.onAutomationExit) {
      const cb = opts.onAutomationExit;
      await context.exposeFunction('codeAutomationExit', (code: number) => cb(Number(code)));
    }
    if (opts.onAutomationLog) {
      const cb = opts.onAutomationLog;
      await context.exposeFunction('codeAutomationLog', (type: string, args: unknown[]) => {
        // The extension host forwards console calls as (format, ...values).
        cb(String(type), format(...(Array.isArray(args) ? args : [args])));
      });
    }
    const page = context.pages()[0] ?? (await context.newPage());
    const extensionPath = opts.extensionPath === undefined ? repoRoot : opts.extensionPath ?? undefined;
    await page.goto(server.workbenchUrl(opts.workspace, { extensionPath, extensionTestsPath: opts.extensionTestsPath }));
    if (!opts.extensionTestsPath) {
      await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
      await page.locator('.explorer-folders-view').waitFor({ timeout: 60_000 });
    }
    return { page, context, close: () => context.close() };
  } catch (e) {
    await context.close().catch(() => undefined);
    throw e;
  }
}

/** Opens the command palette in command mode with `text` typed after `>`. */
async function openPalette(page: Page, text: string): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  // The palette can close between the visibility check and the fill (a quick pick from the
  // previous step going away, focus inside a webview swallowing F1): open it again, a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      if (!(await input.isVisible())) {
        await page.locator('.monaco-workbench').click({ position: { x: 5, y: 5 }, force: true }).catch(() => undefined);
        await page.keyboard.press('F1');
      }
      await input.waitFor({ state: 'visible', timeout: 15_000 });
      await input.fill(`>${text}`, { timeout: 10_000 });
      return;
    } catch (e) {
      if (attempt === 3) throw e;
      await page.keyboard.press('Escape').catch(() => undefined);
    }
  }
}

/**
 * Waits until the extension has registered a command whose palette title contains `commandTitle`
 * (the workbench shows before extensions are registered). Leaves the palette closed.
 */
export async function waitForExtension(page: Page, commandTitle: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await openPalette(page, commandTitle);
    const row = paletteRow(page, commandTitle);
    try {
      await row.waitFor({ timeout: 3000 });
      await page.keyboard.press('Escape');
      return;
    } catch {
      await page.keyboard.press('Escape');
      if (Date.now() > deadline) throw new Error(`command "${commandTitle}" never appeared in the palette`);
      await page.waitForTimeout(1000);
    }
  }
}

/** The palette row showing a command: its label is the title, category prefix included or not. */
function paletteRow(page: Page, title: string) {
  const rows = page.locator('.quick-input-list .monaco-list-row');
  const short = title.includes(': ') ? title.slice(title.indexOf(': ') + 2) : title;
  const label = (t: string) => rows.filter({ has: page.locator('.label-name', { hasText: new RegExp(`^\\s*${escapeRegExp(t)}\\s*$`) }) });
  return label(title).or(label(short)).first();
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The labels the command palette lists for `text` (typed after `>`), read once the row titled
 * `until` shows (the list fills as extensions register). Leaves the palette open: close it with
 * Escape after any screenshot.
 */
export async function paletteLabels(page: Page, text: string, until: string, timeoutMs = 30_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await openPalette(page, text);
    try {
      await paletteRow(page, until).waitFor({ timeout: 5000 });
      const labels = await page.locator('.quick-input-list .monaco-list-row .label-name').allTextContents();
      return labels.map((l) => l.trim());
    } catch (e) {
      await page.keyboard.press('Escape');
      if (Date.now() > deadline) throw new Error(`the palette never listed "${until}" for "${text}"`, { cause: e });
      await page.waitForTimeout(1000);
    }
  }
}

/**
 * Runs a command by its palette title, e.g. "ONNX Pruner: Open Model" (the row whose label is
 * exactly the title, with or without its category prefix).
 */
export async function runPaletteCommand(page: Page, title: string): Promise<void> {
  await openPalette(page, title);
  const row = paletteRow(page, title);
  await row.waitFor({ timeout: 15_000 });
  await row.click();
  await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => undefined);
}

/** The explorer row of a file or folder (by its displayed name) in the open workspace. */
export function explorerItem(page: Page, name: string) {
  return page.locator(`.explorer-folders-view .monaco-list-row[aria-label="${name}"], .explorer-folders-view .monaco-list-row:has(.label-name:text-is("${name}"))`).first();
}

/**
 * Re-reads the workspace folder in the explorer. Files a test writes after the workbench opened
 * are not always picked up by the file watcher promptly; the helpers below call this themselves.
 */
export async function refreshExplorer(page: Page): Promise<void> {
  // The action sits in the folder's pane header and shows on hover.
  await page.locator('.explorer-folders-view').hover();
  await page.locator('.explorer-viewlet .action-label[aria-label^="Refresh Explorer"]').first().click({ force: true, timeout: 10_000 });
  await dismissHovers(page);
}

/** Moves the mouse off the workbench so no hover tooltip covers the next click. */
async function dismissHovers(page: Page): Promise<void> {
  await page.mouse.move(0, 0);
  await page.locator('.context-view .hover-contents').waitFor({ state: 'hidden', timeout: 3000 }).catch(() => undefined);
}

/** Waits for an explorer row, refreshing the explorer once if it does not show within 5 s. */
async function findExplorerItem(page: Page, name: string) {
  const row = explorerItem(page, name);
  await dismissHovers(page);
  try {
    await row.waitFor({ timeout: 5000 });
  } catch {
    await refreshExplorer(page);
    await row.waitFor({ timeout: 25_000 });
  }
  return row;
}

/** Double-clicks a file in the explorer, opening it in a non-preview editor. */
export async function openFileFromExplorer(page: Page, name: string): Promise<void> {
  const row = await findExplorerItem(page, name);
  await row.dblclick();
}

/**
 * Right-clicks a file in the explorer and picks `itemTitle` from its context menu. Items that
 * an extension contributes appear once it is registered (see waitForExtension); until then, and
 * while the menu re-renders, this retries with a fresh menu for up to `timeoutMs`.
 */
export async function explorerContextMenu(page: Page, fileName: string, itemTitle: string, timeoutMs = 30_000): Promise<void> {
  const row = await findExplorerItem(page, fileName);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await row.click({ button: 'right' });
    const item = page.locator('.monaco-menu .action-item', { hasText: itemTitle }).first();
    try {
      await item.waitFor({ timeout: 5000 });
      // A mouse click on a menu item sometimes does not register (seen under load: the menu
      // stays open). Hovering focuses the item; Enter then runs it through the menu's keyboard
      // path, which does not depend on the mouse-up reaching the item.
      await item.hover({ timeout: 5000 });
      const focused = page.locator('.monaco-menu .action-item.focused', { hasText: itemTitle }).first();
      if (await focused.waitFor({ timeout: 2000 }).then(() => true, () => false)) await page.keyboard.press('Enter');
      else await item.click({ timeout: 5000 });
      await page.locator('.monaco-menu').waitFor({ state: 'detached', timeout: 10_000 });
      return;
    } catch (e) {
      await page.keyboard.press('Escape');
      if (Date.now() > deadline) {
        throw new Error(`explorer context menu of ${fileName}: item "${itemTitle}" missing or its click not taken`, { cause: e });
      }
      await page.waitForTimeout(500);
    }
  }
}

/**
 * Chooses `folder` in an open-folder dialog (VS Code's own dialog in the browser: a quick input
 * holding a path): types the folder's path, waits until the dialog lists its contents (`entry`),
 * and accepts it with the button labelled `button`. The dialog fills in its starting folder
 * asynchronously, which can replace a path typed just after it opened: the path is typed again
 * until the input holds it and the listing shows `entry` (five tries).
 */
export async function pickFolderInDialog(page: Page, folder: string, entry: string, button = 'Use'): Promise<void> {
  const widget = page.locator('.quick-input-widget');
  const input = widget.locator('input');
  await input.waitFor({ state: 'visible', timeout: 30_000 });
  const want = `${folder}/`;
  for (let attempt = 0; ; attempt++) {
    await input.fill(want);
    // a starting folder filled in late replaces the typed path: its listing lacks `entry`, so the
    // wait fails and the path is typed again
    const listed = await widget.locator('.monaco-list-row', { hasText: entry }).first().waitFor({ timeout: 15_000 }).then(() => true, () => false);
    await page.waitForTimeout(300);
    if (listed && (await input.inputValue()) === want) break;
    if (attempt >= 4) throw new Error(`the folder dialog shows ${await input.inputValue()}${listed ? '' : ` without an entry "${entry}"`}, not ${want}`);
  }
  await widget.locator('.monaco-button', { hasText: new RegExp(`^${button}$`) }).first().click({ timeout: 10_000 });
  await widget.waitFor({ state: 'hidden', timeout: 15_000 });
}

/**
 * The item labels of a file's explorer context menu, read once the item `until` shows (items an
 * extension contributes appear once it is registered; until then this retries with a fresh
 * menu). Leaves the menu open: close it with Escape after any screenshot.
 */
export async function explorerContextMenuLabels(page: Page, fileName: string, until: string, timeoutMs = 30_000): Promise<string[]> {
  const row = await findExplorerItem(page, fileName);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await row.click({ button: 'right' });
    try {
      await page.locator('.monaco-menu .action-item', { hasText: until }).first().waitFor({ timeout: 5000 });
      const labels = await page.locator('.monaco-menu .action-item .action-label').allTextContents();
      return labels.map((l) => l.trim()).filter(Boolean);
    } catch (e) {
      await page.keyboard.press('Escape');
      if (Date.now() > deadline) throw new Error(`explorer context menu of ${fileName} never showed "${until}"`, { cause: e });
      await page.waitForTimeout(500);
    }
  }
}

/**
 * The content of the active webview (a custom editor or panel): VS Code nests it in two iframes.
 * With several webviews open, pass `index` to pick another outer frame.
 */
export function webviewFrame(page: Page, index = 0): FrameLocator {
  return page.locator('iframe.webview.ready').nth(index).contentFrame().frameLocator('#active-frame');
}

/** Saves a full-page PNG to .test-artifacts/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, `${name.replace(/[^A-Za-z0-9._-]+/g, '_')}.png`);
  await page.screenshot({ path: file });
  return file;
}

export interface WithWorkbenchOptions extends Omit<WorkbenchOptions, 'workspace'>, CodeServerOptions {
  /** Files to copy into a fresh workspace (ignored when `workspace` is given). */
  files?: (string | { from: string; name: string })[];
  /** An existing folder to open instead of a fresh copy. */
  workspace?: string;
}

/**
 * Starts code-server, opens the workbench on a workspace and runs `fn`; always cleans up
 * (browser, server process group, temporary workspace). On failure it saves a screenshot
 * `<label>-failure.png` and keeps code-server's logs under .test-artifacts/logs/.
 */
export async function withWorkbench<T>(
  opts: WithWorkbenchOptions,
  fn: (wb: Workbench & { server: CodeServer; workspace: string }) => Promise<T>,
): Promise<T> {
  const label = opts.label ?? 'ui';
  const ownWorkspace = !opts.workspace;
  const workspace = opts.workspace ?? makeWorkspace(opts.files ?? []);
  let server: CodeServer | undefined;
  let wb: Workbench | undefined;
  let failed = true;
  try {
    server = await startCodeServer({ ...opts, label });
    wb = await openWorkbench(server, { ...opts, workspace });
    const result = await fn({ ...wb, server, workspace });
    failed = false;
    return result;
  } finally {
    if (failed && wb) await screenshot(wb.page, `${label}-failure`).catch(() => undefined);
    await wb?.close().catch(() => undefined);
    await server?.stop({ keepLogs: failed });
    if (ownWorkspace) fs.rmSync(workspace, { recursive: true, force: true });
  }
}
