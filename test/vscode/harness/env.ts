// Where the VS Code test tools live on this machine, and why a stage must be skipped when they don't.
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The repository root (the extension's folder: extensionDevelopmentPath). This file is
 * test/vscode/harness/env.ts; `__dirname` exists when it is loaded as CommonJS (tsx, bundles),
 * otherwise the root is found above the working directory.
 */
export const repoRoot: string = typeof __dirname === 'string'
  ? path.resolve(__dirname, '..', '..', '..')
  : findRoot(process.cwd());

function findRoot(from: string): string {
  for (let d = from; ; d = path.dirname(d)) {
    try {
      if (JSON.parse(fs.readFileSync(path.join(d, 'package.json'), 'utf8')).name === 'onnx-pruner') return d;
    } catch {
      // no package.json here
    }
    if (path.dirname(d) === d) return from;
  }
}
/** Screenshots, logs of failed runs and other test outputs (git-ignored). */
export const artifactsDir = path.join(repoRoot, '.test-artifacts');
/** Where scripts/setup-vscode-test-env.sh installs code-server. */
export const codeServerCache = path.join(repoRoot, '.cache', 'code-server');
/** The compiled extension-host mocha loader (scripts/build-tests.mjs writes it). */
export const suiteIndex = path.join(repoRoot, 'out', 'test', 'suite', 'index.js');
/** The sample model every UI test can open. */
export const sampleModel = path.join(repoRoot, 'samples', 'fmnist', 'fmnist_bncnn_sparse_bn.onnx');

function executable(p: string | undefined): p is string {
  if (!p) return false;
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, name);
    if (dir && executable(p)) return p;
  }
  return undefined;
}

/** code-server's launcher: `ONNX_PRUNER_CODE_SERVER`, the repo cache, or `code-server` on PATH. */
export function codeServerBinary(): string | undefined {
  const candidates = [
    process.env.ONNX_PRUNER_CODE_SERVER,
    path.join(codeServerCache, 'node_modules', '.bin', 'code-server'),
  ];
  return candidates.find(executable) ?? onPath('code-server');
}

/** A Chromium for Playwright: `ONNX_PRUNER_CHROMIUM`, Debian's chromium, or google-chrome. */
export function chromiumBinary(): string | undefined {
  if (executable(process.env.ONNX_PRUNER_CHROMIUM)) return process.env.ONNX_PRUNER_CHROMIUM;
  return ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(executable)
    ?? onPath('chromium') ?? onPath('chromium-browser') ?? onPath('google-chrome');
}

/** Why the code-server based stages cannot run here, or false when they can. */
export function codeServerSkipReason(): string | false {
  if (!codeServerBinary()) return 'code-server not installed (run scripts/setup-vscode-test-env.sh)';
  if (!chromiumBinary()) return 'no chromium found (apt-get install chromium, or set ONNX_PRUNER_CHROMIUM)';
  if (!fs.existsSync(path.join(repoRoot, 'dist', 'extension.js'))) return 'extension not built (npm run build)';
  return false;
}

/** For node:test's `skip` option in UI tests: a reason string, or false. */
export const skipWithoutCodeServer: string | false = codeServerSkipReason();
