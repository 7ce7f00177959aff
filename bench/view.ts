// The model view in a real VS Code (code-server + headless chromium): milliseconds from the
// double-click on resnet18_bn.onnx in the explorer to the first layer row visible in the
// webview. The first open includes the extension's worker start; the editor is then closed
// and the file opened again, a few times. Target: ≤ 1 s.
// `npm run bench -- view`, or `node --import tsx bench/view.ts`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { codeServerSkipReason, openFileFromExplorer, repoRoot, runPaletteCommand, sampleModel, waitForExtension, webviewFrame, withWorkbench } from '../test/vscode/harness/index.ts';
import { openAndTime, type OpenTimes } from '../test/ui/model-view-checks.ts';

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
      const runs: OpenTimes[] = [];
      for (let i = 0; i <= REOPENS; i++) {
        runs.push(await openAndTime(page, () => openFileFromExplorer(page, name), webviewFrame(page), name));
        await runPaletteCommand(page, 'View: Close All Editors');
        await page.locator('iframe.webview').first().waitFor({ state: 'detached', timeout: 30_000 }).catch(() => undefined);
      }
      const med = (k: Exclude<keyof OpenTimes, 'marks'>) => {
        const v = runs.slice(1).map((r) => r[k]).sort((a, b) => a - b);
        return Math.round(v[Math.floor(v.length / 2)]!);
      };
      const r0 = runs[0]!;
      const first = { tab: Math.round(r0.tab), webview: Math.round(r0.webview), summary: Math.round(r0.summary), firstRow: Math.round(r0.firstRow), firstRowMark: Math.round(r0.firstRowMark) };
      const again = { tab: med('tab'), webview: med('webview'), summary: med('summary'), firstRow: med('firstRow'), firstRowMark: med('firstRowMark') };
      console.log(`${name}: first open → first row seen ${first.firstRow} ms, painted (webview mark) ${first.firstRowMark} ms (tab ${first.tab}, webview ${first.webview}, summary ${first.summary}); ` +
        `reopened, median of ${REOPENS}: seen ${again.firstRow} ms, painted ${again.firstRowMark} ms (tab ${again.tab}, webview ${again.webview}, summary ${again.summary})`);
      console.log(`  webview marks, first open: ${JSON.stringify(runs[0]!.marks)}; last reopen: ${JSON.stringify(runs[runs.length - 1]!.marks)}`);
      out[name] = { first_ms: first, reopen_median_ms: again, reopen_first_row_ms: runs.slice(1).map((r) => Math.round(r.firstRow)) };
    }
    return out;
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(__filename)) {
  void runViewBench().then((r) => console.log(JSON.stringify(r)));
}
