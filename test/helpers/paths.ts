// Where test models live. Core tests use the small models in samples/ (always present);
// tests on the larger shared models run where ../shared/models exists and skip, saying so, elsewhere.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The repository root: the nearest folder above this file (or above a bundle made of it) with the product's package.json. */
export const repoRoot: string = (() => {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'onnx-pruner') return dir;
    if (path.dirname(dir) === dir) return path.resolve(__dirname, '..', '..');
  }
})();
export const samplesDir = path.join(repoRoot, 'samples');
export const fmnistBn = path.join(samplesDir, 'fmnist', 'fmnist_bncnn_sparse_bn.onnx');
export const fmnistFused = path.join(samplesDir, 'fmnist', 'fmnist_bncnn_sparse_fused.onnx');

/** The shared model folder (`ONNX_PRUNER_SHARED_MODELS` overrides), or undefined when absent. */
export const sharedModels: string | undefined = (() => {
  const dir = process.env.ONNX_PRUNER_SHARED_MODELS ?? path.resolve(repoRoot, '..', 'shared', 'models');
  return fs.existsSync(dir) ? dir : undefined;
})();

/** For node:test's `skip` option: a reason string when the shared models are missing, else false. */
export const skipWithoutShared: string | false = sharedModels
  ? false
  : 'shared models folder (../shared/models) not present: skipped';

export function shared(rel: string): string {
  if (!sharedModels) throw new Error('shared models not present');
  return path.join(sharedModels, rel);
}

/** Every .onnx file under the shared folder, relative paths sorted. */
export function allSharedModels(): string[] {
  if (!sharedModels) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.onnx')) out.push(path.relative(sharedModels!, p));
    }
  };
  walk(sharedModels);
  return out.sort();
}

/** A fresh temporary folder for a test (removed by the caller or left in the OS temp folder). */
export function tempDir(prefix = 'onnx-pruner-test-'): string {
  return fs.mkdtempSync(path.join(fs.realpathSync(process.env.TMPDIR ?? '/tmp'), prefix));
}
