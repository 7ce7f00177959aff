// Runs the extension-host mocha suite (out/test/suite/index.js) inside code-server's Node
// extension host: the workbench is opened with `extensionTestsPath` in its payload and reports
// the end of the run through `codeAutomationExit(code)`; the host's console (mocha's reporter)
// arrives through `codeAutomationLog`. The suite's loader also writes a JSON result file named
// by ONNX_PRUNER_MOCHA_RESULTS, read back here for exact counts.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startCodeServer } from './codeServer.ts';
import { repoRoot, sampleModel, suiteIndex } from './env.ts';
import { makeWorkspace, openWorkbench, screenshot } from './workbench.ts';

/** What the suite loader (test/vscode/suite/index.ts) writes when mocha finishes. */
export interface MochaResults {
  passed: number;
  failed: number;
  pending: number;
  failures: { title: string; error: string }[];
}

export interface ExtensionTestRun {
  /** 0 when every test passed. */
  code: number;
  results?: MochaResults;
  /** Everything the extension host logged during the run. */
  log: string[];
}

export interface ExtensionTestOptions {
  extensionPath?: string;
  testsPath?: string;
  /** Folder to open; default: a fresh copy of the fmnist sample models. */
  workspace?: string;
  /** Mocha `--grep` for the suite (ONNX_PRUNER_MOCHA_GREP). */
  grep?: string;
  timeoutMs?: number;
  /** Print the extension host's log lines as they arrive. Default true. */
  echo?: boolean;
}

/** Runs the compiled extension-host suite in code-server + headless chromium. */
export async function runExtensionTestsInCodeServer(opts: ExtensionTestOptions = {}): Promise<ExtensionTestRun> {
  const extensionPath = opts.extensionPath ?? repoRoot;
  const testsPath = opts.testsPath ?? suiteIndex;
  if (!fs.existsSync(testsPath)) throw new Error(`${testsPath} missing: run node scripts/build-tests.mjs`);
  const ownWorkspace = !opts.workspace;
  const fused = path.join(path.dirname(sampleModel), 'fmnist_bncnn_sparse_fused.onnx');
  const workspace = opts.workspace ?? makeWorkspace([sampleModel, ...(fs.existsSync(fused) ? [fused] : [])]);
  const resultsDir = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), 'onnx-pruner-mocha-'));
  const resultsFile = path.join(resultsDir, 'results.json');
  const log: string[] = [];
  const env: Record<string, string> = { ONNX_PRUNER_MOCHA_RESULTS: resultsFile, ONNX_PRUNER_TEST_HOST: 'code-server' };
  if (opts.grep) env.ONNX_PRUNER_MOCHA_GREP = opts.grep;
  const server = await startCodeServer({ label: 'extension-tests', env });
  let ok = false;
  try {
    let resolveExit!: (c: number) => void;
    const exited = new Promise<number>((r) => (resolveExit = r));
    const wb = await openWorkbench(server, {
      workspace,
      extensionPath,
      extensionTestsPath: testsPath,
      onAutomationExit: resolveExit,
      onAutomationLog: (_type, text) => {
        for (const line of text.replace(/\n$/, '').split('\n')) {
          log.push(line);
          if (opts.echo !== false) console.log(`  ${line}`);
        }
      },
    });
    let code: number;
    try {
      const timeoutMs = opts.timeoutMs ?? 15 * 60_000;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<number>((r) => (timer = setTimeout(() => r(-1), timeoutMs)));
      code = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (code === -1) {
        await screenshot(wb.page, 'extension-tests-timeout').catch(() => undefined);
        log.push(`extension tests did not finish within ${timeoutMs} ms`);
        code = 1;
      }
    } finally {
      await wb.close().catch(() => undefined);
    }
    let results: MochaResults | undefined;
    try {
      results = JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as MochaResults;
    } catch {
      // the loader never got to write it (load error, crash): the exit code decides
    }
    ok = code === 0;
    return { code, results, log };
  } finally {
    await server.stop({ keepLogs: !ok });
    if (ownWorkspace) fs.rmSync(workspace, { recursive: true, force: true });
    fs.rmSync(resultsDir, { recursive: true, force: true });
  }
}
