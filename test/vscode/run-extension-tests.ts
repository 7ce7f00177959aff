// Runs the extension-host mocha suite (compiled by scripts/build-tests.mjs) in a real VS Code:
//   - VS Code desktop through @vscode/test-electron when it can be downloaded
//     (ONNX_PRUNER_TEST_ELECTRON=1 requires it; =0 never tries; unset: try with a short timeout);
//   - otherwise code-server's Node extension host, driven by headless chromium.
// Prints which host ran, then a line `extension-host (<host>): N passed, M failed, K skipped`
// (read by scripts/test.sh), and exits 0 only when every test passed.
//
// Usage: node --import tsx test/vscode/run-extension-tests.ts [--grep <pattern>]
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { codeServerSkipReason, repoRoot, sampleModel, suiteIndex } from './harness/env.ts';
import { makeWorkspace } from './harness/workbench.ts';
import { runExtensionTestsInCodeServer, type MochaResults } from './harness/extensionTests.ts';

const SKIP_EXIT = 3;

function report(host: string, r: MochaResults | undefined, code: number): never {
  const passed = r?.passed ?? 0;
  // A run that failed without results (load error, crash) counts as one failure.
  const failed = r ? r.failed : code === 0 ? 0 : 1;
  for (const f of r?.failures ?? []) console.log(`  FAILED: ${f.title}\n    ${f.error.split('\n').slice(0, 6).join('\n    ')}`);
  console.log(`extension-host (${host}): ${passed} passed, ${failed} failed, ${r?.pending ?? 0} skipped`);
  process.exit(code === 0 && failed === 0 ? 0 : 1);
}

/** Tries VS Code desktop; returns undefined when it cannot be downloaded or started here. */
async function tryElectron(grep: string | undefined, required: boolean): Promise<{ code: number; results?: MochaResults } | undefined> {
  const { downloadAndUnzipVSCode, runTests } = await import('@vscode/test-electron');
  let vscodeExecutablePath: string;
  try {
    const cachePath = path.join(repoRoot, '.cache', 'vscode-test');
    vscodeExecutablePath = await downloadAndUnzipVSCode({ cachePath, timeout: required ? 60_000 : 15_000 });
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    if (required) throw new Error(`VS Code desktop download failed: ${msg}`, { cause: e });
    console.log(`VS Code desktop could not be downloaded (${msg}): using code-server`);
    return undefined;
  }
  // VS Code desktop needs a display: on a headless Linux use Xvfb when it is installed.
  let xvfb: ChildProcess | undefined;
  if (process.platform === 'linux' && !process.env.DISPLAY) {
    const display = `:${90 + (process.pid % 9)}`;
    xvfb = spawn('Xvfb', [display, '-screen', '0', '1400x900x24', '-nolisten', 'tcp'], { detached: true, stdio: 'ignore' });
    const started = await new Promise<boolean>((resolve) => {
      xvfb!.once('error', () => resolve(false));
      setTimeout(() => resolve(xvfb!.exitCode === null), 1500);
    });
    if (!started) {
      if (required) throw new Error('VS Code desktop needs a display: no DISPLAY and Xvfb could not start');
      console.log('VS Code desktop needs a display (no DISPLAY, no Xvfb): using code-server');
      return undefined;
    }
    process.env.DISPLAY = display;
  }
  const workspace = makeWorkspace([sampleModel]);
  const resultsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-pruner-mocha-'));
  const resultsFile = path.join(resultsDir, 'results.json');
  try {
    const launchArgs = [workspace, '--disable-extensions', '--disable-workspace-trust', '--skip-welcome'];
    if (process.getuid?.() === 0) launchArgs.push('--no-sandbox', '--user-data-dir', path.join(resultsDir, 'user-data'));
    let code: number;
    try {
      code = await runTests({
        vscodeExecutablePath,
        extensionDevelopmentPath: repoRoot,
        extensionTestsPath: suiteIndex,
        launchArgs,
        extensionTestsEnv: {
          ONNX_PRUNER_MOCHA_RESULTS: resultsFile,
          ONNX_PRUNER_TEST_HOST: 'electron',
          ...(grep ? { ONNX_PRUNER_MOCHA_GREP: grep } : {}),
        },
      });
    } catch (e) {
      code = typeof e === 'number' ? e : 1;
      if (!fs.existsSync(resultsFile) && !required) {
        console.log(`VS Code desktop did not run the suite (${String(e)}): using code-server`);
        return undefined;
      }
    }
    let results: MochaResults | undefined;
    try {
      results = JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as MochaResults;
    } catch {
      // no results written: the exit code decides
    }
    return { code, results };
  } finally {
    if (xvfb?.pid) {
      try {
        process.kill(-xvfb.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    fs.rmSync(workspace, { recursive: true, force: true });
    fs.rmSync(resultsDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const gi = process.argv.indexOf('--grep');
  const grep = gi > 0 ? process.argv[gi + 1] : undefined;
  if (!fs.existsSync(suiteIndex)) {
    console.error(`${path.relative(repoRoot, suiteIndex)} missing: run node scripts/build-tests.mjs first`);
    process.exit(1);
  }
  const electron = process.env.ONNX_PRUNER_TEST_ELECTRON;
  if (electron !== '0') {
    const r = await tryElectron(grep, electron === '1');
    if (r) report('vscode-electron', r.results, r.code);
  }
  const skip = codeServerSkipReason();
  if (skip) {
    console.log(`extension-host tests skipped: ${skip}`);
    process.exit(SKIP_EXIT);
  }
  console.log('extension host: code-server');
  const r = await runExtensionTestsInCodeServer({ grep });
  if (r.code !== 0 && !r.results) console.log(r.log.slice(-30).join('\n'));
  report('code-server', r.results, r.code);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack : e);
  console.log('extension-host (error): 0 passed, 1 failed, 0 skipped');
  process.exit(1);
});
