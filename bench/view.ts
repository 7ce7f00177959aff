// The model view in a real VS Code (code-server + headless chromium): milliseconds from the
// double-click on resnet18_bn.onnx in the explorer to the first layer row visible in the
// webview. The first open includes the extension's worker start; the editor is then closed
// and the file opened again, a few times. Target: ≤ 1 s.
// `npm run bench -- view`, or `node --import tsx bench/view.ts`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { codeServerSkipReason, openFileFromExplorer, repoRoot, runPaletteCommand, sampleModel, waitForExtension, webviewFrame, withWorkbench } from '../test/vscode/harness/index.ts';
import { openAndTimeFirstRow } from '../test/ui/model-view-checks.ts';

const resnet = path.join(repoRoot, '..', 'shared', 'models', 'synthetic', 'resnet18_bn.onnx');
const REOPENS = 4;

export async function runViewBench(): Promise<object> {
  const skip = codeServerSkipReason() || (fs.existsSync(resnet) ? false : `${path.relative(repoRoot, resnet)} is absent`);
  if (skip) {
    console.log(`skipped: ${skip}`);
    return { skipped: skip };
  }
  const models = [resnet, sampleModel];
  return withWorkbench({ label: 'bench-view', files: models, viewport: { width: 1280, height: 800 } }, async ({ page }) => {
    await waitForExtension(page, 'ONNX Pruner: Export Layer Widths');
    const out: Record<string, unknown> = { target_ms: 1000 };
    for (const model of models) {
      const name = path.basename(model);
      const times: number[] = [];
      for (let i = 0; i <= REOPENS; i++) {
        times.push(await openAndTimeFirstRow(page, () => openFileFromExplorer(page, name), webviewFrame(page)));
        await runPaletteCommand(page, 'View: Close All Editors');
        await page.locator('iframe.webview').first().waitFor({ state: 'detached', timeout: 30_000 }).catch(() => undefined);
      }
      const again = times.slice(1).sort((a, b) => a - b);
      const median = again[Math.floor(again.length / 2)]!;
      console.log(`${name}: first open ${times[0]!.toFixed(0)} ms, reopened median ${median.toFixed(0)} ms (${again.map((t) => t.toFixed(0)).join(', ')})`);
      out[name] = { first_ms: Math.round(times[0]!), reopen_median_ms: Math.round(median), reopen_ms: again.map(Math.round) };
    }
    return out;
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(__filename)) {
  void runViewBench().then((r) => console.log(JSON.stringify(r)));
}
