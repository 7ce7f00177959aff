// Preview harness for the model view: builds the webview bundle and a fake host, serves a
// page on 127.0.0.1 that looks like a VS Code webview (theme classes and --vscode-* variables)
// and answers the view's requests from fixture data. Used by test/webview/*.test.ts and for
// screenshots:  node --import tsx scripts/webview-preview.ts [--shots [--only=name] [--tmp]] [--fixtures]
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';

const root = path.resolve(__dirname, '..');
export const fixturesDir = path.join(root, 'test', 'webview', 'fixtures');

type Theme = 'light' | 'dark' | 'high-contrast';

const COMMON: Record<string, string> = {
  '--vscode-font-family': '-apple-system, BlinkMacSystemFont, "Segoe WPC", "Segoe UI", "Ubuntu", "Droid Sans", sans-serif',
  '--vscode-font-size': '13px',
  '--vscode-font-weight': 'normal',
  '--vscode-editor-font-family': '"Droid Sans Mono", "monospace", monospace',
  '--vscode-editor-font-size': '14px',
};

/** A subset of the variables VS Code sets on a webview's <html>, from its default themes. */
export const THEMES: Record<Theme, Record<string, string>> = {
  light: {
    '--vscode-foreground': '#3b3b3b', '--vscode-editor-foreground': '#3b3b3b', '--vscode-editor-background': '#ffffff',
    '--vscode-descriptionForeground': '#717171', '--vscode-errorForeground': '#f85149', '--vscode-focusBorder': '#005fb8',
    '--vscode-panel-border': '#e5e5e5', '--vscode-editorWidget-background': '#f8f8f8', '--vscode-editorWidget-border': '#e5e5e5',
    '--vscode-list-hoverBackground': '#f2f2f2', '--vscode-list-inactiveSelectionBackground': '#e4e6f1', '--vscode-list-focusOutline': '#005fb8',
    '--vscode-list-activeSelectionBackground': '#e8e8e8',
    '--vscode-badge-background': '#cccccc', '--vscode-badge-foreground': '#3b3b3b',
    '--vscode-button-background': '#005fb8', '--vscode-button-foreground': '#ffffff', '--vscode-button-hoverBackground': '#0258a8', '--vscode-button-border': '#0000001a',
    '--vscode-button-secondaryBackground': '#e5e5e5', '--vscode-button-secondaryForeground': '#3b3b3b', '--vscode-button-secondaryHoverBackground': '#cccccc',
    '--vscode-input-background': '#ffffff', '--vscode-input-foreground': '#3b3b3b', '--vscode-input-border': '#cecece', '--vscode-input-placeholderForeground': '#767676',
    '--vscode-dropdown-background': '#ffffff', '--vscode-dropdown-foreground': '#3b3b3b', '--vscode-dropdown-border': '#cecece',
    '--vscode-checkbox-background': '#f8f8f8', '--vscode-checkbox-border': '#cecece', '--vscode-checkbox-foreground': '#3b3b3b',
    '--vscode-textLink-foreground': '#005fb8', '--vscode-textLink-activeForeground': '#005fb8',
    '--vscode-textBlockQuote-background': '#f8f8f8', '--vscode-editorWarning-foreground': '#bf8803',
    '--vscode-inputValidation-warningBackground': '#fff8e1', '--vscode-inputValidation-warningBorder': '#bf8803',
    '--vscode-inputValidation-errorBackground': '#fdeaea', '--vscode-progressBar-background': '#005fb8',
    '--vscode-charts-blue': '#1a85ff', '--vscode-charts-red': '#e51400', '--vscode-charts-orange': '#d18616', '--vscode-charts-green': '#388a34',
    '--vscode-charts-foreground': '#616161', '--vscode-charts-lines': 'rgba(97, 97, 97, 0.5)', '--vscode-scrollbarSlider-background': 'rgba(100, 100, 100, 0.4)',
    '--vscode-settings-dropdownListBorder': '#cecece', '--vscode-quickInput-background': '#f8f8f8', '--vscode-list-activeSelectionForeground': '#000000',
    '--vscode-settings-textInputBackground': '#ffffff', '--vscode-settings-textInputForeground': '#3b3b3b', '--vscode-settings-textInputBorder': '#cecece',
    '--vscode-settings-dropdownBackground': '#ffffff', '--vscode-settings-dropdownForeground': '#3b3b3b', '--vscode-settings-dropdownBorder': '#cecece',
    '--vscode-settings-checkboxBackground': '#f8f8f8', '--vscode-settings-checkboxForeground': '#3b3b3b', '--vscode-settings-checkboxBorder': '#cecece',
    '--vscode-widget-shadow': 'rgba(0, 0, 0, 0.16)', '--vscode-list-hoverForeground': '#3b3b3b', '--vscode-list-highlightForeground': '#0066bf',
  },
  dark: {
    '--vscode-foreground': '#cccccc', '--vscode-editor-foreground': '#cccccc', '--vscode-editor-background': '#1f1f1f',
    '--vscode-descriptionForeground': '#9d9d9d', '--vscode-errorForeground': '#f85149', '--vscode-focusBorder': '#0078d4',
    '--vscode-panel-border': '#2b2b2b', '--vscode-editorWidget-background': '#202020', '--vscode-editorWidget-border': '#454545',
    '--vscode-list-hoverBackground': '#2a2d2e', '--vscode-list-inactiveSelectionBackground': '#37373d', '--vscode-list-focusOutline': '#0078d4',
    '--vscode-list-activeSelectionBackground': '#04395e',
    '--vscode-badge-background': '#616161', '--vscode-badge-foreground': '#f8f8f8',
    '--vscode-button-background': '#0078d4', '--vscode-button-foreground': '#ffffff', '--vscode-button-hoverBackground': '#026ec1', '--vscode-button-border': '#ffffff12',
    '--vscode-button-secondaryBackground': '#313131', '--vscode-button-secondaryForeground': '#cccccc', '--vscode-button-secondaryHoverBackground': '#3c3c3c',
    '--vscode-input-background': '#313131', '--vscode-input-foreground': '#cccccc', '--vscode-input-border': '#3c3c3c', '--vscode-input-placeholderForeground': '#989898',
    '--vscode-dropdown-background': '#313131', '--vscode-dropdown-foreground': '#cccccc', '--vscode-dropdown-border': '#3c3c3c',
    '--vscode-checkbox-background': '#313131', '--vscode-checkbox-border': '#3c3c3c', '--vscode-checkbox-foreground': '#cccccc',
    '--vscode-textLink-foreground': '#4daafc', '--vscode-textLink-activeForeground': '#4daafc',
    '--vscode-textBlockQuote-background': '#2b2b2b', '--vscode-editorWarning-foreground': '#cca700',
    '--vscode-inputValidation-warningBackground': '#352a05', '--vscode-inputValidation-warningBorder': '#b89500',
    '--vscode-inputValidation-errorBackground': '#5a1d1d', '--vscode-progressBar-background': '#0078d4',
    '--vscode-charts-blue': '#3794ff', '--vscode-charts-red': '#f14c4c', '--vscode-charts-orange': '#d18616', '--vscode-charts-green': '#89d185',
    '--vscode-charts-foreground': '#cccccc', '--vscode-charts-lines': 'rgba(204, 204, 204, 0.5)', '--vscode-scrollbarSlider-background': 'rgba(121, 121, 121, 0.4)',
    '--vscode-settings-dropdownListBorder': '#454545', '--vscode-quickInput-background': '#222222', '--vscode-list-activeSelectionForeground': '#ffffff',
    '--vscode-settings-textInputBackground': '#313131', '--vscode-settings-textInputForeground': '#cccccc', '--vscode-settings-textInputBorder': '#3c3c3c',
    '--vscode-settings-dropdownBackground': '#313131', '--vscode-settings-dropdownForeground': '#cccccc', '--vscode-settings-dropdownBorder': '#3c3c3c',
    '--vscode-settings-checkboxBackground': '#313131', '--vscode-settings-checkboxForeground': '#cccccc', '--vscode-settings-checkboxBorder': '#3c3c3c',
    '--vscode-widget-shadow': 'rgba(0, 0, 0, 0.36)', '--vscode-list-hoverForeground': '#cccccc', '--vscode-list-highlightForeground': '#2aaaff',
  },
  'high-contrast': {
    '--vscode-foreground': '#ffffff', '--vscode-editor-foreground': '#ffffff', '--vscode-editor-background': '#000000',
    '--vscode-descriptionForeground': 'rgba(255, 255, 255, 0.7)', '--vscode-errorForeground': '#f48771', '--vscode-focusBorder': '#f38518',
    '--vscode-contrastBorder': '#6fc3df', '--vscode-contrastActiveBorder': '#f38518',
    '--vscode-panel-border': '#6fc3df', '--vscode-editorWidget-background': '#0c141f', '--vscode-editorWidget-border': '#6fc3df',
    '--vscode-list-hoverBackground': 'transparent', '--vscode-list-inactiveSelectionBackground': 'transparent', '--vscode-list-focusOutline': '#f38518',
    '--vscode-badge-background': '#000000', '--vscode-badge-foreground': '#ffffff',
    '--vscode-button-background': '#000000', '--vscode-button-foreground': '#ffffff', '--vscode-button-border': '#6fc3df',
    '--vscode-button-secondaryBackground': '#000000', '--vscode-button-secondaryForeground': '#ffffff',
    '--vscode-input-background': '#000000', '--vscode-input-foreground': '#ffffff', '--vscode-input-border': '#6fc3df',
    '--vscode-dropdown-background': '#000000', '--vscode-dropdown-foreground': '#ffffff', '--vscode-dropdown-border': '#6fc3df',
    '--vscode-checkbox-background': '#000000', '--vscode-checkbox-border': '#6fc3df', '--vscode-checkbox-foreground': '#ffffff',
    '--vscode-textLink-foreground': '#21a6ff', '--vscode-textLink-activeForeground': '#21a6ff',
    '--vscode-textBlockQuote-background': 'transparent', '--vscode-editorWarning-foreground': '#ffd370',
    '--vscode-inputValidation-warningBackground': '#000000', '--vscode-inputValidation-warningBorder': '#6fc3df',
    '--vscode-inputValidation-errorBackground': '#000000', '--vscode-progressBar-background': '#6fc3df',
    '--vscode-charts-blue': '#3794ff', '--vscode-charts-red': '#f14c4c', '--vscode-charts-orange': '#ffd370', '--vscode-charts-green': '#89d185',
    '--vscode-charts-foreground': '#ffffff', '--vscode-charts-lines': 'rgba(255, 255, 255, 0.5)',
    '--vscode-settings-textInputBackground': '#000000', '--vscode-settings-textInputForeground': '#ffffff', '--vscode-settings-textInputBorder': '#6fc3df',
    '--vscode-settings-dropdownBackground': '#000000', '--vscode-settings-dropdownForeground': '#ffffff', '--vscode-settings-dropdownBorder': '#6fc3df',
    '--vscode-settings-checkboxBackground': '#000000', '--vscode-settings-checkboxForeground': '#ffffff', '--vscode-settings-checkboxBorder': '#6fc3df',
    '--vscode-settings-dropdownListBorder': '#6fc3df', '--vscode-list-activeSelectionBackground': 'transparent', '--vscode-list-activeSelectionForeground': '#ffffff',
  },
};

const BODY_CLASS: Record<Theme, string> = { light: 'vscode-light', dark: 'vscode-dark', 'high-contrast': 'vscode-high-contrast' };

/** The page, as VS Code would frame it: variables on <html>, theme class on <body>. */
export function pageHtml(fixture: string, theme: Theme, data?: unknown): string {
  const vars = { ...COMMON, ...THEMES[theme] };
  const style = Object.entries(vars).map(([k, v]) => `${k}: ${v};`).join(' ');
  const json = (data !== undefined ? JSON.stringify(data) : fs.readFileSync(path.join(fixturesDir, `${fixture}.json`), 'utf8')).replace(/</g, '\\u003c');
  return `<!DOCTYPE html>
<html lang="en" style='${style}'>
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="/dist/codicon.css" id="vscode-codicon-stylesheet">
<style>
  html { scrollbar-color: var(--vscode-scrollbarSlider-background) transparent; }
  body { margin: 0; padding: 0 20px; background: var(--vscode-editor-background); color: var(--vscode-foreground);
    font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); font-weight: var(--vscode-font-weight); }
</style>
<title>${fixture}</title>
</head>
<body class="${BODY_CLASS[theme]}" data-vscode-theme-kind="${BODY_CLASS[theme]}">
<script type="application/json" id="fixture">${json}</script>
<script src="/fake-host.js"></script>
<onnx-model-view></onnx-model-view>
<script type="module" src="/dist/webview.js"></script>
</body>
</html>`;
}

export interface Preview {
  url: string;
  /** The page for a fixture and theme, with extra query options for the fake host. */
  page(opts?: { fixture?: string; theme?: Theme; query?: Record<string, string | number> }): string;
  close(): Promise<void>;
}

/**
 * Builds the bundles into a temporary folder and serves them on 127.0.0.1 (a free port). `fixtures`
 * adds fixtures by name (made at run time, e.g. from the real worker on a model built in code).
 */
export async function startPreview(opts: { fixtures?: Record<string, unknown> } = {}): Promise<Preview> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-pruner-preview-'));
  const dist = path.join(out, 'dist');
  await Promise.all([
    esbuild.build({ bundle: true, platform: 'browser', format: 'esm', target: 'es2022', sourcemap: true, minify: true, entryPoints: { webview: path.join(root, 'src/webview/main.ts') }, outdir: dist, logLevel: 'warning' }),
    esbuild.build({ bundle: true, platform: 'browser', format: 'iife', target: 'es2022', entryPoints: { 'fake-host': path.join(root, 'test/webview/fake-host.ts') }, outdir: out, logLevel: 'warning' }),
  ]);
  for (const f of ['codicon.css', 'codicon.ttf']) fs.copyFileSync(path.join(root, 'node_modules/@vscode/codicons/dist', f), path.join(dist, f));
  const types: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.ttf': 'font/ttf', '.map': 'application/json' };
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (u.pathname === '/' || u.pathname === '/index.html') {
      const fixture = u.searchParams.get('fixture') ?? 'fmnist_bn';
      const theme = (u.searchParams.get('theme') ?? 'light') as Theme;
      if (!/^[\w-]+$/.test(fixture) || !(theme in THEMES)) {
        res.writeHead(400).end('bad fixture or theme');
        return;
      }
      const given = opts.fixtures && Object.hasOwn(opts.fixtures, fixture) ? opts.fixtures[fixture] : undefined;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(pageHtml(fixture, theme, given));
      return;
    }
    if (u.pathname === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    const file = path.join(out, path.normalize(u.pathname).replace(/^[/\\]+/, ''));
    if (!file.startsWith(out) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}/`;
  return {
    url,
    page(opts = {}) {
      const qs = new URLSearchParams({ fixture: opts.fixture ?? 'fmnist_bn', theme: opts.theme ?? 'light' });
      for (const [k, v] of Object.entries(opts.query ?? {})) qs.set(k, String(v));
      return `${url}?${qs}`;
    },
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
      fs.rmSync(out, { recursive: true, force: true });
    }),
  };
}

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const CHROMIUM = process.env.ONNX_PRUNER_CHROMIUM ?? process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Regenerates the fixtures from real models: the Fashion-MNIST sample (always) and ResNet-18
 * from the shared model folder when it is there (ONNX_PRUNER_SHARED_MODELS or ../shared/models).
 */
async function writeFixtures(): Promise<void> {
  const { buildFixture } = await import('../test/webview/fixture.ts');
  const shared = process.env.ONNX_PRUNER_SHARED_MODELS ?? path.resolve(root, '..', 'shared', 'models');
  const sources: [string, string][] = [['fmnist_bn', path.join(root, 'samples/fmnist/fmnist_bncnn_sparse_bn.onnx')], ['resnet18_bn', path.join(shared, 'synthetic/resnet18_bn.onnx')]];
  const round = (_k: string, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(5)) : v);
  for (const [name, file] of sources) {
    if (!fs.existsSync(file)) {
      console.log(`${name}: ${file} not found, kept as it is`);
      continue;
    }
    const f = buildFixture(file);
    f.summary.file = `models/${f.summary.fileName}`;
    fs.writeFileSync(path.join(fixturesDir, `${name}.json`), JSON.stringify(f, round));
    console.log(`${name}: ${f.layers.length} layers from ${path.basename(file)}`);
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--fixtures')) return writeFixtures();
  const preview = await startPreview();
  if (process.argv.includes('--shots')) {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ headless: true, executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const dir = path.join(root, 'media', 'screenshots');
    fs.mkdirSync(dir, { recursive: true });
    const shots: { name: string; width: number; height: number; theme: Theme; fixture: string; query?: Record<string, string | number>; act?: (p: import('playwright-core').Page) => Promise<void> }[] = [
      { name: 'model-view-dark-1280', width: 1280, height: 800, theme: 'dark', fixture: 'resnet18_bn' },
      { name: 'model-view-light-1280', width: 1280, height: 800, theme: 'light', fixture: 'resnet18_bn' },
      { name: 'model-view-dark-500', width: 500, height: 900, theme: 'dark', fixture: 'resnet18_bn' },
      { name: 'model-view-light-500', width: 500, height: 900, theme: 'light', fixture: 'resnet18_bn' },
      { name: 'model-view-hc-1280', width: 1280, height: 800, theme: 'high-contrast', fixture: 'resnet18_bn' },
      {
        name: 'layer-expanded-dark', width: 1280, height: 800, theme: 'dark', fixture: 'resnet18_bn',
        act: async (p) => {
          await p.locator('layer-table .body .row[data-index="1"] .twisty').click();
          await p.locator('layer-detail canvas').waitFor();
          await p.evaluate(() => document.querySelector('onnx-model-view')!.shadowRoot!.querySelector('layer-table')!.scrollIntoView());
        },
      },
      { name: 'pruned-compare-dark', width: 1280, height: 800, theme: 'dark', fixture: 'fmnist_bn', query: { pruned: 1 } },
      {
        name: 'report-light', width: 1280, height: 800, theme: 'light', fixture: 'resnet18_bn', query: { pruneMs: 200 },
        act: async (p) => {
          await p.locator('plan-panel vscode-button', { hasText: 'Prune' }).click();
          await p.locator('plan-panel div.report').waitFor();
          await p.locator('plan-panel div.report vscode-button').first().scrollIntoViewIfNeeded();
        },
      },
    ];
    const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7);
    for (const s of shots) {
      if (only && !s.name.includes(only)) continue;
      const page = await browser.newPage({ viewport: { width: s.width, height: s.height } });
      page.on('pageerror', (e) => console.error(`${s.name}: page error: ${e.message}`));
      page.on('console', (m) => { if (m.type() === 'error') console.error(`${s.name}: ${m.text()}`); });
      page.on('response', (r) => { if (r.status() >= 400) console.error(`${s.name}: ${r.status()} ${r.url()}`); });
      await page.goto(preview.page({ fixture: s.fixture, theme: s.theme, query: s.query }));
      await page.locator('layer-table .count', { hasText: /^\d[\d,]* layers?/ }).waitFor();
      await page.locator('plan-panel .preview').waitFor();
      await s.act?.(page);
      await page.waitForTimeout(300);
      const file = path.join(process.argv.includes('--tmp') ? os.tmpdir() : dir, `${s.name}.png`);
      await page.screenshot({ path: file });
      console.log(file);
      await page.close();
    }
    await browser.close();
    await preview.close();
    return;
  }
  console.log(`Model view preview: ${preview.page()} (Ctrl+C to stop)`);
  console.log(`Options: fixture=${fs.readdirSync(fixturesDir).map((f) => f.replace(/\.json$/, '')).join('|')} theme=light|dark|high-contrast delay fail empty frozen pruned scale pruneMs`);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
