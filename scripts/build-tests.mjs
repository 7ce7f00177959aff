// Compiles the extension-host test suite: test/vscode/suite/**/*.ts → out/test/suite/**/*.js,
// one CommonJS bundle per file (so tests may import src/ and test/helpers/ with .ts
// extensions), with `vscode`, `mocha` and native modules left external. `import.meta.dirname`
// and `import.meta.url` are replaced by the source file's own location, so helpers such as
// test/helpers/paths.ts find the repository as they do under tsx.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';

const root = path.resolve(import.meta.dirname, '..');
const srcDir = path.join(root, 'test', 'vscode', 'suite');
const outDir = path.join(root, 'out', 'test', 'suite');

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

const importMetaPlugin = {
  name: 'import-meta-paths',
  setup(build) {
    build.onLoad({ filter: /\.[cm]?ts$/ }, async (args) => {
      let contents = await fs.promises.readFile(args.path, 'utf8');
      contents = contents
        .replaceAll('import.meta.dirname', JSON.stringify(path.dirname(args.path)))
        .replaceAll('import.meta.filename', JSON.stringify(args.path))
        .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href));
      return { contents, loader: 'ts' };
    });
  },
};

fs.rmSync(outDir, { recursive: true, force: true });
await esbuild.build({
  entryPoints: walk(srcDir),
  outbase: srcDir,
  outdir: outDir,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: 'inline',
  external: ['vscode', 'mocha', 'onnxruntime-node'],
  plugins: [importMetaPlugin],
  logLevel: 'warning',
});
// out/ must be CommonJS whatever the root package.json says.
fs.writeFileSync(path.join(root, 'out', 'package.json'), '{ "type": "commonjs" }\n');
process.stdout.write(`build-tests: ${walk(srcDir).length} file(s) → ${path.relative(root, outDir)}\n`);
