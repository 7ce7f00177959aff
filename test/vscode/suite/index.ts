// The extension-host test loader: VS Code (desktop via @vscode/test-electron, or code-server)
// loads this module from `extensionTestsPath` and awaits `run()`. It runs every compiled
// `*.test.js` beside it (scripts/build-tests.mjs bundles test/vscode/suite/**/*.test.ts into
// out/test/suite/) with mocha's BDD interface (describe/it).
//
// Environment: ONNX_PRUNER_MOCHA_GREP filters tests by title; ONNX_PRUNER_MOCHA_RESULTS names
// a JSON file that receives { passed, failed, pending, failures } for the runner.
import * as fs from 'node:fs';
import * as path from 'node:path';

interface Failure {
  title: string;
  error: string;
}

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...findTests(p));
    else if (e.name.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

export async function run(): Promise<void> {
  // mocha is ESM from version 11 on: a dynamic import works in every extension host.
  const mod = (await import('mocha')) as unknown as { default: typeof import('mocha') };
  const Mocha = mod.default;
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 60_000, reporter: 'spec' });
  if (process.env.ONNX_PRUNER_MOCHA_GREP) mocha.grep(process.env.ONNX_PRUNER_MOCHA_GREP);
  for (const f of findTests(__dirname)) mocha.addFile(f);
  await mocha.loadFilesAsync();

  const failures: Failure[] = [];
  const counts = await new Promise<{ passed: number; failed: number; pending: number }>((resolve) => {
    const runner = mocha.run(() => {
      const s = runner.stats;
      resolve({ passed: s?.passes ?? 0, failed: s?.failures ?? failures.length, pending: s?.pending ?? 0 });
    });
    runner.on('fail', (test, err: Error) => {
      failures.push({ title: test.fullTitle(), error: String(err?.stack ?? err) });
    });
  });
  const resultsFile = process.env.ONNX_PRUNER_MOCHA_RESULTS;
  if (resultsFile) fs.writeFileSync(resultsFile, JSON.stringify({ ...counts, failures }, null, 2));
  console.log(`mocha: ${counts.passed} passing, ${counts.failed} failing, ${counts.pending} pending`);
  if (counts.failed > 0) throw new Error(`${counts.failed} extension test(s) failed`);
}
