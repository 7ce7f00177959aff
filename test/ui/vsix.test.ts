// The packaged extension: scripts/package.sh builds the linux-x64 VSIX, which is checked for its
// contents, installed into a fresh code-server (its own extensions folder, no development
// extension) and used: the sample opens in the model view, which prunes and validates in
// ONNX Runtime from the VSIX's own onnxruntime-node.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import {
  codeServerBinary, makeWorkspace, openFileFromExplorer, openWorkbench, repoRoot, sampleModel, screenshot,
  skipWithoutCodeServer, startCodeServer, waitForExtension, webviewFrame, type CodeServer, type Workbench,
} from '../vscode/harness/index.ts';

const target = `${process.platform}-${process.arch}`;
const skip = skipWithoutCodeServer || (target !== 'linux-x64' ? `VSIX install test runs on linux-x64 (this is ${target})` : false);

test('the linux-x64 VSIX installs into code-server and works', { skip, timeout: 240_000 }, async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-pruner-vsix-'));
  let server: CodeServer | undefined;
  let wb: Workbench | undefined;
  let failed = true;
  const workspace = makeWorkspace([sampleModel], 'onnx-pruner-vsix-ws-');
  try {
    // 1. Package.
    execFileSync('bash', [path.join(repoRoot, 'scripts', 'package.sh'), target], { cwd: repoRoot, env: { ...process.env, VSIX_OUT: out }, stdio: ['ignore', 'pipe', 'inherit'] });
    const vsixes = fs.readdirSync(out).filter((f) => f.endsWith('.vsix'));
    assert.deepEqual(vsixes.length, 1, vsixes.join(', '));
    const vsix = path.join(out, vsixes[0]!);
    assert.match(vsixes[0]!, new RegExp(`^onnx-pruner-${target}-\\d+\\.\\d+\\.\\d+\\.vsix$`));
    const mb = fs.statSync(vsix).size / 2 ** 20;
    assert.ok(mb < 40, `VSIX is ${mb.toFixed(1)} MB`);

    // 2. Its contents: the bundles and only this platform's ONNX Runtime; no sources, tests, samples or maps.
    const listing = execFileSync('unzip', ['-Z1', vsix], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const f of ['extension/package.json', 'extension/readme.md', 'extension/LICENSE.txt', 'extension/dist/extension.js', 'extension/dist/worker.js', 'extension/dist/webview.js']) {
      assert.ok(listing.includes(f), `${f} in the VSIX`);
    }
    assert.ok(listing.some((f) => f.startsWith(`extension/dist/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/`)), 'linux-x64 binaries');
    assert.ok(listing.includes('extension/dist/node_modules/onnxruntime-common/package.json'), 'onnxruntime-common');
    const unwanted = listing.filter((f) => /^extension\/(src|test|samples|bench|scripts|out)\//.test(f) || f.endsWith('.map') || f.endsWith('.ts') ||
      (/onnxruntime-node\/bin\//.test(f) && !f.includes('/linux/x64/')));
    assert.deepEqual(unwanted, [], 'nothing else in the VSIX');

    // 3. Install it into a fresh code-server's extensions folder.
    server = await startCodeServer({ label: 'vsix' });
    const extDir = path.join(server.runDir, 'ext');
    execFileSync(codeServerBinary()!, ['--install-extension', vsix, '--extensions-dir', extDir, '--user-data-dir', path.join(server.runDir, 'data')], {
      env: { ...process.env, XDG_CONFIG_HOME: path.join(server.runDir, 'xdg-config'), XDG_DATA_HOME: path.join(server.runDir, 'xdg-data') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const installed = fs.readdirSync(extDir).filter((d) => d.startsWith('onnx-pruner.onnx-pruner-'));
    assert.equal(installed.length, 1, `installed: ${fs.readdirSync(extDir).join(', ')}`);

    // 4. Use it: no extension under development, only the installed one.
    wb = await openWorkbench(server, { workspace, extensionPath: null });
    const { page } = wb;
    await waitForExtension(page, 'ONNX Pruner: Export Layer Widths', 90_000);
    await openFileFromExplorer(page, path.basename(sampleModel));
    const view = webviewFrame(page);
    await view.locator('[data-metric="params"]').waitFor({ timeout: 60_000 });
    const layers = Number(await view.locator('[data-metric="layers"]').textContent());
    assert.ok(layers > 0, `${layers} layers`);
    await view.locator('layer-table .body .row[data-layer]').first().waitFor({ timeout: 30_000 });
    await screenshot(page, 'vsix-model-view');

    // Prune with validation: ONNX Runtime runs from the VSIX.
    await view.locator('plan-panel vscode-button', { hasText: 'Prune' }).click();
    const report = view.locator('plan-panel div.report');
    await report.waitFor({ timeout: 120_000 });
    const text = (await report.textContent()) ?? '';
    assert.match(text, /Wrote .*\.onnx/);
    assert.match(text, /Validated on (CPU|CUDA)/);
    const written = fs.readdirSync(workspace).filter((f) => /\.pruned(-\d+)?\.onnx$/.test(f));
    assert.equal(written.length, 1, written.join(', '));
    await screenshot(page, 'vsix-pruned');
    failed = false;
  } finally {
    if (failed && wb) await screenshot(wb.page, 'vsix-failure').catch(() => undefined);
    await wb?.close().catch(() => undefined);
    await server?.stop({ keepLogs: failed });
    fs.rmSync(out, { recursive: true, force: true });
    fs.rmSync(workspace, { recursive: true, force: true });
  }
});
